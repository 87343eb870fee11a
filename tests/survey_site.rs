//! Builds the real survey (`content/`, `bib/`, `templates/` of this
//! repository) into a temporary directory and checks the HTML against the
//! survey's draft: the 目次, the three classification lists, the
//! bibliography's author names, math, code and every internal link.

mod common;

use std::path::PathBuf;

use common::{broken_links, html_files, read, repo_root, taxonomy_lines, visible_text};
use survey::exec::FreezeMode;
use survey::site::{BuildOptions, build};

fn build_survey(base_url: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("site");
    // Frozen: the tests never run the survey's code blocks or rewrite its
    // committed _freeze/, and they fail when an entry is stale, as CI must.
    let options = BuildOptions {
        output_dir: Some(out.clone()),
        base_url: base_url.map(str::to_string),
        exec: FreezeMode::Frozen,
        progress: false,
        ..BuildOptions::new(repo_root())
    };
    if let Err(diagnostics) = build(&options) {
        let messages: Vec<String> = diagnostics.iter().map(|d| format!("{} {:?}", d.location(), d.message)).collect();
        panic!("the survey must build: {messages:#?}");
    }
    (dir, out)
}

fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn lines(expected: &[(usize, &str)]) -> Vec<(usize, String)> {
    expected.iter().map(|(depth, text)| (*depth, text.to_string())).collect()
}

#[test]
fn index_lists_the_39_papers_in_order() {
    let (_dir, out) = build_survey(None);
    let index = read(out.join("index.html"));
    let toc_start = index.find("class=\"site-toc\"").expect("index has the 目次");
    let toc = &index[toc_start..index[toc_start..].find("</nav>").unwrap() + toc_start];
    let text = visible_text(toc);
    let mut last = 0;
    for number in 1..=39 {
        let marker = format!("[{number}] ");
        let at = text.find(&marker).unwrap_or_else(|| panic!("目次 lacks {marker}"));
        assert!(at > last || number == 1, "[{number}] is out of order");
        last = at;
    }
    assert!(!text.contains("[40] "));
    assert!(text.contains("[3] Skyformer――セルフアテンションの Nyström 近似"), "{text}");
    let entries: Vec<String> = text.lines().map(normalized).filter(|l| !l.is_empty()).collect();
    let papers = entries.iter().position(|l| l == "それぞれのお話").expect("papers section in the 目次");
    for (before, after) in [("まえがき", "NeurIPS 2021 のニューラル系列モデルを眺める"), ("Appendix", "参考文献")] {
        let b = entries.iter().position(|l| l == before).unwrap_or_else(|| panic!("{before} missing: {entries:#?}"));
        let a = entries.iter().position(|l| l == after).unwrap_or_else(|| panic!("{after} missing"));
        assert!(b < a);
    }
    assert!(entries.iter().position(|l| l.starts_with("グループ「RNN")).unwrap() < papers);
    assert!(entries.iter().position(|l| l.starts_with("結び")).unwrap() > papers);
}

#[test]
fn overview_reproduces_the_drafts_classification() {
    let (_dir, out) = build_survey(None);
    let html = read(out.join("overview/index.html"));
    let unclassified = (26..=39).map(|n| format!("[{n}]")).collect::<Vec<_>>().join(" ");
    let unclassified = format!("未分類 {unclassified}");
    let expected = [
        (0, "RNN を理論的に理解する [5] [18] [21] [22]"),
        (0, "RNN を工夫する"),
        (1, "訓練時に隠れ状態にノイズ添加してロバストにする [6]"),
        (1, "RNN 自体が時間変化できるようにする [9]"),
        (0, "トランスフォーマーを理論的に理解する [2] [16]"),
        (0, "トランスフォーマーを工夫する"),
        (1, "機械的にプレ処理 (トレンド-季節性分解) をする [23]"),
        (1, "グリッド分割をさらにする (ビジョントランスフォーマー) [17]"),
        (1, "セルフアテンションの計算量に対処する [3] [4] [7] [11] [19] [20] [24] [25]"),
        (1, "ヘッド間でQ, Kの分布を一致させる正則化をする [15]"),
        (1, "トランスフォーマーのアーキテクチャ自体を再考する"),
        (2, "言語処理に適した構造を探索する [8]"),
        (2, "セルフアテンションの代わりにゲート付 MLP にする [10]"),
        (0, "機械的に汎用的なプレ処理 (成分クラスタリング) をする [14]"),
        (0, "微分方程式で記述されるシステムをニューラルネットで実現する"),
        (1, "線形時不変連続時間システムをニューラルネットで実現する [1]"),
        (1, "連立微分方程式システムをベイズフィルタで解く [13]"),
        (0, "系列モデルを新しい用途に活用する"),
        (1, "トランスフォーマーを活用してガウス過程モデル適用時のカーネルを同定する [12]"),
        (0, unclassified.as_str()),
    ];
    assert_eq!(taxonomy_lines(&html), lines(&expected));
}

#[test]
fn group_pages_reproduce_the_drafts_lists() {
    let (_dir, out) = build_survey(None);
    let rnn = read(out.join("groups/rnn-theory/index.html"));
    assert_eq!(
        taxonomy_lines(&rnn),
        lines(&[
            (0, "RNN がある再生核ヒルベルト空間におけるカーネル法と捉えられることを示す [5]"),
            (0, "スイッチング線形動的システムで RNN をリバースエンジニアリングする [18]"),
            (0, "これまでの理論保証の制約を緩和する [21] [22]"),
        ])
    );
    let attention = read(out.join("groups/efficient-attention/index.html"));
    assert_eq!(
        taxonomy_lines(&attention),
        lines(&[
            (0, "$QK^\\top$ の成分を間引く (スパースにする)"),
            (1, "どの成分が不要なのか自体を学習する [11]"),
            (0, "$QK^\\top$ を低ランク近似する (行列分解する)"),
            (1, "カーネル法の計算量削減のアプローチを応用する [3]"),
            (0, "スパース化と低ランク近似を統合する [19]"),
            (0, "$QK^\\top$ の計算箇所でだけ入力系列を短い系列に射影する [4]"),
            (1, "短距離依存性はそのまま計算し、長距離依存性は短い系列に射影する [20]"),
            (0, "長距離依存性については重み付き期待値に対してアテンションする [24]"),
            (0, "最初のセルフアテンション層では $QK^\\top$ を計算するが、2 番目以降ではそれを時間発展させる [7]"),
            (0, "アテンションの計算に高速フーリエ変換を応用する [25]"),
        ])
    );
    let intro = normalized(&visible_text(&attention));
    assert!(intro.contains("$\\operatorname{Softmax}(QK^\\top/\\sqrt{d})\\in\\mathbb{R}^{N\\times N}$"), "{intro}");
    assert!(intro.contains("$\\mathcal{O}(N^2)$"));
}

#[test]
fn bibliography_has_unicode_names_and_proceedings_links() {
    let (_dir, out) = build_survey(None);
    let html = read(out.join("bibliography/index.html"));
    let text = normalized(&visible_text(&html));
    for name in ["Wojciech Mańke", "Łukasz Kaiser", "Nicholas Krämer", "Christopher Ré", "Gérard Biau", "Nyström"] {
        assert!(text.contains(name), "bibliography lacks {name}");
    }
    assert!(text.contains(
        "Yifan Chen, Qi Zeng, Heng Ji, Yun Yang. Skyformer: Remodel Self-Attention with Gaussian Kernel and Nyström method. In NeurIPS 2021."
    ), "{text}");
    assert_eq!(html.matches("<li id=\"ref-").count(), 39);
    assert_eq!(html.matches("href=\"https://proceedings.neurips.cc/paper/2021/hash/").count(), 39);
}

#[test]
fn no_raw_tex_or_markup_is_visible() {
    let (_dir, out) = build_survey(None);
    for file in html_files(&out) {
        let html = read(&file);
        let mut text = visible_text(&html);
        // Formulas come back from visible_text as $TeX$; drop them.
        while let Some(start) = text.find('$') {
            let Some(len) = text[start + 1..].find('$') else { break };
            text.replace_range(start..start + len + 2, "");
        }
        for raw in ["\\mathcal", "\\top", "\\operatorname", "\\frac", "{{<", "[@", "\\'", "\\\"", "{\\"] {
            assert!(!text.contains(raw), "{} shows {raw:?}", file.display());
        }
    }
}

#[test]
fn code_is_highlighted() {
    let (_dir, out) = build_survey(None);
    let appendix = read(out.join("appendix/index.html"));
    assert!(appendix.contains("<code class=\"language-python\">"), "appendix has Python code");
    assert!(appendix.contains("class=\"hl-"), "Python code has highlight classes");
    let css = read(out.join("static/highlight.css"));
    assert!(css.contains("prefers-color-scheme: dark"));
}

#[test]
fn every_internal_link_resolves() {
    for base in [None, Some("/notes/"), Some("https://user.github.io/notes/")] {
        let (_dir, out) = build_survey(base);
        let base_path = match base {
            None => "/",
            Some(_) => "/notes/",
        };
        let broken = broken_links(&out, base_path);
        assert!(broken.is_empty(), "base {base:?}: {broken:#?}");
        assert!(out.join(".nojekyll").is_file());
        assert!(read(out.join("404.html")).contains(&format!("href=\"{base_path}static/katex/katex.min.css\"")));
    }
}

#[test]
fn html_lang_comes_from_the_config() {
    let (_dir, out) = build_survey(None);
    for file in html_files(&out) {
        assert!(read(&file).contains("<html lang=\"ja\">"), "{}", file.display());
    }
    let paper = read(out.join("papers/01-linear-state-space-layers/index.html"));
    assert!(paper.contains("前へ"));
    assert!(paper.contains("次へ"));
}
