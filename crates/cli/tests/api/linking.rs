//! Linked devices end to end: a phone whose key is in its TPM (swtpm) anchors an account, links
//! a laptop by a link code it confirms, and approves the laptop's login, which gives the laptop
//! a short-lived certificate for its own key; the forgeries the approval exists to stop are
//! refused with nothing issued.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use inkan_agent::linking::{self, AnchorSigner, Session};
use inkan_agent::tpm::{Tpm, TpmKeyInfo, TpmSigningKey};
use inkan_agent::AgentError;
use inkan_test_support::swtpm::Swtpm;
use serde_json::{json, Value};

use inkan_test_support::upstream::{header, Upstream};

use super::support::{binary, Env, Server};

mod delegation;
mod pages;

/// An authority that trusts swtpm's EK CA, and the phone enrolled in it at level 3 (its chain in
/// `phone/chain.pem`, its key in the TPM).
fn authority_and_phone(env: &Env, swtpm: &Swtpm) -> (Server, PathBuf) {
    let authority = super::support::tpm_authority(env, swtpm);
    let phone = env.tmp.path().join("phone");
    let out = Command::new(binary())
        .args(["agent", "enroll", "--tpm", "--json", "--name", "phone"])
        .args(["--authority", &authority.url()])
        .arg("--ca-file")
        .arg(env.root_pem())
        .arg("--out")
        .arg(&phone)
        .args(["--tcti", &swtpm.tcti()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (authority, phone.join("chain.pem"))
}

fn anchor_args(env: &Env, authority: &Server, chain: &Path) -> Vec<String> {
    vec![
        "--authority".into(),
        authority.url(),
        "--ca-file".into(),
        env.root_pem().display().to_string(),
        "--cert".into(),
        chain.display().to_string(),
        "--tpm".into(),
    ]
}

fn agent(env: &Env, args: &[&str]) -> std::process::Output {
    env.command(args).output().unwrap()
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `inkan agent link start` on a new device: (registration, token, code). The QR code it
/// writes is read back by a third-party reader (librsvg renders it, zbar reads it) and carries
/// the link URI.
fn start_link(env: &Env, authority: &Server, name: &str) -> (String, String, String, PathBuf) {
    let dir = env.tmp.path().join(name);
    let svg = env.tmp.path().join(format!("{name}-link.svg"));
    let shown = ok(agent(
        env,
        &[
            "agent",
            "link",
            "start",
            "--authority",
            &authority.url(),
            "--ca-file",
            env.root_pem().to_str().unwrap(),
            "--name",
            name,
            "--out",
            dir.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
    ));
    assert!(
        shown.contains('█') || shown.contains('▀'),
        "a terminal QR code: {shown}"
    );
    let png = svg.with_extension("png");
    let rendered = Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png)
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let read = Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(&png)
        .output()
        .unwrap();
    let scanned = String::from_utf8_lossy(&read.stdout).trim().to_string();
    let field = |label: &str| {
        shown
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("{label} in {shown}"))
            .trim()
            .to_string()
    };
    assert_eq!(
        scanned,
        field("link URI:"),
        "the QR code carries the link URI"
    );
    (
        field("registration:"),
        field("link token:"),
        field("code:"),
        dir,
    )
}

struct TpmAnchor(TpmSigningKey);

impl AnchorSigner for TpmAnchor {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AgentError> {
        self.0.sign_message(message)
    }
}

/// The phone as a library client: its TPM key signs the TLS handshake and the approvals. The
/// TPM connection closes when both are dropped.
async fn phone_session(env: &Env, authority: &Server, chain: &Path) -> (Session, TpmAnchor) {
    let info = TpmKeyInfo::read(chain.parent().unwrap()).unwrap();
    let tpm = Arc::new(Tpm::open(&info.tcti).unwrap());
    let key = tpm.open_key(info.handle_value().unwrap()).unwrap();
    let signer = TpmSigningKey::new(tpm, &key).unwrap();
    let roots = inkan_pki::certs_from_pem(&std::fs::read(env.root_pem()).unwrap()).unwrap();
    let certs = inkan_pki::certs_from_pem(&std::fs::read(chain).unwrap()).unwrap();
    let tls = signer.clone().client_tls_config(&roots, certs).unwrap();
    let session = Session::connect(&authority.url(), &roots, Some(tls))
        .await
        .unwrap();
    (session, TpmAnchor(signer))
}

/// GET `url` with curl, a client certificate and key: (status, body).
fn curl_with(env: &Env, cert: &Path, key: &Path, url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", "--cacert"])
        .arg(env.root_pem())
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// A software device certificate from EST (level 2, not linked): (chain, key) files.
fn est_device(env: &Env, authority: &Server) -> (PathBuf, PathBuf) {
    let dir = env.tmp.path().join("est-device");
    std::fs::create_dir_all(&dir).unwrap();
    let secret = env.secret("device");
    let script = format!(
        "set -euo pipefail; cd {dir}; \
         openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem \
           -subj /CN=sensor -outform DER 2>/dev/null | base64 > csr.b64; \
         curl -fsS --cacert {root} -u x:{secret} -H 'Content-Type: application/pkcs10' \
           --data-binary @csr.b64 {url}/.well-known/est/simpleenroll | base64 -d \
           | openssl pkcs7 -inform DER -print_certs -out c.pem",
        dir = dir.display(),
        root = env.root_pem().display(),
        url = authority.url(),
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir.join("c.pem"), dir.join("k.pem"))
}

fn status_of<T: std::fmt::Debug>(result: Result<T, AgentError>) -> u16 {
    match result {
        Err(AgentError::Status { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_links_a_laptop_and_approves_its_login() {
    let (env, _) = Env::with_ca();
    let swtpm = Swtpm::start();
    let (authority, chain) = authority_and_phone(&env, &swtpm);
    let anchor = anchor_args(&env, &authority, &chain);
    let with_anchor = |head: &[&str], tail: &[&str]| {
        let mut args: Vec<String> = head.iter().map(ToString::to_string).collect();
        args.extend(anchor.iter().cloned());
        args.extend(tail.iter().map(ToString::to_string));
        args
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        agent(&env, &args)
    };

    let account: Value = serde_json::from_str(&ok(run(with_anchor(
        &["agent", "account", "create"],
        &["--name", "Alice"],
    ))))
    .unwrap();
    let account_id = account["id"].as_str().unwrap().to_string();
    // One account per anchor key.
    let again = run(with_anchor(
        &["agent", "account", "create"],
        &["--name", "Alice"],
    ));
    assert!(!again.status.success());

    let (registration, token, code, laptop) = start_link(&env, &authority, "laptop");
    assert_eq!(code.len(), 6);
    // A code that differs from the laptop's screen links nothing.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = run(with_anchor(
        &["agent", "link", "confirm", &token],
        &["--code", wrong],
    ));
    assert!(
        !refused.status.success(),
        "code {code}, wrong {wrong}: {}",
        String::from_utf8_lossy(&refused.stdout)
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("codes differ"));
    let linked: Value = serde_json::from_str(&ok(run(with_anchor(
        &["agent", "link", "confirm", &token],
        &["--code", &code],
    ))))
    .unwrap();
    assert_eq!(linked["registration"], registration.as_str());
    // The link code is single use.
    let reused = run(with_anchor(
        &["agent", "link", "confirm", &token],
        &["--code", &code],
    ));
    assert!(!reused.status.success());
    assert!(String::from_utf8_lossy(&reused.stderr).contains("unknown, used or expired"));

    // The laptop logs in; the phone approves; the laptop gets its certificate.
    let login = env
        .command(&[
            "agent",
            "link",
            "login",
            "--authority",
            &authority.url(),
            "--ca-file",
            env.root_pem().to_str().unwrap(),
            "--dir",
            laptop.to_str().unwrap(),
            "--wait",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = loop {
        let listed: Value =
            serde_json::from_str(&ok(run(with_anchor(&["agent", "approve"], &[])))).unwrap();
        if let Some(first) = listed.as_array().and_then(|l| l.first()).cloned() {
            break first;
        }
        std::thread::yield_now();
    };
    assert_eq!(waiting["registration"], registration.as_str());
    ok(run(with_anchor(&["agent", "approve", "--all"], &[])));
    let done = login.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let cert = laptop.join("device.pem");
    let text = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
        ])
        .arg(&cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("URI:urn:inkan:linked:{registration}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("URI:urn:inkan:account:{account_id}")),
        "{text}"
    );
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(&cert)
        .arg(&cert)
        .output()
        .unwrap();
    assert!(verify.status.success());
    let leaf = inkan_pki::certs_from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let info = inkan_pki::CertificateInfo::parse(&leaf[0]).unwrap();
    assert_eq!(info.level, Some(2), "a linked device's own key: level 2");
    assert!(
        info.not_after - info.not_before <= 12 * 3600 + 600,
        "short-lived"
    );

    // With no network on the phone: the laptop shows a login code, the phone signs it offline
    // (its --authority points nowhere) and shows an approval code, the laptop delivers it.
    let device_args = |tail: &[&str]| {
        let mut args: Vec<String> = [
            "agent",
            "link",
            "login",
            "--authority",
            &authority.url(),
            "--ca-file",
            env.root_pem().to_str().unwrap(),
            "--dir",
            laptop.to_str().unwrap(),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        args.extend(tail.iter().map(ToString::to_string));
        args
    };
    let shown = ok(run(device_args(&["--offline"])));
    let login_code = shown
        .lines()
        .find_map(|l| l.strip_prefix("login code: "))
        .unwrap()
        .to_string();
    let offline_anchor: Vec<String> = {
        let mut a = anchor.clone();
        a[1] = "https://127.0.0.1:1".into();
        let mut args = vec!["agent".to_string(), "approve".into()];
        args.extend(a);
        args.extend(["--offline".to_string(), login_code]);
        args
    };
    let shown = ok(run(offline_anchor.clone()));
    let approval = shown
        .lines()
        .find_map(|l| l.strip_prefix("approval code: "))
        .unwrap()
        .to_string();
    // A changed time breaks the signature: refused, nothing issued.
    let mut parts: Vec<String> = approval.split('.').map(str::to_string).collect();
    let signed_at: i64 = parts[2].parse().unwrap();
    parts[2] = (signed_at + 1).to_string();
    let tampered = parts.join(".");
    let before_offline = env.certificate_count();
    let refused = run(device_args(&["--approval", &tampered]));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("signature"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(env.certificate_count(), before_offline);
    let done = ok(run(device_args(&["--approval", &approval])));
    assert!(done.contains("approved: certificate"), "{done}");
    // The same approval twice is refused.
    let replay = run(device_args(&["--approval", &approval]));
    assert!(!replay.status.success());
    assert!(String::from_utf8_lossy(&replay.stderr).contains("approved already"));
    assert_eq!(env.certificate_count(), before_offline + 1);

    // Behind the gateway, a route that takes linked devices only: curl with the laptop's
    // certificate and key gets through, named; an EST device certificate is not a linked one.
    let upstream = Upstream::start();
    let gateway = super::support::gateway(
        &env,
        &authority,
        &format!(
            "[[route]]\npath = \"/linked\"\nupstreams = [\"http://127.0.0.1:{}\"]\nauth = [\"linked-device\"]\nmin_level = 2\n",
            upstream.port
        ),
    );
    let port = gateway.addr.rsplit(':').next().unwrap().to_string();
    let url = format!("https://localhost:{port}/linked/notes");
    let (code, body) = curl_with(
        &env,
        &laptop.join("device.pem"),
        &laptop.join("device.key"),
        &url,
    );
    assert_eq!(code, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        header(&echo, "x-inkan-linked-device"),
        [registration.as_str()]
    );
    assert_eq!(header(&echo, "x-inkan-account"), [account_id.as_str()]);
    let (est_cert, est_key) = est_device(&env, &authority);
    let (code, _) = curl_with(&env, &est_cert, &est_key, &url);
    assert_eq!(code, 401, "a device certificate that is not a linked one");

    // Forgeries, spoken to the API directly with the phone's TPM key.
    let before = env.certificate_count();
    let laptop_session = || async {
        let roots = inkan_pki::certs_from_pem(&std::fs::read(env.root_pem()).unwrap()).unwrap();
        Session::connect(&authority.url(), &roots, None)
            .await
            .unwrap()
    };
    let mut device = laptop_session().await;
    let pending = linking::request_login(&mut device, &laptop).await.unwrap();
    let (mut phone, signer) = phone_session(&env, &authority, &chain).await;
    let listed = linking::pending(&mut phone).await.unwrap();
    let login = listed
        .iter()
        .find(|l| l["id"] == pending.id.as_str())
        .cloned()
        .unwrap();
    // An approval older than its bound.
    let request = hex::decode(login["request_sha256"].as_str().unwrap()).unwrap();
    let nonce = B64.decode(login["nonce"].as_str().unwrap()).unwrap();
    let old = time::OffsetDateTime::now_utc().unix_timestamp() - 600;
    let stale = signer
        .sign(&inkan_attest::approval_message(&request, &nonce, old))
        .unwrap();
    let path = format!("/v1/approvals/{}", pending.id);
    let body = json!({"signed_at": old, "signature": B64.encode(&stale)});
    assert_eq!(
        status_of(phone.call(http::Method::POST, &path, Some(&body)).await),
        403
    );
    // A signature by another key (the laptop's own) over the right message.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let laptop_key = inkan_pki::GeneratedKey::from_pem(
        &std::fs::read_to_string(laptop.join("device.key")).unwrap(),
        None,
    )
    .unwrap();
    let forged = laptop_key
        .sign(&inkan_attest::approval_message(&request, &nonce, now))
        .unwrap();
    let body = json!({"signed_at": now, "signature": B64.encode(&forged)});
    assert_eq!(
        status_of(phone.call(http::Method::POST, &path, Some(&body)).await),
        403
    );
    assert_eq!(env.certificate_count(), before, "nothing issued");
    // The genuine approval issues once; its replay is refused.
    linking::approve(&mut phone, &signer, &login).await.unwrap();
    assert_eq!(
        status_of(linking::approve(&mut phone, &signer, &login).await),
        409
    );
    assert_eq!(env.certificate_count(), before + 1);

    // A key swapped into the request: a CSR for another key is refused whoever signed the
    // request (the login binds the linked key); a CSR for the linked key signed by another key
    // is refused too.
    let other = inkan_pki::GeneratedKey::generate(inkan_pki::KeyAlgorithm::P256).unwrap();
    let swapped = inkan_pki::build_csr(&other, &registration, &[]).unwrap();
    let nonce = [5u8; 16];
    let service = device
        .call(http::Method::GET, "/v1/login-key", None)
        .await
        .unwrap();
    let service_key = B64.decode(service["public_key"].as_str().unwrap()).unwrap();
    let (_, sealed) = inkan_attest::seal_session(&service_key, &registration, &nonce).unwrap();
    let hash = inkan_attest::login_request_sha256(&registration, &nonce, &swapped, &sealed);
    for (signer, status) in [(&laptop_key, 400), (&other, 400)] {
        let body = json!({
            "registration": registration,
            "nonce": B64.encode(nonce),
            "csr": B64.encode(&swapped),
            "session": B64.encode(&sealed),
            "signature": B64.encode(signer.sign(&hash).unwrap()),
        });
        let answer = device
            .call(http::Method::POST, "/v1/logins", Some(&body))
            .await;
        assert_eq!(status_of(answer), status);
    }
    // A session key sealed for another nonce (a replayed or spliced one) is refused too, with
    // the laptop's own CSR and signature.
    let own = inkan_pki::build_csr(&laptop_key, &registration, &[]).unwrap();
    let (_, spliced) = inkan_attest::seal_session(&service_key, &registration, &[6u8; 16]).unwrap();
    let hash = inkan_attest::login_request_sha256(&registration, &nonce, &own, &spliced);
    let body = json!({
        "registration": registration,
        "nonce": B64.encode(nonce),
        "csr": B64.encode(&own),
        "session": B64.encode(&spliced),
        "signature": B64.encode(laptop_key.sign(&hash).unwrap()),
    });
    let answer = device
        .call(http::Method::POST, "/v1/logins", Some(&body))
        .await;
    assert_eq!(status_of(answer), 400);
    assert!(
        linking::pending(&mut phone).await.unwrap().is_empty(),
        "nothing waits"
    );

    // A device unlinked between its request and the approval gets nothing, and the
    // certificates it had are revoked.
    let pending = linking::request_login(&mut device, &laptop).await.unwrap();
    let listed = linking::pending(&mut phone).await.unwrap();
    let login = listed
        .iter()
        .find(|l| l["id"] == pending.id.as_str())
        .cloned()
        .unwrap();
    linking::unlink(&mut phone, &account_id, &registration)
        .await
        .unwrap();
    // The gateway refuses the unlinked laptop as soon as the revocation reaches it.
    let unlinked_at = std::time::Instant::now();
    loop {
        let (code, _) = curl_with(
            &env,
            &laptop.join("device.pem"),
            &laptop.join("device.key"),
            &url,
        );
        if code == 403 {
            break;
        }
        assert!(
            unlinked_at.elapsed() < std::time::Duration::from_secs(10),
            "the gateway still admits the unlinked laptop ({code})"
        );
    }
    eprintln!(
        "gateway refused the unlinked device after {:?}",
        unlinked_at.elapsed()
    );
    assert_eq!(
        status_of(linking::approve(&mut phone, &signer, &login).await),
        409
    );
    let shown: Value =
        serde_json::from_str(&env.ok(&["cert", "show", &info.serial, "--json"])).unwrap();
    assert_eq!(shown["status"], "revoked", "{shown}");
    // An unlinked device cannot ask again.
    let refused = linking::request_login(&mut device, &laptop).await;
    assert!(
        matches!(refused, Err(AgentError::Status { status: 404, .. })),
        "{refused:?}"
    );
    drop((phone, signer));

    // The phone is lost: the owner enrolls a new one (another key in a TPM), an administrator
    // binds it to the account and removes the old anchor, which can no longer act.
    let phone2 = env.tmp.path().join("phone2");
    let out = Command::new(binary())
        .args([
            "agent",
            "enroll",
            "--tpm",
            "--name",
            "phone2",
            "--handle",
            "0x81000102",
        ])
        .args(["--authority", &authority.url()])
        .arg("--ca-file")
        .arg(env.root_pem())
        .arg("--out")
        .arg(&phone2)
        .args(["--tcti", &swtpm.tcti()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let serial2 = TpmKeyInfo::read(&phone2).unwrap().serial;
    env.ok(&[
        "account",
        "anchor",
        "add",
        &account_id,
        "--serial",
        &serial2,
    ]);
    let shown: Value = serde_json::from_str(&env.ok(&["account", "show", &account_id])).unwrap();
    let old_key = shown["anchors"][0]["spki_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&[
        "account",
        "anchor",
        "remove",
        &account_id,
        "--key-sha256",
        &old_key,
    ]);
    let old_phone = run(with_anchor(&["agent", "approve"], &[]));
    assert!(!old_phone.status.success());
    assert!(String::from_utf8_lossy(&old_phone.stderr).contains("anchors no account"));
    let anchor2 = anchor_args(&env, &authority, &phone2.join("chain.pem"));
    let mut args = vec!["agent".to_string(), "approve".into()];
    args.extend(anchor2.iter().cloned());
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(ok(agent(&env, &args_ref)).trim(), "[]");

    // The new anchor's certificate revoked: it can no longer act for the account.
    env.ok(&["cert", "revoke", &serial2]);
    assert!(!agent(&env, &args_ref).status.success());
    let verified: Value = serde_json::from_str(&env.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_for_another_key_and_an_unauthenticated_anchor_are_refused() {
    let (env, _) = Env::with_ca();
    let authority = env.serve();
    let roots = inkan_pki::certs_from_pem(&std::fs::read(env.root_pem()).unwrap()).unwrap();
    // No client certificate: no account.
    let mut anonymous = Session::connect(&authority.url(), &roots, None)
        .await
        .unwrap();
    assert_eq!(
        status_of(linking::create_account(&mut anonymous, "Mallory").await),
        401
    );
    assert_eq!(status_of(linking::pending(&mut anonymous).await), 401);
    // A level-2 certificate (EST) is not an anchor.
    let key = inkan_pki::GeneratedKey::generate(inkan_pki::KeyAlgorithm::P256).unwrap();
    let dir = env.tmp.path().join("est");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("k.pem"), key.to_pem(None).unwrap()).unwrap();
    let secret = env.secret("device");
    let csr = inkan_pki::build_csr(&key, "laptop-2", &[]).unwrap();
    let out = Command::new("curl")
        .args(["-fsS", "--cacert"])
        .arg(env.root_pem())
        .args([
            "-u",
            &format!("x:{secret}"),
            "-H",
            "Content-Type: application/pkcs10",
            "--data-binary",
        ])
        .arg(B64.encode(&csr))
        .arg(format!("{}/.well-known/est/simpleenroll", authority.url()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p7 = B64
        .decode(String::from_utf8_lossy(&out.stdout).replace(['\r', '\n'], ""))
        .unwrap();
    std::fs::write(dir.join("c.p7"), p7).unwrap();
    let pem = Command::new("openssl")
        .args(["pkcs7", "-inform", "DER", "-print_certs", "-in"])
        .arg(dir.join("c.p7"))
        .output()
        .unwrap();
    let chain = inkan_pki::certs_from_pem(&pem.stdout).unwrap();
    let tls =
        inkan_client::client_tls_config(&roots, Some((chain, key.pkcs8_der().to_vec()))).unwrap();
    let mut level2 = Session::connect(&authority.url(), &roots, Some(tls))
        .await
        .unwrap();
    assert_eq!(
        status_of(linking::create_account(&mut level2, "Mallory").await),
        403
    );
    // Linking requests are validated before anything is stored.
    let bad = anonymous
        .call(
            http::Method::POST,
            "/v1/links",
            Some(&json!({"name": "x", "public_key": B64.encode(b"not a key")})),
        )
        .await;
    assert_eq!(status_of(bad), 400);
    // One address holds at most 8 open link codes: the 9th is refused until they are used or
    // expire.
    for i in 0..9 {
        let key = inkan_pki::GeneratedKey::generate(inkan_pki::KeyAlgorithm::P256).unwrap();
        let answer = anonymous
            .call(
                http::Method::POST,
                "/v1/links",
                Some(&json!({"name": format!("device {i}"), "public_key": B64.encode(key.public_key_der())})),
            )
            .await;
        if i < 8 {
            answer.unwrap();
        } else {
            assert_eq!(status_of(answer), 429);
        }
    }
    let unknown = anonymous
        .call(
            http::Method::POST,
            "/v1/logins",
            Some(
                &json!({"registration": "ld-000000000000", "nonce": B64.encode([0u8; 16]),
                         "csr": B64.encode(&csr), "session": B64.encode([0u8; 80]),
                         "signature": B64.encode([0u8; 8])}),
            ),
        )
        .await;
    assert_eq!(status_of(unknown), 404);
}

#[test]
fn bench_link_approves_real_logins_and_reports_a_ratio() {
    let (env, _) = Env::with_ca();
    let authority = env.serve();
    let out = env.ok(&[
        "bench",
        "link",
        "--url",
        &authority.url(),
        "--count",
        "6",
        "--concurrency",
        "2",
        "--json",
    ]);
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["succeeded"], 6, "{summary}");
    assert!(summary["ratio_to_enroll_limit"].as_f64().unwrap() > 0.0);
    // Every approval produced one linked certificate, each recorded and audited.
    let listed: Vec<Value> =
        serde_json::from_str(&env.ok(&["cert", "list", "--profile", "linked", "--json"])).unwrap();
    assert_eq!(listed.len(), 6);
    let verified: Value = serde_json::from_str(&env.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
}
