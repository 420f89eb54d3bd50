//! The endorsement keys (RSA and ECC), the attestation key, credential activation and the
//! delivery it decrypts.

use super::*;

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
        tpm.activate_credential(&ek, ak.handle, &blob, &encrypted)
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
        tpm.activate_credential(&ek, ak.handle, &blob, &encrypted)
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
        tpm.activate_credential(&ek, ak.handle, blob, encrypted)
            .unwrap(),
        secret2
    );

    // A credential bound to another name does not activate.
    let mut other = ak_name.clone();
    other[5] ^= 1;
    let (blob, encrypted) = tpm.make_credential(&ek.public, &secret, &other).unwrap();
    assert!(tpm
        .activate_credential(&ek, ak.handle, &blob, &encrypted)
        .is_err());
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
