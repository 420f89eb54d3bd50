//! The user docs are run as written: every ```sh block of each page, in order, in a fresh
//! directory, with this build of inkan first on PATH; and every ```toml example loads with the
//! real configuration types.

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
fn tee_guide_runs_as_written() {
    run_doc("docs/tee.md");
}

#[test]
fn cards_guide_runs_as_written() {
    run_doc("docs/cards.md");
}

#[test]
fn console_guide_runs_as_written() {
    run_doc("docs/console.md");
}

#[test]
fn gateway_guide_runs_as_written() {
    run_doc("docs/gateway.md");
}

#[test]
fn deployment_guide_runs_as_written() {
    // The page talks to the local PostgreSQL server the other PostgreSQL tests use.
    if super::support::postgres_server().is_none() {
        return;
    }
    run_doc("docs/deployment.md");
}

#[test]
fn manufacturing_guide_runs_as_written() {
    run_doc("docs/manufacturing.md");
}

#[cfg(feature = "tpm")]
#[test]
fn tpm_guide_runs_as_written() {
    run_doc("docs/tpm.md");
}

#[cfg(feature = "tpm")]
#[test]
fn linking_guide_runs_as_written() {
    run_doc("docs/linking.md");
}

/// The ```toml blocks of a Markdown page, each with its line number.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in text.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_end() == "```toml" => current = Some((number + 1, String::new())),
            None => {}
            Some(_) if line.starts_with("```") => blocks.extend(current.take()),
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

/// Every TOML example of the docs loads and passes validation: the gateway's configuration on
/// the gateway page, the authority's (`inkan.toml`) everywhere else.
#[test]
fn every_toml_example_loads_with_the_real_configuration_types() {
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let page = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        for (line, block) in toml_blocks(&text) {
            let file = tmp.path().join(format!("{page}-{line}.toml"));
            std::fs::write(&file, &block).unwrap();
            let loaded = if page == "gateway.md" {
                inkan_gateway::GatewayConfig::load(&file)
                    .map(drop)
                    .map_err(|e| e.to_string())
            } else {
                inkan_authority::Config::load(&file, false)
                    .map(drop)
                    .map_err(|e| e.to_string())
            };
            if let Err(e) = loaded {
                panic!("docs/{page}:{line}: the TOML example does not load: {e}\n{block}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} TOML examples found");
}
