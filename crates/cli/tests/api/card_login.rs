//! Card logins through the real gateway (docs/cards.md), driven as a browser's requests:
//! levels 1–3 in front of an upstream, wrong PINs locking the card with the alert delivered to
//! a webhook, the rotation window, a revoked card, segment isolation, logout, and what the
//! upstream sees (client-sent identity headers removed). The database holds no PIN and no
//! password.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use inkan_test_support::upstream::{header, Upstream};

use super::support::{Env, Server};

const CARD: &str = "0123456789abcdef";
const USER_CARD: &str = "0123456789abcd01";
const ENTRY_CARD: &str = "fedcba9876543210";
const LOST_CARD: &str = "00112233445566aa";
const GUESSED_CARD: &str = "00112233445566bb";
const PASSWORD: &str = "correct horse battery";

/// A webhook receiver: every POST body it gets, on a channel.
pub(super) struct Webhook {
    child: Child,
    pub(super) port: u16,
    pub(super) bodies: mpsc::Receiver<String>,
}

impl Webhook {
    pub(super) fn start() -> Self {
        let script = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        print(body.decode(), flush=True)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines.next().unwrap().unwrap().trim().parse().unwrap();
        let (tx, bodies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            port,
            bodies,
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser: curl with a cookie jar.
struct Browser<'a> {
    env: &'a Env,
    base: String,
    jar: PathBuf,
}

struct Answer {
    code: u16,
    location: String,
    body: String,
}

impl<'a> Browser<'a> {
    fn new(env: &'a Env, gateway: &Server, name: &str) -> Self {
        Self {
            env,
            base: gateway.url(),
            jar: env.tmp.path().join(format!("{name}.cookies")),
        }
    }

    fn request(&self, path: &str, extra: &[&str]) -> Answer {
        let out = Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code} %{redirect_url}", "--cacert"])
            .arg(self.env.root_pem())
            .arg("-b")
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar)
            .args(extra)
            .arg(format!("{}{path}", self.base))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, tail) = text.rsplit_once('\n').unwrap();
        let (code, location) = tail.split_once(' ').unwrap_or((tail, ""));
        Answer {
            code: code.parse().unwrap(),
            location: location.trim().trim_start_matches(&self.base).to_string(),
            body: body.to_string(),
        }
    }

    fn get(&self, path: &str) -> Answer {
        self.request(path, &[])
    }

    /// Opens the login page for `next` and posts the form with `fields`.
    fn login(&self, next: &str, fields: &[(&str, &str)]) -> Answer {
        let page = self.get(&format!("/_inkan/card/login?next={next}"));
        assert_eq!(page.code, 200, "{}", page.body);
        let token = page
            .body
            .split("name=\"form\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_string();
        let segment = page
            .body
            .split("name=\"segment\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_string();
        let mut args = vec![
            "--data-urlencode".to_string(),
            format!("form={token}"),
            "--data-urlencode".into(),
            format!("next={next}"),
            "--data-urlencode".into(),
            format!("segment={segment}"),
        ];
        for (k, v) in fields {
            args.push("--data-urlencode".into());
            args.push(format!("{k}={v}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.request("/_inkan/card/login", &args)
    }
}

fn pin(env: &Env, segment: &str, idm: &str) -> String {
    env.ok(&["pin", "issue", "--segment", segment, "--idm", idm])
        .trim()
        .to_string()
}

#[test]
fn cards_log_in_by_level_lock_on_guessing_and_stay_in_their_segment() {
    let (env, _) = Env::with_ca();
    env.ok(&[
        "segment",
        "create",
        "physics",
        "--digits",
        "8",
        "--max-card-failures",
        "3",
    ]);
    env.ok(&["segment", "create", "chemistry"]);
    let card_pin = pin(&env, "physics", CARD);
    let user_pin = pin(&env, "physics", USER_CARD);
    let lost_pin = pin(&env, "physics", LOST_CARD);
    let guessed_pin = pin(&env, "physics", GUESSED_CARD);
    env.ok(&[
        "segment",
        "register-card",
        "physics",
        "--idm",
        ENTRY_CARD,
        "--holder",
        "guest-17",
    ]);
    let mut add_user = env.command(&[
        "segment", "add-user", "physics", "--user", "tanaka", "--idm", USER_CARD,
    ]);
    let mut child = add_user.stdin(Stdio::piped()).spawn().unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(child.wait().unwrap().success());

    let upstream = Upstream::start();
    let webhook = Webhook::start();
    let up = format!("http://127.0.0.1:{}", upstream.port);
    let gateway = env.gateway(&format!(
        r#"
[cards]
data_dir = "{data}"
card_presence = false
alert_webhook = "http://127.0.0.1:{hook}/alerts"

[[route]]
path = "/entry"
upstreams = ["{up}"]
auth = ["card"]
segment = "physics"
min_level = 1

[[route]]
path = "/wiki"
upstreams = ["{up}"]
auth = ["card"]
segment = "physics"
min_level = 2

[[route]]
path = "/grades"
upstreams = ["{up}"]
auth = ["card"]
segment = "physics"
min_level = 3

[[route]]
path = "/chem"
upstreams = ["{up}"]
auth = ["card"]
segment = "chemistry"
min_level = 2
"#,
        data = env.data.display(),
        hook = webhook.port,
    ));

    // Without a session: a page load goes to the login page, anything else is 401.
    let alice = Browser::new(&env, &gateway, "alice");
    let first = alice.get("/wiki/page?x=1");
    assert_eq!(first.code, 303);
    assert_eq!(first.location, "/_inkan/card/login?next=/wiki/page%3Fx%3D1");
    assert_eq!(alice.request("/wiki/page", &["-X", "POST"]).code, 401);

    // Level 2: card + PIN. The upstream sees the card, the level and the segment, and none
    // of the identity headers the client sent.
    let login = alice.login("/wiki/page", &[("idm", CARD), ("pin", &card_pin)]);
    assert_eq!(
        (login.code, login.location.as_str()),
        (303, "/wiki/page"),
        "{}",
        login.body
    );
    let page = alice.request(
        "/wiki/page",
        &["-H", "X-Inkan-User: admin", "-H", "X-Inkan-Level: 4"],
    );
    assert_eq!(page.code, 200, "{}", page.body);
    let echo: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(header(&echo, "x-inkan-card-idm"), [CARD]);
    assert_eq!(header(&echo, "x-inkan-card-segment"), ["physics"]);
    assert_eq!(header(&echo, "x-inkan-level"), ["2"]);
    assert_eq!(header(&echo, "x-inkan-method"), ["card"]);
    assert!(
        header(&echo, "x-inkan-user").is_empty(),
        "client-sent identity is removed"
    );
    assert_eq!(
        alice.get("/entry").code,
        200,
        "level 2 covers a level-1 route"
    );
    assert_eq!(alice.get("/grades").code, 403, "level 3 needs the password");

    // Segment isolation: the physics session opens nothing of chemistry, even as its cookie.
    assert_eq!(alice.get("/chem").code, 303);
    let jar = std::fs::read_to_string(&alice.jar).unwrap();
    let token = jar
        .lines()
        .find(|l| l.contains("inkan_card_physics"))
        .and_then(|l| l.split('\t').next_back())
        .unwrap()
        .to_string();
    let forged = alice.request(
        "/chem",
        &["-H", &format!("Cookie: inkan_card_chemistry={token}")],
    );
    assert_eq!(
        forged.code, 303,
        "a session of another segment is no session here"
    );
    let cross = alice.login("/chem", &[("idm", CARD), ("pin", &card_pin)]);
    assert_eq!(cross.code, 401, "a physics PIN is no chemistry PIN");

    // Logout ends the session; the next visit needs a new login.
    let out = alice.request("/_inkan/card/logout?next=/wiki/page", &["-X", "POST"]);
    assert_eq!(out.code, 303);
    assert_eq!(alice.get("/wiki/page").code, 303);
    let replayed = alice.request(
        "/wiki/page",
        &["-H", &format!("Cookie: inkan_card_physics={token}")],
    );
    assert_eq!(replayed.code, 303, "the old cookie is dead");

    // Level 3: card + PIN + password, for the user bound to that card only.
    let bob = Browser::new(&env, &gateway, "bob");
    let wrong = bob.login(
        "/grades",
        &[
            ("idm", USER_CARD),
            ("pin", &user_pin),
            ("user", "tanaka"),
            ("password", "wrong password!"),
        ],
    );
    assert_eq!(wrong.code, 401);
    assert!(wrong.body.contains("not accepted"), "{}", wrong.body);
    let other_card = bob.login(
        "/grades",
        &[
            ("idm", CARD),
            ("pin", &card_pin),
            ("user", "tanaka"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(
        other_card.code, 401,
        "tanaka logs in with tanaka's card only"
    );
    let ok = bob.login(
        "/grades",
        &[
            ("idm", USER_CARD),
            ("pin", &user_pin),
            ("user", "tanaka"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(ok.code, 303, "{}", ok.body);
    let echo: serde_json::Value = serde_json::from_str(&bob.get("/grades").body).unwrap();
    assert_eq!(header(&echo, "x-inkan-user"), ["tanaka"]);
    assert_eq!(header(&echo, "x-inkan-level"), ["3"]);

    // Level 1: a registered card alone (an entry list); an unregistered one is refused.
    let guest = Browser::new(&env, &gateway, "guest");
    assert_eq!(
        guest.login("/entry", &[("idm", "0000000000000001")]).code,
        401
    );
    assert_eq!(guest.login("/entry", &[("idm", ENTRY_CARD)]).code, 303);
    let echo: serde_json::Value = serde_json::from_str(&guest.get("/entry").body).unwrap();
    assert_eq!(header(&echo, "x-inkan-level"), ["1"]);
    assert_eq!(header(&echo, "x-inkan-user"), ["guest-17"]);
    assert_eq!(
        guest.get("/wiki").code,
        403,
        "a level-1 session is not enough for level 2"
    );

    // A revoked card is refused, even with the PIN it was given.
    env.ok(&["segment", "revoke-card", "physics", "--idm", LOST_CARD]);
    let lost = Browser::new(&env, &gateway, "lost");
    assert_eq!(
        lost.login("/wiki", &[("idm", LOST_CARD), ("pin", &lost_pin)])
            .code,
        401
    );

    // A forged form token is refused before anything is counted.
    let forged_form = lost.request(
        "/_inkan/card/login",
        &[
            "--data",
            &format!("form=x&next=/wiki&segment=physics&idm={CARD}&pin={card_pin}"),
        ],
    );
    assert_eq!(forged_form.code, 403);

    // Guessing: the third wrong PIN locks the card and the webhook hears of it within 5 s;
    // then even the right PIN is refused until an administrator unlocks the card.
    let mallory = Browser::new(&env, &gateway, "mallory");
    let wrong_pin = if guessed_pin == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    for _ in 0..2 {
        assert_eq!(
            mallory
                .login("/wiki", &[("idm", GUESSED_CARD), ("pin", wrong_pin)])
                .code,
            401
        );
    }
    let locked_at = Instant::now();
    assert_eq!(
        mallory
            .login("/wiki", &[("idm", GUESSED_CARD), ("pin", wrong_pin)])
            .code,
        401
    );
    let alert = webhook
        .bodies
        .recv_timeout(Duration::from_secs(5))
        .expect("the alert within 5 s");
    let delay = locked_at.elapsed();
    let alert: serde_json::Value = serde_json::from_str(&alert).unwrap();
    assert_eq!(alert["event"], "card.locked");
    assert_eq!(alert["idm"], GUESSED_CARD);
    assert_eq!(alert["segment"], "physics");
    eprintln!(
        "lockout alert delivered {} ms after the locking attempt",
        delay.as_millis()
    );
    let refused = mallory.login("/wiki", &[("idm", GUESSED_CARD), ("pin", &guessed_pin)]);
    assert_eq!(refused.code, 403);
    assert!(refused.body.contains("locked"), "{}", refused.body);
    let attempts = env.ok(&["segment", "attempts", "physics", "--json"]);
    assert!(
        attempts.contains(&format!("card:{GUESSED_CARD}")),
        "{attempts}"
    );
    console_sees_the_lock_and_unlocks_it(&env, &lost_pin);
    assert_eq!(
        mallory
            .login("/wiki", &[("idm", GUESSED_CARD), ("pin", &guessed_pin)])
            .code,
        303
    );

    // The yearly rotation: in the renewal window the old PIN and the new one both work.
    env.ok(&["segment", "rotate", "physics", "--window", "14d"]);
    let new_pin = pin(&env, "physics", CARD);
    assert_ne!(new_pin, card_pin);
    for (name, p) in [("old", &card_pin), ("new", &new_pin)] {
        let b = Browser::new(&env, &gateway, name);
        assert_eq!(
            b.login("/wiki", &[("idm", CARD), ("pin", p)]).code,
            303,
            "{name} PIN"
        );
    }

    // Every login and failure is in the audit log, which is intact; the database holds no
    // PIN and no password.
    let kinds = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; print([r[0] for r in sqlite3.connect(sys.argv[1]).execute('SELECT kind FROM audit_events')])",
        ])
        .arg(env.data.join("inkan.db"))
        .output()
        .unwrap();
    let audit = String::from_utf8_lossy(&kinds.stdout).replace('\'', "\"");
    for kind in [
        "card.login",
        "card.login.failed",
        "card.locked",
        "card.unlocked",
    ] {
        assert!(audit.contains(&format!("\"{kind}\"")), "{kind}");
    }
    env.ok(&["audit", "verify"]);
    drop(gateway);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&env.data).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("inkan.db")
        {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    assert!(!bytes.is_empty());
    let text = String::from_utf8_lossy(&bytes);
    for secret in [&card_pin, &user_pin, &new_pin, &PASSWORD.to_string()] {
        assert!(!text.contains(secret.as_str()), "a secret in the database");
    }
}

/// The administrator's side, on the authority's console over the same data directory the
/// gateway uses: the overview alerts, the segment page lists the locked card and unlocks it,
/// and hands out a PIN once (the same as `inkan pin issue`); forged or malformed forms change
/// nothing.
fn console_sees_the_lock_and_unlocks_it(env: &Env, lost_pin: &str) {
    let token = env.ok(&["admin", "token", "create", "--name", "dept-admin"]);
    let token = token.lines().last().unwrap().trim().to_string();
    let server = Server::start(env.command(&["serve", "--listen", "127.0.0.1:0"]));
    let admin = Browser {
        env,
        base: server.url(),
        jar: env.tmp.path().join("admin.cookies"),
    };
    let login = admin.request("/console/login", &["--data", &format!("token={token}")]);
    assert_eq!(login.code, 303, "{}", login.body);
    let overview = admin.get("/console");
    assert!(
        overview.body.contains("locked after failed card logins"),
        "{}",
        overview.body
    );
    let list = admin.get("/console/segments");
    assert!(
        list.body.contains(&format!("card:{GUESSED_CARD}")),
        "{}",
        list.body
    );
    let page = admin.get("/console/segments/physics");
    assert_eq!(page.code, 200);
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .map(|rest| rest[..64].to_string())
        .unwrap();
    let before = env.ok(&["audit", "verify"]);
    let subject = format!("subject=card:{GUESSED_CARD}");
    for (path, form, code) in [
        ("unlock", format!("csrf=forged&{subject}"), 403),
        ("unlock", format!("csrf={csrf}&subject=card:0123"), 400),
        ("unlock", format!("csrf={csrf}&subject=someone"), 400),
        ("pin", format!("csrf={csrf}&idm=zz"), 400),
        ("pin", format!("csrf={csrf}&idm={LOST_CARD}"), 400),
        (
            "revoke-card",
            format!("csrf={csrf}&idm={LOST_CARD}&reason=lost"),
            409,
        ),
    ] {
        let answer = admin.request(
            &format!("/console/segments/physics/{path}"),
            &["--data", &form],
        );
        assert_eq!(answer.code, code, "{path} {form}: {}", answer.body);
    }
    assert_eq!(
        env.ok(&["audit", "verify"]),
        before,
        "refusals write nothing"
    );
    let unlocked = admin.request(
        "/console/segments/physics/unlock",
        &["--data", &format!("csrf={csrf}&{subject}")],
    );
    assert_eq!(unlocked.code, 303, "{}", unlocked.body);
    assert!(!admin
        .get("/console/segments")
        .body
        .contains(&format!("card:{GUESSED_CARD}")));
    let issued = admin.request(
        "/console/segments/physics/pin",
        &["--data", &format!("csrf={csrf}&idm={CARD}")],
    );
    assert_eq!(issued.code, 200);
    let shown = issued
        .body
        .split("<pre id=\"pin\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap();
    assert_eq!(
        shown,
        pin(env, "physics", CARD),
        "the console's PIN is the CLI's"
    );
    assert_ne!(shown, lost_pin);
    assert!(
        !admin.get("/console/segments/physics").body.contains(shown),
        "shown once"
    );
}
