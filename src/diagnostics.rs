//! Build errors that point at a file, a line and a fix.
//!
//! Every stage reports bad input as a [`Diagnostic`]: a location plus a
//! [`Message`] from the catalog in [`crate::i18n`]. Stages collect as many
//! diagnostics as they can before giving up, so one build lists every problem
//! in the sources instead of stopping at the first.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::i18n::{Args, Catalog};

/// A catalog message id with its arguments, localized only when printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: &'static str,
    pub args: Args,
}

impl Message {
    pub fn new(id: &'static str) -> Self {
        Self { id, args: Args::new() }
    }

    /// Adds the argument `name` (a Fluent variable) with `value`.
    pub fn arg(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        self.args.push((name, value.to_string()));
        self
    }
}

/// One problem in the sources of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File relative to the site root, written with `/` separators.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column in characters, when known.
    pub column: Option<usize>,
    pub message: Message,
    /// Closest valid name for a misspelt one ("did you mean …").
    pub suggestion: Option<String>,
}

impl Diagnostic {
    pub fn new(file: impl AsRef<Path>, message: Message) -> Self {
        Self {
            file: file.as_ref().to_path_buf(),
            line: None,
            column: None,
            message,
            suggestion: None,
        }
    }

    pub fn at(mut self, line: usize, column: Option<usize>) -> Self {
        self.line = Some(line);
        self.column = column;
        self
    }

    pub fn at_line(self, line: usize) -> Self {
        self.at(line, None)
    }

    pub fn suggest(mut self, suggestion: Option<String>) -> Self {
        self.suggestion = suggestion;
        self
    }

    /// Location as `file:line:column`, leaving out the parts not known.
    pub fn location(&self) -> String {
        let mut location = self.file.to_string_lossy().replace('\\', "/");
        if let Some(line) = self.line {
            location.push_str(&format!(":{line}"));
            if let Some(column) = self.column {
                location.push_str(&format!(":{column}"));
            }
        }
        location
    }

    /// Formats the diagnostic in the catalog's language: a headline
    /// `error: file:line:col: message` (without the location when the
    /// problem is in no file), then the fix and any suggestion.
    pub fn render(&self, catalog: &Catalog) -> String {
        self.render_labeled(catalog, "label-error", None)
    }

    /// Formats the diagnostic with the catalog label `label` (such as
    /// `label-warning`) and, when given, a `[tag]` after the message.
    pub fn render_labeled(&self, catalog: &Catalog, label: &str, tag: Option<&str>) -> String {
        let location = self.location();
        let mut out = if location.is_empty() {
            format!("{}: {}", catalog.text(label), catalog.format(&self.message))
        } else {
            format!("{}: {location}: {}", catalog.text(label), catalog.format(&self.message))
        };
        if let Some(tag) = tag {
            out.push_str(&format!(" [{tag}]"));
        }
        if let Some(help) = catalog.format_attribute(&self.message, "help") {
            out.push_str(&format!("\n  {}: {help}", catalog.text("label-help")));
        }
        if let Some(suggestion) = &self.suggestion {
            let did_you_mean = catalog.format(&Message::new("did-you-mean").arg("suggestion", suggestion));
            out.push_str(&format!("\n  {did_you_mean}"));
        }
        out
    }
}

/// Diagnostics gathered by one stage or by a whole build.
#[derive(Debug, Default)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Sorts by file, then line and column, so output order does not depend
    /// on which thread found a problem first.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        self.0.dedup();
    }

    /// Returns `Ok(value)` when nothing was reported, else the diagnostics.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() { Ok(value) } else { Err(self) }
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Self(vec![diagnostic])
    }
}

/// Returns the candidate closest to `name` by Jaro–Winkler similarity, if it
/// is close enough to be a likely misspelling.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    const MIN_SIMILARITY: f64 = 0.8;
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score >= MIN_SIMILARITY)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate.to_string())
}

/// Converts a byte offset in `text` to a 1-based (line, column) pair, the
/// column counted in characters.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Converts a serde_yaml error into a diagnostic for `file`. `first_line` is
/// the file line on which the YAML text starts (2 for front matter after its
/// opening fence), so the reported line is a line of the file.
///
/// The common mistakes get a message of their own in the catalog: a tab in
/// the indentation, an unquoted colon, a backslash in double quotes, a value
/// of the wrong type or not among the allowed ones. Any other error is shown
/// with the parser's own English description.
pub fn from_yaml_error(file: &Path, error: &serde_yaml::Error, first_line: usize) -> Diagnostic {
    let full = error.to_string();
    let detail = match full.find(" at line ") {
        Some(end) => full[..end].to_string(),
        None => full.clone(),
    };
    let (message, suggestion) = yaml_message(&detail);
    let mut diagnostic = Diagnostic::new(file, message).suggest(suggestion);
    if let Some(location) = error.location() {
        diagnostic = diagnostic.at(location.line() + first_line - 1, Some(location.column()));
    } else {
        diagnostic = diagnostic.at_line(first_line);
    }
    diagnostic
}

/// Returns the catalog message for a serde_yaml error text (without its location),
/// and a suggested field name for a misspelt one.
fn yaml_message(detail: &str) -> (Message, Option<String>) {
    // serde_yaml puts the path of a nested value first: `taxonomy[0]: …`.
    let (field, reason) = split_field_path(detail);
    let quoted = backticked_words(reason);

    if reason.starts_with("unknown field") && !quoted.is_empty() {
        let name = &quoted[0];
        let expected = &quoted[1..];
        let listed = expected.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ");
        let message = Message::new("field-unknown").arg("field", name).arg("expected", listed);
        return (message, closest(name, expected.iter().map(String::as_str)));
    }
    if reason.starts_with("missing field") && !quoted.is_empty() {
        return (Message::new("field-missing").arg("field", &quoted[0]), None);
    }
    if reason.starts_with("duplicate field") && !quoted.is_empty() {
        return (Message::new("field-duplicate").arg("field", &quoted[0]), None);
    }
    if reason.starts_with("unknown variant") && !quoted.is_empty() {
        let listed = quoted[1..].iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ");
        let message = Message::new("value-unknown").arg("field", field.unwrap_or("?")).arg("value", &quoted[0]).arg("expected", listed);
        return (message, closest(&quoted[0], quoted[1..].iter().map(String::as_str)));
    }
    if let Some((found, expected)) = reason.strip_prefix("invalid type: ").and_then(|types| types.split_once(", expected ")) {
        let message = Message::new("value-type")
            .arg("field", field.unwrap_or("?"))
            .arg("found", yaml_type(found))
            .arg("expected", yaml_type(expected));
        return (message, None);
    }
    let syntax = [
        ("found a tab character", "yaml-tab"),
        ("mapping values are not allowed", "yaml-colon"),
        ("found unknown escape character", "yaml-escape"),
        ("found character that cannot start any token", "yaml-bad-start"),
        ("found unexpected end of stream", "yaml-unclosed"),
        ("did not find expected key", "yaml-indentation"),
        ("did not find expected '-' indicator", "yaml-indentation"),
        ("block sequence entries are not allowed", "yaml-indentation"),
    ];
    if let Some((_, id)) = syntax.iter().find(|(phrase, _)| reason.contains(phrase)) {
        return (Message::new(id).arg("detail", detail), None);
    }
    if reason.starts_with("invalid value") || reason.starts_with("invalid length") {
        return (Message::new("yaml-value-invalid").arg("detail", detail), None);
    }
    (Message::new("yaml-invalid").arg("detail", detail), None)
}

/// Splits `taxonomy[0].node: invalid type: …` into the path and the reason.
fn split_field_path(detail: &str) -> (Option<&str>, &str) {
    let reasons = ["unknown field", "missing field", "duplicate field", "unknown variant", "invalid type", "invalid value", "invalid length"];
    for reason in reasons {
        if let Some(at) = detail.find(reason) {
            let path = detail[..at].trim_end().trim_end_matches(':').trim();
            return ((!path.is_empty()).then_some(path), &detail[at..]);
        }
    }
    (None, detail)
}

/// Short name of a serde type description (`a string`, `integer `5``,
/// `struct TaxonomyRef`), for the catalog to translate: `string`,
/// `integer`, `float`, `bool`, `sequence`, `map`, `null` or `other`.
fn yaml_type(description: &str) -> &'static str {
    let description = description.trim();
    let word = description.trim_start_matches("a ").trim_start_matches("an ");
    if word.starts_with("string") || word.starts_with("char") {
        "string"
    } else if word.starts_with("integer") || ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "isize"].contains(&word) {
        "integer"
    } else if word.starts_with("floating point") || word == "f32" || word == "f64" {
        "float"
    } else if word.starts_with("boolean") {
        "bool"
    } else if word.starts_with("sequence") {
        "sequence"
    } else if word.starts_with("map") || word.starts_with("struct") {
        "map"
    } else if word.starts_with("unit") || word.starts_with("null") {
        "null"
    } else {
        "other"
    }
}

/// Returns the words written between backticks in `text`, in order.
fn backticked_words(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        let text = "ab\nあいう$x$";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, text.find('$').unwrap()), (2, 4));
    }

    #[test]
    fn closest_finds_near_misses_only() {
        let fields = ["title", "weight", "node"];
        assert_eq!(closest("titel", fields), Some("title".to_string()));
        assert_eq!(closest("zzz", fields), None);
    }

    fn yaml_error(text: &str) -> Diagnostic {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code, reason = "only the errors are used")]
        struct Header {
            title: String,
            #[serde(default)]
            weight: Option<i64>,
            #[serde(default)]
            status: Option<Kind>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Kind {
            Draft,
            Published,
        }
        from_yaml_error(Path::new("a.md"), &serde_yaml::from_str::<Header>(text).unwrap_err(), 2)
    }

    #[test]
    fn common_yaml_mistakes_get_their_own_messages() {
        let cases = [
            ("title: a\n\tweight: 1\n", "yaml-tab", 3),
            ("title: a: b\n", "yaml-colon", 2),
            ("title: \"$\\mathcal{O}$\"\n", "yaml-escape", 2),
            ("title: 'a\n", "yaml-unclosed", 3),
            ("title: a\nweight: x\n", "value-type", 3),
            ("title: a\nstatus: no\n", "value-unknown", 3),
            ("title: a\ntitle: b\n", "field-duplicate", 2),
        ];
        for (text, id, line) in cases {
            let diagnostic = yaml_error(text);
            assert_eq!((diagnostic.message.id, diagnostic.line), (id, Some(line)), "{text:?}: {diagnostic:?}");
        }
        let wrong_type = yaml_error("title: a\nweight: x\n");
        assert!(wrong_type.message.args.contains(&("field", "weight".to_string())), "{wrong_type:?}");
        assert!(wrong_type.message.args.contains(&("expected", "integer".to_string())), "{wrong_type:?}");
        let variant = yaml_error("title: a\nstatus: publish\n");
        assert_eq!(variant.suggestion.as_deref(), Some("published"));
    }

    #[test]
    fn location_leaves_out_unknown_parts() {
        let message = Message::new("did-you-mean");
        assert_eq!(Diagnostic::new("a.md", message.clone()).location(), "a.md");
        assert_eq!(Diagnostic::new("a.md", message.clone()).at_line(3).location(), "a.md:3");
        assert_eq!(Diagnostic::new("a.md", message).at(3, Some(7)).location(), "a.md:3:7");
    }
}
