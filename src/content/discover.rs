//! Walking `content/` for pages and assets.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::diagnostics::{Diagnostic, Diagnostics, Message};

use super::CONTENT_DIR;
use crate::taxonomy::TAXONOMY_FILE;

/// A file under `content/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to `content/`.
    pub rel: PathBuf,
    /// Path relative to the site root (`content/...`), used in messages.
    pub path: PathBuf,
}

/// Everything found under `content/`.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Markdown files, in path order.
    pub pages: Vec<SourceFile>,
    /// Other files (images, data), copied to the same path in the output.
    pub assets: Vec<SourceFile>,
}

/// Lists the pages and assets under `root/content`, skipping hidden files
/// and editor backups. Unreadable directories are errors, not skipped.
pub fn discover(root: &Path) -> Result<Discovered, Diagnostics> {
    let content_dir = root.join(CONTENT_DIR);
    let mut found = Discovered::default();
    let mut diagnostics = Diagnostics::new();

    let walker = WalkDir::new(&content_dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.file_name().to_str().unwrap_or("")));
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                let path = error.path().unwrap_or(&content_dir);
                let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
                diagnostics.push(Diagnostic::new(
                    &shown,
                    Message::new("io-error").arg("path", shown.display()).arg("detail", &error),
                ));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(&content_dir).expect("walk stays under content/").to_path_buf();
        let name = entry.file_name().to_string_lossy();
        if name.ends_with('~') || rel == Path::new(TAXONOMY_FILE) {
            continue;
        }
        let file = SourceFile { path: Path::new(CONTENT_DIR).join(&rel), rel };
        if name.ends_with(".md") {
            found.pages.push(file);
        } else {
            found.assets.push(file);
        }
    }
    diagnostics.into_result(found)
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discover_separates_pages_and_assets() {
        let dir = tempfile::tempdir().unwrap();
        let content = dir.path().join("content");
        std::fs::create_dir_all(content.join("papers")).unwrap();
        std::fs::create_dir_all(content.join(".git")).unwrap();
        for file in ["index.md", "papers/01-a.md", "papers/fig.png", "taxonomy.yaml", ".hidden.md", "a.md~", ".git/x.md"] {
            std::fs::write(content.join(file), "x").unwrap();
        }
        let found = discover(dir.path()).unwrap();
        let pages: Vec<_> = found.pages.iter().map(|f| f.rel.to_string_lossy().into_owned()).collect();
        assert_eq!(pages, ["index.md", "papers/01-a.md"]);
        assert_eq!(found.assets.len(), 1);
        assert_eq!(found.pages[1].path, Path::new("content/papers/01-a.md"));
    }
}
