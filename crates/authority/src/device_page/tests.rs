use inkan_store::DeviceStatus;

use super::*;

fn device(id: &str, created_at_ms: i64) -> DeviceRecord {
    DeviceRecord {
        id: id.into(),
        product_id: "p1".into(),
        attributes: serde_json::json!({}),
        spki_sha256: "00".into(),
        registration_id: None,
        status: DeviceStatus::Active,
        created_at_ms,
        last_seen_ms: created_at_ms,
    }
}

#[test]
fn cursors_round_trip_as_url_safe_text() {
    for (id, ms) in [
        ("7019bdd602a09ec1", 1_764_000_000_123),
        ("d1", 0),
        ("a-b_C", -5),
        ("x", i64::MAX),
    ] {
        let cursor = PageCursor::from(&device(id, ms));
        let text = cursor.to_string();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
        assert_eq!(text.parse::<PageCursor>(), Ok(cursor.clone()));
        assert_eq!(cursor.position().id, id);
        assert_eq!(cursor.position().created_at_ms, ms);
    }
}

#[test]
fn malformed_cursors_are_refused() {
    let encode = |plain: &str| URL_SAFE_NO_PAD.encode(plain);
    let too_long_id = format!("5:{}", "a".repeat(MAX_ID_CHARS + 1));
    for text in [
        String::new(),
        "!!!".into(),
        "a".into(),                        // not base64 of anything
        "NTpk+MQ".into(),                  // standard alphabet
        format!("{}=", encode("5:d1")),    // padding
        encode("5d1"),                     // no separator
        encode(":d1"),                     // no time
        encode("5:"),                      // no id
        encode("+5:d1"),                   // not canonical
        encode("05:d1"),                   // not canonical
        encode("5.5:d1"),                  // not an integer
        encode("99999999999999999999:d1"), // out of range
        encode("5:d 1"),                   // not an id
        encode("5:d1:x"),                  // not an id
        encode("5:d1\n"),                  // not an id
        encode(&too_long_id),
        URL_SAFE_NO_PAD.encode([0xff, 0xfe, b':', b'a']), // not UTF-8
        "A".repeat(MAX_CURSOR_CHARS + 4),
    ] {
        assert_eq!(text.parse::<PageCursor>(), Err(BadCursor), "{text:?}");
    }
    // Other spellings of the same bytes (non-zero trailing bits) are refused: one text each.
    let valid = encode("5:d1");
    let cursor: PageCursor = valid.parse().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let same: Vec<String> = alphabet
        .chars()
        .map(|c| format!("{}{c}", &valid[..valid.len() - 1]))
        .filter(|t| t.parse::<PageCursor>().as_ref() == Ok(&cursor))
        .collect();
    assert_eq!(same, [valid]);
}

#[test]
fn a_page_has_a_next_cursor_only_when_more_devices_follow() {
    let devices: Vec<_> = (0..3).map(|i| device(&format!("d{i}"), 10 - i)).collect();
    let page = DevicePage::from_overfetch(devices.clone(), 2);
    assert_eq!(page.devices.len(), 2);
    assert_eq!(page.next, Some(PageCursor::from(&devices[1])));
    let last = DevicePage::from_overfetch(devices.clone(), 3);
    assert_eq!((last.devices.len(), last.next), (3, None));
    let empty = DevicePage::from_overfetch(vec![], 5);
    assert!(empty.devices.is_empty() && empty.next.is_none());
}
