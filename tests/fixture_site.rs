//! Whole-site behaviour on the small fixture site: pages, navigation,
//! sub-path base URLs, drafts, adding a paper, cleaning.

mod common;

use std::path::Path;

use common::{broken_links, copy_fixture, read, stderr, survey, visible_text};

fn build(dir: &Path, args: &[&str]) {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let output = survey(dir, &all);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn builds_every_page_with_japanese_labels() {
    let dir = copy_fixture("basic");
    build(dir.path(), &[]);
    let site = dir.path().join("site");
    for page in [
        "index.html",
        "overview/index.html",
        "groups/attention/index.html",
        "papers/index.html",
        "papers/01-skyformer/index.html",
        "papers/02-primer/index.html",
        "appendix/index.html",
        "bibliography/index.html",
        "404.html",
        ".nojekyll",
        "static/style.css",
        "static/highlight.css",
        "static/katex/katex.min.css",
        "static/katex/fonts/KaTeX_Main-Regular.woff2",
    ] {
        assert!(site.join(page).is_file(), "missing {page}");
    }
    let index = read(site.join("index.html"));
    assert!(index.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));
    assert!(index.contains(">目次</h2>"));
    assert!(index.contains("[1] Skyformer――セルフアテンションの Nyström 近似"));
    assert!(index.contains("<a href=\"/#まえがき\">まえがき</a>"), "{index}");
    assert!(index.contains(">参考文献</a>"));
    // The 目次 is on the index only.
    let overview = read(site.join("overview/index.html"));
    assert!(!overview.contains("site-toc"));
    assert!(!overview.contains("[2] Searching"));
}

#[test]
fn paper_page_shows_metadata_and_draft_marker() {
    let dir = copy_fixture("basic");
    build(dir.path(), &[]);
    let paper = read(dir.path().join("site/papers/01-skyformer/index.html"));
    assert!(paper.contains("<span class=\"paper-number\">[1]</span>"));
    assert!(paper.contains("Yifan Chen, Qi Zeng, Heng Ji, Yun Yang"));
    assert!(paper.contains("Skyformer: Remodel Self-Attention with Gaussian Kernel and Nyström Method"));
    assert!(paper.contains("href=\"https://proceedings.neurips.cc/paper/2021/hash/10a7cdd970fe135cf4f7bb55c0e3b59f-Abstract.html\""));
    assert!(paper.contains("class=\"hl-"), "code is highlighted");
    assert!(paper.contains("math-display"));

    let draft = read(dir.path().join("site/papers/02-primer/index.html"));
    assert!(draft.contains("draft-badge\">執筆中</span>"));
    assert!(draft.contains("この節は執筆中です。"));
    assert!(!draft.contains("ほげ。"), "draft bodies are hidden without --drafts");
    assert!(draft.contains("David So, Wojciech Mańke, Hanxiao Liu"));

    build(dir.path(), &["--drafts"]);
    let draft = read(dir.path().join("site/papers/02-primer/index.html"));
    assert!(draft.contains("ほげ。"));
    assert!(draft.contains("執筆中"));
}

#[test]
fn navigation_links_every_page_in_order() {
    let dir = copy_fixture("basic");
    build(dir.path(), &[]);
    let site = dir.path().join("site");
    let order = [
        "index.html",
        "overview/index.html",
        "groups/attention/index.html",
        "papers/index.html",
        "papers/01-skyformer/index.html",
        "papers/02-primer/index.html",
        "appendix/index.html",
        "bibliography/index.html",
    ];
    for pair in order.windows(2) {
        let html = read(site.join(pair[0]));
        let next_url = format!("/{}", pair[1].trim_end_matches("index.html"));
        assert!(html.contains(&format!("rel=\"next\" href=\"{next_url}\"")), "{} → {next_url}", pair[0]);
        let html = read(site.join(pair[1]));
        let prev_url = format!("/{}", pair[0].trim_end_matches("index.html"));
        assert!(html.contains(&format!("rel=\"prev\" href=\"{prev_url}\"")), "{} ← {prev_url}", pair[1]);
    }
}

#[test]
fn citations_and_bibliography_link_both_ways() {
    let dir = copy_fixture("basic");
    build(dir.path(), &[]);
    let site = dir.path().join("site");
    let paper = read(site.join("papers/01-skyformer/index.html"));
    assert!(paper.contains("<a class=\"cite\" href=\"/papers/01-skyformer/\" title=\"Yifan Chen, Qi Zeng, Heng Ji, Yun Yang. Skyformer"));
    // A cited work that is not a paper is numbered after the papers.
    assert!(paper.contains("href=\"/bibliography/#ref-vaswani2017attention\" title=\"Ashish Vaswani, Łukasz Kaiser. Attention Is All You Need. In NeurIPS 2017.\">[3]</a>"), "{paper}");
    let bibliography = read(site.join("bibliography/index.html"));
    assert!(bibliography.contains("<li id=\"ref-vaswani2017attention\" value=\"3\">"));
    assert!(bibliography.contains("href=\"/appendix/#cite-1\""), "back-link to the appendix");
    assert!(bibliography.contains("href=\"/papers/01-skyformer/#cite-2\""), "back-link to the second citation group");
    let text = visible_text(&bibliography).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("Ashish Vaswani, Łukasz Kaiser. Attention Is All You Need. In NeurIPS 2017."), "{text}");
}

#[test]
fn currency_and_math_render_as_intended() {
    let dir = copy_fixture("basic");
    build(dir.path(), &[]);
    let overview = visible_text(&read(dir.path().join("site/overview/index.html")));
    assert!(overview.contains("価格は $5 から $10 です。"), "{overview}");
    let group = read(dir.path().join("site/groups/attention/index.html"));
    assert!(group.contains("<math"), "MathML for readers without CSS");
    assert!(visible_text(&group).contains("$\\mathcal{O}(N^2)$"));
}

#[test]
fn links_resolve_under_any_base() {
    for (args, base) in [(vec![], "/"), (vec!["--base-url", "https://user.github.io/notes/"], "/notes/"), (vec!["--base-url", "/a/b"], "/a/b/")] {
        let dir = copy_fixture("basic");
        build(dir.path(), &args);
        let site = dir.path().join("site");
        let broken = broken_links(&site, base);
        assert!(broken.is_empty(), "base {base}: {broken:#?}");
        let not_found = read(site.join("404.html"));
        assert!(not_found.contains(&format!("href=\"{base}static/style.css\"")), "404 works at any depth");
        assert!(not_found.contains("ページが見つかりません"));
    }
}

#[test]
fn absolute_base_url_writes_a_sitemap() {
    let dir = copy_fixture("basic");
    build(dir.path(), &["--base-url", "https://user.github.io/notes/"]);
    let sitemap = read(dir.path().join("site/sitemap.xml"));
    assert!(sitemap.contains("<loc>https://user.github.io/notes/papers/01-skyformer/</loc>"), "{sitemap}");
}

#[test]
fn adding_a_paper_is_one_file() {
    let dir = copy_fixture("basic");
    build(dir.path(), &[]);
    std::fs::write(
        dir.path().join("content/papers/03-luna.md"),
        "---\nkey: ma2021luna\ntitle: Luna の話\ntaxonomy:\n  - node: transformer.attention\n    summary: 短い系列に射影する\nbib: |\n  @inproceedings{ma2021luna,\n    title = {Luna: Linear Unified Nested Attention},\n    author = {Ma, Xuezhe and Kong, Xiang},\n    booktitle = {NeurIPS 2021},\n  }\n---\n\n本文。\n",
    )
    .unwrap();
    build(dir.path(), &[]);
    let site = dir.path().join("site");
    let index = read(site.join("index.html"));
    assert!(index.contains("<a href=\"/papers/03-luna/\">[3] Luna の話</a>"), "{index}");
    let group = read(site.join("groups/attention/index.html"));
    assert!(group.contains("短い系列に射影する <a class=\"cite\" href=\"/papers/03-luna/\""), "{group}");
    let bibliography = read(site.join("bibliography/index.html"));
    assert!(bibliography.contains("Xuezhe Ma, Xiang Kong."));
    let previous = read(site.join("papers/02-primer/index.html"));
    assert!(previous.contains("rel=\"next\" href=\"/papers/03-luna/\""));
    // The non-paper entry moves from [3] to [4].
    let paper = read(site.join("papers/01-skyformer/index.html"));
    assert!(paper.contains(">[4]</a>"));
}

#[test]
fn clean_removes_the_output() {
    let dir = copy_fixture("basic");
    build(dir.path(), &[]);
    let output = survey(dir.path(), &["clean"]);
    assert!(output.status.success());
    assert!(!dir.path().join("site").exists());
    assert!(stderr(&output).contains("site/ を削除しました"));
}

#[test]
fn english_sites_get_english_labels() {
    let dir = copy_fixture("basic");
    let config = dir.path().join("survey.yaml");
    std::fs::write(&config, read(&config).replace("lang: ja", "lang: en")).unwrap();
    build(dir.path(), &[]);
    let index = read(dir.path().join("site/index.html"));
    assert!(index.contains("<html lang=\"en\">"));
    assert!(index.contains(">Contents</h2>"));
    assert!(read(dir.path().join("site/papers/02-primer/index.html")).contains(">Draft</span>"));
}
