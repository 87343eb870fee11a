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

/// Indexes the shards of the new site whose pages changed since the index
/// with the shard keys `previous`, and stages their bundles. Unchanged
/// shards are kept. Returns the new shard keys.
pub(super) fn stage(staging: &Staging, lang: &str, shards: usize, previous: &[Key]) -> Result<Vec<Key>, Diagnostics> {
    let pages = staging.current_outputs(".html");
    let in_staging: std::collections::HashSet<String> = pages.iter().filter(|(_, _, staged)| *staged).map(|(rel, _, _)| rel.clone()).collect();
    let plan = Plan::new(pages.into_iter().map(|(rel, key, _)| (rel, key)), shards);
    let keys = plan.keys();
    let dirty: Vec<usize> = (0..shards)
        .filter(|&index| plan.changed(&keys, previous).contains(&index) || !staging.keep_dir_if_current(&search::shard_dir(index, shards)))
        .collect();
    let read = |rel: &str| {
        let dir = if in_staging.contains(rel) { staging.path() } else { staging.out_dir() };
        std::fs::read_to_string(dir.join(rel))
    };
    let files = index_shards(&plan, &dirty, read, lang)?;
    let mut diagnostics = Diagnostics::new();
    for (rel, bytes) in files {
        if let Err(error) = staging.write_with(&rel, manifest::content_key(&bytes), || Ok(bytes)) {
            diagnostics.push(error);
        }
    }
    diagnostics.into_result(keys)
}

/// Indexes the shards `dirty` of `plan`, reading each page with `read`, in
/// parallel. Returns the bundle files as (path relative to the output
/// directory, contents).
fn index_shards(
    plan: &Plan,
    dirty: &[usize],
    read: impl Fn(&str) -> std::io::Result<String> + Sync,
    lang: &str,
) -> Result<Vec<(String, Vec<u8>)>, Diagnostics> {
    let results: Vec<Result<Vec<(String, Vec<u8>)>, Diagnostics>> = dirty
        .par_iter()
        .map(|&index| {
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
            let dir = search::shard_dir(index, plan.shards());
            Ok(files
                .into_iter()
                .filter(|(name, _)| index == 0 || search::is_index_data(name))
                .map(|(name, bytes)| (format!("{dir}{name}"), bytes))
                .collect())
        })
        .collect();
    let mut diagnostics = Diagnostics::new();
    let mut files = Vec::new();
    for result in results {
        match result {
            Ok(shard_files) => files.extend(shard_files),
            Err(errors) => diagnostics.extend(errors),
        }
    }
    diagnostics.into_result(files)
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
    /// Shards indexed.
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
    let files = match pool.install(|| index_shards(&plan, &dirty, read, &lang)) {
        Ok(files) => files,
        // A page deleted meanwhile belongs to a newer build, whose commit
        // makes this index obsolete anyway.
        Err(diagnostics) if diagnostics.iter().all(|d| d.message.id == "io-error") => return Ok(None),
        Err(diagnostics) => return Err(diagnostics),
    };
    Ok(Some(PendingSearchIndex { output_dir, generation: manifest.generation, replaced, files, keys, shards_indexed: dirty.len() }))
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
    manifest.search_shards = pending.keys;
    manifest.save(&manifest_path).map_err(|error| write::io_error(&manifest_path, error))?;
    Ok(true)
}
