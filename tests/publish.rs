//! The published form of the real survey, served under `/REPO/` from a
//! local static server as GitHub Pages serves a project site. Every page,
//! link, stylesheet, font, script and image resolves under the sub-path,
//! and so does the search bundle. A missing nested URL gets the 404 page,
//! and the feed, the sitemap and `.nojekyll` are written.

mod common;
mod served;

use std::collections::{BTreeSet, HashSet, VecDeque};

use scraper::{Html, Selector};
use served::{REPO_PATH, client, fetch, served_site};
use url::Url;

/// Attributes that load or link another resource.
const LINK_ATTRIBUTES: &[(&str, &str)] = &[
    ("a[href]", "href"),
    ("link[href]", "href"),
    ("script[src]", "src"),
    ("img[src]", "src"),
    ("source[src]", "src"),
    ("form[action]", "action"),
];

/// What the crawl found.
#[derive(Default)]
struct Crawl {
    /// Every URL fetched from the local server.
    fetched: BTreeSet<String>,
    /// HTML pages among them.
    pages: usize,
    problems: Vec<String>,
}

/// Fetches `start` and everything reachable from it on the local server:
/// links and sources of HTML pages, `url(...)` references of stylesheets.
/// A URL on the server outside the sub-path, a failed request, or a
/// fragment that names no element of its page is a problem. Links to other
/// hosts are not followed.
fn crawl(start: &[(Url, u16)]) -> Crawl {
    let site = served_site();
    let base = Url::parse(&site.base_url).unwrap();
    let agent = client();
    let mut crawl = Crawl::default();
    let mut queue: VecDeque<(Url, u16, String)> = start.iter().map(|(url, status)| (url.clone(), *status, "start".to_string())).collect();
    let mut seen: HashSet<Url> = HashSet::new();
    let mut fragments: Vec<(Url, String, String)> = Vec::new();

    while let Some((mut url, expected_status, referrer)) = queue.pop_front() {
        if let Some(fragment) = url.fragment() {
            let fragment = percent_encoding::percent_decode_str(fragment).decode_utf8_lossy().into_owned();
            url.set_fragment(None);
            if !fragment.is_empty() {
                fragments.push((url.clone(), fragment, referrer.clone()));
            }
        }
        url.set_query(None);
        if url.origin() != base.origin() || !seen.insert(url.clone()) {
            continue;
        }
        if !url.path().starts_with(REPO_PATH) {
            crawl.problems.push(format!("{url} (linked from {referrer}) is outside {REPO_PATH}"));
            continue;
        }
        let (status, content_type, body) = fetch(&agent, url.as_str());
        crawl.fetched.insert(url.to_string());
        if status != expected_status {
            crawl.problems.push(format!("{url} (linked from {referrer}) returned {status}, expected {expected_status}"));
            continue;
        }
        let text = String::from_utf8_lossy(&body);
        if content_type.starts_with("text/html") {
            crawl.pages += 1;
            for link in html_links(&text) {
                match url.join(&link) {
                    Ok(target) if target.scheme() == "http" || target.scheme() == "https" => queue.push_back((target, 200, url.to_string())),
                    Ok(_) => {}
                    Err(error) => crawl.problems.push(format!("{url} links to {link:?}, which is not a URL: {error}")),
                }
            }
        } else if content_type.starts_with("text/css") {
            for reference in css_urls(&text) {
                match url.join(&reference) {
                    Ok(target) => queue.push_back((target, 200, url.to_string())),
                    Err(error) => crawl.problems.push(format!("{url} refers to {reference:?}: {error}")),
                }
            }
        }
    }

    for (page, fragment, referrer) in fragments {
        if page.origin() != base.origin() {
            continue;
        }
        let (_, _, body) = fetch(&agent, page.as_str());
        let html = Html::parse_document(&String::from_utf8_lossy(&body));
        let ids: HashSet<&str> = html.root_element().descendent_elements().filter_map(|element| element.attr("id")).collect();
        if !ids.contains(fragment.as_str()) {
            crawl.problems.push(format!("{referrer} links to #{fragment} on {page}, which has no such id"));
        }
    }
    crawl
}

fn html_links(html: &str) -> Vec<String> {
    let document = Html::parse_document(html);
    let mut links = Vec::new();
    for (selector, attribute) in LINK_ATTRIBUTES {
        let selector = Selector::parse(selector).unwrap();
        links.extend(document.select(&selector).filter_map(|element| element.attr(attribute)).map(str::to_string));
    }
    links
}

/// Returns the targets of `url(...)` in a stylesheet, data URLs left out.
fn css_urls(css: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut rest = css;
    while let Some(start) = rest.find("url(") {
        rest = &rest[start + 4..];
        let end = rest.find(')').unwrap_or(rest.len());
        let target = rest[..end].trim().trim_matches(['"', '\'']);
        if !target.is_empty() && !target.starts_with("data:") && !target.starts_with('#') {
            urls.push(target.to_string());
        }
        rest = &rest[end..];
    }
    urls
}

fn base() -> Url {
    Url::parse(&served_site().base_url).unwrap()
}

#[test]
fn every_page_and_asset_resolves_under_the_sub_path() {
    let site = served_site();
    let base = base();
    let missing = base.join("no/such/page/").unwrap();
    let crawl = crawl(&[(base.clone(), 200), (missing, 404)]);
    assert!(crawl.problems.is_empty(), "{} problems:\n{}", crawl.problems.len(), crawl.problems.join("\n"));

    // Every HTML file of the output was reached by following links.
    let html_files = walkdir::WalkDir::new(&site.dir)
        .into_iter()
        .map(|entry| entry.unwrap().into_path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "html") && !path.starts_with(site.dir.join("pagefind")))
        .count();
    assert_eq!(crawl.pages, html_files + 1, "pages reached (the 404 response included) vs HTML files written");
    for asset in ["static/style.css", "static/favicon.svg", "static/katex/fonts/KaTeX_Main-Regular.woff2", "search/", "atom.xml"] {
        let url = base.join(asset).unwrap().to_string();
        assert!(crawl.fetched.contains(&url), "{url} was not reached by the crawl");
    }
}

#[test]
fn missing_nested_url_gets_the_404_page() {
    let base = base();
    let (status, content_type, body) = fetch(&client(), base.join("papers/no-such-paper/deeper/").unwrap().as_str());
    assert_eq!(status, 404);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("ページが見つかりません"), "{html}");
    assert!(html.contains(&format!("href=\"{REPO_PATH}static/style.css\"")), "the 404 page must load its stylesheet from the sub-path");
}

#[test]
fn search_bundle_is_served_under_the_sub_path() {
    let site = served_site();
    let base = base();
    let agent = client();
    let bundle = site.dir.join("pagefind");
    let files: Vec<_> = walkdir::WalkDir::new(&bundle)
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| entry.path().strip_prefix(&site.dir).unwrap().to_string_lossy().into_owned())
        .collect();
    for required in ["pagefind/pagefind.js", "pagefind/pagefind-entry.json", "pagefind/pagefind-worker.js"] {
        assert!(files.iter().any(|file| file == required), "{required} missing from {files:?}");
    }
    assert!(files.iter().any(|file| file.starts_with("pagefind/index/")), "no index chunks: {files:?}");
    assert!(files.iter().any(|file| file.starts_with("pagefind/fragment/")), "no page fragments: {files:?}");
    for file in &files {
        let (status, _, body) = fetch(&agent, base.join(file).unwrap().as_str());
        assert_eq!(status, 200, "{file}");
        assert_eq!(body.len() as u64, std::fs::metadata(site.dir.join(file)).unwrap().len(), "{file}");
    }

    let (_, _, entry) = fetch(&agent, base.join("pagefind/pagefind-entry.json").unwrap().as_str());
    let entry: serde_json::Value = serde_json::from_slice(&entry).unwrap();
    let pages = entry["languages"]["ja"]["page_count"].as_u64().unwrap();
    // Every page of the survey and the bibliography; not the search or 404 page.
    let written = survey_pages(&site.dir);
    assert_eq!(pages, written as u64, "{entry}");
}

/// HTML pages of the output other than the 404 and search pages.
fn survey_pages(dir: &std::path::Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.unwrap().into_path())
        .filter(|path| path.file_name().is_some_and(|name| name == "index.html"))
        .filter(|path| !path.starts_with(dir.join("search")))
        .count()
}

#[test]
fn nojekyll_feed_and_sitemap_are_written() {
    let site = served_site();
    let agent = client();
    let base = base();
    assert!(site.dir.join(".nojekyll").is_file(), ".nojekyll is missing");
    assert_eq!(fetch(&agent, base.join(".nojekyll").unwrap().as_str()).0, 200);

    let (status, _, sitemap) = fetch(&agent, base.join("sitemap.xml").unwrap().as_str());
    assert_eq!(status, 200);
    let sitemap = String::from_utf8(sitemap).unwrap();
    let locs: Vec<&str> = sitemap.split("<loc>").skip(1).map(|rest| rest.split("</loc>").next().unwrap()).collect();
    assert_eq!(locs.len(), survey_pages(&site.dir), "one <loc> per page");
    for loc in &locs {
        assert!(loc.starts_with(&site.base_url), "{loc}");
        assert_eq!(fetch(&agent, loc).0, 200, "{loc}");
    }
    assert!(sitemap.contains("<lastmod>"), "pages carry their last change");

    let (status, _, feed) = fetch(&agent, base.join("atom.xml").unwrap().as_str());
    assert_eq!(status, 200);
    let feed = String::from_utf8(feed).unwrap();
    let entries = feed.matches("<entry>").count();
    assert_eq!(entries, 39, "one entry per paper section");
    assert!(feed.contains("<title>[3] Skyformer――セルフアテンションの Nyström 近似</title>"), "{feed}");
    let skyformer = format!("<link href=\"{}papers/03-skyformer/\" rel=\"alternate\"", site.base_url);
    assert!(feed.contains(&skyformer), "{feed}");
}

#[test]
fn pages_carry_description_and_opengraph_meta() {
    let site = served_site();
    let html = std::fs::read_to_string(site.dir.join("papers/03-skyformer/index.html")).unwrap();
    let document = Html::parse_document(&html);
    let meta = |selector: &str| -> String {
        let selector = Selector::parse(selector).unwrap();
        let element = document.select(&selector).next().unwrap_or_else(|| panic!("{selector:?} missing"));
        element.attr("content").or(element.attr("href")).unwrap().to_string()
    };
    let description = meta("meta[name=description]");
    assert!(description.starts_with("これまでのセルフアテンションの計算量削減"), "{description}");
    assert_eq!(meta("meta[property=\"og:description\"]"), description);
    assert_eq!(meta("meta[property=\"og:title\"]"), "[3] Skyformer――セルフアテンションの Nyström 近似");
    assert_eq!(meta("meta[property=\"og:type\"]"), "article");
    assert_eq!(meta("meta[property=\"og:url\"]"), format!("{}papers/03-skyformer/", site.base_url));
    assert_eq!(meta("link[rel=canonical]"), format!("{}papers/03-skyformer/", site.base_url));
    assert!(meta("meta[property=\"article:modified_time\"]").starts_with("20"));
    assert_eq!(meta("link[rel=icon]"), format!("{REPO_PATH}static/favicon.svg"));
    assert_eq!(meta("link[rel=alternate]"), format!("{}atom.xml", site.base_url));
}

/// Content of `<meta name="description">` in `html`.
fn description_of(html: &str) -> String {
    let document = Html::parse_document(html);
    let selector = Selector::parse("meta[name=description]").unwrap();
    document.select(&selector).next().and_then(|meta| meta.attr("content")).expect("a description").to_string()
}

#[test]
fn descriptions_come_from_front_matter_config_or_text() {
    let dir = common::copy_fixture("basic");
    let root = dir.path();
    let config = common::read(root.join("survey.yaml"));
    std::fs::write(root.join("survey.yaml"), format!("{config}description: サイトの説明\nauthor: 著者名\n")).unwrap();
    let overview = common::read(root.join("content/overview.md"));
    std::fs::write(root.join("content/overview.md"), overview.replacen("weight: 20\n", "weight: 20\ndescription: 手で書いた説明\n", 1)).unwrap();
    let output = common::survey(root, &["build", "--base-url", "https://u.github.io/r/"]);
    assert!(output.status.success(), "{}", common::stderr(&output));

    let site = root.join("site");
    assert_eq!(description_of(&common::read(site.join("index.html"))), "サイトの説明");
    assert_eq!(description_of(&common::read(site.join("overview/index.html"))), "手で書いた説明");
    let appendix = description_of(&common::read(site.join("appendix/index.html")));
    assert_eq!(appendix, "スカイフォーマー[1]を動かします。", "a page without one is described by its first paragraph");
    let feed = common::read(site.join("atom.xml"));
    assert!(feed.contains("<author><name>著者名</name></author>"), "{feed}");
    assert!(feed.contains("<subtitle>サイトの説明</subtitle>"), "{feed}");
}
