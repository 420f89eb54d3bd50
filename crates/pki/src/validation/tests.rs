use super::*;
use crate::{
    build_csr, CaSet, CertificateInfo, CrlEntry, CrlParams, CsrCheck, GeneratedKey, IssueParams,
    KeyAlgorithm, Profile, Serial,
};

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

const NOW: i64 = 1_790_000_000;

fn issue(set: &CaSet, profile: &Profile, sans: &[String]) -> Vec<u8> {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let csr = build_csr(&key, "d", sans).unwrap();
    let checked = CsrCheck::new(profile).check(&csr).unwrap();
    let params = IssueParams::new(profile, &checked, Serial::random().unwrap(), at(NOW));
    set.issuing_ca().unwrap().issue(&params).unwrap()
}

struct Case<'a> {
    cert: &'a [u8],
    inter: Vec<Vec<u8>>,
    roots: Vec<Vec<u8>>,
}

impl<'a> Case<'a> {
    fn new(set: &'a CaSet, cert: &'a [u8]) -> Self {
        Self {
            cert,
            inter: vec![set.issuing_der.clone()],
            roots: vec![set.root_der.clone()],
        }
    }

    fn check(
        &self,
        usage: Option<ChainUsage>,
        name: Option<&str>,
        crls: &[Vec<u8>],
        now: i64,
    ) -> Result<ValidPath, Invalid> {
        validate(&Validation {
            end_entity: self.cert,
            intermediates: &self.inter,
            roots: &self.roots,
            usage,
            name,
            crls,
            now: at(now),
        })
    }
}

fn crl(set: &CaSet, entries: Vec<CrlEntry>) -> Vec<u8> {
    set.issuing_ca()
        .unwrap()
        .sign_crl(&CrlParams {
            number: 1,
            this_update: at(NOW),
            next_update: at(NOW + 86_400),
            entries,
        })
        .unwrap()
}

#[test]
fn a_good_certificate_yields_its_whole_path() {
    let set = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let cert = issue(&set, &Profile::device(), &[]);
    let case = Case::new(&set, &cert);
    for usage in [None, Some(ChainUsage::ClientAuth)] {
        let path = case.check(usage, None, &[], NOW).unwrap();
        assert_eq!(
            path.chain,
            vec![cert.clone(), set.issuing_der.clone(), set.root_der.clone()]
        );
        assert_eq!(path.issuer(), Some(set.issuing_der.as_slice()));
    }
}

#[test]
fn time_purpose_and_name_are_each_named_as_the_reason() {
    let set = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let server = issue(&set, &Profile::server(), &["www.example.com".into()]);
    let case = Case::new(&set, &server);
    let usage = Some(ChainUsage::ServerAuth);
    case.check(usage, Some("www.example.com"), &[], NOW)
        .unwrap();

    let later = NOW + 91 * 86_400;
    let err = case.check(usage, None, &[], later).unwrap_err();
    let not_after = CertificateInfo::parse(&server).unwrap().not_after;
    assert_eq!(
        err,
        Invalid::Expired {
            not_after: at(not_after)
        }
    );
    assert_eq!(err.code(), "expired");
    assert!(err.to_string().starts_with("expired at 20"), "{err}");

    let err = case.check(usage, None, &[], NOW - 3600).unwrap_err();
    assert_eq!(err.code(), "not_yet_valid", "{err}");

    let err = case
        .check(Some(ChainUsage::ClientAuth), None, &[], NOW)
        .unwrap_err();
    assert_eq!(err, Invalid::WrongPurpose(ChainUsage::ClientAuth));
    assert!(err.to_string().contains("TLS client"), "{err}");

    let err = case
        .check(usage, Some("other.example.com"), &[], NOW)
        .unwrap_err();
    assert_eq!(err, Invalid::NameMismatch("other.example.com".into()));
    let err = case
        .check(usage, Some("not a name!"), &[], NOW)
        .unwrap_err();
    assert_eq!(err.code(), "name_mismatch");
}

#[test]
fn a_certificate_from_another_ca_does_not_chain() {
    let set = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let other = CaSet::create("B", KeyAlgorithm::P256, at(NOW)).unwrap();
    let cert = issue(&other, &Profile::device(), &[]);
    let case = Case::new(&set, &cert);
    assert_eq!(
        case.check(None, None, &[], NOW).unwrap_err(),
        Invalid::UnknownIssuer
    );

    // Same names, different keys: the issuer is found by name, its signature does not verify.
    let twin = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let forged = issue(&twin, &Profile::device(), &[]);
    let case = Case::new(&set, &forged);
    assert_eq!(
        case.check(None, None, &[], NOW).unwrap_err(),
        Invalid::BadSignature
    );

    // The right chain under the wrong root.
    let mut case = Case::new(&set, &cert);
    case.inter = vec![other.issuing_der.clone()];
    assert_eq!(
        case.check(None, None, &[], NOW).unwrap_err(),
        Invalid::UnknownIssuer
    );
    case.roots = vec![set.root_der.clone(), other.root_der.clone()];
    let path = case.check(None, None, &[], NOW).unwrap();
    assert_eq!(path.chain.last(), Some(&other.root_der));
}

#[test]
fn a_crl_entry_gives_the_date_and_reason() {
    let set = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let cert = issue(&set, &Profile::device(), &[]);
    let serial: Serial = CertificateInfo::parse(&cert)
        .unwrap()
        .serial
        .parse()
        .unwrap();
    let case = Case::new(&set, &cert);

    let clean = crl(
        &set,
        vec![CrlEntry {
            serial: Serial::from_be_bytes(&[1, 2, 3]),
            revoked_at: at(NOW),
            reason: RevocationReason::Superseded,
        }],
    );
    case.check(None, None, std::slice::from_ref(&clean), NOW + 60)
        .unwrap();

    let listed = crl(
        &set,
        vec![CrlEntry {
            serial,
            revoked_at: at(NOW + 30),
            reason: RevocationReason::KeyCompromise,
        }],
    );
    let err = case
        .check(None, None, std::slice::from_ref(&listed), NOW + 60)
        .unwrap_err();
    assert_eq!(
        err,
        Invalid::Revoked {
            at: Some(at(NOW + 30)),
            reason: Some(RevocationReason::KeyCompromise)
        }
    );
    assert_eq!(
        err.to_string(),
        format!("revoked at {} (keyCompromise)", rfc3339(at(NOW + 30)))
    );

    // The same CRL as PEM.
    let pem = crate::der_to_pem("X509 CRL", &listed);
    assert_eq!(crl_der(pem.as_bytes()).unwrap(), listed);
    assert_eq!(crl_der(&listed).unwrap(), listed);
    assert!(crl_der(b"-----BEGIN X509 CRL-----\nnope\n").is_err());
}

#[test]
fn a_crl_that_cannot_vouch_is_refused() {
    let set = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let other = CaSet::create("B", KeyAlgorithm::P256, at(NOW)).unwrap();
    let cert = issue(&set, &Profile::device(), &[]);
    let case = Case::new(&set, &cert);

    let foreign = crl(&other, Vec::new());
    let err = case
        .check(None, None, std::slice::from_ref(&foreign), NOW)
        .unwrap_err();
    assert_eq!(err.code(), "revocation_unknown", "{err}");

    let stale = case
        .check(
            None,
            None,
            std::slice::from_ref(&crl(&set, Vec::new())),
            NOW + 2 * 86_400,
        )
        .unwrap_err();
    assert_eq!(stale.code(), "bad_crl", "{stale}");
    assert!(stale.to_string().contains("out of date"), "{stale}");

    // Same issuer name, other key: the signature does not verify.
    let twin = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let forged = crl(&twin, Vec::new());
    let err = case
        .check(None, None, std::slice::from_ref(&forged), NOW)
        .unwrap_err();
    assert_eq!(err.code(), "bad_crl", "{err}");
    assert!(err.to_string().contains("signature"), "{err}");

    let err = case
        .check(None, None, &[b"not a crl".to_vec()], NOW)
        .unwrap_err();
    assert_eq!(err.code(), "bad_crl", "{err}");
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let set = CaSet::create("A", KeyAlgorithm::P256, at(NOW)).unwrap();
    let case = Case::new(&set, b"\x30\x03\x02\x01\x01");
    assert_eq!(
        case.check(None, None, &[], NOW).unwrap_err().code(),
        "malformed"
    );
    let cert = issue(&set, &Profile::device(), &[]);
    let mut case = Case::new(&set, &cert);
    case.roots = vec![b"junk".to_vec()];
    assert_eq!(
        case.check(None, None, &[], NOW).unwrap_err().code(),
        "malformed"
    );
}
