//! Writing the output directory: only what changed, and never half.
//!
//! A build writes the files it renders into a staging directory beside
//! the output directory. Only after every page rendered does
//! [`Staging::commit`] move them into place. A full build (no usable
//! manifest, or no output directory) stages the whole site and swaps the
//! two directories by renaming. An incremental build stages the changed
//! files only and renames each over its old copy, which replaces it
//! atomically, then deletes the outputs the build no longer produces. So a
//! failed build leaves the previous site as it was.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use super::manifest::{self, Key, OutputRecord};
use crate::diagnostics::{Diagnostic, Diagnostics, Message};

/// The files of one build on their way into the output directory.
pub(super) struct Staging {
    out_dir: PathBuf,
    dir: tempfile::TempDir,
    /// Outputs of the previous build that are still on disk as it left
    /// them; `None` for a full build.
    previous: Option<BTreeMap<String, OutputRecord>>,
    /// Outputs of the previous build that are missing or were modified.
    damaged: Vec<String>,
    /// Files written into the staging directory, with their keys.
    staged: Mutex<Vec<(String, Key)>>,
    /// Outputs of the previous build kept as they are.
    kept: Mutex<Vec<String>>,
}

/// Result of [`Staging::commit`].
pub(super) struct Committed {
    /// Every output file of the site now, with its key.
    pub outputs: BTreeMap<String, OutputRecord>,
    pub written: usize,
    pub removed: usize,
}

impl Staging {
    /// Creates an empty staging directory next to `out_dir`. `previous`
    /// contains the outputs of the previous build; pass `None` to write the
    /// whole site. Previous outputs that are missing or were modified since
    /// are treated as absent, so they are written again.
    pub fn new(out_dir: &Path, previous: Option<BTreeMap<String, OutputRecord>>) -> Result<Staging, Diagnostics> {
        let (parent, name) = parent_and_name(out_dir);
        fs::create_dir_all(&parent).map_err(|error| io_error(&parent, error))?;
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}.new-"))
            .tempdir_in(&parent)
            .map_err(|error| io_error(&parent, error))?;
        make_world_readable(dir.path()).map_err(|error| io_error(dir.path(), error))?;

        let mut damaged = Vec::new();
        let previous = previous.filter(|_| out_dir.is_dir()).map(|outputs| {
            let (intact, lost): (BTreeMap<String, OutputRecord>, BTreeMap<String, OutputRecord>) = outputs
                .into_par_iter()
                .partition(|(rel, record)| manifest::stat(&out_dir.join(rel), record.key).as_ref() == Some(record));
            damaged = lost.into_keys().collect();
            intact
        });
        Ok(Staging { out_dir: out_dir.to_path_buf(), dir, previous, damaged, staged: Mutex::default(), kept: Mutex::default() })
    }

    /// Returns the staging directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Returns whether the whole site is written, rather than the changed
    /// files.
    pub fn is_full(&self) -> bool {
        self.previous.is_none()
    }

    /// Returns whether the output directory already contains `rel` as
    /// built from `key`. If so, the file is kept and the caller need not
    /// produce it.
    pub fn keep_if_current(&self, rel: &str, key: &Key) -> bool {
        let current = self.previous.as_ref().and_then(|previous| previous.get(rel)).is_some_and(|record| &record.key == key);
        if current {
            self.kept.lock().expect("staging lock").push(rel.to_string());
        }
        current
    }

    /// Keeps every previous output under the directory `prefix` (relative to
    /// the output directory), if there is one and all of them are as the
    /// previous build left them. Returns whether they were kept.
    pub fn keep_dir_if_current(&self, prefix: &str) -> bool {
        let prefix = format!("{}/", prefix.trim_end_matches('/'));
        let Some(previous) = &self.previous else { return false };
        let files: Vec<&String> = previous.keys().filter(|rel| rel.starts_with(&prefix)).collect();
        if files.is_empty() || self.damaged.iter().any(|rel| rel.starts_with(&prefix)) {
            return false;
        }
        self.kept.lock().expect("staging lock").extend(files.into_iter().cloned());
        true
    }

    /// Keeps every previous output that is not under one of the
    /// directories `prefixes` (each relative to the output directory and
    /// ending in `/`), as they are.
    pub fn keep_all_except(&self, prefixes: &[String]) {
        let Some(previous) = &self.previous else { return };
        let files = previous.keys().filter(|rel| !prefixes.iter().any(|prefix| rel.starts_with(prefix.as_str()))).cloned();
        self.kept.lock().expect("staging lock").extend(files);
    }

    /// Returns the outputs of the new site so far whose name ends in
    /// `suffix`: (path, key, whether the file is in the staging directory
    /// rather than the output directory).
    pub fn current_outputs(&self, suffix: &str) -> Vec<(String, Key, bool)> {
        let mut outputs: Vec<(String, Key, bool)> = self
            .staged
            .lock()
            .expect("staging lock")
            .iter()
            .filter(|(rel, _)| rel.ends_with(suffix))
            .map(|(rel, key)| (rel.clone(), *key, true))
            .collect();
        if let Some(previous) = &self.previous {
            let kept = self.kept.lock().expect("staging lock");
            outputs.extend(
                kept.iter().filter(|rel| rel.ends_with(suffix)).filter_map(|rel| Some((rel.clone(), previous.get(rel)?.key, false))),
            );
        }
        outputs
    }

    /// Returns the output directory.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// Writes `bytes` as the new content of `rel`.
    pub fn write(&self, rel: &str, key: Key, bytes: &[u8]) -> Result<(), Diagnostic> {
        write_file(self.dir.path(), rel, bytes)?;
        self.staged.lock().expect("staging lock").push((rel.to_string(), key));
        Ok(())
    }

    /// Writes `rel` unless it is current (see [`Staging::keep_if_current`]);
    /// `produce` makes its bytes only when needed.
    pub fn write_with(&self, rel: &str, key: Key, produce: impl FnOnce() -> Result<Vec<u8>, Diagnostic>) -> Result<(), Diagnostic> {
        if self.keep_if_current(rel, &key) {
            return Ok(());
        }
        self.write(rel, key, &produce()?)
    }

    /// Moves the staged files into the output directory and deletes the
    /// outputs of the previous build that this build did not produce.
    pub fn commit(self) -> Result<Committed, Diagnostics> {
        let staged = self.staged.into_inner().expect("staging lock");
        let kept = self.kept.into_inner().expect("staging lock");
        let written = staged.len();
        let mut removed = 0;
        let mut outputs = BTreeMap::new();
        match self.previous {
            None => swap_directories(&self.out_dir, self.dir)?,
            Some(mut previous) => {
                let produced: HashSet<&str> = staged.iter().map(|(rel, _)| rel.as_str()).chain(kept.iter().map(String::as_str)).collect();
                let obsolete: Vec<String> = previous.keys().filter(|rel| !produced.contains(rel.as_str())).cloned().collect();
                for rel in &obsolete {
                    remove_output(&self.out_dir, rel)?;
                }
                removed = obsolete.len();
                for (rel, _) in &staged {
                    let target = self.out_dir.join(rel);
                    if let Some(parent) = target.parent() {
                        fs::create_dir_all(parent).map_err(|error| io_error(parent, error))?;
                    }
                    fs::rename(self.dir.path().join(rel), &target).map_err(|error| io_error(&target, error))?;
                }
                for rel in kept {
                    if let Some(record) = previous.remove(&rel) {
                        outputs.insert(rel, record);
                    }
                }
            }
        }
        for (rel, key) in staged {
            let path = self.out_dir.join(&rel);
            let record = manifest::stat(&path, key).ok_or_else(|| io_error(&path, std::io::ErrorKind::NotFound.into()))?;
            outputs.insert(rel, record);
        }
        Ok(Committed { outputs, written, removed })
    }
}

/// Replaces `out_dir` by the staging directory with two renames; if the
/// second fails, the previous site is put back.
fn swap_directories(out_dir: &Path, staging: tempfile::TempDir) -> Result<(), Diagnostics> {
    let (parent, name) = parent_and_name(out_dir);
    let trash = tempfile::Builder::new()
        .prefix(&format!(".{name}.old-"))
        .tempdir_in(&parent)
        .map_err(|error| io_error(&parent, error))?;
    let previous = trash.path().join(&name);
    let had_previous = out_dir.exists();
    if had_previous {
        fs::rename(out_dir, &previous).map_err(|error| io_error(out_dir, error))?;
    }
    let staged: PathBuf = staging.keep();
    if let Err(error) = fs::rename(&staged, out_dir) {
        if had_previous {
            let _ = fs::rename(&previous, out_dir);
        }
        let _ = fs::remove_dir_all(&staged);
        return Err(io_error(out_dir, error));
    }
    // Dropping `trash` deletes the previous site.
    drop(trash);
    Ok(())
}

/// Deletes the output file `rel` and the directories it leaves empty.
fn remove_output(out_dir: &Path, rel: &str) -> Result<(), Diagnostics> {
    let path = out_dir.join(rel);
    match fs::remove_file(&path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(io_error(&path, error)),
        _ => {}
    }
    let mut dir = path.parent();
    while let Some(current) = dir.filter(|current| *current != out_dir && current.starts_with(out_dir)) {
        if fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
    Ok(())
}

fn parent_and_name(out_dir: &Path) -> (PathBuf, String) {
    let parent = out_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out_dir.file_name().map_or_else(|| "site".into(), |n| n.to_string_lossy().into_owned());
    (parent.to_path_buf(), name)
}

/// Writes `bytes` to `dir/rel`, creating parent directories.
pub fn write_file(dir: &Path, rel: &str, bytes: &[u8]) -> Result<(), Diagnostic> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|error| single_io_error(parent, error))?;
    }
    fs::write(&path, bytes).map_err(|error| single_io_error(&path, error))
}

/// Removes `out_dir` and staging leftovers of interrupted builds. Returns
/// whether `out_dir` existed.
pub fn clean(out_dir: &Path) -> Result<bool, Diagnostics> {
    let parent = out_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out_dir.file_name().map_or_else(|| "site".into(), |n| n.to_string_lossy().into_owned());
    if let Ok(entries) = fs::read_dir(parent) {
        for entry in entries.flatten() {
            let entry_name = entry.file_name().to_string_lossy().into_owned();
            if entry_name.starts_with(&format!(".{name}.new-")) || entry_name.starts_with(&format!(".{name}.old-")) {
                fs::remove_dir_all(entry.path()).map_err(|error| io_error(&entry.path(), error))?;
            }
        }
    }
    if !out_dir.exists() {
        return Ok(false);
    }
    fs::remove_dir_all(out_dir).map_err(|error| io_error(out_dir, error))?;
    Ok(true)
}

/// Removes the cache directory (`.survey/`, the generated Cargo project of
/// executed blocks) and returns whether it existed. Outputs of executed
/// blocks are stored in the freeze, not here.
pub fn clean_cache(cache_dir: &Path) -> Result<bool, Diagnostics> {
    if !cache_dir.exists() {
        return Ok(false);
    }
    fs::remove_dir_all(cache_dir).map_err(|error| io_error(cache_dir, error))?;
    Ok(true)
}

#[cfg(unix)]
fn make_world_readable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // tempfile creates directories with mode 0700; a site is public.
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_world_readable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

fn single_io_error(path: &Path, error: std::io::Error) -> Diagnostic {
    Diagnostic::new(path, Message::new("io-error").arg("path", path.display()).arg("detail", error))
}

pub(super) fn io_error(path: &Path, error: std::io::Error) -> Diagnostics {
    single_io_error(path, error).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        [n; 16]
    }

    fn full_build(out: &Path, files: &[(&str, &str)]) -> Committed {
        let staging = Staging::new(out, None).unwrap();
        for (rel, text) in files {
            staging.write(rel, key(text.len() as u8), text.as_bytes()).unwrap();
        }
        staging.commit().unwrap()
    }

    #[test]
    fn full_build_replaces_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("old.html"), "old").unwrap();
        let committed = full_build(&out, &[("a/index.html", "new")]);
        assert!(!out.join("old.html").exists());
        assert_eq!(fs::read_to_string(out.join("a/index.html")).unwrap(), "new");
        assert_eq!(committed.outputs.keys().collect::<Vec<_>>(), ["a/index.html"]);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers, ["site"]);
    }

    #[test]
    fn dropped_staging_leaves_the_output_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("old.html"), "old").unwrap();
        let staging = Staging::new(&out, None).unwrap();
        staging.write("half.html", key(1), b"x").unwrap();
        drop(staging);
        assert_eq!(fs::read_to_string(out.join("old.html")).unwrap(), "old");
        assert!(!out.join("half.html").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn incremental_commit_replaces_changed_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        let first = full_build(&out, &[("a/index.html", "a"), ("b/index.html", "bb"), ("gone/index.html", "ccc")]);
        let a_record = first.outputs["a/index.html"].clone();

        let staging = Staging::new(&out, Some(first.outputs)).unwrap();
        assert!(!staging.is_full());
        assert!(staging.keep_if_current("a/index.html", &key(1)));
        assert!(!staging.keep_if_current("b/index.html", &key(9)), "a new key");
        staging.write("b/index.html", key(9), b"new b").unwrap();
        staging.write("c/index.html", key(4), b"c").unwrap();
        let committed = staging.commit().unwrap();

        assert_eq!((committed.written, committed.removed), (2, 1));
        assert_eq!(committed.outputs["a/index.html"], a_record);
        assert_eq!(fs::read_to_string(out.join("b/index.html")).unwrap(), "new b");
        assert!(out.join("c/index.html").is_file());
        assert!(!out.join("gone").exists(), "the emptied directory is removed too");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers, ["site"]);
    }

    #[test]
    fn modified_output_is_not_current() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        let first = full_build(&out, &[("a.html", "a"), ("b.html", "b")]);
        fs::write(out.join("a.html"), "edited by hand").unwrap();
        fs::remove_file(out.join("b.html")).unwrap();
        let staging = Staging::new(&out, Some(first.outputs)).unwrap();
        assert!(!staging.keep_if_current("a.html", &key(1)));
        assert!(!staging.keep_if_current("b.html", &key(1)));
    }

    #[test]
    fn clean_removes_output_and_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        fs::create_dir_all(out.join("x")).unwrap();
        fs::create_dir_all(dir.path().join(".site.new-abc")).unwrap();
        assert!(clean(&out).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(!clean(&out).unwrap());
    }
}
