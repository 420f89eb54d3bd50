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
fn an_ocsp_cache_of_fewer_than_two_certificates_is_refused_naming_the_key() {
    for bad in ["0", "1"] {
        let c: Config =
            toml::from_str(&format!("[revocation]\nocsp_cache_certificates = {bad}")).unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("revocation.ocsp_cache_certificates"), "{err}");
    }
    assert!(toml::from_str::<Config>("[revocation]\nocsp_cache_certificates = -5").is_err());
    let c: Config = toml::from_str("[revocation]\nocsp_cache_certificates = 2").unwrap();
    c.validate().unwrap();
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

#[test]
fn the_policy_arc_is_read_and_a_128_bit_arc_is_refused_naming_the_key() {
    let c: Config = toml::from_str("[pki]\npolicy_arc = \"1.3.6.1.4.1.99999.3\"\n").unwrap();
    assert_eq!(c.pki.policy_arc.level_oid(2), "1.3.6.1.4.1.99999.3.2");
    assert_eq!(
        Config::default().pki.policy_arc.to_string(),
        inkan_pki::DEFAULT_LEVEL_ARC
    );
    let err = toml::from_str::<Config>(
        "[pki]\npolicy_arc = \"2.25.116349897229494757781875877206570096290.1\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("policy_arc") && err.contains("31 bits"),
        "{err}"
    );
}

#[test]
fn the_plain_http_listener_is_on_by_default_next_to_the_https_one() {
    let https: SocketAddr = "10.0.0.5:8443".parse().unwrap();
    let c = Config::default();
    assert_eq!(c.server.http_listen, HttpListen::Auto);
    assert_eq!(
        c.server.http_listen.resolve(https),
        Some("10.0.0.5:8080".parse().unwrap())
    );
    assert_eq!(
        HttpListen::Auto.resolve("127.0.0.1:0".parse().unwrap()),
        Some("127.0.0.1:0".parse().unwrap())
    );
    let off: Config = toml::from_str("[server]\nhttp_listen = \"off\"\n").unwrap();
    assert_eq!(off.server.http_listen.resolve(https), None);
    let at: Config = toml::from_str("[server]\nhttp_listen = \"0.0.0.0:80\"\n").unwrap();
    assert_eq!(
        at.server.http_listen.resolve(https),
        Some("0.0.0.0:80".parse().unwrap())
    );
    assert!(toml::from_str::<Config>("[server]\nhttp_listen = \"8080\"\n").is_err());
}

#[test]
fn revocation_urls_are_plain_http_and_local_defaults_are_flagged() {
    let https: SocketAddr = "127.0.0.1:8443".parse().unwrap();
    let http: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let c = Config::default();
    assert_eq!(
        c.revocation_base_url(https, Some(http)),
        "http://127.0.0.1:8080"
    );
    assert_eq!(c.revocation_base_url(https, None), "https://127.0.0.1:8443");
    assert!(c.revocation_urls_are_local());
    let named: Config = toml::from_str("[server]\nnames = [\"ca.example.com\"]\n").unwrap();
    assert_eq!(
        named.revocation_base_url(https, Some(http)),
        "http://ca.example.com:8080"
    );
    assert!(!named.revocation_urls_are_local());
    let set: Config =
        toml::from_str("[revocation]\nbase_url = \"http://crl.example.com/\"\n").unwrap();
    assert_eq!(
        set.revocation_base_url(https, Some(http)),
        "http://crl.example.com"
    );
    assert!(!set.revocation_urls_are_local());
}
