//! `survey check` with the real binary on broken copies of the fixture site.

mod common;

use std::path::Path;

use common::{copy_fixture, read, stderr, survey};

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = read(&path);
    assert!(text.contains(from), "{file} lacks {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn append(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    std::fs::write(&path, format!("{}{text}", read(&path))).unwrap();
}

/// Runs `survey check`; returns the exit code and the report.
fn check(root: &Path) -> (Option<i32>, String) {
    let output = survey(root, &["check"]);
    (output.status.code(), stderr(&output))
}

/// Asserts that one finding's headline has `label`, `location`, `text` and `[key]`.
#[track_caller]
fn assert_finding(report: &str, label: &str, location: &str, text: &str, key: &str) {
    let found = report.lines().any(|line| {
        line.starts_with(&format!("{label}: {location}: ")) && line.contains(text) && line.ends_with(&format!("[{key}]"))
    });
    assert!(found, "no `{label}: {location}: …{text}… [{key}]` in:\n{report}");
}

#[test]
fn check_passes_clean_site() {
    let dir = copy_fixture("basic");
    let (code, report) = check(dir.path());
    assert_eq!(code, Some(0), "{report}");
    assert_finding(&report, "警告", "content/papers/02-primer.md:3", "執筆中 (status: draft)", "drafts");
    assert!(report.contains("確認が終わりました: エラー 0 件、警告 1 件、情報 0 件。"), "{report}");
    assert!(!dir.path().join("site").exists(), "check must not write site/");
}

#[test]
fn check_locates_every_kind() {
    let dir = copy_fixture("basic");
    let root = dir.path();
    append(
        root,
        "content/appendix.md",
        "\n## 同じ見出し\n\n## 同じ見出し\n\n## 別 {#own}\n\n## 別2 {#own}\n\n\
         [壊れた](/no/such/) [アンカー](/papers/01-skyformer/#nope) [正しい](/papers/01-skyformer/#概要)\n\
         [ファイル名](papers/01-skyformer.md) [外部](https://example.org/a) [同じページ](#missing)\n\
         [上へ](../../x/) ![](missing.png) ![図](/static/style.css) [参考文献](/bibliography/#ref-so2021primer)\n",
    );
    append(root, "bib/refs.bib", "\n@article{unused2020,\n  title = {Never Cited},\n  year = {2020},\n}\n");
    append(root, "content/taxonomy.yaml", "- id: empty\n  label: 論文のないノード\n");
    edit(root, "content/papers/02-primer.md", "taxonomy:\n  - node: transformer\n    summary: 構造を探索する\n", "");
    edit(root, "content/papers/01-skyformer.md", "summary: カーネル法を応用する", "summary: ''");

    let (code, report) = check(root);
    assert_eq!(code, Some(1), "{report}");
    let appendix = "content/appendix.md";
    assert_finding(&report, "エラー", &format!("{appendix}:20:1"), "リンク先 `/no/such/` はサイトにありません", "broken-links");
    assert_finding(&report, "エラー", &format!("{appendix}:20:18"), "/papers/01-skyformer/ に id が `nope` の要素がありません", "broken-anchors");
    assert_finding(&report, "エラー", &format!("{appendix}:21:1"), "リンク先 `papers/01-skyformer.md` はサイトにありません", "broken-links");
    assert!(report.contains("もしかして `/papers/01-skyformer/` ですか?"), "{report}");
    assert_finding(&report, "情報", &format!("{appendix}:21:33"), "外部リンク: https://example.org/a", "external-links");
    assert_finding(&report, "エラー", &format!("{appendix}:21:61"), "/appendix/ に id が `missing` の要素がありません", "broken-anchors");
    assert_finding(&report, "エラー", &format!("{appendix}:22:1"), "リンク先 `../../x/` はサイトにありません", "broken-links");
    assert_finding(&report, "警告", &format!("{appendix}:22:16"), "画像 `missing.png` に代替テキストがありません", "missing-alt");
    assert_finding(&report, "エラー", &format!("{appendix}:22:16"), "リンク先 `missing.png` はサイトにありません", "broken-links");
    assert_finding(&report, "警告", &format!("{appendix}:14"), "見出しの id `同じ見出し` は 12 行目の見出しと同じです", "duplicate-ids");
    assert_finding(&report, "警告", &format!("{appendix}:18"), "見出しの id `own` は 16 行目ですでに使われています", "duplicate-ids");
    assert_finding(&report, "警告", "bib/refs.bib:23", "文献 `unused2020` はどこからも引用されていません", "uncited-entries");
    assert_finding(&report, "警告", "content/taxonomy.yaml:10", "分類ノード `empty` にも、その下のノードにも論文がありません", "empty-nodes");
    assert_finding(&report, "警告", "content/papers/02-primer.md:2", "論文 `so2021primer` は分類ノードに属していません", "unclassified-papers");
    assert_finding(&report, "警告", "content/papers/01-skyformer.md:6", "分類ノード `transformer.attention.low-rank` への要約 (summary) が空です", "missing-summaries");
    // Valid links are not reported.
    for fine in ["#概要", "/static/style.css", "ref-so2021primer"] {
        assert!(!report.lines().any(|line| line.contains(fine) && line.starts_with("エラー")), "{fine}:\n{report}");
    }
    assert!(report.contains("修正方法:"), "{report}");
}

#[test]
fn check_unknown_citation_severity() {
    let dir = copy_fixture("basic");
    edit(dir.path(), "content/overview.md", "論文を眺めます", "論文を眺めます[@chen2021skyfromer]");
    let (code, report) = check(dir.path());
    assert_eq!(code, Some(1), "{report}");
    assert_finding(&report, "エラー", "content/overview.md:6:8", "引用キー `chen2021skyfromer` に該当する文献がありません", "unknown-citations");
    assert!(report.contains("もしかして `chen2021skyformer` ですか?"), "{report}");
    assert_eq!(report.matches("chen2021skyfromer").count(), 1, "reported once: {report}");

    append(dir.path(), "survey.yaml", "check:\n  unknown-citations: warning\n");
    let (code, report) = check(dir.path());
    assert_eq!(code, Some(0), "{report}");
    assert_finding(&report, "警告", "content/overview.md:6:8", "chen2021skyfromer", "unknown-citations");
}

#[test]
fn check_severities_from_config() {
    let dir = copy_fixture("basic");
    let root = dir.path();
    append(root, "content/appendix.md", "\n[壊れた](/no/such/) [アンカー](/papers/01-skyformer/#nope)\n");
    append(root, "survey.yaml", "check:\n  broken-links: warning\n  broken-anchors: off\n  drafts: info\n");
    let (code, report) = check(root);
    assert_eq!(code, Some(0), "{report}");
    assert_finding(&report, "警告", "content/appendix.md:12:1", "/no/such/", "broken-links");
    assert!(!report.contains("nope"), "{report}");
    assert_finding(&report, "情報", "content/papers/02-primer.md:3", "執筆中", "drafts");
}

#[test]
fn check_reports_build_errors() {
    let dir = copy_fixture("basic");
    edit(dir.path(), "content/appendix.md", "weight: 60", "wieght: 60");
    let (code, report) = check(dir.path());
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("エラー: content/appendix.md:3:1: 未知のフィールド `wieght` があります。"), "{report}");
    assert!(report.contains("リンクとアンカーは確認していません"), "{report}");
}

#[test]
fn check_lists_unfrozen_blocks() {
    let dir = copy_fixture("basic");
    append(dir.path(), "content/appendix.md", "\n```rust,exec\nprintln!(\"hi\");\n```\n");
    let (code, report) = check(dir.path());
    assert_eq!(code, Some(0), "{report}");
    assert_finding(&report, "警告", "content/appendix.md:12", "コードブロックの出力が凍結されていません", "stale-freeze");
}

#[test]
fn check_reports_stale_freeze() {
    let dir = copy_fixture("basic");
    let root = dir.path();
    for file in ["Cargo.lock", "rust-toolchain.toml"] {
        std::fs::copy(common::repo_root().join(file), root.join(file)).unwrap();
    }
    append(root, "content/appendix.md", "\n```rust,exec\nprintln!(\"one\");\n```\n");
    let build = survey(root, &["build"]);
    assert!(build.status.success(), "{}", stderr(&build));
    let (code, report) = check(root);
    assert_eq!(code, Some(0), "{report}");
    assert!(!report.contains("[stale-freeze]"), "a fresh freeze is not stale: {report}");

    edit(root, "content/appendix.md", "println!(\"one\")", "println!(\"two\")");
    let (code, report) = check(root);
    assert_eq!(code, Some(0), "{report}");
    assert_finding(&report, "警告", "content/appendix.md:12", "古くなっています (凍結後に変わったもの: コードブロック)", "stale-freeze");
    assert!(report.contains("修正方法: survey build で実行し直し"), "{report}");

    append(root, "survey.yaml", "check:\n  stale-freeze: error\n");
    let (code, report) = check(root);
    assert_eq!(code, Some(1), "{report}");
    assert_finding(&report, "エラー", "content/appendix.md:12", "古くなっています", "stale-freeze");
}

#[test]
fn check_reports_in_english() {
    let dir = copy_fixture("basic");
    edit(dir.path(), "survey.yaml", "lang: ja", "lang: en");
    append(dir.path(), "content/appendix.md", "\n[x](/no/such/)\n");
    let (code, report) = check(dir.path());
    assert_eq!(code, Some(1), "{report}");
    assert_finding(&report, "error", "content/appendix.md:12:1", "the link target `/no/such/` does not exist in the site", "broken-links");
    assert_finding(&report, "warning", "content/papers/02-primer.md:3", "this paper is still a draft", "drafts");
    assert!(report.contains("check finished: 1 error, 1 warning, 0 info"), "{report}");
}

#[test]
fn root_relative_links_follow_base_path() {
    let dir = copy_fixture("basic");
    let root = dir.path();
    edit(root, "survey.yaml", "base_url: /", "base_url: /REPO/");
    append(root, "content/appendix.md", "\n[正しい](/papers/01-skyformer/#概要) [壊れた](/no/such/) [外](../../../x/)\n");
    let (code, report) = check(root);
    assert_eq!(code, Some(1), "{report}");
    // The build writes /REPO/papers/01-skyformer/, so the link resolves.
    assert!(!report.contains("/papers/01-skyformer/#概要"), "{report}");
    assert_finding(&report, "エラー", "content/appendix.md:12:33", "/no/such/", "broken-links");
    assert_finding(&report, "エラー", "content/appendix.md:12:50", "../../../x/", "broken-links");
}
