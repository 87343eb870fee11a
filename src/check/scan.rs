//! Links, images and headings of a page's Markdown, as `survey check`
//! reads them, each with its line in the file.

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

use crate::content::Page;
use crate::diagnostics::line_column;
use crate::markdown::headings::slugify;
use crate::markdown::parser_options;
use crate::markdown::prepass::{self, CLOSE, Inline, OPEN};

/// A link or image in a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRef {
    pub dest: String,
    pub line: usize,
    pub column: usize,
    pub image: bool,
    /// For an image: whether its alt text is empty.
    pub alt_missing: bool,
}

/// A heading and the id the renderer gives it before making ids unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadingRef {
    pub id: String,
    /// Whether the author wrote the id (`{#id}`).
    pub explicit: bool,
    pub line: usize,
}

#[derive(Debug, Default)]
pub struct PageScan {
    pub links: Vec<LinkRef>,
    pub headings: Vec<HeadingRef>,
}

/// Lists the links, images and headings of `page`'s body in order.
pub fn scan(page: &Page) -> PageScan {
    let body = page.body.as_str();
    let position = |offset: usize| {
        let (line, column) = line_column(body, offset);
        (line + page.body_line - 1, column)
    };
    let mut scan = PageScan::default();
    let mut image: Option<(LinkRef, String)> = None;
    for (event, range) in Parser::new_ext(body, parser_options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Link { dest_url, .. }) => {
                let (line, column) = position(range.start);
                scan.links.push(LinkRef { dest: dest_url.to_string(), line, column, image: false, alt_missing: false });
            }
            Event::Start(Tag::Image { dest_url, .. }) => {
                let (line, column) = position(range.start);
                image = Some((LinkRef { dest: dest_url.to_string(), line, column, image: true, alt_missing: false }, String::new()));
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some((_, alt)) = image.as_mut() {
                    alt.push_str(&text);
                }
            }
            Event::End(TagEnd::Image) => {
                if let Some((mut link, alt)) = image.take() {
                    link.alt_missing = alt.trim().is_empty();
                    scan.links.push(link);
                }
            }
            Event::Start(Tag::Heading { id, .. }) => {
                let (line, _) = position(range.start);
                let heading = match id {
                    Some(id) => HeadingRef { id: id.to_string(), explicit: true, line },
                    None => HeadingRef { id: slugify(&heading_text(&body[range.clone()])), explicit: false, line },
                };
                scan.headings.push(heading);
            }
            _ => {}
        }
    }
    scan
}

/// Returns the text the renderer derives a heading's id from: the heading's own
/// text with math as TeX and citations left out. `source` is the heading
/// as written, markers included.
fn heading_text(source: &str) -> String {
    let Ok(prepared) = prepass::prepare(source, std::path::Path::new(""), 1, crate::markdown::math::MathCache::shared()) else {
        return source.trim_start_matches('#').to_string();
    };
    let mut text = String::new();
    let mut inside = false;
    for event in Parser::new_ext(&prepared.text, parser_options()) {
        match event {
            Event::Start(Tag::Heading { .. }) => inside = true,
            Event::End(TagEnd::Heading(_)) => inside = false,
            Event::Text(part) | Event::Code(part) if inside => push_without_placeholders(&part, &prepared.inlines, &mut text),
            Event::SoftBreak | Event::HardBreak if inside => text.push(' '),
            _ => {}
        }
    }
    text
}

/// Appends `part`, replacing math placeholders by their TeX and dropping
/// citations and shortcodes.
fn push_without_placeholders(part: &str, inlines: &[Inline], out: &mut String) {
    let mut rest = part;
    while let Some(open) = rest.find(OPEN) {
        out.push_str(&rest[..open]);
        let after = &rest[open + OPEN.len_utf8()..];
        let Some(close) = after.find(CLOSE) else {
            rest = after;
            break;
        };
        if let Some(Inline::Math { tex, .. }) = after[..close].parse::<usize>().ok().and_then(|index| inlines.get(index)) {
            out.push_str(tex);
        }
        rest = &after[close + CLOSE.len_utf8()..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn page(body: &str) -> Page {
        Page {
            source: PathBuf::from("content/a.md"),
            url_path: "a/".into(),
            title: "A".into(),
            weight: None,
            node: None,
            paper: None,
            body: body.into(),
            body_line: 5,
            header: "title: A\n".into(),
            meta: Default::default(),
        }
    }

    #[test]
    fn links_images_and_headings_are_located() {
        let scan = scan(&page("## 概要\n\n[x](/b/#c) と ![](fig.png) と ![図](g.svg)\n\n## $a_b$ と [@k] {#own}\n\n### Long  Range\n"));
        let links: Vec<(&str, usize, usize, bool, bool)> =
            scan.links.iter().map(|l| (l.dest.as_str(), l.line, l.column, l.image, l.alt_missing)).collect();
        assert_eq!(links, [("/b/#c", 7, 1, false, false), ("fig.png", 7, 14, true, true), ("g.svg", 7, 29, true, false)]);
        let headings: Vec<(&str, bool, usize)> = scan.headings.iter().map(|h| (h.id.as_str(), h.explicit, h.line)).collect();
        assert_eq!(headings, [("概要", false, 5), ("own", true, 9), ("long-range", false, 11)]);
    }

    #[test]
    fn heading_ids_use_tex_and_leave_out_citations() {
        assert_eq!(slugify(&heading_text("## $a_b$ の近似 [@chen2021]")), "a-b-の近似");
        assert_eq!(slugify(&heading_text("# 概要\n")), "概要");
    }
}
