//! Rewriting rustc's rendered diagnostics and panic messages so that locations in a
//! generated page program point at the `.md` file instead.

use std::path::Path;

use super::codegen::Program;

/// Maps locations in one generated file back to its page.
pub(crate) struct LocationMapper<'a> {
    /// Path of the generated file as rustc prints it (`src/bin/p-….rs`).
    pub generated: &'a str,
    /// Absolute path of the generated file, shown for lines that belong to no block.
    pub generated_absolute: &'a Path,
    pub page: &'a Path,
    pub program: &'a Program,
}

impl LocationMapper<'_> {
    /// Returns `page:line:column` for a generated line and column (both from 1), or the
    /// absolute generated location for harness lines.
    pub fn map(&self, line: usize, column: Option<usize>) -> String {
        match self.program.origin(line) {
            Some(origin) => match column {
                Some(column) => format!(
                    "{}:{}:{}",
                    self.page.display(),
                    origin.md_line,
                    column + origin.column_offset
                ),
                None => format!("{}:{}", self.page.display(), origin.md_line),
            },
            None => match column {
                Some(column) => format!("{}:{line}:{column}", self.generated_absolute.display()),
                None => format!("{}:{line}", self.generated_absolute.display()),
            },
        }
    }

    /// Replaces every `generated:LINE[:COL]` in `text`.
    pub fn map_locations(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(self.generated) {
            out.push_str(&rest[..start]);
            let after = &rest[start + self.generated.len()..];
            let (line, after_line) = take_number(after.strip_prefix(':'));
            match line {
                Some(line) => {
                    let (column, after_column) = take_number(after_line.strip_prefix(':'));
                    let remainder = if column.is_some() {
                        after_column
                    } else {
                        after_line
                    };
                    out.push_str(&self.map(line, column));
                    rest = remainder;
                }
                None => {
                    out.push_str(&self.generated_absolute.display().to_string());
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Rewrites a rendered rustc diagnostic: locations after `-->` and `:::`, and the
    /// line numbers of code snippets taken from the generated file, re-aligning the
    /// gutter when the numbers get wider or narrower.
    pub fn map_rendered(&self, rendered: &str) -> String {
        let lines: Vec<&str> = rendered.lines().collect();
        let mut in_generated = Vec::with_capacity(lines.len());
        let mut current = false;
        for line in &lines {
            let trimmed = line.trim_start();
            if let Some(location) = trimmed
                .strip_prefix("--> ")
                .or_else(|| trimmed.strip_prefix("::: "))
            {
                current = location.starts_with(self.generated);
            }
            in_generated.push(current);
        }

        let Some(old_width) = lines.iter().find_map(|l| gutter_of(l)) else {
            return self.map_locations(rendered);
        };

        let mut new_numbers = Vec::with_capacity(lines.len());
        let mut new_width = 1;
        for (line, generated) in lines.iter().zip(&in_generated) {
            let number = snippet_number(line, old_width).map(|n| {
                match (generated, self.program.origin(n)) {
                    (true, Some(origin)) => origin.md_line,
                    _ => n,
                }
            });
            if let Some(n) = number {
                new_width = new_width.max(n.to_string().len());
            }
            new_numbers.push(number);
        }

        let mut out = String::with_capacity(rendered.len() + 64);
        for (i, line) in lines.iter().enumerate() {
            let rewritten = match new_numbers[i] {
                Some(number) => format!("{number:>new_width$}{}", &line[old_width..]),
                None if is_gutter_line(line, old_width) => {
                    format!("{}{}", " ".repeat(new_width), &line[old_width..])
                }
                None => line.to_string(),
            };
            out.push_str(&self.map_locations(&rewritten));
            out.push('\n');
        }
        out
    }
}

fn take_number(text: Option<&str>) -> (Option<usize>, &str) {
    let Some(text) = text else { return (None, "") };
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    match text[..digits].parse() {
        Ok(n) => (Some(n), &text[digits..]),
        Err(_) => (None, text),
    }
}

/// Returns the gutter width of a rendered diagnostic from its `-->` line.
fn gutter_of(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    trimmed
        .starts_with("--> ")
        .then(|| line.len() - trimmed.len())
}

/// Returns the line number of a snippet line `{number:>width} |…`.
fn snippet_number(line: &str, width: usize) -> Option<usize> {
    let head = line.get(..width)?;
    let rest = &line[width..];
    if !(rest.starts_with(" |") || rest == " " || rest.is_empty()) {
        return None;
    }
    head.trim_start().parse().ok()
}

/// Whether a line belongs to the gutter column: `   |`, `  -->`, `   = note`, `  :::`.
fn is_gutter_line(line: &str, width: usize) -> bool {
    let Some(head) = line.get(..width) else {
        return false;
    };
    if !head.chars().all(|c| c == ' ') {
        return false;
    }
    let rest = &line[width..];
    rest.starts_with(" |")
        || rest.starts_with("-->")
        || rest.starts_with(":::")
        || rest.starts_with(" =")
        || rest.starts_with(" ...")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::codegen::generate;
    use crate::exec::extract::extract_blocks;
    use std::collections::BTreeSet;

    #[test]
    fn rendered_diagnostic_points_at_markdown() {
        let mut body = String::new();
        for _ in 0..95 {
            body.push('\n');
        }
        body.push_str("```rust,exec\nlet x: i32 = \"a\";\n```\n");
        let blocks = extract_blocks(&body, 1).unwrap();
        let program = generate(Path::new("content/a.md"), &blocks, &BTreeSet::new());
        let generated_line = program
            .source
            .lines()
            .position(|l| l.starts_with("let x"))
            .unwrap()
            + 1;
        assert!(generated_line < 10);

        let rendered = format!(
            "error[E0308]: mismatched types\n --> src/bin/p.rs:{generated_line}:14\n  |\n{generated_line} | let x: i32 = \"a\";\n  |        ---   ^^^ expected `i32`, found `&str`\n  |\n  = note: see src/bin/p.rs:{generated_line}\n"
        );
        let mapper = LocationMapper {
            generated: "src/bin/p.rs",
            generated_absolute: Path::new("/p/src/bin/p.rs"),
            page: Path::new("content/a.md"),
            program: &program,
        };
        let mapped = mapper.map_rendered(&rendered);
        assert_eq!(
            mapped,
            "error[E0308]: mismatched types\n  --> content/a.md:97:14\n   |\n97 | let x: i32 = \"a\";\n   |        ---   ^^^ expected `i32`, found `&str`\n   |\n   = note: see content/a.md:97\n"
        );
    }

    #[test]
    fn harness_lines_keep_generated_location() {
        let blocks = extract_blocks("```rust,exec\nlet a = 1;\n```\n", 1).unwrap();
        let program = generate(Path::new("content/a.md"), &blocks, &BTreeSet::new());
        let mapper = LocationMapper {
            generated: "src/bin/p.rs",
            generated_absolute: Path::new("/p/src/bin/p.rs"),
            page: Path::new("content/a.md"),
            program: &program,
        };
        assert_eq!(
            mapper.map_locations("at src/bin/p.rs:1:1"),
            "at /p/src/bin/p.rs:1:1"
        );
        assert_eq!(
            mapper.map_locations("panicked at src/bin/p.rs:6:1:\nboom"),
            "panicked at content/a.md:2:1:\nboom"
        );
    }
}
