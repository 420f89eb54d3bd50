//! TPM 2.0-attested enrollment against a real TPM: swtpm driven by tpm2-tools, the authority
//! spoken to with curl. Skips (saying so) only when swtpm or tpm2-tools are not installed.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use inkan_test_support::swtpm::Swtpm;

use super::support::{Env, Server};

mod evidence;

const EK: &str = "0x81010001";
const AK: &str = "0x81000002";
const KEY: &str = "0x81000003";
const EXPORTABLE_KEY: &str = "0x81000004";
const OTHER_KEY: &str = "0x81000005";
const ECC_EK: &str = "0x81010002";
const ECC_AK: &str = "0x81000006";
const SIGN_ATTRS: &str = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign";

/// A swtpm with an RSA EK certificate from its own local CA, and tpm2-tools pointed at it.
struct Tpm {
    swtpm: Swtpm,
    dir: PathBuf,
    tcti: String,
}

impl Tpm {
    fn start() -> Self {
        let swtpm = Swtpm::start();
        Self {
            dir: swtpm.path().to_path_buf(),
            tcti: swtpm.tcti(),
            swtpm,
        }
    }

    /// Runs a tpm2-tools command in the TPM's directory, then flushes transient objects
    /// (there is no resource manager between the tools and swtpm).
    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(args[0])
            .args(&args[1..])
            .env("TPM2TOOLS_TCTI", &self.tcti)
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = Command::new("tpm2_flushcontext")
            .arg("-t")
            .env("TPM2TOOLS_TCTI", &self.tcti)
            .output();
        out.stdout
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }

    /// A TPMT_PUBLIC read from a persistent handle (tpm2-tools writes TPM2B_PUBLIC).
    fn public(&self, handle: &str) -> Vec<u8> {
        let name = format!("pub-{handle}.bin");
        self.run(&["tpm2_readpublic", "-c", handle, "-o", &name]);
        self.file(&name)[2..].to_vec()
    }

    fn make_ak(&self, ek: &str, handle: &str) {
        self.run(&[
            "tpm2_createak",
            "-C",
            ek,
            "-c",
            "ak.ctx",
            "-G",
            "ecc",
            "-g",
            "sha256",
            "-s",
            "ecdsa",
        ]);
        self.run(&["tpm2_evictcontrol", "-C", "o", "-c", "ak.ctx", handle]);
    }

    fn make_key(&self, attributes: &str, handle: &str) {
        self.run(&[
            "tpm2_createprimary",
            "-C",
            "o",
            "-g",
            "sha256",
            "-G",
            "ecc",
            "-c",
            "prim.ctx",
        ]);
        self.run(&[
            "tpm2_create",
            "-C",
            "prim.ctx",
            "-G",
            "ecc256:ecdsa-sha256",
            "-a",
            attributes,
            "-u",
            "key.pub",
            "-r",
            "key.priv",
        ]);
        self.run(&[
            "tpm2_load",
            "-C",
            "prim.ctx",
            "-u",
            "key.pub",
            "-r",
            "key.priv",
            "-c",
            "key.ctx",
        ]);
        self.run(&["tpm2_evictcontrol", "-C", "o", "-c", "key.ctx", handle]);
    }

    /// TPM2_ActivateCredential of an activation response with `ak` under `ek`.
    fn activate(&self, ek: &str, ak: &str, activation: &Value) -> Vec<u8> {
        let blob = B64
            .decode(activation["credential_blob"].as_str().unwrap())
            .unwrap();
        let secret = B64
            .decode(activation["encrypted_secret"].as_str().unwrap())
            .unwrap();
        // tpm2-tools' credential file: magic, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
        let mut file = vec![0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1];
        for part in [&blob, &secret] {
            file.extend_from_slice(&(part.len() as u16).to_be_bytes());
            file.extend_from_slice(part);
        }
        std::fs::write(self.dir.join("cred.in"), file).unwrap();
        self.run(&[
            "tpm2_startauthsession",
            "--policy-session",
            "-S",
            "session.ctx",
        ]);
        self.run(&["tpm2_policysecret", "-S", "session.ctx", "-c", "e"]);
        self.run(&[
            "tpm2_activatecredential",
            "-c",
            ak,
            "-C",
            ek,
            "-i",
            "cred.in",
            "-o",
            "secret.out",
            "-P",
            "session:session.ctx",
        ]);
        self.run(&["tpm2_flushcontext", "session.ctx"]);
        self.file("secret.out")
    }

    /// TPM2_Certify(key, signed by ak, qualifyingData = nonce) as a raw command: tpm2-tools 5.4's
    /// tpm2_certify cannot set qualifying data. Returns (TPMS_ATTEST, TPMT_SIGNATURE).
    fn certify(&self, key: &str, ak: &str, nonce: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let handle = |h: &str| u32::from_str_radix(h.trim_start_matches("0x"), 16).unwrap();
        // Two password sessions (TPM_RS_PW, empty nonce, no attributes, empty password).
        let pw = [0x40, 0, 0, 0x09, 0, 0, 0, 0, 0];
        let mut body = Vec::new();
        body.extend_from_slice(&handle(key).to_be_bytes());
        body.extend_from_slice(&handle(ak).to_be_bytes());
        body.extend_from_slice(&18u32.to_be_bytes());
        body.extend_from_slice(&pw);
        body.extend_from_slice(&pw);
        body.extend_from_slice(&(nonce.len() as u16).to_be_bytes());
        body.extend_from_slice(nonce);
        body.extend_from_slice(&[0x00, 0x18, 0x00, 0x0b]); // ECDSA, SHA-256
        let mut cmd = vec![0x80, 0x02];
        cmd.extend_from_slice(&(10 + body.len() as u32).to_be_bytes());
        cmd.extend_from_slice(&0x148u32.to_be_bytes()); // TPM_CC_Certify
        cmd.extend_from_slice(&body);
        std::fs::write(self.dir.join("certify.cmd"), cmd).unwrap();
        let out = Command::new("tpm2_send")
            .args(["-o", "certify.rsp"])
            .stdin(std::fs::File::open(self.dir.join("certify.cmd")).unwrap())
            .env("TPM2TOOLS_TCTI", &self.tcti)
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tpm2_send: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rsp = self.file("certify.rsp");
        assert_eq!(
            &rsp[6..10],
            &[0, 0, 0, 0],
            "TPM2_Certify failed: {rsp:02x?}"
        );
        let attest_len = u16::from_be_bytes([rsp[14], rsp[15]]) as usize;
        let attest = rsp[16..16 + attest_len].to_vec();
        let sig = &rsp[16 + attest_len..];
        let r_len = u16::from_be_bytes([sig[4], sig[5]]) as usize;
        let s_len = u16::from_be_bytes([sig[6 + r_len], sig[7 + r_len]]) as usize;
        (attest, sig[..8 + r_len + s_len].to_vec())
    }

    /// A DER PKCS#10 for `cn`, signed inside the TPM by the key at `handle`.
    fn csr(&self, handle: &str, cn: &str) -> Vec<u8> {
        let key = TpmKey {
            tpm: self,
            handle: handle.to_string(),
            point: ecc_point(&self.public(handle)),
        };
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.serialize_request(&key).unwrap().der().to_vec()
    }
}

/// The uncompressed point (04 ‖ x ‖ y) of an ECC P-256 TPMT_PUBLIC.
fn ecc_point(public: &[u8]) -> Vec<u8> {
    let n = public.len();
    let (x, y) = (&public[n - 66..n - 34], &public[n - 32..]);
    [&[4u8][..], x, y].concat()
}

struct TpmKey<'a> {
    tpm: &'a Tpm,
    handle: String,
    point: Vec<u8>,
}

impl rcgen::PublicKeyData for TpmKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for TpmKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        std::fs::write(self.tpm.dir.join("tbs.bin"), msg).unwrap();
        self.tpm.run(&[
            "tpm2_sign",
            "-c",
            &self.handle,
            "-g",
            "sha256",
            "-s",
            "ecdsa",
            "-f",
            "tss",
            "-o",
            "tbs.sig",
            "tbs.bin",
        ]);
        // TPMT_SIGNATURE (ECDSA): alg, hash, r, s → DER ECDSA-Sig-Value.
        let sig = self.tpm.file("tbs.sig");
        let r_len = u16::from_be_bytes([sig[4], sig[5]]) as usize;
        let r = &sig[6..6 + r_len];
        let s = &sig[8 + r_len..];
        let int = |v: &[u8]| {
            let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
            let v = if v.first().is_some_and(|b| *b >= 0x80) {
                [&[0u8][..], &v].concat()
            } else {
                v
            };
            [&[0x02, v.len() as u8][..], &v].concat()
        };
        let body = [int(r), int(s)].concat();
        Ok([&[0x30, body.len() as u8][..], &body].concat())
    }
}

/// POSTs JSON with curl; returns (status, body).
fn post(env: &Env, server: &Server, path: &str, body: &Value) -> (u16, Value) {
    curl(
        env,
        server,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body.to_string(),
        ],
        path,
    )
}

fn curl(env: &Env, server: &Server, args: &[&str], path: &str) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", "--cacert"])
        .arg(env.root_pem())
        .args(args)
        .arg(format!("{}{path}", server.url()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn start_server(env: &Env, tpm_section: &str) -> Server {
    std::fs::write(env.data.join("inkan.toml"), format!("[tpm]\n{tpm_section}")).unwrap();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    Server::start(cmd)
}

fn sha256_hex(bytes: &[u8]) -> String {
    inkan_pki::sha256_hex(bytes)
}

fn assert_refused(result: (u16, Value), status: u16, check: &str) {
    let (code, body) = result;
    assert_eq!(code, status, "{body}");
    assert_eq!(body["status"], status, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(check), "expected {check:?} in {detail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_activation_is_gone() {
    let (env, _) = Env::with_ca();
    let fixtures = inkan_pki_fixture_dir();
    let ek = std::fs::read(fixtures.join("ecc_ek_public.bin")).unwrap();
    let ak = std::fs::read(fixtures.join("ak_public.bin")).unwrap();
    let server = start_server(
        &env,
        &format!(
            "ek_allow = [{:?}]\nactivation_ttl = \"1s\"\n",
            sha256_hex(&ek)
        ),
    );
    let (code, activation) = post(
        &env,
        &server,
        "/v1/tpm/activations",
        &json!({
            "ek_public": b64(&ek), "ak_public": b64(&ak),
        }),
    );
    assert_eq!(code, 201, "{activation}");
    std::thread::sleep(Duration::from_millis(1200));
    assert_refused(
        post(
            &env,
            &server,
            "/v1/tpm/enrollments",
            &json!({
                "activation_id": activation["activation_id"], "secret": b64(&[0; 32]), "attest": "",
                "signature": "", "key_public": "", "csr": "",
            }),
        ),
        410,
        "expired",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ek_cannot_hold_more_than_eight_unused_activations() {
    let (env, _) = Env::with_ca();
    let fixtures = inkan_pki_fixture_dir();
    let ek = std::fs::read(fixtures.join("ecc_ek_public.bin")).unwrap();
    let ak = std::fs::read(fixtures.join("ak_public.bin")).unwrap();
    let server = start_server(&env, &format!("ek_allow = [{:?}]\n", sha256_hex(&ek)));
    let body = json!({"ek_public": b64(&ek), "ak_public": b64(&ak)});
    for _ in 0..8 {
        let (code, activation) = post(&env, &server, "/v1/tpm/activations", &body);
        assert_eq!(code, 201, "{activation}");
    }
    // The request needs only an EK the authority trusts, whose certificate is public: it must
    // not grow the database without bound.
    let (code, problem) = post(&env, &server, "/v1/tpm/activations", &body);
    assert_eq!(code, 429, "{problem}");
    assert_eq!(problem["type"], "urn:inkan:problem:activation-limit");
}

fn inkan_pki_fixture_dir() -> PathBuf {
    super::support::repo_root().join("crates/attest/tests/fixtures")
}
