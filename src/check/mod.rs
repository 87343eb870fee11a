//! `survey check`: finds what would break or leave holes in the published
//! site, each finding with its file and line.
//!
//! The check builds the site into a temporary directory (draft bodies
//! included), so links and `#anchors` are checked against the files and ids
//! the build really writes. The other checks read the loaded sources:
//! citations against the bibliography, the taxonomy against the papers,
//! headings and images of each page, and the freeze of executable blocks.
//! Each check has a severity ([`Severity`]), settable per site in the
//! `check:` section of `survey.yaml`; an error finding fails the command.

mod config;
mod links;
mod scan;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::bib::{self, Bibliography};
use crate::config::Config;
use crate::content::{self, Library, Page};
use crate::diagnostics::{Diagnostic, Diagnostics, Message, closest};
use crate::i18n::Catalog;
use crate::markdown::math::MathCache;
use crate::markdown::prepass;
use crate::exec::FreezeMode;
use crate::site::{self, BuildOptions};
use crate::taxonomy::{Node, Taxonomy};

pub use config::{CheckConfig, CheckKind, Severity};

/// One problem found by a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: CheckKind,
    pub severity: Severity,
    pub diagnostic: Diagnostic,
}

impl Finding {
    /// Formats the finding like a build error, with its severity as the
    /// label and the check's key at the end of the headline.
    pub fn render(&self, catalog: &Catalog) -> String {
        let label = match self.severity {
            Severity::Error => "label-error",
            Severity::Warning => "label-warning",
            Severity::Info | Severity::Off => "label-info",
        };
        let tag = (self.kind != CheckKind::Build).then(|| self.kind.key());
        self.diagnostic.render_labeled(catalog, label, tag)
    }
}

/// Everything `survey check` found, sorted by file and line.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub findings: Vec<Finding>,
}

impl CheckReport {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|finding| finding.severity == severity).count()
    }

    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }
}

/// Collects findings, dropping those whose check is off.
struct Collector<'c> {
    config: &'c CheckConfig,
    findings: Vec<Finding>,
}

impl Collector<'_> {
    fn report(&mut self, kind: CheckKind, diagnostic: Diagnostic) {
        let severity = self.config.severity(kind);
        if severity != Severity::Off {
            self.findings.push(Finding { kind, severity, diagnostic });
        }
    }

    /// Reports something about `kind` itself, such as a check that could
    /// not run, as information.
    fn note(&mut self, kind: CheckKind, diagnostic: Diagnostic) {
        if self.config.severity(kind) != Severity::Off {
            self.findings.push(Finding { kind, severity: Severity::Info, diagnostic });
        }
    }
}

/// Checks the site at `root`. Fails only when `survey.yaml` cannot be read,
/// since without it nothing else can be checked.
pub fn check(root: &Path) -> Result<CheckReport, Diagnostics> {
    let config = Config::load(root)?;
    let mut collector = Collector { config: &config.check, findings: Vec::new() };

    // The build, into a directory of its own: every error that stops it,
    // and the files and ids that links must point to.
    let output = tempfile::tempdir().map_err(|error| {
        Diagnostics::from(Diagnostic::new("survey check", Message::new("io-error").arg("path", std::env::temp_dir().display()).arg("detail", error)))
    })?;
    // No code block runs: outputs come from the freeze as they are, and
    // stale entries are reported by `check_freeze`.
    let build = BuildOptions {
        output_dir: Some(output.path().join("site")),
        drafts: true,
        exec: FreezeMode::NoExec,
        progress: false,
        incremental: false,
        ..BuildOptions::new(root)
    };
    let built = site::build(&build);

    let sources = Sources::load(root);
    let math = site::math_cache(root);
    let citations = sources.as_ref().map(|sources| sources.citations(&math)).unwrap_or_default();
    if let Err(diagnostics) = &built {
        for diagnostic in diagnostics.iter() {
            // Unknown citations are reported below, with their own severity.
            let found_below = diagnostic.message.id == "cite-unknown"
                && citations.iter().any(|c| c.file == diagnostic.file && Some(c.line) == diagnostic.line && Some(c.column) == diagnostic.column);
            if !found_below {
                collector.report(CheckKind::Build, diagnostic.clone());
            }
        }
    }

    if let Some(sources) = &sources {
        check_citations(sources, &citations, &mut collector);
        check_taxonomy(sources, &mut collector);
        check_drafts(sources, &mut collector);
        let base = config.base_path();
        let site_dir = built.is_ok().then(|| output.path().join("site"));
        links::check_pages(sources, &base, site_dir.as_deref(), &mut collector);
        check_duplicate_ids(sources, &mut collector);
    }
    if built.is_err() {
        collector.note(CheckKind::BrokenLinks, Diagnostic::new(crate::config::CONFIG_FILE, Message::new("check-links-skipped")));
    }
    check_freeze(root, &config, sources.as_ref(), &mut collector);

    let mut findings = collector.findings;
    findings.sort_by(|a, b| {
        let key = |f: &Finding| (f.diagnostic.file.clone(), f.diagnostic.line, f.diagnostic.column, f.kind);
        key(a).cmp(&key(b))
    });
    findings.dedup();
    Ok(CheckReport { findings })
}

/// The loaded sources of a site. `None` when a stage fails to load; its
/// errors come from the build.
pub(crate) struct Sources {
    pub library: Library,
    pub bibliography: Bibliography,
    pub taxonomy: Taxonomy,
}

impl Sources {
    fn load(root: &Path) -> Option<Sources> {
        let discovered = content::discover(root).ok()?;
        let pages = content::load_pages(root, &discovered.pages).ok()?;
        let mut bibliography = bib::load(root).ok()?;
        let taxonomy = Taxonomy::load(root).ok()?;
        let library = Library::assemble(pages, &mut bibliography).ok()?;
        Some(Sources { library, bibliography, taxonomy })
    }

    /// Lists every citation of every page with its location.
    /// Formulas are typeset through `math`, so those of the build come from
    /// its cache.
    fn citations(&self, math: &MathCache) -> Vec<LocatedCitation> {
        let mut found = Vec::new();
        for page in &self.library.pages {
            let Ok(prepared) = prepass::prepare(&page.body, &page.source, page.body_line, math) else { continue };
            for citation in prepared.citations {
                for key in citation.keys {
                    found.push(LocatedCitation { key, file: page.source.clone(), line: citation.line, column: citation.column });
                }
            }
        }
        found
    }
}

struct LocatedCitation {
    key: String,
    file: PathBuf,
    line: usize,
    column: usize,
}

fn check_citations(sources: &Sources, citations: &[LocatedCitation], collector: &mut Collector) {
    for citation in citations {
        if sources.bibliography.get(&citation.key).is_none() {
            let suggestion = closest(&citation.key, sources.bibliography.keys());
            collector.report(
                CheckKind::UnknownCitations,
                Diagnostic::new(&citation.file, Message::new("cite-unknown").arg("key", &citation.key))
                    .at(citation.line, Some(citation.column))
                    .suggest(suggestion),
            );
        }
    }

    let used: BTreeSet<&str> = citations
        .iter()
        .map(|citation| citation.key.as_str())
        .chain(sources.library.papers().filter_map(|page| page.paper.as_ref().map(|paper| paper.key.as_str())))
        .collect();
    let mut unused: Vec<&bib::Reference> =
        sources.bibliography.keys().filter(|key| !used.contains(key)).filter_map(|key| sources.bibliography.get(key)).collect();
    unused.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    for reference in unused {
        collector.report(
            CheckKind::UncitedEntries,
            Diagnostic::new(&reference.file, Message::new("check-uncited-entry").arg("key", &reference.key)).at_line(reference.line),
        );
    }
}

fn check_taxonomy(sources: &Sources, collector: &mut Collector) {
    let taxonomy_file = Path::new(content::CONTENT_DIR).join(crate::taxonomy::TAXONOMY_FILE);
    let mut papers_by_node: HashMap<&str, usize> = HashMap::new();
    for page in sources.library.papers() {
        let paper = page.paper.as_ref().expect("papers only");
        if paper.taxonomy.is_empty() {
            collector.report(
                CheckKind::UnclassifiedPapers,
                Diagnostic::new(&page.source, Message::new("check-unclassified-paper").arg("key", &paper.key)).at_line(page.header_line_of("key:")),
            );
        }
        for entry in &paper.taxonomy {
            *papers_by_node.entry(entry.node.as_str()).or_default() += 1;
            if entry.summary.trim().is_empty() {
                let line = page.header_line_of(&format!("node: {}", entry.node)) + 1;
                collector.report(
                    CheckKind::MissingSummaries,
                    Diagnostic::new(&page.source, Message::new("check-missing-summary").arg("node", &entry.node)).at_line(line),
                );
            }
        }
    }
    fn papers_in(node: &Node, counts: &HashMap<&str, usize>) -> usize {
        counts.get(node.path.as_str()).copied().unwrap_or(0) + node.children.iter().map(|child| papers_in(child, counts)).sum::<usize>()
    }
    for node in sources.taxonomy.nodes() {
        if papers_in(node, &papers_by_node) == 0 {
            collector.report(
                CheckKind::EmptyNodes,
                Diagnostic::new(&taxonomy_file, Message::new("check-empty-node").arg("node", &node.path)).at_line(node.line),
            );
        }
    }
}

fn check_drafts(sources: &Sources, collector: &mut Collector) {
    for page in sources.library.papers() {
        if page.paper.as_ref().is_some_and(|paper| paper.draft) {
            collector.report(CheckKind::Drafts, Diagnostic::new(&page.source, Message::new("check-draft")).at_line(page.header_line_of("status:")));
        }
    }
}

fn check_duplicate_ids(sources: &Sources, collector: &mut Collector) {
    for page in &sources.library.pages {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for heading in scan::scan(page).headings {
            match seen.get(&heading.id) {
                Some(&first) => {
                    let id = if heading.explicit { "check-duplicate-explicit-id" } else { "check-duplicate-id" };
                    collector.report(
                        CheckKind::DuplicateIds,
                        Diagnostic::new(&page.source, Message::new(id).arg("id", &heading.id).arg("line", first)).at_line(heading.line),
                    );
                }
                None => {
                    seen.insert(heading.id, heading.line);
                }
            }
        }
    }
}

/// Pages whose executable blocks have no freeze entry, or one older than
/// what the blocks depend on. Nothing is compiled or run.
fn check_freeze(root: &Path, config: &Config, sources: Option<&Sources>, collector: &mut Collector) {
    use crate::exec::{Engine, EngineOptions, ExecWarning, StaleReason};

    let Some(sources) = sources else { return };
    let pages: Vec<&Page> = sources.library.pages.iter().filter(|page| page.body.contains(",exec")).collect();
    if pages.is_empty() {
        return;
    }
    let mut options = EngineOptions::new(root, config.exec.clone());
    options.mode = FreezeMode::NoExec;
    options.progress = false;
    let engine_pages: Vec<crate::exec::Page> =
        pages.iter().map(|page| crate::exec::Page { path: &page.source, body: &page.body, body_line: page.body_line }).collect();
    let report = match Engine::new(options).execute(&engine_pages) {
        Ok(report) => report,
        Err(error) => {
            collector.report(
                CheckKind::StaleFreeze,
                Diagnostic::new(crate::config::CONFIG_FILE, Message::new("check-freeze-unreadable").arg("detail", error)),
            );
            return;
        }
    };
    let catalog = Catalog::new(site::site_lang(root));
    for warning in &report.warnings {
        let ExecWarning::Stale { page, line, reason } = warning else { continue };
        let message = match reason {
            StaleReason::NoEntry => Message::new("check-freeze-missing"),
            _ => Message::new("check-freeze-stale").arg("reason", site::stale_reason(reason, &catalog)),
        };
        collector.report(CheckKind::StaleFreeze, Diagnostic::new(page, message).at_line(*line));
    }
}
