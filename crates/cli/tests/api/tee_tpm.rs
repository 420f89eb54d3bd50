//! TEE-style provisioning on a unit with a TPM (swtpm): the factory registers the unit by its EK,
//! `inkan agent keyd --tpm` gets a level-3 certificate for a key created in the TPM, the key
//! service signs with it for the application that owns it, and the forgeries a TPM binding
//! exists to stop are refused with nothing issued: a software key passed off as the TPM key, an
//! enrollment without the secret only this TPM releases, and another TPM opening the Update.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use inkan_agent::keyd::TpmUnit;
use inkan_attest::{activation_proof, csr_mac, open_bundle, CsrMacInput, SealedBundle};
use inkan_pki::{build_csr_with_serial, GeneratedKey, KeyAlgorithm};
use inkan_test_support::swtpm::Swtpm;
use serde_json::{json, Value};

use inkan_test_support::upstream::{header, Upstream};

use super::support::{Env, Server};
use super::tee::post;
use super::tee_apps::{ask, Keyd};
use super::tpm_agent::Proxy;

const UID: &str = "unit-t";
const PROFILE: &str = "meter-tpm";

/// A model, a TA profile issuing under `tee-tpm`, and unit `UID` registered by `swtpm`'s EK
/// (read by `inkan agent keyd ek`, as a factory would).
fn provisioned(env: &Env, swtpm: &Swtpm) {
    let ek = env.tmp.path().join("ek.pub");
    env.ok(&[
        "agent",
        "keyd",
        "ek",
        "--tpm",
        &swtpm.tcti(),
        "--out",
        ek.to_str().unwrap(),
    ]);
    env.ok(&["tee", "model", "create", "meter-v2"]);
    env.ok(&[
        "tee",
        "profile",
        "create",
        PROFILE,
        "--identity",
        "serial",
        "--certificate-profile",
        "tee-tpm",
    ]);
    let said = env.ok(&[
        "tee",
        "device",
        "add",
        UID,
        "--model",
        "meter-v2",
        "--tpm-ek",
        ek.to_str().unwrap(),
    ]);
    assert!(said.contains("sealed to that TPM"), "{said}");
}

fn ta_args(env: &Env, server: &Server, swtpm: &Swtpm, out: &Path) -> Vec<String> {
    [
        "--authority",
        &server.url(),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
        "--uid",
        UID,
        "--tpm",
        &swtpm.tcti(),
        "--profile",
        PROFILE,
        "--identity",
        "serial=SN-T1",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

fn admin_get(env: &Env, server: &Server, path: &str) -> Value {
    let token = env.ok(&["admin", "token", "create"]).trim().to_string();
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(env.root_pem())
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{}{path}", server.url()))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn issued_count(env: &Env) -> usize {
    env.certificate_count()
}

#[test]
fn a_tpm_unit_gets_level_3_for_a_key_that_never_leaves_its_tpm() {
    let (env, _) = Env::with_ca();
    let swtpm = Swtpm::start();
    provisioned(&env, &swtpm);
    let server = env.serve();
    let out_dir = env.tmp.path().join("unit-state");
    let mut args = vec!["agent", "keyd", "enroll", "--json"];
    let ta = ta_args(&env, &server, &swtpm, &out_dir);
    args.extend(ta.iter().map(String::as_str));
    let out = env.command(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["level"], 3, "a TPM-held key proves level 3: {done}");
    assert_eq!(done["key_storage"], "tpm");
    // The key is the TPM's wrapped blob, 0600; there is no software key file.
    let mode = std::fs::metadata(out_dir.join("device.tpm.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!out_dir.join("device.key").exists());
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

    let evidence = admin_get(
        &env,
        &server,
        &format!(
            "/v1/certificates/{}/attestation",
            done["serial"].as_str().unwrap()
        ),
    );
    assert_eq!(evidence["method"], "tee", "{evidence}");
    assert_eq!(evidence["key_storage"], "tpm", "{evidence}");
    let checks = evidence["checks"].to_string();
    assert!(checks.contains("credential-activated"), "{checks}");
    assert!(checks.contains("csr-key-is-tpm-key"), "{checks}");

    // The key service signs with a TPM key for the application that owns it; openssl checks
    // the signature with the certificate's public key.
    let keyd = keyd_tpm(&env, &server, &swtpm);
    let enrolled = ask(
        "/usr/bin/python3",
        &keyd.socket,
        &json!({"op": "enroll", "key": "meter-app"}),
        false,
    );
    assert_eq!(enrolled["level"], 3, "{enrolled}");
    assert_eq!(enrolled["key_storage"], "tpm", "{enrolled}");
    let signed = ask(
        "/usr/bin/python3",
        &keyd.socket,
        &json!({"op": "sign", "key": "meter-app", "data": B64.encode(b"reading 42")}),
        false,
    );
    let signature = B64.decode(signed["signature"].as_str().unwrap()).unwrap();
    let dir = env.tmp.path();
    std::fs::write(
        dir.join("app.pem"),
        enrolled["certificate"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("signed.bin"), b"reading 42").unwrap();
    std::fs::write(dir.join("sig"), &signature).unwrap();
    let pubkey = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(dir.join("app.pem"))
        .output()
        .unwrap();
    std::fs::write(dir.join("app.pub"), &pubkey.stdout).unwrap();
    let checked = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("app.pub"))
        .arg("-signature")
        .arg(dir.join("sig"))
        .arg(dir.join("signed.bin"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("Verified OK"),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let verified: Value = serde_json::from_str(&env.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
}

/// `inkan agent keyd serve --tpm` for unit `UID`, stopped when dropped.
fn keyd_tpm(env: &Env, server: &Server, swtpm: &Swtpm) -> Keyd {
    let state = env.tmp.path().join("keyd");
    Keyd::start_with(env, &ta_args(env, server, swtpm, &state))
}

/// The TAM's QueryRequest challenge for `UID`.
fn challenge(env: &Env, server: &Server) -> Vec<u8> {
    let (status, query) = post(
        env,
        server,
        "/v1/tee/tam",
        &json!({"type": "hello", "uid": UID}),
    );
    assert_eq!(status, 200, "{query}");
    B64.decode(query["challenge"].as_str().unwrap()).unwrap()
}

fn assert_problem(result: &(u16, Value), status: u16, slug: &str) {
    assert_eq!(result.0, status, "{}", result.1);
    assert_eq!(
        result.1["type"],
        format!("urn:inkan:problem:{slug}"),
        "{}",
        result.1
    );
}

/// An enrollment of `csr` MAC'd with the TA's CSR key, with an activation proof under
/// `proof_secret` when given.
fn enrollment(
    csr_key: &[u8; 32],
    nonce: &[u8],
    csr: &[u8],
    proof_secret: Option<&[u8; 32]>,
) -> Value {
    let input = CsrMacInput {
        uid: UID,
        profile: PROFILE,
        version: 1,
        challenge: nonce,
        csr_der: csr,
    };
    let mut body = json!({
        "uid": UID, "profile": PROFILE, "version": 1,
        "challenge": B64.encode(nonce), "csr": B64.encode(csr),
        "mac": B64.encode(csr_mac(csr_key, &input)),
    });
    if let Some(secret) = proof_secret {
        body["activation"] = json!(B64.encode(activation_proof(secret, &input)));
    }
    body
}

#[test]
fn a_software_key_or_a_missing_activation_is_refused_with_nothing_issued() {
    let (env, _) = Env::with_ca();
    let swtpm = Swtpm::start();
    provisioned(&env, &swtpm);
    let server = env.serve();
    let before = issued_count(&env);

    // A TPM unit must name its TPM key: the software unit's QueryResponse is refused.
    let _ = challenge(&env, &server);
    let bare = post(
        &env,
        &server,
        "/v1/tee/tam",
        &json!({"type": "query-response", "uid": UID, "requested_tc": PROFILE}),
    );
    assert_problem(&bare, 400, "tee-tpm-key");

    // The real exchange, done by hand with the unit's TPM: a key in the TPM, the Update sealed
    // to it, the secret released by TPM2_ActivateCredential.
    let tpm = TpmUnit::open(&swtpm.tcti()).unwrap();
    let (key_public, key) = tpm.create_key().unwrap();
    let nonce = challenge(&env, &server);
    // A key whose attributes say it may leave the TPM (fixedTPM cleared) is refused.
    let mut movable = key_public.clone();
    // TPMT_PUBLIC: type (2 bytes), nameAlg (2), objectAttributes (4, big-endian); fixedTPM is
    // bit 1 of the last attribute byte.
    movable[7] &= !0x02;
    let refused = post(
        &env,
        &server,
        "/v1/tee/tam",
        &json!({"type": "query-response", "uid": UID, "requested_tc": PROFILE,
                "challenge": B64.encode(&nonce), "tpm_key": B64.encode(&movable)}),
    );
    assert_problem(&refused, 400, "tee-tpm-key");
    let (status, update) = post(
        &env,
        &server,
        "/v1/tee/tam",
        &json!({"type": "query-response", "uid": UID, "requested_tc": PROFILE,
                "challenge": B64.encode(&nonce), "tpm_key": B64.encode(&key_public)}),
    );
    assert_eq!(status, 200, "{update}");
    let blob = B64
        .decode(update["credential"]["credential_blob"].as_str().unwrap())
        .unwrap();
    let encrypted = B64
        .decode(update["credential"]["encrypted_secret"].as_str().unwrap())
        .unwrap();

    // Another TPM cannot open it: its EK is not the one the Update is sealed to.
    let other_swtpm = Swtpm::start();
    let other = TpmUnit::open(&other_swtpm.tcti()).unwrap();
    let (_, other_key) = other.create_key().unwrap();
    assert!(other.activate(&other_key, &blob, &encrypted).is_err());

    let secret: [u8; 32] = tpm
        .activate(&key, &blob, &encrypted)
        .unwrap()
        .try_into()
        .unwrap();
    let bundle = &update["bundle"];
    let sealed = SealedBundle {
        uid: UID.into(),
        profile: PROFILE.into(),
        version: 1,
        nonce: B64.decode(bundle["nonce"].as_str().unwrap()).unwrap(),
        ciphertext: B64.decode(bundle["ciphertext"].as_str().unwrap()).unwrap(),
    };
    let ta = open_bundle(&secret, &sealed).unwrap();
    let csr_key = ta.csr_key().unwrap();
    // With the TA's keys in hand, a CSR for a software key: a valid MAC and a valid activation
    // proof, but not the key the TA was sealed to.
    let software = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let software_csr = build_csr_with_serial(&software, UID, Some("SN-T1"), &[]).unwrap();
    let body = enrollment(&csr_key, &nonce, &software_csr, Some(&secret));
    let result = post(&env, &server, "/v1/tee/enrollments", &body);
    assert_problem(&result, 403, "tee-tpm-binding");

    // The TPM key's CSR without the activation proof, and with a proof under another secret.
    let (tpm_csr, _) = tpm.csr(&key, UID, Some("SN-T1"), &[]).unwrap();
    let body = enrollment(&csr_key, &nonce, &tpm_csr, None);
    let result = post(&env, &server, "/v1/tee/enrollments", &body);
    assert_problem(&result, 403, "tee-activation");
    let body = enrollment(&csr_key, &nonce, &tpm_csr, Some(&[9; 32]));
    let result = post(&env, &server, "/v1/tee/enrollments", &body);
    assert_problem(&result, 403, "tee-activation");
    assert_eq!(issued_count(&env), before, "nothing was issued");

    // The genuine enrollment issues at level 3; its replay is refused.
    let genuine = enrollment(&csr_key, &nonce, &tpm_csr, Some(&secret));
    let (status, issued) = post(&env, &server, "/v1/tee/enrollments", &genuine);
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["level"], 3);
    let replay = post(&env, &server, "/v1/tee/enrollments", &genuine);
    assert_problem(&replay, 409, "tee-challenge-used");
    assert_eq!(issued_count(&env), before + 1);
}

#[test]
fn a_tpm_profile_refuses_a_software_unit() {
    let (env, _) = Env::with_ca();
    let swtpm = Swtpm::start();
    provisioned(&env, &swtpm);
    // A unit without a TPM on the level-3 profile: its TA opens, but the policy refuses to
    // issue a level-3 certificate for a software key.
    let key = env.ok(&["tee", "device", "add", "unit-s", "--model", "meter-v2"]);
    let key_file = env.tmp.path().join("unit-s.key");
    std::fs::write(&key_file, key).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = env.serve();
    let before = issued_count(&env);
    let out = env
        .command(&[
            "agent",
            "keyd",
            "enroll",
            "--authority",
            &server.url(),
            "--ca-file",
            env.root_pem().to_str().unwrap(),
            "--uid",
            "unit-s",
            "--device-key-file",
            key_file.to_str().unwrap(),
            "--profile",
            PROFILE,
            "--identity",
            "serial=SN-S1",
            "--out",
            env.tmp.path().join("s").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("level"), "{stderr}");
    assert_eq!(issued_count(&env), before);
}

#[test]
fn the_proxy_reaches_a_level_3_route_with_a_keyd_key_it_owns() {
    let (env, _) = Env::with_ca();
    let swtpm = Swtpm::start();
    provisioned(&env, &swtpm);
    // The gateway asks the authority for a localhost server certificate.
    let config = env.tmp.path().join("inkan.toml");
    std::fs::write(&config, super::support::LOCAL_SERVER_NAMES).unwrap();
    let authority = Server::start(env.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
    ]));
    let keyd = keyd_tpm(&env, &authority, &swtpm);
    // The proxy is this inkan binary: it asks for its own key, so it owns it.
    let socket = keyd.socket.to_str().unwrap();
    let chain = env.ok(&[
        "agent", "keyd", "request", "--socket", socket, "--key", "proxy",
    ]);
    assert!(chain.contains("BEGIN CERTIFICATE"), "{chain}");

    let upstream = Upstream::start();
    let gateway = super::support::gateway(
        &env,
        &authority,
        &format!(
            "[[route]]\npath = \"/l3\"\nupstreams = [\"http://127.0.0.1:{}\"]\nmin_level = 3\n",
            upstream.port
        ),
    );
    let port = gateway.addr.rsplit(':').next().unwrap().to_string();
    let proxy = Proxy::start(&[
        "--keyd",
        socket,
        "--keyd-key",
        "proxy",
        "--upstream",
        &format!("https://localhost:{port}"),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
    ]);
    for _ in 0..2 {
        let (code, body) = proxy.get("/l3/reading");
        assert_eq!(code, 200, "{body}");
        let echo: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(header(&echo, "x-inkan-level"), ["3"]);
    }
    // Another program may not sign with the proxy's key.
    let refused = ask(
        "/usr/bin/python3",
        &keyd.socket,
        &json!({"op": "sign", "key": "proxy", "data": B64.encode(b"x")}),
        false,
    );
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .contains("belongs to another application"),
        "{refused}"
    );
}
