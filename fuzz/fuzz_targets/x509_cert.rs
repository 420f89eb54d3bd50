//! X.509 certificates (client certificates presented over TLS, chains in answers) as DER and
//! PEM, through what inkan reads from them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = inkan_pki::CertificateInfo::parse(data) {
        let _ = format!("{info:?}");
    }
    let _ = inkan_pki::subject_der(data);
    if let Ok(certs) = inkan_pki::certs_from_pem(data) {
        for der in certs {
            let _ = inkan_pki::CertificateInfo::parse(&der);
        }
    }
});
