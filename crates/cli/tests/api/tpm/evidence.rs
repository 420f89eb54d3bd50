//! A real TPM enrolls; every forged piece of its evidence is refused.

use inkan_authority::{open_delivery, Delivery};
use inkan_test_support::swtpm::tools_present;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_tpm_enrolls_and_every_forged_piece_of_evidence_is_refused() {
    if !tools_present() {
        println!("SKIPPED: swtpm or tpm2-tools are not installed (scripts/test installs them)");
        return;
    }
    let (env, _) = Env::with_ca();
    let tpm = Tpm::start();
    tpm.run(&["tpm2_nvread", "0x01c00002", "-o", "ek.crt"]);
    let ek_cert = tpm.file("ek.crt");
    let ek_public = tpm.public(EK);
    tpm.make_ak(EK, AK);
    tpm.make_key(SIGN_ATTRS, KEY);
    tpm.make_key("sensitivedataorigin|userwithauth|sign", EXPORTABLE_KEY);
    tpm.make_key(SIGN_ATTRS, OTHER_KEY);
    // A P-256 EK without a certificate, admitted by the allow list.
    tpm.run(&["tpm2_createek", "-c", ECC_EK, "-G", "ecc"]);
    let ecc_ek_public = tpm.public(ECC_EK);
    tpm.make_ak(ECC_EK, ECC_AK);
    let ak_public = tpm.public(AK);
    let key_public = tpm.public(KEY);

    let server = start_server(
        &env,
        &format!(
            "ek_roots = [{:?}]\nek_allow = [{:?}]\n",
            tpm.swtpm.ek_issuer(),
            sha256_hex(&ecc_ek_public)
        ),
    );
    let before = env.certificate_count();

    // Activation refusals: an EK certificate from another manufacturer CA, an EK that is
    // neither certified nor allow-listed, an AK that is not a restricted signing key.
    let fixtures = inkan_pki_fixture_dir();
    let foreign = |name: &str| std::fs::read(fixtures.join(name)).unwrap();
    assert_refused(
        post(
            &env,
            &server,
            "/v1/tpm/activations",
            &json!({
                "ek_certificate": b64(&foreign("rsa_ek_cert.der")),
                "ek_public": b64(&foreign("rsa_ek_public.bin")),
                "ak_public": b64(&ak_public),
            }),
        ),
        403,
        "ek-chain",
    );
    assert_refused(
        post(
            &env,
            &server,
            "/v1/tpm/activations",
            &json!({
                "ek_public": b64(&ek_public), "ak_public": b64(&ak_public),
            }),
        ),
        403,
        "ek-chain",
    );
    assert_refused(
        post(
            &env,
            &server,
            "/v1/tpm/activations",
            &json!({
                "ek_certificate": b64(&ek_cert), "ek_public": b64(&ek_public), "ak_public": b64(&key_public),
            }),
        ),
        403,
        "ak-restricted-sign",
    );
    assert_refused(
        post(
            &env,
            &server,
            "/v1/tpm/activations",
            &json!({
                "ek_public": "not base64!", "ak_public": b64(&ak_public),
            }),
        ),
        400,
        "ek_public",
    );
    assert_refused(
        post(
            &env,
            &server,
            "/v1/tpm/activations",
            &json!({
                "ek_public": b64(&ek_public[..40]), "ak_public": b64(&ak_public),
            }),
        ),
        400,
        "ek_public",
    );

    // The real activation: the TPM recovers the secret only with its own EK and AK.
    let (code, activation) = post(
        &env,
        &server,
        "/v1/tpm/activations",
        &json!({
            "ek_certificate": b64(&ek_cert), "ek_public": b64(&ek_public), "ak_public": b64(&ak_public),
        }),
    );
    assert_eq!(code, 201, "{activation}");
    let id = activation["activation_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    let nonce = B64.decode(activation["nonce"].as_str().unwrap()).unwrap();
    assert_eq!(nonce.len(), 32);
    let secret = tpm.activate(EK, AK, &activation);
    assert_eq!(secret.len(), 32);

    let (attest, signature) = tpm.certify(KEY, AK, &nonce);
    let csr = tpm.csr(KEY, "tpm-device-1");
    let enrollment = |secret: &[u8], attest: &[u8], signature: &[u8], key: &[u8], csr: &[u8]| {
        json!({
            "activation_id": id, "secret": b64(secret), "attest": b64(attest),
            "signature": b64(signature), "key_public": b64(key), "csr": b64(csr),
        })
    };
    let enroll = |body: Value| post(&env, &server, "/v1/tpm/enrollments", &body);

    // Every forgery is refused, naming its check, and none uses up the activation.
    assert_refused(
        enroll(enrollment(&[0; 32], &attest, &signature, &key_public, &csr)),
        403,
        "credential-activated",
    );
    let (bad_nonce_attest, bad_nonce_sig) = tpm.certify(KEY, AK, &[9; 32]);
    assert_refused(
        enroll(enrollment(
            &secret,
            &bad_nonce_attest,
            &bad_nonce_sig,
            &key_public,
            &csr,
        )),
        403,
        "attest-nonce",
    );
    let (other_attest, other_sig) = tpm.certify(OTHER_KEY, AK, &nonce);
    assert_refused(
        enroll(enrollment(
            &secret,
            &other_attest,
            &other_sig,
            &key_public,
            &csr,
        )),
        403,
        "key-name",
    );
    let mut forged = attest.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_refused(
        enroll(enrollment(&secret, &forged, &signature, &key_public, &csr)),
        403,
        "certify-signature",
    );
    let (exp_attest, exp_sig) = tpm.certify(EXPORTABLE_KEY, AK, &nonce);
    let exp_public = tpm.public(EXPORTABLE_KEY);
    let exp_csr = tpm.csr(EXPORTABLE_KEY, "tpm-device-1");
    assert_refused(
        enroll(enrollment(
            &secret,
            &exp_attest,
            &exp_sig,
            &exp_public,
            &exp_csr,
        )),
        403,
        "key-fixed-tpm",
    );
    let other_csr = tpm.csr(OTHER_KEY, "tpm-device-1");
    assert_refused(
        enroll(enrollment(
            &secret,
            &attest,
            &signature,
            &key_public,
            &other_csr,
        )),
        403,
        "csr-key",
    );
    assert_refused(
        enroll(enrollment(&secret, b"junk", &signature, &key_public, &csr)),
        400,
        "attest",
    );
    assert_refused(
        enroll(
            json!({"activation_id": "00".repeat(16), "secret": b64(&secret), "attest": b64(&attest),
            "signature": b64(&signature), "key_public": b64(&key_public), "csr": b64(&csr)}),
        ),
        404,
        "activation",
    );
    assert_eq!(
        env.certificate_count(),
        before,
        "a refused enrollment issued something"
    );

    // The genuine enrollment.
    let (code, enrolled) = enroll(enrollment(&secret, &attest, &signature, &key_public, &csr));
    assert_eq!(code, 201, "{enrolled}");
    assert_eq!(enrolled["level"], 3);
    assert_eq!(enrolled["delivery"]["alg"], "A256GCM");
    let serial = enrolled["serial"].as_str().unwrap().to_string();
    let delivery = Delivery {
        nonce: B64
            .decode(enrolled["delivery"]["nonce"].as_str().unwrap())
            .unwrap(),
        ciphertext: B64
            .decode(enrolled["delivery"]["ciphertext"].as_str().unwrap())
            .unwrap(),
    };
    let chain = String::from_utf8(open_delivery(&secret, &id, &delivery).unwrap()).unwrap();
    let certs = inkan_pki::certs_from_pem(chain.as_bytes()).unwrap();
    assert_eq!(certs.len(), 2);
    let info = inkan_pki::CertificateInfo::parse(&certs[0]).unwrap();
    assert_eq!(info.serial, serial);
    assert_eq!(info.subject, "CN=tpm-device-1");
    let key_name = format!("000b{}", sha256_hex(&key_public));
    assert_eq!(
        info.sans
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec![format!("URI:urn:inkan:tpm:{}", &key_name[..32])]
    );
    // openssl agrees the leaf chains to the authority and is for client auth.
    let leaf = env.tmp.path().join("tpm-leaf.pem");
    std::fs::write(&leaf, &chain).unwrap();
    let issuing = env.tmp.path().join("tpm-issuing.pem");
    std::fs::write(&issuing, inkan_pki::der_to_pem("CERTIFICATE", &certs[1])).unwrap();
    let verify = Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(&issuing)
        .arg(&leaf)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert_eq!(env.certificate_count(), before + 1);

    // Single use.
    assert_refused(
        enroll(enrollment(&secret, &attest, &signature, &key_public, &csr)),
        409,
        "used",
    );
    assert_eq!(env.certificate_count(), before + 1);

    // The evidence, for an admin.
    let token = env
        .ok(&["admin", "token", "create", "--name", "tpm-test"])
        .lines()
        .last()
        .unwrap()
        .to_string();
    let path = format!("/v1/certificates/{serial}/attestation");
    let (code, _) = curl(&env, &server, &[], &path);
    assert_eq!(code, 401);
    let (code, evidence) = curl(
        &env,
        &server,
        &["-H", &format!("Authorization: Bearer {token}")],
        &path,
    );
    assert_eq!(code, 200, "{evidence}");
    assert_eq!(evidence["method"], "tpm2");
    assert_eq!(evidence["ek_certificate_sha256"], sha256_hex(&ek_cert));
    assert_eq!(evidence["ek_issuer"], "CN=swtpm-localca");
    assert_eq!(evidence["ek_public_sha256"], sha256_hex(&ek_public));
    assert_eq!(
        evidence["ak_name"],
        format!("000b{}", sha256_hex(&ak_public))
    );
    assert_eq!(evidence["key_name"], key_name);
    assert_eq!(evidence["checks"].as_array().unwrap().len(), 11);
    // The console spells it out on the certificate's page.
    let jar = env.tmp.path().join("console-cookies");
    let console = |args: &[&str], path: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(env.root_pem())
            .arg("-b")
            .arg(&jar)
            .arg("-c")
            .arg(&jar)
            .args(args)
            .arg(format!("{}/console{path}", server.url()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    console(&["--data-urlencode", &format!("token={token}")], "/login");
    let page = console(&[], &format!("/certificates/{serial}"));
    for shown in [
        "TPM 2.0 attestation".to_string(),
        sha256_hex(&ek_cert),
        "CN=swtpm-localca".to_string(),
        key_name.to_string(),
    ] {
        assert!(page.contains(&shown), "{shown}: {page}");
    }
    assert_eq!(page.matches("<li>").count(), 11, "each check: {page}");

    // The P-256 EK (ECDH + KDFe seed), admitted by the allow list, enrolls too.
    let ecc_ak_public = tpm.public(ECC_AK);
    let (code, activation) = post(
        &env,
        &server,
        "/v1/tpm/activations",
        &json!({
            "ek_public": b64(&ecc_ek_public), "ak_public": b64(&ecc_ak_public),
        }),
    );
    assert_eq!(code, 201, "{activation}");
    let secret = tpm.activate(ECC_EK, ECC_AK, &activation);
    let nonce = B64.decode(activation["nonce"].as_str().unwrap()).unwrap();
    let (attest, signature) = tpm.certify(OTHER_KEY, ECC_AK, &nonce);
    let (code, enrolled) = enroll(json!({
        "activation_id": activation["activation_id"], "secret": b64(&secret), "attest": b64(&attest),
        "signature": b64(&signature), "key_public": b64(&tpm.public(OTHER_KEY)), "csr": b64(&other_csr),
    }));
    assert_eq!(code, 201, "{enrolled}");
    let (_, evidence) = curl(
        &env,
        &server,
        &["-H", &format!("Authorization: Bearer {token}")],
        &format!(
            "/v1/certificates/{}/attestation",
            enrolled["serial"].as_str().unwrap()
        ),
    );
    assert_eq!(evidence["ek_certificate_sha256"], Value::Null);
    assert_eq!(env.certificate_count(), before + 2);
}
