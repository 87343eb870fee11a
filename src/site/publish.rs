//! The Atom feed of the paper sections and the sitemap, written with
//! absolute URLs when the base URL is absolute.

use chrono::{DateTime, FixedOffset};

use super::{Layout, plain_title};
use crate::feed::{self, FEED_FILE, FeedEntry, FeedInfo, SITEMAP_FILE, SitemapUrl};

impl Layout<'_> {
    /// `atom.xml` and `sitemap.xml` as (path, bytes); empty when the base
    /// URL is a path, because both formats require absolute URLs.
    /// `descriptions` contains each page's description, in the order of
    /// `library.pages`.
    pub(super) fn feed_and_sitemap(&self, descriptions: &[Option<String>]) -> Vec<(String, Vec<u8>)> {
        let Some(absolute_base) = self.site.absolute_base.as_deref() else {
            return Vec::new();
        };
        vec![
            (FEED_FILE.to_string(), self.atom(absolute_base, descriptions).into_bytes()),
            (SITEMAP_FILE.to_string(), self.sitemap(absolute_base).into_bytes()),
        ]
    }

    fn atom(&self, absolute_base: &str, descriptions: &[Option<String>]) -> String {
        let info = FeedInfo {
            title: self.site.title.clone(),
            subtitle: self.site.description.clone(),
            home_url: absolute_base.to_string(),
            feed_url: format!("{absolute_base}{FEED_FILE}"),
            lang: self.site.lang.clone(),
            author: self.author.clone(),
        };
        let entries: Vec<FeedEntry> = self
            .library
            .pages
            .iter()
            .enumerate()
            .filter_map(|(index, page)| {
                let paper = page.paper.as_ref()?;
                Some(FeedEntry {
                    title: format!("[{}] {}", paper.number, plain_title(&page.title)),
                    url: format!("{absolute_base}{}", page.url_path),
                    updated: self.dates[index]?,
                    published: page.meta.date.map(|date| date.to_datetime()),
                    summary: descriptions[index].clone(),
                })
            })
            .collect();
        feed::atom(&info, &entries, self.latest_date().unwrap_or_default())
    }

    fn sitemap(&self, absolute_base: &str) -> String {
        // The site order lists the pages in library order, then the
        // bibliography, which has no date.
        let urls: Vec<SitemapUrl> = self
            .order
            .iter()
            .enumerate()
            .map(|(index, link)| {
                let path = link.url.strip_prefix(&self.site.base).unwrap_or(&link.url);
                let last_modified = self.dates.get(index).copied().flatten();
                SitemapUrl { loc: format!("{absolute_base}{path}"), last_modified }
            })
            .collect();
        feed::sitemap(&urls)
    }

    /// Returns the latest change of any page.
    fn latest_date(&self) -> Option<DateTime<FixedOffset>> {
        self.dates.iter().flatten().max().copied()
    }
}
