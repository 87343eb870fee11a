//! `survey new paper KEY`: a new paper section with a commented front
//! matter, and a BibTeX stub when the bibliography lacks the key.
//!
//! The new file takes the next number after the existing papers, so it is
//! cited as the last paper. Nothing is ever overwritten: every file is
//! created with `create_new`, and a key that already has a paper is refused.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::bib::{self, BIB_DIR};
use crate::content::{CONTENT_DIR, PAPERS_DIR, normalize_text, split_front_matter};
use crate::diagnostics::{Diagnostic, Message};
use crate::i18n::Catalog;
use crate::taxonomy::Taxonomy;

/// Files written by [`new_paper`], relative to the site root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPaper {
    pub paper: PathBuf,
    /// The BibTeX stub, when the key was not in the bibliography.
    pub bib_stub: Option<PathBuf>,
    /// File that already defined the key's entry, if any.
    pub bib_entry: Option<PathBuf>,
}

/// Why [`new_paper`] refused: a bad argument (a usage error) or the state
/// of the site.
#[derive(Debug)]
pub enum NewError {
    Usage(Diagnostic),
    Site(Diagnostic),
}

/// Returns whether `key` can name a paper: it starts with a letter or digit and
/// holds only letters, digits, `-`, `_` and `.`, so it is both a citation
/// key (`[@key]`) and part of a portable file name.
pub fn is_valid_key(key: &str) -> bool {
    key.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !key.ends_with('.')
}

/// Creates `content/papers/NN-KEY.md` and, if no `.bib` file defines `key`,
/// `bib/KEY.bib`. Comments in the new files are in the catalog's language.
pub fn new_paper(root: &Path, key: &str, catalog: &Catalog) -> Result<NewPaper, NewError> {
    if !is_valid_key(key) {
        return Err(NewError::Usage(Diagnostic::new("KEY", Message::new("new-key-invalid").arg("key", key))));
    }
    if !root.join(crate::config::CONFIG_FILE).is_file() {
        return Err(NewError::Site(Diagnostic::new(crate::config::CONFIG_FILE, Message::new("config-missing"))));
    }
    let papers_dir = Path::new(CONTENT_DIR).join(PAPERS_DIR);
    let existing = existing_papers(root, &papers_dir).map_err(NewError::Site)?;
    if let Some(other) = existing.iter().find(|paper| paper.key.as_deref() == Some(key)) {
        return Err(NewError::Site(
            Diagnostic::new(&other.path, Message::new("new-paper-exists").arg("key", key)).at_line(other.key_line),
        ));
    }

    let width = existing.iter().filter_map(|paper| paper.digits).max().unwrap_or(2).max(2);
    let number = existing.iter().filter_map(|paper| paper.number).max().unwrap_or(0) + 1;
    let paper_path = papers_dir.join(format!("{number:0width$}-{key}.md"));

    let bib_entry = find_bib_entry(root, key);
    let bib_stub = bib_entry.is_none().then(|| Path::new(BIB_DIR).join(format!("{key}.bib")));

    let taxonomy = Taxonomy::load(root).unwrap_or_default();
    let paper_text = paper_template(key, &taxonomy, catalog);
    if let Some(stub) = &bib_stub {
        create_file(root, stub, &bib_template(key, catalog)).map_err(NewError::Site)?;
    }
    if let Err(error) = create_file(root, &paper_path, &paper_text) {
        if let Some(stub) = &bib_stub {
            let _ = std::fs::remove_file(root.join(stub));
        }
        return Err(NewError::Site(error));
    }
    Ok(NewPaper { paper: paper_path, bib_stub, bib_entry })
}

/// A paper file found under `content/papers/`.
struct ExistingPaper {
    path: PathBuf,
    number: Option<u64>,
    /// Number of digits of the number prefix, to keep the same width.
    digits: Option<usize>,
    key: Option<String>,
    key_line: usize,
}

/// Reads the number prefix and `key` of every paper file. A file whose
/// header does not parse still counts for the numbering.
fn existing_papers(root: &Path, papers_dir: &Path) -> Result<Vec<ExistingPaper>, Diagnostic> {
    let entries = match std::fs::read_dir(root.join(papers_dir)) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(Diagnostic::new(papers_dir, Message::new("io-error").arg("path", papers_dir.display()).arg("detail", error)));
        }
    };
    let mut papers = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".md") || name.starts_with('.') || name == "_index.md" || name == "index.md" {
            continue;
        }
        let prefix: String = name.chars().take_while(char::is_ascii_digit).collect();
        let path = papers_dir.join(&name);
        let text = std::fs::read_to_string(entry.path()).map(|text| normalize_text(&text)).unwrap_or_default();
        let (key, key_line) = split_front_matter(&path, &text)
            .ok()
            .and_then(|split| {
                let header: serde_yaml::Value = serde_yaml::from_str(split.header).ok()?;
                let key = header.get("key")?.as_str()?.to_string();
                Some((Some(key), crate::content::header_line_of(split.header, "key:")))
            })
            .unwrap_or((None, 1));
        papers.push(ExistingPaper {
            path,
            number: prefix.parse().ok(),
            digits: (!prefix.is_empty()).then_some(prefix.len()),
            key,
            key_line,
        });
    }
    Ok(papers)
}

/// Finds the `.bib` file that defines `key`, if any. When the bibliography does
/// not parse, the files are searched for `{key,` instead.
fn find_bib_entry(root: &Path, key: &str) -> Option<PathBuf> {
    match bib::load(root) {
        Ok(bibliography) => bibliography.get(key).map(|reference| reference.file.clone()),
        Err(_) => {
            let dir = root.join(BIB_DIR);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).ok()?.flatten().map(|entry| entry.path()).collect();
            files.sort();
            files.into_iter().find_map(|path| {
                let text = std::fs::read_to_string(&path).ok()?;
                let defines = text.split('@').skip(1).any(|entry| {
                    entry.split_once(['{', '(']).is_some_and(|(_, rest)| rest.trim_start().starts_with(&format!("{key},")))
                });
                if defines { Some(Path::new(BIB_DIR).join(path.file_name()?)) } else { None }
            })
        }
    }
}

fn create_file(root: &Path, rel: &Path, text: &str) -> Result<(), Diagnostic> {
    let path = root.join(rel);
    let io_error = |error: std::io::Error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            Diagnostic::new(rel, Message::new("new-file-exists").arg("path", rel.display()))
        } else {
            Diagnostic::new(rel, Message::new("io-error").arg("path", rel.display()).arg("detail", error))
        }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error)?;
    }
    let mut file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(io_error)?;
    file.write_all(text.as_bytes()).map_err(io_error)
}

/// Returns the text of a new paper file. Every optional field is commented
/// out, so the file builds as it is: the headline defaults to the entry's title and the
/// paper is listed as unclassified until a node is chosen.
fn paper_template(key: &str, taxonomy: &Taxonomy, catalog: &Catalog) -> String {
    let comment = |id: &'static str| -> String {
        catalog.text(id).lines().map(|line| format!("# {line}\n")).collect()
    };
    let mut text = format!("---\nkey: {key}\n");
    text.push_str(&comment("new-template-title"));
    text.push_str("# title: \n");
    text.push_str(&comment("new-template-taxonomy"));
    let nodes = taxonomy.nodes();
    if nodes.is_empty() {
        text.push_str(&comment("new-template-no-nodes"));
    }
    let width = nodes.iter().map(|node| node.path.len()).max().unwrap_or(0);
    for node in nodes {
        text.push_str(&format!("#   {:width$}  {}\n", node.path, node.label.replace('\n', " ")));
    }
    text.push_str("# taxonomy:\n#   - node: \n#     summary: \n");
    text.push_str(&comment("new-template-status"));
    text.push_str("status: draft\n---\n\n");
    text.push_str(&catalog.text("new-template-body"));
    text.push('\n');
    text
}

/// Returns a BibTeX entry with the key and placeholders that parse.
fn bib_template(key: &str, catalog: &Catalog) -> String {
    let note: String = catalog.text("new-template-bib").lines().map(|line| format!("% {line}\n")).collect();
    let title = catalog.text("new-template-bib-title");
    format!("{note}@inproceedings{{{key},\n  title = {{{title}}},\n  author = {{}},\n  booktitle = {{}},\n  year = {{}},\n  url = {{}},\n}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_citable_file_names() {
        for key in ["chen2021skyformer", "a", "gu-2021_lssl.v2"] {
            assert!(is_valid_key(key), "{key}");
        }
        for key in ["", "-x", ".x", "x.", "a b", "a/b", "a:b", "../x", "ア"] {
            assert!(!is_valid_key(key), "{key}");
        }
    }
}
