use super::*;

fn policy(toml_text: &str) -> NamePolicy {
    toml::from_str(toml_text).unwrap()
}

fn dns(p: &NamePolicy, name: &str, default_allow: bool) -> Result<(), NameVerdict> {
    p.check(Name::Dns(name), default_allow)
}

#[test]
fn dns_patterns_match_exactly_one_label_or_any_subdomain() {
    let p = policy(
        r#"
        [allow]
        dns = ["host.example.com", "*.fleet.example.com", ".lab.example.org"]
        "#,
    );
    for ok in [
        "host.example.com",
        "HOST.example.com.",
        "a.fleet.example.com",
        "*.fleet.example.com",
        "a.lab.example.org",
        "a.b.lab.example.org",
    ] {
        assert_eq!(dns(&p, ok, false), Ok(()), "{ok}");
    }
    for refused in [
        "example.com",
        "x.host.example.com",
        "fleet.example.com",
        "a.b.fleet.example.com",
        "lab.example.org",
        "bank.example.com",
        "evilfleet.example.com",
    ] {
        assert_eq!(
            dns(&p, refused, true),
            Err(NameVerdict::NotAllowed(NameKind::Dns)),
            "{refused}"
        );
    }
}

#[test]
fn deny_wins_and_covers_wildcards() {
    let p = policy(
        r#"
        [allow]
        dns = [".example.com"]
        [deny]
        dns = ["bank.example.com"]
        "#,
    );
    assert_eq!(dns(&p, "shop.example.com", false), Ok(()));
    assert_eq!(
        dns(&p, "bank.example.com", false),
        Err(NameVerdict::Denied(
            NameKind::Dns,
            "bank.example.com".into()
        ))
    );
    // A wildcard would cover the denied name.
    assert!(matches!(
        dns(&p, "*.example.com", false),
        Err(NameVerdict::Denied(..))
    ));
    assert_eq!(dns(&p, "*.shop.example.com", false), Ok(()));
}

#[test]
fn unset_lists_use_the_default_and_empty_lists_allow_nothing() {
    let open = NamePolicy::default();
    assert_eq!(dns(&open, "anything.test", true), Ok(()));
    assert_eq!(
        dns(&open, "anything.test", false),
        Err(NameVerdict::NotAllowed(NameKind::Dns))
    );
    let closed = policy("[allow]\ndns = []");
    assert!(dns(&closed, "anything.test", true).is_err());
}

#[test]
fn ip_ranges_emails_uris_and_common_names() {
    let p = policy(
        r#"
        [allow]
        ip = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]
        email = ["ops@example.com", "example.org", ".example.net"]
        uri = ["https://example.com/devices/*", "spiffe://example.com/app"]
        cn = ["sensor-*"]
        [deny]
        cn = ["sensor-0*"]
        "#,
    );
    let ip = |s: &str| p.check(Name::Ip(s.parse().unwrap()), false);
    assert_eq!(ip("10.1.2.3"), Ok(()));
    assert_eq!(ip("2001:db8::1"), Ok(()));
    assert_eq!(ip("192.0.2.7"), Ok(()));
    assert!(ip("192.0.2.8").is_err());
    assert!(ip("11.0.0.1").is_err());
    let email = |s: &str| p.check(Name::Email(s), false);
    assert_eq!(email("ops@EXAMPLE.com"), Ok(()));
    assert!(email("root@example.com").is_err());
    assert_eq!(email("anyone@example.org"), Ok(()));
    assert_eq!(email("a@mail.example.net"), Ok(()));
    assert!(email("a@example.net").is_err());
    let uri = |s: &str| p.check(Name::Uri(s), false);
    assert_eq!(uri("https://example.com/devices/7"), Ok(()));
    assert_eq!(uri("spiffe://example.com/app"), Ok(()));
    assert!(uri("spiffe://example.com/app2").is_err());
    let cn = |s: &str| p.check(Name::Cn(s), false);
    assert_eq!(cn("Sensor-7"), Ok(()));
    assert!(matches!(cn("sensor-01"), Err(NameVerdict::Denied(..))));
    assert!(cn("ops").is_err());
}

#[test]
fn bad_patterns_are_named() {
    for (text, needle) in [
        ("[allow]\ndns = [\"a..b\"]", "a..b"),
        ("[allow]\ndns = [\"*.*.x\"]", "*.*.x"),
        ("[allow]\nip = [\"10.0.0.1/8\"]", "host bits"),
        ("[allow]\nip = [\"10.0.0.0/33\"]", "10.0.0.0/33"),
        ("[allow]\nemail = [\"@\"]", "email pattern"),
        ("[allow]\nuri = [\"no-scheme\"]", "URI pattern"),
        ("[allow]\ndnss = []", "dnss"),
    ] {
        let err = toml::from_str::<NamePolicy>(text).unwrap_err().to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn patterns_round_trip_as_written() {
    let text =
        "[allow]\ndns = [\"*.a.example\", \".b.example\", \"c.example\"]\nip = [\"10.0.0.0/8\"]\n";
    let p = policy(text);
    let back = toml::to_string(&p).unwrap();
    assert_eq!(policy(&back), p);
    assert!(back.contains("*.a.example") && back.contains(".b.example"));
}
