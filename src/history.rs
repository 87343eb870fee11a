//! When each page last changed, for the Atom feed, the sitemap and the
//! page metadata.
//!
//! A page's date is, in this order: `updated` from its front matter,
//! `date` from its front matter, the committer date of the last git commit
//! that touched its file, and the file's modification time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, FixedOffset, Utc};

use crate::content::{CONTENT_DIR, Page};

/// Committer dates of the last commit of every file under `content/`.
#[derive(Debug, Default)]
pub struct GitDates {
    by_path: HashMap<PathBuf, DateTime<FixedOffset>>,
}

impl GitDates {
    /// Reads the history of `root/content` with one `git log`. Outside a
    /// git work tree, or without git, the result is empty and every page
    /// falls back to its file's modification time.
    pub fn load(root: &Path) -> GitDates {
        let output = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["-c", "core.quotepath=off", "log", "--format=%x1e%cI", "--name-only", "-z", "--relative", "--"])
            .arg(CONTENT_DIR)
            .output();
        match output {
            Ok(output) if output.status.success() => GitDates::parse(&String::from_utf8_lossy(&output.stdout)),
            Ok(output) => {
                tracing::debug!(stderr = %String::from_utf8_lossy(&output.stderr).trim(), "no git history for page dates");
                GitDates::default()
            }
            Err(error) => {
                tracing::debug!(%error, "git not run for page dates");
                GitDates::default()
            }
        }
    }

    /// Parses `git log --format=%x1e%cI --name-only -z`: per commit, a
    /// record separator, the date, NUL, a newline, then NUL-terminated
    /// paths. Commits come newest first, so a path's first date wins.
    fn parse(log: &str) -> GitDates {
        let mut by_path = HashMap::new();
        for commit in log.split('\u{1e}').filter(|commit| !commit.is_empty()) {
            let mut fields = commit.split('\0');
            let Some(date) = fields.next().and_then(|date| DateTime::parse_from_rfc3339(date.trim()).ok()) else {
                continue;
            };
            for path in fields.map(|path| path.trim_start_matches('\n')).filter(|path| !path.is_empty()) {
                by_path.entry(PathBuf::from(path)).or_insert(date);
            }
        }
        GitDates { by_path }
    }

    /// Date of the last commit that changed `path` (relative to the site root).
    pub fn get(&self, path: &Path) -> Option<DateTime<FixedOffset>> {
        self.by_path.get(path).copied()
    }
}

/// Returns the date `page` last changed, by the order given in the module
/// documentation. Returns `None` only when the file's modification time
/// cannot be read either.
pub fn last_change(root: &Path, page: &Page, git: &GitDates) -> Option<DateTime<FixedOffset>> {
    page.meta
        .updated
        .or(page.meta.date)
        .map(|date| date.to_datetime())
        .or_else(|| git.get(&page.source))
        .or_else(|| modified_time(&root.join(&page.source)))
}

fn modified_time(path: &Path) -> Option<DateTime<FixedOffset>> {
    let modified = std::fs::metadata(path).and_then(|metadata| metadata.modified()).ok()?;
    Some(DateTime::<Utc>::from(modified).fixed_offset())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{FrontMatterDate, PageMeta};

    fn page(source: &str, meta: PageMeta) -> Page {
        Page {
            source: PathBuf::from(source),
            url_path: "a/".into(),
            title: "A".into(),
            weight: None,
            node: None,
            paper: None,
            body: String::new(),
            body_line: 3,
            header: String::new(),
            meta,
        }
    }

    fn git(args: &[&str], dir: &Path, date: &str) {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org")
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?} failed");
    }

    #[test]
    fn parse_keeps_the_newest_date_per_path() {
        let log = "\u{1e}2022-01-05T09:00:00+09:00\0\ncontent/a.md\0content/日本語.md\0\u{1e}2021-12-06T00:00:00Z\0\ncontent/a.md\0content/b.md\0";
        let dates = GitDates::parse(log);
        assert_eq!(dates.get(Path::new("content/a.md")).unwrap().to_rfc3339(), "2022-01-05T09:00:00+09:00");
        assert_eq!(dates.get(Path::new("content/b.md")).unwrap().to_rfc3339(), "2021-12-06T00:00:00+00:00");
        assert!(dates.get(Path::new("content/日本語.md")).is_some());
        assert_eq!(dates.get(Path::new("content/c.md")), None);
    }

    #[test]
    fn front_matter_wins_then_git_then_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("content")).unwrap();
        for name in ["a.md", "b.md", "c.md"] {
            std::fs::write(root.join("content").join(name), "---\ntitle: x\n---\n").unwrap();
        }
        git(&["init", "-q"], root, "2021-01-01T00:00:00Z");
        git(&["add", "content/a.md", "content/b.md"], root, "2021-01-01T00:00:00Z");
        git(&["commit", "-q", "-m", "first"], root, "2021-03-04T05:06:07+09:00");
        let history = GitDates::load(root);

        let updated = PageMeta { updated: FrontMatterDate::parse("2022-02-02"), date: FrontMatterDate::parse("2020-01-01"), ..PageMeta::default() };
        let from_front_matter = last_change(root, &page("content/a.md", updated), &history).unwrap();
        assert_eq!(from_front_matter.to_rfc3339(), "2022-02-02T00:00:00+00:00");
        let dated = PageMeta { date: FrontMatterDate::parse("2020-01-01"), ..PageMeta::default() };
        assert_eq!(last_change(root, &page("content/a.md", dated), &history).unwrap().to_rfc3339(), "2020-01-01T00:00:00+00:00");
        let from_git = last_change(root, &page("content/b.md", PageMeta::default()), &history).unwrap();
        assert_eq!(from_git.to_rfc3339(), "2021-03-04T05:06:07+09:00");

        // c.md is not committed: its modification time is used.
        let from_mtime = last_change(root, &page("content/c.md", PageMeta::default()), &history).unwrap();
        let expected: DateTime<Utc> = std::fs::metadata(root.join("content/c.md")).unwrap().modified().unwrap().into();
        assert_eq!(from_mtime, expected.fixed_offset());
    }

    #[test]
    fn outside_git_every_page_uses_its_mtime() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("content")).unwrap();
        std::fs::write(dir.path().join("content/a.md"), "x").unwrap();
        let history = GitDates::load(dir.path());
        assert!(history.by_path.is_empty());
        assert!(last_change(dir.path(), &page("content/a.md", PageMeta::default()), &history).is_some());
        assert_eq!(last_change(dir.path(), &page("content/missing.md", PageMeta::default()), &history), None);
    }
}
