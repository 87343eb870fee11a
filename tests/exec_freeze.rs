//! The freeze: reuse of unchanged pages without any process, staleness when a block,
//! `Cargo.lock` or a path dependency changes, and the four freeze modes.

mod exec_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use exec_common::Site;
use survey::exec::{EngineOptions, ExecReport, ExecStats, FreezeMode, OutputSource};

const PAGES: &[&str] = &["tensor.md", "second.md"];

/// Wrapper scripts for `cargo` and `rustc` that append each call to a log, then run the
/// real program.
struct Recorder {
    log: PathBuf,
    cargo: PathBuf,
    rustc: PathBuf,
}

impl Recorder {
    fn new(site: &Site) -> Recorder {
        let dir = site.path("recorder");
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("calls.log");
        fs::write(&log, "").unwrap();
        let real_cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let write = |name: &str, real: &str| {
            let path = dir.join(name);
            let script = format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}'\nexec '{real}' \"$@\"\n",
                log.display()
            );
            fs::write(&path, script).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let cargo = write("cargo", &real_cargo);
        let rustc = write("rustc", "rustc");
        Recorder { log, cargo, rustc }
    }

    fn options(&self, site: &Site, mode: FreezeMode) -> EngineOptions {
        let mut options = site.options(mode);
        options.cargo = self.cargo.clone();
        options.rustc = self.rustc.clone();
        options
    }

    fn calls(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn stdout(report: &ExecReport, page: &str, block: usize) -> String {
    let page = report
        .page(page)
        .unwrap_or_else(|| panic!("no result for {page}"));
    page.blocks[block]
        .output
        .as_ref()
        .map(|o| o.stdout.clone())
        .unwrap_or_default()
}

/// Builds the site once in `Auto` mode and checks that both pages ran.
fn first_build(site: &Site) -> ExecReport {
    let report = site.execute(site.options(FreezeMode::Auto));
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.stats.pages_run, 2);
    assert_eq!(stdout(&report, "content/tensor.md", 0), "sum = 15\n");
    report
}

#[test]
fn unchanged_rebuild_starts_no_process() {
    let site = Site::new(PAGES);
    let recorder = Recorder::new(&site);

    let first = site.execute(recorder.options(&site, FreezeMode::Auto));
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    let calls = recorder.calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("cargo build"))
            .count(),
        1,
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| c.as_str() == "rustc -vV").count(),
        1,
        "{calls:?}"
    );
    assert_eq!(first.stats.cargo_runs, 1);
    assert_eq!(first.stats.rustc_runs, 1);

    let second = site.execute(recorder.options(&site, FreezeMode::Auto));
    assert_eq!(
        recorder.calls(),
        calls,
        "an unchanged rebuild started cargo or rustc"
    );
    assert_eq!(
        second.stats,
        ExecStats {
            pages_frozen: 2,
            ..ExecStats::default()
        }
    );
    for page in ["content/tensor.md", "content/second.md"] {
        assert_eq!(second.page(page).unwrap().source, OutputSource::Frozen);
        assert_eq!(stdout(&second, page, 0), stdout(&first, page, 0));
    }
}

#[test]
fn changed_block_reruns_only_its_page() {
    let site = Site::new(PAGES);
    let recorder = Recorder::new(&site);
    site.execute(recorder.options(&site, FreezeMode::Auto));
    let before = recorder.calls().len();
    let second_entry = fs::read(site.path("_freeze/content/second/page.json")).unwrap();

    site.edit("content/tensor.md", "arange(0f32, 6.", "arange(0f32, 4.");
    site.edit("content/tensor.md", "reshape((2, 3))", "reshape((2, 2))");
    let report = site.execute(recorder.options(&site, FreezeMode::Auto));

    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.stats.pages_run, 1);
    assert_eq!(report.stats.pages_frozen, 1);
    assert_eq!(
        report.stats.rustc_runs, 0,
        "the rustc version comes from its cache"
    );
    assert_eq!(stdout(&report, "content/tensor.md", 0), "sum = 6\n");

    let new_calls = &recorder.calls()[before..];
    assert_eq!(new_calls.len(), 1, "{new_calls:?}");
    assert_eq!(
        new_calls[0].matches("--bin ").count(),
        1,
        "only the changed page is built: {}",
        new_calls[0]
    );
    assert_eq!(
        fs::read(site.path("_freeze/content/second/page.json")).unwrap(),
        second_entry
    );
}

#[test]
fn lockfile_change_in_dependencies_makes_freeze_stale() {
    let site = Site::new(PAGES);
    first_build(&site);

    // candle-core is reachable from the exec dependencies.
    let lock = fs::read_to_string(site.path("Cargo.lock")).unwrap();
    let start = lock.find("name = \"candle-core\"").unwrap();
    let checksum = start + lock[start..].find("checksum = \"").unwrap() + "checksum = \"".len();
    let mut changed = lock.clone();
    changed.replace_range(checksum..checksum + 4, "0000");
    fs::write(site.path("Cargo.lock"), changed).unwrap();

    let report = site.execute(site.options(FreezeMode::Frozen));
    assert_eq!(report.stats.cargo_runs, 0);
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    for failure in &report.failures {
        assert!(
            failure
                .summary
                .contains("changed since it was frozen: Cargo.lock"),
            "{}",
            failure.summary
        );
        assert!(
            failure.summary.contains("run `survey build`"),
            "{}",
            failure.summary
        );
    }
}

#[test]
fn lockfile_change_elsewhere_keeps_freeze() {
    let site = Site::new(PAGES);
    first_build(&site);

    // clap is a dependency of the generator, not of the blocks.
    let lock = fs::read_to_string(site.path("Cargo.lock")).unwrap();
    let start = lock.find("name = \"clap\"").unwrap();
    let checksum = start + lock[start..].find("checksum = \"").unwrap() + "checksum = \"".len();
    let mut changed = lock.clone();
    changed.replace_range(checksum..checksum + 4, "0000");
    fs::write(site.path("Cargo.lock"), changed).unwrap();

    let report = site.execute(site.options(FreezeMode::Frozen));
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.stats.pages_frozen, 2);
}

#[test]
fn path_dependency_change_reruns_page() {
    let site = Site::new(PAGES);
    first_build(&site);
    site.edit("fixture-dep/src/lib.rs", "    42\n", "    43\n");

    let frozen = site.execute(site.options(FreezeMode::Frozen));
    assert_eq!(frozen.failures.len(), 2);
    assert!(
        frozen.failures[0]
            .summary
            .contains("sources of `exec-fixture`"),
        "{}",
        frozen.failures[0].summary
    );

    let report = site.execute(site.options(FreezeMode::Auto));
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.stats.pages_run, 2);
    assert_eq!(stdout(&report, "content/tensor.md", 1), "answer = 43\n");
}

#[test]
fn no_exec_uses_stale_entries_with_warning() {
    let site = Site::new(PAGES);
    first_build(&site);
    site.edit("content/second.md", "Tensor::ones(3,", "Tensor::ones(4,");

    let report = site.execute(site.options(FreezeMode::NoExec));
    assert_eq!(
        report.stats,
        ExecStats {
            pages_frozen: 1,
            ..ExecStats::default()
        }
    );
    assert!(report.failures.is_empty());
    let second = report.page("content/second.md").unwrap();
    assert_eq!(second.source, OutputSource::StaleFreeze);
    assert_eq!(
        stdout(&report, "content/second.md", 0),
        "ones = [1.0, 1.0, 1.0]\n"
    );
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let warning = report.warnings[0].to_string();
    assert!(warning.starts_with("content/second.md: outputs are not up to date (changed since it was frozen: code blocks)"), "{warning}");
}

#[test]
fn refresh_reruns_every_page() {
    let site = Site::new(PAGES);
    first_build(&site);
    let entry = fs::read(site.path("_freeze/content/tensor/page.json")).unwrap();

    let report = site.execute(site.options(FreezeMode::Refresh));
    assert_eq!(report.stats.pages_run, 2);
    assert_eq!(report.stats.pages_frozen, 0);
    assert_eq!(
        fs::read(site.path("_freeze/content/tensor/page.json")).unwrap(),
        entry,
        "a re-run of a deterministic page rewrites the same entry"
    );
}

#[test]
fn frozen_mode_fails_on_missing_entry() {
    let site = Site::new(&["second.md"]);
    let report = site.execute(site.options(FreezeMode::Frozen));
    assert_eq!(report.stats.cargo_runs, 0);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].page, Path::new("content/second.md"));
    assert!(
        report.failures[0].summary.contains("no freeze entry"),
        "{}",
        report.failures[0].summary
    );
    assert!(
        report.page("content/second.md").unwrap().blocks[0]
            .output
            .is_none()
    );
}

#[test]
fn prune_removes_entries_of_deleted_pages() {
    let site = Site::new(PAGES);
    first_build(&site);
    fs::remove_file(site.path("content/second.md")).unwrap();

    let options = site.options(FreezeMode::Auto);
    let report = site.execute(options.clone());
    let removed = survey::exec::Engine::new(options)
        .prune_freeze(&report)
        .unwrap();
    assert_eq!(removed, vec![site.path("_freeze/content/second")]);
    assert!(site.path("_freeze/content/tensor/page.json").is_file());
}

#[test]
fn corrupt_entry_fails_frozen_and_reruns_auto() {
    let site = Site::new(&["second.md"]);
    site.execute(site.options(FreezeMode::Auto));
    let entry = site.path("_freeze/content/second/page.json");
    fs::write(&entry, "{ not json").unwrap();

    let frozen = site.execute(site.options(FreezeMode::Frozen));
    assert_eq!(frozen.failures.len(), 1, "{:?}", frozen.failures);
    assert!(
        frozen.failures[0].summary.contains("invalid freeze entry"),
        "{}",
        frozen.failures[0].summary
    );

    let auto = site.execute(site.options(FreezeMode::Auto));
    assert!(auto.failures.is_empty(), "{:?}", auto.failures);
    assert_eq!(auto.warnings.len(), 1, "{:?}", auto.warnings);
    assert_eq!(auto.stats.pages_run, 1);
    assert!(
        fs::read_to_string(&entry)
            .unwrap()
            .starts_with("{\n  \"format\": 1,")
    );
}
