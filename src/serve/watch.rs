//! Watching a site's sources with notify. Events are debounced, so the
//! several writes and renames of one editor save arrive as one batch.

use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Duration;

use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use crate::bib::BIB_DIR;
use crate::config::{CONFIG_FILE, Config};
use crate::content::CONTENT_DIR;
use crate::site::TEMPLATES_DIR;

/// Age at which an event is reported; events of one path within it are
/// merged. An editor's save takes a few milliseconds, and every
/// millisecond here delays the reload.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// A running watcher; dropping or stopping it ends the watch and closes
/// the channel it sends on.
pub(crate) struct Watch {
    debouncer: notify_debouncer_full::Debouncer<notify::RecommendedWatcher, notify_debouncer_full::RecommendedCache>,
}

impl Watch {
    pub(crate) fn stop(self) {
        self.debouncer.stop();
    }
}

/// Watches `content/`, `templates/`, `bib/`, `survey.yaml` and the path
/// dependencies of executable blocks, and sends each batch of relevant
/// changed paths (relative to `root` where they are under it).
pub(crate) fn start(root: &Path, changes: Sender<Vec<PathBuf>>) -> notify::Result<Watch> {
    // Events carry paths below the watched ones; watching canonical paths
    // makes them comparable with the directories of the filter.
    let root = root.canonicalize()?;
    let root = root.as_path();
    let filter = Filter::new(root);
    let dirs = filter.dirs.clone();

    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        let Ok(events) = result else { return };
        let mut changed: Vec<PathBuf> = events
            .iter()
            .filter(|event| !matches!(event.kind, EventKind::Access(_)))
            .flat_map(|event| event.paths.iter())
            .filter_map(|path| filter.relevant(path))
            .collect();
        changed.sort();
        changed.dedup();
        if !changed.is_empty() {
            // The receiver is gone only while the server shuts down.
            let _ = changes.send(changed);
        }
    })?;

    // The root itself is watched without recursion for survey.yaml: a
    // recursive watch would also see site/ being replaced by every build.
    debouncer.watch(root, RecursiveMode::NonRecursive)?;
    for dir in &dirs {
        if dir.is_dir() {
            debouncer.watch(dir, RecursiveMode::Recursive)?;
        }
    }
    Ok(Watch { debouncer })
}

/// Directories watched recursively: the sources, then the path
/// dependencies of `rust,exec` blocks named in `survey.yaml`.
fn watched_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = [CONTENT_DIR, TEMPLATES_DIR, BIB_DIR].iter().map(|dir| root.join(dir)).collect();
    dirs.extend(path_dependencies(root));
    dirs
}

/// Directories of the `exec.dependencies` entries written as `{ path: … }`.
pub(crate) fn path_dependencies(root: &Path) -> Vec<PathBuf> {
    let Ok(config) = Config::load(root) else { return Vec::new() };
    config
        .exec
        .dependencies
        .values()
        .filter_map(|dependency| dependency.path().map(|path| root.join(path)))
        .collect()
}

/// Decides which changed paths call for a rebuild.
struct Filter {
    root: PathBuf,
    dirs: Vec<PathBuf>,
}

impl Filter {
    /// `root` must be canonical; the watched directories are made so too
    /// (a path dependency may be written as `../models`).
    fn new(root: &Path) -> Self {
        let dirs = watched_dirs(root).into_iter().map(|dir| dir.canonicalize().unwrap_or(dir)).collect();
        Self { root: root.to_path_buf(), dirs }
    }

    /// Returns the path to report for `path`, or `None` when a change there
    /// cannot affect the site: build output, editor swap and backup files,
    /// hidden files, and Cargo's `target/` inside a path dependency.
    fn relevant(&self, path: &Path) -> Option<PathBuf> {
        let name = path.file_name()?.to_string_lossy();
        if is_scratch_file(&name) {
            return None;
        }
        if path.parent() == Some(self.root.as_path()) {
            return (name == CONFIG_FILE).then(|| PathBuf::from(CONFIG_FILE));
        }
        let dir = self.dirs.iter().find(|dir| path.starts_with(dir))?;
        let inside = path.strip_prefix(dir).ok()?;
        let hidden_or_target = inside.components().any(|component| match component {
            Component::Normal(part) => {
                let part = part.to_string_lossy();
                part.starts_with('.') || part == "target"
            }
            _ => false,
        });
        if hidden_or_target {
            return None;
        }
        Some(path.strip_prefix(&self.root).map_or_else(|_| path.to_path_buf(), Path::to_path_buf))
    }
}

/// Files that editors write next to the one being edited: Vim's swap files
/// and its `4913` write test, Emacs lock and backup files, and other
/// `~` backups and `.tmp` files.
fn is_scratch_file(name: &str) -> bool {
    name.starts_with(".#")
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name == "4913"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_ignores_output_and_scratch_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["content/papers", "bib", "models/src", "models/target", "site"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("survey.yaml"), "title: T\nexec:\n  dependencies:\n    m: { path: models }\n").unwrap();
        let root = root.canonicalize().unwrap();
        let filter = Filter::new(&root);
        let relevant = |rel: &str| filter.relevant(&root.join(rel));

        assert_eq!(relevant("content/papers/01-a.md"), Some(PathBuf::from("content/papers/01-a.md")));
        assert_eq!(relevant("bib/refs.bib"), Some(PathBuf::from("bib/refs.bib")));
        assert_eq!(relevant("survey.yaml"), Some(PathBuf::from("survey.yaml")));
        assert_eq!(relevant("models/src/lib.rs"), Some(PathBuf::from("models/src/lib.rs")));
        assert_eq!(relevant("models/target/debug/x"), None);
        assert_eq!(relevant("site/index.html"), None);
        assert_eq!(relevant(".site.new-abc"), None);
        assert_eq!(relevant("content/papers/.01-a.md.swp"), None);
        assert_eq!(relevant("content/papers/01-a.md~"), None);
        assert_eq!(relevant("content/papers/4913"), None);
        assert_eq!(relevant("Cargo.toml"), None);
    }
}
