//! Test sites for the exec engine: the fixture site copied into a temporary directory,
//! with the workspace's `Cargo.lock` and toolchain file, built into one target directory
//! shared by every test so that candle compiles once per test run.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::fs;
use std::path::{Path, PathBuf};

use survey::exec::{Engine, EngineOptions, ExecReport, ExecSettings, FreezeMode, Page};

pub const SETTINGS: &str = r#"
dependencies:
  candle-core: "0.11.1"
  candle-nn: "0.11.1"
  anyhow: "1"
  exec-fixture: { path: fixture-dep }
"#;

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Target directory shared by all exec tests (and kept between test runs).
pub fn shared_target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exec-target")
}

/// A copy of the fixture site with some of its pages.
pub struct Site {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Site {
    /// Copies the fixture pages named in `pages` (file names under `content/`).
    pub fn new(pages: &[&str]) -> Site {
        // Under the target directory, so that a site held by a static (never dropped) is
        // removed by `cargo clean` rather than left in the system's temporary directory.
        let parent = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exec-sites");
        fs::create_dir_all(&parent).unwrap();
        let dir = tempfile::Builder::new()
            .prefix("site-")
            .tempdir_in(&parent)
            .expect("temporary directory");
        let root = dir.path().to_path_buf();
        let fixture = manifest_dir().join("tests/fixtures/exec/site");

        fs::create_dir_all(root.join("content")).unwrap();
        for page in pages {
            fs::copy(
                fixture.join("content").join(page),
                root.join("content").join(page),
            )
            .unwrap();
        }
        fs::create_dir_all(root.join("fixture-dep/src")).unwrap();
        for file in ["Cargo.toml", "src/lib.rs"] {
            fs::copy(
                fixture.join("fixture-dep").join(file),
                root.join("fixture-dep").join(file),
            )
            .unwrap();
        }
        fs::copy(manifest_dir().join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
        fs::copy(
            manifest_dir().join("rust-toolchain.toml"),
            root.join("rust-toolchain.toml"),
        )
        .unwrap();
        Site { _dir: dir, root }
    }

    pub fn options(&self, mode: FreezeMode) -> EngineOptions {
        let settings: ExecSettings = serde_yaml::from_str(SETTINGS).unwrap();
        let mut options = EngineOptions::new(&self.root, settings);
        options.settings.target_dir = Some(shared_target_dir());
        options.mode = mode;
        options.progress = false;
        options
    }

    /// Runs the engine over every page under `content/`, in file-name order.
    pub fn execute(&self, options: EngineOptions) -> ExecReport {
        let pages = self.pages();
        let borrowed: Vec<Page> = pages
            .iter()
            .map(|(path, body, line)| Page {
                path,
                body,
                body_line: *line,
            })
            .collect();
        Engine::new(options)
            .execute(&borrowed)
            .expect("engine runs")
    }

    /// Reads the pages: path relative to the root, body after the front matter, and the
    /// line the body starts on.
    pub fn pages(&self) -> Vec<(PathBuf, String, usize)> {
        let mut paths: Vec<PathBuf> = fs::read_dir(self.root.join("content"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let text = fs::read_to_string(&path).unwrap();
                let (body, line) = split_front_matter(&text);
                (
                    path.strip_prefix(&self.root).unwrap().to_path_buf(),
                    body.to_string(),
                    line,
                )
            })
            .collect()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Replaces `from` with `to` in a file of the site; panics when `from` is absent.
    pub fn edit(&self, relative: &str, from: &str, to: &str) {
        let path = self.path(relative);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{relative} does not contain {from:?}");
        fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
}

fn split_front_matter(text: &str) -> (&str, usize) {
    let rest = text
        .strip_prefix("---\n")
        .expect("fixture pages start with front matter");
    let end = rest.find("\n---\n").expect("front matter is closed");
    let header_lines = rest[..end].lines().count() + 2;
    (&rest[end + 5..], header_lines + 1)
}

/// Returns the line (from 1) of the first line of `relative` that contains `needle`.
pub fn line_of(site: &Site, relative: &str, needle: &str) -> usize {
    let text = fs::read_to_string(site.path(relative)).unwrap();
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {relative}"))
        + 1
}
