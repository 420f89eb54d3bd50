//! TPMT_PUBLIC (EK, AK and device key of a TPM enrollment) and the checks run on each, and
//! whether a CSR's SubjectPublicKeyInfo (the same bytes) matches a TPM key.
#![no_main]

use inkan_attest::{check_ak, check_device_key, check_ek, spki_matches, Public};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(public) = Public::parse(data) {
        let _ = public.name();
        let _ = public.describe();
        let _ = check_ek(&public);
        let _ = check_ak(&public);
        let _ = check_device_key(&public);
        let _ = spki_matches(&public, data);
    }
    if let Ok(key) = Public::parse(include_bytes!(
        "../../crates/attest/tests/fixtures/key_public.bin"
    )) {
        let _ = spki_matches(&key, data);
    }
});
