//! PKCS#7 certs-only messages (EST `cacerts` and enrollment answers, as the agent reads them),
//! and the certificates inside.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = inkan_pki::certs_only_decode(data) {
        for der in certs {
            let _ = inkan_pki::CertificateInfo::parse(&der);
        }
    }
});
