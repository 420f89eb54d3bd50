//! TPMT_SIGNATURE, verified against the AK fixture and against the ECC and RSA EKs (an RSA key
//! and an ECC key, so both verification paths see fuzzed signatures).
#![no_main]

use inkan_attest::{Public, Signature};
use libfuzzer_sys::fuzz_target;

const KEYS: [&[u8]; 3] = [
    include_bytes!("../../crates/attest/tests/fixtures/ak_public.bin"),
    include_bytes!("../../crates/attest/tests/fixtures/rsa_ek_public.bin"),
    include_bytes!("../../crates/attest/tests/fixtures/ecc_ek_public.bin"),
];
const ATTEST: &[u8] = include_bytes!("../../crates/attest/tests/fixtures/certify_attest.bin");

fuzz_target!(|data: &[u8]| {
    if let Ok(signature) = Signature::parse(data) {
        for key in KEYS.iter().filter_map(|k| Public::parse(k).ok()) {
            let _ = signature.verify(&key, ATTEST);
        }
    }
});
