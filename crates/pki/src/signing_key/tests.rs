use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use time::OffsetDateTime;

use super::*;
use crate::{
    build_csr, CaSet, CertificateInfo, CrlParams, CsrCheck, IssueParams, IssuingCa, KeyAlgorithm,
    Profile, Serial,
};

/// A key that is not a `SoftwareKey`: it counts its signatures (as a PKCS#11 or TPM key
/// would sign through its token).
struct CountingKey {
    inner: SoftwareKey,
    signatures: Arc<AtomicUsize>,
}

impl SigningKey for CountingKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.inner.algorithm()
    }

    fn public_key_raw(&self) -> &[u8] {
        self.inner.public_key_raw()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        self.signatures.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(message)
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

#[test]
fn certificates_crls_and_raw_signatures_go_through_the_key() {
    for algorithm in [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::Ed25519,
    ] {
        let set = CaSet::create("Acme", algorithm, now()).unwrap();
        let signatures = Arc::new(AtomicUsize::new(0));
        let key = GeneratedKey::from_pkcs8_der(set.issuing_key.pkcs8_der()).unwrap();
        let key = CountingKey {
            inner: SoftwareKey::new(key).unwrap(),
            signatures: signatures.clone(),
        };
        let ca = IssuingCa::new(&set.issuing_der, key, &set.root_der).unwrap();

        let leaf = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
        let csr = build_csr(&leaf, "d", &[]).unwrap();
        let profile = Profile::device();
        let checked = CsrCheck::new(&profile).check(&csr).unwrap();
        let params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), now());
        let der = ca.issue(&params).unwrap();
        assert_eq!(
            CertificateInfo::parse(&der).unwrap().issuer,
            ca.info().subject
        );

        ca.sign_crl(&CrlParams {
            number: 1,
            this_update: now(),
            next_update: now() + time::Duration::days(1),
            entries: vec![],
        })
        .unwrap();
        let (_, signed_with) = ca.sign_raw(b"tbs").unwrap();
        assert_eq!(
            signed_with.oid(),
            SignatureAlgorithm::of(set.issuing_key.signer().algorithm())
                .unwrap()
                .oid()
        );
        assert_eq!(signatures.load(Ordering::SeqCst), 3, "{algorithm}");
    }
}

#[test]
fn the_public_half_is_the_software_keys() {
    let key = GeneratedKey::generate(KeyAlgorithm::Rsa3072).unwrap();
    let spki = key.public_key_der();
    let key = SoftwareKey::new(key).unwrap();
    assert_eq!(key.subject_public_key_info(), spki);
    assert_eq!(key.algorithm(), SignatureAlgorithm::RsaSha256);
}
