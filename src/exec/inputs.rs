//! The inputs a freeze key depends on besides the blocks: the dependency manifest, the
//! locked versions, the sources of path dependencies and the compiler version.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::block::ExecBlock;
use super::report::Change;
use super::codegen::CODEGEN_VERSION;
use super::error::{ExecError, IoContext};
use super::settings::Dependency;

/// Hashes of everything a page's outputs depend on, stored in its freeze entry so that a
/// stale entry can report what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct KeyInputs {
    /// Version of the generated code around the blocks.
    pub engine: u32,
    /// SHA-256 of the page's block texts (options and hidden lines included), in order.
    pub blocks: String,
    /// SHA-256 of the dependency table of the generated project, as written in survey.yaml.
    pub dependencies: String,
    /// SHA-256 of the `Cargo.lock` entries reachable from those dependencies.
    pub lockfile: String,
    /// SHA-256 of each path dependency's files.
    pub path_dependencies: BTreeMap<String, String>,
    /// Output of `rustc -vV`.
    pub rustc: String,
}

impl KeyInputs {
    /// Returns the freeze key: one SHA-256 over all inputs.
    pub fn key(&self) -> String {
        let canonical = serde_json::to_string(self).expect("key inputs serialize");
        hex(&Sha256::digest(canonical.as_bytes()))
    }

    /// Lists what differs from `old`, for messages about stale entries.
    pub fn changes_since(&self, old: &KeyInputs) -> Vec<Change> {
        let mut changes = Vec::new();
        if self.blocks != old.blocks {
            changes.push(Change::Blocks);
        }
        if self.dependencies != old.dependencies {
            changes.push(Change::Dependencies);
        }
        if self.lockfile != old.lockfile {
            changes.push(Change::Lockfile);
        }
        let names: BTreeSet<&String> = self
            .path_dependencies
            .keys()
            .chain(old.path_dependencies.keys())
            .collect();
        for name in names {
            if self.path_dependencies.get(name) != old.path_dependencies.get(name) {
                changes.push(Change::PathDependency(name.clone()));
            }
        }
        if self.rustc != old.rustc {
            changes.push(Change::Rustc(self.rustc.lines().next().unwrap_or_default().to_string()));
        }
        if self.engine != old.engine {
            changes.push(Change::Generator);
        }
        changes
    }
}

/// The inputs shared by all pages of a site.
#[derive(Debug, Clone)]
pub(crate) struct SharedInputs {
    pub dependencies: String,
    pub lockfile: String,
    pub path_dependencies: BTreeMap<String, String>,
    pub rustc: String,
}

impl SharedInputs {
    pub fn for_page(&self, blocks: &[ExecBlock]) -> KeyInputs {
        let mut hasher = Sha256::new();
        for block in blocks {
            hasher.update((block.raw.len() as u64).to_le_bytes());
            hasher.update(block.raw.as_bytes());
        }
        KeyInputs {
            engine: CODEGEN_VERSION,
            blocks: hex(&hasher.finalize()),
            dependencies: self.dependencies.clone(),
            lockfile: self.lockfile.clone(),
            path_dependencies: self.path_dependencies.clone(),
            rustc: self.rustc.clone(),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes the dependency table in a canonical form (sorted keys, paths as written).
pub(crate) fn hash_dependencies(dependencies: &BTreeMap<String, Dependency>) -> String {
    let canonical = serde_json::to_string(dependencies).expect("dependencies serialize");
    hex(&Sha256::digest(canonical.as_bytes()))
}

#[derive(Debug, Deserialize)]
struct LockFile {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

/// Hashes the `Cargo.lock` entries reachable from the dependencies, so that a change to
/// a package the blocks cannot use leaves the freeze fresh. Returns the hash and the
/// names of dependencies the lock file does not contain. A missing lock file hashes as
/// `none`, which pins nothing.
pub(crate) fn hash_lockfile(
    lockfile: &Path,
    dependencies: &BTreeMap<String, Dependency>,
) -> Result<(String, Vec<String>), ExecError> {
    let text = match fs::read_to_string(lockfile) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(("none".to_string(), dependencies.keys().cloned().collect()));
        }
        Err(e) => return Err(e).at(lockfile),
    };
    let lock: LockFile = toml::from_str(&text).map_err(|e| ExecError::Io {
        path: lockfile.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    })?;

    let mut queue = VecDeque::new();
    let mut unlocked = Vec::new();
    for (key, dependency) in dependencies {
        let name = dependency.package_name(key);
        let is_path = dependency.path().is_some();
        let matches: Vec<usize> = lock
            .package
            .iter()
            .enumerate()
            .filter(|(_, p)| p.name == name && (p.source.is_none() == is_path))
            .map(|(i, _)| i)
            .collect();
        if matches.is_empty() {
            unlocked.push(key.clone());
        }
        queue.extend(matches);
    }

    let mut reached = BTreeSet::new();
    while let Some(index) = queue.pop_front() {
        if !reached.insert(index) {
            continue;
        }
        for reference in &lock.package[index].dependencies {
            queue.extend(resolve_reference(&lock.package, reference));
        }
    }

    let mut hasher = Sha256::new();
    let mut entries: Vec<String> = reached
        .iter()
        .map(|&i| serde_json::to_string(&lock.package[i]).expect("lock entry serializes"))
        .collect();
    entries.sort();
    for entry in entries {
        hasher.update(entry.as_bytes());
        hasher.update(b"\n");
    }
    for name in &unlocked {
        hasher.update(format!("unlocked {name}\n").as_bytes());
    }
    Ok((hex(&hasher.finalize()), unlocked))
}

/// Resolves a `dependencies` item of a lock entry: `name`, `name version` or
/// `name version (source)`.
fn resolve_reference(packages: &[LockedPackage], reference: &str) -> Vec<usize> {
    let mut parts = reference.splitn(3, ' ');
    let name = parts.next().unwrap_or_default();
    let version = parts.next();
    let source = parts
        .next()
        .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
    packages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.name == name)
        .filter(|(_, p)| version.is_none_or(|v| p.version == v))
        .filter(|(_, p)| source.is_none_or(|s| p.source.as_deref() == Some(s)))
        .map(|(i, _)| i)
        .collect()
}

/// Hashes the files of a path dependency: every file under `dir` except `target/` and
/// entries whose name starts with `.`, by relative path and content.
pub(crate) fn hash_directory(dir: &Path) -> Result<String, ExecError> {
    let mut hasher = Sha256::new();
    let walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            let name = entry.file_name().to_string_lossy();
            let hidden = entry.depth() > 0 && name.starts_with('.');
            let target = entry.depth() == 1 && name == "target" && entry.file_type().is_dir();
            !hidden && !target
        });
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            ExecError::Io {
                path,
                source: e.into(),
            }
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let relative = relative.to_string_lossy().replace('\\', "/");
        let content = fs::read(entry.path()).at(entry.path())?;
        hasher.update((relative.len() as u64).to_le_bytes());
        hasher.update(relative.as_bytes());
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(hex(&hasher.finalize()))
}

/// Reads `rustc -vV`, cached in `cache_file` under a fingerprint of the toolchain that
/// needs no process: the compiler binary's path, size and modification time, and for a
/// rustup proxy the toolchain files and settings that select the toolchain.
/// Returns the version text and whether rustc was run.
pub(crate) fn rustc_version(
    rustc: &Path,
    cwd: &Path,
    cache_file: &Path,
) -> Result<(String, bool), ExecError> {
    let fingerprint = toolchain_fingerprint(rustc, cwd);

    #[derive(Serialize, Deserialize)]
    struct Cached {
        fingerprint: String,
        version: String,
    }
    if let Ok(text) = fs::read_to_string(cache_file)
        && let Ok(cached) = serde_json::from_str::<Cached>(&text)
        && cached.fingerprint == fingerprint
    {
        return Ok((cached.version, false));
    }

    let output = Command::new(rustc)
        .arg("-vV")
        .current_dir(cwd)
        .output()
        .map_err(|source| ExecError::Spawn {
            program: rustc.display().to_string(),
            source,
        })?;
    if !output.status.success() {
        return Err(ExecError::RustcVersion {
            program: rustc.display().to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();

    let cached = Cached {
        fingerprint,
        version: version.clone(),
    };
    if let Some(parent) = cache_file.parent() {
        fs::create_dir_all(parent).at(parent)?;
    }
    let mut file = fs::File::create(cache_file).at(cache_file)?;
    file.write_all(
        serde_json::to_string_pretty(&cached)
            .expect("cache serializes")
            .as_bytes(),
    )
    .at(cache_file)?;
    Ok((version, true))
}

fn toolchain_fingerprint(rustc: &Path, cwd: &Path) -> String {
    let mut parts = Vec::new();
    let resolved = find_program(rustc);
    parts.push(format!(
        "program {}",
        resolved.as_deref().unwrap_or(rustc).display()
    ));
    if let Some(path) = &resolved {
        parts.push(file_stamp(path));
    }

    // rustup proxies pick the toolchain from these; the proxy binary itself stays the same.
    for var in ["RUSTUP_TOOLCHAIN", "RUSTUP_HOME", "RUSTC", "RUSTC_WRAPPER"] {
        parts.push(format!("{var}={}", std::env::var(var).unwrap_or_default()));
    }
    for dir in cwd.ancestors() {
        for name in ["rust-toolchain", "rust-toolchain.toml"] {
            let file = dir.join(name);
            if let Ok(text) = fs::read_to_string(&file) {
                parts.push(format!("{}: {text}", file.display()));
            }
        }
    }
    if let Some(home) = rustup_home() {
        parts.push(file_stamp(&home.join("settings.toml")));
        parts.push(file_stamp(&home.join("toolchains")));
    }
    hex(&Sha256::digest(parts.join("\n").as_bytes()))
}

fn file_stamp(path: &Path) -> String {
    match fs::metadata(path) {
        Ok(meta) => {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .unwrap_or_default();
            format!("{} {} {}", path.display(), meta.len(), modified.as_nanos())
        }
        Err(_) => format!("{} missing", path.display()),
    }
}

fn rustup_home() -> Option<PathBuf> {
    std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".rustup")))
}

/// Finds `program` on `PATH` when it is a bare name, as the OS would when spawning it.
pub(crate) fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::settings::DetailedDependency;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "anyhow"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "aa"

[[package]]
name = "local"
version = "0.1.0"
dependencies = ["anyhow", "half 2.0.0"]

[[package]]
name = "half"
version = "2.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "unrelated"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;

    fn dependencies() -> BTreeMap<String, Dependency> {
        BTreeMap::from([(
            "local".to_string(),
            Dependency::Detailed(DetailedDependency {
                path: Some("local".into()),
                ..Default::default()
            }),
        )])
    }

    #[test]
    fn lock_hash_ignores_unreachable_packages() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("Cargo.lock");
        fs::write(&lock, LOCK).unwrap();
        let (base, unlocked) = hash_lockfile(&lock, &dependencies()).unwrap();
        assert!(unlocked.is_empty());

        fs::write(
            &lock,
            LOCK.replace(
                "name = \"unrelated\"\nversion = \"1.0.0\"",
                "name = \"unrelated\"\nversion = \"1.1.0\"",
            ),
        )
        .unwrap();
        assert_eq!(hash_lockfile(&lock, &dependencies()).unwrap().0, base);

        fs::write(
            &lock,
            LOCK.replace("checksum = \"aa\"", "checksum = \"bb\""),
        )
        .unwrap();
        assert_ne!(hash_lockfile(&lock, &dependencies()).unwrap().0, base);
    }

    #[test]
    fn lock_reports_unlocked_dependencies() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("Cargo.lock");
        fs::write(&lock, LOCK).unwrap();
        let mut deps = dependencies();
        deps.insert("rand".to_string(), Dependency::Version("0.9".to_string()));
        let (_, unlocked) = hash_lockfile(&lock, &deps).unwrap();
        assert_eq!(unlocked, vec!["rand".to_string()]);
    }

    #[test]
    fn directory_hash_skips_target_and_hidden() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/lib.rs"), "pub fn f() {}").unwrap();
        let base = hash_directory(dir.path()).unwrap();

        fs::create_dir_all(dir.path().join("target")).unwrap();
        fs::write(dir.path().join("target/junk"), "x").unwrap();
        fs::write(dir.path().join(".hidden"), "x").unwrap();
        assert_eq!(hash_directory(dir.path()).unwrap(), base);

        fs::write(dir.path().join("src/lib.rs"), "pub fn f() { }").unwrap();
        assert_ne!(hash_directory(dir.path()).unwrap(), base);
    }
}
