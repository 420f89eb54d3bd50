//! An EK certificate (DER, from `/v1/tpm/activations`) checked against the swtpm CA fixtures and
//! the RSA EK.
#![no_main]

use inkan_attest::{verify_ek_certificate, Public};
use libfuzzer_sys::fuzz_target;
use time::macros::datetime;

fuzz_target!(|data: &[u8]| {
    let mut anchors = Vec::new();
    for pem in [
        &include_bytes!("../../crates/attest/tests/fixtures/ek_root.pem")[..],
        &include_bytes!("../../crates/attest/tests/fixtures/ek_ca.pem")[..],
    ] {
        anchors.extend(inkan_pki::certs_from_pem(pem).unwrap_or_default());
    }
    let Ok(ek) = Public::parse(include_bytes!(
        "../../crates/attest/tests/fixtures/rsa_ek_public.bin"
    )) else {
        return;
    };
    let _ = verify_ek_certificate(data, &anchors, &ek, datetime!(2027-01-01 0:00 UTC));
});
