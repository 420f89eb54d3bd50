//! The console through curl, as a browser's requests: an administrator logs in with a token (a
//! signed session cookie) or an admin client certificate, finds a certificate, revokes it (and
//! OCSP says so), and sees the audit chain verified; refused without login, with a forged or
//! edited cookie, without or with another session's CSRF token, from another origin, and with a
//! device certificate.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::support::{Env, Server};

mod in_browser;

struct Browser<'a> {
    env: &'a Env,
    jar: PathBuf,
    client_cert: Option<(PathBuf, PathBuf)>,
}

impl Browser<'_> {
    /// (status, headers and body) of a request; `form` makes it a POST.
    fn fetch(&self, url: &str, form: Option<&str>, extra: &[&str]) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-i", "-w", "\n%{http_code}", "--cacert"])
            .arg(self.env.root_pem())
            .arg("-b")
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar);
        if let Some((cert, key)) = &self.client_cert {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some(form) = form {
            cmd.args(["--data-raw", form]);
        }
        cmd.args(extra).arg(url);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

/// Every visible form field has a label naming it (`<label for=ID>` or a wrapping label), and
/// the page is under 100 KB.
fn accessible(page: &str) {
    assert!(page.len() < 100_000, "{} bytes", page.len());
    for field in page
        .split("<input")
        .skip(1)
        .chain(page.split("<select").skip(1))
    {
        let tag = &field[..field.find('>').unwrap()];
        if tag.contains("type=\"hidden\"") || tag.contains("type=\"checkbox\"") {
            continue;
        }
        let id = tag
            .split("id=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("a field without an id: {tag}"));
        assert!(
            page.contains(&format!("<label for=\"{id}\">")),
            "no label for {id}"
        );
    }
}

fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    page[at..at + 64].to_string()
}

fn location(response: &str) -> String {
    response
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("location:")
                .then(|| l[9..].trim().to_string())
        })
        .unwrap_or_default()
}

fn ocsp_status(env: &Env, cert: &Path, http: &str) -> String {
    let out = Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(env.data.join("ca/issuing.pem"))
        .arg("-cert")
        .arg(cert)
        .args(["-url", &format!("{http}/ocsp"), "-CAfile"])
        .arg(env.data.join("ca/chain.pem"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A device certificate from EST (with the `device` secret) in `device/cert.pem` and
/// `device/key.pem`: (that directory, its serial).
fn est_device(env: &Env, server: &Server, secret: &str) -> (PathBuf, String) {
    let device = env.tmp.path().join("device");
    std::fs::create_dir_all(&device).unwrap();
    let script = format!(
        "set -euo pipefail; cd {dir}; \\
         openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \\
           -subj /CN=meter-7 -outform DER 2>/dev/null | base64 > csr.b64; \\
         curl -fsS --cacert {root} -u x:{secret} -H 'Content-Type: application/pkcs10' \\
           --data-binary @csr.b64 {url}/.well-known/est/simpleenroll | base64 -d \\
           | openssl pkcs7 -inform DER -print_certs -out cert.pem",
        dir = device.display(),
        root = env.root_pem().display(),
        url = server.url(),
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issued: Value =
        serde_json::from_str(&env.ok(&["cert", "list", "--json", "--limit", "1"])).unwrap();
    (device, issued[0]["serial"].as_str().unwrap().to_string())
}

/// The authority, started with its plain-HTTP listener: (server, that listener's URL).
fn authority(env: &Env) -> (Server, String) {
    let server = Server::start_until(
        env.command(&["serve", "--listen", "127.0.0.1:0"]),
        "revocation (CRL, OCSP) on ",
    );
    let http = server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("revocation (CRL, OCSP) on "))
        .unwrap()
        .to_string();
    (server, http)
}

#[test]
fn an_administrator_finds_and_revokes_a_certificate_in_the_console() {
    let (env, secret) = Env::with_ca();
    let token = env.ok(&["admin", "token", "create", "--name", "ops"]);
    let token = token.lines().last().unwrap().trim().to_string();
    let (server, http) = authority(&env);
    let console = format!("{}/console", server.url());
    let (device, serial) = est_device(&env, &server, &secret);

    let browser = Browser {
        env: &env,
        jar: env.tmp.path().join("cookies.txt"),
        client_cert: None,
    };
    // Not logged in: every page sends to the login page; an action is refused.
    let (status, page) = browser.fetch(&format!("{console}/certificates"), None, &[]);
    assert_eq!(status, 303, "{page}");
    assert_eq!(location(&page), "/console/login");
    let (status, _) = browser.fetch(
        &format!("{console}/certificates/{serial}/revoke"),
        Some("csrf=x&reason=superseded"),
        &[],
    );
    assert_eq!(status, 403);
    let (status, page) = browser.fetch(&format!("{console}/login"), None, &[]);
    assert_eq!(status, 200);
    accessible(&page);
    assert!(page.contains("<label for=\"token\">"), "{page}");
    // A wrong token.
    let (status, _) = browser.fetch(&format!("{console}/login"), Some("token=nope"), &[]);
    assert_eq!(status, 401);
    // The right one: a session cookie, Secure, HttpOnly, SameSite=Strict.
    let (status, page) = browser.fetch(
        &format!("{console}/login"),
        Some(&format!("token={token}")),
        &[],
    );
    assert_eq!(status, 303, "{page}");
    let cookie_line = page
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie_line.contains(attribute), "{cookie_line}");
    }

    // Find the certificate by its serial, and in the list.
    let (status, page) = browser.fetch(
        &format!("{console}/certificates?serial={serial}"),
        None,
        &[],
    );
    assert_eq!(status, 303);
    assert_eq!(location(&page), format!("/console/certificates/{serial}"));
    let (status, page) = browser.fetch(&format!("{console}/certificates?status=valid"), None, &[]);
    assert_eq!(status, 200);
    accessible(&page);
    assert!(page.contains(&serial), "{page}");
    assert!(page.contains("CN=meter-7"), "{page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    let (status, page) = browser.fetch(&format!("{console}/certificates/{serial}"), None, &[]);
    assert_eq!(status, 200);
    accessible(&page);
    assert!(page.contains("est-secret"), "{page}");
    assert!(page.contains("BEGIN CERTIFICATE"), "{page}");
    let csrf = csrf_of(&page);

    // Forgeries change nothing.
    let revoke = format!("{console}/certificates/{serial}/revoke");
    let (status, _) = browser.fetch(&revoke, Some("reason=superseded"), &[]);
    assert_eq!(status, 403, "no token");
    let (status, _) = browser.fetch(
        &revoke,
        Some(&format!("csrf={}&reason=superseded", "0".repeat(64))),
        &[],
    );
    assert_eq!(status, 403, "a forged token");
    let oversized = format!("csrf={csrf}&reason=superseded&pad={}", "x".repeat(1 << 20));
    let body_file = env.tmp.path().join("oversized.form");
    std::fs::write(&body_file, oversized).unwrap();
    let (status, _) = browser.fetch(
        &revoke,
        None,
        &["--data-binary", &format!("@{}", body_file.display())],
    );
    assert_eq!(status, 413, "an oversized form");
    let (status, _) = browser.fetch(
        &revoke,
        Some(&format!("csrf={csrf}&reason=superseded")),
        &["-H", "Origin: https://evil.example"],
    );
    assert_eq!(status, 403, "another site's form");
    let forged = Browser {
        env: &env,
        jar: env.tmp.path().join("forged.txt"),
        client_cert: None,
    };
    let jar = std::fs::read_to_string(&browser.jar).unwrap();
    let edited = jar.replace("inkan_console\t", "inkan_console\tx");
    std::fs::write(&forged.jar, edited).unwrap();
    let (status, _) = forged.fetch(
        &revoke,
        Some(&format!("csrf={csrf}&reason=superseded")),
        &[],
    );
    assert_eq!(status, 403, "an edited cookie");
    assert!(ocsp_status(&env, &device.join("cert.pem"), &http).contains(": good"));

    // The genuine form revokes it; OCSP says so at once, and the audit log names the admin.
    let (status, page) = browser.fetch(
        &revoke,
        Some(&format!("csrf={csrf}&reason=superseded")),
        &[],
    );
    assert_eq!(status, 303, "{page}");
    let (_, page) = browser.fetch(&format!("{}{}", server.url(), location(&page)), None, &[]);
    assert!(page.contains("Revoked (1 in all"), "{page}");
    assert!(page.contains("status-revoked"), "{page}");
    assert!(ocsp_status(&env, &device.join("cert.pem"), &http).contains(": revoked"));
    let (status, page) = browser.fetch(&format!("{console}/audit?verify=1"), None, &[]);
    assert_eq!(status, 200);
    assert!(page.contains("Intact:"), "{page}");
    assert!(page.contains("console:token:ops"), "{page}");

    // Products: created here, the bundle (chain and key) comes back once as a download.
    let (status, page) = browser.fetch(&format!("{console}/products"), None, &[]);
    assert_eq!(status, 200);
    accessible(&page);
    let csrf_products = csrf_of(&page);
    assert_eq!(csrf_products, csrf, "one token per session");
    let before = env.certificate_count();
    for (form, why) in [
        (
            format!("csrf={csrf}&name=&validity_days=30"),
            "an empty name",
        ),
        (
            format!("csrf={csrf}&name=a%2Fb&validity_days=30"),
            "a '/' in the name",
        ),
        (
            format!("csrf={csrf}&name=meter&validity_days=0"),
            "no validity",
        ),
        (
            format!("csrf={csrf}&name=meter&max_devices=-1"),
            "a negative cap",
        ),
    ] {
        let (status, body) = browser.fetch(&format!("{console}/products"), Some(&form), &[]);
        assert_eq!(status, 400, "{why}: {body}");
    }
    let (status, _) = browser.fetch(
        &format!("{console}/products"),
        Some("name=meter&validity_days=30"),
        &[],
    );
    assert_eq!(status, 403, "no token");
    assert_eq!(env.certificate_count(), before, "nothing issued");
    let (status, bundle) = browser.fetch(
        &format!("{console}/products"),
        Some(&format!(
            "csrf={csrf}&name=meter&max_devices=100&validity_days=30&psk=on"
        )),
        &[],
    );
    assert_eq!(status, 201, "{bundle}");
    assert!(
        bundle.contains("attachment; filename=\"product-"),
        "{bundle}"
    );
    assert!(bundle.contains("# PSK group key: "), "{bundle}");
    assert!(bundle.contains("BEGIN PRIVATE KEY"), "{bundle}");
    let pem = bundle
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or(&bundle);
    std::fs::write(env.tmp.path().join("product.pem"), pem).unwrap();
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(env.tmp.path().join("product.pem"))
        .arg(env.tmp.path().join("product.pem"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let products: Value = serde_json::from_str(&env.ok(&["product", "list", "--json"])).unwrap();
    let id = products[0]["id"].as_str().unwrap().to_string();
    let (status, page) = browser.fetch(&format!("{console}/products"), None, &[]);
    assert_eq!(status, 200);
    assert!(page.contains(&format!("/console/products/{id}")), "{page}");
    assert!(page.contains("0 of 100"), "{page}");
    let (status, _) = browser.fetch(
        &format!("{console}/products/{id}/status"),
        Some(&format!("csrf={csrf}&status=disabled")),
        &[],
    );
    assert_eq!(status, 303);
    let (_, page) = browser.fetch(&format!("{console}/products/{id}"), None, &[]);
    assert!(page.contains("status-disabled"), "{page}");
    assert!(page.contains("No devices registered"), "{page}");

    // Logging out ends the session.
    let (status, _) = browser.fetch(
        &format!("{console}/logout"),
        Some(&format!("csrf={csrf}")),
        &[],
    );
    assert_eq!(status, 303);
    let (status, _) = browser.fetch(&format!("{console}/audit"), None, &[]);
    assert_eq!(status, 303);

    // A one-time login link opens one session, once; its token is no admin token for /v1.
    let link = env.ok(&["admin", "console-link", "--url", &server.url()]);
    let link = link.trim().to_string();
    let token = link.rsplit_once("token=").unwrap().1.to_string();
    let (status, _) = browser.fetch(
        &format!("{}/v1/products", server.url()),
        None,
        &["-H", &format!("Authorization: Bearer {token}")],
    );
    assert_eq!(status, 401, "a link's token is not an admin token");
    let (status, page) = browser.fetch(&link, None, &[]);
    assert_eq!(status, 303, "{page}");
    assert!(page
        .to_ascii_lowercase()
        .contains("referrer-policy: no-referrer"));
    let (status, page) = browser.fetch(&console, None, &[]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("token:console-link"), "{page}");
    let other = Browser {
        env: &env,
        jar: env.tmp.path().join("second-use.txt"),
        client_cert: None,
    };
    let (status, page) = other.fetch(&link, None, &[]);
    assert_eq!(status, 401, "used once already: {page}");
    let named = env
        .command(&["admin", "token", "create", "--name", "console-link"])
        .output()
        .unwrap();
    assert!(!named.status.success(), "that name is reserved");

    // An admin client certificate needs no login; a device certificate is not one.
    let admin_dir = env.tmp.path().join("admin");
    env.ok(&[
        "admin",
        "cert",
        "create",
        "alice",
        "--out",
        admin_dir.to_str().unwrap(),
    ]);
    let admin = Browser {
        env: &env,
        jar: env.tmp.path().join("admin-cookies.txt"),
        client_cert: Some((admin_dir.join("admin.pem"), admin_dir.join("admin.key"))),
    };
    let (status, page) = admin.fetch(&console, None, &[]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("admin-cert:"), "{page}");
    // The overview's counts: the device, the product and the admin certificate issued in the
    // last hour (and the server's own), one revoked.
    let total = env.certificate_count();
    assert!(
        page.contains(&format!("<strong>{total}</strong> certificates")),
        "{total}: {page}"
    );
    assert!(page.contains("<strong>1</strong> revoked"), "{page}");
    assert!(
        page.contains(&format!("<strong>{total}</strong> issued in the last hour")),
        "{page}"
    );
    let device_browser = Browser {
        env: &env,
        jar: env.tmp.path().join("device-cookies.txt"),
        client_cert: Some((device.join("cert.pem"), device.join("key.pem"))),
    };
    let (status, _) = device_browser.fetch(&console, None, &[]);
    assert_eq!(status, 303, "a device certificate is no administrator");
}

/// `inkan bench registry` fills a scratch database and measures, among the registry's reads,
/// what the console's pages read; a short run here keeps it working.
#[test]
fn bench_registry_measures_the_console_reads() {
    let env = Env::new();
    let scratch = format!("sqlite:{}", env.tmp.path().join("scale.db").display());
    let out = env.ok(&[
        "bench",
        "registry",
        "--scratch",
        &scratch,
        "--devices",
        "100,300",
        "--lookups",
        "20",
        "--json",
    ]);
    let summary: Value = serde_json::from_str(out.trim()).unwrap();
    let steps = summary["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for step in steps {
        for field in [
            "console_certificates_page_ms",
            "console_deep_certificates_page_ms",
            "console_name_search_ms",
            "console_overview_counts_ms",
        ] {
            assert!(step[field].as_f64().unwrap() >= 0.0, "{field}: {step}");
        }
    }
}

/// The body of a `curl -i` response (after the head).
fn body_of(response: &str) -> &str {
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or(response)
}

/// EST secrets and admin tokens: made in the console and shown once, listed without their
/// values, exported, and revoked — after which EST refuses the secret, /v1 refuses the token
/// and the console session the token opened ends. Bad or forged forms change nothing.
#[test]
fn credentials_are_made_once_listed_exported_and_revoked_in_the_console() {
    let (env, secret) = Env::with_ca();
    let token = env.ok(&["admin", "token", "create", "--name", "ops"]);
    let token = token.lines().last().unwrap().trim().to_string();
    let (server, _) = authority(&env);
    let console = format!("{}/console", server.url());
    let browser = Browser {
        env: &env,
        jar: env.tmp.path().join("cookies.txt"),
        client_cert: None,
    };
    let (status, _) = browser.fetch(
        &format!("{console}/login"),
        Some(&format!("token={token}")),
        &[],
    );
    assert_eq!(status, 303);
    let (status, page) = browser.fetch(&format!("{console}/credentials"), None, &[]);
    assert_eq!(status, 200, "{page}");
    accessible(&page);
    assert!(
        page.contains("<code>device</code>"),
        "the label with a secret: {page}"
    );
    assert!(!page.contains(&secret), "never the secret");
    assert!(!page.contains(&token), "never the token");
    let csrf = csrf_of(&page);

    // A new admin token, shown once; a second token's page does not show the first.
    let audit_before = env.ok(&["audit", "verify"]);
    for (form, why) in [
        (format!("csrf={csrf}&name="), "an empty name"),
        (format!("csrf={csrf}&name=console-link"), "a reserved name"),
        (format!("csrf={csrf}&name=a%20b"), "a space"),
        ("name=ci".to_string(), "no CSRF token"),
    ] {
        let (status, body) = browser.fetch(
            &format!("{console}/credentials/admin-tokens"),
            Some(&form),
            &[],
        );
        assert!(status == 400 || status == 403, "{why}: {status} {body}");
        assert!(body.contains("id=\"problem\""), "{why}: {body}");
    }
    assert_eq!(
        env.ok(&["audit", "verify"]),
        audit_before,
        "nothing written"
    );
    let (status, page) = browser.fetch(
        &format!("{console}/credentials/admin-tokens"),
        Some(&format!("csrf={csrf}&name=ci")),
        &[],
    );
    assert_eq!(status, 201, "{page}");
    let made = page
        .split_once("<pre id=\"secret\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(t, _)| t.to_string())
        .unwrap();
    assert!(made.starts_with("inkan_"), "{made}");
    let (_, page) = browser.fetch(&format!("{console}/credentials"), None, &[]);
    assert!(!page.contains(&made), "shown once");
    let (status, _) = browser.fetch(
        &format!("{}/v1/products", server.url()),
        None,
        &["-H", &format!("Authorization: Bearer {made}")],
    );
    assert_eq!(status, 200, "the new token works on /v1");

    // Exports: CSV and JSON of the tokens, ids and names only.
    let (status, csv) = browser.fetch(
        &format!("{console}/credentials?table=admin-tokens&format=csv"),
        None,
        &[],
    );
    assert_eq!(status, 200);
    assert!(
        csv.to_ascii_lowercase().contains("content-type: text/csv"),
        "{csv}"
    );
    assert!(body_of(&csv).starts_with("id,name,created_at\r\n"), "{csv}");
    assert!(!csv.contains(&made));
    let (_, json) = browser.fetch(
        &format!("{console}/credentials?table=admin-tokens&format=json"),
        None,
        &[],
    );
    let tokens: Value = serde_json::from_str(body_of(&json)).unwrap();
    let ci = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = env.ok(&["admin", "token", "list", "--json"]);
    assert!(listed.contains(&ci), "the CLI lists the same: {listed}");
    let (status, _) = browser.fetch(
        &format!("{console}/credentials?table=nope&format=csv"),
        None,
        &[],
    );
    assert_eq!(status, 400);

    // Revoke the new token: /v1 refuses it at once.
    let (status, page) = browser.fetch(
        &format!("{console}/credentials/admin-tokens/{ci}/revoke"),
        Some(&format!("csrf={csrf}")),
        &[],
    );
    assert_eq!(status, 303, "{page}");
    let (status, _) = browser.fetch(
        &format!("{}/v1/products", server.url()),
        None,
        &["-H", &format!("Authorization: Bearer {made}")],
    );
    assert_eq!(status, 401, "a revoked token");
    let (status, _) = browser.fetch(
        &format!("{console}/credentials/admin-tokens/{ci}/revoke"),
        Some(&format!("csrf={csrf}")),
        &[],
    );
    assert_eq!(status, 404, "revoked already");

    // The EST secret: a new one replaces the old, shown once; revoked, EST refuses it.
    let (status, body) = browser.fetch(
        &format!("{console}/credentials/est-secrets"),
        Some(&format!("csrf={csrf}&label=admin")),
        &[],
    );
    assert_eq!(
        status, 400,
        "no EST secret reaches the admin profile: {body}"
    );
    let (status, page) = browser.fetch(
        &format!("{console}/credentials/est-secrets"),
        Some(&format!("csrf={csrf}&label=device")),
        &[],
    );
    assert_eq!(status, 201, "{page}");
    let new_secret = page
        .split_once("<pre id=\"secret\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(t, _)| t.to_string())
        .unwrap();
    let cacerts = |secret: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(env.root_pem())
            .args([
                "-u",
                &format!("x:{secret}"),
                "-H",
                "Content-Type: application/pkcs10",
            ])
            .args(["--data-binary", "not-a-csr"])
            .arg(format!("{}/.well-known/est/simpleenroll", server.url()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(cacerts(&secret), "401", "the old secret is replaced");
    assert_eq!(
        cacerts(&new_secret),
        "400",
        "the new one is accepted (the CSR is junk)"
    );
    let (status, _) = browser.fetch(
        &format!("{console}/credentials/est-secrets/device/revoke"),
        Some(&format!("csrf={csrf}")),
        &["-H", "Origin: https://evil.example"],
    );
    assert_eq!(status, 403, "another site's form");
    let (status, _) = browser.fetch(
        &format!("{console}/credentials/est-secrets/device/revoke"),
        Some(&format!("csrf={csrf}")),
        &[],
    );
    assert_eq!(status, 303);
    assert_eq!(cacerts(&new_secret), "401", "revoked");
    assert!(env.ok(&["est", "secret", "list", "--json"]).trim() == "[]");
    let (_, audit) = browser.fetch(&format!("{console}/audit?format=json"), None, &[]);
    for kind in ["admin.token.revoked", "est.secret.revoked"] {
        assert!(audit.contains(kind), "{kind}: {audit}");
    }
    assert!(audit.contains("console:token:ops"), "{audit}");

    // Revoking the token this session was opened with ends the session.
    let ops = env.ok(&["admin", "token", "list", "--json"]);
    let ops: Value = serde_json::from_str(&ops).unwrap();
    let ops = ops
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ops")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["admin", "token", "revoke", &ops[..12]]);
    let (status, _) = browser.fetch(&format!("{console}/credentials"), None, &[]);
    assert_eq!(status, 303, "to the login page");
}

/// Certificates found by any subject or SAN value (a prefix) and by method, and every table
/// exported as CSV and JSON with the page's filters.
#[test]
fn certificates_are_found_by_name_and_method_and_exported() {
    let (env, secret) = Env::with_ca();
    let token = env.ok(&["admin", "token", "create", "--name", "ops"]);
    let token = token.lines().last().unwrap().trim().to_string();
    let (server, _) = authority(&env);
    let console = format!("{}/console", server.url());
    let (_, serial) = est_device(&env, &server, &secret);
    let browser = Browser {
        env: &env,
        jar: env.tmp.path().join("cookies.txt"),
        client_cert: None,
    };
    browser.fetch(
        &format!("{console}/login"),
        Some(&format!("token={token}")),
        &[],
    );
    for (query, found) in [
        ("name=meter", true),
        ("name=METER-7", true),
        ("name=meter-8", false),
        ("name=meter&method=est-secret", true),
        ("name=meter&method=tpm2", false),
        ("name=meter&level=2", true),
        ("name=meter&level=3", false),
        ("name=localhost", false),
    ] {
        let (status, page) = browser.fetch(&format!("{console}/certificates?{query}"), None, &[]);
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(page.contains(&serial), found, "{query}: {page}");
    }
    // The authority's own certificate is found by its SAN.
    let (_, page) = browser.fetch(&format!("{console}/certificates?name=127.0.0.1"), None, &[]);
    assert!(page.contains("CN=localhost"), "{page}");
    let (status, _) = browser.fetch(
        &format!("{console}/certificates?name={}", "x".repeat(300)),
        None,
        &[],
    );
    assert_eq!(status, 400, "an oversized filter");
    for bad in ["level=5", "level=x", "status=lost", "format=xml"] {
        let (status, _) = browser.fetch(&format!("{console}/certificates?{bad}"), None, &[]);
        assert_eq!(status, 400, "{bad}");
    }

    let (status, csv) = browser.fetch(
        &format!("{console}/certificates?name=meter&format=csv"),
        None,
        &[],
    );
    assert_eq!(status, 200);
    assert!(csv.contains("filename=\"inkan-certificates.csv\""), "{csv}");
    let lines: Vec<&str> = body_of(&csv).lines().collect();
    assert!(
        lines[0].starts_with("serial,subject,sans,profile,method,level,status"),
        "{csv}"
    );
    assert_eq!(lines.len(), 2, "the header and the one device: {csv}");
    assert!(
        lines[1].starts_with(&format!("{serial},CN=meter-7,")),
        "{csv}"
    );
    let (_, json) = browser.fetch(
        &format!("{console}/certificates?format=json&limit=1"),
        None,
        &[],
    );
    assert!(
        json.to_ascii_lowercase()
            .contains("link: </console/certificates?"),
        "{json}"
    );
    let rows: Value = serde_json::from_str(body_of(&json)).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let (status, _) = browser.fetch(&format!("{console}/certificates?format=xml"), None, &[]);
    assert_eq!(status, 400);
    for table in ["audit", "products", "accounts"] {
        let (status, json) = browser.fetch(&format!("{console}/{table}?format=json"), None, &[]);
        assert_eq!(status, 200, "{table}: {json}");
        assert!(
            serde_json::from_str::<Value>(body_of(&json))
                .unwrap()
                .is_array(),
            "{table}"
        );
    }
    let (_, csv) = browser.fetch(&format!("{console}/audit?format=csv"), None, &[]);
    assert!(
        body_of(&csv).starts_with("seq,at,kind,actor,subject,data,hash\r\n"),
        "{csv}"
    );
    // Without a session, no export.
    let stranger = Browser {
        env: &env,
        jar: env.tmp.path().join("none.txt"),
        client_cert: None,
    };
    let (status, _) = stranger.fetch(&format!("{console}/certificates?format=csv"), None, &[]);
    assert_eq!(status, 303);
}

/// `inkan bench console` times the console's pages over HTTPS on a database it fills; a small
/// run keeps it working, and it refuses a data directory that holds a CA.
#[test]
fn bench_console_times_every_page_over_https() {
    let env = Env::new();
    let out = env.ok(&[
        "bench",
        "console",
        "--certificates",
        "300",
        "--requests",
        "3",
        "--json",
    ]);
    let summary: Value = serde_json::from_str(out.trim()).unwrap();
    let pages = summary["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 6, "{summary}");
    for page in pages {
        assert!(page["p99_ms"].as_f64().unwrap() > 0.0, "{page}");
        assert!(page["largest_bytes"].as_u64().unwrap() < 100_000, "{page}");
    }
    let again = env.command(&["bench", "console"]).output().unwrap();
    assert!(!again.status.success(), "a directory with a CA is refused");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("holds a CA"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
