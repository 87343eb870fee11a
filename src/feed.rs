//! Machine-readable indexes of a site: the Atom feed of the paper sections
//! (`atom.xml`) and `sitemap.xml`. Both need absolute URLs, so a build
//! writes them only when the base URL is absolute.

use atom_syndication::{Entry, Feed, Generator, Link, Person, Text};
use chrono::{DateTime, FixedOffset};

use crate::markdown::escape_html;

/// File name of the Atom feed in the output directory.
pub const FEED_FILE: &str = "atom.xml";
/// File name of the sitemap in the output directory.
pub const SITEMAP_FILE: &str = "sitemap.xml";

/// The feed as a whole.
#[derive(Debug, Clone)]
pub struct FeedInfo {
    pub title: String,
    pub subtitle: Option<String>,
    /// Absolute URL of the site's home page.
    pub home_url: String,
    /// Absolute URL of the feed itself.
    pub feed_url: String,
    /// BCP 47 tag of the site's language.
    pub lang: String,
    /// Author of the site; Atom requires one per feed.
    pub author: String,
}

/// One paper section in the feed.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub title: String,
    /// Absolute URL of the section; also the entry's id.
    pub url: String,
    pub updated: DateTime<FixedOffset>,
    /// Date of first publication, from the front matter's `date`.
    pub published: Option<DateTime<FixedOffset>>,
    pub summary: Option<String>,
}

/// One `<url>` of the sitemap.
#[derive(Debug, Clone)]
pub struct SitemapUrl {
    /// Absolute URL of the page.
    pub loc: String,
    pub last_modified: Option<DateTime<FixedOffset>>,
}

/// Writes the Atom feed, newest entry first. The feed's `updated` is the
/// latest entry date, or `fallback_updated` when there are no entries.
pub fn atom(info: &FeedInfo, entries: &[FeedEntry], fallback_updated: DateTime<FixedOffset>) -> String {
    let mut entries: Vec<&FeedEntry> = entries.iter().collect();
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.updated));
    let updated = entries.first().map_or(fallback_updated, |entry| entry.updated);

    let feed = Feed {
        title: Text::plain(info.title.as_str()),
        id: info.home_url.clone(),
        updated,
        authors: vec![Person { name: info.author.clone(), ..Person::default() }],
        generator: Some(Generator {
            value: "survey".to_string(),
            uri: None,
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        }),
        links: vec![link(&info.feed_url, "self", Some("application/atom+xml")), link(&info.home_url, "alternate", Some("text/html"))],
        subtitle: info.subtitle.as_deref().map(Text::plain),
        lang: Some(info.lang.clone()),
        entries: entries.into_iter().map(entry).collect(),
        ..Feed::default()
    };
    let mut xml = feed.to_string();
    xml.push('\n');
    xml
}

fn entry(entry: &FeedEntry) -> Entry {
    Entry {
        title: Text::plain(entry.title.as_str()),
        id: entry.url.clone(),
        updated: entry.updated,
        published: entry.published,
        links: vec![link(&entry.url, "alternate", Some("text/html"))],
        summary: entry.summary.as_deref().map(Text::plain),
        ..Entry::default()
    }
}

fn link(href: &str, rel: &str, mime_type: Option<&str>) -> Link {
    Link { href: href.to_string(), rel: rel.to_string(), mime_type: mime_type.map(str::to_string), ..Link::default() }
}

/// Writes `sitemap.xml` with one `<url>` per page, in the given order.
pub fn sitemap(urls: &[SitemapUrl]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for url in urls {
        xml.push_str("<url><loc>");
        xml.push_str(&escape_html(&url.loc));
        xml.push_str("</loc>");
        if let Some(modified) = url.last_modified {
            xml.push_str(&format!("<lastmod>{}</lastmod>", modified.to_rfc3339()));
        }
        xml.push_str("</url>\n");
    }
    xml.push_str("</urlset>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    fn info() -> FeedInfo {
        FeedInfo {
            title: "調査 & まとめ".into(),
            subtitle: Some("説明".into()),
            home_url: "https://u.github.io/r/".into(),
            feed_url: "https://u.github.io/r/atom.xml".into(),
            lang: "ja".into(),
            author: "著者".into(),
        }
    }

    fn entry(title: &str, path: &str, updated: &str) -> FeedEntry {
        FeedEntry {
            title: title.into(),
            url: format!("https://u.github.io/r/{path}"),
            updated: date(updated),
            published: None,
            summary: Some(format!("{title} <要約>")),
        }
    }

    #[test]
    fn atom_round_trips_and_sorts_newest_first() {
        let entries = [
            entry("[1] 古い", "papers/01-a/", "2021-12-06T00:00:00+00:00"),
            entry("[2] 新しい", "papers/02-b/", "2022-01-05T09:00:00+09:00"),
        ];
        let xml = atom(&info(), &entries, date("2000-01-01T00:00:00Z"));
        let feed: Feed = xml.parse().expect("the feed is valid Atom");
        assert_eq!(feed.title.value, "調査 & まとめ");
        assert_eq!(feed.updated, date("2022-01-05T09:00:00+09:00"));
        assert_eq!(feed.authors[0].name, "著者");
        assert_eq!(feed.lang.as_deref(), Some("ja"));
        let self_link = feed.links.iter().find(|link| link.rel == "self").unwrap();
        assert_eq!(self_link.href, "https://u.github.io/r/atom.xml");
        let titles: Vec<&str> = feed.entries.iter().map(|entry| entry.title.value.as_str()).collect();
        assert_eq!(titles, ["[2] 新しい", "[1] 古い"]);
        assert_eq!(feed.entries[0].id, "https://u.github.io/r/papers/02-b/");
        assert_eq!(feed.entries[0].links[0].href, "https://u.github.io/r/papers/02-b/");
        assert_eq!(feed.entries[0].summary.as_ref().unwrap().value, "[2] 新しい <要約>");
    }

    #[test]
    fn empty_feed_uses_the_fallback_date() {
        let xml = atom(&info(), &[], date("2020-02-02T00:00:00Z"));
        let feed: Feed = xml.parse().unwrap();
        assert!(feed.entries.is_empty());
        assert_eq!(feed.updated, date("2020-02-02T00:00:00Z"));
    }

    #[test]
    fn sitemap_escapes_and_dates_urls() {
        let xml = sitemap(&[
            SitemapUrl { loc: "https://u.github.io/r/?a=1&b=2".into(), last_modified: Some(date("2021-12-06T00:00:00Z")) },
            SitemapUrl { loc: "https://u.github.io/r/bibliography/".into(), last_modified: None },
        ]);
        assert!(xml.contains("<loc>https://u.github.io/r/?a=1&amp;b=2</loc><lastmod>2021-12-06T00:00:00+00:00</lastmod>"), "{xml}");
        assert!(xml.contains("<url><loc>https://u.github.io/r/bibliography/</loc></url>"), "{xml}");
    }
}
