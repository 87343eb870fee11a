//! The data templates see: site, labels, page, navigation, the site-wide
//! 目次 (home page only) and the bibliography (bibliography page only).

use serde::Serialize;

use crate::markdown::headings::TocEntry;

#[derive(Debug, Clone, Serialize)]
pub struct SiteData {
    pub title: String,
    pub lang: String,
    /// Base path with leading and trailing `/`; every URL starts with it.
    pub base: String,
    pub description: Option<String>,
    /// Absolute URL of the site root, when the base URL is absolute.
    pub absolute_base: Option<String>,
    /// Absolute URL of the Atom feed, when one is written.
    pub feed_url: Option<String>,
}

/// Kind of page, also used as the `<body>` class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageKind {
    Home,
    Page,
    Paper,
    Bibliography,
    Search,
    NotFound,
}

impl PageKind {
    pub fn template(self) -> &'static str {
        match self {
            PageKind::Home => "index.html",
            PageKind::Page => "page.html",
            PageKind::Paper => "paper.html",
            PageKind::Bibliography => "bibliography.html",
            PageKind::Search => "search.html",
            PageKind::NotFound => "404.html",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PageData {
    pub kind: PageKind,
    /// Title as HTML (math typeset).
    pub title_html: String,
    /// Title as plain text for `<title>`.
    pub title_text: String,
    pub url: String,
    pub body_html: String,
    pub toc: Vec<TocEntry>,
    pub paper: Option<PaperData>,
    /// Plain-text summary for `<meta name="description">` and OpenGraph.
    pub description: Option<String>,
    /// Absolute URL of the page, when the base URL is absolute.
    pub canonical_url: Option<String>,
    /// RFC 3339 dates of first publication and last change.
    pub published: Option<String>,
    pub updated: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaperData {
    pub number: usize,
    pub key: String,
    pub authors: String,
    pub original_title: String,
    pub venue: Option<String>,
    pub url: Option<String>,
    pub draft: bool,
    /// Whether the body is left out (a draft built without `--drafts`).
    pub body_hidden: bool,
}

/// A link to another page, for navigation and the 目次.
#[derive(Debug, Clone, Serialize)]
pub struct LinkData {
    pub title_html: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NavData {
    pub prev: Option<LinkData>,
    pub next: Option<LinkData>,
}

/// One line of the site-wide 目次.
#[derive(Debug, Clone, Serialize)]
pub struct TocItem {
    pub title_html: String,
    pub url: String,
    pub draft: bool,
    pub children: Vec<TocItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BibEntryData {
    pub id: String,
    pub number: usize,
    pub key: String,
    pub authors: String,
    pub title_sentence: String,
    pub venue_sentence: Option<String>,
    pub url: Option<String>,
    /// URL of the paper's own section, for papers.
    pub section: Option<String>,
    /// Pages citing the entry, each linked to its first citation there.
    pub cited_in: Vec<LinkData>,
}
