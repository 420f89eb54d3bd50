use super::*;

#[test]
fn random_serials_differ_and_fit_128_bits() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let s = Serial::random().unwrap();
        assert!(s.as_bytes().len() <= 16);
        assert!(seen.insert(s));
    }
}

#[test]
fn display_and_parse_round_trip() {
    let s = Serial::from_be_bytes(&[0, 0, 0x0a, 0xbc]);
    assert_eq!(s.to_string(), "abc");
    assert_eq!("0A:BC".parse::<Serial>().unwrap(), s);
    assert_eq!("abc".parse::<Serial>().unwrap(), s);
}

#[test]
fn rejects_junk() {
    assert!("xyz".parse::<Serial>().is_err());
    assert!("".parse::<Serial>().is_err());
    assert!("1".repeat(41).parse::<Serial>().is_err());
}
