//! The local linking pages, through curl as a browser would reach them: the laptop's link page
//! shows its QR code and confirmation code; the phone's approval page lists the laptop's login
//! and approves it with the phone's TPM key, and refuses a form without the page's token, from
//! another site, or for another Host.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use inkan_test_support::swtpm::Swtpm;
use serde_json::Value;

use super::{agent, anchor_args, authority_and_phone, ok};

/// Starts `args` and reads its stdout until the line starting with `label`: (child, URL).
fn serving(env: &crate::api::support::Env, args: &[&str], label: &str) -> (Child, String) {
    let mut child = env
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("the page's URL").unwrap();
        if let Some(url) = line.strip_prefix(label) {
            break url.trim().to_string();
        }
    };
    (child, url)
}

/// curl: (status, headers + body).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-i", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "stops cleanly on SIGTERM: {status:?}");
}

#[test]
fn the_link_and_approval_pages_work_in_a_browser_and_refuse_forgeries() {
    let (env, _) = crate::api::support::Env::with_ca();
    let swtpm = Swtpm::start();
    let (authority, chain) = authority_and_phone(&env, &swtpm);
    let anchor = anchor_args(&env, &authority, &chain);
    let mut create = vec!["agent", "account", "create", "--name", "Carol"];
    create.extend(anchor.iter().map(String::as_str));
    let account: Value = serde_json::from_str(&ok(agent(&env, &create))).unwrap();
    assert!(account["id"].is_string());

    // The laptop's link page: its QR code (an inline SVG) and the code to compare.
    let root = env.root_pem().display().to_string();
    let url = authority.url();
    let laptop_dir = env.tmp.path().join("laptop");
    let (link, page) = serving(
        &env,
        &[
            "agent",
            "link",
            "start",
            "--authority",
            &url,
            "--ca-file",
            &root,
            "--name",
            "laptop",
            "--out",
            laptop_dir.to_str().unwrap(),
            "--no-qr",
            "--web",
            "127.0.0.1:0",
        ],
        "link page:",
    );
    let shown = std::fs::read_to_string(laptop_dir.join("link.json")).unwrap();
    let code: Value = serde_json::from_str(&shown).unwrap();
    let (status, body) = curl(&[&page]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<svg"), "{body}");
    assert!(body.contains(code["code"].as_str().unwrap()), "{body}");
    assert!(
        body.contains("content-security-policy: default-src 'none'"),
        "{body}"
    );
    let (status, _) = curl(&["-H", "Host: link.example", &page]);
    assert_eq!(status, 421, "another Host (DNS rebinding) is refused");
    stop(link);
    let mut confirm = vec![
        "agent",
        "link",
        "confirm",
        code["link_token"].as_str().unwrap(),
        "--code",
        code["code"].as_str().unwrap(),
    ];
    confirm.extend(anchor.iter().map(String::as_str));
    ok(agent(&env, &confirm));

    // The phone's approval page.
    let mut approve = vec!["agent", "approve", "--web", "127.0.0.1:0"];
    approve.extend(anchor.iter().map(String::as_str));
    let (approver, page) = serving(&env, &approve, "approval page:");
    let (status, body) = curl(&[&page]);
    assert_eq!(status, 200);
    assert!(body.contains("Nothing waits"), "{body}");
    let mut login = env
        .command(&[
            "agent",
            "link",
            "login",
            "--authority",
            &url,
            "--ca-file",
            &root,
            "--dir",
            laptop_dir.to_str().unwrap(),
            "--wait",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (body, id) = loop {
        let (_, body) = curl(&[&page]);
        if let Some(at) = body.find("name=\"id\" value=\"") {
            let rest = &body[at + 17..];
            let id = rest[..rest.find('"').unwrap()].to_string();
            break (body, id);
        }
        assert!(login.try_wait().unwrap().is_none(), "the login stopped");
    };
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = body[at..at + 32].to_string();
    let before = env.certificate_count();
    let approve_url = format!("{page}approve");
    for (args, status, why) in [
        (vec!["-d".to_string(), format!("id={id}")], 403, "no token"),
        (
            vec!["-d".to_string(), format!("csrf={}&id={id}", "0".repeat(32))],
            403,
            "another token",
        ),
        (
            vec![
                "-H".to_string(),
                "Origin: https://evil.example".to_string(),
                "-d".to_string(),
                format!("csrf={csrf}&id={id}"),
            ],
            403,
            "another site's form",
        ),
        (
            vec![
                "-H".to_string(),
                "Host: evil.example".to_string(),
                "-d".to_string(),
                format!("csrf={csrf}&id={id}"),
            ],
            421,
            "another Host",
        ),
    ] {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.push(&approve_url);
        let (got, body) = curl(&all);
        assert_eq!(got, status, "{why}: {body}");
    }
    let oversized = format!("csrf={csrf}&id={id}&pad={}", "x".repeat(8 * 1024));
    let (status, _) = curl(&["--data-binary", &oversized, &approve_url]);
    assert_eq!(status, 413, "a form over 4 KiB");
    assert_eq!(env.certificate_count(), before, "nothing issued");
    let (status, body) = curl(&["-d", &format!("csrf={csrf}&id={id}"), &approve_url]);
    assert_eq!(status, 303, "{body}");
    assert!(
        body.to_ascii_lowercase().contains("location: /?approved="),
        "{body}"
    );
    let done = login.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(env.certificate_count(), before + 1);
    // Approving it again: the page says why, nothing issued.
    let (status, body) = curl(&["-d", &format!("csrf={csrf}&id={id}"), &approve_url]);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no longer waits"), "{body}");
    assert_eq!(env.certificate_count(), before + 1);
    stop(approver);
}
