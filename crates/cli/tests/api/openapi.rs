//! `/v1/openapi.json` describes every `/v1` route the authority serves.

use bytes::Bytes;
use http::Method;

use super::support::{Env, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_v1_route() {
    let (env, _) = Env::with_ca();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start(cmd);
    let mut conn = server.raw(&env).await;
    let (status, headers, body) = conn
        .send(Method::GET, "/v1/openapi.json", &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths: std::collections::BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected = [
        "/v1/certificates/{serial}/revoke",
        "/v1/devices",
        "/v1/devices/{id}",
        "/v1/devices/{id}/disable",
        "/v1/devices/{id}/enable",
        "/v1/products",
        "/v1/products/{id}",
        "/v1/products/{id}/psk",
        "/v1/revocations",
        "/v1/revocations/stream",
        "/v1/tpm/activations",
        "/v1/tpm/enrollments",
        "/v1/certificates/{serial}/attestation",
    ];
    for path in expected {
        assert!(paths.contains(path), "{path} missing from {paths:?}");
        // Each documented route exists: it does not answer 404 with the router's empty body.
        let concrete = path.replace("{serial}", "01").replace("{id}", "x");
        let (status, _, _) = conn
            .send(Method::OPTIONS, &concrete, &[], Bytes::new())
            .await
            .unwrap();
        assert_eq!(status, 405, "{concrete}");
    }
    for schemes in ["admin", "mtls", "product_cert", "psk"] {
        assert!(
            doc["components"]["securitySchemes"][schemes].is_object(),
            "{schemes}"
        );
    }
    assert!(doc["components"]["schemas"]["RegisterBody"]["properties"]["csr"].is_object());
}
