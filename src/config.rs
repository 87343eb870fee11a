//! Site configuration read from `survey.yaml`.

use std::path::Path;

use serde::Deserialize;

use crate::diagnostics::{Diagnostic, Message, from_yaml_error};
use crate::exec::ExecSettings;

/// File name of the site configuration, at the site root.
pub const CONFIG_FILE: &str = "survey.yaml";

/// Contents of `survey.yaml`. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Site title, shown in every page's `<title>` and header.
    pub title: String,
    /// BCP 47 language tag for `<html lang>`, UI labels and CLI messages.
    #[serde(default = "default_lang")]
    pub lang: String,
    /// Where the site is served: `/`, `/REPO/` or an absolute URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// One-line description for the `<meta name="description">` tag.
    #[serde(default)]
    pub description: Option<String>,
    /// Author of the site, named in the Atom feed. The title is used when
    /// it is not set.
    #[serde(default)]
    pub author: Option<String>,
    /// Settings of the engine that runs `rust,exec` blocks: dependencies of
    /// the generated Cargo project, timeouts, the freeze directory.
    #[serde(default)]
    pub exec: ExecSettings,
    /// Severity of each check of `survey check`.
    #[serde(default)]
    pub check: crate::check::CheckConfig,
}

fn default_lang() -> String {
    "en".to_string()
}

fn default_base_url() -> String {
    "/".to_string()
}

impl Config {
    /// Reads and validates `survey.yaml` in `root`.
    pub fn load(root: &Path) -> Result<Config, Diagnostic> {
        let path = root.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(Diagnostic::new(CONFIG_FILE, Message::new("config-missing")));
            }
            Err(error) => {
                return Err(Diagnostic::new(
                    CONFIG_FILE,
                    Message::new("io-error").arg("path", CONFIG_FILE).arg("detail", error),
                ));
            }
        };
        Self::parse(&text)
    }

    /// Parses the text of `survey.yaml`.
    pub fn parse(text: &str) -> Result<Config, Diagnostic> {
        let text = crate::content::normalize_text(text);
        let config: Config = serde_yaml::from_str(&text)
            .map_err(|error| from_yaml_error(Path::new(CONFIG_FILE), &error, 1))?;
        base_path_of(&config.base_url).ok_or_else(|| {
            let line = text.lines().position(|line| line.starts_with("base_url")).map_or(1, |i| i + 1);
            Diagnostic::new(CONFIG_FILE, Message::new("base-url-invalid").arg("value", &config.base_url))
                .at_line(line)
        })?;
        Ok(config)
    }

    /// Reads only the `lang` key, for localizing errors in a configuration
    /// that does not parse as a whole.
    /// When the file is not valid YAML, a top-level `lang:` line is used.
    pub fn peek_lang(root: &Path) -> Option<String> {
        let text = crate::content::normalize_text(&std::fs::read_to_string(root.join(CONFIG_FILE)).ok()?);
        match serde_yaml::from_str::<serde_yaml::Value>(&text) {
            Ok(value) => value.get("lang")?.as_str().map(str::to_string),
            Err(_) => text.lines().find_map(|line| {
                let value = line.strip_prefix("lang:")?.split('#').next()?.trim().trim_matches(['"', '\'']);
                (!value.is_empty()).then(|| value.to_string())
            }),
        }
    }

    /// Path under which the site is served, with leading and trailing `/`.
    pub fn base_path(&self) -> String {
        base_path_of(&self.base_url).expect("validated in Config::parse")
    }

    /// Absolute URL of the site root, when `base_url` is absolute.
    pub fn absolute_base(&self) -> Option<String> {
        let url = self.base_url.trim();
        (url.starts_with("https://") || url.starts_with("http://"))
            .then(|| format!("{}/", url.trim_end_matches('/')))
    }
}

/// Extracts the path of a base URL: `https://u.github.io/repo` → `/repo/`,
/// `repo` → `/repo/`, `` → `/`. Returns `None` for text that is not a URL
/// or path, such as one with spaces or a query.
pub fn base_path_of(base_url: &str) -> Option<String> {
    let url = base_url.trim();
    let path = if let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) {
        let host_end = rest.find('/').unwrap_or(rest.len());
        if host_end == 0 {
            return None;
        }
        &rest[host_end..]
    } else {
        url
    };
    if path.contains(char::is_whitespace) || path.contains(['?', '#', '\\']) {
        return None;
    }
    let inner = path.trim_matches('/');
    if inner.is_empty() {
        Some("/".to_string())
    } else {
        Some(format!("/{inner}/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_path_handles_urls_and_paths() {
        assert_eq!(base_path_of("/").as_deref(), Some("/"));
        assert_eq!(base_path_of("").as_deref(), Some("/"));
        assert_eq!(base_path_of("/notes").as_deref(), Some("/notes/"));
        assert_eq!(base_path_of("notes/").as_deref(), Some("/notes/"));
        assert_eq!(base_path_of("https://user.github.io/notes/").as_deref(), Some("/notes/"));
        assert_eq!(base_path_of("https://example.org").as_deref(), Some("/"));
        assert_eq!(base_path_of("/a b/"), None);
        assert_eq!(base_path_of("https:///x"), None);
    }

    #[test]
    fn parse_reads_all_fields() {
        let config = Config::parse(
            "title: T\nlang: ja\nbase_url: /repo/\nexec:\n  dependencies:\n    anyhow: \"1\"\n",
        )
        .unwrap();
        assert_eq!(config.title, "T");
        assert_eq!(config.lang, "ja");
        assert_eq!(config.base_path(), "/repo/");
        assert!(config.exec.dependencies.contains_key("anyhow"));
        assert_eq!(config.exec.timeout, None);
    }

    #[test]
    fn unknown_key_names_line_and_suggestion() {
        let error = Config::parse("title: T\nlnag: ja\n").unwrap_err();
        assert_eq!(error.line, Some(2));
        assert_eq!(error.message.id, "field-unknown");
        assert_eq!(error.suggestion.as_deref(), Some("lang"));
    }

    #[test]
    fn peek_lang_reads_unparsable_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "title: T\nlang: ja  # site language\n\tbase_url: /\n").unwrap();
        assert_eq!(Config::peek_lang(dir.path()).as_deref(), Some("ja"));
    }

    #[test]
    fn exec_settings_are_read() {
        let config = Config::parse(
            "title: T\nexec:\n  dependencies:\n    seqmodels: { path: models }\n  timeout: 30\n  freeze-dir: frozen\n",
        )
        .unwrap();
        assert_eq!(config.exec.timeout, Some(30));
        assert_eq!(config.exec.freeze_dir.as_deref(), Some(Path::new("frozen")));
        assert_eq!(config.exec.dependencies["seqmodels"].path(), Some(Path::new("models")));
    }

    #[test]
    fn unknown_exec_key_names_its_line() {
        let error = Config::parse("title: T\nexec:\n  timeout: 30\n  timout: 5\n").unwrap_err();
        assert_eq!(error.message.id, "field-unknown");
        assert_eq!(error.line, Some(4));
        assert_eq!(error.suggestion.as_deref(), Some("timeout"));
    }

    #[test]
    fn unknown_dependency_key_names_its_line() {
        let error = Config::parse("title: T\nexec:\n  dependencies:\n    seqmodels:\n      pth: models\n").unwrap_err();
        assert_eq!(error.message.id, "field-unknown");
        assert_eq!(error.line, Some(5));
        assert_eq!(error.suggestion.as_deref(), Some("path"));
    }

    #[test]
    fn missing_title_is_reported() {
        let error = Config::parse("lang: ja\n").unwrap_err();
        assert_eq!(error.message.id, "field-missing");
    }

    #[test]
    fn invalid_base_url_is_reported_on_its_line() {
        let error = Config::parse("title: T\nbase_url: /a b/\n").unwrap_err();
        assert_eq!(error.message.id, "base-url-invalid");
        assert_eq!(error.line, Some(2));
    }
}
