use super::*;
use axum::http::{HeaderName, HeaderValue};

fn identity() -> ClientIdentity {
    ClientIdentity {
        card: None,
        serial: "2A0B".into(),
        subject: "CN=device-1".into(),
        level: Some(2),
        not_after: 0,
        escaped_pem: "pem".into(),
        device: None,
        product: Some("7".into()),
        linked: None,
        account: None,
    }
}

#[test]
fn client_sent_identity_and_hop_by_hop_headers_are_dropped() {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-inkan-verified", "SUCCESS"),
        ("x-inkan-device", "99"),
        ("connection", "close"),
        ("x-forwarded-for", "10.0.0.1"),
    ] {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let client: SocketAddr = ([192, 0, 2, 7], 1).into();
    prepare_headers(&mut headers, None, client);
    assert_eq!(headers["x-inkan-verified"], "NONE");
    assert!(!headers.contains_key("x-inkan-device"));
    assert!(!headers.contains_key("connection"));
    assert_eq!(headers["x-forwarded-for"], "192.0.2.7");

    headers.insert("x-inkan-device", HeaderValue::from_static("99"));
    prepare_headers(&mut headers, Some(&identity()), client);
    assert_eq!(headers["x-inkan-verified"], "SUCCESS");
    assert_eq!(headers["x-inkan-level"], "2");
    assert_eq!(headers["x-inkan-product"], "7");
    assert!(!headers.contains_key("x-inkan-device"));
}

#[test]
fn a_subject_that_cannot_be_a_header_value_is_left_out() {
    let mut headers = HeaderMap::new();
    headers.insert("x-inkan-subject", HeaderValue::from_static("CN=admin"));
    let mut id = identity();
    id.subject = "CN=a\nX-Inkan-Level: 9".into();
    prepare_headers(&mut headers, Some(&id), ([127, 0, 0, 1], 1).into());
    assert!(!headers.contains_key("x-inkan-subject"));
    assert_eq!(headers["x-inkan-level"], "2");
}

#[test]
fn the_host_comes_without_its_port_and_selects_the_longest_route() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("API.example:8443"));
    let uri = Uri::from_static("/v1/devices");
    assert_eq!(request_host(&headers, &uri), "api.example");
    let route = |host: Option<&str>, path: &str| RouteConfig {
        host: host.map(str::to_string),
        path: path.into(),
        upstreams: vec!["http://127.0.0.1:1".into()],
        client_cert: crate::ClientCertMode::Off,
        auth: vec![crate::AuthMethod::ClientCert],
        min_level: None,
        allow_subjects: Vec::new(),
        allow_serials: Vec::new(),
        allow_products: Vec::new(),
        allow_devices: Vec::new(),
        segment: None,
    };
    let table = RouteTable::new(vec![route(None, "/"), route(Some("api.example"), "/v1")]);
    assert_eq!(
        table.find("API.example", "/v1/devices").as_deref(),
        Some("/v1")
    );
    assert_eq!(table.find("other", "/v1/devices").as_deref(), Some("/"));
    let uri = Uri::from_static("https://api.example:8443/x");
    assert_eq!(request_host(&HeaderMap::new(), &uri), "api.example");
}
