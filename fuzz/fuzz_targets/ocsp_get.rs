//! OCSP requests as GET (RFC 6960 A.1): the URL-encoded base64 rest of the path, percent-decoded
//! as the router does, base64-decoded as the handler does, then parsed.
#![no_main]

use std::sync::LazyLock;

use inkan_pki::{parse_ocsp_request, OcspIssuer};
use libfuzzer_sys::fuzz_target;

static ISSUER: LazyLock<Option<OcspIssuer>> =
    LazyLock::new(|| OcspIssuer::new(include_bytes!("../fixtures/issuing_ca.der")).ok());

fuzz_target!(|data: &[u8]| {
    let Ok(path) = percent_encoding::percent_decode(data).decode_utf8() else {
        return;
    };
    let der = inkan_server::fuzz_api::ocsp_get_der(&path);
    if let Some(issuer) = ISSUER.as_ref() {
        let _ = parse_ocsp_request(&der, issuer);
    }
});
