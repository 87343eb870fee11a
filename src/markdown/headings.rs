//! Heading ids and the per-page table of contents.

use std::collections::HashSet;

use unicode_normalization::UnicodeNormalization;

/// One heading of a page, as listed in its table of contents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TocEntry {
    pub level: u8,
    pub id: String,
    /// Inner HTML of the heading (math included, no ids).
    pub html: String,
}

/// Turns heading text into an id that keeps letters of every script:
/// `グループ「RNN を理論的に理解する」` → `グループrnn-を理論的に理解する`.
/// Letters and digits are kept (ASCII lowercased), spaces and `-`/`_`
/// become `-`, other punctuation is dropped.
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    // Normal form C, so decomposed text (NFD) gives the same id.
    for c in text.nfc() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if (c.is_whitespace() || c == '-' || c == '_') && !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() { "section".to_string() } else { slug }
}

/// Hands out ids that are unique within one page.
#[derive(Debug, Default)]
pub struct IdAllocator {
    used: HashSet<String>,
}

impl IdAllocator {
    /// Reserves `id` as is, for ids the author wrote (`{#id}`) or the
    /// renderer fixed (`cite-1`).
    pub fn reserve(&mut self, id: &str) {
        self.used.insert(id.to_string());
    }

    /// Returns `base`, or `base-1`, `base-2`, … if it is taken.
    pub fn allocate(&mut self, base: &str) -> String {
        let mut candidate = base.to_string();
        let mut suffix = 0;
        while self.used.contains(&candidate) {
            suffix += 1;
            candidate = format!("{base}-{suffix}");
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_keeps_japanese() {
        assert_eq!(slugify("グループ「RNN を理論的に理解する」"), "グループrnn-を理論的に理解する");
        assert_eq!(slugify("まえがき"), "まえがき");
        assert_eq!(slugify("Long  Range -- Arena!"), "long-range-arena");
        assert_eq!(slugify("「」"), "section");
        assert_eq!(slugify("\u{30ab}\u{3099}"), "\u{30ac}");
    }

    #[test]
    fn allocator_makes_ids_unique() {
        let mut ids = IdAllocator::default();
        assert_eq!(ids.allocate("a"), "a");
        assert_eq!(ids.allocate("a"), "a-1");
        assert_eq!(ids.allocate("a"), "a-2");
        ids.reserve("b");
        assert_eq!(ids.allocate("b"), "b-1");
    }
}
