//! `survey build` on a fixture site whose pages run real candle code blocks:
//! outputs and figures in the HTML, failures that keep the previous site, the
//! freeze modes, and a rebuild that starts no compiler.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{broken_links, check_well_formed, html_files, read, repo_root, stderr, survey, survey_command, visible_text};

const PAGE: &str = "content/tensors.md";

/// Copies `tests/fixtures/executed` with the workspace's `Cargo.lock` and
/// toolchain file, so the blocks use the versions and compiler the workspace
/// pins.
fn site() -> tempfile::TempDir {
    let dir = common::copy_fixture("executed");
    for file in ["Cargo.lock", "rust-toolchain.toml"] {
        fs::copy(repo_root().join(file), dir.path().join(file)).unwrap();
    }
    dir
}

fn build_ok(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let output = survey(dir, &all);
    assert!(output.status.success(), "survey {all:?} failed:\n{}", stderr(&output));
    output
}

fn build_fails(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let output = survey(dir, &all);
    assert_eq!(output.status.code(), Some(1), "survey {all:?} should fail:\n{}", stderr(&output));
    stderr(&output)
}

/// Replaces the first `from` in a file of the site.
fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = read(&path);
    assert!(text.contains(from), "{file} does not contain {from:?}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Line (from 1) of the first line of `file` that contains `needle`.
fn line_of(dir: &Path, file: &str, needle: &str) -> usize {
    read(dir.join(file)).lines().position(|line| line.contains(needle)).unwrap_or_else(|| panic!("{needle:?} not in {file}")) + 1
}

/// Lists every file under `dir` with its content, for comparing a site
/// before and after a failed build.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| (entry.path().strip_prefix(dir).unwrap().to_path_buf(), fs::read(entry.path()).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn executed_page_shows_real_outputs_and_figure() {
    let dir = site();
    // Blocks compile into the target directory under this repository's
    // target/, never into the user's cache.
    let user_cache = tempfile::tempdir().unwrap();
    let output = survey_command(dir.path(), &["build", "--base-url", "/sub/"]).env("XDG_CACHE_HOME", user_cache.path()).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("コードブロック: 1 ページを実行し"), "{}", stderr(&output));
    assert_eq!(fs::read_dir(user_cache.path()).unwrap().count(), 0, "the build wrote to the user cache");
    assert!(common::exec_target_dir().join("release").is_dir());

    let out = dir.path().join("site");
    let html = read(out.join("tensors/index.html"));
    let text = visible_text(&html);
    // Values computed by candle when the site was built.
    assert!(text.contains("a = [[1.0, 2.0], [3.0, 4.0]]"), "{text}");
    assert!(text.contains("b = [[50.0, 110.0], [110.0, 250.0]]"), "notebook: `a` and the hidden `scale` carry over\n{text}");
    assert!(text.contains("y = [[1.5, 3.0, 3.0], [3.5, 7.0, 7.0]]"), "{text}");
    assert!(html.contains("<div class=\"exec-block\" id=\"setup\">"), "{html}");
    assert!(html.contains("<div class=\"exec-label\">出力</div><pre class=\"exec-stdout\" tabindex=\"0\"><code>a = [[1.0, 2.0], [3.0, 4.0]]\n</code></pre>"), "{html}");
    assert!(!text.contains("let scale"), "hidden lines are not shown");
    assert!(!text.contains("//|"), "option lines are not shown");
    assert!(!text.contains("Linear::new"), "echo: false hides the source");
    assert!(text.contains("panic!(\"never run\")"), "a plain rust block is shown, not run");

    // `output: asis` goes through the Markdown renderer: table, math, citation.
    let asis_start = html.find("<div class=\"exec-asis\">").expect("asis output");
    let asis = &html[asis_start..];
    assert!(asis.starts_with("<div class=\"exec-asis\">\n<div class=\"table-scroll\" tabindex=\"0\">\n<table>"), "{asis}");
    assert!(asis.contains("<td>3</td><td>9</td>"), "{asis}");
    assert!(asis.contains("<annotation encoding=\"application/x-tex\">n^2</annotation>"), "{asis}");
    assert!(asis.contains("<a class=\"cite\" href=\"/sub/bibliography/#ref-vaswani2017attention\""), "{asis}");

    // The figure is copied next to the page and addressed under the base path.
    assert!(html.contains("<figure class=\"exec-figure\">\n<img src=\"/sub/tensors/figures/plot/bars.svg\" alt=\"行列 a の成分\">"), "{html}");
    assert!(html.contains("<figcaption>行列 a の成分</figcaption>"), "{html}");
    let svg = read(out.join("tensors/figures/plot/bars.svg"));
    assert_eq!(svg.matches("<rect").count(), 4, "{svg}");

    // A block with `error: true` shows its failure and the build goes on.
    let failure = &html[html.find("id=\"shown-failure\"").expect("error block")..];
    assert!(failure.contains("<div class=\"exec-error\"><div class=\"exec-label\">エラー</div>"), "{failure}");
    assert!(failure.contains("index out of bounds"), "{failure}");

    for file in html_files(&out) {
        check_well_formed(&read(&file)).unwrap_or_else(|problem| panic!("{}: {problem}", file.display()));
    }
    let broken = broken_links(&out, "/sub/");
    assert!(broken.is_empty(), "{broken:#?}");

    assert!(dir.path().join("_freeze/content/tensors/page.json").is_file());
    assert!(dir.path().join("_freeze/content/tensors/figures/plot/bars.svg").is_file());
    assert!(!dir.path().join("_freeze/content/plain").exists(), "pages without blocks have no entry");
}

/// Wrapper scripts for `cargo` and `rustc`, given to the binary through the
/// `CARGO` and `RUSTC` variables, that log each call and run the real
/// program.
struct Recorder {
    log: PathBuf,
    cargo: PathBuf,
    rustc: PathBuf,
}

impl Recorder {
    fn new(dir: &Path) -> Recorder {
        let bin = dir.join("recorder");
        fs::create_dir_all(&bin).unwrap();
        let log = bin.join("calls.log");
        fs::write(&log, "").unwrap();
        let real_cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let real_rustc = std::env::var("RUSTC").ok();
        // Cargo itself must compile with the rustc it would use without the
        // recorder, or the shared target directory would be rebuilt.
        let restore_rustc = match &real_rustc {
            Some(rustc) => format!("export RUSTC='{rustc}'"),
            None => "unset RUSTC".to_string(),
        };
        let write = |name: &str, body: String| {
            let path = bin.join(name);
            fs::write(&path, format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n", log.display())).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let cargo = write("cargo", format!("{restore_rustc}\nexec '{real_cargo}' \"$@\""));
        let rustc = write("rustc", format!("exec '{}' \"$@\"", real_rustc.as_deref().unwrap_or("rustc")));
        Recorder { log, cargo, rustc }
    }

    fn build(&self, dir: &Path, args: &[&str]) -> Output {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        let output = survey_command(dir, &all).env("CARGO", &self.cargo).env("RUSTC", &self.rustc).output().unwrap();
        assert!(output.status.success(), "survey {all:?} failed:\n{}", stderr(&output));
        output
    }

    fn calls(&self) -> Vec<String> {
        read(&self.log).lines().map(str::to_string).collect()
    }
}

#[test]
fn unchanged_rebuild_starts_no_cargo_or_rustc() {
    let dir = site();
    let recorder = Recorder::new(dir.path());
    recorder.build(dir.path(), &[]);
    let calls = recorder.calls();
    assert_eq!(calls.iter().filter(|call| call.starts_with("cargo build")).count(), 1, "{calls:?}");
    assert!(calls.contains(&"rustc -vV".to_string()), "{calls:?}");
    let first = read(dir.path().join("site/tensors/index.html"));

    let output = recorder.build(dir.path(), &[]);
    assert_eq!(recorder.calls(), calls, "an unchanged rebuild started cargo or rustc");
    assert!(stderr(&output).contains("0 ページを実行し、1 ページは _freeze/ の出力を使いました"), "{}", stderr(&output));
    assert_eq!(read(dir.path().join("site/tensors/index.html")), first, "outputs come from the freeze");

    recorder.build(dir.path(), &["--frozen"]);
    assert_eq!(recorder.calls(), calls, "--frozen with a fresh freeze started cargo or rustc");
    assert!(dir.path().join("site/tensors/figures/plot/bars.svg").is_file(), "figures come from the freeze");
}

#[test]
fn failing_blocks_fail_once_and_keep_the_site() {
    let dir = site();
    build_ok(dir.path(), &[]);
    let before = snapshot(&dir.path().join("site"));

    edit(dir.path(), PAGE, "let b = (a.matmul(&a.t()?)? * scale)?;", "let b: usize = a.matmul(&a.t()?)?;");
    let line = line_of(dir.path(), PAGE, "let b: usize");
    fs::write(
        dir.path().join("content/panics.md"),
        "---\ntitle: パニック\n---\n本文\n\n```rust,exec\nlet v = vec![1, 2];\nprintln!(\"{}\", v[5]);\n```\n",
    )
    .unwrap();

    let messages = build_fails(dir.path(), &[]);
    // rustc's error, located in the Markdown file rather than the generated program.
    assert!(messages.contains(&format!("--> {PAGE}:{line}:16")), "{messages}");
    assert!(messages.contains("error[E0308]"), "{messages}");
    assert!(messages.contains(&format!("エラー: {PAGE}:{}: コードブロック `matmul` をコンパイルできません", line - 2)), "{messages}");
    assert!(messages.contains("修正方法: ブロックを直してください。"), "{messages}");
    assert!(!messages.contains("src/bin/"), "no location in the generated program: {messages}");
    // The other page's panic is reported by the same build.
    assert!(messages.contains("エラー: content/panics.md:6: コードブロック `block-1` がパニックしました"), "{messages}");
    assert!(messages.contains("index out of bounds"), "{messages}");
    assert!(messages.contains("ビルドに失敗しました (エラー 2 件)。site/ は変更していません。"), "{messages}");

    assert_eq!(snapshot(&dir.path().join("site")), before, "a failed build changed site/");
}

#[test]
fn frozen_fails_on_stale_entry_and_no_exec_warns() {
    let dir = site();
    build_ok(dir.path(), &[]);
    let before = snapshot(&dir.path().join("site"));
    edit(dir.path(), PAGE, "let a = Tensor::new(&[[1f32, 2.], [3., 4.]], &device)?;", "let a = Tensor::new(&[[2f32, 2.], [3., 4.]], &device)?;");
    let fence = line_of(dir.path(), PAGE, "```rust,exec");

    let messages = build_fails(dir.path(), &["--frozen"]);
    assert!(messages.contains(&format!("エラー: {PAGE}:{fence}: _freeze/ の出力が古くなっています (凍結後に変わったもの: コードブロック)")), "{messages}");
    assert!(messages.contains("修正方法: `survey build` でページを実行し直し、更新した _freeze/ をコミットしてください。"), "{messages}");
    assert_eq!(snapshot(&dir.path().join("site")), before, "a failed build changed site/");

    let output = build_ok(dir.path(), &["--no-exec"]);
    assert!(
        stderr(&output).contains(&format!("警告: {PAGE}:{fence}: コードブロックの出力が最新ではありません (凍結後に変わったもの: コードブロック)。")),
        "{}",
        stderr(&output)
    );
    let html = read(dir.path().join("site/tensors/index.html"));
    assert!(visible_text(&html).contains("a = [[1.0, 2.0], [3.0, 4.0]]"), "--no-exec shows the stale output");

    // `-v` streams what the blocks print while they run.
    let output = build_ok(dir.path(), &["--refresh", "-v"]);
    assert!(stderr(&output).contains("a = [[2.0, 2.0], [3.0, 4.0]]"), "{}", stderr(&output));
    let html = read(dir.path().join("site/tensors/index.html"));
    assert!(visible_text(&html).contains("a = [[2.0, 2.0], [3.0, 4.0]]"));
    build_ok(dir.path(), &["--frozen"]);
}

#[test]
fn clean_keeps_the_freeze() {
    let dir = site();
    for file in ["site/index.html", ".survey/exec/Cargo.toml", "_freeze/content/tensors/page.json"] {
        let path = dir.path().join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "x").unwrap();
    }
    let output = survey(dir.path(), &["clean"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!dir.path().join("site").exists());
    assert!(!dir.path().join(".survey").exists());
    assert_eq!(read(dir.path().join("_freeze/content/tensors/page.json")), "x");
    let messages = stderr(&output);
    assert!(messages.contains("site/ を削除しました。"), "{messages}");
    assert!(messages.contains(".survey/ を削除しました。"), "{messages}");
    assert!(messages.contains("_freeze/ は残しました。"), "{messages}");
}
