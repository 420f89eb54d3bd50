use super::*;

#[test]
fn an_empty_file_is_the_default() {
    let c: Config = toml::from_str("").unwrap();
    c.validate().unwrap();
    assert_eq!(c.profile_for_label("device").as_deref(), Some("device"));
    assert_eq!(c.profile_for_label("nope"), None);
}

#[test]
fn profiles_and_labels_are_read() {
    let c: Config = toml::from_str(
        r#"
        [server]
        listen = "0.0.0.0:9443"
        [est.labels]
        sensors = "sensor"
        [profiles.sensor]
        validity = "7d"
        key_usage = ["digital_signature"]
        extended_key_usage = ["client_auth"]
        san = ["uri"]
        subject = ["CN"]
        require_common_name = true
        key_types = ["p256"]
        level = 2
        "#,
    )
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.profile_for_label("sensors").as_deref(), Some("sensor"));
    assert_eq!(c.profiles()["sensor"].validity.as_secs(), 7 * 86_400);
}

#[test]
fn mistakes_are_named() {
    assert!(toml::from_str::<Config>("[server]\nlisten = 5").is_err());
    assert!(toml::from_str::<Config>("typo = 1").is_err());
    let c: Config = toml::from_str("[est.labels]\nx = \"missing\"").unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn every_toml_example_in_the_configuration_guide_loads() {
    let guide = include_str!("../../../../docs/configuration.md");
    let mut blocks = 0;
    for block in guide.split("```toml\n").skip(1) {
        let text = block.split("```").next().unwrap();
        let c: Config = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        c.validate().unwrap_or_else(|e| panic!("{e}\n{text}"));
        blocks += 1;
    }
    assert!(blocks >= 2);
}
