//! A real browser for the console's tests: Debian's Chromium, driven over WebDriver by its
//! ChromeDriver (`/usr/bin/chromium`, `/usr/bin/chromedriver`; `scripts/test` installs both),
//! and axe-core for accessibility (installed by `scripts/test` under `target/browser`).
//!
//! Nothing is skipped: without the browser, its driver or axe-core a test fails and says what
//! to install.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::repository_root;

/// Where Debian puts them.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The window tests use unless they resize it: a laptop's.
pub const LAPTOP: (u32, u32) = (1280, 900);

/// One browser at a time: a machine with two cores runs one Chromium well, several badly.
static TURN: std::sync::LazyLock<Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

/// A headless Chromium with its own profile folder, and the ChromeDriver that drives it.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    _profile: TempDir,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Browser {
    /// Starts ChromeDriver on a free loopback port and a new headless Chromium through it.
    pub async fn start() -> Self {
        let turn = TURN.clone().lock_owned().await;
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: install Debian's {package} (scripts/test does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("a browser profile folder");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    // Tests run as root in containers, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    // Only loopback is tested; whatever proxy the machine names is not used.
                    "--no-proxy-server",
                    "--disable-extensions",
                    "--lang=en-US",
                    format!("--window-size={},{}", LAPTOP.0, LAPTOP.1),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connected = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match connected {
                Ok(client) => break client,
                Err(error) if Instant::now() > deadline => {
                    panic!("chromedriver on port {port} gave no browser in 30 s: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Self {
            client,
            driver,
            _profile: profile,
            _turn: turn,
        }
    }

    /// Goes to `url` and waits for the page.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page loads");
    }

    /// The text of the page's `<main>`.
    pub async fn main_text(&self) -> String {
        self.client
            .find(Locator::Css("main"))
            .await
            .expect("the page has a main element")
            .text()
            .await
            .expect("its text")
    }

    /// Types `value` into the field `css` names, replacing what it held.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no field {css}: {e}"));
        field.clear().await.expect("clear the field");
        field.send_keys(value).await.expect("type into the field");
    }

    /// Clicks the radio button or checkbox `css` names (which leads to no other page).
    pub async fn tick(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing to tick at {css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// Chooses the option of value `value` in the list `css` names.
    pub async fn select(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no list {css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("no option {value:?} in {css}: {e}"));
    }

    /// Clicks what `css` names (a link or a form's button) and waits until the page it leads
    /// to has loaded.
    pub async fn click(&self, css: &str) {
        // The page before the click carries a mark; the next one does not.
        self.client
            .execute("window.switchyardPageBefore = true;", Vec::new())
            .await
            .expect("mark the page");
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing to click at {css}: {e}"))
            .click()
            .await
            .expect("click");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let loaded = self
                .client
                .execute(
                    "return !window.switchyardPageBefore && document.readyState === 'complete';",
                    Vec::new(),
                )
                .await;
            if loaded.is_ok_and(|done| done == Value::Bool(true)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clicking {css} led to no page in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether anything on the page matches `css`.
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("search the page")
            .is_empty()
    }

    /// Runs axe-core on the page; returns its violations of `serious` or `critical` impact,
    /// each as `rule: help (elements)`, and prints the lesser ones.
    pub async fn accessibility_problems(&self) -> Vec<String> {
        let source = std::fs::read_to_string(axe_path()).unwrap_or_else(|e| {
            panic!(
                "axe-core is missing at {} ({e}): scripts/test installs it",
                axe_path().display()
            )
        });
        self.client
            .execute(&format!("{source}\nreturn true;"), Vec::new())
            .await
            .expect("load axe-core into the page");
        let violations = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(result => done(result.violations.map(v => ({
                     id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map(n => n.target.join(' '))
                   }))))
                   .catch(error => done([{ id: 'axe-failed', impact: 'critical',
                                           help: String(error), nodes: [] }]));",
                Vec::new(),
            )
            .await
            .expect("run axe-core");
        let mut serious = Vec::new();
        for violation in violations.as_array().into_iter().flatten() {
            let text = format!(
                "{}: {} ({})",
                violation["id"].as_str().unwrap_or_default(),
                violation["help"].as_str().unwrap_or_default(),
                violation["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            match violation["impact"].as_str() {
                Some("serious" | "critical") => serious.push(text),
                impact => eprintln!("axe-core, {}: {text}", impact.unwrap_or("no impact")),
            }
        }
        serious
    }

    /// Saves a screenshot of the window as `name`.png under `target/screenshots`, and under
    /// `docs/screenshots` (the README's) when `SWITCHYARD_UPDATE_SCREENSHOTS` is set.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("take a screenshot");
        let mut folders = vec![repository_root().join("target/screenshots")];
        if std::env::var_os("SWITCHYARD_UPDATE_SCREENSHOTS").is_some() {
            folders.push(repository_root().join("docs/screenshots"));
        }
        for folder in folders {
            std::fs::create_dir_all(&folder).expect("a screenshot folder");
            std::fs::write(folder.join(format!("{name}.png")), &png).expect("save the screenshot");
        }
    }

    /// Ends the session; the driver ends when this is dropped.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that panicked leaves no driver behind; Chromium ends with its driver.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// axe-core's browser build, as `scripts/test` installs it.
fn axe_path() -> PathBuf {
    repository_root().join("target/browser/node_modules/axe-core/axe.min.js")
}
