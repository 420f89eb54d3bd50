use super::*;
use crate::{
    build_csr, build_ocsp_request, parse_ocsp_request, CaSet, CsrCheck, GeneratedKey, IssueParams,
    KeyAlgorithm, OcspResponder, Profile, Serial,
};

const NOW: i64 = 1_790_000_000;

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

fn issue(set: &CaSet) -> Vec<u8> {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let csr = build_csr(&key, "d", &[]).unwrap();
    let profile = Profile::device();
    let checked = CsrCheck::new(&profile).check(&csr).unwrap();
    let mut params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), at(NOW));
    params.ocsp_url = Some("http://ca.example:8080/ocsp".into());
    set.issuing_ca().unwrap().issue(&params).unwrap()
}

/// The responder's answer about `cert` to a request carrying `nonce`, signed by `signer`.
fn answer(
    signer: &CaSet,
    issuer: &CaSet,
    cert: &[u8],
    nonce: &[u8],
    status: OcspStatus,
) -> Vec<u8> {
    let request = build_ocsp_request(&issuer.issuing_der, cert, Some(nonce)).unwrap();
    let ids = OcspIssuer::new(&issuer.issuing_der).unwrap();
    let info = parse_ocsp_request(&request, &ids).unwrap();
    let ca = signer.issuing_ca().unwrap();
    OcspResponder::new(&ca)
        .sign(
            &[(info.queries[0].cert_id.clone(), status)],
            info.nonce.as_ref(),
            at(NOW),
            Duration::from_secs(3600),
        )
        .unwrap()
}

#[test]
fn the_issuer_signed_status_is_returned() {
    let set = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let cert = issue(&set);
    let nonce = [9u8; 16];
    let good = answer(&set, &set, &cert, &nonce, OcspStatus::Good);
    assert_eq!(
        check_ocsp_response(&good, &cert, &set.issuing_der, Some(&nonce), at(NOW + 60)),
        Ok(OcspStatus::Good)
    );
    let revoked = OcspStatus::Revoked {
        at: at(NOW - 10),
        reason: RevocationReason::KeyCompromise,
    };
    let bad = answer(&set, &set, &cert, &nonce, revoked);
    assert_eq!(
        check_ocsp_response(&bad, &cert, &set.issuing_der, Some(&nonce), at(NOW)),
        Ok(revoked)
    );
    assert_eq!(Invalid::from_ocsp(revoked).unwrap().code(), "revoked");
    let unknown = answer(&set, &set, &cert, &nonce, OcspStatus::Unknown);
    assert_eq!(
        check_ocsp_response(&unknown, &cert, &set.issuing_der, None, at(NOW)),
        Ok(OcspStatus::Unknown)
    );
}

#[test]
fn answers_that_cannot_vouch_are_refused() {
    let set = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let twin = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let cert = issue(&set);
    let other_cert = issue(&set);
    let nonce = [9u8; 16];
    let refused = |response: &[u8], cert: &[u8], nonce: &[u8], now: i64| {
        let err = check_ocsp_response(response, cert, &set.issuing_der, Some(nonce), at(now))
            .unwrap_err();
        assert_eq!(err.code(), "revocation_unknown");
        err.to_string()
    };

    // Signed by a key that is not the issuer's, nor one it authorized.
    let forged = answer(&twin, &set, &cert, &nonce, OcspStatus::Good);
    assert!(refused(&forged, &cert, &nonce, NOW).contains("not signed"));
    // About another certificate.
    let elsewhere = answer(&set, &set, &other_cert, &nonce, OcspStatus::Good);
    assert!(refused(&elsewhere, &cert, &nonce, NOW).contains("does not answer"));
    // Stale, or from the future.
    let good = answer(&set, &set, &cert, &nonce, OcspStatus::Good);
    assert!(refused(&good, &cert, &nonce, NOW + 7200).contains("out of date"));
    assert!(refused(&good, &cert, &nonce, NOW - 3600).contains("future"));
    // A replayed answer to someone else's nonce.
    assert!(refused(&good, &cert, &[1u8; 16], NOW).contains("nonce"));
    // Unsigned error statuses and garbage.
    assert!(refused(&crate::unauthorized_response(), &cert, &nonce, NOW).contains("Unauthorized"));
    assert!(refused(b"\x30\x00", &cert, &nonce, NOW).contains("malformed"));
    // Flipping a bit of the signed data breaks the signature.
    let mut tampered = good.clone();
    let i = tampered.windows(16).position(|w| w == nonce).unwrap();
    tampered[i] ^= 1;
    let mut flipped = nonce;
    flipped[0] ^= 1;
    assert!(refused(&tampered, &cert, &flipped, NOW).contains("not signed"));
}

#[test]
fn responder_urls_come_from_the_aia_extension() {
    let set = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    assert_eq!(
        ocsp_responder_urls(&issue(&set)).unwrap(),
        vec!["http://ca.example:8080/ocsp".to_string()]
    );
    assert!(ocsp_responder_urls(&set.root_der).unwrap().is_empty());
    assert!(ocsp_responder_urls(b"junk").is_err());
}
