//! An EST simpleenroll request as the handler reads it: the Content-Type, the HTTP Basic
//! `Authorization` header and the base64 PKCS#10 body, then the CSR check.
//! Input: `content-type \n authorization \n body`.
#![no_main]

use inkan_pki::{CsrCheck, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let content_type = parts.next().unwrap_or_default();
    let authorization = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    if let Ok(der) = inkan_server::fuzz_api::est_request(content_type, authorization, body) {
        let _ = CsrCheck::new(&Profile::device()).check(&der);
    }
});
