//! The TPM key signing: CSRs and signatures, TLS client authentication, and the third-party
//! path through tpm2-tools, openssl and curl.

use super::*;

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
