use super::*;

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (k, v) in pairs {
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    headers
}

fn identity() -> ClientIdentity {
    ClientIdentity {
        card: None,
        serial: "01".into(),
        subject: "CN=dev".into(),
        level: Some(2),
        not_after: 0,
        escaped_pem: "pem".into(),
        device: Some("d1".into()),
        product: None,
        linked: None,
        account: None,
    }
}

#[test]
fn one_host_rule_for_both_protocols() {
    let origin: Uri = "/x".parse().unwrap();
    let h2: Uri = "https://App.example:8443/x".parse().unwrap();
    let host = map(&[("host", "app.example:8443")]);
    assert_eq!(
        request_host(&host, &origin).unwrap().as_deref(),
        Some("app.example:8443")
    );
    assert_eq!(
        request_host(&HeaderMap::new(), &h2).unwrap().as_deref(),
        Some("app.example:8443")
    );
    assert_eq!(
        request_host(&host, &h2).unwrap().as_deref(),
        Some("app.example:8443")
    );
    let other = map(&[("host", "evil.example")]);
    assert_eq!(request_host(&other, &h2), Err(HostError::Conflicting));
    let twice = map(&[("host", "a.example"), ("host", "b.example")]);
    assert_eq!(request_host(&twice, &origin), Err(HostError::Duplicate));
    assert_eq!(request_host(&HeaderMap::new(), &origin), Ok(None));
    assert_eq!(host_name("[::1]:8443"), "[::1]");
    assert_eq!(host_name("app.example:8443"), "app.example");
}

#[test]
fn spoofed_identity_and_forwarding_headers_never_reach_the_upstream() {
    let mut headers = map(&[
        ("x-inkan-subject", "CN=admin"),
        ("x_inkan_subject", "CN=admin"),
        ("X_Inkan_Device", "victim"),
        ("x-forwarded-for", "1.2.3.4"),
        ("forwarded", "for=1.2.3.4"),
        ("x-real-ip", "1.2.3.4"),
        ("x-forwarded-host", "evil.example"),
        ("connection", "close"),
        ("accept", "*/*"),
    ]);
    let forwarding = Forwarding {
        client: "127.0.0.9".parse().unwrap(),
        host: Some("app.example"),
        from_trusted_proxy: false,
    };
    prepare_headers(&mut headers, Some(&identity()), &forwarding);
    assert_eq!(headers["x-inkan-subject"], "CN=dev");
    assert_eq!(headers["x-inkan-device"], "d1");
    assert!(headers.keys().all(|k| !k.as_str().contains('_')));
    assert_eq!(headers["x-forwarded-for"], "127.0.0.9");
    assert_eq!(headers["x-real-ip"], "127.0.0.9");
    assert_eq!(headers["x-forwarded-host"], "app.example");
    assert_eq!(
        headers["forwarded"],
        "for=127.0.0.9;proto=https;host=\"app.example\""
    );
    assert_eq!(headers["host"], "app.example");
    assert_eq!(headers["accept"], "*/*");
    assert!(headers.get("connection").is_none());
    assert_eq!(headers.get_all("x-forwarded-for").iter().count(), 1);
}

#[test]
fn a_trusted_proxy_keeps_its_forwarding_headers() {
    let mut headers = map(&[
        ("x-forwarded-for", "203.0.113.7"),
        ("x-real-ip", "203.0.113.7"),
        ("x-inkan-level", "4"),
    ]);
    let forwarding = Forwarding {
        client: "10.0.0.2".parse().unwrap(),
        host: None,
        from_trusted_proxy: true,
    };
    prepare_headers(&mut headers, None, &forwarding);
    assert_eq!(headers["x-forwarded-for"], "203.0.113.7, 10.0.0.2");
    assert_eq!(headers["x-real-ip"], "203.0.113.7");
    assert_eq!(headers["x-inkan-verified"], "NONE");
    assert!(headers.get("x-inkan-level").is_none());
}

#[test]
fn only_idempotent_methods_are_retried() {
    assert!(is_idempotent(&Method::GET));
    assert!(is_idempotent(&Method::PUT));
    assert!(!is_idempotent(&Method::POST));
    assert!(!is_idempotent(&Method::PATCH));
}

#[test]
fn address_ranges() {
    let ranges =
        AddressRanges::parse(&["10.0.0.0/8".into(), "192.168.1.7".into(), "fd00::/8".into()])
            .unwrap();
    assert!(ranges.contains("10.200.0.1".parse().unwrap()));
    assert!(ranges.contains("192.168.1.7".parse().unwrap()));
    assert!(!ranges.contains("192.168.1.8".parse().unwrap()));
    assert!(ranges.contains("fd12::1".parse().unwrap()));
    assert!(ranges.contains("::ffff:10.1.2.3".parse().unwrap()));
    assert!(!ranges.contains("11.0.0.1".parse().unwrap()));
    assert!(AddressRanges::parse(&["10.0.0.0/33".into()]).is_err());
    assert!(AddressRanges::parse(&["ten".into()]).is_err());
}
