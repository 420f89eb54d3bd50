//! The user docs are run as written: every ```sh block of each page, in order, in a fresh
//! directory, with this build of inkan first on PATH.

use std::process::Command;

use super::support::{binary, repo_root};

fn run_doc(page: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = std::path::Path::new(binary())
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/run-doc"))
        .arg(repo_root().join(page))
        .current_dir(tmp.path())
        .env("PATH", path)
        .env_remove("INKAN_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{page} failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn getting_started_runs_as_written() {
    run_doc("docs/getting-started.md");
}

#[test]
fn est_guide_runs_as_written() {
    run_doc("docs/est.md");
}

#[test]
fn revocation_guide_runs_as_written() {
    run_doc("docs/revocation.md");
}

#[test]
fn gateway_guide_runs_as_written() {
    run_doc("docs/gateway.md");
}

#[test]
fn manufacturing_guide_runs_as_written() {
    run_doc("docs/manufacturing.md");
}
