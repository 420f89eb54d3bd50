use super::*;
use crate::{build_csr, CaSet, CsrCheck, GeneratedKey, IssueParams, KeyAlgorithm, Profile, Serial};

fn issue(set: &CaSet, now: OffsetDateTime) -> Vec<u8> {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let csr = build_csr(&key, "d", &[]).unwrap();
    let profile = Profile::device();
    let checked = CsrCheck::new(&profile).check(&csr).unwrap();
    let params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), now);
    set.issuing_ca().unwrap().issue(&params).unwrap()
}

#[test]
fn chains_verify_only_for_their_root_usage_and_time() {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let set = CaSet::create("A", KeyAlgorithm::P256, now).unwrap();
    let other = CaSet::create("B", KeyAlgorithm::P256, now).unwrap();
    let cert = issue(&set, now);
    let inter = [set.issuing_der.clone()];
    verify_chain(
        &cert,
        &inter,
        std::slice::from_ref(&set.root_der),
        ChainUsage::ClientAuth,
        now,
    )
    .unwrap();

    let err = verify_chain(
        &cert,
        &inter,
        std::slice::from_ref(&other.root_der),
        ChainUsage::ClientAuth,
        now,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("not issued by this authority"),
        "{err}"
    );
    let err = verify_chain(
        &cert,
        &inter,
        std::slice::from_ref(&set.root_der),
        ChainUsage::ServerAuth,
        now,
    )
    .unwrap_err();
    assert!(err.to_string().contains("extended key usage"), "{err}");
    let later = now + time::Duration::days(91);
    let err = verify_chain(
        &cert,
        &inter,
        std::slice::from_ref(&set.root_der),
        ChainUsage::ClientAuth,
        later,
    )
    .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
}
