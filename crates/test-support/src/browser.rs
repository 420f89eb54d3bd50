//! A real browser for tests: Debian's headless Chromium driven through chromedriver (WebDriver)
//! by fantoccini. Chromium reaches loopback only: everything else goes to a dead proxy, so a
//! test never depends on, or sends, outside traffic. [`Browser::screenshot`] writes PNGs to
//! `INKAN_SCREENSHOT_DIR` when it is set (`scripts/screenshots` refreshes docs/images that way),
//! else beside the test's other files.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fantoccini::key::Key;
use fantoccini::ClientBuilder;
pub use fantoccini::{Client, Locator};

/// chromedriver and a Chromium session; both end when dropped (call [`Browser::close`] first to
/// end the session cleanly).
pub struct Browser {
    driver: Child,
    pub client: Client,
    shots: PathBuf,
}

/// Whether this machine has Chromium and chromedriver (scripts/test installs them).
pub fn present() -> bool {
    Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium that accepts the test CA's server
    /// certificates (the page under test is what is tested, not its TLS). Screenshots go to
    /// `shots` unless `INKAN_SCREENSHOT_DIR` says otherwise.
    pub async fn start(shots: &Path) -> Self {
        let port = free_port();
        // Its own process group, so the browser it starts goes with it (see Drop).
        let driver = Command::new("/usr/bin/chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver)");
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--ignore-certificate-errors",
                    "--window-size=1200,900",
                    "--proxy-server=127.0.0.1:9",
                    "--proxy-bypass-list=127.0.0.1;localhost;[::1]",
                    "--disable-background-networking",
                    "--no-first-run"
                ]
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver did not start a Chromium session: {e}"),
            }
        };
        let shots = std::env::var_os("INKAN_SCREENSHOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| shots.to_path_buf());
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            driver,
            client,
            shots,
        }
    }

    /// Saves the current page as `NAME.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the Chromium session.
    pub async fn close(self) {
        let Browser { client, .. } = &self;
        let _ = client.clone().close().await;
    }
}

impl Drop for Browser {
    /// Kills chromedriver and every browser process it started (its process group), also
    /// when a test failed before [`Browser::close`].
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
