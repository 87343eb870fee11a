//! The survey in headless Chromium. The home page, the Skyformer section,
//! the bibliography and the Appendix are captured in light and dark colours
//! at phone and desktop widths. Each capture is checked for failed requests,
//! the layout size of every formula and axe-core's accessibility rules. The
//! figures of the executed blocks must load, carry alt text and contrast
//! with the scheme's background. Keyboard use and searches for
//! 「アテンション」, 「計算量」 and 「Nyström」 typed into the search box are
//! checked too.
//!
//! The checks run in `tests/browser/check.mjs` (Node with playwright-core
//! and axe-core) against the site served under `/REPO/`. They need the
//! Debian packages `chromium` and `fonts-noto-cjk`, Node 20 or newer and
//! `npm ci` in `tests/browser/`. When one is missing the test fails in CI
//! (`CI` set) and is skipped with a notice elsewhere. Screenshots and the
//! JSON report are kept in `target/browser-artifacts/`.

mod served;

use std::path::{Path, PathBuf};
use std::process::Command;

use std::collections::HashSet;

use scraper::{ElementRef, Html, Node, Selector};
use served::{build_and_serve, served_site};
use survey::search::{EXCLUDED, shard_count, shard_of};

/// Queries typed into the search box, each with the words Pagefind's
/// Japanese segmentation splits it into. Every page containing the query
/// must be listed. A page containing all of its words may be listed too,
/// because 「計算量」 also finds a page with 「計算」 and 「学習量」.
const SEARCHES: &[(&str, &[&str])] = &[("アテンション", &["アテンション"]), ("計算量", &["計算", "量"]), ("Nyström", &["Nyström"])];

/// A font file of Debian's fonts-noto-cjk, which the screenshots need for
/// Japanese text.
const NOTO_CJK: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

const INSTALL_HINT: &str = "install them with `apt-get install -y chromium fonts-noto-cjk` \
     (Node 20 or newer is needed too) and `npm ci --no-audit --no-fund` in tests/browser/";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Returns the Chromium executable: `SURVEY_CHROMIUM`, else Debian's
/// `/usr/bin/chromium`.
fn chromium() -> PathBuf {
    std::env::var_os("SURVEY_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Lists what is missing to run the browser checks.
fn missing_tools() -> Vec<String> {
    let mut missing = Vec::new();
    if !chromium().is_file() {
        missing.push(format!("Chromium ({} not found)", chromium().display()));
    }
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
            let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            if major < 20 {
                missing.push(format!("Node 20 or newer (found {version})"));
            }
        }
        _ => missing.push("Node (`node` is not on PATH)".to_string()),
    }
    for module in ["playwright-core/package.json", "axe-core/axe.min.js"] {
        if !browser_dir().join("node_modules").join(module).is_file() {
            missing.push(format!("the npm module {}", module.split('/').next().unwrap()));
        }
    }
    if !Path::new(NOTO_CJK).is_file() {
        missing.push(format!("Japanese fonts ({NOTO_CJK} of fonts-noto-cjk)"));
    }
    missing
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
}

/// Text of `element` that Pagefind indexes: everything but the subtrees
/// that `survey::search::EXCLUDED` names.
fn indexed_text(element: ElementRef, excluded: &HashSet<ego_tree::NodeId>, text: &mut String) {
    for child in element.children() {
        if excluded.contains(&child.id()) {
            continue;
        }
        match child.value() {
            Node::Text(chunk) => text.push_str(chunk),
            Node::Element(_) => indexed_text(ElementRef::wrap(child).expect("an element"), excluded, text),
            _ => {}
        }
    }
}

/// Paths (relative to the site root) of the pages whose indexed text
/// contains `query`.
fn pages_containing(dir: &Path, query: &str) -> Vec<String> {
    let body = Selector::parse("main[data-pagefind-body]").unwrap();
    let mut pages: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.unwrap().into_path())
        .filter(|path| path.file_name().is_some_and(|name| name == "index.html"))
        .filter_map(|path| {
            let html = Html::parse_document(&std::fs::read_to_string(&path).unwrap());
            let main = html.select(&body).next()?;
            let excluded: HashSet<ego_tree::NodeId> = EXCLUDED
                .iter()
                .flat_map(|selector| main.select(&Selector::parse(selector).unwrap()).map(|element| element.id()).collect::<Vec<_>>())
                .collect();
            let mut text = String::new();
            indexed_text(main, &excluded, &mut text);
            let rel = path.parent().unwrap().strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            text.contains(query).then(|| if rel.is_empty() { rel } else { format!("{rel}/") })
        })
        .collect();
    pages.sort();
    pages
}

fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/tmp has a parent").join("browser-artifacts")
}

/// Returns whether the browser checks can run; skips them with a notice
/// outside CI when a tool is missing, and fails in CI.
/// Held by each test that drives Chromium, so the two never load the
/// machine's cores at the same time.
static CHROMIUM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn tools_present() -> bool {
    let missing = missing_tools();
    if !missing.is_empty() {
        let message = format!("the browser checks need {}; {INSTALL_HINT}", missing.join(", "));
        assert!(!in_ci(), "{message}");
        eprintln!("skipping the browser checks: {message}");
        return false;
    }
    true
}

/// Runs check.mjs with `config` (artifacts go to `artifacts`) and fails the
/// test with its report when a check failed.
fn run_check_script(config: &serde_json::Value, artifacts: &Path) {
    let config_file = artifacts.join("config.json");
    std::fs::write(&config_file, serde_json::to_string_pretty(config).unwrap()).unwrap();
    let output = Command::new("node")
        .arg(browser_dir().join("check.mjs"))
        .arg(&config_file)
        .current_dir(browser_dir())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser checks failed (artifacts in {}):\n{stdout}\n{stderr}", artifacts.display());
    eprintln!("browser checks passed; screenshots in {}", artifacts.display());
}

#[test]
fn survey_passes_the_browser_checks() {
    if !tools_present() {
        return;
    }
    let _chromium = CHROMIUM.lock().unwrap_or_else(|poisoned| poisoned.into_inner());

    let site = served_site();
    let math_pages: Vec<String> = pages_containing(&site.dir, "")
        .into_iter()
        .filter(|path| std::fs::read_to_string(site.dir.join(path).join("index.html")).unwrap().contains("class=\"katex\""))
        .collect();
    assert!(!math_pages.is_empty(), "the survey has formulas on some page");
    let searches: Vec<serde_json::Value> = SEARCHES
        .iter()
        .map(|(query, words)| {
            let expected = pages_containing(&site.dir, query);
            assert!(!expected.is_empty(), "no page of the survey contains {query}");
            let mut allowed = pages_containing(&site.dir, words[0]);
            for word in &words[1..] {
                let with_word = pages_containing(&site.dir, word);
                allowed.retain(|page| with_word.contains(page));
            }
            serde_json::json!({ "query": query, "expected": expected, "allowed": allowed })
        })
        .collect();

    let artifacts = artifacts_dir();
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = serde_json::json!({
        "base": site.base_url,
        "chromium": chromium(),
        "artifacts": artifacts,
        "pages": [
            { "name": "index", "path": "" },
            { "name": "skyformer", "path": "papers/03-skyformer/" },
            { "name": "bibliography", "path": "bibliography/" },
            { "name": "appendix", "path": "appendix/" },
        ],
        // The executed chapter: the approximation error, forward time and
        // memory on [3], the ListOps learning curve in the Appendix.
        "figures": { "papers/03-skyformer/": 3, "appendix/": 1 },
        "mathPages": math_pages,
        "searches": searches,
    });
    run_check_script(&config, &artifacts);
}

/// Words each given to a few papers of the sharded site.
const SHARD_WORDS: &[&str] = &["ポメラニアン", "チワワ", "ダックスフント", "シェパード", "ビーグル", "プードル"];

/// Writes a survey of `papers` papers without formulas; paper `i` mentions
/// `SHARD_WORDS[i % 50]` when that exists, so each word is on a few pages
/// spread over the shards.
fn write_sharded_site(root: &Path, papers: usize) {
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("survey.yaml", "title: 大きなサーベイ\nlang: ja\nbase_url: /\n");
    write("content/index.md", "---\ntitle: 大きなサーベイ\nweight: 10\n---\n\n検索の確認用です。式 $x^2$ も一つ置きます。\n");
    write("content/papers/_index.md", "---\ntitle: 論文\nweight: 20\n---\n");
    let mut bib = String::new();
    for i in 1..=papers {
        bib.push_str(&format!("@misc{{p{i},\n  title = {{Paper {i}}},\n  author = {{Author, A}},\n  year = {{2021}},\n}}\n"));
        let word = SHARD_WORDS.get(i % 50).map(|word| format!("{word}の")).unwrap_or_default();
        write(&format!("content/papers/{i:04}-p.md"), &format!("---\nkey: p{i}\n---\n\n{word}系列モデル {i} 番を調べます。\n"));
    }
    write("bib/refs.bib", &bib);
}

#[test]
fn sharded_search_finds_pages_of_every_shard() {
    if !tools_present() {
        return;
    }
    let _chromium = CHROMIUM.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let papers = 300;
    let root = tempfile::tempdir().unwrap();
    write_sharded_site(root.path(), papers);
    let site = build_and_serve(root.path(), "sharded");
    let shards = shard_count(papers + 5);
    assert!(shards > 1, "{papers} papers make a sharded index");
    for index in 0..shards {
        assert!(site.dir.join(format!("pagefind/s{index}/pagefind-entry.json")).is_file(), "shard {index} missing");
    }

    let searches: Vec<serde_json::Value> = SHARD_WORDS
        .iter()
        .map(|query| {
            let pages = pages_containing(&site.dir, query);
            serde_json::json!({ "query": query, "expected": pages, "allowed": pages })
        })
        .collect();
    let shards_hit: HashSet<usize> = searches
        .iter()
        .flat_map(|search| search["expected"].as_array().unwrap().iter())
        .map(|path| shard_of(&format!("{}index.html", path.as_str().unwrap()), shards))
        .collect();
    assert!(shards_hit.len() > 1, "the words are on pages of several shards: {shards_hit:?}");

    let artifacts = artifacts_dir().with_file_name("browser-artifacts-sharded");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = serde_json::json!({
        "base": site.base_url,
        "chromium": chromium(),
        "artifacts": artifacts,
        "pages": [{ "name": "index", "path": "" }],
        "mathPages": [""],
        "searches": searches,
    });
    run_check_script(&config, &artifacts);
}
