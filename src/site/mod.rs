//! The build: runs every stage in order and writes the site.
//!
//! Builds are incremental. Each output file gets a key, a hash of all the
//! data it is made from (see [`manifest`]), and only the outputs whose key
//! changed are rendered and written. The expensive parts of a page (KaTeX
//! and the Markdown pipeline) are skipped for every unchanged page; the
//! cheap parts that other pages depend on (front matter, titles, citation
//! numbers, the taxonomy) are recomputed every time, so the keys always
//! reflect the whole site.

mod exec;
mod manifest;
mod model;
mod pages;
mod publish;
mod search_index;
mod templates;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use rayon::prelude::*;

use crate::bib::{self, Bibliography};
use crate::config::{Config, base_path_of};
use crate::content::{self, Library};
use crate::diagnostics::{Diagnostic, Diagnostics, Message};
use crate::exec::{ExecStats, FreezeMode};
use crate::history::{self, GitDates};
use crate::i18n::{Catalog, Lang};
use crate::markdown::code::NoExecOutputs;
use crate::markdown::headings::TocEntry;
use crate::markdown::math::MathCache;
use crate::markdown::prepass;
use crate::markdown::{self, CiteTarget, RenderContext};
use crate::search;
use crate::taxonomy::{self, Taxonomy, TreeRenderer};
use crate::timings::phase;

use manifest::{Key, KeyHasher, Manifest, PageRecord};
use model::{BibEntryData, LinkData, NavData, PageData, PageKind, PaperData, SiteData, TocItem};
pub(crate) use exec::stale_reason;
pub use search_index::{PendingSearchIndex, commit_search_index, index_stale_search};
pub use templates::TEMPLATES_DIR;
pub use write::{clean, clean_cache};

/// Output directory of a build, relative to the site root.
pub const OUTPUT_DIR: &str = "site";
/// URL path of the generated bibliography page.
pub const BIBLIOGRAPHY_PATH: &str = "bibliography/";
/// URL path of the search page.
pub const SEARCH_PATH: &str = "search/";

/// Directory of files the build keeps between runs, relative to the site
/// root: the generated Cargo project of executed blocks (`exec/`), the
/// KaTeX cache (`katex/`), indexed search shards (`search/`) and the build
/// manifest (`build/`). It is
/// git-ignored and rebuilt when missing, so deleting it loses no output.
pub const CACHE_DIR: &str = ".survey";

/// Settings of one build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Site root: the directory holding `survey.yaml`.
    pub root: PathBuf,
    /// Output directory; `root/site` when `None`.
    pub output_dir: Option<PathBuf>,
    /// Replaces `base_url` of `survey.yaml`.
    pub base_url: Option<String>,
    /// Render the bodies of draft papers too.
    pub drafts: bool,
    /// Freeze mode of `rust,exec` blocks: `Auto` by default, or `Frozen`,
    /// `Refresh`, `NoExec` from `--frozen`, `--refresh`, `--no-exec`.
    pub exec: FreezeMode,
    /// Print each block's stdout and stderr, and cargo's output, live.
    pub verbose: bool,
    /// Show a spinner while blocks compile and run (drawn only on a terminal).
    pub progress: bool,
    /// Render only the outputs whose inputs changed since the last build
    /// into the same output directory, and record this build for the next
    /// one. Without it, every page is rendered and nothing is recorded,
    /// which suits builds into throwaway directories.
    pub incremental: bool,
    /// Bring the search index up to date. Without it, the previous index is
    /// kept as it is and recorded as stale, for [`index_stale_search`] to
    /// update later (`survey serve` does so while the author is idle).
    pub search: bool,
}

impl BuildOptions {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            output_dir: None,
            base_url: None,
            drafts: false,
            exec: FreezeMode::Auto,
            verbose: false,
            progress: true,
            incremental: true,
            search: true,
        }
    }

    pub fn output_dir(&self) -> PathBuf {
        self.output_dir.clone().unwrap_or_else(|| self.root.join(OUTPUT_DIR))
    }
}

/// Summary of a successful build.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// HTML pages of the site, the 404 page included.
    pub pages: usize,
    /// HTML pages rendered by this build; the others were current.
    pub rendered: usize,
    /// Files written into the output directory by this build.
    pub written: usize,
    /// Files of the previous build deleted because no page produces them
    /// any more.
    pub removed: usize,
    /// Whether the whole output directory was written (no usable manifest
    /// of a previous build), rather than only the changed files.
    pub full: bool,
    /// Formulas sent to KaTeX; the others came from the cache.
    pub formulas_typeset: usize,
    /// Search shards indexed by this build. Shards whose pages did not
    /// change were kept or copied from `.survey/search/`.
    pub search_shards_indexed: usize,
    pub output_dir: PathBuf,
    /// Problems that did not fail the build, such as stale freeze entries
    /// used under `--no-exec` and compiler warnings of executed blocks.
    pub warnings: Vec<Diagnostic>,
    /// Counters of the execute step: pages run, pages taken from the
    /// freeze, processes started.
    pub exec: ExecStats,
}

/// Builds the site: runs or unfreezes the `rust,exec` blocks, renders the
/// pages whose inputs changed since the last build and writes them into
/// the output directory. On failure the output directory is left untouched
/// and every problem found is returned, sorted by file and line.
pub fn build(options: &BuildOptions) -> Result<BuildReport, Diagnostics> {
    let math = math_cache(&options.root);
    let mut full = false;
    let result = build_inner(options, &math, &mut full);
    // Typeset formulas are kept even when the build failed: they are valid
    // for any page, and the next build needs them.
    if let Err(error) = math.save(full && result.is_ok()) {
        tracing::warn!(%error, "could not save the KaTeX cache");
    }
    result.map_err(|mut diagnostics| {
        diagnostics.sort();
        diagnostics
    })
}

/// Opens the site's on-disk cache of typeset formulas, `.survey/katex/`.
pub fn math_cache(root: &Path) -> MathCache {
    MathCache::open(&root.join(CACHE_DIR).join("katex"))
}

/// Language of a site's messages, readable even when `survey.yaml` is not.
/// Outside a site (no `survey.yaml`), the user's locale decides.
pub fn site_lang(root: &Path) -> Lang {
    if !root.join(crate::config::CONFIG_FILE).is_file() {
        return Lang::from_locale();
    }
    Lang::from_tag(&Config::peek_lang(root).unwrap_or_default())
}

/// Moves the diagnostics of a failed stage into `all`.
fn collect<T>(result: Result<T, Diagnostics>, all: &mut Diagnostics) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(diagnostics) => {
            all.extend(diagnostics);
            None
        }
    }
}

/// Runs the build; sets `full` when it writes the whole output directory.
fn build_inner(options: &BuildOptions, math: &MathCache, full: &mut bool) -> Result<BuildReport, Diagnostics> {
    let root = options.root.as_path();
    let cache_dir = root.join(CACHE_DIR);
    let output_dir = options.output_dir();

    // 1. Load every source, collecting all problems before stopping.
    let discover_phase = phase("discover");
    let config = Config::load(root)?;
    let base_url = options.base_url.clone().unwrap_or_else(|| config.base_url.clone());
    let base = base_path_of(&base_url).ok_or_else(|| {
        Diagnostics::from(Diagnostic::new("--base-url", Message::new("base-url-invalid").arg("value", &base_url)))
    })?;
    let catalog = Catalog::new(Lang::from_tag(&config.lang));
    let mut diagnostics = Diagnostics::new();
    let discovered = collect(content::discover(root), &mut diagnostics).unwrap_or_default();
    drop(discover_phase);

    let parse_phase = phase("parse");
    let pages = collect(content::load_pages(root, &discovered.pages), &mut diagnostics);
    drop(parse_phase);
    let bibliography_phase = phase("bibliography");
    let bibliography = collect(bib::load(root), &mut diagnostics);
    drop(bibliography_phase);
    let taxonomy_phase = phase("taxonomy");
    let taxonomy = collect(Taxonomy::load(root), &mut diagnostics);
    drop(taxonomy_phase);
    let (Some(pages), Some(mut bibliography), Some(taxonomy)) = (pages, bibliography, taxonomy) else {
        return Err(diagnostics);
    };

    // 2. Number papers and attach them to the tree.
    let library = {
        let _phase = phase("parse");
        Library::assemble(pages, &mut bibliography)?
    };
    let attachments = {
        let _phase = phase("taxonomy");
        collect(taxonomy::attach(&library, &taxonomy), &mut diagnostics)
    };

    // 3. Cut math and citations out of the pages whose source changed since
    //    the last build, typesetting their formulas. The other pages reuse
    //    what the manifest recorded.
    let math_phase = phase("math");
    let build_key = manifest::build_key(&output_dir);
    let manifest_path = manifest::path(&cache_dir, &output_dir);
    let previous = if options.incremental && output_dir.is_dir() { Manifest::load(&manifest_path, &build_key) } else { None };
    let previous_search_stale = previous.as_ref().is_some_and(|manifest| manifest.search_stale);
    let previous_search_shards = previous.as_ref().map(|manifest| manifest.search_shards.clone()).unwrap_or_default();
    let (previous_outputs, previous_pages) = match previous {
        Some(manifest) => (Some(manifest.outputs), manifest.pages),
        None => (None, HashMap::new()),
    };
    let sources: Vec<pages::Source> = library
        .pages
        .par_iter()
        .map(|page| {
            let key = pages::source_key(page);
            match previous_pages.get(&page.source).filter(|record| record.source == key) {
                Some(record) => Ok(pages::Source::unchanged(key, record)),
                None => prepass::prepare(&page.body, &page.source, page.body_line, math).map(|prepared| pages::Source::prepared(key, prepared)),
            }
        })
        .collect::<Vec<_>>()
        .into_iter()
        .filter_map(|result| collect(result, &mut diagnostics))
        .collect();
    let Some(attachments) = attachments.filter(|_| diagnostics.is_empty()) else {
        return Err(diagnostics);
    };
    drop(math_phase);

    // 4. Run the code blocks, or take their outputs from the freeze.
    let executed = {
        let _phase = phase("execute");
        exec::execute(options, &config, &library, &base, &catalog)?
    };

    // 5. Citation targets, taxonomy lists and titles for every page, then
    //    render the pages whose key changed into the staging directory.
    let render_phase = phase("render");
    let cited: Vec<&[String]> = sources.iter().map(|source| source.cited.as_slice()).collect();
    let citations = citation_targets(&library, &bibliography, &cited, &base);
    let taxonomy_html = render_taxonomy(&library, &taxonomy, &attachments, &citations, &base, &catalog, math)?;
    let ctx = RenderContext { citations: &citations, taxonomy: &taxonomy_html, exec_outputs: &executed, math, base_path: &base };
    let titles = render_titles(&library, &ctx)?;
    let figures = executed.figure_files(&library, |page| !body_hidden(page, options.drafts));
    let absolute_base = Config { base_url: base_url.clone(), ..config.clone() }.absolute_base();
    let git_dates = GitDates::load(root);
    let dates: Vec<Option<DateTime<FixedOffset>>> = library.pages.iter().map(|page| history::last_change(root, page, &git_dates)).collect();
    let site = SiteData {
        title: config.title.clone(),
        lang: config.lang.clone(),
        base: base.clone(),
        description: config.description.clone(),
        feed_url: absolute_base.as_ref().map(|absolute| format!("{absolute}{}", crate::feed::FEED_FILE)),
        absolute_base: absolute_base.clone(),
    };
    let author = config.author.clone().unwrap_or_else(|| config.title.clone());
    let templates = templates::Templates::load(root)?;
    let shared = Shared { library: &library, titles: &titles, bibliography: &bibliography, citations: &citations, catalog: &catalog, templates: &templates, dates: &dates };
    let layout = Layout::new(shared, site, options.drafts, author);
    let staging = write::Staging::new(&output_dir, previous_outputs)?;
    *full = staging.is_full();
    let pass = pages::PagePass { layout: &layout, ctx: &ctx, staging: &staging, previous: &previous_pages };
    let (records, mut rendered) = pass.run(sources)?;
    rendered += layout.write_generated(&staging, &records, root, &discovered.assets, &figures)?;
    drop(render_phase);

    // 6. Index the shards of the search index whose pages changed.
    let (search_stale, search_shards, search_shards_indexed) = {
        let _phase = phase("search index");
        if options.search {
            let shards = search_index::shard_count(library.pages.len());
            let cache = search_index::ShardCache::new(&cache_dir);
            let (keys, indexed) = search_index::stage(&staging, &cache, &config.lang, shards, &previous_search_shards)?;
            (false, keys, indexed)
        } else {
            // The previous index, if any, stays until it is brought up to date.
            let kept = staging.keep_dir_if_current(search::SEARCH_DIR);
            (rendered > 0 || previous_search_stale || !kept, previous_search_shards, 0)
        }
    };

    // 7. Move the new files into place. The manifest goes first, so an
    //    interrupted commit makes the next build a full one.
    let write_phase = phase("write");
    let mut warnings = executed.warnings().to_vec();
    Manifest::remove(&manifest_path).map_err(|error| write::io_error(&manifest_path, error))?;
    let committed = staging.commit()?;
    let mut manifest = Manifest::new(build_key);
    manifest.search_stale = search_stale;
    manifest.search_shards = search_shards;
    manifest.outputs = committed.outputs;
    manifest.pages = library.pages.iter().map(|page| page.source.clone()).zip(records).collect();
    if !options.incremental {
        // Nothing to record: the next build into this directory is full.
    } else if let Err(error) = manifest.save(&manifest_path) {
        let shown = manifest_path.strip_prefix(root).unwrap_or(&manifest_path);
        warnings.push(Diagnostic::new(shown, Message::new("build-manifest-unsaved").arg("detail", error)));
    }
    drop(write_phase);

    Ok(BuildReport {
        pages: library.pages.len() + GENERATED_PAGES,
        rendered,
        written: committed.written,
        removed: committed.removed,
        full: *full,
        formulas_typeset: math.typeset_calls(),
        search_shards_indexed,
        output_dir,
        warnings,
        exec: executed.stats(),
    })
}

/// Returns whether the body of `page` is replaced by the 執筆中 note, which
/// is the case for a draft paper in a build without `--drafts`.
fn body_hidden(page: &content::Page, drafts: bool) -> bool {
    page.paper.as_ref().is_some_and(|paper| paper.draft) && !drafts
}

/// Citation targets: each paper by its number, then each cited work that
/// is not a paper, numbered after the papers in order of first citation.
fn citation_targets(library: &Library, bibliography: &Bibliography, cited: &[&[String]], base: &str) -> HashMap<String, CiteTarget> {
    let mut targets = HashMap::new();
    for page in library.papers() {
        let paper = page.paper.as_ref().expect("papers only");
        let Some(reference) = bibliography.get(&paper.key) else { continue };
        targets.insert(
            paper.key.clone(),
            CiteTarget { label: paper.number.to_string(), href: format!("{base}{}", page.url_path), title: reference.formatted() },
        );
    }
    let mut next = library.papers().count() + 1;
    for key in cited.iter().flat_map(|keys| keys.iter()) {
        if targets.contains_key(key) {
            continue;
        }
        if let Some(reference) = bibliography.get(key) {
            targets.insert(
                key.clone(),
                CiteTarget { label: next.to_string(), href: format!("{base}{BIBLIOGRAPHY_PATH}#{}", reference_id(key)), title: reference.formatted() },
            );
            next += 1;
        }
    }
    targets
}

fn reference_id(key: &str) -> String {
    format!("ref-{key}")
}

fn render_taxonomy(
    library: &Library,
    taxonomy: &Taxonomy,
    attachments: &taxonomy::Attachments,
    citations: &HashMap<String, CiteTarget>,
    base: &str,
    catalog: &Catalog,
    math: &MathCache,
) -> Result<HashMap<String, String>, Diagnostics> {
    let by_number: HashMap<usize, &CiteTarget> = library
        .papers()
        .filter_map(|page| {
            let paper = page.paper.as_ref()?;
            Some((paper.number, citations.get(&paper.key)?))
        })
        .collect();
    let cite = |number: usize| by_number.get(&number).map(|target| markdown::cite_link(target)).unwrap_or_default();
    let empty_taxonomy = HashMap::new();
    let inline_ctx = RenderContext { citations, taxonomy: &empty_taxonomy, exec_outputs: &NoExecOutputs, math, base_path: base };
    let inline = |text: &str, file: &Path, line: usize| markdown::render_inline(text, file, line, &inline_ctx);
    let group_pages: HashMap<String, String> = library
        .pages
        .iter()
        .filter_map(|page| Some((page.node.clone()?, format!("{base}{}", page.url_path))))
        .collect();
    let unclassified = catalog.text("ui-unclassified");
    TreeRenderer { taxonomy, attachments, cite: &cite, inline: &inline, group_pages: &group_pages, unclassified_label: &unclassified }
        .render_all()
}

/// Renders every page's title to HTML, in the order of `library.pages`.
/// Titles are needed by every page that links to the page, so they are
/// rendered in every build.
fn render_titles(library: &Library, ctx: &RenderContext) -> Result<Vec<String>, Diagnostics> {
    let results: Vec<Result<String, Diagnostics>> = library
        .pages
        .par_iter()
        .map(|page| markdown::render_inline(&page.title, &page.source, page.header_line_of("title:"), ctx))
        .collect();
    let mut diagnostics = Diagnostics::new();
    let titles: Vec<String> = results.into_iter().filter_map(|result| collect(result, &mut diagnostics)).collect();
    diagnostics.into_result(titles)
}

/// Plain text of a Markdown title for `<title>`: dollar signs of math and
/// emphasis markers removed.
fn plain_title(title: &str) -> String {
    title.replace(['$', '*', '`'], "")
}

/// Number of generated HTML pages: the bibliography, search and 404 pages.
const GENERATED_PAGES: usize = 3;

/// Data of the build that the layout borrows.
struct Shared<'a> {
    library: &'a Library,
    /// Title HTML of each page, in the order of `library.pages`.
    titles: &'a [String],
    bibliography: &'a Bibliography,
    citations: &'a HashMap<String, CiteTarget>,
    catalog: &'a Catalog,
    templates: &'a templates::Templates,
    /// Last-change date of each page, in the order of `library.pages`.
    dates: &'a [Option<DateTime<FixedOffset>>],
}

/// Everything needed to lay out and write the pages.
struct Layout<'a> {
    library: &'a Library,
    titles: &'a [String],
    bibliography: &'a Bibliography,
    citations: &'a HashMap<String, CiteTarget>,
    site: SiteData,
    catalog: &'a Catalog,
    drafts: bool,
    templates: &'a templates::Templates,
    dates: &'a [Option<DateTime<FixedOffset>>],
    /// Author named in the Atom feed.
    author: String,
    /// The site order as links: the pages, then the bibliography.
    order: Vec<LinkData>,
    /// Key of everything every page shows: templates, site data, labels.
    common_key: Key,
}

impl<'a> Layout<'a> {
    fn new(shared: Shared<'a>, site: SiteData, drafts: bool, author: String) -> Layout<'a> {
        let Shared { library, titles, bibliography, citations, catalog, templates, dates } = shared;
        let common_key = KeyHasher::new("common").key(&templates.key()).json(&site).json(&catalog.labels()).finish();
        let mut layout = Layout {
            library,
            titles,
            bibliography,
            citations,
            site,
            catalog,
            drafts,
            templates,
            dates,
            author,
            order: Vec::new(),
            common_key,
        };
        layout.order = layout.site_order();
        layout
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.site.base)
    }

    /// Absolute URL of `path`, when the base URL is absolute.
    fn absolute_url(&self, path: &str) -> Option<String> {
        self.site.absolute_base.as_ref().map(|absolute| format!("{absolute}{path}"))
    }

    /// Title shown in the 目次 and navigation: `[3] headline` for papers.
    fn display_title(&self, index: usize) -> String {
        let page = &self.library.pages[index];
        let title = &self.titles[index];
        match &page.paper {
            Some(paper) => format!("[{}] {title}", paper.number),
            None => title.clone(),
        }
    }

    /// Links of the site order: the pages, then the bibliography.
    fn site_order(&self) -> Vec<LinkData> {
        let mut links: Vec<LinkData> = (0..self.library.pages.len())
            .map(|index| LinkData { title_html: self.display_title(index), url: self.url(&self.library.pages[index].url_path) })
            .collect();
        links.push(LinkData { title_html: self.catalog.text("ui-bibliography"), url: self.url(BIBLIOGRAPHY_PATH) });
        links
    }

    /// Previous and next links of the page at `position` in the site order.
    fn nav(&self, position: usize) -> NavData {
        NavData { prev: position.checked_sub(1).map(|i| self.order[i].clone()), next: self.order.get(position + 1).cloned() }
    }

    /// The site-wide 目次, headed by `home_toc`, the home page's headings.
    fn site_toc(&self, home_toc: &[TocEntry]) -> Vec<TocItem> {
        let mut items: Vec<TocItem> = Vec::new();
        let papers_section = format!("{}/", content::PAPERS_DIR);
        let mut section_index: Option<usize> = None;
        for (index, page) in self.library.pages.iter().enumerate() {
            let url = self.url(&page.url_path);
            if page.is_home() {
                // The home page's own sections (まえがき) head the 目次.
                for entry in home_toc.iter().filter(|entry| entry.level <= 2) {
                    items.push(TocItem { title_html: entry.html.clone(), url: format!("{url}#{}", entry.id), draft: false, children: Vec::new() });
                }
                continue;
            }
            let item = TocItem {
                title_html: self.display_title(index),
                url,
                draft: page.paper.as_ref().is_some_and(|paper| paper.draft),
                children: Vec::new(),
            };
            match (page.paper.is_some(), section_index) {
                (true, Some(section)) => items[section].children.push(item),
                _ => {
                    if page.url_path == papers_section {
                        section_index = Some(items.len());
                    }
                    items.push(item);
                }
            }
        }
        items.push(TocItem { title_html: self.catalog.text("ui-bibliography"), url: self.url(BIBLIOGRAPHY_PATH), draft: false, children: Vec::new() });
        items
    }

    /// The page's template data without its body: `body_html`, `toc` and
    /// `description` (which may come from the body) are empty until the
    /// body is rendered.
    fn page_data(&self, index: usize) -> PageData {
        let page = &self.library.pages[index];
        let kind = if page.is_home() {
            PageKind::Home
        } else if page.paper.is_some() {
            PageKind::Paper
        } else {
            PageKind::Page
        };
        let paper = page.paper.as_ref().map(|paper| {
            let reference = self.bibliography.get(&paper.key).expect("checked by Library::assemble");
            PaperData {
                number: paper.number,
                key: paper.key.clone(),
                authors: reference.authors_joined(),
                original_title: reference.title.clone(),
                venue: reference.venue.clone(),
                url: reference.url.clone(),
                draft: paper.draft,
                body_hidden: paper.draft && !self.drafts,
            }
        });
        let title_text = match &page.paper {
            Some(paper) => format!("[{}] {}", paper.number, plain_title(&page.title)),
            None => plain_title(&page.title),
        };
        PageData {
            kind,
            title_html: self.titles[index].clone(),
            title_text,
            url: self.url(&page.url_path),
            body_html: String::new(),
            toc: Vec::new(),
            paper,
            description: None,
            canonical_url: self.absolute_url(&page.url_path),
            published: page.meta.date.map(|date| date.to_datetime().to_rfc3339()),
            updated: self.dates[index].map(|date| date.to_rfc3339()),
        }
    }

    /// Returns the page's description: `description` from its front matter,
    /// else its first paragraph, else (for a draft whose body is hidden) the
    /// paper it covers, else the site's description. The home page prefers
    /// the site's description to its first paragraph.
    fn description(&self, index: usize, paper: Option<&PaperData>, first_paragraph: Option<&str>) -> Option<String> {
        let page = &self.library.pages[index];
        if let Some(description) = &page.meta.description {
            return Some(description.clone());
        }
        if page.is_home() && self.site.description.is_some() {
            return self.site.description.clone();
        }
        let paper_description = paper.map(|paper| match paper.authors.is_empty() {
            true => paper.original_title.clone(),
            false => format!("{} ({})", paper.original_title, paper.authors),
        });
        first_paragraph.map(str::to_string).or(paper_description).or_else(|| self.site.description.clone())
    }

    /// Page data of a generated page (bibliography, search, 404).
    fn generated_page(&self, kind: PageKind, title: String, path: &str) -> PageData {
        PageData {
            kind,
            title_html: markdown::escape_html(&title),
            title_text: title,
            url: self.url(path),
            body_html: String::new(),
            toc: Vec::new(),
            paper: None,
            description: self.site.description.clone(),
            canonical_url: self.absolute_url(path),
            published: None,
            updated: None,
        }
    }

    /// Entries of the bibliography page; `records` contains each page's
    /// citation anchors, in the order of `library.pages`.
    fn bibliography_entries(&self, records: &[PageRecord]) -> Vec<BibEntryData> {
        let mut cited_in: HashMap<&str, Vec<LinkData>> = HashMap::new();
        for (index, page) in self.library.pages.iter().enumerate() {
            for (key, anchor) in &records[index].citation_anchors {
                cited_in.entry(key.as_str()).or_default().push(LinkData {
                    title_html: self.display_title(index),
                    url: format!("{}#{anchor}", self.url(&page.url_path)),
                });
            }
        }
        let mut entries: Vec<BibEntryData> = self
            .citations
            .iter()
            .filter_map(|(key, target)| {
                let reference = self.bibliography.get(key)?;
                let section = self.library.paper(key).map(|page| self.url(&page.url_path));
                Some(BibEntryData {
                    id: reference_id(key),
                    number: target.label.parse().unwrap_or(0),
                    key: key.clone(),
                    authors: reference.authors_joined(),
                    title_sentence: reference.title_sentence(),
                    venue_sentence: reference.venue_sentence(),
                    url: reference.url.clone(),
                    section,
                    cited_in: cited_in.remove(key.as_str()).unwrap_or_default(),
                })
            })
            .collect();
        entries.sort_by_key(|entry| entry.number);
        entries
    }

    fn context(&self, page: &PageData, nav: Option<&NavData>) -> tera::Context {
        let mut context = tera::Context::new();
        context.insert("site", &self.site);
        context.insert("labels", &self.catalog.labels());
        context.insert("page", page);
        context.insert("nav", &nav);
        context
    }

    /// Stages every file except the content pages and the search index:
    /// the bibliography, search and 404 pages, `.nojekyll`, stylesheets and
    /// fonts, content assets, figures of executed blocks, the feed and the
    /// sitemap. Each is produced only when its key changed. `records`
    /// contains what each content page's body showed. Returns the number of
    /// HTML pages rendered.
    fn write_generated(
        &self,
        staging: &write::Staging,
        records: &[PageRecord],
        root: &Path,
        assets: &[content::SourceFile],
        figures: &[(String, PathBuf)],
    ) -> Result<usize, Diagnostics> {
        let mut diagnostics = Diagnostics::new();
        let rendered = std::cell::Cell::new(0);
        let mut push = |result: Result<(), Diagnostic>| {
            if let Err(error) = result {
                diagnostics.push(error);
            }
        };
        // The search page merges the shards of the index.
        let shards = search_index::shard_count(self.library.pages.len());
        let shard_dirs: Vec<String> = if shards == 1 { Vec::new() } else { (0..shards).map(|index| search::shard_dir(index, shards)).collect() };
        let render = |kind: PageKind, data: &PageData, nav: Option<&NavData>, entries: Option<&[BibEntryData]>| {
            let mut context = self.context(data, nav);
            if let Some(entries) = entries {
                context.insert("bibliography", entries);
            }
            if kind == PageKind::Search {
                context.insert("search_shards", &shard_dirs);
            }
            rendered.set(rendered.get() + 1);
            Ok(self.templates.render(kind.template(), &context)?.into_bytes())
        };

        let bibliography_page = self.generated_page(PageKind::Bibliography, self.catalog.text("ui-bibliography"), BIBLIOGRAPHY_PATH);
        let nav = self.nav(self.order.len() - 1);
        let entries = self.bibliography_entries(records);
        let key = KeyHasher::new("bibliography").key(&self.common_key).json(&bibliography_page).json(&nav).json(&entries).finish();
        push(staging.write_with(&format!("{BIBLIOGRAPHY_PATH}index.html"), key, || {
            render(PageKind::Bibliography, &bibliography_page, Some(&nav), Some(&entries))
        }));
        let search_page = self.generated_page(PageKind::Search, self.catalog.text("ui-search"), SEARCH_PATH);
        let key = KeyHasher::new("search").key(&self.common_key).json(&search_page).json(&shard_dirs).finish();
        push(staging.write_with(&format!("{SEARCH_PATH}index.html"), key, || render(PageKind::Search, &search_page, None, None)));
        let not_found = self.generated_page(PageKind::NotFound, self.catalog.text("ui-not-found-title"), "404.html");
        let key = KeyHasher::new("404").key(&self.common_key).json(&not_found).finish();
        push(staging.write_with("404.html", key, || render(PageKind::NotFound, &not_found, None, None)));

        push(staging.write_with(".nojekyll", manifest::content_key(b""), || Ok(Vec::new())));
        // The stylesheet depends only on the `survey` executable, which is
        // part of the manifest's build key.
        let key = KeyHasher::new("highlight.css").finish();
        push(staging.write_with("static/highlight.css", key, || Ok(markdown::highlight::stylesheet().into_bytes())));
        let descriptions: Vec<Option<String>> = (0..self.library.pages.len())
            .map(|index| {
                let paper = self.page_data(index).paper;
                self.description(index, paper.as_ref(), records[index].first_paragraph.as_deref())
            })
            .collect();
        for (path, bytes) in self.feed_and_sitemap(&descriptions) {
            push(staging.write_with(&path, manifest::content_key(&bytes), || Ok(bytes)));
        }
        for (path, bytes) in collect(templates::static_files(root), &mut diagnostics).unwrap_or_default() {
            let rel = format!("static/{path}");
            let key = manifest::content_key(&bytes);
            if let Err(error) = staging.write_with(&rel, key, || Ok(bytes.into_owned())) {
                diagnostics.push(error);
            }
        }
        let copies = assets
            .iter()
            .map(|asset| (asset.rel.to_string_lossy().replace('\\', "/"), root.join(&asset.path), asset.path.clone()))
            .chain(figures.iter().map(|(rel, source)| (rel.clone(), source.clone(), source.clone())));
        for (rel, source, shown) in copies {
            let copied = std::fs::read(&source)
                .map_err(|error| Diagnostic::new(&shown, Message::new("io-error").arg("path", shown.display()).arg("detail", error)))
                .and_then(|bytes| staging.write_with(&rel, manifest::content_key(&bytes), || Ok(bytes)));
            if let Err(error) = copied {
                diagnostics.push(error);
            }
        }
        diagnostics.into_result(rendered.get())
    }
}

