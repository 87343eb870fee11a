//! Incremental builds: what a rebuild renders, writes and deletes, and
//! that its output always equals a full build of the same sources.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use survey::site::{BuildOptions, BuildReport, build};

const PAPERS: usize = 5;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn paper_path(root: &Path, number: usize) -> std::path::PathBuf {
    root.join(format!("content/papers/{number:02}-paper.md"))
}

/// Writes a survey of `PAPERS` papers; paper `i` cites paper `i + 1`, and
/// paper 1 also cites a work that is not a paper.
fn write_site(root: &Path) {
    write(&root.join("survey.yaml"), "title: 増分ビルド\nlang: ja\nbase_url: https://example.org/s/\n");
    write(&root.join("content/index.md"), "---\ntitle: ホーム\nweight: 10\n---\n\n## まえがき\n\n本文。\n");
    write(&root.join("content/overview.md"), "---\ntitle: 概観\nweight: 20\n---\n\n{{< taxonomy >}}\n");
    write(&root.join("content/papers/_index.md"), "---\ntitle: 論文\nweight: 30\n---\n");
    write(&root.join("content/taxonomy.yaml"), "- id: models\n  label: モデル\n");
    let mut bib = String::from("@book{other2020,\n  title = {Another Work},\n  author = {Doe, Jane},\n  year = {2020},\n}\n");
    for i in 1..=PAPERS {
        bib.push_str(&format!("@inproceedings{{paper{i},\n  title = {{Paper {i}}},\n  author = {{Author, A{i}}},\n  booktitle = {{NeurIPS 2021}},\n}}\n"));
        let extra = if i == 1 { " [@other2020]" } else { "" };
        let text = format!(
            "---\nkey: paper{i}\ntitle: 論文 {i} の解説\ntaxonomy:\n  - node: models\n    summary: 要約 {i}\n---\n\n## 手法\n\n式 $x_{i}$ と $$\\sum_k y_{i}$$ を使います[@paper{}]{extra}。\n",
            i % PAPERS + 1
        );
        write(&paper_path(root, i), &text);
    }
    write(&root.join("bib/refs.bib"), &bib);
}

fn options(root: &Path) -> BuildOptions {
    BuildOptions { progress: false, ..BuildOptions::new(root) }
}

fn build_ok(root: &Path) -> BuildReport {
    build(&options(root)).unwrap_or_else(|errors| {
        let text: Vec<String> = errors.iter().map(|e| format!("{} {:?}", e.location(), e.message)).collect();
        panic!("build failed: {text:#?}")
    })
}

/// Returns every file under `dir` with its modification time and bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, (SystemTime, Vec<u8>)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let rel = entry.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            (rel, (entry.metadata().unwrap().modified().unwrap(), fs::read(entry.path()).unwrap()))
        })
        .collect()
}

/// Returns the files added, removed, rewritten (new modification time) or
/// changed.
fn changed_files(before: &BTreeMap<String, (SystemTime, Vec<u8>)>, after: &BTreeMap<String, (SystemTime, Vec<u8>)>) -> BTreeSet<String> {
    before.keys().chain(after.keys()).filter(|rel| before.get(*rel) != after.get(*rel)).cloned().collect()
}

/// Returns the changed HTML pages among `changed`, leaving out the search
/// index, the feed and the sitemap, which follow any page change.
fn pages(changed: &BTreeSet<String>) -> BTreeSet<String> {
    changed.iter().filter(|rel| rel.ends_with(".html") && !rel.starts_with("pagefind/")).cloned().collect()
}

fn set(files: &[&str]) -> BTreeSet<String> {
    files.iter().map(|file| file.to_string()).collect()
}

/// Copies the sources of `from` into `to` with their modification times,
/// which pages show as their date when the site is not in git.
fn copy_sources(from: &Path, to: &Path) {
    common::copy_tree(from, to, &["site", ".survey"]);
    for entry in walkdir::WalkDir::new(to).into_iter().map(Result::unwrap).filter(|entry| entry.file_type().is_file()) {
        let original = from.join(entry.path().strip_prefix(to).unwrap());
        let modified = fs::metadata(&original).unwrap().modified().unwrap();
        fs::File::options().write(true).open(entry.path()).unwrap().set_modified(modified).unwrap();
    }
}

/// Builds a copy of the sources of `root` from scratch and asserts that
/// its output equals `root`'s incrementally built `site/`.
fn assert_same_as_full_build(root: &Path) {
    let fresh = tempfile::tempdir().unwrap();
    copy_sources(root, fresh.path());
    let report = build_ok(fresh.path());
    assert!(report.full);
    let incremental: BTreeMap<String, Vec<u8>> = snapshot(&root.join("site")).into_iter().map(|(rel, (_, bytes))| (rel, bytes)).collect();
    let full: BTreeMap<String, Vec<u8>> = snapshot(&fresh.path().join("site")).into_iter().map(|(rel, (_, bytes))| (rel, bytes)).collect();
    assert_eq!(incremental.keys().collect::<Vec<_>>(), full.keys().collect::<Vec<_>>(), "same files");
    for (rel, bytes) in &full {
        assert!(incremental[rel] == *bytes, "{rel} differs from a full build");
    }
}

/// Waits until the clock moves past the last write, so a rewritten file
/// gets a new modification time even on coarse filesystem clocks.
fn let_clock_tick() {
    std::thread::sleep(std::time::Duration::from_millis(20));
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = common::read(path);
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn unchanged_rebuild_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    let first = build_ok(dir.path());
    assert!(first.full);
    assert_eq!(first.rendered, PAPERS + 6, "papers, home, overview, papers section, bibliography, search, 404");
    let before = snapshot(&dir.path().join("site"));

    let_clock_tick();
    let second = build_ok(dir.path());
    assert!(!second.full);
    assert_eq!((second.rendered, second.written, second.removed), (0, 0, 0));
    assert_eq!(second.formulas_typeset, 0, "formulas of titles and labels come from the cache");
    assert_eq!(changed_files(&before, &snapshot(&dir.path().join("site"))), BTreeSet::new(), "no file is written, the search index included");
    assert_eq!(second.pages, first.pages);
}

#[test]
fn body_edit_renders_only_that_page() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    build_ok(dir.path());
    let before = snapshot(&dir.path().join("site"));

    let_clock_tick();
    edit(&paper_path(dir.path(), 3), "使います", "新しい文で使います");
    let report = build_ok(dir.path());
    assert_eq!(report.rendered, 1);
    assert_eq!(report.formulas_typeset, 0, "the formulas did not change");
    let after = snapshot(&dir.path().join("site"));
    let changed = changed_files(&before, &after);
    assert_eq!(pages(&changed), set(&["papers/03-paper/index.html"]));
    // The page's date and description changed in the feed and the sitemap,
    // and its text in the search index.
    assert!(changed.contains("atom.xml") && changed.contains("sitemap.xml"), "{changed:?}");
    assert!(changed.iter().any(|rel| rel.starts_with("pagefind/")), "{changed:?}");
    let removed: Vec<&String> = changed.iter().filter(|rel| !after.contains_key(*rel)).collect();
    assert!(removed.iter().all(|rel| rel.starts_with("pagefind/")), "{removed:?}");
    assert_eq!((report.written, report.removed), (changed.len() - removed.len(), removed.len()));
    assert!(common::read(dir.path().join("site/papers/03-paper/index.html")).contains("新しい文で使います"));
    assert_same_as_full_build(dir.path());
}

#[test]
fn new_citation_updates_the_bibliography() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    build_ok(dir.path());
    let before = snapshot(&dir.path().join("site"));

    let_clock_tick();
    edit(&paper_path(dir.path(), 3), "を使います", "を使います[@other2020]");
    let report = build_ok(dir.path());
    assert_eq!(report.rendered, 2);
    let after = snapshot(&dir.path().join("site"));
    assert_eq!(pages(&changed_files(&before, &after)), set(&["papers/03-paper/index.html", "bibliography/index.html"]));
    assert_same_as_full_build(dir.path());
}

#[test]
fn title_edit_updates_index_and_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    build_ok(dir.path());
    let before = snapshot(&dir.path().join("site"));

    let_clock_tick();
    edit(&paper_path(dir.path(), 3), "title: 論文 3 の解説", "title: 改題した論文 $z$");
    let report = build_ok(dir.path());
    let after = snapshot(&dir.path().join("site"));
    // The bibliography lists paper 3 as citing paper 4, by its title.
    let expected = set(&[
        "index.html",
        "papers/02-paper/index.html",
        "papers/03-paper/index.html",
        "papers/04-paper/index.html",
        "bibliography/index.html",
    ]);
    assert_eq!(pages(&changed_files(&before, &after)), expected);
    assert_eq!(report.rendered, 5);
    assert_eq!(report.formulas_typeset, 1, "only the new formula `z`");
    for page in ["index.html", "papers/02-paper/index.html", "papers/04-paper/index.html"] {
        assert!(common::read(dir.path().join("site").join(page)).contains("改題した論文"), "{page}");
    }
    assert_same_as_full_build(dir.path());
}

#[test]
fn deleted_paper_disappears_from_the_site() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    build_ok(dir.path());

    // Only paper 4 cites paper 5.
    edit(&paper_path(dir.path(), 4), "[@paper5]", "");
    fs::remove_file(paper_path(dir.path(), 5)).unwrap();
    let before = snapshot(&dir.path().join("site"));
    let report = build_ok(dir.path());
    assert!(!report.full);
    let removed: BTreeSet<String> = before.keys().filter(|rel| !dir.path().join("site").join(rel).exists()).cloned().collect();
    assert_eq!(pages(&removed), set(&["papers/05-paper/index.html"]));
    assert_eq!(report.removed, removed.len());
    assert!(!dir.path().join("site/papers/05-paper").exists(), "the page's directory is gone");
    assert!(!common::read(dir.path().join("site/index.html")).contains("論文 5 の解説"));
    assert_same_as_full_build(dir.path());
}

#[test]
fn shared_inputs_reach_every_page_they_affect() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    build_ok(dir.path());

    // A bibliography entry changes the citing page's tooltip, the paper's
    // page and the bibliography.
    edit(&dir.path().join("bib/refs.bib"), "title = {Paper 2}", "title = {Paper Two}");
    build_ok(dir.path());
    assert!(common::read(dir.path().join("site/papers/01-paper/index.html")).contains("Paper Two"));
    assert_same_as_full_build(dir.path());

    // A taxonomy label changes the overview.
    edit(&dir.path().join("content/taxonomy.yaml"), "label: モデル", "label: 系列モデル");
    let report = build_ok(dir.path());
    assert_eq!(report.rendered, 1);
    assert!(common::read(dir.path().join("site/overview/index.html")).contains("系列モデル"));
    assert_same_as_full_build(dir.path());

    // A site template may change any page.
    write(&dir.path().join("templates/404.html"), "<p>{{ page.title_text }}</p>\n");
    let report = build_ok(dir.path());
    assert_eq!(report.rendered, PAPERS + 6, "a changed template set may change any page");
    assert_eq!(common::read(dir.path().join("site/404.html")).trim(), "<p>ページが見つかりません</p>");
    assert_same_as_full_build(dir.path());

    // Every page shows the site title from survey.yaml.
    edit(&dir.path().join("survey.yaml"), "title: 増分ビルド", "title: 改名したサーベイ");
    let report = build_ok(dir.path());
    assert_eq!(report.rendered, PAPERS + 6);
    assert_same_as_full_build(dir.path());
}

#[test]
fn new_paper_renumbers_the_following_ones() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    build_ok(dir.path());

    // A file without a number prefix comes first, so every paper moves up.
    let text = common::read(paper_path(dir.path(), 1)).replace("key: paper1", "key: other2020").replace(" [@other2020]", "");
    write(&dir.path().join("content/papers/inserted.md"), &text);
    let before = snapshot(&dir.path().join("site"));
    let report = build_ok(dir.path());
    assert!(!report.full);
    let removed: Vec<&String> = before.keys().filter(|rel| !dir.path().join("site").join(rel).exists()).collect();
    assert!(removed.iter().all(|rel| rel.starts_with("pagefind/")), "{removed:?}");
    assert!(common::read(dir.path().join("site/papers/02-paper/index.html")).contains("[3] 論文 2 の解説"));
    assert_same_as_full_build(dir.path());
}

#[test]
fn failed_rebuild_leaves_the_site_untouched() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    build_ok(dir.path());
    let before = snapshot(&dir.path().join("site"));

    let_clock_tick();
    let paper = paper_path(dir.path(), 2);
    edit(&paper, "使います", "使います[@nosuchkey]");
    edit(&paper_path(dir.path(), 4), "使います", "書き換えました");
    let errors = build(&options(dir.path())).unwrap_err();
    assert_eq!(errors.iter().next().unwrap().message.id, "cite-unknown");
    assert_eq!(changed_files(&before, &snapshot(&dir.path().join("site"))), BTreeSet::new());
    let leftovers: Vec<String> = fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(!leftovers.iter().any(|name| name.starts_with(".site.")), "staging removed: {leftovers:?}");

    // The fix builds incrementally on the untouched site.
    edit(&paper, "[@nosuchkey]", "");
    let report = build_ok(dir.path());
    assert!(!report.full);
    // Paper 2 is back to its built text, but its file's modification time,
    // which is its date outside git, changed.
    assert_eq!(report.rendered, 2);
    assert!(common::read(dir.path().join("site/papers/04-paper/index.html")).contains("書き換えました"));
    assert_same_as_full_build(dir.path());
}

#[test]
fn hand_edited_output_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    build_ok(dir.path());
    let page = dir.path().join("site/papers/02-paper/index.html");
    let original = common::read(&page);

    fs::write(&page, "edited by hand").unwrap();
    fs::remove_file(dir.path().join("site/static/highlight.css")).unwrap();
    let report = build_ok(dir.path());
    assert_eq!(report.rendered, 1);
    assert!(report.written >= 2, "the page, the stylesheet and the search index files that changed");
    assert_eq!(common::read(&page), original);
    assert!(dir.path().join("site/static/highlight.css").is_file());
}

#[test]
fn full_build_reuses_the_katex_cache() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    let first = build_ok(dir.path());
    assert!(first.formulas_typeset >= 2 * PAPERS);

    fs::remove_dir_all(dir.path().join("site")).unwrap();
    let second = build_ok(dir.path());
    assert!(second.full);
    assert_eq!(second.rendered, first.rendered);
    assert_eq!(second.formulas_typeset, 0);

    // `survey clean` removes the cache with the rest of `.survey/`.
    assert!(common::survey(dir.path(), &["clean"]).status.success());
    let third = build_ok(dir.path());
    assert_eq!(third.formulas_typeset, first.formulas_typeset);
}

#[test]
fn deferred_search_index_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    build_ok(dir.path());
    let deferred = BuildOptions { search: false, ..options(dir.path()) };
    let entry = dir.path().join("site/pagefind/pagefind-entry.json");
    let indexed = common::read(&entry);

    // A page changes: the build keeps the old index.
    let before = snapshot(&dir.path().join("site/pagefind"));
    edit(&paper_path(dir.path(), 2), "使います", "索引語ポメラニアンを使います");
    build(&deferred).unwrap();
    assert_eq!(changed_files(&before, &snapshot(&dir.path().join("site/pagefind"))), BTreeSet::new());
    assert_eq!(common::read(&entry), indexed);

    // An index built before another build is dropped.
    let outdated = survey::site::index_stale_search(&deferred).unwrap().expect("the index is stale");
    edit(&paper_path(dir.path(), 3), "使います", "また使います");
    build(&deferred).unwrap();
    assert!(!survey::site::commit_search_index(&deferred, outdated).unwrap());

    let pending = survey::site::index_stale_search(&deferred).unwrap().expect("the index is stale");
    assert_eq!(pending.shards_indexed, 1, "a small site has one shard");
    assert!(survey::site::commit_search_index(&deferred, pending).unwrap());
    assert!(survey::site::index_stale_search(&deferred).unwrap().is_none(), "now current");
    assert_ne!(common::read(&entry), indexed, "the entry names the new index by its hash");

    // The next full-search build finds nothing to do.
    let report = build_ok(dir.path());
    assert_eq!((report.rendered, report.written, report.removed), (0, 0, 0));
}

#[test]
fn edit_reindexes_one_search_shard() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("survey.yaml"), "title: 大きなサーベイ\nlang: ja\nbase_url: /\n");
    write(&root.join("content/index.md"), "---\ntitle: ホーム\nweight: 10\n---\n\n本文。\n");
    let papers = 250;
    let mut bib = String::new();
    for i in 1..=papers {
        bib.push_str(&format!("@misc{{p{i},\n  title = {{Paper {i}}},\n  author = {{Author, A}},\n  year = {{2021}},\n}}\n"));
        write(&root.join(format!("content/papers/{i:04}-p.md")), &format!("---\nkey: p{i}\n---\n\n系列モデル {i} 番を調べます。\n"));
    }
    write(&root.join("bib/refs.bib"), &bib);
    build_ok(root);
    let shards = survey::search::shard_count(papers + 4);
    assert!(shards > 1);
    let before = snapshot(&root.join("site"));

    let_clock_tick();
    edit(&root.join("content/papers/0077-p.md"), "調べます", "詳しく調べます");
    build_ok(root);
    let changed = changed_files(&before, &snapshot(&root.join("site")));
    let shard = survey::search::shard_of("papers/0077-p/index.html", shards);
    let index_files: BTreeSet<&String> = changed.iter().filter(|rel| rel.starts_with("pagefind/")).collect();
    assert!(!index_files.is_empty());
    let own = format!("pagefind/s{shard}/");
    assert!(index_files.iter().all(|rel| rel.starts_with(&own)), "only shard {shard} changes: {index_files:?}");
    assert_same_as_full_build(root);
}

/// Returns the bytes of every file under `dir`.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(dir).into_iter().map(|(rel, (_, bytes))| (rel, bytes)).collect()
}

fn cached_shards(root: &Path) -> usize {
    fs::read_dir(root.join(".survey/search")).map_or(0, |entries| entries.count())
}

#[test]
fn fresh_output_takes_shards_from_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_site(root);
    let first = build_ok(root);
    assert_eq!(first.search_shards_indexed, 1, "a small site has one shard");
    assert_eq!(cached_shards(root), 1);
    let index = contents(&root.join("site/pagefind"));

    // A new output directory gets the same index without indexing a page.
    fs::remove_dir_all(root.join("site")).unwrap();
    let fresh = build_ok(root);
    assert!(fresh.full);
    assert_eq!(fresh.search_shards_indexed, 0, "the shard comes from .survey/search/");
    assert_eq!(contents(&root.join("site/pagefind")), index);

    // An edited page is indexed again, and the cache keeps only the shards
    // of the current index.
    edit(&paper_path(root, 2), "使います", "索引語チワワを使います");
    let edited = build_ok(root);
    assert_eq!(edited.search_shards_indexed, 1);
    assert_eq!(cached_shards(root), 1);
    assert_ne!(contents(&root.join("site/pagefind")), index);

    // Without the cache a fresh output directory is indexed from its pages,
    // and the result equals the cached copy.
    let edited_index = contents(&root.join("site/pagefind"));
    fs::remove_dir_all(root.join(".survey/search")).unwrap();
    fs::remove_dir_all(root.join("site")).unwrap();
    let rebuilt = build_ok(root);
    assert_eq!(rebuilt.search_shards_indexed, 1);
    assert_eq!(contents(&root.join("site/pagefind")), edited_index, "indexing is deterministic");
}
