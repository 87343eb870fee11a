//! Splitting the YAML header from a Markdown file and reading it into
//! typed structs.

use std::path::Path;

use serde::Deserialize;

use crate::diagnostics::{Diagnostic, Message, from_yaml_error};

/// A Markdown file cut at its front-matter fences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<'a> {
    /// YAML text between the fences.
    pub header: &'a str,
    /// Markdown after the closing fence.
    pub body: &'a str,
    /// 1-based file line on which `body` starts.
    pub body_line: usize,
}

/// Front matter of a page that is not a paper.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PageFrontMatter {
    pub title: String,
    /// Position in the site order; lower first, pages without one last.
    #[serde(default)]
    pub weight: Option<i64>,
    /// Taxonomy node whose subtree this group section shows.
    #[serde(default)]
    pub node: Option<String>,
    /// Replaces the description taken from the first paragraph, for
    /// `<meta name="description">` and the feed.
    #[serde(default)]
    pub description: Option<String>,
    /// Date of first publication: `2021-12-06` or an RFC 3339 date-time,
    /// checked by `content::FrontMatterDate::parse`.
    #[serde(default)]
    pub date: Option<String>,
    /// Date of the last significant change, in the same form as `date`.
    #[serde(default)]
    pub updated: Option<String>,
}

/// Front matter of a paper section under `content/papers/`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PaperFrontMatter {
    /// BibTeX key of the paper.
    pub key: String,
    /// Section headline; defaults to the title of the BibTeX entry.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub taxonomy: Vec<TaxonomyRef>,
    #[serde(default)]
    pub status: Status,
    /// BibTeX entry for a paper whose entry is not in `bib/`.
    #[serde(default)]
    pub bib: Option<String>,
    /// Replaces the description taken from the first paragraph, for
    /// `<meta name="description">` and the feed.
    #[serde(default)]
    pub description: Option<String>,
    /// Date of first publication: `2021-12-06` or an RFC 3339 date-time,
    /// checked by `content::FrontMatterDate::parse`.
    #[serde(default)]
    pub date: Option<String>,
    /// Date of the last significant change, in the same form as `date`.
    #[serde(default)]
    pub updated: Option<String>,
}

/// Attachment of a paper to a taxonomy node.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TaxonomyRef {
    /// Dotted path of node ids from the root.
    pub node: String,
    /// One-line summary; equal to the node's label to be cited on its line.
    pub summary: String,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    #[default]
    Published,
}

/// Cuts `text` (already normalized: no BOM, LF line endings) at its
/// front-matter fences: a first line `---` and a later line `---` or `...`.
pub fn split_front_matter<'a>(file: &Path, text: &'a str) -> Result<Split<'a>, Diagnostic> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "---" {
        return Err(Diagnostic::new(file, Message::new("front-matter-missing")).at_line(1));
    }

    let header_start = first.len();
    let mut offset = header_start;
    for (index, line) in lines.enumerate() {
        let fence = line.trim_end();
        if fence == "---" || fence == "..." {
            return Ok(Split {
                header: &text[header_start..offset],
                body: &text[offset + line.len()..],
                // Line 1 is the opening fence, header lines start at 2, and
                // `index` counts from the first header line.
                body_line: index + 3,
            });
        }
        offset += line.len();
    }
    Err(Diagnostic::new(file, Message::new("front-matter-unclosed")).at_line(1))
}

/// Deserializes a front-matter header into `T`, reporting errors at the
/// file's line and column.
pub fn parse_header<T: serde::de::DeserializeOwned>(file: &Path, header: &str) -> Result<T, Diagnostic> {
    let header = if header.trim().is_empty() { "{}" } else { header };
    serde_yaml::from_str(header).map_err(|error| from_yaml_error(file, &error, 2))
}

/// Returns the file line (1-based) of the first header line that contains
/// `needle`, falling back to the opening fence.
pub fn header_line_of(header: &str, needle: &str) -> usize {
    header
        .lines()
        .position(|line| line.contains(needle))
        .map_or(1, |index| index + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> &'static Path {
        Path::new("content/a.md")
    }

    #[test]
    fn split_finds_header_and_body_line() {
        let split = split_front_matter(file(), "---\ntitle: A\nweight: 1\n---\nbody\n").unwrap();
        assert_eq!(split.header, "title: A\nweight: 1\n");
        assert_eq!(split.body, "body\n");
        assert_eq!(split.body_line, 5);
    }

    #[test]
    fn split_accepts_empty_header_and_dots_fence() {
        let split = split_front_matter(file(), "---\n...\nx").unwrap();
        assert_eq!(split.header, "");
        assert_eq!(split.body, "x");
        assert_eq!(split.body_line, 3);
    }

    #[test]
    fn split_reports_missing_and_unclosed_fences() {
        let missing = split_front_matter(file(), "title: A\n").unwrap_err();
        assert_eq!(missing.message.id, "front-matter-missing");
        let unclosed = split_front_matter(file(), "---\ntitle: A\n\nbody\n").unwrap_err();
        assert_eq!(unclosed.message.id, "front-matter-unclosed");
        assert_eq!(unclosed.line, Some(1));
    }

    #[test]
    fn paper_header_defaults() {
        let paper: PaperFrontMatter = parse_header(file(), "key: a2021\n").unwrap();
        assert_eq!(paper.key, "a2021");
        assert_eq!(paper.status, Status::Published);
        assert!(paper.taxonomy.is_empty());
    }

    #[test]
    fn unknown_field_is_located_in_the_file() {
        let error = parse_header::<PaperFrontMatter>(file(), "key: a\nstatsu: draft\n").unwrap_err();
        assert_eq!(error.message.id, "field-unknown");
        assert_eq!(error.line, Some(3));
        assert_eq!(error.suggestion.as_deref(), Some("status"));
    }

    #[test]
    fn missing_key_is_reported() {
        let error = parse_header::<PaperFrontMatter>(file(), "title: x\n").unwrap_err();
        assert_eq!(error.message.id, "field-missing");
        assert!(error.message.args.iter().any(|(_, value)| value == "key"));
    }

    #[test]
    fn dates_and_description_are_read() {
        let page: PageFrontMatter = parse_header(file(), "title: A\ndescription: 概要\ndate: 2021-12-06\n").unwrap();
        assert_eq!(page.description.as_deref(), Some("概要"));
        assert_eq!(page.date.as_deref(), Some("2021-12-06"));
        let paper: PaperFrontMatter = parse_header(file(), "key: a\nupdated: 2022-01-05T09:00:00+09:00\n").unwrap();
        assert_eq!(paper.updated.as_deref(), Some("2022-01-05T09:00:00+09:00"));
    }

    #[test]
    fn header_line_of_counts_from_fence() {
        assert_eq!(header_line_of("key: a\ntaxonomy:\n  - node: x\n", "node: x"), 4);
        assert_eq!(header_line_of("key: a\n", "missing"), 1);
    }
}
