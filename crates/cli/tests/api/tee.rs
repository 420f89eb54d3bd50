//! TEE-style provisioning end to end: an operator defines a TA profile and a model, the factory
//! registers a unit, and `inkan agent keyd` on the unit gets its certificate with no human in
//! the loop; forged, replayed, retired and misdirected requests are refused with nothing issued.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use inkan_attest::{csr_mac, derive_csr_key, CsrMacInput};
use inkan_pki::{build_csr_with_serial, GeneratedKey, KeyAlgorithm};
use serde_json::{json, Value};

use super::support::{Env, Server};

/// A CA, a model `meter-v1`, a TA profile `meter` (serial + MAC) and one registered unit;
/// returns the unit's device-key file.
pub(super) fn provisioned(env: &Env, uid: &str) -> PathBuf {
    env.ok(&["tee", "model", "create", "meter-v1"]);
    env.ok(&[
        "tee",
        "profile",
        "create",
        "meter",
        "--identity",
        "serial,mac",
    ]);
    register(env, uid)
}

fn register(env: &Env, uid: &str) -> PathBuf {
    let key = env.ok(&["tee", "device", "add", uid, "--model", "meter-v1"]);
    assert_eq!(key.trim().len(), 64, "{key}");
    let path = env.tmp.path().join(format!("{uid}.key"));
    std::fs::write(&path, key).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The trusted app's arguments for unit `uid` of the `meter` profile.
pub(super) fn keyd_args(
    env: &Env,
    server: &Server,
    uid: &str,
    key: &Path,
    out: &Path,
) -> Vec<String> {
    [
        "--authority",
        &server.url(),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
        "--uid",
        uid,
        "--device-key-file",
        key.to_str().unwrap(),
        "--profile",
        "meter",
        "--identity",
        "serial=SN-0001",
        "--identity",
        "mac=00:11:22:AA:BB:CC",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

fn keyd(env: &Env, server: &Server, uid: &str, key: &Path, out: &Path) -> std::process::Output {
    let mut args = vec![
        "agent".to_string(),
        "keyd".into(),
        "enroll".into(),
        "--json".into(),
    ];
    args.extend(keyd_args(env, server, uid, key, out));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.command(&args).output().unwrap()
}

/// POSTs JSON with curl; returns (status, body).
pub(super) fn post(env: &Env, server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(env.root_pem())
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(body.to_string())
        .arg(format!("{}{path}", server.url()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn challenge(env: &Env, server: &Server, uid: &str) -> Vec<u8> {
    let (status, query) = post(
        env,
        server,
        "/v1/tee/tam",
        &json!({"type": "hello", "uid": uid}),
    );
    assert_eq!(status, 200, "{query}");
    assert_eq!(query["type"], "query-request");
    B64.decode(query["challenge"].as_str().unwrap()).unwrap()
}

fn csr(uid: &str) -> Vec<u8> {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    build_csr_with_serial(
        &key,
        uid,
        Some("SN-9"),
        &["urn:dev:mac:001122334455".into()],
    )
    .unwrap()
}

fn enrollment(uid: &str, version: i64, challenge: &[u8], csr: &[u8], csr_key: &[u8; 32]) -> Value {
    let mac = csr_mac(
        csr_key,
        &CsrMacInput {
            uid,
            profile: "meter",
            version,
            challenge,
            csr_der: csr,
        },
    );
    json!({
        "uid": uid,
        "profile": "meter",
        "version": version,
        "challenge": B64.encode(challenge),
        "csr": B64.encode(csr),
        "mac": B64.encode(mac),
    })
}

#[test]
fn a_unit_enrolls_with_no_human_in_the_loop() {
    let (env, _) = Env::with_ca();
    let key = provisioned(&env, "unit-1");
    let server = env.serve();
    let out_dir = env.tmp.path().join("unit-1-state");
    let out = keyd(&env, &server, "unit-1", &key, &out_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["level"], 2, "a software TA proves level 2");
    assert_eq!(done["version"], 1);

    let key_mode = std::fs::metadata(out_dir.join("device.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    // openssl agrees: the chain verifies, and the names are the UID and what the TA read.
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(out_dir.join("device.pem"))
        .arg(out_dir.join("device.pem"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let text = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
        ])
        .arg(out_dir.join("device.pem"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("CN=unit-1") || text.contains("CN = unit-1"),
        "{text}"
    );
    assert!(text.contains("SN-0001"), "{text}");
    assert!(text.contains("URI:urn:inkan:tee:unit-1"), "{text}");
    assert!(text.contains("URI:urn:dev:mac:001122aabbcc"), "{text}");

    // The evidence is recorded and shown to an administrator.
    let token = env.ok(&["admin", "token", "create"]).trim().to_string();
    let shown = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(env.root_pem())
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!(
            "{}/v1/certificates/{}/attestation",
            server.url(),
            done["serial"].as_str().unwrap()
        ))
        .output()
        .unwrap();
    let evidence: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(evidence["method"], "tee", "{evidence}");
    assert_eq!(evidence["uid"], "unit-1");
    assert_eq!(evidence["ta_version"], 1);
    assert_eq!(evidence["identity"]["mac"], "001122aabbcc");

    // Run again (renewal): the installed TA is current, so the TAM sends no Update, and a new
    // key gets a new certificate.
    let again = keyd(&env, &server, "unit-1", &key, &out_dir);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let renewed: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_ne!(renewed["serial"], done["serial"]);

    // The console shows the evidence spelled out, and rotates and revokes the profile.
    let jar = env.tmp.path().join("console-cookies");
    let console = |path: &str, form: Option<&str>| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-w", "\n%{http_code}", "--cacert"])
            .arg(env.root_pem())
            .arg("-b")
            .arg(&jar)
            .arg("-c")
            .arg(&jar);
        if let Some(form) = form {
            cmd.args(["--data-raw", form]);
        }
        let out = cmd
            .arg(format!("{}/console{path}", server.url()))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_string(), body.to_string())
    };
    let (code, _) = console("/login", Some(&format!("token={token}")));
    assert_eq!(code, "303");
    let (code, page) = console(
        &format!("/certificates/{}", done["serial"].as_str().unwrap()),
        None,
    );
    assert_eq!(code, "200", "{page}");
    for shown in [
        "TEE attestation",
        "unit-1",
        "meter v1",
        "Identity: mac",
        "001122aabbcc",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    let (code, page) = console("/tee", None);
    assert_eq!(code, "200", "{page}");
    assert!(
        page.contains("<code>meter</code>") && page.contains("current"),
        "{page}"
    );
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..at + 64].to_string();
    let (code, body) = console(
        "/tee/meter/rotate",
        Some(&format!("csrf={csrf}&grace_days=400")),
    );
    assert_eq!(code, "400", "a grace over a year: {body}");
    let (code, _) = console(
        "/tee/meter/rotate",
        Some(&format!("csrf={csrf}&grace_days=3")),
    );
    assert_eq!(code, "303");
    let listed = env.ok(&["tee", "profile", "list", "--json"]);
    let versions: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 2, "{listed}");
    let (code, _) = console("/tee/meter/revoke", Some("csrf=forged"));
    assert_eq!(code, "403");
    let (code, _) = console("/tee/meter/revoke", Some(&format!("csrf={csrf}")));
    assert_eq!(code, "303");
    let (_, page) = console("/tee", None);
    assert!(page.contains("revoked"), "{page}");
    let (code, _) = console("/tee/meter/revoke", Some(&format!("csrf={csrf}")));
    assert_eq!(code, "409", "revoked already");
    let (code, csv) = console("/tee?format=csv", None);
    assert_eq!(code, "200");
    assert!(csv.starts_with("name,version,identity_fields"), "{csv}");
    let refused = keyd(&env, &server, "unit-1", &key, &out_dir);
    assert!(
        !refused.status.success(),
        "a revoked profile enrolls nothing"
    );
    let verified: Value = serde_json::from_str(&env.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
}

#[test]
fn forgeries_and_replays_are_refused_with_nothing_issued() {
    let (env, _) = Env::with_ca();
    let key1 = provisioned(&env, "unit-1");
    let key2 = register(&env, "unit-2");
    let server = env.serve();
    let before = env.certificate_count();

    // The device's genuine CSR key is derived from SK_CSR, which only the authority and the
    // unit's sealed bundle hold; a forger guesses.
    let forged_key = derive_csr_key(b"guessed", "unit-1");
    let c = challenge(&env, &server, "unit-1");
    let (status, problem) = post(
        &env,
        &server,
        "/v1/tee/enrollments",
        &enrollment("unit-1", 1, &c, &csr("unit-1"), &forged_key),
    );
    assert_eq!(
        (status, problem["type"].as_str()),
        (403, Some("urn:inkan:problem:tee-mac")),
        "{problem}"
    );

    // Unknown device, unknown profile version, a challenge of another device.
    let (status, _) = post(
        &env,
        &server,
        "/v1/tee/tam",
        &json!({"type": "hello", "uid": "unit-9"}),
    );
    assert_eq!(status, 404);
    let (status, problem) = post(
        &env,
        &server,
        "/v1/tee/enrollments",
        &enrollment(
            "unit-1",
            7,
            &challenge(&env, &server, "unit-1"),
            &csr("unit-1"),
            &forged_key,
        ),
    );
    assert_eq!(status, 404, "{problem}");
    let other = challenge(&env, &server, "unit-2");
    let (status, problem) = post(
        &env,
        &server,
        "/v1/tee/enrollments",
        &enrollment("unit-1", 1, &other, &csr("unit-1"), &forged_key),
    );
    assert_eq!(status, 403, "{problem}");

    // A bundle for another UID does not open: unit-2 cannot run with unit-1's key.
    let out = keyd(&env, &server, "unit-2", &key1, &env.tmp.path().join("u2"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not open with this device's key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A tampered installed bundle is refused too (the TAM sees it current and sends none).
    let state = env.tmp.path().join("u1");
    assert!(keyd(&env, &server, "unit-1", &key1, &state)
        .status
        .success());
    let issued_by_keyd = env.certificate_count();
    let path = state.join("ta-bundle.json");
    let mut wire: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut ciphertext = B64.decode(wire["ciphertext"].as_str().unwrap()).unwrap();
    ciphertext[3] ^= 1;
    wire["ciphertext"] = json!(B64.encode(ciphertext));
    std::fs::write(&path, wire.to_string()).unwrap();
    let out = keyd(&env, &server, "unit-1", &key1, &state);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not open"));

    // A device key file others can read is refused before anything is sent.
    std::fs::set_permissions(&key2, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = keyd(&env, &server, "unit-2", &key2, &env.tmp.path().join("u2b"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));

    assert_eq!(env.certificate_count(), issued_by_keyd);
    assert_eq!(issued_by_keyd, before + 1);
    drop(server);
}

#[test]
fn a_replayed_enrollment_and_a_retired_version_are_refused() {
    let (env, _) = Env::with_ca();
    let key = provisioned(&env, "unit-1");
    let server = env.serve();
    // The unit runs keyd once: its sealed bundle is on disk, its enrollment on the wire.
    let state = env.tmp.path().join("unit-1-state");
    assert!(keyd(&env, &server, "unit-1", &key, &state).status.success());
    let count = env.certificate_count();

    // A captured enrollment replayed: the challenge is spent. The replayer reuses the exact
    // body, so it needs no key at all; the authority answers 409 and issues nothing.
    let device_key: [u8; 32] = hex::decode(std::fs::read_to_string(&key).unwrap().trim())
        .unwrap()
        .try_into()
        .unwrap();
    let wire: Value =
        serde_json::from_slice(&std::fs::read(state.join("ta-bundle.json")).unwrap()).unwrap();
    let bundle = inkan_attest::open_bundle(
        &device_key,
        &inkan_attest::SealedBundle {
            uid: "unit-1".into(),
            profile: "meter".into(),
            version: 1,
            nonce: B64.decode(wire["nonce"].as_str().unwrap()).unwrap(),
            ciphertext: B64.decode(wire["ciphertext"].as_str().unwrap()).unwrap(),
        },
    )
    .unwrap();
    let csr_key = bundle.csr_key().unwrap();
    let c = challenge(&env, &server, "unit-1");
    let body = enrollment("unit-1", 1, &c, &csr("unit-1"), &csr_key);
    let (status, problem) = post(&env, &server, "/v1/tee/enrollments", &body);
    assert_eq!(status, 201, "{problem}");
    let (status, problem) = post(&env, &server, "/v1/tee/enrollments", &body);
    assert_eq!(
        (status, problem["type"].as_str()),
        (409, Some("urn:inkan:problem:tee-challenge-used")),
        "{problem}"
    );
    assert_eq!(env.certificate_count(), count + 1);

    // Rotation with no grace: version 1 is refused at once, and keyd moves to version 2.
    let token = env.ok(&["admin", "token", "create"]).trim().to_string();
    let rotated = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(env.root_pem())
        .args([
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
        ])
        .args(["--data-binary", r#"{"grace":"0s"}"#])
        .arg(format!("{}/v1/tee/profiles/meter/rotate", server.url()))
        .output()
        .unwrap();
    let rotated: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    assert_eq!(rotated["version"], 2, "{rotated}");
    let c = challenge(&env, &server, "unit-1");
    let (status, problem) = post(
        &env,
        &server,
        "/v1/tee/enrollments",
        &enrollment("unit-1", 1, &c, &csr("unit-1"), &csr_key),
    );
    assert_eq!(
        (status, problem["type"].as_str()),
        (403, Some("urn:inkan:problem:tee-profile-retired")),
        "{problem}"
    );
    let out = keyd(&env, &server, "unit-1", &key, &state);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["version"], 2);

    // A revoked profile enrolls nothing more.
    env.ok(&["tee", "profile", "revoke", "meter"]);
    let out = keyd(&env, &server, "unit-1", &key, &state);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));
    let listed = env.ok(&["tee", "profile", "list"]);
    assert!(listed.contains("revoked"), "{listed}");
}

#[test]
fn an_unauthenticated_query_cannot_grow_the_database_without_bound() {
    let (env, _) = Env::with_ca();
    provisioned(&env, "unit-1");
    let server = env.serve();
    // Eight outstanding challenges per device; the ninth is 429 with a Retry-After, and
    // nothing is stored for it.
    for _ in 0..8 {
        challenge(&env, &server, "unit-1");
    }
    let events = |env: &Env| -> i64 {
        let verified: Value =
            serde_json::from_str(&env.ok(&["audit", "verify", "--json"])).unwrap();
        assert_eq!(verified["ok"], true);
        verified["events_verified"].as_i64().unwrap()
    };
    let before = events(&env);
    let (status, problem) = post(
        &env,
        &server,
        "/v1/tee/tam",
        &json!({"type": "hello", "uid": "unit-1"}),
    );
    assert_eq!(
        (status, problem["type"].as_str()),
        (429, Some("urn:inkan:problem:tee-too-many-challenges")),
        "{problem}"
    );
    assert_eq!(
        events(&env),
        before,
        "the refused QueryRequest wrote nothing"
    );
    // Another unit is not affected.
    register(&env, "unit-2");
    challenge(&env, &server, "unit-2");
}
