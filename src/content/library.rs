//! Pages of a site in site order, with papers numbered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use unicode_normalization::UnicodeNormalization;

use crate::bib::{self, Bibliography};
use crate::diagnostics::{Diagnostic, Diagnostics, Message, closest};

use super::date::FrontMatterDate;
use super::discover::SourceFile;
use super::front_matter::{PageFrontMatter, PaperFrontMatter, Status, TaxonomyRef, header_line_of, parse_header, split_front_matter};
use super::{PAPERS_DIR, normalize_text};

/// One Markdown page.
#[derive(Debug, Clone)]
pub struct Page {
    /// Source file relative to the site root, for messages.
    pub source: PathBuf,
    /// URL path relative to the base path: `""` for the home page,
    /// `papers/03-skyformer/` for a paper. Always ends in `/` unless empty.
    pub url_path: String,
    /// Title in Markdown (it may contain inline math). For a paper this is
    /// the headline: `title` from the front matter or the entry's title.
    pub title: String,
    pub weight: Option<i64>,
    /// Taxonomy node shown by a group section.
    pub node: Option<String>,
    pub paper: Option<Paper>,
    /// Markdown after the front matter.
    pub body: String,
    /// File line on which `body` starts.
    pub body_line: usize,
    /// Front-matter YAML, kept to locate values in messages.
    pub header: String,
    pub meta: PageMeta,
}

/// Metadata from the front matter of any page: the description and the
/// dates used by the feed, the sitemap and the `<meta>` tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageMeta {
    pub description: Option<String>,
    pub date: Option<FrontMatterDate>,
    pub updated: Option<FrontMatterDate>,
}

/// Paper-specific data of a page under `content/papers/`.
#[derive(Debug, Clone)]
pub struct Paper {
    pub key: String,
    /// Citation number `[n]`, from 1 in file-name order.
    pub number: usize,
    pub taxonomy: Vec<TaxonomyRef>,
    pub draft: bool,
    /// Inline BibTeX entry from the front matter.
    pub inline_bib: Option<String>,
    /// Headline from the front matter, if any.
    pub headline: Option<String>,
}

impl Page {
    /// Path of the output file relative to the output directory.
    pub fn output_file(&self) -> String {
        format!("{}index.html", self.url_path)
    }

    pub fn is_home(&self) -> bool {
        self.url_path.is_empty()
    }

    /// File line of the first header line containing `needle`.
    pub fn header_line_of(&self, needle: &str) -> usize {
        header_line_of(&self.header, needle)
    }
}

/// Reads and parses every page. Papers are not numbered yet.
pub fn load_pages(root: &Path, files: &[SourceFile]) -> Result<Vec<Page>, Diagnostics> {
    let results: Vec<Result<Page, Diagnostic>> = files.par_iter().map(|file| load_page(root, file)).collect();
    let mut pages = Vec::new();
    let mut diagnostics = Diagnostics::new();
    for result in results {
        match result {
            Ok(page) => pages.push(page),
            Err(error) => diagnostics.push(error),
        }
    }
    diagnostics.into_result(pages)
}

fn load_page(root: &Path, file: &SourceFile) -> Result<Page, Diagnostic> {
    let raw = std::fs::read_to_string(root.join(&file.path)).map_err(|error| {
        Diagnostic::new(&file.path, Message::new("io-error").arg("path", file.path.display()).arg("detail", error))
    })?;
    let text = normalize_text(&raw);
    let split = split_front_matter(&file.path, &text)?;
    let url_path = url_path_of(&file.rel);

    let mut page = Page {
        source: file.path.clone(),
        url_path,
        title: String::new(),
        weight: None,
        node: None,
        paper: None,
        body: split.body.to_string(),
        body_line: split.body_line,
        header: split.header.to_string(),
        meta: PageMeta::default(),
    };
    if is_paper(&file.rel) {
        let front: PaperFrontMatter = parse_header(&file.path, split.header)?;
        page.paper = Some(Paper {
            key: front.key,
            number: 0,
            taxonomy: front.taxonomy,
            draft: front.status == Status::Draft,
            inline_bib: front.bib,
            headline: front.title,
        });
        page.meta = PageMeta {
            description: front.description,
            date: parse_date(&page, "date", front.date.as_deref())?,
            updated: parse_date(&page, "updated", front.updated.as_deref())?,
        };
    } else {
        let front: PageFrontMatter = parse_header(&file.path, split.header)?;
        page.title = front.title;
        page.weight = front.weight;
        page.node = front.node;
        page.meta = PageMeta {
            description: front.description,
            date: parse_date(&page, "date", front.date.as_deref())?,
            updated: parse_date(&page, "updated", front.updated.as_deref())?,
        };
    }
    Ok(page)
}

/// Reads the front-matter date `field`, reporting a value that is not a
/// date on its header line.
fn parse_date(page: &Page, field: &'static str, value: Option<&str>) -> Result<Option<FrontMatterDate>, Diagnostic> {
    let Some(value) = value else { return Ok(None) };
    FrontMatterDate::parse(value).map(Some).ok_or_else(|| {
        // A top-level key starts its line; `updated:` must not match `date:`.
        let key = format!("{field}:");
        let line = page.header.lines().position(|line| line.starts_with(&key)).map_or(1, |index| index + 2);
        Diagnostic::new(&page.source, Message::new("date-invalid").arg("field", field).arg("value", value)).at_line(line)
    })
}

/// Whether `rel` (relative to `content/`) is a paper section: a Markdown
/// file under `papers/` other than the section's own `_index.md`/`index.md`.
fn is_paper(rel: &Path) -> bool {
    rel.starts_with(PAPERS_DIR) && !is_index(rel)
}

fn is_index(rel: &Path) -> bool {
    matches!(rel.file_name().and_then(|n| n.to_str()), Some("index.md" | "_index.md"))
}

/// URL path of a page: `index.md` and `_index.md` stand for their
/// directory, any other `dir/name.md` becomes `dir/name/`. The path is in
/// Unicode normal form C, so a file name stored decomposed (NFD, as some
/// macOS tools write it) gives the same URL as the name typed by hand.
fn url_path_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .parent()
        .into_iter()
        .flat_map(|parent| parent.components())
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect();
    if !is_index(rel) {
        let stem = rel.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        parts.push(stem);
    }
    parts.iter().map(|part| format!("{part}/")).collect::<String>().nfc().collect()
}

/// Sort key of a paper file: its leading number, then its name, so that
/// `9-a.md` sorts before `10-b.md`.
fn paper_sort_key(page: &Page) -> (Option<u64>, String) {
    let name = page.source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    (number_prefix(&name), name)
}

fn number_prefix(name: &str) -> Option<u64> {
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The pages of a site in site order, with papers numbered and their
/// bibliography entries resolved.
#[derive(Debug)]
pub struct Library {
    /// Pages in site order: the order of the 目次 and of previous/next.
    pub pages: Vec<Page>,
    /// Index into `pages` of each paper, by BibTeX key.
    paper_index: HashMap<String, usize>,
}

impl Library {
    /// Numbers the papers, checks their keys against `bibliography` (adding
    /// inline `bib:` entries to it), fills in default headlines and puts
    /// every page in site order.
    pub fn assemble(pages: Vec<Page>, bibliography: &mut Bibliography) -> Result<Library, Diagnostics> {
        let mut diagnostics = Diagnostics::new();
        let (mut papers, mut others): (Vec<Page>, Vec<Page>) = pages.into_iter().partition(|page| page.paper.is_some());

        papers.sort_by_key(paper_sort_key);
        check_number_prefixes(&papers, &mut diagnostics);
        add_inline_entries(&papers, bibliography, &mut diagnostics);

        let mut first_by_key: HashMap<String, PathBuf> = HashMap::new();
        for (index, page) in papers.iter_mut().enumerate() {
            let paper = page.paper.as_mut().expect("partitioned on paper");
            paper.number = index + 1;
            if let Some(other) = first_by_key.get(&paper.key) {
                diagnostics.push(
                    Diagnostic::new(&page.source, Message::new("paper-key-duplicate").arg("key", &paper.key).arg("other", other.display()))
                        .at_line(header_line_of(&page.header, "key:")),
                );
                continue;
            }
            first_by_key.insert(paper.key.clone(), page.source.clone());
            match bibliography.get(&paper.key) {
                Some(reference) => {
                    page.title = paper.headline.clone().unwrap_or_else(|| reference.title.clone());
                }
                None => {
                    let suggestion = closest(&paper.key, bibliography.keys());
                    diagnostics.push(
                        Diagnostic::new(&page.source, Message::new("paper-bib-missing").arg("key", &paper.key))
                            .at_line(header_line_of(&page.header, "key:"))
                            .suggest(suggestion),
                    );
                }
            }
        }

        others.sort_by(|a, b| {
            let weight = |page: &Page| (page.weight.is_none(), page.weight.unwrap_or(0));
            weight(a).cmp(&weight(b)).then_with(|| a.url_path.cmp(&b.url_path))
        });
        let papers_section = format!("{PAPERS_DIR}/");
        let insert_at = others
            .iter()
            .position(|page| page.url_path == papers_section)
            .map_or(others.len(), |index| index + 1);
        let mut ordered = others;
        let tail = ordered.split_off(insert_at);
        ordered.extend(papers);
        ordered.extend(tail);

        let paper_index = ordered
            .iter()
            .enumerate()
            .filter_map(|(index, page)| page.paper.as_ref().map(|paper| (paper.key.clone(), index)))
            .collect();
        diagnostics.into_result(Library { pages: ordered, paper_index })
    }

    pub fn papers(&self) -> impl Iterator<Item = &Page> {
        self.pages.iter().filter(|page| page.paper.is_some())
    }

    pub fn paper(&self, key: &str) -> Option<&Page> {
        self.paper_index.get(key).map(|&index| &self.pages[index])
    }
}

fn check_number_prefixes(papers: &[Page], diagnostics: &mut Diagnostics) {
    let mut seen: HashMap<u64, &Path> = HashMap::new();
    for page in papers {
        let name = page.source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Some(number) = number_prefix(&name) else { continue };
        if let Some(other) = seen.get(&number) {
            diagnostics.push(
                Diagnostic::new(&page.source, Message::new("paper-number-duplicate").arg("number", number).arg("other", other.display()))
                    .at_line(1),
            );
        } else {
            seen.insert(number, &page.source);
        }
    }
}

fn add_inline_entries(papers: &[Page], bibliography: &mut Bibliography, diagnostics: &mut Diagnostics) {
    for page in papers {
        let paper = page.paper.as_ref().expect("papers only");
        let Some(text) = &paper.inline_bib else { continue };
        // A block scalar's text starts on the line after `bib:`.
        let first_line = header_line_of(&page.header, "bib:") + 1;
        let references = match bib::parse_entries(&page.source, text, first_line) {
            Ok(references) => references,
            Err(error) => {
                diagnostics.push(error);
                continue;
            }
        };
        if references.len() != 1 {
            diagnostics.push(
                Diagnostic::new(&page.source, Message::new("bib-inline-count").arg("count", references.len())).at_line(first_line - 1),
            );
            continue;
        }
        let reference = references.into_iter().next().expect("one entry");
        if reference.key != paper.key {
            diagnostics.push(
                Diagnostic::new(
                    &page.source,
                    Message::new("bib-inline-key-mismatch").arg("found", &reference.key).arg("key", &paper.key),
                )
                .at_line(reference.line),
            );
            continue;
        }
        if let Err(error) = bibliography.insert(reference) {
            diagnostics.push(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(source: &str, key: Option<&str>, weight: Option<i64>) -> Page {
        let rel = Path::new(source).strip_prefix("content").unwrap();
        Page {
            source: PathBuf::from(source),
            url_path: url_path_of(rel),
            title: source.to_string(),
            weight,
            node: None,
            paper: key.map(|key| Paper {
                key: key.to_string(),
                number: 0,
                taxonomy: Vec::new(),
                draft: false,
                inline_bib: None,
                headline: None,
            }),
            body: String::new(),
            body_line: 3,
            header: format!("key: {}\n", key.unwrap_or("")),
            meta: PageMeta::default(),
        }
    }

    fn bibliography(keys: &[&str]) -> Bibliography {
        let mut bibliography = Bibliography::default();
        for key in keys {
            let text = format!("@article{{{key},\n title = {{Title of {key}}},\n}}\n");
            for reference in bib::parse_entries(Path::new("bib/t.bib"), &text, 1).unwrap() {
                bibliography.insert(reference).unwrap();
            }
        }
        bibliography
    }

    #[test]
    fn url_paths_use_directories() {
        assert_eq!(url_path_of(Path::new("index.md")), "");
        assert_eq!(url_path_of(Path::new("appendix.md")), "appendix/");
        assert_eq!(url_path_of(Path::new("papers/_index.md")), "papers/");
        assert_eq!(url_path_of(Path::new("papers/03-skyformer.md")), "papers/03-skyformer/");
        assert_eq!(url_path_of(Path::new("papers/04-\u{30ab}\u{3099}.md")), "papers/04-\u{30ac}/");
    }

    #[test]
    fn papers_are_numbered_in_file_order_after_their_section() {
        let pages = vec![
            page("content/papers/10-c.md", Some("c"), None),
            page("content/appendix.md", None, Some(70)),
            page("content/papers/9-b.md", Some("b"), None),
            page("content/index.md", None, Some(10)),
            page("content/papers/_index.md", None, Some(50)),
            page("content/papers/01-a.md", Some("a"), None),
        ];
        let library = Library::assemble(pages, &mut bibliography(&["a", "b", "c"])).unwrap();
        let order: Vec<&str> = library.pages.iter().map(|p| p.url_path.as_str()).collect();
        assert_eq!(order, ["", "papers/", "papers/01-a/", "papers/9-b/", "papers/10-c/", "appendix/"]);
        assert_eq!(library.paper("c").unwrap().paper.as_ref().unwrap().number, 3);
        assert_eq!(library.paper("a").unwrap().title, "Title of a");
    }

    #[test]
    fn duplicate_keys_and_numbers_are_errors() {
        let pages = vec![
            page("content/papers/01-a.md", Some("a"), None),
            page("content/papers/01-b.md", Some("a"), None),
        ];
        let errors = Library::assemble(pages, &mut bibliography(&["a"])).unwrap_err();
        let ids: Vec<&str> = errors.iter().map(|d| d.message.id).collect();
        assert!(ids.contains(&"paper-key-duplicate"), "{ids:?}");
        assert!(ids.contains(&"paper-number-duplicate"), "{ids:?}");
    }

    #[test]
    fn missing_entry_suggests_a_near_key() {
        let pages = vec![page("content/papers/01-a.md", Some("chen2021skyfromer"), None)];
        let errors = Library::assemble(pages, &mut bibliography(&["chen2021skyformer"])).unwrap_err();
        let error = errors.iter().next().unwrap();
        assert_eq!(error.message.id, "paper-bib-missing");
        assert_eq!(error.suggestion.as_deref(), Some("chen2021skyformer"));
        assert_eq!(error.line, Some(2));
    }

    #[test]
    fn inline_entry_is_added() {
        let mut paper = page("content/papers/01-a.md", Some("inline2021"), None);
        paper.paper.as_mut().unwrap().inline_bib = Some("@misc{inline2021,\n title = {Inline},\n}\n".into());
        let mut bibliography = Bibliography::default();
        let library = Library::assemble(vec![paper], &mut bibliography).unwrap();
        assert_eq!(library.paper("inline2021").unwrap().title, "Inline");
    }

    fn load_one(rel: &str, text: &str) -> Result<Page, Diagnostics> {
        let dir = tempfile::tempdir().unwrap();
        let path = Path::new("content").join(rel);
        std::fs::create_dir_all(dir.path().join(&path).parent().unwrap()).unwrap();
        std::fs::write(dir.path().join(&path), text).unwrap();
        let file = SourceFile { rel: PathBuf::from(rel), path };
        load_pages(dir.path(), &[file]).map(|mut pages| pages.remove(0))
    }

    #[test]
    fn front_matter_dates_are_parsed() {
        let page = load_one("papers/01-a.md", "---\nkey: a\ndate: 2021-12-06\nupdated: 2022-01-05T09:00:00+09:00\n---\n").unwrap();
        assert_eq!(page.meta.date, FrontMatterDate::parse("2021-12-06"));
        assert_eq!(page.meta.updated, FrontMatterDate::parse("2022-01-05T09:00:00+09:00"));
        let page = load_one("about.md", "---\ntitle: A\ndescription: 説明\n---\n").unwrap();
        assert_eq!(page.meta.description.as_deref(), Some("説明"));
        assert_eq!(page.meta.date, None);
    }

    #[test]
    fn invalid_date_names_its_line() {
        let errors = load_one("about.md", "---\ntitle: A\nupdated: 2021-12-06\ndate: 2021-02-30\n---\n").unwrap_err();
        let error = errors.iter().next().unwrap();
        assert_eq!(error.message.id, "date-invalid");
        assert_eq!(error.line, Some(4));
        assert!(error.message.args.iter().any(|(name, value)| *name == "value" && value == "2021-02-30"));
    }
}
