//! Links, anchors and images of every page, resolved as a browser would
//! against the built site.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use super::scan::{self, LinkRef};
use super::{CheckKind, Collector, Sources};
use crate::content::Page;
use crate::diagnostics::{Diagnostic, Message, closest};

/// Checks the links and images of every page. `site_dir` is the built
/// site; without one (the build failed) only what needs no files is
/// checked.
pub(super) fn check_pages(sources: &Sources, base: &str, site_dir: Option<&Path>, collector: &mut Collector) {
    let mut ids = IdCache::default();
    for page in &sources.library.pages {
        for link in scan::scan(page).links {
            let at = |message: Message| Diagnostic::new(&page.source, message).at(link.line, Some(link.column));
            if link.image && link.alt_missing {
                collector.report(CheckKind::MissingAlt, at(Message::new("check-missing-alt").arg("src", &link.dest)));
            }
            if is_external(&link.dest) {
                collector.report(CheckKind::ExternalLinks, at(Message::new("check-external-link").arg("url", &link.dest)));
                continue;
            }
            let Some(site_dir) = site_dir else { continue };
            check_internal(page, &link, base, site_dir, sources, &mut ids, collector);
        }
    }
}

fn check_internal(page: &Page, link: &LinkRef, base: &str, site_dir: &Path, sources: &Sources, ids: &mut IdCache, collector: &mut Collector) {
    let at = |message: Message| Diagnostic::new(&page.source, message).at(link.line, Some(link.column));
    let (path, fragment) = match link.dest.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (link.dest.as_str(), None),
    };
    let path = path.split('?').next().unwrap_or("");
    let page_url = format!("{base}{}", page.url_path);
    // The build serves a target written from the site root under the base
    // path (`markdown::with_base_path`), so it is checked there.
    let target = match path.strip_prefix('/') {
        Some(rest) if !rest.starts_with('/') => format!("{base}{rest}"),
        _ => path.to_string(),
    };

    let Some(url) = resolve_url(&page_url, &target) else {
        collector.report(CheckKind::BrokenLinks, at(Message::new("check-broken-link").arg("target", &link.dest)));
        return;
    };
    let Some(inside) = url.strip_prefix(base) else {
        let message = Message::new("check-link-outside-base").arg("target", &link.dest).arg("base", base);
        collector.report(CheckKind::BrokenLinks, at(message));
        return;
    };
    let Some(file) = target_file(site_dir, &percent_decode(inside)) else {
        let suggestion = markdown_link_target(page, path, sources).map(|url_path| {
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("/{url_path}{fragment}")
        });
        collector.report(CheckKind::BrokenLinks, at(Message::new("check-broken-link").arg("target", &link.dest)).suggest(suggestion));
        return;
    };

    let Some(fragment) = fragment.filter(|f| !f.is_empty()) else { return };
    if file.extension().is_none_or(|ext| ext != "html") {
        return;
    }
    let anchor = percent_decode(fragment);
    let known = ids.of(&file);
    if !known.contains(&anchor) {
        let suggestion = closest(&anchor, known.iter().map(String::as_str));
        let target = if path.is_empty() { page_url.clone() } else { url.clone() };
        let message = Message::new("check-broken-anchor").arg("anchor", &anchor).arg("target", target);
        collector.report(CheckKind::BrokenAnchors, at(message).suggest(suggestion));
    }
}

/// Returns whether `dest` leaves the site: it has a URL scheme (`https:`,
/// `mailto:`) or is protocol-relative (`//host/…`).
pub(crate) fn is_external(dest: &str) -> bool {
    if dest.starts_with("//") {
        return true;
    }
    let Some((scheme, _)) = dest.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !scheme.contains('/')
}

/// Resolves `path` against the URL of the page it is written on, removing
/// `.` and `..` segments. `None` when `..` climbs above the server root.
pub(crate) fn resolve_url(page_url: &str, path: &str) -> Option<String> {
    let joined = if path.is_empty() {
        page_url.to_string()
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{page_url}{path}")
    };
    let trailing = joined.ends_with('/') || joined.ends_with("/.") || joined.ends_with("/..");
    let mut segments: Vec<&str> = Vec::new();
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            other => segments.push(other),
        }
    }
    let mut url = format!("/{}", segments.join("/"));
    if trailing && !url.ends_with('/') {
        url.push('/');
    }
    Some(url)
}

/// Returns the file a server sends for `rel` (a decoded URL path
/// under the base path): the file itself, or a directory's `index.html`.
fn target_file(site_dir: &Path, rel: &str) -> Option<PathBuf> {
    let path = site_dir.join(rel);
    if !rel.is_empty() && !rel.ends_with('/') && path.is_file() {
        return Some(path);
    }
    let index = path.join("index.html");
    index.is_file().then_some(index)
}

/// For a link written to a Markdown source (`03-skyformer.md`), the URL
/// path of the page built from it.
fn markdown_link_target(page: &Page, path: &str, sources: &Sources) -> Option<String> {
    if !path.ends_with(".md") || path.starts_with('/') {
        return None;
    }
    let mut resolved = PathBuf::new();
    for component in page.source.parent()?.join(percent_decode(path)).components() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(part) => resolved.push(part),
            _ => {}
        }
    }
    sources.library.pages.iter().find(|other| other.source == resolved).map(|other| other.url_path.clone())
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The `id` attributes of each HTML file, read once.
#[derive(Default)]
struct IdCache {
    files: HashMap<PathBuf, HashSet<String>>,
}

impl IdCache {
    fn of(&mut self, file: &Path) -> &HashSet<String> {
        self.files.entry(file.to_path_buf()).or_insert_with(|| ids_in(&std::fs::read_to_string(file).unwrap_or_default()))
    }
}

/// Collects every `id="…"` value in `html`, entities decoded.
fn ids_in(html: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut rest = html;
    while let Some(at) = rest.find(" id=\"") {
        let value = &rest[at + 5..];
        let Some(end) = value.find('"') else { break };
        ids.insert(decode_entities(&value[..end]));
        rest = &value[end..];
    }
    ids
}

fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_links_have_a_scheme() {
        for dest in ["https://example.org/", "http://a", "mailto:a@b.c", "//cdn.example.org/x.js", "doi:10.1/2"] {
            assert!(is_external(dest), "{dest}");
        }
        for dest in ["/papers/", "../a/", "a.md", "#id", "", "a/b:c"] {
            assert!(!is_external(dest), "{dest}");
        }
    }

    #[test]
    fn urls_resolve_like_a_browser() {
        let page = "/repo/papers/03-a/";
        assert_eq!(resolve_url(page, "").as_deref(), Some("/repo/papers/03-a/"));
        assert_eq!(resolve_url(page, "../04-b/").as_deref(), Some("/repo/papers/04-b/"));
        assert_eq!(resolve_url(page, "../..").as_deref(), Some("/repo/"));
        assert_eq!(resolve_url(page, "/appendix/").as_deref(), Some("/appendix/"));
        assert_eq!(resolve_url(page, "fig.png").as_deref(), Some("/repo/papers/03-a/fig.png"));
        assert_eq!(resolve_url(page, "../../../../x"), None);
    }

    #[test]
    fn ids_are_read_from_html() {
        let ids = ids_in("<h2 id=\"概要\">概要</h2><a id=\"cite-1\"></a><li id=\"a&amp;b\">");
        assert!(ids.contains("概要"));
        assert!(ids.contains("cite-1"));
        assert!(ids.contains("a&b"));
        assert_eq!(ids.len(), 3);
    }
}
