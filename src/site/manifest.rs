//! The build manifest: what the previous successful build wrote, and the
//! keys of everything each output was made from.
//!
//! Every output file has a key, a hash of all the data it is made from.
//! For a page, that is its Markdown, the citation targets and taxonomy
//! lists it shows, its executed blocks' outputs, its title, its
//! neighbours' titles, the templates and the site settings. A build computes every key
//! first, which is cheap, and renders and writes only the outputs whose key
//! changed or whose file in the output directory is missing or was
//! modified. So the manifest never decides what is current by itself: it
//! only remembers the keys, and the keys cover every input.
//!
//! The manifest also keeps, per page, what later stages read from a
//! rendered body (its headings and citation anchors) and from the prepass
//! (the keys it cites, the taxonomy lists it shows), so an unchanged page
//! needs neither step. It is stored in `.survey/build/`, one file per
//! output directory, and only after a build succeeded. It is removed before the output directory changes, so
//! an interrupted build leaves no manifest and the next build is a full one.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::markdown::headings::TocEntry;

/// A 128-bit hash of the data an output or a page body is made from.
pub type Key = [u8; 16];

/// Version of the manifest's format; a manifest of another version is
/// ignored.
const FORMAT: u32 = 3;

/// The manifest of one output directory.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Manifest {
    format: u32,
    /// Hash of the `survey` executable's identity and the output directory:
    /// a manifest written by another build of `survey`, or for another
    /// output directory, is ignored.
    build: Key,
    /// Every file the build wrote, by path relative to the output directory.
    pub outputs: BTreeMap<String, OutputRecord>,
    /// Every page, by source path relative to the site root.
    pub pages: HashMap<PathBuf, PageRecord>,
    /// Whether the search index in the output directory misses changes,
    /// because the build that wrote this manifest did not index.
    pub search_stale: bool,
    /// Key of each search index shard as it was last indexed.
    pub search_shards: Vec<Key>,
    /// Identifies the build that wrote the manifest: its time of writing in
    /// nanoseconds since 1970.
    pub generation: u64,
}

/// An output file as the build left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct OutputRecord {
    pub key: Key,
    /// Size and modification time after writing, to notice a file that
    /// was changed or deleted by hand since.
    pub size: u64,
    pub modified_ns: i128,
}

/// Data of one page that later builds reuse.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PageRecord {
    /// Hash of the page's source (path, front matter and body).
    pub source: Key,
    /// Citation keys of the body, in order of first citation.
    pub cited: Vec<String>,
    /// Taxonomy lists the body shows (`""` for the overview).
    pub shortcodes: Vec<String>,
    /// Key of the rendered body, and what was read from it.
    pub body: Key,
    pub toc: Vec<TocEntry>,
    pub citation_anchors: Vec<(String, String)>,
    /// First paragraph of the body as plain text, for the description.
    pub first_paragraph: Option<String>,
}

impl Manifest {
    pub fn new(build: Key) -> Manifest {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        Manifest { format: FORMAT, build, generation: now.as_nanos() as u64, ..Manifest::default() }
    }

    /// Reads the manifest at `path` (see [`path`]) for `build`, or returns
    /// `None` when there is none, it cannot be read, or it belongs to
    /// another build.
    pub fn load(path: &Path, build: &Key) -> Option<Manifest> {
        let bytes = std::fs::read(path).ok()?;
        let manifest: Manifest = bincode::deserialize(&bytes).ok()?;
        (manifest.format == FORMAT && &manifest.build == build).then_some(manifest)
    }

    /// Writes the manifest to `path` atomically.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let dir = path.parent().expect("the manifest is inside the cache directory");
        std::fs::create_dir_all(dir)?;
        let bytes = bincode::serialize(self).map_err(io::Error::other)?;
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(&bytes)?;
        file.persist(path).map_err(|error| error.error)?;
        Ok(())
    }

    /// Returns the key of the build that wrote the manifest.
    pub fn build_key(&self) -> &Key {
        &self.build
    }

    /// Removes the manifest at `path`, if any.
    pub fn remove(path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

/// Returns where the manifest of the builds into `output_dir` is kept, so
/// that builds into different directories do not replace each other's.
pub(super) fn path(cache_dir: &Path, output_dir: &Path) -> PathBuf {
    let key = KeyHasher::new("output-dir").str(&output_dir.to_string_lossy()).finish();
    let name: String = key[..8].iter().map(|byte| format!("{byte:02x}")).collect();
    cache_dir.join("build").join(format!("{name}.manifest"))
}

/// Returns the record of the file at `path`, or `None` if it cannot be
/// read.
pub(super) fn stat(path: &Path, key: Key) -> Option<OutputRecord> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(OutputRecord { key, size: metadata.len(), modified_ns: modified_ns(metadata.modified().ok()?) })
}

fn modified_ns(time: SystemTime) -> i128 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    }
}

/// Returns the key of a build: the identity of the running `survey`
/// executable (its version, size and modification time, because a rebuilt
/// binary may render differently) and the output directory.
pub(super) fn build_key(output_dir: &Path) -> Key {
    let mut hasher = KeyHasher::new("build");
    hasher.str(env!("CARGO_PKG_VERSION"));
    hasher.str(&FORMAT.to_string());
    if let Some(metadata) = std::env::current_exe().ok().and_then(|exe| std::fs::metadata(exe).ok()) {
        hasher.str(&metadata.len().to_string());
        hasher.str(&metadata.modified().map(modified_ns).unwrap_or_default().to_string());
    }
    hasher.str(&output_dir.to_string_lossy());
    hasher.finish()
}

/// Builds a [`Key`] from a sequence of values. Each string is
/// length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
pub(super) struct KeyHasher(blake3::Hasher);

impl KeyHasher {
    /// Starts a key of one kind of output; keys of different kinds differ
    /// even for the same values.
    pub fn new(kind: &str) -> KeyHasher {
        let mut hasher = KeyHasher(blake3::Hasher::new());
        hasher.str(kind);
        hasher
    }

    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn str(&mut self, text: &str) -> &mut Self {
        self.bytes(text.as_bytes())
    }

    pub fn key(&mut self, key: &Key) -> &mut Self {
        self.0.update(key);
        self
    }

    /// Adds a value in its JSON form, which is how templates see it.
    pub fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        let mut writer = HashWriter(&mut self.0, 0);
        serde_json::to_writer(&mut writer, value).expect("template data serializes to JSON");
        let length = writer.1;
        self.0.update(&length.to_le_bytes());
        self
    }

    pub fn finish(&self) -> Key {
        let mut key = [0; 16];
        key.copy_from_slice(&self.0.finalize().as_bytes()[..16]);
        key
    }
}

/// Feeds written bytes into a hasher and counts them.
struct HashWriter<'a>(&'a mut blake3::Hasher, u64);

impl Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.update(bytes);
        self.1 += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Returns the key of a file's bytes.
pub(super) fn content_key(bytes: &[u8]) -> Key {
    KeyHasher::new("content").bytes(bytes).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hasher_separates_values() {
        assert_ne!(KeyHasher::new("k").str("ab").str("c").finish(), KeyHasher::new("k").str("a").str("bc").finish());
        assert_ne!(KeyHasher::new("k").str("x").finish(), KeyHasher::new("l").str("x").finish());
        assert_eq!(KeyHasher::new("k").json(&["a", "b"]).finish(), KeyHasher::new("k").json(&vec!["a", "b"]).finish());
    }

    #[test]
    fn manifest_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), Path::new("site"));
        let build = build_key(Path::new("site"));
        let mut manifest = Manifest::new(build);
        manifest.outputs.insert("index.html".into(), OutputRecord { key: [1; 16], size: 3, modified_ns: -5 });
        manifest.save(&path).unwrap();

        let loaded = Manifest::load(&path, &build).unwrap();
        assert_eq!(loaded.outputs, manifest.outputs);
        assert!(Manifest::load(&path, &build_key(Path::new("elsewhere"))).is_none());
        Manifest::remove(&path).unwrap();
        assert!(Manifest::load(&path, &build).is_none());
        Manifest::remove(&path).unwrap();
    }

    #[test]
    fn output_directories_have_their_own_manifest() {
        let cache = Path::new(".survey");
        assert_ne!(path(cache, Path::new("site")), path(cache, Path::new("public")));
        assert!(path(cache, Path::new("site")).starts_with(".survey/build"));
    }

    #[test]
    fn damaged_manifest_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), Path::new("site"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"not a manifest").unwrap();
        assert!(Manifest::load(&path, &build_key(Path::new("site"))).is_none());
    }
}
