//! The freeze: committed outputs of executed pages.
//!
//! Layout, for page `content/papers/03-skyformer.md` and freeze directory `_freeze`:
//!
//! ```text
//! _freeze/content/papers/03-skyformer/page.json        key, inputs, outputs per block
//! _freeze/content/papers/03-skyformer/figures/<block>/  files written by each block
//! ```
//!
//! `<block>` is the block's label, or `block-N` counted from 1. `page.json` is
//! pretty-printed with a fixed field order and no timestamps, so re-running an unchanged
//! deterministic page rewrites it byte for byte.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::block::ExecBlock;
use super::error::{ExecError, IoContext};
use super::inputs::KeyInputs;
use super::report::BlockOutput;

/// Format version of `page.json`.
const FORMAT: u32 = 1;
const ENTRY_FILE: &str = "page.json";

/// Use of the freeze in a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FreezeMode {
    /// Reuse fresh entries; run pages whose entry is stale or missing and store the result.
    #[default]
    Auto,
    /// Use the freeze only: a stale or missing entry is a failure. For CI.
    Frozen,
    /// Run every page with executable blocks and store the results.
    Refresh,
    /// Use the freeze as it is, stale entries included, with a warning; run nothing.
    NoExec,
}

/// A page's `page.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct FreezeEntry {
    pub format: u32,
    /// Page path relative to the site root, with `/` separators.
    pub page: String,
    /// SHA-256 of `inputs`.
    pub key: String,
    pub inputs: KeyInputs,
    pub blocks: Vec<FrozenBlock>,
}

/// The stored output of one block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct FrozenBlock {
    /// Block number in the page, from 1.
    pub block: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(flatten)]
    pub output: BlockOutput,
}

/// Returns the freeze directory of a page: the page path without its extension.
pub(crate) fn page_dir(freeze_dir: &Path, page: &Path) -> PathBuf {
    freeze_dir.join(page.with_extension(""))
}

/// Reads a page's entry; `Ok(None)` when there is none.
pub(crate) fn load(freeze_dir: &Path, page: &Path) -> Result<Option<FreezeEntry>, ExecError> {
    let dir = page_dir(freeze_dir, page);
    let path = dir.join(ENTRY_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at(path),
    };
    let mut entry: FreezeEntry =
        serde_json::from_str(&text).map_err(|e| ExecError::InvalidFreeze {
            path: path.clone(),
            message: e.to_string(),
        })?;
    if entry.format != FORMAT {
        return Err(ExecError::InvalidFreeze {
            path,
            message: format!(
                "format {} is not the supported format {FORMAT}",
                entry.format
            ),
        });
    }
    for block in &mut entry.blocks {
        for figure in &mut block.output.figures {
            figure.source = dir.join(&figure.file);
            if !figure.source.is_file() {
                return Err(ExecError::InvalidFreeze {
                    path,
                    message: format!("figure file {} is missing", figure.source.display()),
                });
            }
        }
    }
    Ok(Some(entry))
}

/// Writes a page's entry, copying figure files from where the run left them, and
/// replaces the previous entry. Returns the outputs with figures pointing into the freeze.
pub(crate) fn store(
    freeze_dir: &Path,
    page: &Path,
    inputs: &KeyInputs,
    blocks: &[ExecBlock],
    outputs: &[BlockOutput],
) -> Result<Vec<BlockOutput>, ExecError> {
    let dir = page_dir(freeze_dir, page);
    let staging = dir.with_file_name(format!(
        ".{}.tmp-{}",
        dir.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    if staging.exists() {
        fs::remove_dir_all(&staging).at(&staging)?;
    }
    fs::create_dir_all(&staging).at(&staging)?;

    let mut stored = Vec::with_capacity(outputs.len());
    let mut frozen = Vec::with_capacity(outputs.len());
    for (block, output) in blocks.iter().zip(outputs) {
        let mut output = output.clone();
        for figure in &mut output.figures {
            let relative = format!("figures/{}/{}", block.name(), figure.file);
            let target = staging.join(&relative);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).at(parent)?;
            }
            fs::copy(&figure.source, &target).at(&figure.source)?;
            figure.file = relative.clone();
            figure.source = dir.join(&relative);
        }
        frozen.push(FrozenBlock {
            block: block.index + 1,
            label: block.options.label.clone(),
            output: output.clone(),
        });
        stored.push(output);
    }

    let entry = FreezeEntry {
        format: FORMAT,
        page: page.to_string_lossy().replace('\\', "/"),
        key: inputs.key(),
        inputs: inputs.clone(),
        blocks: frozen,
    };
    let mut json = serde_json::to_string_pretty(&entry).expect("freeze entry serializes");
    json.push('\n');
    let entry_path = staging.join(ENTRY_FILE);
    fs::write(&entry_path, json).at(&entry_path)?;

    if dir.exists() {
        fs::remove_dir_all(&dir).at(&dir)?;
    }
    fs::rename(&staging, &dir).at(&dir)?;
    Ok(stored)
}

/// Deletes the freeze entries of pages that are not in `pages` (paths relative to the
/// site root). Returns the directories removed. Call it with every page of the site.
pub fn prune_freeze(freeze_dir: &Path, pages: &[&Path]) -> Result<Vec<PathBuf>, ExecError> {
    let keep: Vec<PathBuf> = pages.iter().map(|p| page_dir(freeze_dir, p)).collect();
    let mut removed = Vec::new();
    if !freeze_dir.is_dir() {
        return Ok(removed);
    }
    let entries: Vec<PathBuf> = walkdir::WalkDir::new(freeze_dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name() == ENTRY_FILE)
        .filter_map(|e| e.path().parent().map(Path::to_path_buf))
        .collect();
    for dir in entries {
        if !keep.contains(&dir) {
            fs::remove_dir_all(&dir).at(&dir)?;
            removed.push(dir);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::extract::extract_blocks;
    use crate::exec::report::Figure;

    fn inputs() -> KeyInputs {
        KeyInputs {
            engine: 1,
            blocks: "b".into(),
            dependencies: "d".into(),
            lockfile: "l".into(),
            path_dependencies: Default::default(),
            rustc: "rustc 1.95.0".into(),
        }
    }

    #[test]
    fn store_then_load_round_trips() {
        let site = tempfile::tempdir().unwrap();
        let freeze = site.path().join("_freeze");
        let page = Path::new("content/a.md");
        let blocks = extract_blocks("```rust,exec\n//| label: plot\n```\n", 1).unwrap();
        let figure_file = site.path().join("fig.svg");
        fs::write(&figure_file, "<svg/>").unwrap();
        let output = BlockOutput {
            stdout: "1\n".into(),
            figures: vec![Figure {
                file: "fig.svg".into(),
                mime: "image/svg+xml".into(),
                source: figure_file,
            }],
            ..Default::default()
        };

        let stored = store(
            &freeze,
            page,
            &inputs(),
            &blocks,
            std::slice::from_ref(&output),
        )
        .unwrap();
        assert_eq!(stored[0].figures[0].file, "figures/plot/fig.svg");
        let entry = load(&freeze, page).unwrap().unwrap();
        assert_eq!(entry.key, inputs().key());
        assert_eq!(entry.blocks[0].output, stored[0]);
        assert!(freeze.join("content/a/figures/plot/fig.svg").is_file());

        let first = fs::read(freeze.join("content/a/page.json")).unwrap();
        store(&freeze, page, &inputs(), &blocks, &[output]).unwrap();
        assert_eq!(fs::read(freeze.join("content/a/page.json")).unwrap(), first);
    }

    #[test]
    fn prune_removes_entries_of_missing_pages() {
        let site = tempfile::tempdir().unwrap();
        let freeze = site.path().join("_freeze");
        let blocks = extract_blocks("```rust,exec\n```\n", 1).unwrap();
        for page in ["content/a.md", "content/b.md"] {
            store(
                &freeze,
                Path::new(page),
                &inputs(),
                &blocks,
                &[BlockOutput::default()],
            )
            .unwrap();
        }
        let removed = prune_freeze(&freeze, &[Path::new("content/a.md")]).unwrap();
        assert_eq!(removed, vec![freeze.join("content/b")]);
        assert!(freeze.join("content/a/page.json").is_file());
    }

    #[test]
    fn corrupt_entry_is_an_error() {
        let site = tempfile::tempdir().unwrap();
        let freeze = site.path().join("_freeze");
        fs::create_dir_all(freeze.join("content/a")).unwrap();
        fs::write(freeze.join("content/a/page.json"), "{").unwrap();
        let error = load(&freeze, Path::new("content/a.md")).unwrap_err();
        assert!(
            error.to_string().contains("delete it and build again"),
            "{error}"
        );
    }
}
