//! The pass before pulldown-cmark: math, citations and shortcodes.
//!
//! Math must be cut out before CommonMark parsing, or `_`, `*`, `\\` and
//! lines starting with `-` or `=` inside `$$…$$` would become emphasis,
//! escapes, list items or headings. This pass scans the Markdown source,
//! skipping code spans and fenced code, and replaces each math span,
//! citation and shortcode by a placeholder of private-use characters that
//! CommonMark treats as plain text. The renderer later swaps placeholders
//! found in text events for HTML.
//!
//! Dollar rules follow Pandoc's `tex_math_dollars`: an opening `$` must be
//! followed by a non-space character, a closing `$` must be preceded by a
//! non-space character and not followed by a digit, and neither kind of
//! math spans a blank line. So `$5 から $10` stays text, and `\$` is a
//! literal dollar sign.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostics::{Diagnostic, Diagnostics, Message, line_column};

use super::math::MathCache;

/// Opens a placeholder; the inline's index in decimal and [`CLOSE`] follow.
pub const OPEN: char = '\u{E000}';
pub const CLOSE: char = '\u{E001}';

/// A construct cut out of the Markdown source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    /// A formula; `html` is shared with the [`MathCache`] that typeset it.
    Math { tex: String, html: Arc<str>, display: bool },
    /// Index into [`Prepared::citations`].
    Citation(usize),
    Shortcode { node: Option<String>, line: usize, column: usize },
}

/// One `[@a; @b]` in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    pub keys: Vec<String>,
    pub line: usize,
    pub column: usize,
}

/// Markdown with placeholders, and what they stand for.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub text: String,
    pub inlines: Vec<Inline>,
    pub citations: Vec<Citation>,
    pub file: PathBuf,
    /// Pairs (offset in `text`, offset in the source) recorded after each
    /// placeholder, in increasing order. Between two pairs the text is a
    /// verbatim copy of the source.
    offset_anchors: Vec<(usize, usize)>,
}

impl Prepared {
    /// Maps a byte offset of `text` that is not inside a placeholder to the
    /// offset of the same byte in the source, so events of the prepared text
    /// can be matched with positions found in the source.
    pub fn source_offset(&self, offset: usize) -> usize {
        let index = self.offset_anchors.partition_point(|&(text_offset, _)| text_offset <= offset);
        match index.checked_sub(1).map(|i| self.offset_anchors[i]) {
            Some((text_offset, source_offset)) => source_offset + (offset - text_offset),
            None => offset,
        }
    }
}

/// Allowed characters of a citation key.
pub fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-')
}

/// Runs the pass over `source`, the Markdown of `file` starting on file line
/// `first_line`. Math is typeset here, through `math`, so invalid TeX is
/// reported with the exact line and column. All problems are collected.
pub fn prepare(source: &str, file: &Path, first_line: usize, math: &MathCache) -> Result<Prepared, Diagnostics> {
    let mut scanner = Scanner {
        source,
        file,
        first_line,
        math,
        out: String::with_capacity(source.len()),
        inlines: Vec::new(),
        citations: Vec::new(),
        offset_anchors: Vec::new(),
        diagnostics: Diagnostics::new(),
    };
    scanner.run();
    let Scanner { out, inlines, citations, offset_anchors, diagnostics, .. } = scanner;
    diagnostics.into_result(Prepared { text: out, inlines, citations, file: file.to_path_buf(), offset_anchors })
}

struct Scanner<'a> {
    source: &'a str,
    file: &'a Path,
    first_line: usize,
    math: &'a MathCache,
    out: String,
    inlines: Vec<Inline>,
    citations: Vec<Citation>,
    offset_anchors: Vec<(usize, usize)>,
    diagnostics: Diagnostics,
}

impl Scanner<'_> {
    fn run(&mut self) {
        let source = self.source;
        let mut pos = 0;
        let mut fence: Option<(char, usize)> = None;
        let mut at_line_start = true;

        while pos < source.len() {
            if at_line_start {
                let line_end = source[pos..].find('\n').map_or(source.len(), |i| pos + i + 1);
                let line = &source[pos..line_end];
                let marker = fence_marker(line);
                let inside_fence = match (fence, marker) {
                    (Some((c, n)), Some((mc, mn))) if c == mc && mn >= n && is_closing_fence(line, mc) => {
                        fence = None;
                        true
                    }
                    (Some(_), _) => true,
                    (None, Some(opening)) => {
                        fence = Some(opening);
                        true
                    }
                    (None, None) => false,
                };
                if inside_fence {
                    self.out.push_str(line);
                    pos = line_end;
                    continue;
                }
                at_line_start = false;
            }

            let rest = &source[pos..];
            let c = rest.chars().next().expect("pos < len");
            let (out_before, pos_before) = (self.out.len(), pos);
            pos = match c {
                '\n' => {
                    at_line_start = true;
                    self.out.push('\n');
                    pos + 1
                }
                '\\' => {
                    let escaped_len = rest[1..].chars().next().map_or(0, char::len_utf8);
                    self.out.push_str(&rest[..1 + escaped_len]);
                    pos + 1 + escaped_len
                }
                '`' => self.code_span(pos),
                '$' => self.math(pos),
                '[' if rest.starts_with("[@") => self.citation(pos),
                '{' if rest.starts_with("{{<") => self.shortcode(pos),
                _ => {
                    self.out.push(c);
                    pos + c.len_utf8()
                }
            };
            if self.out.len() - out_before != pos - pos_before {
                self.offset_anchors.push((self.out.len(), pos));
            }
        }
    }

    fn location(&self, offset: usize) -> (usize, usize) {
        let (line, column) = line_column(self.source, offset);
        (line + self.first_line - 1, column)
    }

    fn placeholder(&mut self, inline: Inline) {
        self.out.push(OPEN);
        self.out.push_str(&self.inlines.len().to_string());
        self.out.push(CLOSE);
        self.inlines.push(inline);
    }

    /// Copies a code span verbatim, or a lone backtick run as text.
    fn code_span(&mut self, start: usize) -> usize {
        let source = self.source;
        let run = source[start..].chars().take_while(|&c| c == '`').count();
        let body_start = start + run;
        let paragraph_end = find_blank_line(source, body_start);
        let mut search = body_start;
        while let Some(found) = source[search..paragraph_end].find('`') {
            let at = search + found;
            let closing = source[at..].chars().take_while(|&c| c == '`').count();
            if closing == run {
                self.out.push_str(&source[start..at + run]);
                return at + run;
            }
            search = at + closing;
        }
        self.out.push_str(&source[start..body_start]);
        body_start
    }

    fn math(&mut self, start: usize) -> usize {
        let source = self.source;
        let display = source[start..].starts_with("$$");
        let delimiter = if display { 2 } else { 1 };
        let body_start = start + delimiter;
        let found = if display {
            find_display_close(source, body_start)
        } else {
            find_inline_close(source, body_start)
        };
        let Some(body_end) = found else {
            self.out.push_str(&source[start..body_start]);
            return body_start;
        };
        let tex = &source[body_start..body_end];
        match self.math.render(tex.trim(), display) {
            Ok(html) => self.placeholder(Inline::Math { tex: tex.trim().to_string(), html, display }),
            Err(error) => {
                let leading = tex.len() - tex.trim_start().len();
                let error_offset = body_start
                    + leading
                    + error
                        .position
                        .and_then(|p| tex.trim_start().char_indices().nth(p).map(|(i, _)| i))
                        .unwrap_or(0);
                let (line, column) = self.location(error_offset);
                self.diagnostics.push(
                    Diagnostic::new(self.file, Message::new("tex-invalid").arg("detail", &error.message)).at(line, Some(column)),
                );
                self.out.push_str(&source[start..body_end + delimiter]);
            }
        }
        body_end + delimiter
    }

    fn citation(&mut self, start: usize) -> usize {
        let source = self.source;
        let Some((keys, end)) = parse_citation(&source[start..]) else {
            self.out.push('[');
            return start + 1;
        };
        let (line, column) = self.location(start);
        self.citations.push(Citation { keys, line, column });
        self.placeholder(Inline::Citation(self.citations.len() - 1));
        start + end
    }

    fn shortcode(&mut self, start: usize) -> usize {
        let source = self.source;
        let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
        let Some(close) = source[start..line_end].find(">}}") else {
            self.out.push('{');
            return start + 1;
        };
        let inner = source[start + 3..start + close].trim();
        let (line, column) = self.location(start);
        let name = inner.split_whitespace().next().unwrap_or("");
        if name != "taxonomy" {
            self.diagnostics
                .push(Diagnostic::new(self.file, Message::new("shortcode-unknown").arg("name", name)).at(line, Some(column)));
        } else {
            let node = inner
                .split_once("node=")
                .map(|(_, value)| value.trim().trim_matches(|c| c == '"' || c == '\'').to_string());
            self.placeholder(Inline::Shortcode { node, line, column });
        }
        start + close + 3
    }
}

/// Returns the fence character and length if `line` opens or closes a
/// fenced code block (any indentation, so fences inside lists count).
fn fence_marker(line: &str) -> Option<(char, usize)> {
    let trimmed = line.trim_start();
    let c = trimmed.chars().next()?;
    if c != '`' && c != '~' {
        return None;
    }
    let run = trimmed.chars().take_while(|&x| x == c).count();
    if run < 3 {
        return None;
    }
    // A backtick fence's info string may not contain backticks.
    if c == '`' && trimmed[run..].contains('`') {
        return None;
    }
    Some((c, run))
}

fn is_closing_fence(line: &str, c: char) -> bool {
    line.trim().chars().all(|x| x == c)
}

/// Offset of the next blank line after `from`, or the end of `source`.
fn find_blank_line(source: &str, from: usize) -> usize {
    let mut pos = from;
    while let Some(found) = source[pos..].find('\n') {
        let next = pos + found + 1;
        let line_end = source[next..].find('\n').map_or(source.len(), |i| next + i);
        if source[next..line_end].trim().is_empty() {
            return next;
        }
        pos = next;
    }
    source.len()
}

fn find_inline_close(source: &str, body_start: usize) -> Option<usize> {
    let first = source[body_start..].chars().next()?;
    if first.is_whitespace() || first == '$' {
        return None;
    }
    let limit = find_blank_line(source, body_start);
    let mut pos = body_start;
    while pos < limit {
        let c = source[pos..].chars().next()?;
        if c == '\\' {
            pos += 1 + source[pos + 1..].chars().next().map_or(0, char::len_utf8);
            continue;
        }
        if c == '$' {
            let before = source[..pos].chars().next_back()?;
            let after = source[pos + 1..].chars().next();
            if !before.is_whitespace() && !after.is_some_and(|a| a.is_ascii_digit()) {
                return Some(pos);
            }
        }
        pos += c.len_utf8();
    }
    None
}

fn find_display_close(source: &str, body_start: usize) -> Option<usize> {
    let limit = find_blank_line(source, body_start);
    let mut pos = body_start;
    while pos < limit {
        let c = source[pos..].chars().next()?;
        if c == '\\' {
            pos += 1 + source[pos + 1..].chars().next().map_or(0, char::len_utf8);
            continue;
        }
        if source[pos..].starts_with("$$") {
            return (!source[body_start..pos].trim().is_empty()).then_some(pos);
        }
        pos += c.len_utf8();
    }
    None
}

/// Parses `[@a; @b]` at the start of `text`; returns the keys and the byte
/// length of the whole citation.
fn parse_citation(text: &str) -> Option<(Vec<String>, usize)> {
    let mut keys = Vec::new();
    let mut pos = 1;
    loop {
        pos += text[pos..].len() - text[pos..].trim_start_matches([' ', '\t']).len();
        if !text[pos..].starts_with('@') {
            return None;
        }
        pos += 1;
        let key_len: usize = text[pos..].chars().take_while(|&c| is_key_char(c)).map(char::len_utf8).sum();
        if key_len == 0 {
            return None;
        }
        keys.push(text[pos..pos + key_len].to_string());
        pos += key_len;
        pos += text[pos..].len() - text[pos..].trim_start_matches([' ', '\t']).len();
        match text[pos..].chars().next() {
            Some(';') => pos += 1,
            Some(']') => return Some((keys, pos + 1)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(source: &str) -> Prepared {
        prepare(source, Path::new("content/t.md"), 1, MathCache::shared()).unwrap()
    }

    fn math_count(prepared: &Prepared) -> usize {
        prepared.inlines.iter().filter(|i| matches!(i, Inline::Math { .. })).count()
    }

    #[test]
    fn inline_and_display_math_become_placeholders() {
        let prepared = run("a $x_1$ b\n\n$$\n- a_1 * b_2 \\\\\n= c\n$$\n");
        assert_eq!(math_count(&prepared), 2);
        assert!(!prepared.text.contains('$'));
        let Inline::Math { tex, display, .. } = &prepared.inlines[1] else { panic!() };
        assert!(*display);
        assert_eq!(tex, "- a_1 * b_2 \\\\\n= c");
    }

    #[test]
    fn currency_is_not_math() {
        for text in ["価格は $5 から $10 です", "$ 5 と 6 $", "1 ドル $1.5$2 は", "ドル記号 $ だけ"] {
            let prepared = run(text);
            assert_eq!(math_count(&prepared), 0, "{text}");
            assert_eq!(prepared.text, text);
        }
    }

    #[test]
    fn escaped_dollar_stays_escaped() {
        let prepared = run(r"\$x\$ と \\$y$");
        assert_eq!(math_count(&prepared), 1);
        assert!(prepared.text.starts_with(r"\$x\$"));
    }

    #[test]
    fn code_is_left_alone() {
        let source = "`$x$` and ``a ` $y$``\n\n```\n$z$ [@k]\n```\n\n    ~~~\n    $w$\n    ~~~\n";
        let prepared = run(source);
        assert_eq!(math_count(&prepared), 0);
        assert!(prepared.citations.is_empty());
        assert_eq!(prepared.text, source);
    }

    #[test]
    fn offsets_map_back_to_the_source() {
        let source = "a $x^2$ [@k] b\n\n$$\ny\n$$\n\n```rust\nlet c = 1;\n```\n";
        let prepared = run(source);
        let fence = prepared.text.find("```rust").unwrap();
        assert_eq!(prepared.source_offset(fence), source.find("```rust").unwrap());
        assert_eq!(prepared.source_offset(0), 0);
        let b = prepared.text.find(" b").unwrap();
        assert_eq!(prepared.source_offset(b), source.find(" b").unwrap());
    }

    #[test]
    fn math_does_not_span_paragraphs() {
        assert_eq!(math_count(&run("$a\n\nb$")), 0);
        assert_eq!(math_count(&run("$a\nb$")), 1);
    }

    #[test]
    fn citations_end_at_non_key_characters() {
        let prepared = run("手法[@chen2021skyformer]は [@a; @b.c-d:e_f] と [@ bad] と [@x");
        assert_eq!(prepared.citations.len(), 2);
        assert_eq!(prepared.citations[0].keys, ["chen2021skyformer"]);
        assert_eq!(prepared.citations[1].keys, ["a", "b.c-d:e_f"]);
        assert_eq!(prepared.citations[0].column, 3);
        assert!(prepared.text.contains("[@ bad]"));
    }

    #[test]
    fn invalid_tex_is_located() {
        let errors = prepare("line\nあ $x+\\foo$\n", Path::new("content/t.md"), 5, MathCache::shared()).unwrap_err();
        let error = errors.iter().next().unwrap();
        assert_eq!(error.message.id, "tex-invalid");
        assert_eq!((error.line, error.column), (Some(6), Some(6)));
    }

    #[test]
    fn shortcodes_are_recognized() {
        let prepared = run("{{< taxonomy >}}\n\n{{< taxonomy node=\"a.b\" >}}\n");
        let nodes: Vec<_> = prepared
            .inlines
            .iter()
            .filter_map(|i| match i {
                Inline::Shortcode { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(nodes, [None, Some("a.b".to_string())]);
        let errors = prepare("{{< figure >}}", Path::new("t.md"), 1, MathCache::shared()).unwrap_err();
        assert_eq!(errors.iter().next().unwrap().message.id, "shortcode-unknown");
    }
}
