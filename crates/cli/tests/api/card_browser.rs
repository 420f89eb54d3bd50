//! Card logins in a real browser (Debian's headless Chromium) through the real gateway, with
//! the real card helper reading a virtual FeliCa card through pcscd + vpcd: levels 1, 2 and 3,
//! a wrong PIN, and the session ending when the card leaves the reader. The screenshots in
//! docs/cards.md come from here (`scripts/screenshots`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use inkan_test_support::browser::{self, Browser, Client, Locator};
use inkan_test_support::pcsc::{tools_present, VirtualReader};
use inkan_test_support::upstream::Upstream;

use super::support::{binary, Env};

const CARD: &str = "0123456789abcdef";
const PMM: &str = "0120220427674eff";
const USER_CARD: &str = "0123456789abcd01";
const ENTRY_CARD: &str = "fedcba9876543210";
const GUESSED_CARD: &str = "00112233445566bb";
const PASSWORD: &str = "correct horse battery";

/// `inkan agent card` for `origin`, reading `reader`, reporting to the gateway.
struct Helper(Child);

impl Helper {
    fn start(env: &Env, reader: &VirtualReader, port: u16, origin: &str) -> Self {
        let (name, value) = reader.socket_env();
        let mut child = Command::new(binary())
            .args(["agent", "card", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--origin", origin, "--reader", reader.reader()])
            .arg("--gateway-ca")
            .arg(env.root_pem())
            .env(name, value)
            .env("INKAN_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("card helper listening"), "{line}");
        Self(child)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pin(env: &Env, idm: &str) -> String {
    env.ok(&["pin", "issue", "--segment", "physics", "--idm", idm])
        .trim()
        .to_string()
}

async fn path(page: &Client) -> String {
    page.current_url().await.unwrap().path().to_string()
}

/// Waits until the login page shows the card on the reader.
async fn card_shown(page: &Client, idm: &str) {
    page.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#card[data-state='present']"))
        .await
        .unwrap();
    let shown = page
        .find(Locator::Css("#card"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains(idm), "{shown}");
}

async fn type_into(page: &Client, css: &str, text: &str) {
    page.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// Submits the login form and waits until the page it was on is gone, so what is looked for
/// next is looked for on the answer, not on the page before it.
async fn submit(page: &Client) {
    let button = page.find(Locator::Css("#submit")).await.unwrap();
    button.click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while button.is_enabled().await.is_ok() {
        assert!(Instant::now() < deadline, "the form was not submitted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the browser is at `want` (the bound page goes on by itself).
async fn arrive(page: &Client, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while path(page).await != want {
        assert!(
            Instant::now() < deadline,
            "still at {}: {}",
            path(page).await,
            page.source().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_user_logs_in_with_card_and_pin_in_chromium() {
    assert!(
        browser::present(),
        "Chromium and chromedriver are missing: scripts/test installs them"
    );
    assert!(
        tools_present(),
        "pcscd, vsmartcard-vpcd, libpcsc-perl or root are missing: scripts/test installs them"
    );
    let (env, _) = Env::with_ca();
    env.ok(&["segment", "create", "physics", "--max-card-failures", "3"]);
    let card_pin = pin(&env, CARD);
    let user_pin = pin(&env, USER_CARD);
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
    let webhook = super::card_login::Webhook::start();
    let up = format!("http://127.0.0.1:{}", upstream.port);
    let helper_port = free_port();
    let gateway = env.gateway(&format!(
        r#"
[cards]
data_dir = "{data}"
helper = "http://127.0.0.1:{helper_port}"
presence_timeout = "10s"
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
"#,
        data = env.data.display(),
        hook = webhook.port,
    ));
    let origin = gateway.url();
    let mut reader = VirtualReader::start();
    let _helper = Helper::start(&env, &reader, helper_port, &origin);
    let browser = Browser::start(&env.tmp.path().join("screenshots")).await;
    let page = &browser.client;

    // Level 2. The site sends to the login page, which finds the card through the helper.
    page.goto(&format!("{origin}/wiki")).await.unwrap();
    assert_eq!(path(page).await, "/_inkan/card/login");
    reader.insert(CARD, PMM);
    // The administrator's `inkan pin issue --reader` reads the same card to the same PIN.
    let (name, value) = reader.socket_env();
    let read = env
        .command(&[
            "pin",
            "issue",
            "--segment",
            "physics",
            "--reader",
            reader.reader(),
        ])
        .env(name, value)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&read.stdout).trim(), card_pin);
    card_shown(page, CARD).await;
    // A wrong PIN: refused in words, counted.
    let wrong = if card_pin == "000000" {
        "111111"
    } else {
        "000000"
    };
    type_into(page, "#pin", wrong).await;
    browser.screenshot("cards-login").await;
    submit(page).await;
    page.wait()
        .for_element(Locator::Css("#problem"))
        .await
        .unwrap();
    let refused = page
        .find(Locator::Css("#problem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refused.contains("not accepted"), "{refused}");
    card_shown(page, CARD).await;
    browser.screenshot("cards-refused").await;
    type_into(page, "#pin", &card_pin).await;
    submit(page).await;
    arrive(page, "/wiki").await;
    let body = page.source().await.unwrap();
    assert!(body.contains(CARD), "the upstream sees the card: {body}");
    assert!(body.contains("x-inkan-level"), "{body}");

    // Taking the card off the reader ends the session: the next page load is the login page.
    let removed = Instant::now();
    reader.remove();
    loop {
        page.goto(&format!("{origin}/wiki")).await.unwrap();
        if path(page).await == "/_inkan/card/login" {
            break;
        }
        assert!(
            removed.elapsed() < Duration::from_secs(15),
            "the session outlived the card"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "session ended {} ms after the card left the reader",
        removed.elapsed().as_millis()
    );

    // Level 3: card, PIN, user and password.
    page.goto(&format!("{origin}/grades")).await.unwrap();
    reader.insert(USER_CARD, PMM);
    card_shown(page, USER_CARD).await;
    type_into(page, "#pin", &user_pin).await;
    type_into(page, "#user", "tanaka").await;
    type_into(page, "#password", PASSWORD).await;
    browser.screenshot("cards-level3").await;
    submit(page).await;
    arrive(page, "/grades").await;
    assert!(page.source().await.unwrap().contains("tanaka"));

    // Level 1: a registered card alone opens the entry page.
    page.goto(&format!("{origin}/entry")).await.unwrap();
    reader.insert(ENTRY_CARD, PMM);
    page.goto(&format!("{origin}/_inkan/card/login?next=/entry"))
        .await
        .unwrap();
    card_shown(page, ENTRY_CARD).await;
    assert!(
        page.find(Locator::Css("#pin")).await.is_err(),
        "level 1 asks for no PIN"
    );
    submit(page).await;
    arrive(page, "/entry").await;
    assert!(page.source().await.unwrap().contains("guest-17"));

    // Guessing a PIN: the third wrong one locks the card, the webhook hears of it, and the
    // page says so — also for the right PIN.
    reader.insert(GUESSED_CARD, PMM);
    page.goto(&format!("{origin}/_inkan/card/login?next=/wiki"))
        .await
        .unwrap();
    let right = pin(&env, GUESSED_CARD);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for attempt in 0..4 {
        card_shown(page, GUESSED_CARD).await;
        type_into(page, "#pin", if attempt < 3 { wrong } else { &right }).await;
        submit(page).await;
        page.wait()
            .for_element(Locator::Css("#problem"))
            .await
            .unwrap();
    }
    let problem = page
        .find(Locator::Css("#problem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(problem.contains("locked"), "{problem}");
    browser.screenshot("cards-locked").await;
    let alert = webhook
        .bodies
        .recv_timeout(Duration::from_secs(5))
        .expect("the lockout alert within 5 s");
    assert!(alert.contains(GUESSED_CARD), "{alert}");
    browser.close().await;
    env.ok(&["audit", "verify"]);
}
