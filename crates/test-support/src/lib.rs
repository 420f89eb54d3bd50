//! inkan-test-support: the harnesses inkan's integration tests share, one module per outside
//! process they run.
//!
//! - [`server`]: a data directory and the real `inkan` binary (`serve`, `gateway`) on an
//!   ephemeral port, waited for by its readiness line, and clients for it.
//! - [`postgres`]: a throw-away PostgreSQL server of a test's own, to stop and restart.
//! - [`swtpm`]: a software TPM 2.0 with EK certificates from a local CA of its own.
//! - [`upstream`]: an HTTP echo server to stand behind a gateway or a proxy.
//! - [`pcsc`]: pcscd of a test's own with a virtual reader and a virtual FeliCa card.
//!
//! The harnesses still to come (Chromium driven over WebDriver) each get a module of their own
//! here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod pcsc;
pub mod postgres;
pub mod server;
pub mod swtpm;
pub mod upstream;
