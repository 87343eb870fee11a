//! One executable code block: its options, its compiled code and its displayed source.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Cell option keys accepted in `//| key: value` lines, in the order the docs list them.
pub const OPTION_KEYS: &[&str] = &["echo", "output", "label", "fig-cap", "timeout", "error"];

/// What the renderer shows of a block's standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// Plain text in an output box.
    #[default]
    Text,
    /// Markdown or HTML that the renderer renders in place of the block.
    Asis,
    /// Nothing; the block still runs and a failure is still shown.
    False,
}

impl OutputMode {
    const NAMES: &'static [&'static str] = &["text", "asis", "false"];

    fn parse(value: &str) -> Option<OutputMode> {
        match value {
            "text" => Some(OutputMode::Text),
            "asis" => Some(OutputMode::Asis),
            "false" => Some(OutputMode::False),
            _ => None,
        }
    }
}

/// Options of one block, from its leading `//| key: value` lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BlockOptions {
    /// Whether the block's source is shown (default `true`).
    pub echo: bool,
    /// How the block's standard output is shown (default `text`).
    pub output: OutputMode,
    /// Identifier of the block, unique in its page: `[A-Za-z0-9_-]+`.
    pub label: Option<String>,
    /// Caption of the figures the block writes.
    pub fig_cap: Option<String>,
    /// Run-time limit of the block in seconds; `None` takes the site's default.
    pub timeout: Option<u64>,
    /// Whether a failure is shown as the block's output instead of failing the build.
    pub error: bool,
}

impl Default for BlockOptions {
    fn default() -> Self {
        BlockOptions {
            echo: true,
            output: OutputMode::Text,
            label: None,
            fig_cap: None,
            timeout: None,
            error: false,
        }
    }
}

/// A `rust,exec` block of a page, with everything needed to compile it and show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecBlock {
    /// Position among the page's executable blocks, from 0.
    pub index: usize,
    /// Line of the opening fence in the `.md` file, from 1.
    pub fence_line: usize,
    /// Line of the first code line in the `.md` file, from 1.
    pub first_line: usize,
    /// Byte range of the whole fenced block (fences included) in the page body, as
    /// pulldown-cmark's offset iterator reports it for `Tag::CodeBlock`.
    pub span: Range<usize>,
    /// Options from the leading `//|` lines.
    pub options: BlockOptions,
    /// The block's text as written, option and hidden lines included. It feeds the freeze key.
    pub raw: String,
    /// Code lines as compiled, one per code line of the block, each with its `.md` position.
    pub lines: Vec<CodeLine>,
}

/// A line of a block as compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLine {
    /// The line given to rustc: hidden lines lose their `# ` marker, option lines become empty.
    pub code: String,
    /// Line in the `.md` file, from 1.
    pub md_line: usize,
    /// Characters between the start of the `.md` line and the first character of `code`.
    pub md_column_offset: usize,
    /// Whether the line is shown when the block is echoed.
    pub shown: bool,
}

impl ExecBlock {
    /// Returns the source shown when `echo` is on: hidden (`# `) and option (`//|`) lines removed.
    pub fn display_source(&self) -> String {
        let mut shown: Vec<&str> = self
            .lines
            .iter()
            .filter(|l| l.shown)
            .map(|l| l.code.as_str())
            .collect();
        while shown.last().is_some_and(|l| l.trim().is_empty()) {
            shown.pop();
        }
        let mut text = shown.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }

    /// Returns the label, or `block-N` with N counted from 1, for file names and messages.
    pub fn name(&self) -> String {
        match &self.options.label {
            Some(label) => label.clone(),
            None => format!("block-{}", self.index + 1),
        }
    }
}

/// Whether a fenced block's info string marks it executable: `rust,exec` (also `rust exec`).
/// A plain `rust` block is only highlighted.
pub fn is_exec_info(info: &str) -> bool {
    let mut words = info_words(info);
    words.next() == Some("rust") && words.any(|w| w == "exec")
}

pub(crate) fn info_words(info: &str) -> impl Iterator<Item = &str> {
    info.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
}

/// A problem with a block's options or info string, located at a line of the `.md` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// Line in the `.md` file, from 1.
    pub line: usize,
    /// Description of the problem and its fix, in English.
    pub message: String,
    /// The problem, for callers that word the message themselves.
    pub problem: OptionProblem,
}

impl OptionError {
    pub(crate) fn new(line: usize, problem: OptionProblem) -> OptionError {
        OptionError { line, message: problem.to_string(), problem }
    }
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Problem with a block's option lines or info string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionProblem {
    /// A `//|` line without `key: value`.
    MalformedLine { text: String },
    UnknownKey { key: String, suggestion: Option<String> },
    Repeated { key: String },
    NotBool { key: String, value: String },
    BadOutput { value: String, suggestion: Option<String> },
    /// A label with characters that cannot name figure files.
    BadLabel { value: String },
    BadTimeout { value: String },
    /// A quoted value that is not valid YAML.
    BadQuote { value: String, detail: String },
    /// ```` ```rust,exec,other ````: executable blocks take no other attribute.
    UnknownAttribute { attribute: String, info: String },
    /// ```` ```rust,exce ````: a likely misspelling of `exec`.
    ExecTypo { attribute: String, info: String },
    /// A label already used by an earlier block of the page.
    DuplicateLabel { label: String, first_line: usize },
}

impl fmt::Display for OptionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionProblem::MalformedLine { text } => write!(
                f,
                "invalid option line `//|{text}`: expected `//| key: value` with a key among {}",
                list_keys()
            ),
            OptionProblem::UnknownKey { key, suggestion } => {
                let hint = suggestion.as_ref().map(|near| format!("; did you mean `{near}`?")).unwrap_or_default();
                write!(f, "unknown option `{key}`{hint} Valid options: {}", list_keys())
            }
            OptionProblem::Repeated { key } => write!(f, "option `{key}` is set twice; keep one `//| {key}:` line"),
            OptionProblem::NotBool { key, value } => write!(f, "invalid value `{value}` for `{key}`: expected true or false"),
            OptionProblem::BadOutput { value, suggestion } => {
                let hint = suggestion.as_ref().map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
                write!(f, "invalid value `{value}` for `output`{hint}: expected one of text, asis, false")
            }
            OptionProblem::BadLabel { value } => write!(
                f,
                "invalid label `{value}`: use ASCII letters, digits, `-` and `_` only, because the label names figure files"
            ),
            OptionProblem::BadTimeout { value } => {
                write!(f, "invalid value `{value}` for `timeout`: expected a whole number of seconds greater than 0")
            }
            OptionProblem::BadQuote { value, detail } => write!(f, "invalid quoted value {value}: {detail}"),
            OptionProblem::UnknownAttribute { attribute, info } => write!(
                f,
                "unknown attribute `{attribute}` in the info string `{info}`: an executable block is opened with ```rust,exec and takes its options from `//| key: value` lines"
            ),
            OptionProblem::ExecTypo { attribute, info } => {
                write!(f, "unknown attribute `{attribute}` in the info string `{info}`; did you mean `rust,exec`?")
            }
            OptionProblem::DuplicateLabel { label, first_line } => write!(
                f,
                "label `{label}` is already used by the block at line {first_line}; labels must be unique in a page"
            ),
        }
    }
}

/// Splits a block's code (as pulldown-cmark returns it) into compiled lines and parses the
/// leading option lines. `first_line` is the `.md` line of the first code line and
/// `column_offsets[i]` the indentation pulldown-cmark removed from line `i`.
pub(crate) fn parse_block_lines(
    code: &str,
    first_line: usize,
    column_offsets: &[usize],
) -> Result<(BlockOptions, Vec<CodeLine>), Vec<OptionError>> {
    let mut options = BlockOptions::default();
    let mut seen: Vec<&str> = Vec::new();
    let mut errors = Vec::new();
    let mut in_options = true;
    let mut lines = Vec::new();

    for (i, text) in code.lines().enumerate() {
        let md_line = first_line + i;
        let offset = column_offsets.get(i).copied().unwrap_or(0);

        if in_options {
            if let Some(rest) = text.trim_start().strip_prefix("//|") {
                match parse_option(rest, &mut options, &mut seen) {
                    Ok(()) => {}
                    Err(problem) => errors.push(OptionError::new(md_line, problem)),
                }
                lines.push(CodeLine {
                    code: String::new(),
                    md_line,
                    md_column_offset: offset,
                    shown: false,
                });
                continue;
            }
            in_options = false;
        }

        let (code, shift, shown) = strip_hidden_marker(text);
        lines.push(CodeLine {
            code,
            md_line,
            md_column_offset: offset + shift,
            shown,
        });
    }

    if errors.is_empty() {
        Ok((options, lines))
    } else {
        Err(errors)
    }
}

/// Applies rustdoc's rule for hidden lines: after leading whitespace, `# ` or a lone `#`
/// hides the line and `##` stands for a shown line starting with `#`.
/// Returns the compiled text, the number of characters removed before it, and visibility.
fn strip_hidden_marker(text: &str) -> (String, usize, bool) {
    let trimmed = text.trim_start();
    let indent = &text[..text.len() - trimmed.len()];
    if trimmed == "#" {
        return (indent.to_string(), 1, false);
    }
    if let Some(rest) = trimmed.strip_prefix("# ") {
        return (format!("{indent}{rest}"), 2, false);
    }
    if trimmed.starts_with("##") {
        return (format!("{indent}{}", &trimmed[1..]), 1, true);
    }
    (text.to_string(), 0, true)
}

fn parse_option<'a>(
    rest: &'a str,
    options: &mut BlockOptions,
    seen: &mut Vec<&'a str>,
) -> Result<(), OptionProblem> {
    let Some((key, value)) = rest.split_once(':') else {
        return Err(OptionProblem::MalformedLine { text: rest.to_string() });
    };
    let key = key.trim();
    let value = unquote(value.trim())?;

    if !OPTION_KEYS.contains(&key) {
        let suggestion = did_you_mean(key, OPTION_KEYS).map(str::to_string);
        return Err(OptionProblem::UnknownKey { key: key.to_string(), suggestion });
    }
    if seen.contains(&key) {
        return Err(OptionProblem::Repeated { key: key.to_string() });
    }
    seen.push(key);

    match key {
        "echo" => options.echo = parse_bool(key, &value)?,
        "error" => options.error = parse_bool(key, &value)?,
        "output" => {
            options.output = OutputMode::parse(&value).ok_or_else(|| {
                let suggestion = did_you_mean(&value, OutputMode::NAMES).map(str::to_string);
                OptionProblem::BadOutput { value: value.clone(), suggestion }
            })?;
        }
        "label" => {
            let valid = !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(OptionProblem::BadLabel { value });
            }
            options.label = Some(value);
        }
        "fig-cap" => options.fig_cap = Some(value),
        "timeout" => {
            let seconds: u64 = value
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| OptionProblem::BadTimeout { value: value.clone() })?;
            options.timeout = Some(seconds);
        }
        _ => unreachable!("every key of OPTION_KEYS has a branch"),
    }
    Ok(())
}

fn parse_bool(key: &str, value: &str) -> Result<bool, OptionProblem> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(OptionProblem::NotBool { key: key.to_string(), value: value.to_string() }),
    }
}

/// Removes YAML-style quotes around an option value so `fig-cap: "a: b"` works.
fn unquote(value: &str) -> Result<String, OptionProblem> {
    let quoted = (value.starts_with('"') && value.len() >= 2 && value.ends_with('"'))
        || (value.starts_with('\'') && value.len() >= 2 && value.ends_with('\''));
    if !quoted {
        return Ok(value.to_string());
    }
    serde_yaml::from_str::<String>(value)
        .map_err(|e| OptionProblem::BadQuote { value: value.to_string(), detail: e.to_string() })
}

fn list_keys() -> String {
    OPTION_KEYS.join(", ")
}

/// Returns the candidate closest to `word` when it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(code: &str) -> Result<(BlockOptions, Vec<CodeLine>), Vec<OptionError>> {
        parse_block_lines(code, 10, &[])
    }

    #[test]
    fn info_string_needs_rust_and_exec() {
        assert!(is_exec_info("rust,exec"));
        assert!(is_exec_info("rust, exec"));
        assert!(is_exec_info("rust exec"));
        assert!(!is_exec_info("rust"));
        assert!(!is_exec_info("exec,rust"));
        assert!(!is_exec_info("python,exec"));
        assert!(!is_exec_info("rust,execute"));
    }

    #[test]
    fn options_are_parsed() {
        let (options, lines) = parse(
            "//| echo: false\n//| output: asis\n//| label: fig-1\n//| fig-cap: \"誤差: 比較\"\n//| timeout: 30\n//| error: true\nlet x = 1;\n",
        )
        .unwrap();
        assert!(!options.echo);
        assert_eq!(options.output, OutputMode::Asis);
        assert_eq!(options.label.as_deref(), Some("fig-1"));
        assert_eq!(options.fig_cap.as_deref(), Some("誤差: 比較"));
        assert_eq!(options.timeout, Some(30));
        assert!(options.error);
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[6].code, "let x = 1;");
        assert_eq!(lines[6].md_line, 16);
    }

    #[test]
    fn unknown_option_suggests_near_key() {
        let errors = parse("//| ecco: true\n").unwrap_err();
        assert_eq!(errors[0].line, 10);
        assert!(
            errors[0].message.contains("did you mean `echo`?"),
            "{}",
            errors[0].message
        );
        assert!(
            errors[0]
                .message
                .contains("echo, output, label, fig-cap, timeout, error")
        );
    }

    #[test]
    fn bad_values_are_rejected_with_each_line() {
        let errors =
            parse("//| echo: yes\n//| output: asi\n//| timeout: 0\n//| label: a b\n").unwrap_err();
        assert_eq!(errors.len(), 4);
        assert_eq!(errors[0].line, 10);
        assert!(errors[0].message.contains("expected true or false"));
        assert!(
            errors[1].message.contains("did you mean `asis`?"),
            "{}",
            errors[1].message
        );
        assert_eq!(errors[2].line, 12);
        assert!(errors[2].message.contains("whole number of seconds"));
        assert!(errors[3].message.contains("invalid label"));
    }

    #[test]
    fn duplicate_and_malformed_options_are_rejected() {
        let errors = parse("//| echo: true\n//| echo: false\n//| nonsense\n").unwrap_err();
        assert!(errors[0].message.contains("set twice"));
        assert!(errors[1].message.contains("expected `//| key: value`"));
    }

    #[test]
    fn option_lines_after_code_are_plain_comments() {
        let (options, lines) = parse("let a = 1;\n//| echo: false\n").unwrap();
        assert!(options.echo);
        assert_eq!(lines[1].code, "//| echo: false");
        assert!(lines[1].shown);
    }

    #[test]
    fn hidden_lines_follow_rustdoc() {
        let (_, lines) = parse("# use std::fmt;\n#\n    # let y = 2;\n##[derive(Debug)]\n#[derive(Clone)]\nlet x = 1;\n").unwrap();
        let shown: Vec<(&str, bool, usize)> = lines
            .iter()
            .map(|l| (l.code.as_str(), l.shown, l.md_column_offset))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("use std::fmt;", false, 2),
                ("", false, 1),
                ("    let y = 2;", false, 2),
                ("#[derive(Debug)]", true, 1),
                ("#[derive(Clone)]", true, 0),
                ("let x = 1;", true, 0),
            ]
        );
    }
}
