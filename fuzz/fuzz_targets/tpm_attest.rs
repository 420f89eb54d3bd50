//! TPMS_ATTEST (the TPM2_Certify of a device key).
#![no_main]

use inkan_attest::Attest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(attest) = Attest::parse(data) {
        let _ = format!("{attest:?}");
    }
});
