//! PKCS#10 CSR checks (DER) under every built-in profile: what EST, `/v1/devices` and the TPM
//! enrollment run on a client's CSR.
#![no_main]

use inkan_pki::{CsrCheck, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for profile in [
        Profile::device(),
        Profile::server(),
        Profile::product(),
        Profile::admin(),
        Profile::tpm(),
    ] {
        if let Ok(checked) = CsrCheck::new(&profile).check(data) {
            let _ = format!("{checked:?}");
        }
    }
});
