//! Bibliography: BibTeX files under `bib/` and inline `bib:` entries.
//!
//! Parsing and LaTeX resolution (accents such as `{\"a}` and `{\L}`, and
//! protective braces) are done by the `biblatex` crate; this module turns its
//! entries into [`Reference`]s formatted as
//! `Given Family, Given Family. Title. In Venue Year.`

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use biblatex::{ChunksExt, Entry, Person};

use crate::diagnostics::{Diagnostic, Diagnostics, Message, line_column};

/// Directory of the site's BibTeX files, relative to the site root.
pub const BIB_DIR: &str = "bib";

/// One bibliography entry, with every field already in Unicode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub key: String,
    /// Author names as "Given Family".
    pub authors: Vec<String>,
    pub title: String,
    /// Book title or journal, with the year appended unless it is already in
    /// the venue ("NeurIPS 2021").
    pub venue: Option<String>,
    /// Whether the venue is a collection (proceedings, book), written "In …".
    pub in_collection: bool,
    pub url: Option<String>,
    /// File that defines the entry, relative to the site root.
    pub file: PathBuf,
    /// 1-based line of the entry's `@type{` in `file`.
    pub line: usize,
}

impl Reference {
    pub fn authors_joined(&self) -> String {
        self.authors.join(", ")
    }

    /// Title followed by a period, unless it already ends in punctuation.
    pub fn title_sentence(&self) -> String {
        if self.title.ends_with(['.', '?', '!']) {
            self.title.clone()
        } else {
            format!("{}.", self.title)
        }
    }

    /// Venue sentence such as "In NeurIPS 2021.".
    pub fn venue_sentence(&self) -> Option<String> {
        let venue = self.venue.as_ref()?;
        Some(if self.in_collection { format!("In {venue}.") } else { format!("{venue}.") })
    }

    /// The whole reference as plain text, as used in citation tooltips.
    pub fn formatted(&self) -> String {
        let mut parts = Vec::new();
        if !self.authors.is_empty() {
            parts.push(format!("{}.", self.authors_joined()));
        }
        parts.push(self.title_sentence());
        parts.extend(self.venue_sentence());
        parts.join(" ")
    }
}

/// All entries of a site, by key.
#[derive(Debug, Default)]
pub struct Bibliography {
    entries: HashMap<String, Reference>,
}

impl Bibliography {
    pub fn get(&self, key: &str) -> Option<&Reference> {
        self.entries.get(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry; a key defined twice is an error naming both places.
    pub fn insert(&mut self, reference: Reference) -> Result<(), Diagnostic> {
        if let Some(existing) = self.entries.get(&reference.key) {
            let other = format!("{}:{}", existing.file.display(), existing.line);
            return Err(Diagnostic::new(
                &reference.file,
                Message::new("bib-key-duplicate").arg("key", &reference.key).arg("other", other),
            )
            .at_line(reference.line));
        }
        self.entries.insert(reference.key.clone(), reference);
        Ok(())
    }
}

/// Reads every `bib/*.bib` file of the site at `root`, in file-name order.
/// A missing `bib/` directory gives an empty bibliography.
pub fn load(root: &Path) -> Result<Bibliography, Diagnostics> {
    let mut bibliography = Bibliography::default();
    let mut diagnostics = Diagnostics::new();
    let dir = root.join(BIB_DIR);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "bib"))
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            return Err(Diagnostic::new(BIB_DIR, Message::new("io-error").arg("path", BIB_DIR).arg("detail", error)).into());
        }
    };
    files.sort();

    for path in files {
        let shown = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => crate::content::normalize_text(&text),
            Err(error) => {
                diagnostics.push(Diagnostic::new(&shown, Message::new("io-error").arg("path", shown.display()).arg("detail", error)));
                continue;
            }
        };
        match parse_entries(&shown, &text, 1) {
            Ok(references) => {
                for reference in references {
                    if let Err(error) = bibliography.insert(reference) {
                        diagnostics.push(error);
                    }
                }
            }
            Err(error) => diagnostics.push(error),
        }
    }
    diagnostics.into_result(bibliography)
}

/// Parses BibTeX `text` from `file`, whose first line is line `first_line`
/// of that file (inline entries start inside a front-matter header).
pub fn parse_entries(file: &Path, text: &str, first_line: usize) -> Result<Vec<Reference>, Diagnostic> {
    let located = |offset: usize, message: Message| {
        let (line, column) = line_column(text, offset);
        let column = if line == 1 && first_line > 1 { None } else { Some(column) };
        Diagnostic::new(file, message).at(line + first_line - 1, column)
    };

    let bibliography = biblatex::Bibliography::parse(text)
        .map_err(|error| located(error.span.start, Message::new("bib-parse").arg("detail", &error.kind)))?;

    // Entries come in file order, so each search starts after the previous
    // entry and lines are counted once: a file of thousands of entries
    // stays linear.
    let line_starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let line_of = |offset: usize| line_starts.partition_point(|&start| start <= offset);
    let mut previous = 0;
    let mut references = Vec::new();
    for entry in bibliography.iter() {
        let offset = entry_offset(text, &entry.key, previous).or_else(|| entry_offset(text, &entry.key, 0));
        previous = offset.unwrap_or(previous);
        let reference = to_reference(entry, file, offset.map_or(first_line, |o| line_of(o) + first_line - 1))
            .map_err(|message| located(offset.unwrap_or(0), message))?;
        references.push(reference);
    }
    Ok(references)
}

/// Finds the byte offset of the `@type{key,` that opens the entry `key`,
/// searching from byte `from`.
fn entry_offset(text: &str, key: &str, from: usize) -> Option<usize> {
    let mut search_from = from;
    while let Some(found) = text[search_from..].find(key) {
        let at = search_from + found;
        let before = text[..at].trim_end();
        let after = text[at + key.len()..].trim_start();
        if (before.ends_with('{') || before.ends_with('(')) && after.starts_with(',') {
            return before.rfind('@');
        }
        search_from = at + key.len();
    }
    None
}

fn to_reference(entry: &Entry, file: &Path, line: usize) -> Result<Reference, Message> {
    let title = entry
        .title()
        .map(|chunks| chunks.format_verbatim())
        .map_err(|_| Message::new("bib-title-missing").arg("key", &entry.key))?;
    let authors = entry.author().unwrap_or_default().iter().map(person_name).collect();

    let year = entry.get("year").map(|chunks| chunks.format_verbatim());
    let book_title = entry.get("booktitle").map(|chunks| chunks.format_verbatim());
    let journal = entry.get("journal").or_else(|| entry.get("journaltitle")).map(|chunks| chunks.format_verbatim());
    let in_collection = book_title.is_some();
    let venue = book_title.or(journal).map(|venue| match &year {
        Some(year) if !venue.contains(year.as_str()) => format!("{venue} {year}"),
        _ => venue,
    });
    let venue = venue.or(year);
    let url = entry.get("url").map(|chunks| chunks.format_verbatim());

    Ok(Reference {
        key: entry.key.clone(),
        authors,
        title: collapse_spaces(&title),
        venue,
        in_collection,
        url,
        file: file.to_path_buf(),
        line,
    })
}

fn person_name(person: &Person) -> String {
    [&person.given_name, &person.prefix, &person.name, &person.suffix]
        .into_iter()
        .filter(|part| !part.is_empty())
        .map(|part| collapse_spaces(part))
        .collect::<Vec<_>>()
        .join(" ")
}

fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
@inproceedings{so2021primer,
  title = {Searching for Efficient Transformers for Language Modeling},
  author = {So, David and Ma{\'n}ke, Wojciech and Kr{\"a}mer, Nicholas and R{\'e}, Christopher and Biau, G{\'e}rard and {\L}ukasz Kaiser},
  booktitle = {NeurIPS 2021},
  year = {2021},
  url = {https://example.org/paper},
}

@inproceedings{chen2021skyformer,
  title = {Skyformer: Remodel Self-Attention with {G}aussian Kernel and {Nystr{\"o}m} method},
  author = {Yifan Chen and Qi Zeng},
  booktitle = {Advances in Neural Information Processing Systems},
  year = {2021},
}
"#;

    #[test]
    fn accents_and_braces_become_unicode() {
        let references = parse_entries(Path::new("bib/a.bib"), SAMPLE, 1).unwrap();
        let primer = &references.iter().find(|r| r.key == "so2021primer").unwrap();
        assert_eq!(
            primer.authors,
            ["David So", "Wojciech Mańke", "Nicholas Krämer", "Christopher Ré", "Gérard Biau", "Łukasz Kaiser"]
        );
        let skyformer = references.iter().find(|r| r.key == "chen2021skyformer").unwrap();
        assert_eq!(skyformer.title, "Skyformer: Remodel Self-Attention with Gaussian Kernel and Nyström method");
    }

    #[test]
    fn formatted_matches_the_survey_style() {
        let references = parse_entries(Path::new("bib/a.bib"), SAMPLE, 1).unwrap();
        let skyformer = references.iter().find(|r| r.key == "chen2021skyformer").unwrap();
        assert_eq!(
            skyformer.formatted(),
            "Yifan Chen, Qi Zeng. Skyformer: Remodel Self-Attention with Gaussian Kernel and Nyström method. In Advances in Neural Information Processing Systems 2021."
        );
        let primer = references.iter().find(|r| r.key == "so2021primer").unwrap();
        assert!(primer.formatted().ends_with("Language Modeling. In NeurIPS 2021."));
        assert_eq!(primer.url.as_deref(), Some("https://example.org/paper"));
    }

    #[test]
    fn entry_lines_are_found() {
        let references = parse_entries(Path::new("bib/a.bib"), SAMPLE, 1).unwrap();
        let skyformer = references.iter().find(|r| r.key == "chen2021skyformer").unwrap();
        assert_eq!(skyformer.line, 10);
    }

    #[test]
    fn malformed_entry_is_located() {
        let text = "@inproceedings{a2021,\n  title = {A},\n  author = {B\n}\n";
        let error = parse_entries(Path::new("bib/a.bib"), text, 1).unwrap_err();
        assert_eq!(error.message.id, "bib-parse");
        assert!(error.line.is_some());
    }

    #[test]
    fn duplicate_keys_name_both_files() {
        let mut bibliography = Bibliography::default();
        let references = parse_entries(Path::new("bib/a.bib"), SAMPLE, 1).unwrap();
        bibliography.insert(references[0].clone()).unwrap();
        let mut again = references[0].clone();
        again.file = PathBuf::from("bib/b.bib");
        let error = bibliography.insert(again).unwrap_err();
        assert_eq!(error.message.id, "bib-key-duplicate");
        assert!(error.message.args.iter().any(|(_, value)| value.starts_with("bib/a.bib:")));
    }

    #[test]
    fn title_sentence_keeps_question_marks() {
        let mut reference = parse_entries(Path::new("a.bib"), SAMPLE, 1).unwrap().remove(0);
        reference.title = "Are Transformers more robust than CNNs?".into();
        assert_eq!(reference.title_sentence(), "Are Transformers more robust than CNNs?");
    }
}
