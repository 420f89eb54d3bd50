//! Three devices: the phone (anchor, key in swtpm) links a laptop and a tablet, delegates
//! approvals to the tablet before going out of reach, and the tablet approves the laptop's login
//! with no network on either of them; the delegation's limits hold, and it ends when the phone
//! is back.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use inkan_agent::linking::{self, AnchorSigner};
use inkan_test_support::swtpm::Swtpm;
use inkan_test_support::upstream::{header, Upstream};
use serde_json::{json, Value};

use super::{
    agent, anchor_args, authority_and_phone, curl_with, ok, phone_session, start_link, status_of,
};
use crate::api::support::{Env, Server};

/// Links the device showing (token, code) with the phone's CLI.
fn confirm(env: &Env, anchor: &[String], token: &str, code: &str) {
    let mut args = vec!["agent", "link", "confirm", token, "--code", code];
    args.extend(anchor.iter().map(String::as_str));
    ok(agent(env, &args));
}

/// `inkan agent link login --offline` on `dir`: the login code it shows.
fn offline_login(env: &Env, authority: &Server, dir: &Path) -> String {
    let shown = ok(agent(
        env,
        &[
            "agent",
            "link",
            "login",
            "--authority",
            &authority.url(),
            "--ca-file",
            env.root_pem().to_str().unwrap(),
            "--dir",
            dir.to_str().unwrap(),
            "--offline",
        ],
    ));
    shown
        .lines()
        .find_map(|l| l.strip_prefix("login code: "))
        .unwrap()
        .to_string()
}

/// `inkan agent link login --approval CODE` on `dir`.
fn deliver(env: &Env, authority: &Server, dir: &Path, approval: &str) -> std::process::Output {
    agent(
        env,
        &[
            "agent",
            "link",
            "login",
            "--authority",
            &authority.url(),
            "--ca-file",
            env.root_pem().to_str().unwrap(),
            "--dir",
            dir.to_str().unwrap(),
            "--approval",
            approval,
        ],
    )
}

/// The tablet, with no network (the command takes no authority at all), approves `code`.
fn deputy_approves(env: &Env, tablet: &Path, code: &str) -> String {
    let shown = ok(agent(
        env,
        &[
            "agent",
            "link",
            "deputy-approve",
            code,
            "--dir",
            tablet.to_str().unwrap(),
        ],
    ));
    shown
        .lines()
        .find_map(|l| l.strip_prefix("approval code: "))
        .unwrap()
        .to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tablet_approves_for_the_phone_within_its_delegation() {
    let (env, _) = Env::with_ca();
    let swtpm = Swtpm::start();
    let (authority, chain) = authority_and_phone(&env, &swtpm);
    let anchor = anchor_args(&env, &authority, &chain);
    let with_anchor = |head: &[&str], tail: &[&str]| {
        let mut args: Vec<&str> = head.to_vec();
        args.extend(anchor.iter().map(String::as_str));
        args.extend(tail);
        ok(agent(&env, &args))
    };
    let account: Value = serde_json::from_str(&with_anchor(
        &["agent", "account", "create"],
        &["--name", "Bob"],
    ))
    .unwrap();
    let account_id = account["id"].as_str().unwrap().to_string();
    let (laptop_reg, token, code, laptop) = start_link(&env, &authority, "laptop");
    confirm(&env, &anchor, &token, &code);
    let (tablet_reg, token, code, tablet) = start_link(&env, &authority, "tablet");
    confirm(&env, &anchor, &token, &code);

    // Before leaving, the phone lets the tablet approve one login within the hour.
    let delegation: Value = serde_json::from_str(&with_anchor(
        &["agent", "delegate"],
        &[
            "--account",
            &account_id,
            "--to",
            &tablet_reg,
            "--for",
            "1h",
            "--max",
            "1",
        ],
    ))
    .unwrap();
    assert_eq!(delegation["deputy"], tablet_reg.as_str());
    assert_eq!(delegation["max_approvals"], 1);

    // The phone is away. The laptop shows its login code; the tablet signs it with no network;
    // the laptop delivers the approval and gets its certificate.
    let before = env.certificate_count();
    let login_code = offline_login(&env, &authority, &laptop);
    let approval = deputy_approves(&env, &tablet, &login_code);
    assert!(approval.contains(&format!(".{tablet_reg}.")), "{approval}");
    // A changed time breaks the deputy's signature.
    let mut parts: Vec<String> = approval.split('.').map(str::to_string).collect();
    parts[2] = (parts[2].parse::<i64>().unwrap() + 1).to_string();
    let refused = deliver(&env, &authority, &laptop, &parts.join("."));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("signature"),
        "{}",
        stderr(&refused)
    );
    // The laptop is no deputy: its own signature in the deputy's place is refused.
    let laptop_signed = deputy_approves(&env, &laptop, &login_code);
    let refused = deliver(&env, &authority, &laptop, &laptop_signed);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not the deputy"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(env.certificate_count(), before, "nothing issued");
    let done = ok(deliver(&env, &authority, &laptop, &approval));
    assert!(done.contains("approved: certificate"), "{done}");
    assert_eq!(env.certificate_count(), before + 1);
    let leaf =
        inkan_pki::certs_from_pem(&std::fs::read(laptop.join("device.pem")).unwrap()).unwrap();
    let info = inkan_pki::CertificateInfo::parse(&leaf[0]).unwrap();
    assert_eq!(info.level, Some(2));
    let shown: Value =
        serde_json::from_str(&env.ok(&["cert", "show", &info.serial, "--json"])).unwrap();
    assert_eq!(shown["evidence"]["deputy"], tablet_reg.as_str(), "{shown}");
    assert_eq!(shown["evidence"]["delegation"], delegation["id"], "{shown}");

    // The laptop opens a site behind the gateway with it.
    let upstream = Upstream::start();
    let gateway = crate::api::support::gateway(
        &env,
        &authority,
        &format!(
            "[[route]]\npath = \"/linked\"\nupstreams = [\"http://127.0.0.1:{}\"]\nauth = [\"linked-device\"]\nmin_level = 2\n",
            upstream.port
        ),
    );
    let port = gateway.addr.rsplit(':').next().unwrap().to_string();
    let url = format!("https://localhost:{port}/linked/notes");
    let (status, body) = curl_with(
        &env,
        &laptop.join("device.pem"),
        &laptop.join("device.key"),
        &url,
    );
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        header(&echo, "x-inkan-linked-device"),
        [laptop_reg.as_str()]
    );

    // Past its count: the second approval is refused, nothing issued. (The gateway's own
    // server certificate came from the authority meanwhile.)
    let before = env.certificate_count();
    let second = offline_login(&env, &authority, &laptop);
    let approval = deputy_approves(&env, &tablet, &second);
    let refused = deliver(&env, &authority, &laptop, &approval);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("every approval it allowed is used"),
        "{}",
        stderr(&refused)
    );
    // A deputy never approves its own login.
    let own = offline_login(&env, &authority, &tablet);
    let approval = deputy_approves(&env, &tablet, &own);
    let refused = deliver(&env, &authority, &tablet, &approval);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("its own logins"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(env.certificate_count(), before);

    // Delegations the authority refuses, spoken to the API with the phone's TPM key: terms
    // changed after signing, and terms out of bounds.
    let (mut phone, signer) = phone_session(&env, &authority, &chain).await;
    let view = phone
        .call(
            http::Method::GET,
            &format!("/v1/accounts/{account_id}"),
            None,
        )
        .await
        .unwrap();
    let tablet_key = view["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["registration"] == tablet_reg.as_str())
        .unwrap()["key_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let terms = |not_after: i64, max: i64| inkan_attest::DelegationTerms {
        account_id: &account_id,
        deputy: &tablet_reg,
        deputy_key_sha256: &tablet_key,
        not_before: now,
        not_after,
        max_approvals: max,
        signed_at: now,
    };
    let path = format!("/v1/accounts/{account_id}/delegations");
    let signed = signer
        .sign(&inkan_attest::delegation_message(&terms(now + 3600, 1)))
        .unwrap();
    let body = json!({"deputy": tablet_reg, "not_before": now, "not_after": now + 3600,
        "max_approvals": 50, "signed_at": now, "signature": B64.encode(&signed)});
    assert_eq!(
        status_of(phone.call(http::Method::POST, &path, Some(&body)).await),
        403
    );
    let long = now + 8 * 86400;
    let signed = signer
        .sign(&inkan_attest::delegation_message(&terms(long, 1)))
        .unwrap();
    let body = json!({"deputy": tablet_reg, "not_before": now, "not_after": long,
        "max_approvals": 1, "signed_at": now, "signature": B64.encode(&signed)});
    assert_eq!(
        status_of(phone.call(http::Method::POST, &path, Some(&body)).await),
        400
    );
    // A fresh delegation (the used-up one is replaced) ...
    let signed = signer
        .sign(&inkan_attest::delegation_message(&terms(now + 3600, 5)))
        .unwrap();
    let body = json!({"deputy": tablet_reg, "not_before": now, "not_after": now + 3600,
        "max_approvals": 5, "signed_at": now, "signature": B64.encode(&signed)});
    let fresh = phone
        .call(http::Method::POST, &path, Some(&body))
        .await
        .unwrap();
    // ... ends when the phone is back and approves a login itself.
    let laptop_login = {
        let roots = inkan_pki::certs_from_pem(&std::fs::read(env.root_pem()).unwrap()).unwrap();
        let mut device = linking::Session::connect(&authority.url(), &roots, None)
            .await
            .unwrap();
        linking::request_login(&mut device, &laptop).await.unwrap()
    };
    let waiting = linking::pending(&mut phone).await.unwrap();
    let login = waiting
        .iter()
        .find(|l| l["id"] == laptop_login.id.as_str())
        .unwrap();
    linking::approve(&mut phone, &signer, login).await.unwrap();
    let view = phone
        .call(
            http::Method::GET,
            &format!("/v1/accounts/{account_id}"),
            None,
        )
        .await
        .unwrap();
    let ended = view["delegations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == fresh["id"])
        .unwrap()
        .clone();
    assert_eq!(ended["end_reason"], "anchor-returned", "{view}");
    assert_eq!(ended["used"], 0);
    let count = env.certificate_count();
    let third = offline_login(&env, &authority, &laptop);
    let approval = deputy_approves(&env, &tablet, &third);
    let refused = deliver(&env, &authority, &laptop, &approval);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("anchor-returned"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(env.certificate_count(), count);

    // The tablet logs in too, approved by the phone, and opens the same site.
    let tablet_login = {
        let roots = inkan_pki::certs_from_pem(&std::fs::read(env.root_pem()).unwrap()).unwrap();
        let mut device = linking::Session::connect(&authority.url(), &roots, None)
            .await
            .unwrap();
        let pending = linking::request_login(&mut device, &tablet).await.unwrap();
        let waiting = linking::pending(&mut phone).await.unwrap();
        let login = waiting
            .iter()
            .find(|l| l["id"] == pending.id.as_str())
            .unwrap();
        linking::approve(&mut phone, &signer, login).await.unwrap();
        linking::await_login(
            &mut device,
            &pending,
            &tablet,
            std::time::Duration::from_secs(10),
            std::time::Duration::from_millis(50),
        )
        .await
        .unwrap()
    };
    assert!(tablet_login.1.ends_with("device.pem"));
    let (status, body) = curl_with(
        &env,
        &tablet.join("device.pem"),
        &tablet.join("device.key"),
        &url,
    );
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        header(&echo, "x-inkan-linked-device"),
        [tablet_reg.as_str()]
    );

    // The administrator ends a delegation (a lost tablet); unlinking the deputy ends one too.
    with_anchor(
        &["agent", "delegate"],
        &["--account", &account_id, "--to", &tablet_reg],
    );
    env.ok(&["account", "end-delegation", &account_id]);
    let again = env
        .command(&["account", "end-delegation", &account_id])
        .output()
        .unwrap();
    assert!(!again.status.success(), "nothing left to end");
    with_anchor(
        &["agent", "delegate"],
        &["--account", &account_id, "--to", &tablet_reg],
    );
    linking::unlink(&mut phone, &account_id, &tablet_reg)
        .await
        .unwrap();
    let shown: Value = serde_json::from_str(&env.ok(&["account", "show", &account_id])).unwrap();
    let reasons: Vec<&str> = shown["delegations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["end_reason"].as_str().unwrap_or("open"))
        .collect();
    assert_eq!(
        reasons,
        ["unlinked", "revoked", "anchor-returned", "replaced"],
        "{shown}"
    );
    drop((phone, signer));

    // The administrator sees the account in the console and unlinks the laptop there: its
    // certificate is revoked and the gateway refuses it.
    let token = env.ok(&["admin", "token", "create", "--name", "ops"]);
    let token = token.lines().last().unwrap().trim().to_string();
    let jar = env.tmp.path().join("console-jar");
    let console = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-i", "--cacert"])
            .arg(env.root_pem())
            .arg("-b")
            .arg(&jar)
            .arg("-c")
            .arg(&jar)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let base = format!("{}/console", authority.url());
    console(&[
        "--data-urlencode",
        &format!("token={token}"),
        &format!("{base}/login"),
    ]);
    let listed = console(&[&format!("{base}/accounts")]);
    assert!(listed.contains(&account_id), "{listed}");
    let page = console(&[&format!("{base}/accounts/{account_id}")]);
    for expected in [
        "laptop",
        "tablet",
        "(unlinked)",
        "(anchor-returned)",
        "(replaced)",
    ] {
        assert!(page.contains(expected), "{expected}: {page}");
    }
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..at + 64].to_string();
    let refused = console(&[
        "-d",
        "csrf=forged",
        &format!("{base}/accounts/{account_id}/devices/{laptop_reg}/unlink"),
    ]);
    assert!(
        refused.starts_with("HTTP/2 403") || refused.starts_with("HTTP/1.1 403"),
        "{refused}"
    );
    let done = console(&[
        "-d",
        &format!("csrf={csrf}"),
        &format!("{base}/accounts/{account_id}/devices/{laptop_reg}/unlink"),
    ]);
    assert!(
        done.starts_with("HTTP/2 303") || done.starts_with("HTTP/1.1 303"),
        "{done}"
    );
    let unlinked_at = std::time::Instant::now();
    loop {
        let (status, _) = curl_with(
            &env,
            &laptop.join("device.pem"),
            &laptop.join("device.key"),
            &url,
        );
        if status == 403 {
            break;
        }
        assert!(
            unlinked_at.elapsed() < std::time::Duration::from_secs(10),
            "the gateway still admits the unlinked laptop ({status})"
        );
    }
    eprintln!(
        "gateway refused the laptop unlinked in the console after {:?}",
        unlinked_at.elapsed()
    );
    let verified: Value = serde_json::from_str(&env.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
}
