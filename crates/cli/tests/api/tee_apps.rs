//! The key service on a unit: each application gets a certificate of its own that only it
//! (its uid and executable, from the socket's peer credentials) may use; a location report
//! signed with such a key verifies at the authority and with a third-party COSE library
//! (pycose), and a replayed report is refused.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use super::support::{repo_root, Env, Server};
use super::tee::{keyd_args, post, provisioned};

/// `inkan agent keyd serve`, stopped when dropped.
pub(super) struct Keyd {
    child: Child,
    pub(super) socket: PathBuf,
}

impl Keyd {
    fn start(env: &Env, server: &Server, key: &Path) -> Self {
        let state = env.tmp.path().join("keyd");
        Self::start_with(env, &keyd_args(env, server, "unit-1", key, &state))
    }

    /// The key service with these trusted-app arguments (authority, unit, profile, --out...).
    pub(super) fn start_with(env: &Env, ta: &[String]) -> Self {
        // In /tmp itself, so that an application running as another user can reach it; one
        // socket per service, since tests run in parallel in one process.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = PathBuf::from(format!(
            "/tmp/inkan-keyd-test-{}-{n}.sock",
            std::process::id()
        ));
        let mut args = vec![
            "agent",
            "keyd",
            "serve",
            "--socket",
            socket.to_str().unwrap(),
        ];
        args.extend(ta.iter().map(String::as_str));
        let mut child = env.command(&args).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("keyd listening on"), "{line}");
        Self { child, socket }
    }
}

impl Drop for Keyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A client application: `program` (/usr/bin/python3 or perl) sends one request line, prints the
/// answer; `as_nobody` runs it as uid 65534.
pub(super) fn ask(program: &str, socket: &Path, request: &Value, as_nobody: bool) -> Value {
    let code = match program {
        "/usr/bin/python3" => "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.sendall(sys.argv[2].encode()+b'\\n')\nprint(s.makefile().readline(),end='')",
        _ => "use IO::Socket::UNIX; my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die $!; print $s \"$ARGV[1]\\n\"; print scalar <$s>;",
    };
    let flag = if program == "perl" { "-e" } else { "-c" };
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            program,
        ]);
        c
    } else {
        Command::new(program)
    };
    let out = cmd
        .args([flag, code])
        .arg(socket)
        .arg(request.to_string())
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{program}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Debian's Python, which every user may run.
const PYTHON: &str = "/usr/bin/python3";

#[test]
fn only_the_application_that_asked_can_use_its_key() {
    if !nix_root() {
        eprintln!("skipped: needs root to run an application as another user");
        return;
    }
    let (env, _) = Env::with_ca();
    let key = provisioned(&env, "unit-1");
    let server = env.serve();
    let keyd = Keyd::start(&env, &server, &key);

    let enrolled = ask(
        PYTHON,
        &keyd.socket,
        &json!({"op": "enroll", "key": "reporter"}),
        false,
    );
    assert!(enrolled["serial"].is_string(), "{enrolled}");
    assert_eq!(enrolled["level"], 2);
    let sign = json!({"op": "sign", "key": "reporter", "data": B64.encode(b"hello")});
    let signed = ask(PYTHON, &keyd.socket, &sign, false);
    assert!(signed["signature"].is_string(), "{signed}");

    // The same program as another user, and another program as the same user: refused.
    let other_user = ask(PYTHON, &keyd.socket, &sign, true);
    assert!(
        other_user["error"]
            .as_str()
            .unwrap_or("")
            .contains("belongs to another application"),
        "{other_user}"
    );
    let other_program = ask("perl", &keyd.socket, &sign, false);
    assert!(
        other_program["error"]
            .as_str()
            .unwrap_or("")
            .contains("belongs to another application"),
        "{other_program}"
    );
    // Nor can they take the key over by enrolling it again, or read its certificate.
    let takeover = ask(
        "perl",
        &keyd.socket,
        &json!({"op": "enroll", "key": "reporter"}),
        false,
    );
    assert!(takeover["error"].is_string(), "{takeover}");
    let read = ask(
        PYTHON,
        &keyd.socket,
        &json!({"op": "certificate", "key": "reporter"}),
        true,
    );
    assert!(read["error"].is_string(), "{read}");
    // An oversized request line and a client that leaves mid-request are answered or dropped,
    // and the service goes on serving.
    let huge = "x".repeat(70 * 1024);
    let oversized = ask(
        PYTHON,
        &keyd.socket,
        &json!({"op": "sign", "key": "reporter", "data": huge}),
        false,
    );
    assert!(
        oversized["error"]
            .as_str()
            .unwrap_or("")
            .contains("at most 64 KiB"),
        "{oversized}"
    );
    let leaver = Command::new(PYTHON)
        .args([
            "-c",
            "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.sendall(b'{\"op\": \"si')\ns.close()",
        ])
        .arg(&keyd.socket)
        .status()
        .unwrap();
    assert!(leaver.success());
    // Garbage is answered, not fatal.
    let garbage = ask(PYTHON, &keyd.socket, &json!({"op": "format-disk"}), false);
    assert!(
        garbage["error"]
            .as_str()
            .unwrap_or("")
            .contains("bad request"),
        "{garbage}"
    );
    let again = ask(
        PYTHON,
        &keyd.socket,
        &json!({"op": "certificate", "key": "reporter"}),
        false,
    );
    assert!(again["certificate"]
        .as_str()
        .unwrap_or("")
        .contains("BEGIN CERTIFICATE"));
}

fn nix_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn a_location_report_verifies_at_the_authority_and_with_pycose_once() {
    let (env, _) = Env::with_ca();
    let key = provisioned(&env, "unit-1");
    let server = env.serve();
    let keyd = Keyd::start(&env, &server, &key);
    // The reporting application is `inkan agent attest` itself: it asks for its own key.
    let eat = env.tmp.path().join("report.cose");
    let attest = |extra: &[&str]| {
        let url = server.url();
        let root = env.root_pem();
        let mut args = vec![
            "agent",
            "attest",
            "location",
            "--authority",
            &url,
            "--ca-file",
            root.to_str().unwrap(),
            "--socket",
            keyd.socket.to_str().unwrap(),
            "--key",
            "location",
            "--lat",
            "35.6586",
            "--lon",
            "139.7454",
            "--accuracy",
            "12.5",
            "--out",
            eat.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        env.command(&args).output().unwrap()
    };
    let no_key = attest(&[]);
    assert!(!no_key.status.success());
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("no key"));
    let requested = env
        .command(&[
            "agent",
            "keyd",
            "request",
            "--socket",
            keyd.socket.to_str().unwrap(),
            "--key",
            "location",
        ])
        .output()
        .unwrap();
    assert!(
        requested.status.success(),
        "{}",
        String::from_utf8_lossy(&requested.stderr)
    );

    let out = attest(&["--verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict: Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stderr)
            .split_once('{')
            .map(|(_, rest)| format!("{{{rest}"))
            .unwrap()
            .as_str(),
    )
    .unwrap();
    assert_eq!(verdict["verdict"], "accepted", "{verdict}");
    assert_eq!(verdict["uid"], "unit-1");
    assert_eq!(verdict["claims"]["location"]["latitude"], 35.6586);

    // The same report again: its nonce is spent.
    let token = B64.encode(std::fs::read(&eat).unwrap());
    let (status, replay) = post(
        &env,
        &server,
        "/v1/attestations/verify",
        &json!({"eat": token}),
    );
    assert_eq!(status, 200);
    assert_eq!(replay["verdict"], "refused", "{replay}");
    assert!(
        replay["reason"].as_str().unwrap().contains("replay"),
        "{replay}"
    );
    // A changed byte does not verify (or does not parse).
    let mut bytes = std::fs::read(&eat).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 1;
    let (status, forged) = post(
        &env,
        &server,
        "/v1/attestations/verify",
        &json!({"eat": B64.encode(&bytes)}),
    );
    assert!(
        status == 400 || forged["verdict"] == "refused",
        "{status} {forged}"
    );

    // A third-party COSE library verifies it with the device certificate's key.
    let cert = keyd_certificate(&env, &keyd, "location");
    let python = repo_root().join(".venv-test/bin/python");
    let script = "import sys, cbor2\n\
        from cryptography import x509\n\
        from pycose.messages import CoseMessage\n\
        from pycose.keys import EC2Key\n\
        from pycose.keys.curves import P256\n\
        pub = x509.load_pem_x509_certificate(open(sys.argv[1],'rb').read()).public_key().public_numbers()\n\
        msg = CoseMessage.decode(open(sys.argv[2],'rb').read())\n\
        msg.key = EC2Key(crv=P256, x=pub.x.to_bytes(32,'big'), y=pub.y.to_bytes(32,'big'))\n\
        assert msg.verify_signature(), 'signature'\n\
        claims = cbor2.loads(msg.payload)\n\
        print(claims[264][1], claims[264][2], claims[256].hex())\n";
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(&cert)
        .arg(&eat)
        .output()
        .expect("scripts/test installs pycose in .venv-test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.starts_with("35.6586 139.7454 01"), "{printed}");
}

fn keyd_certificate(env: &Env, keyd: &Keyd, key: &str) -> PathBuf {
    let out = env
        .command(&[
            "agent",
            "keyd",
            "request",
            "--socket",
            keyd.socket.to_str().unwrap(),
            "--key",
            key,
            "--show",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = env.tmp.path().join(format!("{key}.pem"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}
