//! The search index as a build stage, shard by shard, during the build or
//! later for `survey serve`.
//!
//! Pagefind cannot update a bundle, so the index is split into shards (see
//! [`crate::search`]) and a build indexes again only the shards whose
//! pages changed. A shard's key is a hash of its pages' paths and output
//! keys, recorded in the manifest. Indexing still costs about a second per
//! thousand pages indexed, so a build with [`BuildOptions::search`] off
//! keeps the previous index and records it as stale. [`index_stale_search`]
//! then indexes the stale shards from the output directory without holding
//! up the next build, and [`commit_search_index`] installs the result unless
//! a build changed the site meanwhile.
//!
//! Indexed shards are also kept in `.survey/search/`, one file per shard
//! key ([`ShardCache`]). A build whose output directory lost a shard (a
//! fresh `site/`, another `--out`) copies it from there instead of indexing
//! its pages again, as `.survey/katex/` does for formulas.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::manifest::{self, Key, KeyHasher, Manifest};
use super::write::{self, Staging};
use super::{BuildOptions, CACHE_DIR, GENERATED_PAGES};
use crate::config::Config;
use crate::diagnostics::{Diagnostic, Diagnostics, Message};
use crate::search;

/// The HTML pages of each shard.
struct Plan {
    /// Per shard, the (path, output key) of its pages, sorted by path.
    members: Vec<Vec<(String, Key)>>,
}

impl Plan {
    fn new(pages: impl IntoIterator<Item = (String, Key)>, shards: usize) -> Plan {
        let mut members = vec![Vec::new(); shards];
        for (rel, key) in pages {
            members[search::shard_of(&rel, shards)].push((rel, key));
        }
        for pages in &mut members {
            pages.sort();
        }
        Plan { members }
    }

    fn shards(&self) -> usize {
        self.members.len()
    }

    /// Returns the key of each shard: its pages and their output keys.
    fn keys(&self) -> Vec<Key> {
        self.members
            .iter()
            .map(|pages| {
                let mut hasher = KeyHasher::new("search-shard");
                for (rel, key) in pages {
                    hasher.str(rel).key(key);
                }
                hasher.finish()
            })
            .collect()
    }

    /// Returns the shards whose key is not in `previous` at the same place.
    fn changed(&self, keys: &[Key], previous: &[Key]) -> Vec<usize> {
        (0..self.shards()).filter(|&index| previous.len() != self.shards() || previous[index] != keys[index]).collect()
    }
}

/// Returns the number of shards of a site with `content_pages` pages.
pub(super) fn shard_count(content_pages: usize) -> usize {
    search::shard_count(content_pages + GENERATED_PAGES)
}

/// Indexed shard bundles kept between builds, one bincode file per shard in
/// `.survey/search/`. The file name is a hash of the shard's key (its pages'
/// paths and output keys), the site's language, whether the shard carries
/// Pagefind's scripts (shard 0) and the generator's version, so a name
/// names one bundle. The cache only saves time: a file that is missing,
/// unreadable or removed by a concurrent build is indexed again, and
/// failures to write it are ignored.
pub(super) struct ShardCache {
    dir: PathBuf,
}

/// Version of the cache's file format and of what goes into a name.
const SHARD_CACHE_FORMAT: &str = "search-shard-cache-1";

impl ShardCache {
    pub(super) fn new(cache_dir: &Path) -> ShardCache {
        ShardCache { dir: cache_dir.join("search") }
    }

    /// Returns the file name of the bundle of a shard with key `key`.
    fn entry_name(key: &Key, first_shard: bool, lang: &str) -> String {
        let mut hasher = KeyHasher::new(SHARD_CACHE_FORMAT);
        hasher.str(env!("CARGO_PKG_VERSION")).str(lang).str(if first_shard { "scripts" } else { "data" }).key(key);
        let name: String = hasher.finish().iter().map(|byte| format!("{byte:02x}")).collect();
        format!("{name}.bin")
    }

    /// Returns the bundle files (relative to the shard's directory) stored under `name`.
    fn get(&self, name: &str) -> Option<Vec<(String, Vec<u8>)>> {
        let bytes = std::fs::read(self.dir.join(name)).ok()?;
        bincode::deserialize(&bytes).ok()
    }

    /// Stores `files` under `name`, atomically, so a concurrent reader sees
    /// the whole file or none.
    fn put(&self, name: &str, files: &[(String, Vec<u8>)]) {
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let bytes = bincode::serialize(files).map_err(std::io::Error::other)?;
            let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
            file.write_all(&bytes)?;
            file.persist(self.dir.join(name)).map_err(|error| error.error)?;
            Ok(())
        };
        if let Err(error) = write() {
            tracing::debug!("search shard cache: cannot store {name}: {error}");
        }
    }

    /// Removes every stored bundle except `keep`, so the cache contains the
    /// shards of one index only.
    fn retain(&self, keep: &HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".bin") && !keep.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Returns the file names of the bundles of every shard with `keys`.
    fn names(keys: &[Key], lang: &str) -> HashSet<String> {
        keys.iter().enumerate().map(|(index, key)| ShardCache::entry_name(key, index == 0, lang)).collect()
    }
}

/// Indexes the shards of the new site whose pages changed since the index
/// with the shard keys `previous`, and stages their bundles. Unchanged
/// shards are kept, or copied from `cache` when the output directory lost
/// them. Returns the new shard keys and the number of shards indexed.
pub(super) fn stage(
    staging: &Staging,
    cache: &ShardCache,
    lang: &str,
    shards: usize,
    previous: &[Key],
) -> Result<(Vec<Key>, usize), Diagnostics> {
    let pages = staging.current_outputs(".html");
    let in_staging: std::collections::HashSet<String> = pages.iter().filter(|(_, _, staged)| *staged).map(|(rel, _, _)| rel.clone()).collect();
    let plan = Plan::new(pages.into_iter().map(|(rel, key, _)| (rel, key)), shards);
    let keys = plan.keys();
    let changed = plan.changed(&keys, previous);
    let dirty: Vec<usize> = (0..shards)
        .filter(|&index| changed.contains(&index) || !staging.keep_dir_if_current(&search::shard_dir(index, shards)))
        .collect();
    let read = |rel: &str| {
        let dir = if in_staging.contains(rel) { staging.path() } else { staging.out_dir() };
        std::fs::read_to_string(dir.join(rel))
    };
    let (files, indexed) = index_shards(&plan, &keys, &dirty, read, lang, cache)?;
    cache.retain(&ShardCache::names(&keys, lang));
    let mut diagnostics = Diagnostics::new();
    for (rel, bytes) in files {
        if let Err(error) = staging.write_with(&rel, manifest::content_key(&bytes), || Ok(bytes)) {
            diagnostics.push(error);
        }
    }
    diagnostics.into_result((keys, indexed))
}

/// Indexes the shards `dirty` of `plan` (with shard keys `keys`), reading
/// each page with `read`, in parallel. A shard found in `cache` is taken
/// from there, and a shard indexed here is stored in it. Returns the bundle
/// files as (path relative to the output directory, contents) and the
/// number of shards indexed.
fn index_shards(
    plan: &Plan,
    keys: &[Key],
    dirty: &[usize],
    read: impl Fn(&str) -> std::io::Result<String> + Sync,
    lang: &str,
    cache: &ShardCache,
) -> Result<(Vec<(String, Vec<u8>)>, usize), Diagnostics> {
    // Per shard: its files, and whether it was indexed (not cached).
    let results: Vec<Result<(Vec<(String, Vec<u8>)>, bool), Diagnostics>> = dirty
        .par_iter()
        .map(|&index| {
            let dir = search::shard_dir(index, plan.shards());
            let cache_name = ShardCache::entry_name(&keys[index], index == 0, lang);
            if let Some(files) = cache.get(&cache_name) {
                return Ok((files.into_iter().map(|(name, bytes)| (format!("{dir}{name}"), bytes)).collect(), false));
            }
            let mut documents = Vec::new();
            for (rel, _) in &plan.members[index] {
                let html = read(rel).map_err(|error| {
                    Diagnostics::from(Diagnostic::new(Path::new(rel), Message::new("io-error").arg("path", rel).arg("detail", error)))
                })?;
                documents.push((search::page_url(rel), html));
            }
            // Pagefind indexes only the pages with a `data-pagefind-body`
            // element when one page has it. It decides so per bundle, so a
            // shard applies the rule to its own pages.
            // NOTE: a shard whose pages all lack the element (possible only
            // if nearly every page lacks it) indexes all of them.
            if documents.iter().any(|(_, html)| html.contains("data-pagefind-body")) {
                documents.retain(|(_, html)| html.contains("data-pagefind-body"));
            }
            let (_, files) = search::index_documents(documents, lang)?;
            let files: Vec<(String, Vec<u8>)> =
                files.into_iter().filter(|(name, _)| index == 0 || search::is_index_data(name)).collect();
            cache.put(&cache_name, &files);
            Ok((files.into_iter().map(|(name, bytes)| (format!("{dir}{name}"), bytes)).collect(), true))
        })
        .collect();
    let mut diagnostics = Diagnostics::new();
    let mut files = Vec::new();
    let mut indexed = 0;
    for result in results {
        match result {
            Ok((shard_files, was_indexed)) => {
                files.extend(shard_files);
                indexed += usize::from(was_indexed);
            }
            Err(errors) => diagnostics.extend(errors),
        }
    }
    diagnostics.into_result((files, indexed))
}

/// A search index built from an output directory, not yet installed.
pub struct PendingSearchIndex {
    output_dir: PathBuf,
    /// Generation of the manifest of the build whose output was indexed.
    generation: u64,
    /// Directories (relative to the output directory, ending in `/`) whose
    /// files the new ones replace.
    replaced: Vec<String>,
    files: Vec<(String, Vec<u8>)>,
    keys: Vec<Key>,
    lang: String,
    /// Shards indexed; the other stale shards came from `.survey/search/`.
    pub shards_indexed: usize,
}

/// Indexes the stale shards of the output directory of `options` (the last
/// build ran with `search` off). Returns `None` when the index is current
/// or there is no record of a build. Takes no lock and writes nothing, so
/// builds may run meanwhile. It uses a thread pool of one thread, so the
/// build's threads stay free.
pub fn index_stale_search(options: &BuildOptions) -> Result<Option<PendingSearchIndex>, Diagnostics> {
    let output_dir = options.output_dir();
    let cache_dir = options.root.join(CACHE_DIR);
    let Some(manifest) = Manifest::load(&manifest::path(&cache_dir, &output_dir), &manifest::build_key(&output_dir)) else {
        return Ok(None);
    };
    if !manifest.search_stale {
        return Ok(None);
    }
    let lang = Config::load(&options.root)?.lang;
    let shards = shard_count(manifest.pages.len());
    let pages = manifest.outputs.iter().filter(|(rel, _)| rel.ends_with(".html")).map(|(rel, record)| (rel.clone(), record.key));
    let plan = Plan::new(pages, shards);
    let keys = plan.keys();
    let dirty = plan.changed(&keys, &manifest.search_shards);
    let replaced = if manifest.search_shards.len() == shards {
        dirty.iter().map(|&index| search::shard_dir(index, shards)).collect()
    } else {
        vec![format!("{}/", search::SEARCH_DIR)]
    };

    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|error| {
        Diagnostic::new(search::SEARCH_DIR, Message::new("search-index-failed").arg("detail", error.to_string()))
    })?;
    let read = |rel: &str| std::fs::read_to_string(output_dir.join(rel));
    let cache = ShardCache::new(&cache_dir);
    let (files, indexed) = match pool.install(|| index_shards(&plan, &keys, &dirty, read, &lang, &cache)) {
        Ok(result) => result,
        // A page deleted meanwhile belongs to a newer build, whose commit
        // makes this index obsolete anyway.
        Err(diagnostics) if diagnostics.iter().all(|d| d.message.id == "io-error") => return Ok(None),
        Err(diagnostics) => return Err(diagnostics),
    };
    Ok(Some(PendingSearchIndex { output_dir, generation: manifest.generation, replaced, files, keys, lang, shards_indexed: indexed }))
}

/// Installs `pending` in its output directory. Returns `false`, changing
/// nothing, when a build has written the directory since it was indexed;
/// index it again then. The caller must not run a build at the same time,
/// as for two builds.
pub fn commit_search_index(options: &BuildOptions, pending: PendingSearchIndex) -> Result<bool, Diagnostics> {
    let output_dir = &pending.output_dir;
    let cache_dir = options.root.join(CACHE_DIR);
    let manifest_path = manifest::path(&cache_dir, output_dir);
    let Some(previous) = Manifest::load(&manifest_path, &manifest::build_key(output_dir)) else {
        return Ok(false);
    };
    if previous.generation != pending.generation || !previous.search_stale {
        return Ok(false);
    }

    let build = *previous.build_key();
    let staging = Staging::new(output_dir, Some(previous.outputs))?;
    staging.keep_all_except(&pending.replaced);
    let mut diagnostics = Diagnostics::new();
    for (rel, bytes) in pending.files {
        if let Err(error) = staging.write_with(&rel, manifest::content_key(&bytes), || Ok(bytes)) {
            diagnostics.push(error);
        }
    }
    diagnostics.into_result(())?;
    Manifest::remove(&manifest_path).map_err(|error| write::io_error(&manifest_path, error))?;
    let committed = staging.commit()?;
    let mut manifest = Manifest::new(build);
    manifest.outputs = committed.outputs;
    manifest.pages = previous.pages;
    ShardCache::new(&cache_dir).retain(&ShardCache::names(&pending.keys, &pending.lang));
    manifest.search_shards = pending.keys;
    manifest.save(&manifest_path).map_err(|error| write::io_error(&manifest_path, error))?;
    Ok(true)
}
