use super::*;
use crate::{CaSet, KeyAlgorithm};

fn request_for(issuer_der: &[u8], serial: &[u8], hash: ObjectIdentifier, nonce: bool) -> Vec<u8> {
    use x509_ocsp::{Request, TbsRequest};
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(issuer_der).unwrap();
    let alg = if hash == SHA1 {
        &digest::SHA1_FOR_LEGACY_USE_ONLY
    } else {
        &digest::SHA256
    };
    let name = digest::digest(alg, cert.subject().as_raw());
    let key = digest::digest(alg, cert.public_key().subject_public_key.data.as_ref());
    let id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: hash,
            parameters: Some(der::Any::from(Null)),
        },
        issuer_name_hash: OctetString::new(name.as_ref()).unwrap(),
        issuer_key_hash: OctetString::new(key.as_ref()).unwrap(),
        serial_number: x509_cert::serial_number::SerialNumber::new(serial).unwrap(),
    };
    let ext = nonce.then(|| {
        vec![Extension {
            extn_id: NONCE,
            critical: false,
            extn_value: OctetString::new(
                OctetString::new(vec![7u8; 16]).unwrap().to_der().unwrap(),
            )
            .unwrap(),
        }]
    });
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: id,
                single_request_extensions: None,
            }],
            request_extensions: ext,
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

#[test]
fn requests_name_our_issuer_with_either_hash_and_keep_their_nonce() {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let set = CaSet::create("A", KeyAlgorithm::P256, now).unwrap();
    let other = CaSet::create("B", KeyAlgorithm::P256, now).unwrap();
    let issuer = OcspIssuer::new(&set.issuing_der).unwrap();
    for hash in [SHA1, SHA256] {
        let info = parse_request(
            &request_for(&set.issuing_der, &[0x0a, 0xbc], hash, true),
            &issuer,
        )
        .unwrap();
        assert_eq!(info.queries[0].serial, "abc");
        assert!(info.queries[0].ours);
        assert!(info.nonce.is_some());
    }
    let foreign =
        parse_request(&request_for(&other.issuing_der, &[1], SHA1, false), &issuer).unwrap();
    assert!(!foreign.queries[0].ours);
    assert!(foreign.nonce.is_none());
}

#[test]
fn a_request_built_from_a_serial_names_it_as_a_positive_integer() {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let set = CaSet::create("A", KeyAlgorithm::P256, now).unwrap();
    let issuer = OcspIssuer::new(&set.issuing_der).unwrap();
    for hex in ["abc", "ff01", "7f"] {
        let serial: Serial = hex.parse().unwrap();
        let der = build_request_for_serial(&set.issuing_der, &serial, Some(b"n")).unwrap();
        let info = parse_request(&der, &issuer).unwrap();
        assert_eq!(info.queries[0].serial, hex);
        assert!(info.queries[0].ours);
        let request = OcspRequest::from_der(&der).unwrap();
        let integer = request.tbs_request.request_list[0]
            .req_cert
            .serial_number
            .as_bytes()
            .to_vec();
        assert_eq!(integer[0] & 0x80, 0, "{hex}: a serial is never negative");
    }
}

#[test]
fn junk_is_malformed() {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let set = CaSet::create("A", KeyAlgorithm::P256, now).unwrap();
    let issuer = OcspIssuer::new(&set.issuing_der).unwrap();
    assert!(parse_request(b"junk", &issuer).is_err());
    let mut good = request_for(&set.issuing_der, &[1], SHA1, false);
    good.push(0);
    assert!(parse_request(&good, &issuer).is_err());
    assert!(OcspResponse::from_der(&malformed_response()).is_ok());
}

#[test]
fn responses_are_signed_and_carry_status_and_nonce() {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let set = CaSet::create("A", KeyAlgorithm::P256, now).unwrap();
    let ca = set.issuing_ca().unwrap();
    let issuer = OcspIssuer::new(&set.issuing_der).unwrap();
    let info = parse_request(&request_for(&set.issuing_der, &[5], SHA256, true), &issuer).unwrap();
    let status = OcspStatus::Revoked {
        at: now,
        reason: RevocationReason::KeyCompromise,
    };
    let der = OcspResponder::new(&ca)
        .sign(
            &[(info.queries[0].cert_id.clone(), status)],
            info.nonce.as_ref(),
            now,
            Duration::from_secs(3600),
        )
        .unwrap();
    let response = OcspResponse::from_der(&der).unwrap();
    let bytes = response.response_bytes.unwrap();
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
    assert!(matches!(
        basic.tbs_response_data.responses[0].cert_status,
        CertStatus::Revoked(_)
    ));
    assert_eq!(
        basic
            .tbs_response_data
            .response_extensions
            .as_ref()
            .unwrap()[0],
        info.nonce.unwrap()
    );
    // The signature verifies with the issuing CA's public key.
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&set.issuing_der).unwrap();
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        cert.public_key().subject_public_key.data.to_vec(),
    );
    key.verify(
        &basic.tbs_response_data.to_der().unwrap(),
        basic.signature.raw_bytes(),
    )
    .unwrap();
}
