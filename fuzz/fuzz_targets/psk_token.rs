//! `Authorization: InkanPSK …` headers: parsed strictly, then verified as `/v1/devices` does.
#![no_main]

use inkan_attest::{derive_device_key, PskToken};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = PskToken::parse(header) {
        let key = derive_device_key(b"fuzz group key", &token.registration_id);
        let _ = token.verify(&key, "POST", "/v1/devices", b"{}", 1_700_000_000, 300);
    }
});
