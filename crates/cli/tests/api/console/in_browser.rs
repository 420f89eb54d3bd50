//! The console in a real browser (Debian's headless Chromium through chromedriver): log in with
//! an administrator token, find a certificate by its serial, revoke it with a reason, see OCSP
//! say revoked and the audit log verified. The screenshots in docs/console.md come from here
//! (`scripts/screenshots`).

use inkan_test_support::browser::{self, Browser, Key, Locator};

use super::{authority, est_device, ocsp_status};
use crate::api::support::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_revokes_a_certificate_in_chromium() {
    assert!(
        browser::present(),
        "Chromium and chromedriver are missing: scripts/test installs them (apt-get install chromium chromium-driver)"
    );
    let (env, secret) = Env::with_ca();
    let token = env.ok(&["admin", "token", "create", "--name", "ops"]);
    let token = token.lines().last().unwrap().trim().to_string();
    let (server, http) = authority(&env);
    let (device, serial) = est_device(&env, &server, &secret);
    let console = format!("{}/console", server.url());
    let browser = Browser::start(&env.tmp.path().join("screenshots")).await;
    let page = &browser.client;

    // Not logged in: the certificates page sends to the login form.
    page.goto(&format!("{console}/certificates")).await.unwrap();
    assert!(page
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/login"));
    browser.screenshot("console-login").await;
    // With the keyboard only: Tab to the token field, type it, Enter.
    let mut tabs = 0;
    loop {
        let focused = page.active_element().await.unwrap();
        if focused.attr("id").await.unwrap().as_deref() == Some("token") {
            focused
                .send_keys(&format!("{token}{}", char::from(Key::Enter)))
                .await
                .unwrap();
            break;
        }
        tabs += 1;
        assert!(tabs < 12, "the token field is not reachable with Tab");
        focused
            .send_keys(&char::from(Key::Tab).to_string())
            .await
            .unwrap();
    }
    page.wait()
        .for_element(Locator::XPath("//h2[text()='Latest certificates']"))
        .await
        .unwrap();
    let overview = page.source().await.unwrap();
    assert!(overview.contains("Latest certificates"), "{overview}");
    assert!(overview.contains(&serial), "{overview}");
    browser.screenshot("console-overview").await;

    // Find it by its serial.
    page.goto(&format!("{console}/certificates")).await.unwrap();
    page.find(Locator::Css("#serial"))
        .await
        .unwrap()
        .send_keys(&serial)
        .await
        .unwrap();
    page.find(Locator::Css("form.filters button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::XPath("//h2[text()='Evidence']"))
        .await
        .unwrap();
    assert!(page
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with(&format!("/console/certificates/{serial}")));
    let detail = page.source().await.unwrap();
    assert!(detail.contains("CN=meter-7"), "{detail}");
    browser.screenshot("console-certificate").await;

    // Revoke it, superseded.
    page.find(Locator::Css("#reason"))
        .await
        .unwrap()
        .select_by_value("superseded")
        .await
        .unwrap();
    page.find(Locator::Css("form[action$='/revoke'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::Css("p.notice"))
        .await
        .unwrap();
    let revoked = page.source().await.unwrap();
    assert!(revoked.contains("Revoked (1 in all"), "{revoked}");
    assert!(revoked.contains("superseded"), "{revoked}");
    browser.screenshot("console-revoked").await;
    assert!(ocsp_status(&env, &device.join("cert.pem"), &http).contains(": revoked"));

    // The audit log, verified, names the administrator.
    page.goto(&format!("{console}/audit?verify=1"))
        .await
        .unwrap();
    let audit = page.source().await.unwrap();
    assert!(audit.contains("Intact:"), "{audit}");
    assert!(audit.contains("console:token:ops"), "{audit}");
    browser.screenshot("console-audit").await;

    // A product made in the form: the bundle downloads, the list shows it.
    page.goto(&format!("{console}/products")).await.unwrap();
    page.find(Locator::Css("#name"))
        .await
        .unwrap()
        .send_keys("thermostat")
        .await
        .unwrap();
    page.find(Locator::Css("#max_devices"))
        .await
        .unwrap()
        .send_keys("5000")
        .await
        .unwrap();
    page.find(Locator::Css("form[action='/console/products'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let made = std::time::Instant::now();
    while !env
        .ok(&["product", "list", "--json"])
        .contains("thermostat")
    {
        assert!(
            made.elapsed() < std::time::Duration::from_secs(20),
            "no product made"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    page.goto(&format!("{console}/products")).await.unwrap();
    let products = page.source().await.unwrap();
    assert!(products.contains("thermostat"), "{products}");
    assert!(products.contains("0 of 5000"), "{products}");
    browser.screenshot("console-products").await;

    // The list follows the name box as it is typed (htmx, served by the authority under its
    // CSP), with no submit.
    page.goto(&format!("{console}/certificates?name=zzz"))
        .await
        .unwrap();
    assert!(page.source().await.unwrap().contains("No certificates."));
    let name = page.find(Locator::Css("#name")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("METER-").await.unwrap();
    page.wait()
        .for_element(Locator::XPath(&format!(
            "//div[@id='results']//code[text()='{serial}']"
        )))
        .await
        .unwrap();
    // The address follows the search (hx-push-url), so the page can be bookmarked.
    let pushed = std::time::Instant::now();
    while !page
        .current_url()
        .await
        .unwrap()
        .query()
        .unwrap_or_default()
        .contains("name=METER-")
    {
        assert!(
            pushed.elapsed() < std::time::Duration::from_secs(5),
            "the address did not follow the search"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    browser.screenshot("console-search").await;

    // Credentials: a token made here is shown once; a forged form is refused in words, inline.
    page.goto(&format!("{console}/credentials")).await.unwrap();
    page.execute(
        "document.querySelector('form[action$=\"/admin-tokens\"] input[name=csrf]').value = '0'.repeat(64);",
        vec![],
    )
    .await
    .unwrap();
    page.find(Locator::Css("#token_name"))
        .await
        .unwrap()
        .send_keys("forged")
        .await
        .unwrap();
    page.find(Locator::Css("form[action$='/admin-tokens'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let problem = page
        .wait()
        .for_element(Locator::Css("#problem p.broken"))
        .await
        .unwrap();
    let why = problem.text().await.unwrap();
    assert!(why.contains("token"), "{why}");
    assert!(
        !env.ok(&["admin", "token", "list"]).contains("forged"),
        "nothing made"
    );
    page.goto(&format!("{console}/credentials")).await.unwrap();
    page.find(Locator::Css("#token_name"))
        .await
        .unwrap()
        .send_keys(&format!("ci{}", char::from(Key::Enter)))
        .await
        .unwrap();
    let shown = page
        .wait()
        .for_element(Locator::Css("#secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.starts_with("inkan_"), "{shown}");
    browser.screenshot("console-credentials").await;
    browser.close().await;
}
