//! Running a page program: one process per page in its own process group, stdin at EOF,
//! stdout and stderr split per block, a timeout per block, figure files collected.
//!
//! When an `error: true` block ends the whole process (timeout, `std::process::exit`,
//! abort), its failure is recorded and the program runs again with that block skipped,
//! so the rest of the page still runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::block::ExecBlock;
use super::capture::{Captured, Marker, Splitter};
use super::codegen::{FIGURE_DIR_VAR, MARKER_VAR, SKIP_VAR, STASH_VAR};
use super::diagnostic::LocationMapper;
use super::error::{ExecError, IoContext};
use super::progress::Progress;
use super::report::{BlockFailure, BlockOutput, FailureKind, Figure};

/// How long to wait for the output pipes to close after the process group was killed.
const PIPE_GRACE: Duration = Duration::from_secs(5);

/// Everything needed to run one page program.
pub(crate) struct RunSpec<'a> {
    pub executable: &'a Path,
    /// Working directory of the program: the site root.
    pub site_root: &'a Path,
    /// Scratch directory of this page's runs (figure directories live here).
    pub run_dir: PathBuf,
    pub page: &'a Path,
    pub blocks: &'a [ExecBlock],
    pub timeouts: Vec<Duration>,
    pub max_output: u64,
    pub mapper: &'a LocationMapper<'a>,
    pub progress: &'a Progress,
    /// Outputs of `error: true` blocks left out of the program because they did not compile.
    pub left_out: &'a BTreeMap<usize, BlockOutput>,
}

/// The outputs of a page's blocks; `None` for blocks that never ran.
pub(crate) struct PageRun {
    pub outputs: Vec<Option<BlockOutput>>,
    pub processes: usize,
}

/// Runs a page program, retrying without each `error: true` block that ended the process.
pub(crate) fn run_page(spec: &RunSpec) -> Result<PageRun, ExecError> {
    let mut skip: BTreeSet<usize> = BTreeSet::new();
    let mut recorded: BTreeMap<usize, BlockOutput> = spec.left_out.clone();
    let mut processes = 0;

    loop {
        processes += 1;
        let attempt = run_once(spec, &skip)?;
        let mut outputs = interpret(spec, &attempt);

        if let Some(fatal) = attempt.fatal_block()
            && spec.blocks.get(fatal).is_some_and(|b| b.options.error)
            && !skip.contains(&fatal)
            && !recorded.contains_key(&fatal)
        {
            if let Some(output) = outputs[fatal].take() {
                recorded.insert(fatal, output);
            }
            skip.insert(fatal);
            continue;
        }

        for (index, output) in recorded {
            outputs[index] = Some(output);
        }
        return Ok(PageRun { outputs, processes });
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

enum ReaderEvent {
    Marker(Stream, Marker, Instant),
    Done(Stream, BTreeMap<usize, Captured>),
}

/// Reports received from the reader threads so far.
struct Collected {
    markers: Vec<(Stream, Marker)>,
    captures: [Option<BTreeMap<usize, Captured>>; 2],
    /// The block running now and when it started.
    current: (usize, Instant),
}

impl Collected {
    fn record(&mut self, event: ReaderEvent, spec: &RunSpec) {
        match event {
            ReaderEvent::Marker(stream, marker, at) => {
                if let (Stream::Stdout, Marker::Begin(block)) = (stream, marker) {
                    self.current = (block, at);
                    spec.progress.running(spec.page, block, spec.blocks.len());
                }
                self.markers.push((stream, marker));
            }
            ReaderEvent::Done(stream, captured) => self.captures[stream as usize] = Some(captured),
        }
    }
}

/// The result of one process of a page program.
struct Attempt {
    stdout: BTreeMap<usize, Captured>,
    stderr: BTreeMap<usize, Captured>,
    started: Vec<usize>,
    ended: bool,
    /// `error: true` blocks that reported a caught panic (`true`) or error (`false`).
    caught: BTreeMap<usize, bool>,
    status: ExitStatus,
    timed_out: bool,
    stash: PathBuf,
    /// Set when the pipes stayed open after the process group was killed.
    pipe_note: Option<String>,
}

impl Attempt {
    /// Returns the block during which the process ended early, if it did.
    fn fatal_block(&self) -> Option<usize> {
        if self.ended && self.status.success() && !self.timed_out {
            return None;
        }
        Some(self.started.last().copied().unwrap_or(0))
    }
}

fn run_once(spec: &RunSpec, skip: &BTreeSet<usize>) -> Result<Attempt, ExecError> {
    let figures = spec.run_dir.join("figures");
    let stash = spec.run_dir.join("by-block");
    for dir in [&figures, &stash] {
        if dir.exists() {
            fs::remove_dir_all(dir).at(dir)?;
        }
        fs::create_dir_all(dir).at(dir)?;
    }

    let nonce = format!(
        "{:016x}",
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    );
    let skip_list: Vec<String> = skip.iter().map(|i| i.to_string()).collect();
    let mut command = Command::new(spec.executable);
    command
        .current_dir(spec.site_root)
        .env(FIGURE_DIR_VAR, &figures)
        .env(MARKER_VAR, &nonce)
        .env(STASH_VAR, &stash)
        .env(SKIP_VAR, skip_list.join(","))
        // Backtraces carry addresses and depend on the caller's environment; frozen
        // outputs must not.
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let program = spec.executable.display().to_string();
    let mut child = command
        .spawn()
        .map_err(|source| ExecError::Spawn { program, source })?;
    let started_at = Instant::now();
    spec.progress.running(spec.page, 0, spec.blocks.len());

    let (tx, rx) = mpsc::channel();
    let readers = [
        spawn_reader(
            child.stdout.take().expect("stdout is piped"),
            Stream::Stdout,
            &nonce,
            spec,
            tx.clone(),
        ),
        spawn_reader(
            child.stderr.take().expect("stderr is piped"),
            Stream::Stderr,
            &nonce,
            spec,
            tx,
        ),
    ];

    let mut collected = Collected {
        markers: Vec::new(),
        captures: [None, None],
        current: (0, started_at),
    };
    let mut timed_out = false;

    let status = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(event) => collected.record(event, spec),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
        if let Some(status) = child.try_wait().at(spec.executable)? {
            break status;
        }
        let (block, since) = collected.current;
        let limit = spec.timeouts.get(block).copied().unwrap_or(Duration::MAX);
        if since.elapsed() > limit {
            timed_out = true;
            kill_group(&child);
            break child.wait().at(spec.executable)?;
        }
    };

    // Processes the block started and left behind would keep the pipes open.
    kill_group(&child);
    let deadline = Instant::now() + PIPE_GRACE;
    while collected.captures.iter().any(Option::is_none) {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(remaining) {
            Ok(event) => collected.record(event, spec),
            Err(_) => break,
        }
    }
    let pipe_note = collected.captures.iter().any(Option::is_none).then(|| {
        "output pipes stayed open after the process group was killed: a process left the group (setsid) and still runs".to_string()
    });
    if pipe_note.is_none() {
        for reader in readers {
            let _ = reader.join();
        }
    }

    let Collected {
        markers, captures, ..
    } = collected;
    let [stdout, stderr] = captures;
    let mut attempt = Attempt {
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
        started: Vec::new(),
        ended: false,
        caught: BTreeMap::new(),
        status,
        timed_out,
        stash,
        pipe_note,
    };
    for (stream, marker) in markers {
        match (stream, marker) {
            (Stream::Stdout, Marker::Begin(block)) => attempt.started.push(block),
            (Stream::Stdout, Marker::End) => attempt.ended = true,
            (Stream::Stderr, Marker::Failed { block, panicked }) => {
                attempt.caught.insert(block, panicked);
            }
            _ => {}
        }
    }
    Ok(attempt)
}

fn kill_group(child: &Child) {
    // The group may already be empty; ESRCH is expected then.
    let _ = rustix::process::kill_process_group(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::KILL,
    );
}

fn spawn_reader(
    mut pipe: impl Read + Send + 'static,
    stream: Stream,
    nonce: &str,
    spec: &RunSpec,
    tx: Sender<ReaderEvent>,
) -> JoinHandle<()> {
    let mut splitter = Splitter::new(nonce, spec.max_output);
    if spec.progress.verbose() {
        let progress = spec.progress.clone();
        let prefix = format!(
            "{} {} | ",
            spec.page.display(),
            if stream == Stream::Stdout {
                "stdout"
            } else {
                "stderr"
            }
        );
        let mut line = Vec::new();
        splitter.set_live(Box::new(move |text: &[u8]| {
            for &byte in text {
                if byte == b'\n' {
                    progress.println(&format!("{prefix}{}", String::from_utf8_lossy(&line)));
                    line.clear();
                } else {
                    line.push(byte);
                }
            }
        }));
    }
    std::thread::spawn(move || {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let read = match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for marker in splitter.feed(&buffer[..read]) {
                let _ = tx.send(ReaderEvent::Marker(stream, marker, Instant::now()));
            }
        }
        let _ = tx.send(ReaderEvent::Done(stream, splitter.finish()));
    })
}

/// Turns one attempt into per-block outputs with failures.
fn interpret(spec: &RunSpec, attempt: &Attempt) -> Vec<Option<BlockOutput>> {
    let fatal = attempt.fatal_block();
    let mut outputs = vec![None; spec.blocks.len()];
    let started: BTreeSet<usize> = attempt.started.iter().copied().chain(fatal).collect();

    for index in started {
        let Some(block) = spec.blocks.get(index) else {
            continue;
        };
        let empty = Captured::default();
        let stdout = attempt.stdout.get(&index).unwrap_or(&empty);
        let stderr = attempt.stderr.get(&index).unwrap_or(&empty);
        let (stdout_text, stdout_invalid) = decode(stdout);
        let (stderr_text, stderr_invalid) = decode(stderr);
        let stderr_text = strip_thread_ids(&spec.mapper.map_locations(&stderr_text));

        let mut output = BlockOutput {
            stdout: stdout_text,
            stdout_omitted: stdout.omitted,
            stderr: stderr_text,
            stderr_omitted: stderr.omitted,
            figures: collect_figures(&attempt.stash.join(index.to_string())),
            failure: None,
        };

        output.failure = if let Some(&panicked) = attempt.caught.get(&index) {
            Some(if panicked {
                panic_failure()
            } else {
                error_failure()
            })
        } else if fatal == Some(index) {
            Some(fatal_failure(spec, block, attempt, &output.stderr))
        } else if let Some(at) = stdout_invalid.or(stderr_invalid) {
            let stream = if stdout_invalid.is_some() {
                "stdout"
            } else {
                "stderr"
            };
            Some(BlockFailure {
                kind: FailureKind::InvalidUtf8,
                message: format!(
                    "{stream} is not valid UTF-8: the first invalid byte is at offset {at}"
                ),
            })
        } else if stdout.omitted > 0 || stderr.omitted > 0 {
            Some(BlockFailure {
                kind: FailureKind::OutputTooLarge,
                message: format!(
                    "the block wrote more than the cap of {} bytes per stream: {} bytes of stdout and {} bytes of stderr were dropped",
                    spec.max_output, stdout.omitted, stderr.omitted
                ),
            })
        } else {
            None
        };
        if let (Some(failure), Some(note)) = (output.failure.as_mut(), &attempt.pipe_note) {
            failure.message.push_str(&format!("\nnote: {note}"));
        }
        outputs[index] = Some(output);
    }
    outputs
}

fn panic_failure() -> BlockFailure {
    BlockFailure {
        kind: FailureKind::Panic,
        message: "the block panicked; the panic message is in its stderr".to_string(),
    }
}

fn error_failure() -> BlockFailure {
    BlockFailure {
        kind: FailureKind::Error,
        message: "the block returned an error through `?`; the error is in its stderr".to_string(),
    }
}

fn fatal_failure(
    spec: &RunSpec,
    block: &ExecBlock,
    attempt: &Attempt,
    stderr: &str,
) -> BlockFailure {
    if attempt.timed_out {
        let limit = spec.timeouts.get(block.index).copied().unwrap_or_default();
        return BlockFailure {
            kind: FailureKind::Timeout,
            message: format!(
                "the block ran longer than its timeout of {} s and was killed with every process it started; set `//| timeout: SECONDS` to allow more",
                limit.as_secs()
            ),
        };
    }
    let status = attempt.status;
    if let Some(signal) = status.signal() {
        return BlockFailure {
            kind: FailureKind::Exit,
            message: format!(
                "the process was killed by signal {signal}{}",
                signal_name(signal)
            ),
        };
    }
    let code = status.code().unwrap_or(-1);
    if code == 101 && stderr.contains("panicked at") {
        return panic_failure();
    }
    if code == 1 && stderr.contains("Error: ") {
        return error_failure();
    }
    if status.success() {
        return BlockFailure {
            kind: FailureKind::NotRun,
            message: "the program exited (status 0) during this block, so the blocks after it did not run; do not return from `main` or call `std::process::exit` in a block".to_string(),
        };
    }
    BlockFailure {
        kind: FailureKind::Exit,
        message: format!("the process exited with status {code}"),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

/// Removes the thread id from panic headers (`thread 'main' (4242) panicked at`), which
/// differs on every run and would make frozen outputs differ too.
fn strip_thread_ids(stderr: &str) -> String {
    stderr
        .split_inclusive('\n')
        .map(|line| {
            let Some(rest) = line.strip_prefix("thread '") else {
                return line.to_string();
            };
            let Some(name_end) = rest.find("' (") else {
                return line.to_string();
            };
            let after = &rest[name_end + 3..];
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            match after[digits..].strip_prefix(") panicked at") {
                Some(tail) if digits > 0 => {
                    format!("thread '{}' panicked at{tail}", &rest[..name_end])
                }
                _ => line.to_string(),
            }
        })
        .collect()
}

/// Decodes captured bytes. A character cut by the cap is dropped; other invalid bytes are
/// replaced and reported by the offset of the first.
fn decode(captured: &Captured) -> (String, Option<usize>) {
    match std::str::from_utf8(&captured.bytes) {
        Ok(text) => (text.to_string(), None),
        Err(e) if e.error_len().is_none() && captured.omitted > 0 => (
            String::from_utf8_lossy(&captured.bytes[..e.valid_up_to()]).into_owned(),
            None,
        ),
        Err(e) => (
            String::from_utf8_lossy(&captured.bytes).into_owned(),
            Some(e.valid_up_to()),
        ),
    }
}

/// Lists the files a block wrote, sorted, with paths relative to its directory.
fn collect_figures(dir: &Path) -> Vec<Figure> {
    let mut figures: Vec<Figure> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let relative = e
                .path()
                .strip_prefix(dir)
                .unwrap_or(e.path())
                .to_string_lossy()
                .replace('\\', "/");
            let mime = mime_guess::from_path(e.path())
                .first_or_octet_stream()
                .essence_str()
                .to_string();
            Figure {
                file: relative,
                mime,
                source: e.path().to_path_buf(),
            }
        })
        .collect();
    figures.sort_by(|a, b| a.file.cmp(&b.file));
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids_are_removed_from_panic_headers() {
        let stderr =
            "\nthread 'main' (25642) panicked at a.md:1:2:\nboom\nthread 'x' (y) panicked at\n";
        assert_eq!(
            strip_thread_ids(stderr),
            "\nthread 'main' panicked at a.md:1:2:\nboom\nthread 'x' (y) panicked at\n"
        );
    }

    #[test]
    fn decode_drops_character_cut_by_cap() {
        let cut = Captured {
            bytes: "aあ".as_bytes()[..3].to_vec(),
            omitted: 1,
        };
        assert_eq!(decode(&cut), ("a".to_string(), None));

        let invalid = Captured {
            bytes: vec![b'a', 0xff, b'b'],
            omitted: 0,
        };
        assert_eq!(decode(&invalid), ("a\u{fffd}b".to_string(), Some(1)));
    }
}
