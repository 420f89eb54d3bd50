//! The JSON bodies and query strings of `/v1`, parsed as the handlers do, and the text fields
//! the handlers parse further (validity durations, revocation reasons, serials).
//! Input: one selector byte, then the body.
#![no_main]

use inkan_server::fuzz_api::{v1_body, v1_query, V1Body, V1Query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let json = b"application/json";
    let text = std::str::from_utf8(body);
    match selector % 10 {
        0 => drop(v1_body(V1Body::Revoke, json, body)),
        1 => drop(v1_body(V1Body::NewProduct, json, body)),
        2 => drop(v1_body(V1Body::Register, json, body)),
        3 => drop(v1_body(V1Body::Activation, json, body)),
        4 => drop(v1_body(V1Body::Enrollment, json, body)),
        5 => drop(text.map(|q| v1_query(V1Query::Devices, q))),
        6 => drop(text.map(|q| v1_query(V1Query::Revocations, q))),
        7 => drop(text.map(inkan_pki::duration_text::parse)),
        8 => drop(text.map(str::parse::<inkan_pki::RevocationReason>)),
        _ => drop(text.map(str::parse::<inkan_pki::Serial>)),
    }
});
