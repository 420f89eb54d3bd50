//! The same-run peer benchmark (`scripts/bench-peers`) against a real `cfssl serve` and
//! `cfssl ocspserve`: inkan's load generator speaks cfssl's sign API, cfssl stores what it
//! signs, both responders answer OCSP for what they issued, and the table comes out.

use std::process::Command;

use super::support::{binary, repo_root, Env};

#[test]
fn bench_peers_runs_inkan_and_a_real_cfssl_side_by_side() {
    let cfssl = Command::new("cfssl").arg("version").output();
    assert!(
        cfssl.is_ok_and(|o| o.status.success()),
        "cfssl is missing: scripts/test installs golang-cfssl"
    );
    let out = Command::new(repo_root().join("scripts/bench-peers"))
        .args([
            "--count",
            "120",
            "--concurrency",
            "4",
            "--ocsp-count",
            "600",
        ])
        .env("INKAN_BIN", binary())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in\n{stdout}"))
            .to_string()
    };
    // Four connections do not make cfssl's database refuse anyone: every request succeeds.
    assert!(row("inkan serve").ends_with("failed 0"), "{stdout}");
    assert!(row("cfssl serve").ends_with("failed 0"), "{stdout}");
    // Each responder answers every OCSP request about the 120 certificates it issued.
    assert!(row("inkan serve, OCSP").ends_with("failed 0"), "{stdout}");
    assert!(row("cfssl ocspserve").ends_with("failed 0"), "{stdout}");
    assert!(stdout.contains("issuance, inkan / cfssl: "), "{stdout}");
    assert!(stdout.contains("OCSP, inkan / cfssl: "), "{stdout}");
}

#[test]
fn bench_cfssl_refuses_an_https_url() {
    let env = Env::new();
    let out = env
        .command(&[
            "bench",
            "cfssl",
            "--url",
            "https://127.0.0.1:9",
            "--count",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("plain HTTP"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
