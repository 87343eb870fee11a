//! Markdown → HTML: pulldown-cmark events with math, highlighted code,
//! citations, heading ids, footnotes and shortcodes.
//!
//! Rendering a page is two steps. [`prepass::prepare`] cuts math,
//! citations and shortcodes out of the source (math is typeset there) and
//! reports which keys the page cites. [`render`] then parses the prepared
//! Markdown and rewrites the event stream, one concern per branch of
//! [`Renderer::convert`]. The site stage runs the first step for every page
//! before the second, because citation numbers of works that are not
//! papers depend on every page.

pub mod code;
pub mod headings;
pub mod highlight;
pub mod math;
pub mod prepass;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd};

use crate::content::Page;
use crate::diagnostics::{Diagnostic, Diagnostics, Message, closest};
use crate::exec::{BlockResult, ExecBlock, HtmlParts, OutputMode, extract_blocks, render_block_html};

use code::{CodeInfo, ExecOutputs, NoExecOutputs, PageOutputs};
use headings::{IdAllocator, TocEntry, slugify};
use math::MathCache;
use prepass::{CLOSE, Inline, OPEN, Prepared};

/// Returns the pulldown-cmark extensions every page is parsed with. The
/// execution engine finds `rust,exec` blocks with the same options.
pub fn parser_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// Link of a citation key: label, target and tooltip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiteTarget {
    /// Number shown in brackets.
    pub label: String,
    /// Root-relative URL of the paper's section or bibliography entry.
    pub href: String,
    /// The formatted reference, shown as a tooltip.
    pub title: String,
}

/// Site-wide data a page's rendering needs.
pub struct RenderContext<'a> {
    /// Every citable key.
    pub citations: &'a HashMap<String, CiteTarget>,
    /// Taxonomy HTML by node path; `""` is the overview.
    pub taxonomy: &'a HashMap<String, String>,
    pub exec_outputs: &'a dyn ExecOutputs,
    /// Typesets the formulas of titles, labels and `asis` block outputs.
    pub math: &'a MathCache,
    /// Path the site is served under (`/` or `/REPO/`). Link and image
    /// targets written from the site root (`/papers/03-skyformer/`) get it
    /// as their prefix, so they work wherever the site is published.
    pub base_path: &'a str,
}

/// A rendered page body.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub html: String,
    pub toc: Vec<TocEntry>,
    /// For each cited key, the id of its first citation on the page.
    pub citation_anchors: Vec<(String, String)>,
}

/// Renders a page body that went through [`prepass::prepare`].
pub fn render(page: &Page, prepared: &Prepared, ctx: &RenderContext) -> Result<Rendered, Diagnostics> {
    let mut renderer = Renderer::new(prepared, ctx, Some(page));
    let events = parse(&prepared.text);
    let converted = renderer.convert(&events, Mode::Body);
    let mut html = String::with_capacity(prepared.text.len() * 2);
    pulldown_cmark::html::push_html(&mut html, converted.into_iter());
    html.push_str(&renderer.footnotes_html());
    renderer.check_exec_blocks_seen();
    let Renderer { toc, anchors, diagnostics, .. } = renderer;
    diagnostics.into_result(Rendered { html, toc, citation_anchors: anchors })
}

/// Renders one line of Markdown (a title, a taxonomy label) to inline HTML
/// without the surrounding `<p>`. `file` and `line` locate errors.
pub fn render_inline(text: &str, file: &Path, line: usize, ctx: &RenderContext) -> Result<String, Diagnostics> {
    let prepared = prepass::prepare(text, file, line, ctx.math)?;
    let mut renderer = Renderer::new(&prepared, ctx, None);
    let events = parse(&prepared.text);
    let converted = renderer.convert(&events, Mode::Toc);
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, converted.into_iter());
    renderer.diagnostics.into_result(())?;
    let html = html.trim_end();
    let html = html.strip_prefix("<p>").and_then(|h| h.strip_suffix("</p>")).unwrap_or(html);
    Ok(html.to_string())
}

/// Returns `dest` with the site's base path in front when it is written from
/// the site root (`/papers/…`, not `//host/…`). Other targets stay as they are.
pub fn with_base_path<'s>(dest: &CowStr<'s>, base_path: &str) -> CowStr<'s> {
    match dest.strip_prefix('/') {
        Some(rest) if !rest.starts_with('/') && base_path != "/" => format!("{base_path}{rest}").into(),
        _ => dest.clone(),
    }
}

/// Builds a context for rendering text that cites nothing and runs nothing,
/// with the process-wide in-memory formula cache.
pub fn plain_context<'a>(empty_citations: &'a HashMap<String, CiteTarget>, empty_taxonomy: &'a HashMap<String, String>) -> RenderContext<'a> {
    RenderContext { citations: empty_citations, taxonomy: empty_taxonomy, exec_outputs: &NoExecOutputs, math: MathCache::shared(), base_path: "/" }
}

/// Formats a citation link `[n]` with the full reference as its tooltip.
pub fn cite_link(target: &CiteTarget) -> String {
    format!(
        "<a class=\"cite\" href=\"{}\" title=\"{}\">[{}]</a>",
        escape_html(&target.href),
        escape_html(&target.title),
        escape_html(&target.label)
    )
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attributes.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Returns whether `c` is an East Asian wide character, between two of which a
/// soft line break is dropped instead of becoming a space.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA960..=0xA97F
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF01..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)
}

type Spanned<'a> = (Event<'a>, Range<usize>);

/// Parses Markdown and merges adjacent text events, so a placeholder or a
/// CJK pair is never split across two events.
fn parse(text: &str) -> Vec<Spanned<'_>> {
    let mut events: Vec<Spanned> = Vec::new();
    for (event, range) in Parser::new_ext(text, parser_options()).into_offset_iter() {
        if let (Event::Text(next), Some((Event::Text(previous), previous_range))) = (&event, events.last_mut()) {
            let merged = format!("{previous}{next}");
            *previous = CowStr::from(merged);
            previous_range.end = range.end;
            continue;
        }
        events.push((event, range));
    }
    events
}

/// Index of the event that closes the element opened at `start`.
fn matching_end(events: &[Spanned], start: usize) -> usize {
    let mut depth = 0usize;
    for (index, (event, _)) in events.iter().enumerate().skip(start) {
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                depth -= 1;
                if depth == 0 {
                    return index;
                }
            }
            _ => {}
        }
    }
    events.len() - 1
}

/// Body mode renders everything; TOC mode renders a copy of heading text,
/// so it gives citations no ids and leaves out footnote references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Body,
    Toc,
}

/// A piece of text split at placeholders.
enum Piece<'t> {
    Text(&'t str),
    Inline(usize),
}

fn split_placeholders(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(OPEN) {
        let after = &rest[open + OPEN.len_utf8()..];
        let Some(close) = after.find(CLOSE) else { break };
        let Ok(index) = after[..close].parse::<usize>() else { break };
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        pieces.push(Piece::Inline(index));
        rest = &after[close + CLOSE.len_utf8()..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    pieces
}

struct Footnote {
    name: String,
    number: usize,
    references: usize,
    html: String,
}

struct Renderer<'p, 'c> {
    prepared: &'p Prepared,
    ctx: &'c RenderContext<'c>,
    page: Option<&'c Page>,
    ids: IdAllocator,
    toc: Vec<TocEntry>,
    footnotes: Vec<Footnote>,
    /// The engine's blocks and outputs for `page`, if an engine ran.
    exec: Option<PageOutputs<'c>>,
    /// Flags of the engine's blocks met while rendering, by block index.
    exec_seen: Vec<bool>,
    /// The page's blocks when no engine ran, extracted on first use.
    unexecuted: Option<Vec<ExecBlock>>,
    anchors: Vec<(String, String)>,
    diagnostics: Diagnostics,
}

impl<'p, 'c> Renderer<'p, 'c> {
    fn new(prepared: &'p Prepared, ctx: &'c RenderContext<'c>, page: Option<&'c Page>) -> Self {
        let mut ids = IdAllocator::default();
        for index in 1..=prepared.citations.len() {
            ids.reserve(&format!("cite-{index}"));
        }
        let exec = page.and_then(|page| ctx.exec_outputs.page_outputs(page));
        let exec_seen = exec.map_or_else(Vec::new, |outputs| vec![false; outputs.result.blocks.len()]);
        Self {
            prepared,
            ctx,
            page,
            ids,
            toc: Vec::new(),
            footnotes: Vec::new(),
            exec,
            exec_seen,
            unexecuted: None,
            anchors: Vec::new(),
            diagnostics: Diagnostics::new(),
        }
    }

    fn convert(&mut self, events: &[Spanned<'p>], mode: Mode) -> Vec<Event<'p>> {
        let mut out = Vec::with_capacity(events.len());
        let mut index = 0;
        while index < events.len() {
            let (event, _) = &events[index];
            match event {
                Event::Start(Tag::Heading { level, id, .. }) => {
                    let end = matching_end(events, index);
                    let inner = &events[index + 1..end];
                    let id = match id {
                        Some(id) => {
                            self.ids.reserve(id);
                            id.to_string()
                        }
                        None => self.ids.allocate(&slugify(&self.plain_text(inner))),
                    };
                    let html = self.html_of(inner, mode);
                    if mode == Mode::Body {
                        let toc_html = self.html_of(inner, Mode::Toc);
                        self.toc.push(TocEntry { level: *level as u8, id: id.clone(), html: toc_html });
                    }
                    out.push(Event::Html(format!("<{level} id=\"{}\">{html}</{level}>\n", escape_html(&id)).into()));
                    index = end + 1;
                }
                Event::Start(Tag::CodeBlock(kind)) => {
                    let end = matching_end(events, index);
                    let code: String = events[index + 1..end]
                        .iter()
                        .filter_map(|(e, _)| if let Event::Text(t) = e { Some(t.as_ref()) } else { None })
                        .collect();
                    let start = events[index].1.start;
                    out.push(Event::Html(self.code_block(kind, &code, start).into()));
                    index = end + 1;
                }
                Event::Start(Tag::Paragraph) => {
                    let end = matching_end(events, index);
                    let inner = &events[index + 1..end];
                    if let Some(html) = self.lone_block(inner) {
                        out.push(Event::Html(html.into()));
                    } else {
                        out.push(event.clone());
                        out.extend(self.convert(inner, mode));
                        out.push(events[end].0.clone());
                    }
                    index = end + 1;
                }
                Event::Start(Tag::FootnoteDefinition(name)) => {
                    let end = matching_end(events, index);
                    let html = self.html_of(&events[index + 1..end], mode);
                    let footnote = self.footnote(name);
                    footnote.html = html;
                    index = end + 1;
                }
                Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                    let dest_url = with_base_path(dest_url, self.ctx.base_path);
                    out.push(Event::Start(Tag::Link { link_type: *link_type, dest_url, title: title.clone(), id: id.clone() }));
                    index += 1;
                }
                Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                    let dest_url = with_base_path(dest_url, self.ctx.base_path);
                    out.push(Event::Start(Tag::Image { link_type: *link_type, dest_url, title: title.clone(), id: id.clone() }));
                    index += 1;
                }
                // A table wider than the page scrolls inside a wrapper that
                // keyboard users can focus to scroll it.
                Event::Start(Tag::Table(_)) => {
                    out.push(Event::Html("<div class=\"table-scroll\" tabindex=\"0\">\n".into()));
                    out.push(event.clone());
                    index += 1;
                }
                Event::End(TagEnd::Table) => {
                    out.push(event.clone());
                    out.push(Event::Html("</div>\n".into()));
                    index += 1;
                }
                Event::FootnoteReference(name) => {
                    if mode == Mode::Body {
                        out.push(Event::InlineHtml(self.footnote_reference(name).into()));
                    }
                    index += 1;
                }
                Event::Text(text) => {
                    self.substitute(text, mode, &mut out);
                    index += 1;
                }
                Event::SoftBreak => {
                    let before = events.get(index.wrapping_sub(1)).and_then(|(e, _)| last_char(e));
                    let after = events.get(index + 1).and_then(|(e, _)| first_char(e));
                    if !(before.is_some_and(is_cjk) && after.is_some_and(is_cjk)) {
                        out.push(Event::SoftBreak);
                    }
                    index += 1;
                }
                _ => {
                    out.push(event.clone());
                    index += 1;
                }
            }
        }
        out
    }

    fn html_of(&mut self, events: &[Spanned<'p>], mode: Mode) -> String {
        let converted = self.convert(events, mode);
        let mut html = String::new();
        pulldown_cmark::html::push_html(&mut html, converted.into_iter());
        html
    }

    /// Heading text for its id: math as TeX, citations left out.
    fn plain_text(&self, events: &[Spanned]) -> String {
        let mut text = String::new();
        for (event, _) in events {
            match event {
                Event::Text(t) | Event::Code(t) => {
                    for piece in split_placeholders(t) {
                        match piece {
                            Piece::Text(t) => text.push_str(t),
                            Piece::Inline(index) => {
                                if let Some(Inline::Math { tex, .. }) = self.prepared.inlines.get(index) {
                                    text.push_str(tex);
                                }
                            }
                        }
                    }
                }
                Event::SoftBreak | Event::HardBreak => text.push(' '),
                _ => {}
            }
        }
        text
    }

    /// HTML of a fenced or indented code block whose `Start` event begins at
    /// byte `start` of the prepared text.
    fn code_block(&mut self, kind: &CodeBlockKind, code: &str, start: usize) -> String {
        let info = match kind {
            CodeBlockKind::Fenced(info) => CodeInfo::parse(info),
            CodeBlockKind::Indented => CodeInfo::parse(""),
        };
        if !info.exec {
            return highlight::highlight(code, &info.lang);
        }
        let Some(page) = self.page else {
            return highlight::highlight(code, &info.lang);
        };
        // The engine located its blocks in the page body, which the prepass
        // copied verbatim between placeholders.
        let offset = self.prepared.source_offset(start);
        let Some(outputs) = self.exec else {
            return self.unexecuted_block(page, offset, code, &info.lang);
        };
        let Some(position) = outputs.result.blocks.iter().position(|b| b.block.span.start == offset) else {
            let line = page.body_line + page.body[..offset.min(page.body.len())].matches('\n').count();
            self.diagnostics.push(Diagnostic::new(&page.source, Message::new("exec-block-mismatch")).at_line(line));
            return highlight::highlight(code, &info.lang);
        };
        self.exec_seen[position] = true;
        let result = &outputs.result.blocks[position];
        self.executed_block(result, outputs, &info.lang)
    }

    /// HTML of an executed block: highlighted source, output box or `asis`
    /// Markdown, figures and the failure of an `error: true` block.
    fn executed_block(&mut self, result: &BlockResult, outputs: PageOutputs, lang: &str) -> String {
        let source_html = highlight::highlight(&result.block.display_source(), lang);
        let asis_html = match &result.output {
            Some(output) if result.block.options.output == OutputMode::Asis => {
                Some(self.asis_html(&output.stdout, &result.block))
            }
            _ => None,
        };
        let parts = HtmlParts { source_html: Some(&source_html), asis_html: asis_html.as_deref(), figure_base: outputs.figure_base };
        render_block_html(result, &parts, outputs.catalog)
    }

    /// Renders what an `output: asis` block printed as Markdown, with math,
    /// citations and shortcodes. Heading ids stay unique in the page; the
    /// output's footnotes and citation anchors are left out because they
    /// belong to the page's own text. Problems are reported at the block.
    fn asis_html(&mut self, markdown: &str, block: &ExecBlock) -> String {
        let file = self.prepared.file.clone();
        let at_block = |diagnostics: Diagnostics| diagnostics.into_iter().map(|mut d| {
            d.line = Some(block.fence_line);
            d.column = None;
            d
        });
        let prepared = match prepass::prepare(markdown, &file, block.fence_line, self.ctx.math) {
            Ok(prepared) => prepared,
            Err(diagnostics) => {
                self.diagnostics.extend(at_block(diagnostics));
                return String::new();
            }
        };
        let mut nested = Renderer::new(&prepared, self.ctx, None);
        nested.ids = std::mem::take(&mut self.ids);
        let events = parse(&prepared.text);
        // Mode::Toc renders citations without ids and drops footnote references.
        let html = nested.html_of(&events, Mode::Toc);
        self.ids = std::mem::take(&mut nested.ids);
        self.diagnostics.extend(at_block(nested.diagnostics));
        html
    }

    /// HTML of a `rust,exec` block when no engine ran: its source as the
    /// engine would show it (no option or hidden lines), without output.
    fn unexecuted_block(&mut self, page: &Page, offset: usize, code: &str, lang: &str) -> String {
        let blocks = self
            .unexecuted
            .get_or_insert_with(|| extract_blocks(&page.body, page.body_line).unwrap_or_default());
        match blocks.iter().find(|block| block.span.start == offset) {
            Some(block) => highlight::highlight(&block.display_source(), lang),
            None => highlight::highlight(code, lang),
        }
    }

    /// Reports an engine block that rendering never met: the two disagree on
    /// the page's code blocks, so its output would be lost.
    fn check_exec_blocks_seen(&mut self) {
        let (Some(page), Some(outputs)) = (self.page, self.exec) else { return };
        for (result, seen) in outputs.result.blocks.iter().zip(&self.exec_seen) {
            if !seen {
                self.diagnostics.push(
                    Diagnostic::new(&page.source, Message::new("exec-block-mismatch")).at_line(result.block.fence_line),
                );
            }
        }
    }

    /// HTML for a paragraph that is one display formula or one shortcode.
    fn lone_block(&mut self, inner: &[Spanned]) -> Option<String> {
        let [(Event::Text(text), _)] = inner else { return None };
        let pieces = split_placeholders(text.trim());
        let [Piece::Inline(index)] = pieces.as_slice() else { return None };
        match self.prepared.inlines.get(*index)? {
            Inline::Math { html, display: true, .. } => Some(format!("<div class=\"math-display\">{html}</div>\n")),
            Inline::Shortcode { node, line, column } => Some(self.taxonomy_html(node.as_deref(), *line, *column)),
            _ => None,
        }
    }

    fn taxonomy_html(&mut self, node: Option<&str>, line: usize, column: usize) -> String {
        let key = node.unwrap_or("");
        if let Some(html) = self.ctx.taxonomy.get(key) {
            return html.clone();
        }
        let suggestion = closest(key, self.ctx.taxonomy.keys().map(String::as_str).filter(|k| !k.is_empty()));
        self.diagnostics.push(
            Diagnostic::new(&self.prepared.file, Message::new("taxonomy-node-unknown").arg("node", key))
                .at(line, Some(column))
                .suggest(suggestion),
        );
        String::new()
    }

    fn substitute(&mut self, text: &CowStr<'p>, mode: Mode, out: &mut Vec<Event<'p>>) {
        if !text.contains(OPEN) {
            out.push(Event::Text(text.clone()));
            return;
        }
        for piece in split_placeholders(text) {
            match piece {
                Piece::Text(t) => out.push(Event::Text(CowStr::from(t.to_string()))),
                Piece::Inline(index) => match self.prepared.inlines.get(index) {
                    Some(Inline::Math { html, .. }) => out.push(Event::InlineHtml(html.to_string().into())),
                    Some(Inline::Citation(group)) => {
                        let html = self.citation_html(*group, mode);
                        out.push(Event::InlineHtml(html.into()));
                    }
                    Some(Inline::Shortcode { line, column, .. }) => {
                        self.diagnostics.push(
                            Diagnostic::new(&self.prepared.file, Message::new("shortcode-not-alone")).at(*line, Some(*column)),
                        );
                    }
                    None => {}
                },
            }
        }
    }

    fn citation_html(&mut self, group: usize, mode: Mode) -> String {
        let citation = &self.prepared.citations[group];
        let anchor = format!("cite-{}", group + 1);
        let mut links = Vec::new();
        for key in &citation.keys {
            match self.ctx.citations.get(key) {
                Some(target) => {
                    links.push(cite_link(target));
                    if mode == Mode::Body && !self.anchors.iter().any(|(k, _)| k == key) {
                        self.anchors.push((key.clone(), anchor.clone()));
                    }
                }
                None => {
                    if mode == Mode::Body || self.page.is_none() {
                        let suggestion = closest(key, self.ctx.citations.keys().map(String::as_str));
                        self.diagnostics.push(
                            Diagnostic::new(&self.prepared.file, Message::new("cite-unknown").arg("key", key))
                                .at(citation.line, Some(citation.column))
                                .suggest(suggestion),
                        );
                    }
                    links.push("<span class=\"cite-missing\">[?]</span>".to_string());
                }
            }
        }
        let id = if mode == Mode::Body { format!(" id=\"{anchor}\"") } else { String::new() };
        format!("<span class=\"citation\"{id}>{}</span>", links.join(" "))
    }

    fn footnote(&mut self, name: &str) -> &mut Footnote {
        let position = match self.footnotes.iter().position(|f| f.name == name) {
            Some(position) => position,
            None => {
                let number = self.footnotes.len() + 1;
                self.footnotes.push(Footnote { name: name.to_string(), number, references: 0, html: String::new() });
                self.footnotes.len() - 1
            }
        };
        &mut self.footnotes[position]
    }

    fn footnote_reference(&mut self, name: &str) -> String {
        let footnote = self.footnote(name);
        footnote.references += 1;
        let slug = slugify(name);
        let number = footnote.number;
        let ref_id = if footnote.references == 1 { format!("fnref-{slug}") } else { format!("fnref-{slug}-{}", footnote.references) };
        format!("<sup class=\"footnote-ref\" id=\"{ref_id}\"><a href=\"#fn-{slug}\">{number}</a></sup>")
    }

    fn footnotes_html(&self) -> String {
        if self.footnotes.is_empty() {
            return String::new();
        }
        let mut html = String::from("<section class=\"footnotes\" role=\"doc-endnotes\">\n<ol>\n");
        let mut footnotes: Vec<&Footnote> = self.footnotes.iter().collect();
        footnotes.sort_by_key(|f| f.number);
        for footnote in footnotes {
            let slug = slugify(&footnote.name);
            let back = if footnote.references > 0 {
                format!(" <a class=\"footnote-back\" href=\"#fnref-{slug}\" role=\"doc-backlink\">↩</a>")
            } else {
                String::new()
            };
            let body = footnote.html.trim_end();
            let body = match body.strip_suffix("</p>") {
                Some(inner) => format!("{inner}{back}</p>"),
                None => format!("{body}{back}"),
            };
            html.push_str(&format!("<li id=\"fn-{slug}\" value=\"{}\">{body}</li>\n", footnote.number));
        }
        html.push_str("</ol>\n</section>\n");
        html
    }
}

fn last_char(event: &Event) -> Option<char> {
    match event {
        Event::Text(text) => text.chars().next_back(),
        _ => None,
    }
}

fn first_char(event: &Event) -> Option<char> {
    match event {
        Event::Text(text) => text.chars().next(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
