use super::*;

/// The published test vectors (docs/cards.md), computed independently with Python's `hmac`.
const SALT_1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const SALT_2: &str = "8a03bea360519395213b87ee92a78855831e775b65e9eaafe47b026d025cba77";

/// Salt, segment, system code, IDm, PMm, digits, PIN.
type Vector = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    u8,
    &'static str,
);

#[test]
fn the_published_vectors() {
    let vectors: [Vector; 8] = [
        (
            SALT_1,
            "physics",
            "0003",
            "0123456789abcdef",
            None,
            6,
            "289454",
        ),
        (
            SALT_1,
            "physics",
            "0003",
            "0123456789abcdef",
            None,
            8,
            "42289454",
        ),
        (
            SALT_1,
            "physics",
            "0003",
            "0123456789abcdef",
            None,
            10,
            "7042289454",
        ),
        (
            SALT_1,
            "chemistry",
            "0003",
            "0123456789abcdef",
            None,
            6,
            "673582",
        ),
        (
            SALT_1,
            "physics",
            "fe00",
            "0123456789abcdef",
            None,
            6,
            "737295",
        ),
        (
            SALT_1,
            "physics",
            "0003",
            "0123456789abcdee",
            None,
            6,
            "235009",
        ),
        (
            SALT_1,
            "physics",
            "0003",
            "0123456789abcdef",
            Some("0120220427674eff"),
            6,
            "357657",
        ),
        (
            SALT_2,
            "physics",
            "0003",
            "0123456789abcdef",
            None,
            6,
            "767858",
        ),
    ];
    for (salt, segment, system_code, idm, pmm, digits, pin) in vectors {
        let card = CardData::parse(system_code, idm, pmm).unwrap();
        let salt = hex::decode(salt).unwrap();
        assert_eq!(
            derive_pin(&salt, segment, &card, digits).unwrap(),
            pin,
            "{segment} {system_code} {idm} {pmm:?} {digits}"
        );
    }
}

#[test]
fn card_data_is_read_as_readers_print_it_and_malformed_data_is_refused() {
    let a = CardData::parse("00:03", "01 23 45 67 89 AB CD EF", None).unwrap();
    assert_eq!(
        a,
        CardData::parse("0003", "0123456789abcdef", None).unwrap()
    );
    assert!(matches!(
        CardData::parse("0003", "0123", None),
        Err(PinError::Card(_))
    ));
    assert!(matches!(
        CardData::parse("zz03", "0123456789abcdef", None),
        Err(PinError::Card(_))
    ));
    assert!(matches!(
        CardData::parse("0003", "0123456789abcdef", Some("01")),
        Err(PinError::Card(_))
    ));
}

#[test]
fn digits_salts_and_segments_out_of_range_are_refused() {
    let card = CardData::parse("0003", "0123456789abcdef", None).unwrap();
    let salt = [1u8; 32];
    assert_eq!(derive_pin(&salt, "s", &card, 5), Err(PinError::Digits(5)));
    assert_eq!(derive_pin(&salt, "s", &card, 11), Err(PinError::Digits(11)));
    assert_eq!(derive_pin(&[1u8; 15], "s", &card, 6), Err(PinError::Salt));
    for bad in ["", "a b", "é", &"x".repeat(65)] {
        assert!(
            matches!(derive_pin(&salt, bad, &card, 6), Err(PinError::Segment(_))),
            "{bad}"
        );
    }
}

fn generation(number: u32, salt: u8, from: i64, until: i64) -> SaltGeneration {
    SaltGeneration {
        number,
        salt: vec![salt; 32],
        valid_from: from,
        valid_until: until,
    }
}

#[test]
fn in_the_renewal_window_the_old_and_the_new_pin_both_work() {
    const DAY: i64 = 86_400;
    let card = CardData::parse("0003", "0123456789abcdef", None).unwrap();
    let first = generation(1, 1, 0, 400 * DAY);
    let now = 365 * DAY;
    let (old_until, new_from, new_until) = rotation(&first, now, 21 * DAY, 365 * DAY).unwrap();
    assert_eq!(
        (old_until, new_from, new_until),
        (now + 21 * DAY, now, now + 365 * DAY)
    );
    let generations = [
        SaltGeneration {
            valid_until: old_until,
            ..first.clone()
        },
        generation(2, 2, new_from, new_until),
    ];
    let old_pin = derive_pin(&[1; 32], "physics", &card, 6).unwrap();
    let new_pin = derive_pin(&[2; 32], "physics", &card, 6).unwrap();
    assert_ne!(old_pin, new_pin);
    let check = |at: i64, pin: &str| {
        matching_generation(&generations, at, "physics", &card, 6, pin).unwrap()
    };
    assert_eq!(check(now + DAY, &old_pin), Some(1), "old PIN in the window");
    assert_eq!(check(now + DAY, &new_pin), Some(2), "new PIN in the window");
    assert_eq!(check(now + 21 * DAY, &old_pin), None, "old PIN after it");
    assert_eq!(check(now + 21 * DAY, &new_pin), Some(2));
    assert_eq!(check(now + DAY, "000000"), None);
    assert_eq!(check(now + DAY, ""), None);
    // Another segment's PIN of the same card is not this one's.
    let other = derive_pin(&[2; 32], "chemistry", &card, 6).unwrap();
    assert_eq!(check(now + DAY, &other), None);
}

#[test]
fn a_rotation_outside_its_terms_is_refused() {
    const DAY: i64 = 86_400;
    let first = generation(1, 1, 0, 400 * DAY);
    assert!(
        rotation(&first, 10 * DAY, 13 * DAY, 365 * DAY).is_err(),
        "window too short"
    );
    assert!(
        rotation(&first, 10 * DAY, 29 * DAY, 365 * DAY).is_err(),
        "window too long"
    );
    assert!(
        rotation(&first, 10 * DAY, 21 * DAY, 20 * DAY).is_err(),
        "lifetime below window"
    );
    assert!(
        rotation(&first, 401 * DAY, 21 * DAY, 365 * DAY).is_err(),
        "not current"
    );
}
