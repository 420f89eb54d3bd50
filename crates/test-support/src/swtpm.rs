//! A real TPM 2.0 for tests: swtpm on free loopback ports, provisioned by swtpm_setup with an RSA
//! 2048 and an ECC P-384 EK certificate from a local CA of its own (in a temporary directory).
//! Used by the agent's TPM tests and the end-to-end TPM tests of `inkan`; [`tools_present`]
//! tells whether this machine has swtpm and tpm2-tools.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running swtpm; killed when dropped.
pub struct Swtpm {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Swtpm {
    /// Provisions a fresh TPM state with EK certificates and starts swtpm on it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let state = root.join("state");
        let ca = root.join("localca");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(&ca).unwrap();
        std::fs::write(
            root.join("swtpm-localca.conf"),
            format!(
                "statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\ncertserial = {ca}/certserial\n",
                ca = ca.display()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("swtpm_setup.conf"),
            format!(
                "create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {}\ncreate_certs_tool_options = /etc/swtpm-localca.options\nactive_pcr_banks = sha256\n",
                root.join("swtpm-localca.conf").display()
            ),
        )
        .unwrap();
        let out = Command::new("swtpm_setup")
            .args(["--tpm2", "--create-ek-cert", "--tpmstate"])
            .arg(&state)
            .arg("--config")
            .arg(root.join("swtpm_setup.conf"))
            .output()
            .expect("swtpm_setup (Debian package swtpm-tools) is needed");
        assert!(
            out.status.success(),
            "swtpm_setup failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // swtpm binds the ports itself: retry on the rare race with another process.
        for _ in 0..5 {
            let (port, ctrl) = free_ports();
            let mut child = Command::new("swtpm")
                .args(["socket", "--tpm2", "--flags", "not-need-init,startup-clear"])
                .arg("--server")
                .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
                .arg("--tpmstate")
                .arg(format!("dir={}", state.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("swtpm (Debian package swtpm) is needed");
            if wait_for_port(&mut child, port) {
                return Self { child, dir, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("swtpm did not start");
    }

    /// The TCTI string for tss-esapi and tpm2-tools.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// The local CA that issued the EK certificates (an intermediate under its own root).
    pub fn ek_issuer(&self) -> PathBuf {
        self.dir.path().join("localca/issuercert.pem")
    }

    /// The local CA's root.
    pub fn ek_root(&self) -> PathBuf {
        self.dir
            .path()
            .join("localca/swtpm-localca-rootca-cert.pem")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether swtpm, swtpm_setup and the tpm2-tools are installed (Debian packages swtpm,
/// swtpm-tools, tpm2-tools).
pub fn tools_present() -> bool {
    ["swtpm", "swtpm_setup", "tpm2_createak", "tpm2_send"]
        .iter()
        .all(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Ports P and P+1 that were free a moment ago (the swtpm TCTI expects the control channel on
/// the port after the command port).
pub fn free_ports() -> (u16, u16) {
    loop {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", next)).is_ok() {
            return (port, next);
        }
    }
}

/// Polls until `port` accepts connections (true) or the child exits or 10 s pass (false).
pub fn wait_for_port(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
