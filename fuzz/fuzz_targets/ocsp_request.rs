//! OCSP requests as POSTed (DER), checked against an issuing CA; also OCSP responses as the
//! clients in inkan read their status.
#![no_main]

use std::sync::LazyLock;

use inkan_pki::{ocsp_response_status, parse_ocsp_request, OcspIssuer};
use libfuzzer_sys::fuzz_target;

static ISSUER: LazyLock<Option<OcspIssuer>> =
    LazyLock::new(|| OcspIssuer::new(include_bytes!("../fixtures/issuing_ca.der")).ok());

fuzz_target!(|data: &[u8]| {
    if let Some(issuer) = ISSUER.as_ref() {
        if let Ok(info) = parse_ocsp_request(data, issuer) {
            let _ = format!("{info:?}");
        }
    }
    let _ = ocsp_response_status(data);
});
