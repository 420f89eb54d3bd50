use super::{AuthMethod, GatewayConfig, RouteConfig};

fn load(text: &str) -> Result<GatewayConfig, String> {
    let dir = std::env::temp_dir().join(format!(
        "inkan-gateway-config-{}-{}",
        std::process::id(),
        text.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    let loaded = GatewayConfig::load(&path).map_err(|e| e.to_string());
    std::fs::remove_dir_all(&dir).unwrap();
    loaded
}

const BASE: &str =
    "listen = \"127.0.0.1:0\"\ncert = \"c.pem\"\nkey = \"k.pem\"\nclient_ca = [\"ca.pem\"]\n";

#[test]
fn a_route_accepts_client_certificates_by_default() {
    let route: RouteConfig = toml::from_str("upstreams = [\"http://127.0.0.1:1\"]").unwrap();
    assert_eq!(route.auth, [AuthMethod::ClientCert]);
    let route: RouteConfig =
        toml::from_str("upstreams = [\"http://127.0.0.1:1\"]\nauth = [\"client-cert\"]").unwrap();
    assert_eq!(route.auth, [AuthMethod::ClientCert]);
    let config = load(&format!(
        "{BASE}[[route]]\nupstreams = [\"http://127.0.0.1:1\"]\nauth = [\"client-cert\"]\n"
    ))
    .unwrap();
    assert_eq!(config.routes[0].auth, [AuthMethod::ClientCert]);
}

#[test]
fn an_unknown_method_is_refused_at_load_naming_the_known_ones() {
    let err = load(&format!(
        "{BASE}[[route]]\nupstreams = [\"http://127.0.0.1:1\"]\nauth = [\"password\"]\n"
    ))
    .unwrap_err();
    assert!(err.contains("gateway.toml"), "{err}");
    assert!(err.contains("unknown variant `password`"), "{err}");
    assert!(err.contains("client-cert"), "{err}");
}

#[test]
fn a_route_that_checks_certificates_names_a_method() {
    let err = load(&format!(
        "{BASE}[[route]]\nupstreams = [\"http://127.0.0.1:1\"]\nauth = []\n"
    ))
    .unwrap_err();
    assert!(err.contains("auth must name at least one method"), "{err}");
    load(&format!(
        "{BASE}[[route]]\nupstreams = [\"http://127.0.0.1:1\"]\nauth = []\nclient_cert = \"off\"\n"
    ))
    .unwrap();
}
