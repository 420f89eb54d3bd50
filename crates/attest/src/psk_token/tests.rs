use super::*;

const GROUP: &[u8] = b"0123456789abcdef0123456789abcdef";

fn header(ts: i64, body: &[u8]) -> String {
    let key = derive_device_key(GROUP, "sn-0001");
    PskToken::sign(
        &key,
        "thermostat",
        "sn-0001",
        ts,
        "AAAAAAAAAAAAAAAAAAAAAA",
        "POST",
        "/v1/devices",
        body,
    )
}

#[test]
fn derived_key_matches_hmac_sha256_reference() {
    // HMAC-SHA256(key = "key", "The quick brown fox jumps over the lazy dog") (RFC 4231 style vector).
    let tag = derive_device_key(b"key", "The quick brown fox jumps over the lazy dog");
    assert_eq!(
        hex::encode(tag),
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
}

#[test]
fn a_signed_token_verifies_and_every_field_is_bound() {
    let key = derive_device_key(GROUP, "sn-0001");
    let token = PskToken::parse(&header(1000, b"{}")).unwrap();
    token
        .verify(&key, "POST", "/v1/devices", b"{}", 1000, 300)
        .unwrap();
    assert_eq!(
        token.verify(&key, "POST", "/v1/devices", b"{ }", 1000, 300),
        Err(PskError::BadSignature)
    );
    assert_eq!(
        token.verify(&key, "GET", "/v1/devices", b"{}", 1000, 300),
        Err(PskError::BadSignature)
    );
    assert_eq!(
        token.verify(&key, "POST", "/v1/other", b"{}", 1000, 300),
        Err(PskError::BadSignature)
    );
    let other = derive_device_key(GROUP, "sn-0002");
    assert_eq!(
        token.verify(&other, "POST", "/v1/devices", b"{}", 1000, 300),
        Err(PskError::BadSignature)
    );
    let mut forged = token.clone();
    forged.registration_id = "sn-0002".into();
    assert_eq!(
        forged.verify(&key, "POST", "/v1/devices", b"{}", 1000, 300),
        Err(PskError::BadSignature)
    );
}

#[test]
fn stale_tokens_are_refused_both_ways() {
    let key = derive_device_key(GROUP, "sn-0001");
    let token = PskToken::parse(&header(1000, b"")).unwrap();
    assert!(token
        .verify(&key, "POST", "/v1/devices", b"", 1300, 300)
        .is_ok());
    assert_eq!(
        token.verify(&key, "POST", "/v1/devices", b"", 1301, 300),
        Err(PskError::Stale {
            offset_secs: -301,
            window_secs: 300
        })
    );
    assert_eq!(
        token.verify(&key, "POST", "/v1/devices", b"", 699, 300),
        Err(PskError::Stale {
            offset_secs: 301,
            window_secs: 300
        })
    );
}

#[test]
fn malformed_headers_are_refused() {
    for bad in [
        "",
        "Bearer x",
        "InkanPSK",
        "InkanPSK product=\"p\"",
        "InkanPSK product=p, registration=\"r\", ts=\"1\", nonce=\"AAAAAAAAAAAAAAAA\", sig=\"x\"",
        "InkanPSK product=\"p\", registration=\"r r\", ts=\"1\", nonce=\"AAAAAAAAAAAAAAAA\", sig=\"x\"",
        "InkanPSK product=\"p\", registration=\"r\", ts=\"x\", nonce=\"AAAAAAAAAAAAAAAA\", sig=\"x\"",
        "InkanPSK product=\"p\", registration=\"r\", ts=\"1\", nonce=\"short\", sig=\"x\"",
        "InkanPSK product=\"p\", product=\"q\", registration=\"r\", ts=\"1\", nonce=\"AAAAAAAAAAAAAAAA\", sig=\"x\"",
        "InkanPSK extra=\"1\", product=\"p\", registration=\"r\", ts=\"1\", nonce=\"AAAAAAAAAAAAAAAA\", sig=\"x\"",
    ] {
        assert!(matches!(PskToken::parse(bad), Err(PskError::Malformed(_))), "{bad}");
    }
    assert!(PskToken::parse(&"InkanPSK ".repeat(200)).is_err());
}

#[test]
fn the_skew_message_says_which_clock_is_ahead() {
    let key = derive_device_key(GROUP, "sn-0001");
    let token = PskToken::parse(&header(1000, b"")).unwrap();
    // The authority's clock is past the token: the device clock is behind.
    let behind = token
        .verify(&key, "POST", "/v1/devices", b"", 1400, 300)
        .unwrap_err()
        .to_string();
    assert!(
        behind.contains("is 400 s behind the authority's clock"),
        "{behind}"
    );
    // The token is from the authority's future: the device clock is ahead.
    let ahead = token
        .verify(&key, "POST", "/v1/devices", b"", 600, 300)
        .unwrap_err()
        .to_string();
    assert!(
        ahead.contains("is 400 s ahead of the authority's clock"),
        "{ahead}"
    );
    assert!(!ahead.contains('-') && !behind.contains('-'));
}
