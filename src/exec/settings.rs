//! The `exec` section of `survey.yaml`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// Default run-time limit of one block, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// Default cap on what one block may write to each of stdout and stderr, in bytes.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1 << 20;

/// Settings of the execution engine, as written under `exec:` in `survey.yaml`.
/// Relative paths are relative to the site root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExecSettings {
    /// Dependencies of the generated Cargo project, in Cargo's syntax. `anyhow` is added
    /// when missing, because the generated `main` returns `anyhow::Result<()>`.
    #[serde(default)]
    pub dependencies: BTreeMap<String, Dependency>,
    /// Directory of the generated Cargo project (default `.survey/exec`).
    pub project_dir: Option<PathBuf>,
    /// Cargo target directory shared by every build on the machine. Default: the
    /// `SURVEY_EXEC_TARGET_DIR` environment variable, else `survey/exec-target` in the
    /// user cache directory.
    pub target_dir: Option<PathBuf>,
    /// Directory of the freeze (default `_freeze`).
    pub freeze_dir: Option<PathBuf>,
    /// Lock file copied into the generated project (default `Cargo.lock`).
    pub lockfile: Option<PathBuf>,
    /// Run-time limit of a block in seconds, unless the block sets `timeout`.
    pub timeout: Option<u64>,
    /// Cap in bytes on each of a block's stdout and stderr.
    pub max_output: Option<u64>,
}

impl ExecSettings {
    /// Returns the dependencies of the generated project: the configured ones plus `anyhow`.
    pub fn effective_dependencies(&self) -> BTreeMap<String, Dependency> {
        let mut dependencies = self.dependencies.clone();
        let has_anyhow = dependencies
            .iter()
            .any(|(name, dep)| dep.package_name(name) == "anyhow");
        if !has_anyhow {
            dependencies.insert("anyhow".to_string(), Dependency::Version("1".to_string()));
        }
        dependencies
    }
}

/// One dependency: a version requirement (`"0.11.1"`) or a table (`{ path: models }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Dependency {
    /// A version requirement from crates.io.
    Version(String),
    /// A dependency with a path, git source, features or a renamed package.
    Detailed(DetailedDependency),
}

/// The keys of a dependency table that the generated project passes to Cargo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DetailedDependency {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Path of the crate, relative to the site root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_features: Option<bool>,
    /// Name of the package on the registry when the dependency is renamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

impl Dependency {
    /// Returns the package name behind dependency key `key` (differs when renamed).
    pub fn package_name<'a>(&'a self, key: &'a str) -> &'a str {
        match self {
            Dependency::Detailed(DetailedDependency {
                package: Some(package),
                ..
            }) => package,
            _ => key,
        }
    }

    /// Returns the path of a path dependency, as written.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Dependency::Detailed(detail) => detail.path.as_deref(),
            Dependency::Version(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Dependency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DependencyVisitor;

        impl<'de> Visitor<'de> for DependencyVisitor {
            type Value = Dependency;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a version requirement such as \"0.11.1\" or a table such as { path: models }",
                )
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Dependency, E> {
                Ok(Dependency::Version(value.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dependency, A::Error> {
                DetailedDependency::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Dependency::Detailed)
            }
        }

        deserializer.deserialize_any(DependencyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_from_yaml() {
        let yaml = "dependencies:\n  seqmodels: { path: models }\n  candle-core: \"0.11.1\"\n  nn: { package: candle-nn, version: \"0.11.1\", default-features: false }\ntimeout: 30\n";
        let settings: ExecSettings = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(settings.timeout, Some(30));
        assert_eq!(
            settings.dependencies["seqmodels"].path(),
            Some(Path::new("models"))
        );
        assert_eq!(settings.dependencies["nn"].package_name("nn"), "candle-nn");
        assert!(settings.effective_dependencies().contains_key("anyhow"));
    }

    #[test]
    fn unknown_keys_name_their_line() {
        let error = serde_yaml::from_str::<ExecSettings>("timeout: 3\ntarget: x\n").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("unknown field `target`"), "{text}");
        assert!(text.contains("line 2"), "{text}");

        let error =
            serde_yaml::from_str::<ExecSettings>("dependencies:\n  a: { pth: x }\n").unwrap_err();
        assert!(error.to_string().contains("unknown field `pth`"), "{error}");
    }
}
