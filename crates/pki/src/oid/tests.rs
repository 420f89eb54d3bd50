use super::*;

fn decode(content: &[u8]) -> String {
    let der = tlv(0x06, content);
    let (_, oid) = x509_parser::der_parser::der::parse_der_oid(&der).unwrap();
    oid.as_oid().unwrap().to_id_string()
}

#[test]
fn level_oid_parses_back_with_an_independent_decoder() {
    let arc = PolicyArc::default();
    assert_eq!(arc.to_string(), DEFAULT_LEVEL_ARC);
    assert_eq!(arc.level_oid(3), "1.3.6.1.4.1.32473.1.3");
    assert_eq!(decode(&arc.level_oid_der(3)), arc.level_oid(3));
    let own: PolicyArc = "1.3.6.1.4.1.2147483647.7".parse().unwrap();
    assert_eq!(decode(&own.level_oid_der(2)), "1.3.6.1.4.1.2147483647.7.2");
}

#[test]
fn levels_are_read_under_the_arc_and_the_legacy_one_only() {
    let arc: PolicyArc = "1.3.6.1.4.1.99999.4".parse().unwrap();
    assert_eq!(arc.level_of(&arc.level_oid_der(2)), Some(2));
    assert_eq!(arc.level_of(&arc.level_oid_der(5)), None);
    let other = PolicyArc::default();
    assert_eq!(arc.level_of(&other.level_oid_der(2)), None);
    let legacy = legacy_level_oid_der(3);
    assert_eq!(decode(&legacy), format!("{LEGACY_LEVEL_ARC}.3"));
    assert_eq!(arc.level_of(&legacy), None);
    assert_eq!(arc.level_of_any(&legacy), Some(3));
}

#[test]
fn arcs_that_libraries_refuse_are_rejected_with_the_reason() {
    for (text, why) in [
        ("2.25.116349897229494757781875877206570096290", "31 bits"),
        ("1.3.6.1.4.1.2147483648", "31 bits"),
        ("1", "two arcs"),
        ("3.1", "start with"),
        ("1.40", "start with"),
        ("1.3..6", "numbers separated by dots"),
        ("1.3.06", "leading zero"),
        ("1.3.x", "numbers separated by dots"),
        ("", "numbers separated by dots"),
    ] {
        let err = text.parse::<PolicyArc>().unwrap_err();
        assert!(err.contains(why), "{text:?}: {err}");
    }
    assert!("2.999".parse::<PolicyArc>().is_ok());
}

#[test]
fn small_arcs_encode_like_the_spec_example() {
    // 1.2.840.113549 from X.690 8.19.5
    assert_eq!(
        oid_content(&[42, 840, 113549]),
        vec![0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]
    );
}

#[test]
fn long_lengths_use_the_long_form() {
    let content = vec![0u8; 300];
    let out = tlv(0x04, &content);
    assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2c]);
    assert_eq!(out.len(), 304);
}
