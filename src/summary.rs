//! Plain-text descriptions of pages for `<meta name="description">`,
//! OpenGraph and the Atom feed, taken from a page's rendered HTML.

use lol_html::{RewriteStrSettings, element, rewrite_str};

/// Maximum length of a description in characters. Longer text is cut at
/// the last sentence end (。 ． . ! ?) within it, or else at the limit with `…`.
pub const MAX_CHARS: usize = 160;

/// Returns the first paragraph of `html` as plain text: tags removed,
/// entities decoded, each KaTeX formula reduced to its TeX source and
/// footnote markers dropped. Returns `None` when no paragraph has text.
pub fn first_paragraph(html: &str) -> Option<String> {
    let mut rest = html;
    while let Some(start) = rest.find("<p>") {
        let end = rest[start..].find("</p>").map_or(rest.len(), |end| start + end);
        let text = plain_text(&rest[start..end]);
        if !text.is_empty() {
            return Some(shorten(&text, MAX_CHARS));
        }
        rest = &rest[end..];
    }
    None
}

/// Returns the text of an HTML fragment with whitespace runs collapsed to
/// one space.
pub fn plain_text(html: &str) -> String {
    let settings = RewriteStrSettings::new()
        // KaTeX's visual copy and MathML tokens go; `<annotation>` keeps the TeX.
        .append_element_content_handler(element!(".katex-html, semantics > mrow, sup.footnote-ref", |el| {
            el.remove();
            Ok(())
        }))
        .append_element_content_handler(element!("*", |el| {
            el.remove_and_keep_content();
            Ok(())
        }));
    let stripped = rewrite_str(html, settings)
    // The rewriter fails on a handler error, which these handlers never
    // return, and in its strict mode on markup whose parsing is ambiguous
    // (such as a `<select>` left open), which the renderer does not write.
    // The raw fragment is the fallback.
    .unwrap_or_else(|_| html.to_string());
    let decoded = html_escape::decode_html_entities(&stripped);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let head: String = text.chars().take(max_chars).collect();
    let sentence_end = head.char_indices().rfind(|(_, c)| matches!(c, '。' | '．' | '.' | '!' | '?' | '！' | '？'));
    match sentence_end {
        // Keep the cut sentence only when it leaves a useful amount of text.
        Some((at, c)) if head[..at].chars().count() >= max_chars / 3 => head[..at + c.len_utf8()].to_string(),
        _ => format!("{}…", head.chars().take(max_chars - 1).collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_paragraph_strips_markup_and_keeps_tex() {
        let html = "<h2>見出し</h2>\n<p></p><p>計算量 <span class=\"katex\"><span class=\"katex-mathml\"><math><semantics><mrow><mi>O</mi></mrow>\
                    <annotation encoding=\"application/x-tex\">O(n^2)</annotation></semantics></math></span>\
                    <span class=\"katex-html\" aria-hidden=\"true\">O(n2)</span></span> を &amp; \
                    <a href=\"/x/\">[3]</a>\n減らす<sup class=\"footnote-ref\" id=\"fnref-1\"><a href=\"#fn-1\">1</a></sup>。</p><p>次</p>";
        assert_eq!(first_paragraph(html).as_deref(), Some("計算量 O(n^2) を & [3] 減らす。"));
    }

    #[test]
    fn page_without_paragraphs_has_no_description() {
        assert_eq!(first_paragraph("<h2>A</h2><ul><li>b</li></ul>"), None);
        assert_eq!(first_paragraph(""), None);
    }

    #[test]
    fn long_text_is_cut_at_a_sentence_end() {
        let sentence = "あ".repeat(70) + "。";
        let text = sentence.repeat(3);
        assert_eq!(shorten(&text, MAX_CHARS), sentence.repeat(2));
    }

    #[test]
    fn long_text_without_sentence_end_gets_an_ellipsis() {
        let text = "い".repeat(400);
        let short = shorten(&text, MAX_CHARS);
        assert_eq!(short.chars().count(), MAX_CHARS);
        assert!(short.ends_with('…'));
        assert_eq!(shorten("短い", MAX_CHARS), "短い");
    }
}
