//! The generated Cargo project: one binary per page, reused between builds.
//!
//! Files are rewritten only when their content changes, so Cargo's freshness checks
//! (which look at modification times) skip the pages that did not change.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::{ExecError, IoContext};
use super::inputs::hex;
use super::settings::Dependency;

/// Package name of the generated project.
const PACKAGE: &str = "survey-exec";

/// The generated project directory.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub dir: PathBuf,
}

impl Project {
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join("Cargo.toml")
    }

    /// Path of a page program relative to the project, as rustc reports it.
    pub fn relative_source(bin: &str) -> String {
        format!("src/bin/{bin}.rs")
    }

    /// Writes `Cargo.toml`, the lock file and the toolchain file. Path dependencies become
    /// absolute, resolved against `site_root`.
    pub fn write_manifest(
        &self,
        site_root: &Path,
        dependencies: &BTreeMap<String, Dependency>,
        lockfile: &Path,
    ) -> Result<(), ExecError> {
        fs::create_dir_all(self.dir.join("src/bin")).at(&self.dir)?;
        write_if_changed(&self.manifest_path(), &manifest(site_root, dependencies)?)?;

        // Cargo adds the project's own package and drops unused entries when it builds.
        // The site's lock file is copied again only when it changed, so Cargo does not
        // resolve the project anew (and query the registry) on every build.
        let lock_copy = self.dir.join("Cargo.lock");
        let stamp = self.dir.join("Cargo.lock.source");
        if lockfile.is_file() {
            let text = fs::read_to_string(lockfile).at(lockfile)?;
            let digest = hex(&Sha256::digest(text.as_bytes()));
            let copied = fs::read_to_string(&stamp).is_ok_and(|old| old == digest);
            if !copied || !lock_copy.is_file() {
                write_if_changed(&lock_copy, &text)?;
                write_if_changed(&stamp, &digest)?;
            }
        }

        // rustup picks the toolchain from the working directory, so a project kept outside
        // the site needs the site's toolchain file to compile with the same rustc.
        for name in ["rust-toolchain.toml", "rust-toolchain"] {
            let source = site_root.join(name);
            let copy = self.dir.join(name);
            if source.is_file() && !self.dir.starts_with(site_root) {
                write_if_changed(&copy, &fs::read_to_string(&source).at(&source)?)?;
            }
        }
        Ok(())
    }

    /// Writes a page program; returns whether the file changed.
    pub fn write_program(&self, bin: &str, source: &str) -> Result<bool, ExecError> {
        write_if_changed(&self.dir.join(Self::relative_source(bin)), source)
    }

    /// Absolute path of a page program.
    pub fn program_path(&self, bin: &str) -> PathBuf {
        self.dir.join(Self::relative_source(bin))
    }

    /// Directory where a page's run keeps its figure files.
    pub fn run_dir(&self, bin: &str) -> PathBuf {
        self.dir.join("run").join(bin)
    }
}

/// Returns the binary name of a page: readable, and unique per page and project so
/// that projects sharing a target directory never overwrite each other's binaries.
pub(crate) fn bin_name(project_dir: &Path, page: &Path) -> String {
    let stem = page.with_extension("").to_string_lossy().into_owned();
    let mut readable: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    readable.truncate(40);
    let digest =
        Sha256::digest(format!("{}\n{}", project_dir.display(), page.display()).as_bytes());
    format!("p-{}-{}", readable.trim_matches('-'), &hex(&digest)[..10])
}

fn manifest(
    site_root: &Path,
    dependencies: &BTreeMap<String, Dependency>,
) -> Result<String, ExecError> {
    let mut table = toml::Table::new();
    for (name, dependency) in dependencies {
        let value = match dependency {
            Dependency::Version(version) => toml::Value::String(version.clone()),
            Dependency::Detailed(detail) => {
                let mut detail = detail.clone();
                if let Some(path) = &detail.path {
                    let absolute = site_root.join(path);
                    if !absolute.join("Cargo.toml").is_file() {
                        return Err(ExecError::MissingPathDependency {
                            name: name.clone(),
                            path: path.clone(),
                        });
                    }
                    detail.path = Some(absolute);
                }
                toml::Value::try_from(&detail).expect("dependency serializes to TOML")
            }
        };
        table.insert(name.clone(), value);
    }
    let mut document = toml::Table::new();
    document.insert("dependencies".into(), table.into());
    document.insert("workspace".into(), toml::Table::new().into());
    let body = toml::to_string(&document).expect("manifest serializes");
    // The empty `[workspace]` keeps Cargo from treating the project as a member of a
    // workspace that encloses it, such as the site's own repository.
    Ok(format!(
        "# Generated by survey from the `exec` section of survey.yaml; edits are overwritten.\n\
         [package]\nname = \"{PACKAGE}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n{body}"
    ))
}

/// Writes `content` unless the file already contains it; returns whether it wrote.
pub(crate) fn write_if_changed(path: &Path, content: &str) -> Result<bool, ExecError> {
    if fs::read(path).is_ok_and(|old| old == content.as_bytes()) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).at(parent)?;
    }
    fs::write(path, content).at(path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::settings::DetailedDependency;

    #[test]
    fn bin_names_are_valid_and_distinct() {
        let a = bin_name(
            Path::new("/site/.survey/exec"),
            Path::new("content/papers/03-Skyformer.md"),
        );
        let b = bin_name(
            Path::new("/other/.survey/exec"),
            Path::new("content/papers/03-Skyformer.md"),
        );
        assert!(a.starts_with("p-content-papers-03-skyformer-"), "{a}");
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn manifest_resolves_path_dependencies() {
        let site = tempfile::tempdir().unwrap();
        fs::create_dir_all(site.path().join("models")).unwrap();
        fs::write(site.path().join("models/Cargo.toml"), "").unwrap();
        let deps = BTreeMap::from([
            ("anyhow".to_string(), Dependency::Version("1".into())),
            (
                "seqmodels".to_string(),
                Dependency::Detailed(DetailedDependency {
                    path: Some("models".into()),
                    ..Default::default()
                }),
            ),
        ]);
        let text = manifest(site.path(), &deps).unwrap();
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let path = parsed["dependencies"]["seqmodels"]["path"]
            .as_str()
            .unwrap();
        assert_eq!(Path::new(path), site.path().join("models"));
        assert!(parsed.contains_key("workspace"));

        let missing = BTreeMap::from([(
            "gone".to_string(),
            Dependency::Detailed(DetailedDependency {
                path: Some("gone".into()),
                ..Default::default()
            }),
        )]);
        let error = manifest(site.path(), &missing).unwrap_err();
        assert!(
            error.to_string().contains("exec.dependencies.gone.path"),
            "{error}"
        );
    }
}
