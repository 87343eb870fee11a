//! Helpers shared by the integration tests: fixture copies, running the
//! real binary, and reading the built HTML.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Root of the repository (the real survey site).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

/// Copies the fixture site `name` into a new temporary directory.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create temp dir");
    copy_tree(&fixture(name), dir.path(), &[]);
    dir
}

/// Copies `from` into `to`, skipping top-level entries named in `skip`.
pub fn copy_tree(from: &Path, to: &Path, skip: &[&str]) {
    for entry in walkdir::WalkDir::new(from).min_depth(1) {
        let entry = entry.expect("walk fixture");
        let rel = entry.path().strip_prefix(from).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy();
        if skip.contains(&top.as_ref()) {
            continue;
        }
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Cargo target directory for code blocks run by tests: inside this
/// repository's `target/`, shared by every test binary (the exec engine's
/// tests use it too), so candle compiles once per checkout and never lands
/// in the user's cache directory.
pub fn exec_target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exec-target")
}

/// Runs the `survey` binary in `dir` with `args`.
pub fn survey(dir: &Path, args: &[&str]) -> Output {
    survey_command(dir, args).output().expect("run survey binary")
}

/// Returns the command that [`survey`] runs, for tests that change its
/// environment.
pub fn survey_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_survey"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("SURVEY_LOG")
        .env("SURVEY_EXEC_TARGET_DIR", exec_target_dir());
    command
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref()).unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()))
}

/// Text a reader sees in `html`: tags removed, entities decoded, each
/// KaTeX formula replaced by `$TeX$` from its annotation, and the
/// `<head>` left out.
pub fn visible_text(html: &str) -> String {
    let html = match (html.find("<body"), html.rfind("</body>")) {
        (Some(start), Some(end)) => &html[start..end],
        _ => html,
    };
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.starts_with("<span class=\"katex\">") || rest.starts_with("<span class=\"katex-display\">") {
            let end = matching_span_end(rest);
            let formula = &rest[..end];
            let tex = formula
                .split("<annotation encoding=\"application/x-tex\">")
                .nth(1)
                .and_then(|s| s.split("</annotation>").next())
                .unwrap_or("");
            text.push('$');
            text.push_str(&decode_entities(tex));
            text.push('$');
            rest = &rest[end..];
            continue;
        }
        let close = rest.find('>').map_or(rest.len(), |i| i + 1);
        rest = &rest[close..];
    }
    text.push_str(rest);
    decode_entities(&text)
}

/// Byte length of the `<span …>…</span>` element at the start of `html`.
fn matching_span_end(html: &str) -> usize {
    let mut depth = 0;
    let mut pos = 0;
    while let Some(found) = html[pos..].find("<") {
        let at = pos + found;
        if html[at..].starts_with("<span") {
            depth += 1;
        } else if html[at..].starts_with("</span>") {
            depth -= 1;
            if depth == 0 {
                return at + "</span>".len();
            }
        }
        pos = at + 1;
    }
    html.len()
}

pub fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// Lines of the first `<ul class="taxonomy">` in `html` as (depth, text).
pub fn taxonomy_lines(html: &str) -> Vec<(usize, String)> {
    let start = html.find("<ul class=\"taxonomy\">").expect("page has a taxonomy list");
    let mut lines = Vec::new();
    let mut depth = 0usize;
    let mut pos = start + "<ul class=\"taxonomy\">".len();
    loop {
        let next_ul = html[pos..].find("<ul>").map(|i| pos + i);
        let next_close = html[pos..].find("</ul>").map(|i| pos + i);
        let next_li = html[pos..].find("<li").map(|i| pos + i);
        let (at, kind) = [(next_ul, 0), (next_close, 1), (next_li, 2)]
            .into_iter()
            .filter_map(|(at, kind)| at.map(|at| (at, kind)))
            .min()
            .expect("list is closed");
        match kind {
            0 => {
                depth += 1;
                pos = at + 4;
            }
            1 => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
                pos = at + 5;
            }
            _ => {
                let body_start = at + html[at..].find('>').unwrap() + 1;
                let end = [html[body_start..].find("<ul>"), html[body_start..].find("</li>")]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap();
                let text = visible_text(&html[body_start..body_start + end]);
                lines.push((depth, text.split_whitespace().collect::<Vec<_>>().join(" ")));
                pos = body_start;
            }
        }
    }
    lines
}

/// Values of `attr="…"` in `html`.
pub fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let start = at + needle.len();
            let end = html[start..].find('"').unwrap() + start;
            &html[start..end]
        })
        .collect()
}

/// Checks that every internal `href`/`src` of every HTML file under `out`
/// (served under `base`) names an existing file and, when it has a
/// fragment, an element with that id. Also checks `url(…)` in CSS files.
/// Returns the broken links as `file: link` lines.
pub fn broken_links(out: &Path, base: &str) -> Vec<String> {
    let mut ids: HashMap<PathBuf, Vec<String>> = HashMap::new();
    let mut broken = Vec::new();
    let files: Vec<PathBuf> = walkdir::WalkDir::new(out)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.is_file())
        .collect();
    for file in files.iter().filter(|p| p.extension().is_some_and(|e| e == "html")) {
        let html = read(file);
        for link in attribute_values(&html, "href").into_iter().chain(attribute_values(&html, "src")) {
            let link = decode_entities(link);
            if link.starts_with("http://") || link.starts_with("https://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = match link.split_once('#') {
                Some((path, fragment)) => (path.to_string(), Some(fragment.to_string())),
                None => (link.clone(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else if let Some(rest) = path.strip_prefix(base) {
                let mut target = out.join(rest);
                if path.ends_with('/') {
                    target = target.join("index.html");
                }
                target
            } else {
                broken.push(format!("{}: {link} (not under base {base})", file.display()));
                continue;
            };
            if !target.is_file() {
                broken.push(format!("{}: {link} (no file)", file.display()));
                continue;
            }
            if let Some(fragment) = fragment {
                let target_ids = ids.entry(target.clone()).or_insert_with(|| {
                    attribute_values(&read(&target), "id").into_iter().map(decode_entities).collect()
                });
                if !target_ids.contains(&fragment) {
                    broken.push(format!("{}: {link} (no id)", file.display()));
                }
            }
        }
    }
    for css in files.iter().filter(|p| p.extension().is_some_and(|e| e == "css")) {
        let text = read(css);
        for (at, _) in text.match_indices("url(") {
            let rest = &text[at + 4..];
            let url = rest[..rest.find(')').unwrap()].trim_matches(['"', '\'']);
            if url.starts_with("data:") {
                continue;
            }
            if !css.parent().unwrap().join(url).is_file() {
                broken.push(format!("{}: url({url})", css.display()));
            }
        }
    }
    broken
}

/// Checks that the elements of `html` nest: every start tag other than a
/// void element (`<img>`, `<br>`, …) or a self-closed one (`<rect/>`) is
/// closed by the matching end tag, in order. Comments, the doctype and the
/// text of `<script>` and `<style>` are skipped. Returns the first problem.
pub fn check_well_formed(html: &str) -> Result<(), String> {
    const VOID: &[&str] = &["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"];
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut pos = 0;
    while let Some(found) = html[pos..].find('<') {
        let at = pos + found;
        let rest = &html[at..];
        if rest.starts_with("<!--") {
            pos = at + rest.find("-->").ok_or("unclosed comment")? + 3;
            continue;
        }
        if rest.starts_with("<!") {
            pos = at + rest.find('>').ok_or("unclosed doctype")? + 1;
            continue;
        }
        let end = at + rest.find('>').ok_or_else(|| format!("unclosed tag at byte {at}"))?;
        let tag = &html[at + 1..end];
        pos = end + 1;
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            match open.pop() {
                Some((expected, _)) if expected == name => {}
                Some((expected, start)) => {
                    return Err(format!("</{name}> at byte {at} closes <{expected}> opened at byte {start}"));
                }
                None => return Err(format!("</{name}> at byte {at} closes nothing")),
            }
            continue;
        }
        let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>().to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!("invalid tag `<{tag}>` at byte {at}"));
        }
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "script" || name == "style" {
            let close = format!("</{name}>");
            pos += html[pos..].find(&close).ok_or_else(|| format!("unclosed <{name}> at byte {at}"))? + close.len();
            continue;
        }
        open.push((name, at));
    }
    match open.pop() {
        Some((name, start)) => Err(format!("<{name}> opened at byte {start} is never closed")),
        None => Ok(()),
    }
}

/// Lists every `.html` file under `out`.
pub fn html_files(out: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(out)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect()
}
