//! The execute step: runs every page's `rust,exec` blocks with the engine in
//! [`crate::exec`], or takes their outputs from the freeze, and hands the
//! results to rendering through [`ExecOutputs`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::{CONFIG_FILE, Config};
use crate::content::{Library, Page};
use crate::diagnostics::{Diagnostic, Diagnostics, Message};
use crate::exec::{
    self, Change, Engine, EngineOptions, ExecError, ExecReport, ExecStats, ExecWarning, Failure, FailureCause, FreezeMode, Lang,
    OptionProblem, StaleReason,
};
use crate::i18n::Catalog;
use crate::markdown::code::{ExecOutputs, PageOutputs};

use super::BuildOptions;

/// The engine's results for every page of a build.
pub(super) struct Executed<'a> {
    report: ExecReport,
    /// Index into `report.pages` by page source path.
    by_source: HashMap<PathBuf, usize>,
    /// Figure URL prefix of each entry of `report.pages`.
    figure_bases: Vec<String>,
    /// The engine's warnings, worded in the site's language.
    warnings: Vec<Diagnostic>,
    catalog: &'a Catalog,
}

impl ExecOutputs for Executed<'_> {
    fn page_outputs(&self, page: &Page) -> Option<PageOutputs<'_>> {
        let index = *self.by_source.get(&page.source)?;
        Some(PageOutputs { result: &self.report.pages[index], figure_base: &self.figure_bases[index], catalog: self.catalog })
    }
}

impl Executed<'_> {
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    pub fn stats(&self) -> ExecStats {
        self.report.stats
    }

    /// Figure files to copy into the site: (path under the output directory,
    /// file in the freeze), for the pages that `shown` accepts.
    pub fn figure_files(&self, library: &Library, shown: impl Fn(&Page) -> bool) -> Vec<(String, PathBuf)> {
        let mut files = Vec::new();
        for page in library.pages.iter().filter(|page| shown(page)) {
            let Some(&index) = self.by_source.get(&page.source) else { continue };
            for block in &self.report.pages[index].blocks {
                for figure in block.output.iter().flat_map(|output| &output.figures) {
                    files.push((format!("{}{}", page.url_path, figure.file), figure.source.clone()));
                }
            }
        }
        files
    }
}

/// Runs or unfreezes the blocks of every page, drafts included, so that a
/// hidden draft cannot hide a broken block. Fails with one diagnostic per
/// failing block (or invalid option, or stale entry under `--frozen`).
pub(super) fn execute<'a>(
    options: &BuildOptions,
    config: &Config,
    library: &Library,
    base: &str,
    catalog: &'a Catalog,
) -> Result<Executed<'a>, Diagnostics> {
    let mut engine_options = EngineOptions::new(&options.root, config.exec.clone());
    engine_options.mode = options.exec;
    engine_options.verbose = options.verbose;
    engine_options.progress = options.progress;
    engine_options.lang = Lang::from_tag(&config.lang);
    let engine = Engine::new(engine_options);

    let pages: Vec<exec::Page> = library
        .pages
        .iter()
        .map(|page| exec::Page { path: &page.source, body: &page.body, body_line: page.body_line })
        .collect();
    let report = engine.execute(&pages).map_err(|error| Diagnostics::from(engine_error(error)))?;
    if !report.failures.is_empty() {
        let freeze_dir = engine.freeze_dir().strip_prefix(&options.root).unwrap_or(engine.freeze_dir());
        let freeze_dir = format!("{}/", freeze_dir.display());
        let mut diagnostics = Diagnostics::new();
        diagnostics.extend(report.failures.iter().map(|failure| failure_diagnostic(failure, &freeze_dir, catalog)));
        return Err(diagnostics);
    }
    if matches!(options.exec, FreezeMode::Auto | FreezeMode::Refresh) {
        // Entries of deleted or renamed pages would otherwise stay in the
        // committed freeze forever.
        let removed = engine.prune_freeze(&report).map_err(|error| Diagnostics::from(engine_error(error)))?;
        for dir in removed {
            tracing::debug!(dir = %dir.display(), "removed freeze entry of a page without blocks");
        }
    }

    let by_source = library.pages.iter().enumerate().map(|(index, page)| (page.source.clone(), index)).collect();
    let figure_bases = library.pages.iter().map(|page| format!("{base}{}", page.url_path)).collect();
    let warnings = report.warnings.iter().map(|warning| warning_diagnostic(warning, &options.root, catalog)).collect();
    Ok(Executed { report, by_source, figure_bases, warnings, catalog })
}

/// Converts a build failure into a diagnostic at its page and fence line: a
/// headline in the site's language, then the engine's details (rustc's
/// messages with `.md` locations, or the end of stderr) indented under it.
fn failure_diagnostic(failure: &Failure, freeze_dir: &str, catalog: &Catalog) -> Diagnostic {
    let mut detail = String::new();
    for line in failure.detail.trim_end().lines() {
        detail.push_str("\n  ");
        detail.push_str(line);
    }
    let message = match &failure.cause {
        FailureCause::Block { name, kind } => {
            Message::new("exec-block-failed").arg("block", name).arg("kind", kind.as_str()).arg("detail", detail)
        }
        FailureCause::StaleFreeze { reason } => {
            Message::new("exec-freeze-stale").arg("dir", freeze_dir).arg("reason", stale_reason(reason, catalog))
        }
        FailureCause::Option(problem) => {
            let (message, suggestion) = option_message(problem);
            return Diagnostic::new(&failure.page, message).at_line(failure.line).suggest(suggestion);
        }
        FailureCause::Other => Message::new("exec-failed").arg("message", format!("{}{detail}", failure.summary)),
    };
    Diagnostic::new(&failure.page, message).at_line(failure.line)
}

/// The catalog message for a problem with a block's options or info
/// string, and the option or value it probably should have been.
fn option_message(problem: &OptionProblem) -> (Message, Option<String>) {
    let keys = exec::OPTION_KEYS.join(", ");
    match problem {
        OptionProblem::MalformedLine { text } => (Message::new("exec-option-line").arg("text", text).arg("keys", keys), None),
        OptionProblem::UnknownKey { key, suggestion } => (Message::new("exec-option-unknown").arg("key", key).arg("keys", keys), suggestion.clone()),
        OptionProblem::Repeated { key } => (Message::new("exec-option-repeated").arg("key", key), None),
        OptionProblem::NotBool { key, value } => (Message::new("exec-option-bool").arg("key", key).arg("value", value), None),
        OptionProblem::BadOutput { value, suggestion } => (Message::new("exec-option-output").arg("value", value), suggestion.clone()),
        OptionProblem::BadLabel { value } => (Message::new("exec-option-label").arg("value", value), None),
        OptionProblem::BadTimeout { value } => (Message::new("exec-option-timeout").arg("value", value), None),
        OptionProblem::BadQuote { value, detail } => (Message::new("exec-option-quote").arg("value", value).arg("detail", detail), None),
        OptionProblem::UnknownAttribute { attribute, info } => {
            (Message::new("exec-info-attribute").arg("attribute", attribute).arg("info", info), None)
        }
        OptionProblem::ExecTypo { attribute, info } => {
            (Message::new("exec-info-attribute").arg("attribute", attribute).arg("info", info), Some("rust,exec".to_string()))
        }
        OptionProblem::DuplicateLabel { label, first_line } => {
            (Message::new("exec-label-duplicate").arg("label", label).arg("line", first_line), None)
        }
    }
}

/// Words the reason a freeze entry is stale in the site's language.
pub(crate) fn stale_reason(reason: &StaleReason, catalog: &Catalog) -> String {
    match reason {
        StaleReason::NoEntry => catalog.text("exec-stale-no-entry"),
        StaleReason::Mismatch => catalog.text("exec-stale-mismatch"),
        StaleReason::Changed(changes) => {
            let names: Vec<String> = changes
                .iter()
                .map(|change| match change {
                    Change::Blocks => catalog.text("exec-change-blocks"),
                    Change::Dependencies => catalog.text("exec-change-dependencies"),
                    Change::Lockfile => catalog.text("exec-change-lockfile"),
                    Change::PathDependency(name) => catalog.format(&Message::new("exec-change-path").arg("name", name)),
                    Change::Rustc(version) => catalog.format(&Message::new("exec-change-rustc").arg("version", version)),
                    Change::Generator => catalog.text("exec-change-generator"),
                })
                .collect();
            catalog.format(&Message::new("exec-stale-changed").arg("changes", names.join(&catalog.text("list-separator"))))
        }
    }
}

/// Converts a warning of the engine into a diagnostic, located where the
/// warning names a page or the site's configuration.
fn warning_diagnostic(warning: &ExecWarning, root: &Path, catalog: &Catalog) -> Diagnostic {
    match warning {
        ExecWarning::FreezeUnchecked { detail } => Diagnostic::new("", Message::new("exec-warn-freeze-unchecked").arg("detail", detail)),
        ExecWarning::Unpinned { name, lockfile } => {
            let lockfile = lockfile.strip_prefix(root).unwrap_or(lockfile);
            Diagnostic::new(CONFIG_FILE, Message::new("exec-warn-unpinned").arg("name", name).arg("lockfile", lockfile.display()))
        }
        ExecWarning::InvalidFreeze { detail } => Diagnostic::new("", Message::new("exec-warn-invalid-freeze").arg("detail", detail)),
        ExecWarning::Stale { page, line, reason } => {
            Diagnostic::new(page, Message::new("exec-warn-stale").arg("reason", stale_reason(reason, catalog))).at_line(*line)
        }
        ExecWarning::Compiler { text } => Diagnostic::new("", Message::new("exec-warn-compiler").arg("text", text.trim_end())),
    }
}

/// Converts an error that stopped the engine (a missing toolchain, a
/// dependency that does not build, an I/O error) into a diagnostic.
fn engine_error(error: ExecError) -> Diagnostic {
    // The message names any file involved; only a wrong path dependency is
    // a problem of one source file.
    let file = match &error {
        ExecError::MissingPathDependency { .. } => Path::new(CONFIG_FILE),
        _ => Path::new(""),
    };
    Diagnostic::new(file, Message::new("exec-engine-failed").arg("detail", &error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::FailureKind;
    use crate::i18n::Lang;

    fn block_failure(kind: FailureKind) -> Failure {
        Failure {
            page: PathBuf::from("content/a.md"),
            line: 7,
            summary: String::new(),
            detail: "first\nsecond\n".into(),
            cause: FailureCause::Block { name: "train".into(), kind },
        }
    }

    #[test]
    fn block_failures_read_in_the_site_language() {
        let ja = Catalog::new(Lang::Ja);
        let text = failure_diagnostic(&block_failure(FailureKind::Panic), "_freeze/", &ja).render(&ja);
        assert!(text.starts_with("エラー: content/a.md:7: コードブロック `train` がパニックしました\n  first\n  second\n"), "{text}");
        assert!(text.contains("修正方法: "), "{text}");

        let en = Catalog::new(Lang::En);
        let text = failure_diagnostic(&block_failure(FailureKind::Timeout), "_freeze/", &en).render(&en);
        assert!(text.starts_with("error: content/a.md:7: code block `train` timed out\n  first"), "{text}");
    }

    #[test]
    fn every_failure_kind_has_a_message() {
        let kinds = [
            FailureKind::Compile,
            FailureKind::Panic,
            FailureKind::Error,
            FailureKind::Exit,
            FailureKind::Timeout,
            FailureKind::InvalidUtf8,
            FailureKind::OutputTooLarge,
            FailureKind::NotRun,
        ];
        for lang in [Lang::Ja, Lang::En] {
            let catalog = Catalog::new(lang);
            let mut headlines: Vec<String> = kinds
                .iter()
                .map(|kind| failure_diagnostic(&block_failure(*kind), "_freeze/", &catalog).render(&catalog).lines().next().unwrap().to_string())
                .collect();
            headlines.sort();
            headlines.dedup();
            assert_eq!(headlines.len(), kinds.len(), "{lang:?}: {headlines:#?}");
        }
    }

    #[test]
    fn stale_entry_names_the_freeze_directory() {
        let failure = Failure {
            page: PathBuf::from("content/a.md"),
            line: 3,
            summary: String::new(),
            detail: String::new(),
            cause: FailureCause::StaleFreeze { reason: StaleReason::NoEntry },
        };
        let ja = Catalog::new(Lang::Ja);
        let text = failure_diagnostic(&failure, "frozen/", &ja).render(&ja);
        assert!(text.starts_with("エラー: content/a.md:3: frozen/ の出力が古くなっています (まだ一度も実行していません)"), "{text}");
        assert!(text.contains("更新した frozen/ をコミット"), "{text}");
    }

    #[test]
    fn stale_reasons_are_localized() {
        let reason = StaleReason::Changed(vec![Change::Blocks, Change::PathDependency("seqmodels".into())]);
        assert_eq!(stale_reason(&reason, &Catalog::new(Lang::Ja)), "凍結後に変わったもの: コードブロック、`seqmodels` のソース");
        assert_eq!(stale_reason(&reason, &Catalog::new(Lang::En)), "changed since it was frozen: the code blocks, the sources of `seqmodels`");

        let failure = Failure {
            page: PathBuf::from("content/a.md"),
            line: 8,
            summary: String::new(),
            detail: String::new(),
            cause: FailureCause::Option(OptionProblem::UnknownKey { key: "timout".into(), suggestion: Some("timeout".into()) }),
        };
        let ja = Catalog::new(Lang::Ja);
        let text = failure_diagnostic(&failure, "_freeze/", &ja).render(&ja);
        assert!(text.starts_with("エラー: content/a.md:8: 未知のオプション `timout` です。"), "{text}");
        assert!(text.contains("もしかして `timeout` ですか?"), "{text}");
    }
}
