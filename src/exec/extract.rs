//! Finding the `rust,exec` blocks of a page body with pulldown-cmark.

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

use crate::markdown::parser_options;

use super::block::{
    ExecBlock, OptionError, OptionProblem, did_you_mean, info_words, is_exec_info, parse_block_lines,
};

/// Maps byte offsets of a page body to lines of the `.md` file.
pub(crate) struct LineIndex<'a> {
    body: &'a str,
    line_starts: Vec<usize>,
    body_line: usize,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(body: &'a str, body_line: usize) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(body.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex {
            body,
            line_starts,
            body_line,
        }
    }

    /// Returns the `.md` line (from 1) that contains byte `offset` of the body.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let index = self.line_starts.partition_point(|&start| start <= offset) - 1;
        self.body_line + index
    }

    /// Returns the text of `.md` line `line` without its line ending.
    fn line_text(&self, line: usize) -> &'a str {
        let Some(index) = line.checked_sub(self.body_line) else {
            return "";
        };
        let Some(&start) = self.line_starts.get(index) else {
            return "";
        };
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.body.len(), |&next| next - 1);
        self.body[start..end].trim_end_matches('\r')
    }
}

/// Extracts the executable blocks of a page body, in page order. The body is parsed
/// with the renderer's options, so both see the same fenced blocks.
///
/// `body_line` is the line of the `.md` file on which `body` starts (1 when the file has no
/// front matter), so that every reported line is a line of the file. Errors in the
/// options of any block are all returned together.
pub fn extract_blocks(body: &str, body_line: usize) -> Result<Vec<ExecBlock>, Vec<OptionError>> {
    if !may_have_rust_block_with_attributes(body) {
        return Ok(Vec::new());
    }
    let index = LineIndex::new(body, body_line);
    let mut blocks = Vec::new();
    let mut errors = Vec::new();
    let mut open: Option<OpenBlock> = None;

    for (event, range) in Parser::new_ext(body, parser_options()).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let fence_line = index.line_of(range.start);
                if let Err(problem) = check_info(&info) {
                    errors.push(OptionError::new(fence_line, problem));
                }
                if is_exec_info(&info) {
                    open = Some(OpenBlock {
                        span: range,
                        fence_line,
                        first_text: None,
                        code: String::new(),
                    });
                }
            }
            Event::Text(text) => {
                if let Some(block) = open.as_mut() {
                    block.first_text.get_or_insert(range.start);
                    block.code.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                let Some(block) = open.take() else { continue };
                let first_line = block
                    .first_text
                    .map_or(block.fence_line + 1, |offset| index.line_of(offset));
                let offsets: Vec<usize> = block
                    .code
                    .lines()
                    .enumerate()
                    .map(|(i, code)| column_offset(index.line_text(first_line + i), code))
                    .collect();
                match parse_block_lines(&block.code, first_line, &offsets) {
                    Ok((options, lines)) => blocks.push(ExecBlock {
                        index: blocks.len(),
                        fence_line: block.fence_line,
                        first_line,
                        span: block.span,
                        options,
                        raw: block.code,
                        lines,
                    }),
                    Err(mut found) => errors.append(&mut found),
                }
            }
            _ => {}
        }
    }

    check_unique_labels(&blocks, &mut errors);
    if errors.is_empty() {
        Ok(blocks)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// Returns whether `body` may hold a fenced block whose info string is
/// `rust` followed by more words, because only those can be executable or
/// carry a misspelt `exec`. It checks every backtick or tilde fence, inside
/// containers too, so a `false` is certain. Pages without such a block
/// (most pages) then skip the Markdown parse.
fn may_have_rust_block_with_attributes(body: &str) -> bool {
    let fences = body.match_indices("```").chain(body.match_indices("~~~"));
    fences.map(|(at, _)| body[at..].trim_start_matches(['`', '~']).trim_start_matches([' ', '\t'])).any(|info| {
        let line = info.split('\n').next().unwrap_or("");
        line.strip_prefix("rust").is_some_and(|rest| !rest.trim().is_empty())
    })
}

struct OpenBlock {
    span: std::ops::Range<usize>,
    fence_line: usize,
    first_text: Option<usize>,
    code: String,
}

/// Rejects info strings that look like a misspelt or over-specified `rust,exec`.
fn check_info(info: &str) -> Result<(), OptionProblem> {
    let words: Vec<&str> = info_words(info).collect();
    if words.first() != Some(&"rust") {
        return Ok(());
    }
    let extra = &words[1..];
    if extra.contains(&"exec") {
        if let Some(other) = extra.iter().find(|w| **w != "exec") {
            return Err(OptionProblem::UnknownAttribute { attribute: other.to_string(), info: info.to_string() });
        }
    } else if let Some(typo) = extra.iter().find(|w| did_you_mean(w, &["exec"]).is_some()) {
        return Err(OptionProblem::ExecTypo { attribute: typo.to_string(), info: info.to_string() });
    }
    Ok(())
}

fn check_unique_labels(blocks: &[ExecBlock], errors: &mut Vec<OptionError>) {
    for (i, block) in blocks.iter().enumerate() {
        let Some(label) = &block.options.label else {
            continue;
        };
        if let Some(first) = blocks[..i]
            .iter()
            .find(|b| b.options.label.as_ref() == Some(label))
        {
            errors.push(OptionError::new(
                block.first_line,
                OptionProblem::DuplicateLabel { label: label.clone(), first_line: first.fence_line },
            ));
        }
    }
}

/// Returns how many characters precede `code` on its `.md` line: the indentation or
/// container markers (list item, block quote) that pulldown-cmark removed.
fn column_offset(md_line: &str, code: &str) -> usize {
    match md_line.strip_suffix(code) {
        Some(prefix) => prefix.chars().count(),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefilter_finds_every_rust_fence_with_attributes() {
        for body in ["```rust,exec\n```", "> ````rust exec\n````", "- ~~~ rust,exce\n  ~~~", "```rust title=x\n```"] {
            assert!(may_have_rust_block_with_attributes(body), "{body}");
        }
        for body in ["```rust\nlet x = 1;\n```", "```python,exec\n```", "`rust` と ```\n```", "本文だけ"] {
            assert!(!may_have_rust_block_with_attributes(body), "{body}");
        }
        let typo = extract_blocks("```rust,exce\nlet x = 1;\n```\n", 1).unwrap_err();
        assert!(typo[0].message.contains("did you mean `rust,exec`"), "{typo:?}");
    }

    #[test]
    fn blocks_map_to_file_lines() {
        let body = "# 見出し\n\n```rust,exec\n//| label: a\nlet x = 1;\n```\n\n```rust\nlet ignored = 0;\n```\n\n- item\n\n  ```rust,exec\n  println!(\"{x}\");\n  ```\n";
        let blocks = extract_blocks(body, 5).unwrap();
        assert_eq!(blocks.len(), 2);

        assert_eq!(blocks[0].fence_line, 7);
        assert_eq!(blocks[0].first_line, 8);
        assert_eq!(blocks[0].lines[1].md_line, 9);
        assert_eq!(blocks[0].options.label.as_deref(), Some("a"));
        assert_eq!(
            &body[blocks[0].span.clone()],
            "```rust,exec\n//| label: a\nlet x = 1;\n```"
        );

        assert_eq!(blocks[1].index, 1);
        assert_eq!(blocks[1].first_line, 19);
        assert_eq!(blocks[1].lines[0].code, "println!(\"{x}\");");
        assert_eq!(blocks[1].lines[0].md_column_offset, 2);
        assert_eq!(blocks[1].display_source(), "println!(\"{x}\");\n");
    }

    #[test]
    fn errors_of_all_blocks_are_collected() {
        let body = "```rust,exec\n//| ech: true\n```\n\n```rust,exec\n//| output: none\n```\n";
        let errors = extract_blocks(body, 3).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 8]);
    }

    #[test]
    fn misspelt_info_string_is_an_error() {
        let errors = extract_blocks("```rust,exce\nlet a = 1;\n```\n", 1).unwrap_err();
        assert!(
            errors[0].message.contains("did you mean `rust,exec`?"),
            "{}",
            errors[0].message
        );

        let errors = extract_blocks("```rust,exec,no_run\n```\n", 1).unwrap_err();
        assert!(errors[0].message.contains("unknown attribute `no_run`"));
    }

    #[test]
    fn duplicate_labels_are_rejected() {
        let body = "```rust,exec\n//| label: a\n```\n\n```rust,exec\n//| label: a\n```\n";
        let errors = extract_blocks(body, 1).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .message
                .contains("already used by the block at line 1")
        );
    }

    #[test]
    fn empty_block_has_no_lines() {
        let blocks = extract_blocks("```rust,exec\n```\n", 1).unwrap();
        assert_eq!(blocks[0].first_line, 2);
        assert!(blocks[0].lines.is_empty());
    }
}
