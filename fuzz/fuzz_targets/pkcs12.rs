//! PKCS#12 bundles (a ProductCert with its key, as the agent opens them). The seeds are
//! encrypted under the passphrase used here.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(opened) = inkan_pki::pkcs12_decode(data, "fuzz-passphrase") {
        for der in &opened.chain {
            let _ = inkan_pki::CertificateInfo::parse(der);
        }
    }
});
