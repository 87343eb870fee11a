//! TeX → HTML and MathML with KaTeX, at build time, behind a cache.
//!
//! The `katex` crate runs KaTeX in an embedded QuickJS engine, created once
//! per thread and reused for every call on that thread. Output is
//! `htmlAndMathml`: the HTML part needs only the self-hosted
//! `katex.min.css` and fonts, and the MathML part serves screen readers, so
//! no JavaScript runs in the browser.
//!
//! A KaTeX call costs from a few hundred microseconds to a few
//! milliseconds, so [`MathCache`] typesets each distinct formula once per
//! build and keeps the results on disk between builds. The disk cache is a
//! directory of 256 shard files. An entry's shard is the first byte of its
//! key, so one edited page loads only the shards of its own formulas. The
//! directory name is derived from [`KATEX_CRATE_VERSION`], KaTeX's version
//! and the options, so a new KaTeX never serves HTML of an older one.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Version of the `katex` crate this file is built against (checked against
/// `Cargo.lock` by a test). It is part of the disk cache's key, because a
/// new crate version may bundle another KaTeX or call it differently.
pub const KATEX_CRATE_VERSION: &str = "0.4.6";

/// The KaTeX options every formula is typeset with, as they enter the disk
/// cache's key. Change this string whenever [`typeset`] changes its options.
const OPTIONS_ID: &str = "output=htmlAndMathml;throwOnError=true";

/// First bytes of every shard file; the last byte is the format version.
const SHARD_MAGIC: &[u8] = b"SURVEY-KATEX-CACHE\x01";
const SHARDS: usize = 256;

/// A formula KaTeX rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MathError {
    /// KaTeX's message without its "KaTeX parse error: " prefix and the
    /// echoed source.
    pub message: String,
    /// 0-based character index in the TeX source where KaTeX stopped.
    pub position: Option<usize>,
}

/// Typeset formulas: in memory for one build (or one process), and on disk
/// across builds when opened with [`MathCache::open`].
pub struct MathCache {
    /// Directory of this KaTeX version's shard files; `None` keeps the
    /// cache in memory only.
    dir: Option<PathBuf>,
    shards: Vec<Mutex<Shard>>,
    /// Rejected formulas, kept in memory only so a fixed formula is
    /// typeset again in the next build.
    errors: Mutex<HashMap<(bool, String), MathError>>,
    typeset_calls: AtomicUsize,
}

#[derive(Default)]
struct Shard {
    /// Whether the shard file was read (or found missing).
    loaded: bool,
    entries: HashMap<EntryKey, Entry>,
    /// Whether entries were added since the file was read.
    changed: bool,
}

struct Entry {
    html: Arc<str>,
    /// Whether this build looked the entry up.
    used: bool,
}

type EntryKey = [u8; 16];

impl MathCache {
    /// Returns a cache that lives in memory only.
    pub fn in_memory() -> MathCache {
        MathCache::with_dir(None)
    }

    /// Opens the disk cache under `cache_dir` (a site's `.survey/katex/`)
    /// for the KaTeX version and options of this build. Nothing is read
    /// until a formula is looked up.
    pub fn open(cache_dir: &Path) -> MathCache {
        MathCache::open_with_version(cache_dir, &version_key())
    }

    /// Opens the disk cache for an explicit version key, which names the
    /// directory it reads and writes. Entries stored under another key are
    /// not found.
    pub fn open_with_version(cache_dir: &Path, version: &str) -> MathCache {
        MathCache::with_dir(Some(cache_dir.join(version)))
    }

    fn with_dir(dir: Option<PathBuf>) -> MathCache {
        MathCache {
            dir,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            errors: Mutex::default(),
            typeset_calls: AtomicUsize::new(0),
        }
    }

    /// Returns the process-wide in-memory cache, for text rendered outside
    /// a build (tests, one-off titles).
    pub fn shared() -> &'static MathCache {
        static SHARED: OnceLock<MathCache> = OnceLock::new();
        SHARED.get_or_init(MathCache::in_memory)
    }

    /// Number of formulas this cache sent to KaTeX.
    pub fn typeset_calls(&self) -> usize {
        self.typeset_calls.load(Ordering::Relaxed)
    }

    /// Typesets `tex` inline or as a display formula, or returns the HTML
    /// cached for it.
    pub fn render(&self, tex: &str, display: bool) -> Result<Arc<str>, MathError> {
        let key = entry_key(tex, display);
        if let Some(html) = self.lookup(&key) {
            return Ok(html);
        }
        if let Some(error) = self.errors.lock().expect("math error cache lock").get(&(display, tex.to_string())) {
            return Err(error.clone());
        }

        // KaTeX runs outside the locks, so both threads typeset at once. Two
        // threads rarely meet the same new formula, and then both store the
        // same HTML.
        self.typeset_calls.fetch_add(1, Ordering::Relaxed);
        match typeset(tex, display) {
            Ok(html) => {
                let html: Arc<str> = html.into();
                let mut shard = self.shards[usize::from(key[0])].lock().expect("math cache lock");
                shard.entries.insert(key, Entry { html: html.clone(), used: true });
                shard.changed = true;
                Ok(html)
            }
            Err(error) => {
                self.errors.lock().expect("math error cache lock").insert((display, tex.to_string()), error.clone());
                Err(error)
            }
        }
    }

    fn lookup(&self, key: &EntryKey) -> Option<Arc<str>> {
        let mut shard = self.shards[usize::from(key[0])].lock().expect("math cache lock");
        if !shard.loaded {
            shard.loaded = true;
            if let Some(dir) = &self.dir {
                shard.entries = read_shard(&shard_path(dir, key[0]));
            }
        }
        let entry = shard.entries.get_mut(key)?;
        entry.used = true;
        Some(entry.html.clone())
    }

    /// Writes the shards that gained entries. With `prune`, which a build
    /// passes when it looked up every formula of the site, it also drops
    /// entries no page uses any more and the directories of other KaTeX
    /// versions. Does nothing for an in-memory cache.
    pub fn save(&self, prune: bool) -> io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        std::fs::create_dir_all(dir)?;
        for (index, shard) in self.shards.iter().enumerate() {
            let mut shard = shard.lock().expect("math cache lock");
            let path = shard_path(dir, index as u8);
            if prune && !shard.loaded {
                // No formula of the site falls into this shard.
                if path.exists() {
                    std::fs::remove_file(&path)?;
                }
                continue;
            }
            let stale = prune && shard.entries.values().any(|entry| !entry.used);
            if !shard.changed && !stale {
                continue;
            }
            if prune {
                shard.entries.retain(|_, entry| entry.used);
            }
            write_shard(&path, &shard.entries)?;
            shard.changed = false;
        }
        if prune {
            remove_other_versions(dir)?;
        }
        Ok(())
    }
}

/// Key of the KaTeX version and options: the name of the disk cache's
/// directory for this build of `survey`.
pub fn version_key() -> String {
    let mut hasher = blake3::Hasher::new();
    for part in [KATEX_CRATE_VERSION, katex::KATEX_VERSION, OPTIONS_ID] {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    format!("v{}-{}", KATEX_CRATE_VERSION, &hasher.finalize().to_hex()[..16])
}

fn entry_key(tex: &str, display: bool) -> EntryKey {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[u8::from(display)]);
    hasher.update(tex.as_bytes());
    let mut key = [0; 16];
    key.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    key
}

fn shard_path(dir: &Path, index: u8) -> PathBuf {
    dir.join(format!("{index:02x}.bin"))
}

/// Reads a shard file. A missing, truncated or foreign file reads as
/// empty, so a damaged cache only costs typesetting time.
fn read_shard(path: &Path) -> HashMap<EntryKey, Entry> {
    let mut entries = HashMap::new();
    let Ok(bytes) = std::fs::read(path) else { return entries };
    let Some(mut rest) = bytes.strip_prefix(SHARD_MAGIC) else { return entries };
    while !rest.is_empty() {
        let Some((key, after_key)) = rest.split_first_chunk::<16>() else { return HashMap::new() };
        let Some((length, after_length)) = after_key.split_first_chunk::<4>() else { return HashMap::new() };
        let length = u32::from_le_bytes(*length) as usize;
        let Some(html) = after_length.get(..length) else { return HashMap::new() };
        let Ok(html) = std::str::from_utf8(html) else { return HashMap::new() };
        entries.insert(*key, Entry { html: html.into(), used: false });
        rest = &after_length[length..];
    }
    entries
}

/// Replaces a shard file atomically: a reader sees the old or the new file,
/// never a part.
fn write_shard(path: &Path, entries: &HashMap<EntryKey, Entry>) -> io::Result<()> {
    let dir = path.parent().expect("shard files are inside the cache directory");
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    let mut out = io::BufWriter::new(file.as_file_mut());
    out.write_all(SHARD_MAGIC)?;
    let mut keys: Vec<&EntryKey> = entries.keys().collect();
    keys.sort();
    for key in keys {
        let html = entries[key].html.as_bytes();
        let length = u32::try_from(html.len()).map_err(|_| io::Error::other("formula HTML over 4 GiB"))?;
        out.write_all(key)?;
        out.write_all(&length.to_le_bytes())?;
        out.write_all(html)?;
    }
    out.flush()?;
    drop(out);
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Removes the directories of other KaTeX versions next to `dir`.
fn remove_other_versions(dir: &Path) -> io::Result<()> {
    let (Some(parent), Some(own)) = (dir.parent(), dir.file_name()) else { return Ok(()) };
    for entry in std::fs::read_dir(parent)?.flatten() {
        let name = entry.file_name();
        if name != own && name.to_string_lossy().starts_with('v') && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

/// Typesets one formula with KaTeX, without any cache.
fn typeset(tex: &str, display: bool) -> Result<String, MathError> {
    let opts = katex::Opts::builder()
        .display_mode(display)
        .output_type(katex::OutputType::HtmlAndMathml)
        .throw_on_error(true)
        .build()
        .expect("static KaTeX options are valid");
    katex::render_with_opts(tex, &opts).map_err(|error| parse_error(&error.to_string()))
}

/// Extracts the message and position from an error text such as
/// `failed to execute js (detail: ParseError: KaTeX parse error: Undefined
/// control sequence: \foo at position 3: x+\̲f̲o̲o̲)`.
fn parse_error(text: &str) -> MathError {
    let start = text.find("KaTeX parse error: ").map_or(0, |i| i + "KaTeX parse error: ".len());
    let rest = &text[start..];
    let (message, position) = match rest.find(" at position ") {
        Some(at) => {
            let digits: String = rest[at + " at position ".len()..].chars().take_while(char::is_ascii_digit).collect();
            // KaTeX counts positions from 1.
            (rest[..at].to_string(), digits.parse::<usize>().ok().map(|p| p.saturating_sub(1)))
        }
        None => (rest.trim_end_matches(')').to_string(), None),
    };
    MathError { message, position }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_math(tex: &str, display: bool) -> Result<Arc<str>, MathError> {
        MathCache::shared().render(tex, display)
    }

    #[test]
    fn renders_html_and_mathml() {
        let html = render_math(r"\mathcal{O}(N^2)", false).unwrap();
        assert!(html.contains("<math"), "{html}");
        assert!(html.contains("katex-html"), "{html}");
        assert!(!render_math("x", true).unwrap().is_empty());
    }

    #[test]
    fn display_mode_is_marked() {
        assert!(render_math("x", true).unwrap().contains("katex-display"));
        assert!(!render_math("x", false).unwrap().contains("katex-display"));
    }

    #[test]
    fn invalid_tex_reports_position() {
        let error = render_math(r"x+\foo", false).unwrap_err();
        assert!(error.message.contains("Undefined control sequence"), "{error:?}");
        assert_eq!(error.position, Some(2));
    }

    #[test]
    fn unbalanced_braces_are_errors() {
        assert!(render_math(r"\frac{a}{b", false).is_err());
    }

    #[test]
    fn each_formula_is_typeset_once() {
        let cache = MathCache::in_memory();
        let first = cache.render("a_1", false).unwrap();
        let second = cache.render("a_1", false).unwrap();
        assert_eq!(first, second);
        cache.render("a_1", true).unwrap();
        assert!(cache.render(r"\foo", false).is_err());
        assert!(cache.render(r"\foo", false).is_err());
        assert_eq!(cache.typeset_calls(), 3);
    }

    #[test]
    fn disk_cache_survives_a_new_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MathCache::open(dir.path());
        let html = cache.render(r"\sum_k x_k", true).unwrap();
        cache.save(false).unwrap();

        let reopened = MathCache::open(dir.path());
        assert_eq!(reopened.render(r"\sum_k x_k", true).unwrap(), html);
        assert_eq!(reopened.typeset_calls(), 0);
        reopened.render(r"\sum_k x_k", false).unwrap();
        assert_eq!(reopened.typeset_calls(), 1, "display mode is part of the key");
    }

    #[test]
    fn another_katex_version_misses_the_disk_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MathCache::open_with_version(dir.path(), "v0.4.6-aaaa");
        cache.render("y^2", false).unwrap();
        cache.save(false).unwrap();

        let upgraded = MathCache::open_with_version(dir.path(), "v0.4.7-bbbb");
        upgraded.render("y^2", false).unwrap();
        assert_eq!(upgraded.typeset_calls(), 1);
        upgraded.save(true).unwrap();
        assert!(!dir.path().join("v0.4.6-aaaa").exists(), "pruning removes other versions");
        assert!(dir.path().join("v0.4.7-bbbb").is_dir());
    }

    #[test]
    fn pruning_drops_unused_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MathCache::open(dir.path());
        cache.render("p", false).unwrap();
        cache.render("q", false).unwrap();
        cache.save(false).unwrap();

        let next = MathCache::open(dir.path());
        next.render("p", false).unwrap();
        next.save(true).unwrap();
        let last = MathCache::open(dir.path());
        last.render("p", false).unwrap();
        last.render("q", false).unwrap();
        assert_eq!(last.typeset_calls(), 1, "only `q` was dropped");
    }

    #[test]
    fn damaged_shard_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MathCache::open(dir.path());
        cache.render("z", false).unwrap();
        cache.save(false).unwrap();
        let version_dir = dir.path().join(version_key());
        for entry in std::fs::read_dir(&version_dir).unwrap().flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            std::fs::write(entry.path(), &bytes[..bytes.len() - 3]).unwrap();
        }
        let reopened = MathCache::open(dir.path());
        assert!(reopened.render("z", false).unwrap().contains("katex"));
        assert_eq!(reopened.typeset_calls(), 1);
    }

    #[test]
    fn crate_version_matches_the_lockfile() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
        let locked = lock
            .split("[[package]]")
            .find(|package| package.contains("\nname = \"katex\"\n"))
            .and_then(|package| package.lines().find_map(|line| line.strip_prefix("version = \"")))
            .map(|version| version.trim_end_matches('"'))
            .expect("katex in Cargo.lock");
        assert_eq!(locked, KATEX_CRATE_VERSION, "update KATEX_CRATE_VERSION, which keys the disk cache");
    }
}
