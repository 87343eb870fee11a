//! Tera templates and static assets: built-in copies compiled into the
//! binary, overridden file by file by a site's own `templates/` directory.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use tera::Tera;

use crate::diagnostics::{Diagnostic, Diagnostics, Message};

/// The repository's `templates/` directory, as of compile time.
static BUILT_IN: Dir = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Directory of a site's templates and, under `static/`, its assets.
pub const TEMPLATES_DIR: &str = "templates";
const STATIC_DIR: &str = "static";

/// The loaded templates of one build.
pub struct Templates {
    tera: Tera,
    /// Hash of every template's name and source.
    key: super::manifest::Key,
}

impl Templates {
    /// Loads the built-in `*.html` templates, then the site's own
    /// `templates/*.html`, which replace built-in ones of the same name.
    pub fn load(root: &Path) -> Result<Templates, Diagnostics> {
        let mut sources: Vec<(String, String)> = BUILT_IN
            .files()
            .filter(|file| file.path().extension().is_some_and(|ext| ext == "html"))
            .filter_map(|file| Some((file.path().to_string_lossy().into_owned(), file.contents_utf8()?.to_string())))
            .collect();

        let site_dir = root.join(TEMPLATES_DIR);
        if let Ok(entries) = std::fs::read_dir(&site_dir) {
            let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths.into_iter().filter(|p| p.extension().is_some_and(|ext| ext == "html")) {
                let name = path.file_name().expect("read_dir entries have names").to_string_lossy().into_owned();
                let shown = Path::new(TEMPLATES_DIR).join(&name);
                let text = std::fs::read_to_string(&path).map_err(|error| {
                    Diagnostic::new(&shown, Message::new("io-error").arg("path", shown.display()).arg("detail", error))
                })?;
                sources.retain(|(existing, _)| *existing != name);
                sources.push((name, crate::content::normalize_text(&text)));
            }
        }

        let mut hasher = super::manifest::KeyHasher::new("templates");
        for (name, source) in &sources {
            hasher.str(name).str(source);
        }
        let key = hasher.finish();

        let mut tera = Tera::default();
        tera.set_escape_fn(escape_for_tera);
        tera.add_raw_templates(sources).map_err(|error| {
            Diagnostic::new(TEMPLATES_DIR, Message::new("template-error").arg("name", TEMPLATES_DIR).arg("detail", error_chain(&error)))
        })?;
        Ok(Templates { tera, key })
    }

    /// Returns the hash of every template's name and source, which changes
    /// whenever a template that pages may use changes.
    pub fn key(&self) -> super::manifest::Key {
        self.key
    }

    pub fn render(&self, name: &str, context: &tera::Context) -> Result<String, Diagnostic> {
        self.tera.render(name, context).map_err(|error| {
            Diagnostic::new(Path::new(TEMPLATES_DIR).join(name), Message::new("template-error").arg("name", name).arg("detail", error_chain(&error)))
        })
    }
}

/// Tera's default escaper also escapes `/`, which would turn every URL
/// into `&#x2F;…`; this one escapes only what HTML needs.
fn escape_for_tera(text: &str) -> String {
    crate::markdown::escape_html(text)
}

fn error_chain(error: &tera::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}

/// Static assets to copy under `static/` in the output: the built-in ones,
/// then the site's `templates/static/**`, which replace built-in files of
/// the same path. Paths use `/` and are relative to `static/`.
pub fn static_files(root: &Path) -> Result<Vec<(String, Cow<'static, [u8]>)>, Diagnostics> {
    let mut files: Vec<(String, Cow<'static, [u8]>)> = Vec::new();
    if let Some(dir) = BUILT_IN.get_dir(STATIC_DIR) {
        collect_built_in(dir, &mut files);
    }
    let site_static = root.join(TEMPLATES_DIR).join(STATIC_DIR);
    if site_static.is_dir() {
        for entry in walkdir::WalkDir::new(&site_static).sort_by_file_name() {
            let entry = entry.map_err(|error| {
                let shown = Path::new(TEMPLATES_DIR).join(STATIC_DIR);
                Diagnostic::new(&shown, Message::new("io-error").arg("path", shown.display()).arg("detail", error))
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(&site_static).expect("walk stays inside").to_string_lossy().replace('\\', "/");
            let bytes = std::fs::read(entry.path()).map_err(|error| {
                Diagnostic::new(entry.path(), Message::new("io-error").arg("path", entry.path().display()).arg("detail", error))
            })?;
            files.retain(|(existing, _)| *existing != rel);
            files.push((rel, Cow::Owned(bytes)));
        }
    }
    Ok(files)
}

fn collect_built_in(dir: &'static Dir<'static>, files: &mut Vec<(String, Cow<'static, [u8]>)>) {
    for file in dir.files() {
        let rel = file.path().strip_prefix(STATIC_DIR).unwrap_or(file.path()).to_string_lossy().replace('\\', "/");
        files.push((rel, Cow::Borrowed(file.contents())));
    }
    for sub in dir.dirs() {
        collect_built_in(sub, files);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_templates_load() {
        let dir = tempfile::tempdir().unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        assert!(templates.tera.get_template_names().any(|name| name == "paper.html"));
    }

    #[test]
    fn site_templates_override_built_in_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("templates/static")).unwrap();
        std::fs::write(dir.path().join("templates/404.html"), "custom {{ site.base }}").unwrap();
        std::fs::write(dir.path().join("templates/static/style.css"), "body{}").unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let mut context = tera::Context::new();
        context.insert("site", &serde_json::json!({ "base": "/a/" }));
        assert_eq!(templates.render("404.html", &context).unwrap(), "custom /a/");
        let files = static_files(dir.path()).unwrap();
        let style = files.iter().find(|(path, _)| path == "style.css").unwrap();
        assert_eq!(style.1.as_ref(), b"body{}");
        assert!(files.iter().any(|(path, _)| path == "katex/fonts/KaTeX_Main-Regular.woff2"));
    }
}
