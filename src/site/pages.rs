//! The content pages: their keys, and the parallel pass that renders and
//! stages the pages whose key changed.
//!
//! A page's body key covers what its body HTML is made from: its source,
//! whether the body is hidden, the targets of the keys it cites, the
//! taxonomy lists it shows and its executed blocks' outputs. Its page key
//! adds what the template shows around the body: the title, paper data,
//! previous/next links, the templates and site settings, and on the home
//! page the 目次. A page is rendered again only when its page key changed
//! or its output file is not as the last build left it.

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;

use super::manifest::{Key, KeyHasher, PageRecord};
use super::model::PageKind;
use super::write::Staging;
use super::{Layout, body_hidden, collect};
use crate::content::Page;
use crate::diagnostics::Diagnostics;
use crate::markdown::prepass::{self, Inline, Prepared};
use crate::markdown::{self, RenderContext, Rendered};

/// The data of a page's source that the build needs before rendering.
pub(super) struct Source {
    /// Hash of the page's path, front matter and body.
    key: Key,
    /// Citation keys of the body, in order of first citation.
    pub cited: Vec<String>,
    /// Taxonomy lists the body shows (`""` for the overview).
    shortcodes: Vec<String>,
    /// The prepass result, when the source changed since the last build.
    prepared: Option<Prepared>,
}

impl Source {
    /// Returns the data of a page whose source is unchanged since the
    /// build that wrote `record`.
    pub fn unchanged(key: Key, record: &PageRecord) -> Source {
        Source { key, cited: record.cited.clone(), shortcodes: record.shortcodes.clone(), prepared: None }
    }

    /// Returns the data of a page that went through the prepass in this
    /// build.
    pub fn prepared(key: Key, prepared: Prepared) -> Source {
        let mut cited: Vec<String> = Vec::new();
        for key in prepared.citations.iter().flat_map(|citation| &citation.keys) {
            if !cited.contains(key) {
                cited.push(key.clone());
            }
        }
        let shortcodes = prepared
            .inlines
            .iter()
            .filter_map(|inline| match inline {
                Inline::Shortcode { node, .. } => Some(node.clone().unwrap_or_default()),
                _ => None,
            })
            .collect();
        Source { key, cited, shortcodes, prepared: Some(prepared) }
    }
}

/// Returns the hash of a page's source: its path, front matter and body.
pub(super) fn source_key(page: &Page) -> Key {
    KeyHasher::new("source")
        .str(&page.source.to_string_lossy())
        .str(&page.header)
        .str(&page.body)
        .str(&page.body_line.to_string())
        .finish()
}

/// The pass over every content page.
pub(super) struct PagePass<'a> {
    pub layout: &'a Layout<'a>,
    pub ctx: &'a RenderContext<'a>,
    pub staging: &'a Staging,
    /// Page records of the last build, by source path.
    pub previous: &'a HashMap<PathBuf, PageRecord>,
}

impl PagePass<'_> {
    /// Renders and stages every page whose key changed. Returns the record
    /// of every page, in the order of the library, and the number of pages
    /// rendered.
    pub fn run(&self, sources: Vec<Source>) -> Result<(Vec<PageRecord>, usize), Diagnostics> {
        // The 目次 on the home page depends on every title, and on the home
        // page's own headings, which its body key determines.
        let toc_key = KeyHasher::new("site-toc").json(&self.layout.site_toc(&[])).finish();
        let results: Vec<Result<(PageRecord, bool), Diagnostics>> = sources
            .into_par_iter()
            .enumerate()
            .map(|(index, source)| self.page(index, source, &toc_key))
            .collect();
        let mut diagnostics = Diagnostics::new();
        let mut records = Vec::with_capacity(results.len());
        let mut rendered = 0;
        for (record, was_rendered) in results.into_iter().filter_map(|result| collect(result, &mut diagnostics)) {
            records.push(record);
            rendered += usize::from(was_rendered);
        }
        diagnostics.into_result((records, rendered))
    }

    /// Renders and stages one page if its key changed; returns its record
    /// and whether it was rendered.
    fn page(&self, index: usize, source: Source, toc_key: &Key) -> Result<(PageRecord, bool), Diagnostics> {
        let page = &self.layout.library.pages[index];
        let hidden = body_hidden(page, self.layout.drafts);
        let body_key = self.body_key(page, &source, hidden);
        let mut data = self.layout.page_data(index);
        let nav = self.layout.nav(index);
        let mut hasher = KeyHasher::new("page");
        hasher.key(&self.layout.common_key).json(&data).json(&nav).key(&body_key);
        if data.kind == PageKind::Home {
            hasher.key(toc_key);
        }
        let key = hasher.finish();
        let rel = page.output_file();

        let previous = self.previous.get(&page.source).filter(|record| record.body == body_key);
        if let Some(previous) = previous
            && self.staging.keep_if_current(&rel, &key)
        {
            return Ok((PageRecord { source: source.key, ..previous.clone() }, false));
        }

        let prepared = match source.prepared {
            Some(prepared) => prepared,
            None => prepass::prepare(&page.body, &page.source, page.body_line, self.ctx.math)?,
        };
        let body = if hidden { Rendered::default() } else { markdown::render(page, &prepared, self.ctx)? };
        drop(prepared);
        let Rendered { html, toc, citation_anchors } = body;
        let first_paragraph = crate::summary::first_paragraph(&html);
        data.description = self.layout.description(index, data.paper.as_ref(), first_paragraph.as_deref());
        data.body_html = html;
        data.toc = toc;
        let mut context = self.layout.context(&data, Some(&nav));
        if data.kind == PageKind::Home {
            context.insert("site_toc", &self.layout.site_toc(&data.toc));
        }
        let html = self.layout.templates.render(data.kind.template(), &context)?;
        self.staging.write(&rel, key, html.as_bytes())?;
        let record = PageRecord {
            source: source.key,
            cited: source.cited,
            shortcodes: source.shortcodes,
            body: body_key,
            toc: data.toc,
            citation_anchors,
            first_paragraph,
        };
        Ok((record, true))
    }

    /// Returns the hash of everything the page's body HTML is made from.
    fn body_key(&self, page: &Page, source: &Source, hidden: bool) -> Key {
        let ctx = self.ctx;
        let mut hasher = KeyHasher::new("body");
        hasher.key(&source.key).str(if hidden { "hidden" } else { "shown" });
        for key in &source.cited {
            hasher.str(key);
            match ctx.citations.get(key) {
                Some(target) => hasher.str(&target.label).str(&target.href).str(&target.title),
                None => hasher.str("\0missing"),
            };
        }
        for node in &source.shortcodes {
            hasher.str(node).str(ctx.taxonomy.get(node).map_or("\0missing", String::as_str));
        }
        if let Some(outputs) = ctx.exec_outputs.page_outputs(page).filter(|outputs| !outputs.result.blocks.is_empty()) {
            // Outputs printed as Markdown (`output: asis`) may cite any key
            // and show any taxonomy list, so a page with executed blocks
            // depends on all of them.
            hasher.str(&format!("{:?}", outputs.result)).str(outputs.figure_base);
            let mut citations: Vec<_> = ctx.citations.iter().collect();
            citations.sort_by(|a, b| a.0.cmp(b.0));
            for (key, target) in citations {
                hasher.str(key).str(&target.label).str(&target.href).str(&target.title);
            }
            let mut lists: Vec<_> = ctx.taxonomy.iter().collect();
            lists.sort();
            for (node, html) in lists {
                hasher.str(node).str(html);
            }
        }
        hasher.finish()
    }
}
