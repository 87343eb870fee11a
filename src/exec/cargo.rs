//! Compiling page programs with one `cargo build --message-format=json` invocation.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::error::ExecError;
use super::progress::Progress;

/// A diagnostic rustc reported for a page binary.
#[derive(Debug, Clone)]
pub(crate) struct Diagnostic {
    pub is_error: bool,
    pub rendered: String,
    /// Generated line (from 1) of the span that locates the diagnostic in the page
    /// program, following macro expansions back to the call site.
    pub line: Option<usize>,
}

/// What one cargo invocation produced.
#[derive(Debug, Default)]
pub(crate) struct BuildOutcome {
    /// Executable of each binary that compiled.
    pub executables: BTreeMap<String, PathBuf>,
    /// Diagnostics per binary.
    pub diagnostics: BTreeMap<String, Vec<Diagnostic>>,
    /// Errors in crates other than the page binaries, rendered.
    pub dependency_errors: Vec<String>,
    pub success: bool,
    /// Cargo's own stderr, for failures that rustc did not report.
    pub stderr: String,
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    message: Option<CompilerMessage>,
    #[serde(default)]
    executable: Option<PathBuf>,
    #[serde(default)]
    success: Option<bool>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    #[serde(default)]
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct CompilerMessage {
    level: String,
    #[serde(default)]
    rendered: Option<String>,
    #[serde(default)]
    spans: Vec<Span>,
    #[serde(default)]
    children: Vec<CompilerMessage>,
}

#[derive(Deserialize)]
struct Span {
    file_name: String,
    line_start: usize,
    is_primary: bool,
    #[serde(default)]
    expansion: Option<Box<Expansion>>,
}

#[derive(Deserialize)]
struct Expansion {
    span: Span,
}

/// Builds `bins` of the project in release mode into `target_dir`, with `--keep-going` so
/// that one page's compile error does not hide another's.
pub(crate) fn build(
    cargo: &Path,
    project_dir: &Path,
    target_dir: &Path,
    bins: &[String],
    progress: &Progress,
) -> Result<BuildOutcome, ExecError> {
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--keep-going",
            "--message-format=json",
        ])
        .arg("--manifest-path")
        .arg(project_dir.join("Cargo.toml"))
        .current_dir(project_dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for bin in bins {
        command.arg("--bin").arg(bin);
    }
    let program = cargo.display().to_string();
    let mut child = command
        .spawn()
        .map_err(|source| ExecError::Spawn { program, source })?;

    let stderr_pipe = child.stderr.take().expect("stderr is piped");
    let live = progress.verbose().then(|| progress.clone());
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr_pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(progress) = &live {
                progress.println(&line);
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });

    let mut outcome = BuildOutcome::default();
    let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut compiled = 0;
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<Message>(&line) else {
            continue;
        };
        match message.reason.as_str() {
            "compiler-artifact" => {
                compiled += 1;
                let Some(target) = message.target else {
                    continue;
                };
                progress.compiled(compiled, &target.name);
                if let Some(executable) = message.executable
                    && bins.contains(&target.name)
                {
                    outcome.executables.insert(target.name, executable);
                }
            }
            "compiler-message" => {
                let (Some(target), Some(message)) = (message.target, message.message) else {
                    continue;
                };
                record_message(&mut outcome, bins, target, message);
            }
            "build-finished" => outcome.success = message.success.unwrap_or(false),
            _ => {}
        }
    }

    let status = child.wait().map_err(|source| ExecError::Spawn {
        program: cargo.display().to_string(),
        source,
    })?;
    outcome.stderr = stderr_reader.join().unwrap_or_default();
    outcome.success &= status.success();
    Ok(outcome)
}

fn record_message(
    outcome: &mut BuildOutcome,
    bins: &[String],
    target: Target,
    message: CompilerMessage,
) {
    let is_error = message.level == "error";
    let Some(rendered) = message.rendered.clone() else {
        return;
    };
    let is_page = bins.contains(&target.name) && target.kind.iter().any(|k| k == "bin");
    if !is_page {
        if is_error {
            outcome
                .dependency_errors
                .push(format!("{} (crate `{}`)\n{rendered}", "error", target.name));
        }
        return;
    }
    // "N warnings emitted" and similar summaries carry no span.
    if message.spans.is_empty() && !is_error {
        return;
    }
    let generated = super::project::Project::relative_source(&target.name);
    let line = locate(&message, &generated);
    outcome
        .diagnostics
        .entry(target.name)
        .or_default()
        .push(Diagnostic {
            is_error,
            rendered,
            line,
        });
}

/// Finds the generated line a diagnostic is about: its primary span in the page program,
/// else the page-program call site of a macro expansion, else any span or child span
/// in the page program.
fn locate(message: &CompilerMessage, generated: &str) -> Option<usize> {
    fn in_file(span: &Span, generated: &str) -> Option<usize> {
        let mut current = span;
        loop {
            if current.file_name == generated {
                return Some(current.line_start);
            }
            current = &current.expansion.as_ref()?.span;
        }
    }
    let primary = message
        .spans
        .iter()
        .filter(|s| s.is_primary)
        .find_map(|s| in_file(s, generated));
    primary
        .or_else(|| message.spans.iter().find_map(|s| in_file(s, generated)))
        .or_else(|| message.children.iter().find_map(|c| locate(c, generated)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_located_through_macro_expansion() {
        let json = r#"{"level":"error","rendered":"x","spans":[{"file_name":"/registry/src/lib.rs","line_start":3,"is_primary":true,
            "expansion":{"span":{"file_name":"src/bin/p.rs","line_start":12,"is_primary":false}}}],"children":[]}"#;
        let message: CompilerMessage = serde_json::from_str(json).unwrap();
        assert_eq!(locate(&message, "src/bin/p.rs"), Some(12));
        assert_eq!(locate(&message, "src/bin/q.rs"), None);
    }
}
