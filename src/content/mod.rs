//! Content discovery and front matter: turns `content/` into typed pages.

mod date;
mod discover;
mod front_matter;
mod library;

pub use date::FrontMatterDate;
pub use discover::{Discovered, SourceFile, discover};
pub use front_matter::{PageFrontMatter, PaperFrontMatter, Split, Status, TaxonomyRef, header_line_of, split_front_matter};
pub use library::{Library, Page, PageMeta, Paper, load_pages};

/// Directory of the site's Markdown sources, relative to the site root.
pub const CONTENT_DIR: &str = "content";
/// Directory under `content/` whose Markdown files are paper sections.
pub const PAPERS_DIR: &str = "papers";

/// Removes a UTF-8 byte-order mark and turns CRLF and lone CR line endings
/// into LF, so that offsets and line numbers are the same on every platform.
pub fn normalize_text(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_bom_and_crlf() {
        assert_eq!(normalize_text("\u{feff}---\r\ntitle: a\r\n---\r\n"), "---\ntitle: a\n---\n");
        assert_eq!(normalize_text("a\rb"), "a\nb");
        assert_eq!(normalize_text("plain"), "plain");
    }
}
