//! Runs real candle code blocks of the fixture site through the exec engine: one build
//! of several pages, whose report each test inspects.

mod exec_common;

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use exec_common::{Site, line_of};
use survey::exec::{
    BlockOutput, ExecReport, FailureKind, FreezeMode, HtmlParts, Lang, OutputSource, PageResult,
    render_block_html,
};
use survey::i18n::Catalog;

const PAGES: &[&str] = &[
    "notebook.md",
    "failures.md",
    "broken.md",
    "panics.md",
    "options.md",
    "prose.md",
];

fn build() -> &'static (Site, ExecReport) {
    static BUILD: OnceLock<(Site, ExecReport)> = OnceLock::new();
    BUILD.get_or_init(|| {
        let site = Site::new(PAGES);
        let report = site.execute(site.options(FreezeMode::Auto));
        (site, report)
    })
}

fn page(path: &str) -> &'static PageResult {
    build()
        .1
        .page(path)
        .unwrap_or_else(|| panic!("no result for {path}"))
}

fn output(path: &str, label: &str) -> &'static BlockOutput {
    let page = page(path);
    let block = page
        .blocks
        .iter()
        .find(|b| b.block.options.label.as_deref() == Some(label))
        .unwrap_or_else(|| panic!("no block `{label}` in {path}"));
    block
        .output
        .as_ref()
        .unwrap_or_else(|| panic!("block `{label}` of {path} has no output"))
}

#[test]
fn notebook_bindings_carry_across_blocks() {
    assert_eq!(
        output("content/notebook.md", "setup").stdout,
        "a = [[1.0, 2.0], [3.0, 4.0]]\n"
    );
    let matmul = output("content/notebook.md", "matmul");
    assert_eq!(
        matmul.stdout,
        "a·aᵀ = [[5.0, 11.0], [11.0, 25.0]]\nscaled = 520.0\n"
    );
    assert!(matmul.failure.is_none());
}

#[test]
fn stderr_belongs_to_its_block() {
    assert_eq!(
        output("content/notebook.md", "matmul").stderr,
        "note from matmul\n"
    );
    assert_eq!(output("content/notebook.md", "setup").stderr, "");
}

#[test]
fn linear_layer_output_is_captured() {
    let linear = output("content/notebook.md", "linear");
    assert_eq!(
        linear.stdout,
        "linear = [2, 3] [[1.5, 3.0, 3.0], [3.5, 7.0, 7.0]]\n"
    );
}

#[test]
fn plain_rust_block_is_not_executed() {
    let notebook = page("content/notebook.md");
    assert_eq!(notebook.blocks.len(), 6);
    assert_eq!(notebook.source, OutputSource::Executed);
    assert!(
        notebook
            .blocks
            .iter()
            .all(|b| b.output.as_ref().is_some_and(|o| o.failure.is_none()))
    );
    assert_eq!(page("content/prose.md").source, OutputSource::NoBlocks);
}

#[test]
fn hidden_lines_compile_but_are_not_shown() {
    let setup = &page("content/notebook.md").blocks[0];
    let source = setup.block.display_source();
    assert!(!source.contains("hidden_scale"), "{source}");
    assert!(!source.contains("//|"), "{source}");
    assert!(
        source.starts_with("use candle_core::{DType, Device, Tensor};\nlet device"),
        "{source}"
    );
}

#[test]
fn asis_output_is_kept_verbatim() {
    let asis = page("content/notebook.md").blocks[3]
        .output
        .as_ref()
        .unwrap();
    assert_eq!(
        asis.stdout,
        "| n | n² |\n|---|----|\n| 1 | 1 |\n| 2 | 4 |\n| 3 | 9 |\n"
    );
}

#[test]
fn figure_is_attached_and_frozen() {
    let (site, _) = build();
    let plot = output("content/notebook.md", "plot");
    assert_eq!(plot.stdout, "wrote 4 bars\n");
    assert_eq!(plot.figures.len(), 1);

    let figure = &plot.figures[0];
    assert_eq!(figure.file, "figures/plot/bars.svg");
    assert_eq!(figure.mime, "image/svg+xml");
    assert_eq!(
        figure.source,
        site.path("_freeze/content/notebook/figures/plot/bars.svg")
    );
    let svg = fs::read_to_string(&figure.source).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("<rect"), "{svg}");

    let block = page("content/notebook.md")
        .blocks
        .iter()
        .find(|b| b.block.options.label.as_deref() == Some("plot"))
        .unwrap();
    let html = render_block_html(block, &HtmlParts::default(), &Catalog::new(Lang::Ja));
    assert!(
        html.contains("<img src=\"figures/plot/bars.svg\" alt=\"A bar per entry of a\">"),
        "{html}"
    );
    assert!(
        html.contains("<figcaption>A bar per entry of a</figcaption>"),
        "{html}"
    );
}

#[test]
fn stdin_reads_eof_and_path_dependency_links() {
    assert_eq!(
        output("content/notebook.md", "stdin").stdout,
        "stdin: 0 bytes; answer: 42\n"
    );
}

#[test]
fn freeze_entry_is_written_for_passing_pages() {
    let (site, _) = build();
    let entry = fs::read_to_string(site.path("_freeze/content/notebook/page.json")).unwrap();
    assert!(
        entry.contains("\"stdout\": \"a = [[1.0, 2.0], [3.0, 4.0]]\\n\""),
        "{entry}"
    );
    assert!(entry.contains("\"rustc\": \"rustc 1.95.0"), "{entry}");
    assert!(site.path("_freeze/content/failures/page.json").is_file());
    assert!(!site.path("_freeze/content/broken").exists());
    assert!(!site.path("_freeze/content/panics").exists());
}

#[test]
fn type_error_names_markdown_line() {
    let (site, report) = build();
    let line = line_of(site, "content/broken.md", "let n: usize = total;");
    let failure = report
        .failures
        .iter()
        .find(|f| f.page == Path::new("content/broken.md"))
        .expect("broken.md fails");
    let text = failure.to_string();
    assert!(text.contains("failed to compile"), "{text}");
    assert!(text.contains("error[E0308]: mismatched types"), "{text}");
    assert!(
        text.contains(&format!("--> content/broken.md:{line}:16")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{line} | let n: usize = total;")),
        "{text}"
    );
    assert!(!text.contains("src/bin/"), "{text}");
    assert_eq!(
        failure.line,
        line - 1,
        "the failure points at the block's opening fence"
    );
}

#[test]
fn panic_reports_block_and_stderr_tail() {
    let (site, report) = build();
    let failure = report
        .failures
        .iter()
        .find(|f| f.page == Path::new("content/panics.md"))
        .expect("panics.md fails");
    let panic_line = line_of(site, "content/panics.md", "let first = v[0];");
    assert_eq!(failure.line, panic_line - 3);
    assert!(failure.summary.contains("panicked"), "{}", failure.summary);
    assert!(
        failure.detail.contains("index out of bounds"),
        "{}",
        failure.detail
    );
    assert!(
        failure
            .detail
            .contains(&format!("content/panics.md:{panic_line}:14")),
        "{}",
        failure.detail
    );

    let panics = page("content/panics.md");
    assert_eq!(
        panics.blocks[0].output.as_ref().unwrap().stdout,
        "first block ran\n"
    );
    assert_eq!(
        panics.blocks[1].output.as_ref().unwrap().stdout,
        "about to panic\n"
    );
    assert!(
        panics.blocks[2].output.is_none(),
        "a block after a panic does not run"
    );
}

#[test]
fn every_failure_is_collected() {
    let (site, report) = build();
    let mut pages: Vec<&Path> = report.failures.iter().map(|f| f.page.as_path()).collect();
    pages.sort();
    assert_eq!(
        pages,
        vec![
            Path::new("content/broken.md"),
            Path::new("content/options.md"),
            Path::new("content/panics.md")
        ]
    );

    assert_eq!(page("content/options.md").source, OutputSource::Missing);
    let options = report
        .failures
        .iter()
        .find(|f| f.page == Path::new("content/options.md"))
        .unwrap();
    assert_eq!(
        options.line,
        line_of(site, "content/options.md", "//| ecco")
    );
    assert!(
        options.summary.contains("did you mean `echo`?"),
        "{}",
        options.summary
    );

    let error = report.ensure_success().unwrap_err().to_string();
    assert!(error.starts_with("3 code block failure(s):"), "{error}");
}

#[test]
fn allowed_panic_is_shown_and_page_goes_on() {
    let (site, _) = build();
    let panic = output("content/failures.md", "panic");
    assert_eq!(panic.stdout, "before the panic\n");
    let failure = panic.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::Panic);
    let line = line_of(site, "content/failures.md", "panic!(\"boom");
    assert!(
        panic.stderr.contains(&format!(
            "thread 'main' panicked at content/failures.md:{line}:1:\nboom at block two"
        )),
        "{}",
        panic.stderr
    );

    assert_eq!(
        output("content/failures.md", "after").stdout,
        "after failures: 42\n"
    );
}

#[test]
fn allowed_question_mark_error_is_shown() {
    let output = output("content/failures.md", "question-mark");
    assert_eq!(output.failure.as_ref().unwrap().kind, FailureKind::Error);
    assert_eq!(output.stderr, "Error: invalid digit found in string\n");
}

#[test]
fn allowed_compile_error_is_shown() {
    let (site, _) = build();
    let failure = output("content/failures.md", "type-error")
        .failure
        .as_ref()
        .unwrap();
    assert_eq!(failure.kind, FailureKind::Compile);
    let line = line_of(site, "content/failures.md", "let n: u32 = \"text\";");
    assert!(
        failure
            .message
            .contains(&format!("content/failures.md:{line}:14")),
        "{}",
        failure.message
    );
}

#[test]
fn invalid_utf8_output_fails_block() {
    let output = output("content/failures.md", "invalid-utf8");
    let failure = output.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::InvalidUtf8);
    assert!(
        failure
            .message
            .contains("stdout is not valid UTF-8: the first invalid byte is at offset 2"),
        "{}",
        failure.message
    );
    assert_eq!(output.stdout, "ok\u{fffd}\u{fffd}\n");
}

#[test]
fn output_over_cap_is_cut() {
    let output = output("content/failures.md", "too-much");
    assert_eq!(output.stdout.len(), 1 << 20);
    assert_eq!(output.stdout_omitted, (2048 * 1024 - (1 << 20)) as u64);
    assert_eq!(
        output.failure.as_ref().unwrap().kind,
        FailureKind::OutputTooLarge
    );
}

#[test]
fn timeout_kills_block_and_its_children() {
    let output = output("content/failures.md", "timeout");
    let failure = output.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert!(
        failure.message.contains("timeout of 2 s"),
        "{}",
        failure.message
    );

    let pid: u32 = output
        .stdout
        .trim()
        .strip_prefix("child ")
        .expect("the block printed its child's pid")
        .parse()
        .unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/stat"));
    // Gone, or a zombie waiting for a reaper: either way no longer running.
    let running = status.is_ok_and(|stat| {
        stat.split_whitespace()
            .nth(2)
            .is_none_or(|state| state != "Z")
    });
    assert!(!running, "sleep {pid} still runs");
}

#[test]
fn process_exit_in_allowed_block_is_isolated() {
    let (_, report) = build();
    let exit = output("content/failures.md", "exit");
    let failure = exit.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::Exit);
    assert!(
        failure.message.contains("exited with status 3"),
        "{}",
        failure.message
    );
    assert_eq!(exit.stderr, "leaving early\n");
    // failures.md ran three times (the timeout and the exit each end the process), the
    // other passing or failing pages once each.
    assert_eq!(report.stats.program_runs, 3 + 2);
}
