//! The gateway's handling of client-sent headers: the host it routes on, and the header set it
//! forwards. Properties checked: no hop-by-hop header and no client-sent `X-Inkan-*` header
//! survives; each `X-Inkan-*` header present carries the verified identity, once.
//! Input: lines; `@subject …`, `@serial …`, `@device …`, `@product …`, `@level N` describe a
//! verified identity, `@uri …` the request target, every other `name: value` line is a header.
#![no_main]

use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use inkan_gateway::fuzz_api::{
    prepare_headers, request_host, ClientIdentity, RouteTable, HOP_BY_HOP,
};
use inkan_gateway::{AuthMethod, CardIdentity, ClientCertMode, RouteConfig};
use libfuzzer_sys::fuzz_target;

fn route(host: Option<&str>, path: &str) -> RouteConfig {
    RouteConfig {
        host: host.map(str::to_string),
        path: path.to_string(),
        upstreams: vec!["http://127.0.0.1:1".into()],
        client_cert: ClientCertMode::Optional,
        auth: vec![AuthMethod::ClientCert],
        min_level: None,
        allow_subjects: Vec::new(),
        allow_serials: Vec::new(),
        allow_products: Vec::new(),
        allow_devices: Vec::new(),
        segment: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    let mut identity: Option<ClientIdentity> = None;
    let mut uri = Uri::from_static("/");
    for line in data.split(|b| *b == b'\n') {
        let text = String::from_utf8_lossy(line);
        if let Some(rest) = text.strip_prefix('@') {
            let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
            let id = identity.get_or_insert_with(|| ClientIdentity {
                serial: "01".into(),
                subject: "CN=fuzz".into(),
                level: None,
                not_after: 0,
                escaped_pem: "-----BEGIN%20CERTIFICATE-----".into(),
                device: None,
                product: None,
                linked: None,
                account: None,
                card: None,
            });
            match key {
                "subject" => id.subject = value.into(),
                "serial" => id.serial = value.into(),
                "device" => id.device = Some(value.into()),
                "product" => id.product = Some(value.into()),
                "linked" => id.linked = Some(value.into()),
                "account" => id.account = Some(value.into()),
                "level" => id.level = value.parse().ok(),
                "card-segment" | "card-idm" | "card-user" => {
                    // A card session: no certificate behind it.
                    id.serial.clear();
                    id.escaped_pem.clear();
                    let card = id.card.get_or_insert_with(|| CardIdentity {
                        segment: String::new(),
                        idm: String::new(),
                        user: None,
                    });
                    match key {
                        "card-segment" => card.segment = value.into(),
                        "card-idm" => card.idm = value.into(),
                        _ => card.user = Some(value.into()),
                    }
                }
                "uri" => uri = value.parse().unwrap_or(uri),
                _ => {}
            }
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(value.trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }

    let host = request_host(&headers, &uri);
    let table = RouteTable::new(vec![
        route(None, "/"),
        route(Some("api.example"), "/v1"),
        route(Some("API.example"), "/v1/admin"),
    ]);
    let _ = table.find(&host, uri.path());

    let client: SocketAddr = "192.0.2.7:4433"
        .parse()
        .unwrap_or(([127, 0, 0, 1], 0).into());
    prepare_headers(&mut headers, identity.as_ref(), client);

    for name in HOP_BY_HOP {
        assert!(
            !headers.contains_key(name),
            "hop-by-hop header {name} forwarded"
        );
    }
    let expected = |name: &str| -> Option<String> {
        match (name, identity.as_ref()) {
            ("x-inkan-verified", None) => Some("NONE".into()),
            ("x-inkan-verified", Some(_)) => Some("SUCCESS".into()),
            (_, None) => None,
            ("x-inkan-subject", Some(id)) => Some(id.subject.clone()),
            ("x-inkan-serial", Some(id)) => Some(id.serial.clone()).filter(|s| !s.is_empty()),
            ("x-inkan-level", Some(id)) => id.level.map(|l| l.to_string()),
            ("x-inkan-device", Some(id)) => id.device.clone(),
            ("x-inkan-product", Some(id)) => id.product.clone(),
            ("x-inkan-linked-device", Some(id)) => id.linked.clone(),
            ("x-inkan-account", Some(id)) => id.account.clone(),
            ("x-inkan-client-cert", Some(id)) => {
                Some(id.escaped_pem.clone()).filter(|p| !p.is_empty())
            }
            ("x-inkan-method", Some(id)) => id.card.as_ref().map(|_| "card".to_string()),
            ("x-inkan-card-segment", Some(id)) => id.card.as_ref().map(|c| c.segment.clone()),
            ("x-inkan-card-idm", Some(id)) => id.card.as_ref().map(|c| c.idm.clone()),
            ("x-inkan-user", Some(id)) => id.card.as_ref().and_then(|c| c.user.clone()),
            _ => None,
        }
    };
    for name in headers.keys() {
        if !name.as_str().starts_with("x-inkan-") {
            continue;
        }
        let values: Vec<&[u8]> = headers
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        assert_eq!(values.len(), 1, "{name} forwarded {} times", values.len());
        let want = expected(name.as_str());
        assert_eq!(
            want.as_deref().map(str::as_bytes),
            values.first().copied(),
            "{name} does not carry the verified identity"
        );
    }
    assert!(headers.contains_key("x-inkan-verified"));
    let forwarded_for = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        forwarded_for.ends_with("192.0.2.7"),
        "x-forwarded-for {forwarded_for:?}"
    );
    assert_eq!(
        headers.get("x-forwarded-proto").map(HeaderValue::as_bytes),
        Some(&b"https"[..])
    );
});
