//! The TPM backend against a real TPM 2.0 (swtpm, provisioned with an EK certificate by
//! swtpm_setup's local CA), checked with tpm2-tools and openssl.
#![cfg(feature = "tpm")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;

use inkan_agent::tpm::{
    build_csr, name_of, open_delivery_parts, parse_handle, Tpm, TpmSigningKey, SRK_HANDLE,
};
use inkan_test_support::swtpm::{self, Swtpm};
use tss_esapi::structures::Attest;
use tss_esapi::traits::UnMarshall;

mod attestation;
mod signing;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A test CA (files in `dir`: ca.pem, server.pem, server.key, client.pem) with a server
/// certificate for localhost and a client certificate (CN tpm-client) for the TPM key.
struct TestPki {
    ca_der: Vec<u8>,
    client_der: Vec<u8>,
}

impl TestPki {
    fn new(dir: &std::path::Path, client_key: &TpmSigningKey) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "tpm-client");
        let client = client_params.signed_by(client_key, &issuer).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
        std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
        std::fs::write(dir.join("client.pem"), client.pem()).unwrap();
        Self {
            ca_der: ca_cert.der().to_vec(),
            client_der: client.der().to_vec(),
        }
    }
}

/// `openssl s_server -Verify 1 -www`: TLS that requires a client certificate from the test CA.
struct SServer {
    child: std::process::Child,
    port: u16,
}

impl SServer {
    fn start(dir: &std::path::Path) -> Self {
        for _ in 0..5 {
            let (port, _) = swtpm::free_ports();
            let mut child = Command::new("openssl")
                .args([
                    "s_server",
                    "-quiet",
                    "-www",
                    "-Verify",
                    "1",
                    "-verify_return_error",
                ])
                .args(["-accept", &format!("127.0.0.1:{port}")])
                .arg("-cert")
                .arg(dir.join("server.pem"))
                .arg("-key")
                .arg(dir.join("server.key"))
                .arg("-CAfile")
                .arg(dir.join("ca.pem"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            if swtpm::wait_for_port(&mut child, port) {
                return Self { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("openssl s_server did not start");
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tpm2b_split(bytes: &[u8]) -> (&[u8], &[u8]) {
    let size = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
    (&bytes[2..2 + size], &bytes[2 + size..])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
