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

#[test]
fn ek_certificate_matches_the_default_template_ek_and_ak_is_restricted() {
    let swtpm = Swtpm::start();
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let ek = tpm.endorsement().unwrap();
    let cert = ek
        .certificate
        .clone()
        .expect("swtpm_setup provisioned an EK certificate");
    // swtpm 0.7 provisions RSA 2048 and ECC P-384 certificates, so the RSA 2048 EK is used.
    let tss_esapi::structures::Public::Rsa { unique, .. } = &ek.public else {
        panic!("expected the RSA EK, got {:?}", ek.public);
    };
    let modulus = unique.value();
    assert_eq!(modulus.len(), 256);
    assert!(
        cert.windows(modulus.len()).any(|w| w == modulus),
        "the EK certificate is for the EK created from the default template"
    );
    // The certificate chains to swtpm's local CA.
    let dir = tempfile::tempdir().unwrap();
    let der = dir.path().join("ek.der");
    std::fs::write(&der, &cert).unwrap();
    let pem = dir.path().join("ek.pem");
    run(Command::new("openssl")
        .args(["x509", "-inform", "der", "-in"])
        .arg(&der)
        .arg("-out")
        .arg(&pem));
    run(Command::new("openssl")
        .args(["verify", "-partial_chain", "-CAfile"])
        .arg(swtpm.ek_issuer())
        .arg(&pem));

    let ak = tpm.attestation_key(&ek).unwrap();
    let attributes = ak.public.object_attributes();
    assert!(attributes.restricted() && attributes.sign_encrypt() && attributes.fixed_tpm());
    assert!(!attributes.decrypt());
    assert_eq!(
        ak.public.name_hashing_algorithm(),
        tss_esapi::interface_types::algorithm::HashingAlgorithm::Sha256
    );
}

/// A TPM with an ECC P-256 EK certificate (NV 0x01c0000a, provisioned here with tpm2-tools and a
/// test CA, as swtpm 0.7 only makes P-384 ones) gets the ECC EK, and activation works with it.
#[test]
fn ecc_p256_ek_certificate_selects_the_ecc_ek() {
    let swtpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let tool = |args: &[&str]| {
        run(Command::new(args[0])
            .args(&args[1..])
            .env("TPM2TOOLS_TCTI", swtpm.tcti())
            .current_dir(dir.path()))
    };
    tool(&[
        "tpm2_createek",
        "-c",
        "ek.ctx",
        "-G",
        "ecc",
        "-u",
        "ek.pem",
        "-f",
        "pem",
    ]);
    tool(&["tpm2_flushcontext", "-t"]);
    tool(&[
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=test EK CA",
        "-days",
        "1",
    ]);
    tool(&[
        "openssl",
        "x509",
        "-new",
        "-force_pubkey",
        "ek.pem",
        "-subj",
        "/CN=ecc ek",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-days",
        "1",
        "-outform",
        "der",
        "-out",
        "ek.der",
    ]);
    let cert = std::fs::read(p("ek.der")).unwrap();
    let size = cert.len().to_string();
    tool(&[
        "tpm2_nvdefine",
        "0x01c0000a",
        "-C",
        "p",
        "-s",
        &size,
        "-a",
        "ppwrite|ppread|ownerread|authread|no_da|platformcreate",
    ]);
    tool(&["tpm2_nvwrite", "0x01c0000a", "-C", "p", "-i", "ek.der"]);

    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let ek = tpm.endorsement().unwrap();
    assert_eq!(ek.certificate.as_deref(), Some(cert.as_slice()));
    let tss_esapi::structures::Public::Ecc { unique, .. } = &ek.public else {
        panic!("expected the ECC EK, got {:?}", ek.public);
    };
    let x = unique.x().value();
    assert!(
        cert.windows(x.len()).any(|w| w == x),
        "the certificate is for this EK"
    );
    let ak = tpm.attestation_key(&ek).unwrap();
    let secret = [0x5a; 32];
    let (blob, encrypted) = tpm
        .make_credential(&ek.public, &secret, &name_of(&ak.public).unwrap())
        .unwrap();
    assert_eq!(
        tpm.activate_credential(&ek, &ak, &blob, &encrypted)
            .unwrap(),
        secret
    );
}

#[test]
fn credential_activation_round_trip() {
    let swtpm = Swtpm::start();
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let ek = tpm.endorsement().unwrap();
    let ak = tpm.attestation_key(&ek).unwrap();
    let secret: Vec<u8> = (0u8..32).collect();
    let ak_name = name_of(&ak.public).unwrap();
    let (blob, encrypted) = tpm.make_credential(&ek.public, &secret, &ak_name).unwrap();
    assert_eq!(
        tpm.activate_credential(&ek, &ak, &blob, &encrypted)
            .unwrap(),
        secret
    );

    // The same with tpm2-tools' independent software implementation (`-T none`).
    let dir = tempfile::tempdir().unwrap();
    let ek_pub = dir.path().join("ek.pub");
    let mut tpm2b = Vec::new();
    let marshalled = inkan_agent::tpm::marshal_public(&ek.public).unwrap();
    tpm2b.extend_from_slice(&u16::try_from(marshalled.len()).unwrap().to_be_bytes());
    tpm2b.extend_from_slice(&marshalled);
    std::fs::write(&ek_pub, tpm2b).unwrap();
    let secret2: Vec<u8> = (100u8..132).collect();
    std::fs::write(dir.path().join("secret"), &secret2).unwrap();
    let out = dir.path().join("cred.out");
    run(Command::new("tpm2_makecredential")
        .args(["-T", "none", "-u"])
        .arg(&ek_pub)
        .arg("-s")
        .arg(dir.path().join("secret"))
        .arg("-n")
        .arg(hex(&ak_name))
        .arg("-o")
        .arg(&out));
    // tpm2-tools' file: magic BADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
    let file = std::fs::read(&out).unwrap();
    assert_eq!(&file[..4], &[0xba, 0xdc, 0xc0, 0xde]);
    let (blob, rest) = tpm2b_split(&file[8..]);
    let (encrypted, _) = tpm2b_split(rest);
    assert_eq!(
        tpm.activate_credential(&ek, &ak, blob, encrypted).unwrap(),
        secret2
    );

    // A credential bound to another name does not activate.
    let mut other = ak_name.clone();
    other[5] ^= 1;
    let (blob, encrypted) = tpm.make_credential(&ek.public, &secret, &other).unwrap();
    assert!(tpm
        .activate_credential(&ek, &ak, &blob, &encrypted)
        .is_err());
}

#[test]
fn certify_csr_and_signatures_verify_with_openssl() {
    let swtpm = Swtpm::start();
    let tpm = Arc::new(Tpm::open(&swtpm.tcti()).unwrap());
    let ek = tpm.endorsement().unwrap();
    let ak = tpm.attestation_key(&ek).unwrap();
    tpm.flush(ek.handle).unwrap(); // as enrollment does: swtpm has three object slots
    let key = tpm.create_device_key().unwrap();
    let nonce = [7u8; 32];
    let certification = tpm.certify(&key, &ak, &nonce).unwrap();
    assert_eq!(
        &certification.attest[..6],
        &[0xff, 0x54, 0x43, 0x47, 0x80, 0x17]
    );
    let attest = Attest::unmarshall(&certification.attest).unwrap();
    assert_eq!(attest.extra_data().value(), nonce);
    let tss_esapi::structures::AttestInfo::Certify { info } = attest.attested() else {
        panic!("not a certify attestation");
    };
    assert_eq!(info.name().value(), name_of(&key.public).unwrap());
    let signature = tss_esapi::structures::Signature::unmarshall(&certification.signature).unwrap();
    assert!(matches!(
        signature,
        tss_esapi::structures::Signature::EcDsa(_)
    ));

    let attributes = key.public.object_attributes();
    assert!(attributes.fixed_tpm() && attributes.fixed_parent());
    assert!(attributes.sensitive_data_origin() && attributes.user_with_auth());
    assert!(attributes.sign_encrypt() && !attributes.restricted() && !attributes.decrypt());

    let signer = TpmSigningKey::new(tpm.clone(), &key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csr = build_csr(&signer, "tpm-device-1").unwrap();
    let csr_path = dir.path().join("req.der");
    std::fs::write(&csr_path, &csr).unwrap();
    let text = run(Command::new("openssl")
        .args([
            "req", "-inform", "der", "-verify", "-noout", "-subject", "-in",
        ])
        .arg(&csr_path));
    assert!(text.contains("tpm-device-1"), "{text}");

    // A raw signature over a message verifies with the key's SPKI.
    let message = b"signed inside the TPM";
    let sig = signer.sign_message(message).unwrap();
    let spki = dir.path().join("key.der");
    std::fs::write(&spki, signer.spki_der()).unwrap();
    std::fs::write(dir.path().join("msg"), message).unwrap();
    std::fs::write(dir.path().join("sig"), &sig).unwrap();
    let out = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-keyform", "der", "-verify"])
        .arg(&spki)
        .arg("-signature")
        .arg(dir.path().join("sig"))
        .arg(dir.path().join("msg")));
    assert!(out.contains("Verified OK"), "{out}");
}

#[tokio::test]
async fn tls_client_authentication_with_the_tpm_key_against_openssl_s_server() {
    let swtpm = Swtpm::start();
    let tpm = Arc::new(Tpm::open(&swtpm.tcti()).unwrap());
    let key = tpm.create_device_key().unwrap();
    let signer = TpmSigningKey::new(tpm.clone(), &key).unwrap();

    // A test CA issues the server certificate and a client certificate for the TPM key.
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), &signer);
    let server = SServer::start(dir.path());

    let tls = signer
        .clone()
        .client_tls_config(
            std::slice::from_ref(&pki.ca_der),
            vec![pki.client_der.clone()],
        )
        .unwrap();
    let target =
        inkan_client::HttpTarget::parse(&format!("https://localhost:{}", server.port)).unwrap();
    let mut connection = inkan_client::HttpConnection::connect(&target, tls)
        .await
        .unwrap();
    let (status, _, body) = connection
        .send(http::Method::GET, "/", &[], bytes::Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, 200);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("tpm-client"),
        "s_server saw the client certificate: {body}"
    );

    // The forwarding proxy: plain HTTP in, mTLS with the TPM key out; 502 once the upstream is gone.
    let tls = signer
        .client_tls_config(
            std::slice::from_ref(&pki.ca_der),
            vec![pki.client_der.clone()],
        )
        .unwrap();
    let proxy = Arc::new(
        inkan_agent::ForwardProxy::new(&format!("https://localhost:{}", server.port), tls).unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(inkan_agent::serve_proxy(listener, proxy, async {
        let _ = stopped.await;
    }));
    let target = inkan_client::HttpTarget::parse(&local).unwrap();
    let plain = inkan_client::client_tls_config(&[], None).unwrap();
    let mut connection = inkan_client::HttpConnection::connect(&target, plain)
        .await
        .unwrap();
    let (status, _, body) = connection
        .send(http::Method::GET, "/", &[], bytes::Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("tpm-client"));
    drop(server);
    let (status, _, body) = connection
        .send(http::Method::GET, "/", &[], bytes::Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

#[test]
fn persisted_key_is_fixed_tpm_as_tpm2_readpublic_shows() {
    let swtpm = Swtpm::start();
    let handle = parse_handle("0x81000101").unwrap();
    {
        let tpm = Tpm::open(&swtpm.tcti()).unwrap();
        let mut key = tpm.create_device_key().unwrap();
        tpm.persist(&mut key, handle).unwrap();
        // Persisting again at a used handle is refused with advice.
        let mut second = tpm.create_device_key().unwrap();
        let err = tpm.persist(&mut second, handle).unwrap_err().to_string();
        assert!(err.contains("tpm2_evictcontrol"), "{err}");
        // The persisted key signs after reopening.
        let reopened = tpm.open_key(handle).unwrap();
        assert!(tpm.sign_sha256(reopened.handle, b"x").is_ok());
        assert!(tpm.is_handle_defined(SRK_HANDLE).unwrap());
    } // closes the swtpm connection, which serves one client at a time
    let out = run(Command::new("tpm2_readpublic")
        .args(["-c", "0x81000101"])
        .env("TPM2TOOLS_TCTI", swtpm.tcti()));
    let attributes = out
        .lines()
        .find(|l| l.trim_start().starts_with("value:") || l.contains("fixedtpm"))
        .unwrap_or_default()
        .to_string();
    for flag in [
        "fixedtpm",
        "fixedparent",
        "sensitivedataorigin",
        "userwithauth",
        "sign",
    ] {
        assert!(out.contains(flag), "{flag} missing in {out}");
    }
    assert!(!out.contains("restricted"), "{attributes}");
    assert!(out.contains("ecc"), "{out}");
}

/// The third-party path: tpm2-tools encodes the persisted key as a TSS2 PEM and curl (through
/// Debian's tpm2-openssl provider and tpm2-abrmd) authenticates with it to a server that requires
/// a client certificate. No inkan code signs anything here.
#[test]
fn curl_authenticates_with_the_tpm_key_through_tpm2_openssl() {
    let swtpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let enrolled = dir.path().join("enrolled");
    std::fs::create_dir_all(&enrolled).unwrap();
    {
        let tpm = Arc::new(Tpm::open(&swtpm.tcti()).unwrap());
        let mut key = tpm.create_device_key().unwrap();
        let files = key.files().unwrap();
        std::fs::write(enrolled.join("key.pub"), &files.public).unwrap();
        std::fs::write(enrolled.join("key.priv"), &files.private).unwrap();
        let signer = TpmSigningKey::new(tpm.clone(), &key).unwrap();
        TestPki::new(dir.path(), &signer);
        tpm.persist(&mut key, 0x8100_0101).unwrap();
    } // swtpm serves one client: the resource manager takes over
    std::fs::copy(dir.path().join("client.pem"), enrolled.join("chain.pem")).unwrap();
    std::fs::write(
        enrolled.join("tpm-key.json"),
        serde_json::json!({
            "tcti": swtpm.tcti(), "handle": "0x81000101", "srk_handle": "0x81000001",
            "key_name": "", "serial": "", "level": 3
        })
        .to_string(),
    )
    .unwrap();
    let server = SServer::start(dir.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/tpm-curl");
    let out = run(Command::new(script)
        .arg("--dir")
        .arg(&enrolled)
        .arg("--cacert")
        .arg(dir.path().join("ca.pem"))
        .arg(format!("https://localhost:{}/", server.port)));
    assert!(
        out.contains("tpm-client"),
        "s_server saw the TPM client certificate: {out}"
    );
}

/// The whole device side against a stand-in authority that follows the wire contract.
#[test]
fn delivery_decrypts_with_the_spec_kdf() {
    // Built independently with ring's seal, as the authority does.
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    use ring::hkdf::{Salt, HKDF_SHA256};
    let secret = [9u8; 32];
    let id = "0123456789abcdef0123456789abcdef";
    let prk = Salt::new(HKDF_SHA256, id.as_bytes()).extract(&secret);
    let okm = prk
        .expand(&[b"inkan tpm delivery v1"], &AES_256_GCM)
        .unwrap();
    let key = LessSafeKey::new(UnboundKey::from(okm));
    let mut data = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key([1; 12]),
        Aad::empty(),
        &mut data,
    )
    .unwrap();
    let plain = open_delivery_parts(&secret, id, &[1; 12], &data).unwrap();
    assert!(plain.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(open_delivery_parts(&[8u8; 32], id, &[1; 12], &data).is_err());
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
