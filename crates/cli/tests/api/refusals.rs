//! A refused request changes nothing: for every write endpoint (and `inkan product create`),
//! invalid input is answered with a 4xx and the database keeps every row count and its audit
//! head, read straight from the SQLite file.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use inkan_pki::{build_csr, GeneratedKey, KeyAlgorithm};
use serde_json::{json, Value};

use super::support::{Env, Server};

mod writes;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Row counts of every table and the audit head (seq, hash), from the database file.
fn snapshot(env: &Env) -> Value {
    let script = format!(
        "import json, sqlite3\n\
         c = sqlite3.connect({db:?})\n\
         names = [r[0] for r in c.execute(\"SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '_sqlx_migrations' ORDER BY name\")]\n\
         out = {{n: c.execute('SELECT count(*) FROM \"%s\"' % n).fetchone()[0] for n in names}}\n\
         out['audit_head'] = list(c.execute('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').fetchone())\n\
         print(json.dumps(out))",
        db = env.data.join("inkan.db").display().to_string(),
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    for table in [
        "products",
        "devices",
        "certificates",
        "audit_events",
        "psk_nonces",
    ] {
        assert!(snap[table].is_u64(), "no table {table} in {snap}");
    }
    snap
}

/// What came back: status, content type, body as JSON (or the text as a JSON string).
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

/// Runs curl against the server with `args` then the URL of `path`; `body` goes in as a file
/// so its bytes are exact.
fn curl(env: &Env, server: &Server, args: &[&str], path: &str, body: Option<&[u8]>) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-w", "\n%{http_code} %{content_type}", "--cacert"])
        .arg(env.root_pem())
        .args(args);
    if let Some(body) = body {
        let file = env.tmp.path().join("body");
        std::fs::write(&file, body).unwrap();
        cmd.args(["-X", "POST", "--data-binary"])
            .arg(format!("@{}", file.display()));
    }
    let out = cmd.arg(format!("{}{path}", server.url())).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, trailer) = text.rsplit_once('\n').unwrap();
    let (status, content_type) = trailer.split_once(' ').unwrap_or((trailer, ""));
    Answer {
        status: status.parse().unwrap(),
        content_type: content_type.to_string(),
        body: serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())),
    }
}

/// Sends one request that must be refused with `status` (and a detail containing `says`), and
/// checks the database is exactly as before.
fn refused(env: &Env, what: &str, status: u16, says: &str, send: impl FnOnce() -> Answer) {
    let before = snapshot(env);
    let answer = send();
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    let text = match &answer.body {
        Value::String(s) => s.clone(),
        other => other["detail"].as_str().unwrap_or_default().to_string(),
    };
    assert!(text.contains(says), "{what}: expected {says:?} in {text:?}");
    let after = snapshot(env);
    assert_eq!(before, after, "{what} changed the database");
}

/// A `/v1` refusal is problem+json with the same status inside.
fn problem(answer: Answer) -> Answer {
    assert_eq!(
        answer.content_type, "application/problem+json",
        "{}",
        answer.body
    );
    assert_eq!(answer.body["status"], answer.status, "{}", answer.body);
    answer
}

struct Product {
    cert: PathBuf,
    key: PathBuf,
    serial: String,
}

fn create_product(env: &Env, name: &str) -> Product {
    let dir = env.tmp.path().join(name);
    let out: Value = serde_json::from_str(&env.ok(&[
        "product",
        "create",
        name,
        "--psk",
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    Product {
        cert: out["cert_path"].as_str().unwrap().into(),
        key: out["key_path"].as_str().unwrap().into(),
        serial: out["product"]["cert_serial"].as_str().unwrap().into(),
    }
}

fn csr_b64() -> String {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    B64.encode(build_csr(&key, "unit", &[]).unwrap())
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn refused_commands_change_nothing() {
    let (env, _) = Env::with_ca();
    let thermo = create_product(&env, "thermo");
    let out_dir = env.tmp.path().join("lamp");
    for (what, passphrase, says) in [
        ("short", "short\n", "at least 8"),
        ("outside the BMP", "long enough \u{1F511}\n", "BMPString"),
    ] {
        let file = env.tmp.path().join("p12-passphrase");
        std::fs::write(&file, passphrase).unwrap();
        let before = snapshot(&env);
        let out = env.run(&[
            "product",
            "create",
            "lamp",
            "--psk",
            "--out",
            path_str(&out_dir),
            "--p12-passphrase-file",
            path_str(&file),
        ]);
        assert!(!out.status.success(), "{what} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{what}: {stderr}");
        assert_eq!(before, snapshot(&env), "{what} changed the database");
        assert!(
            !out_dir.exists(),
            "{what} left {} behind",
            out_dir.display()
        );
    }
    for (args, says) in [
        (vec!["cert", "revoke", "0123456789abcdef"], "no certificate"),
        (
            vec!["cert", "revoke", &thermo.serial, "--reason", "boredom"],
            "reason",
        ),
        (vec!["device", "disable", "0011223344556677"], "no device"),
        (vec!["device", "enable", "0011223344556677"], "no device"),
        (vec!["product", "disable", "no-such-product"], "no product"),
        (
            vec!["product", "psk", "enable", "no-such-product"],
            "no product",
        ),
        (
            vec!["est", "secret", "create", "no-such-label"],
            "unknown EST label",
        ),
    ] {
        let before = snapshot(&env);
        let out = env.run(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(before, snapshot(&env), "{args:?} changed the database");
    }
    // The name is free: the same command with a good passphrase succeeds.
    let file = env.tmp.path().join("p12-passphrase");
    std::fs::write(&file, "long enough \u{e9}\u{20ac}\n").unwrap();
    env.ok(&[
        "product",
        "create",
        "lamp",
        "--out",
        path_str(&out_dir),
        "--p12-passphrase-file",
        path_str(&file),
    ]);
    assert!(out_dir.join("product.p12").exists());
    env.ok(&["audit", "verify"]);
}
