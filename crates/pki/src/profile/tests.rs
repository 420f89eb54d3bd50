use super::*;

#[test]
fn built_in_profiles_are_valid() {
    Profile::device().validate().unwrap();
    Profile::server().validate().unwrap();
}

#[test]
fn durations_parse_and_format() {
    assert_eq!(duration_text::parse("90d").unwrap().as_secs(), 90 * 86_400);
    assert_eq!(duration_text::parse("15m").unwrap().as_secs(), 900);
    assert!(duration_text::parse("90").is_err());
    assert!(duration_text::parse("d").is_err());
    assert!(duration_text::parse("3w").is_err());
    assert_eq!(duration_text::format(&Duration::from_secs(7200)), "2h");
}

#[test]
fn a_level_outside_one_to_four_is_refused() {
    let mut p = Profile::device();
    p.level = 5;
    assert!(p.validate().is_err());
}
