//! Full-text search: a Pagefind index of the written pages.
//!
//! The index is built from the HTML files of the output directory, so it
//! contains exactly the published text, and is written into `pagefind/`
//! beside them. A large site's index is split into shards, each a Pagefind
//! bundle of its own in `pagefind/s0/`, `pagefind/s1/` and so on, which the
//! search page merges (Pagefind's `mergeIndex`). A page's shard follows from
//! its path, so a changed page means indexing its shard again, not the
//! whole site. Pagefind splits Japanese text into words with ICU's word
//! segmenter (its `extended` feature). Result URLs are stored relative to
//! the site root, and `pagefind.js` prefixes the path it was loaded from,
//! so one index works under any base path.

use std::path::Path;

use pagefind::api::PagefindIndex;
use pagefind::options::PagefindServiceConfig;

use crate::diagnostics::{Diagnostic, Diagnostics, Message};

/// Directory of the search bundle in the output directory.
pub const SEARCH_DIR: &str = "pagefind";

/// Pages per shard that a site of many pages aims at. Pagefind indexes
/// about one page per 2.8 ms on one core of the benchmark machine (Japanese
/// pages of about 1,500 characters, docs/benchmarks.md), so an edit that
/// re-indexes one shard of 16 pages spends about 45 ms on it. The search
/// page loads the metadata of every shard, which bounds the count.
pub const SHARD_PAGES: usize = 16;
/// Sites up to this many pages keep one shard.
pub const SINGLE_SHARD_PAGES: usize = 64;
/// Upper bound of the number of shards.
pub const MAX_SHARDS: usize = 64;

/// Returns the number of index shards for a site of `pages` HTML pages:
/// one up to [`SINGLE_SHARD_PAGES`], else a power of two near
/// `pages / SHARD_PAGES`, so that adding or removing a few pages rarely
/// changes it.
pub fn shard_count(pages: usize) -> usize {
    if pages <= SINGLE_SHARD_PAGES {
        return 1;
    }
    pages.div_ceil(SHARD_PAGES).next_power_of_two().min(MAX_SHARDS)
}

/// Returns the shard of the page at `rel` (relative to the output
/// directory) among `shards`.
pub fn shard_of(rel: &str, shards: usize) -> usize {
    let hash = blake3::hash(rel.as_bytes());
    let first = u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"));
    (first % shards as u64) as usize
}

/// Returns whether the bundle file `name` (relative to its bundle) contains
/// index data that a merged shard needs. A merged shard uses the first
/// shard's scripts and WebAssembly, so its own copies are left out.
pub fn is_index_data(name: &str) -> bool {
    name == "pagefind-entry.json"
        || name.ends_with(".pf_meta")
        || ["index/", "fragment/", "filter/"].iter().any(|dir| name.starts_with(dir))
}

/// Returns the directory of shard `index` relative to the output
/// directory, with a final `/`: `pagefind/` for a single shard.
pub fn shard_dir(index: usize, shards: usize) -> String {
    if shards == 1 { format!("{SEARCH_DIR}/") } else { format!("{SEARCH_DIR}/s{index}/") }
}
/// Pagefind's manifest of the bundle, with the page count per language.
const ENTRY_FILE: &str = "pagefind-entry.json";

/// CSS selectors of the parts of a page left out of the index. KaTeX
/// writes each formula twice (MathML for assistive technology, HTML for
/// display): the HTML copy and the MathML tokens are dropped and the TeX
/// source in `<annotation>` is kept, so `QK^\top` is indexed once, as
/// written. The tables of contents repeat headings of other pages, and the
/// labels and link of a paper's details would only clutter the excerpts.
pub const EXCLUDED: &[&str] = &[".katex-html", "semantics > mrow", ".site-toc", ".page-toc", ".paper-meta dt", ".paper-meta .proceedings"];

/// Indexes every HTML page under `dir` that has a `data-pagefind-body`
/// element (or every page, when none has one) and writes the bundle to
/// `dir/pagefind/`. Returns the number of pages indexed.
pub fn write_index(dir: &Path, lang: &str) -> Result<usize, Diagnostics> {
    let (pages, files) = index_files(dir, lang)?;
    let mut diagnostics = Diagnostics::new();
    for (rel, contents) in files {
        let path = dir.join(SEARCH_DIR).join(rel);
        let written = path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&path, &contents));
        if let Err(error) = written {
            diagnostics.push(Diagnostic::new(&path, Message::new("io-error").arg("path", path.display()).arg("detail", error)));
        }
    }
    diagnostics.into_result(pages)
}

/// Indexes every HTML page under `dir` as [`write_index`] does and returns
/// the number of pages indexed and the bundle's files, as paths relative to
/// `pagefind/` with their contents, without writing them.
pub fn index_files(dir: &Path, lang: &str) -> Result<(usize, Vec<(String, Vec<u8>)>), Diagnostics> {
    let failed = |detail: String| Diagnostic::new(SEARCH_DIR, Message::new("search-index-failed").arg("detail", detail));
    if !dir.is_dir() {
        let error = std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory");
        return Err(Diagnostic::new(dir, Message::new("io-error").arg("path", dir.display()).arg("detail", error)).into());
    }

    // Pagefind's indexing API is async; a build runs it to completion on
    // a runtime of its own.
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|error| failed(error.to_string()))?;
    let files = runtime
        .block_on(async {
            let config = PagefindServiceConfig::builder()
                .force_language(lang.to_string())
                .exclude_selectors(EXCLUDED.iter().map(|selector| selector.to_string()).collect())
                .build();
            let mut index = PagefindIndex::new(Some(config))?;
            index.add_directory(dir.to_string_lossy().into_owned(), Some("**/*.html".to_string())).await?;
            index.get_files().await
        })
        .map_err(|error| failed(format!("{error:#}")))?;

    let pages = files.iter().find(|file| file.filename == Path::new(ENTRY_FILE)).map_or(0, |file| indexed_pages(&file.contents));
    let files = files.into_iter().map(|file| (file.filename.to_string_lossy().replace('\\', "/"), file.contents)).collect();
    Ok((pages, files))
}

/// Indexes `documents`, each a page's URL relative to the site root
/// (`/papers/03-skyformer/`) and its HTML, as [`index_files`] indexes a
/// directory, and returns the same. Pagefind parses the pages one by one on
/// the calling thread's runtime, without rayon; only the final index
/// building runs on the current rayon pool.
pub fn index_documents(documents: Vec<(String, String)>, lang: &str) -> Result<(usize, Vec<(String, Vec<u8>)>), Diagnostics> {
    let failed = |detail: String| Diagnostic::new(SEARCH_DIR, Message::new("search-index-failed").arg("detail", detail));
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|error| failed(error.to_string()))?;
    let files = runtime
        .block_on(async {
            let config = PagefindServiceConfig::builder()
                .force_language(lang.to_string())
                .exclude_selectors(EXCLUDED.iter().map(|selector| selector.to_string()).collect())
                .build();
            let mut index = PagefindIndex::new(Some(config))?;
            for (url, html) in documents {
                index.add_html_file(None, Some(url), html).await?;
            }
            index.get_files().await
        })
        .map_err(|error| failed(format!("{error:#}")))?;
    let pages = files.iter().find(|file| file.filename == Path::new(ENTRY_FILE)).map_or(0, |file| indexed_pages(&file.contents));
    let files = files.into_iter().map(|file| (file.filename.to_string_lossy().replace('\\', "/"), file.contents)).collect();
    Ok((pages, files))
}

/// Returns the URL Pagefind gives the HTML file at `rel` (relative to the
/// site root, `/` separators) when it indexes a directory: `/` and the path
/// without a final `index.html`.
pub fn page_url(rel: &str) -> String {
    format!("/{}", rel.strip_suffix("index.html").unwrap_or(rel))
}

/// Counts the pages of every language in `pagefind-entry.json`.
fn indexed_pages(entry: &[u8]) -> usize {
    let Ok(entry) = serde_json::from_slice::<serde_json::Value>(entry) else { return 0 };
    let languages = entry.get("languages").and_then(serde_json::Value::as_object);
    languages
        .into_iter()
        .flat_map(|languages| languages.values())
        .filter_map(|language| language.get("page_count")?.as_u64())
        .sum::<u64>() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(title: &str, body: &str) -> String {
        format!(
            "<!DOCTYPE html><html lang=\"ja\"><head><title>{title}</title></head><body>\
             <nav class=\"site-toc\">目次だけの語</nav><main data-pagefind-body><h1>{title}</h1>{body}</main></body></html>"
        )
    }

    #[test]
    fn index_covers_pages_with_a_body_only() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path();
        std::fs::create_dir_all(site.join("papers/a")).unwrap();
        std::fs::write(site.join("index.html"), page("ホーム", "<p>セルフアテンションの計算量を減らす。</p>")).unwrap();
        std::fs::write(site.join("papers/a/index.html"), page("Skyformer", "<p>Nyström 近似を使う。</p>")).unwrap();
        std::fs::write(site.join("404.html"), "<!DOCTYPE html><html lang=\"ja\"><body><main><h1>見つかりません</h1></main></body></html>").unwrap();

        let pages = write_index(site, "ja").unwrap();
        assert_eq!(pages, 2, "the 404 page has no data-pagefind-body");
        for file in ["pagefind.js", "pagefind-entry.json", "pagefind-worker.js"] {
            assert!(site.join(SEARCH_DIR).join(file).is_file(), "{file} missing");
        }
        let names: Vec<String> =
            std::fs::read_dir(site.join(SEARCH_DIR)).unwrap().flatten().map(|entry| entry.file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().any(|name| name.starts_with("wasm.") && name.ends_with(".pagefind")), "no search engine: {names:?}");
        assert!(names.iter().any(|name| name.starts_with("pagefind.ja_")), "no Japanese metadata: {names:?}");
        let entry = std::fs::read_to_string(site.join(SEARCH_DIR).join("pagefind-entry.json")).unwrap();
        let entry: serde_json::Value = serde_json::from_str(&entry).unwrap();
        assert_eq!(entry["languages"]["ja"]["page_count"], 2, "{entry}");
    }

    #[test]
    fn shard_count_grows_in_powers_of_two() {
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(SINGLE_SHARD_PAGES), 1);
        assert_eq!(shard_count(SINGLE_SHARD_PAGES + 1), 8);
        assert_eq!(shard_count(200), 16);
        assert_eq!(shard_count(1_006), 64);
        assert_eq!(shard_count(10_006), 64);
        assert_eq!(shard_count(1_000_000), MAX_SHARDS);
        assert_eq!(shard_dir(0, 1), "pagefind/");
        assert_eq!(shard_dir(3, 8), "pagefind/s3/");
        assert!(is_index_data("fragment/ja_e023bd7.pf_fragment"));
        assert!(is_index_data("pagefind.ja_664f73bbce.pf_meta"));
        assert!(!is_index_data("pagefind.js"));
        assert!(!is_index_data("wasm.unknown.pagefind"));
    }

    #[test]
    fn shards_spread_pages_evenly() {
        let mut sizes = [0usize; 8];
        for i in 0..8_000 {
            sizes[shard_of(&format!("papers/{i:05}-paper/index.html"), 8)] += 1;
        }
        assert!(sizes.iter().all(|&size| (800..1_200).contains(&size)), "{sizes:?}");
        assert_eq!(shard_of("papers/a/index.html", 8), shard_of("papers/a/index.html", 8));
    }

    #[test]
    fn documents_index_like_a_directory() {
        let documents = vec![
            (page_url("index.html"), page("ホーム", "<p>セルフアテンションの計算量を減らす。</p>")),
            (page_url("papers/a/index.html"), page("Skyformer", "<p>Nyström 近似を使う。</p>")),
        ];
        let (pages, files) = index_documents(documents, "ja").unwrap();
        assert_eq!(pages, 2);
        assert!(files.iter().any(|(name, _)| name == "pagefind.js"));
        assert!(files.iter().any(|(name, _)| name.starts_with("fragment/")), "{:?}", files.iter().map(|f| &f.0).collect::<Vec<_>>());
        assert_eq!(page_url("papers/a/index.html"), "/papers/a/");
        assert_eq!(page_url("404.html"), "/404.html");
    }

    #[test]
    fn unwritable_output_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-directory");
        std::fs::write(&file, "x").unwrap();
        let errors = write_index(&file, "ja").unwrap_err();
        let error = errors.iter().next().unwrap();
        assert_eq!(error.message.id, "io-error");
        assert!(error.file.starts_with(&file), "{}", error.file.display());
    }
}
