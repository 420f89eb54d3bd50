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
    let description = doc["info"]["description"].as_str().unwrap();
    for kind in ["urn:inkan:problem:rejected", "urn:inkan:problem:policy"] {
        assert!(description.contains(kind), "{kind} undocumented");
    }
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

/// A server with an admin token; `(env, server, token)`.
fn serve_with_token() -> (Env, Server, String) {
    let (env, _) = Env::with_ca();
    let token = env
        .ok(&["admin", "token", "create", "--name", "contract"])
        .trim()
        .to_string();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start(cmd);
    (env, server, token)
}

/// Asserts a problem+json answer with `status`; returns its `detail`.
fn problem(status: u16, got: (http::StatusCode, http::HeaderMap, Bytes), what: &str) -> String {
    let (got_status, headers, body) = got;
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(got_status, status, "{what}: {text}");
    assert_eq!(
        headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string()),
        Some("application/problem+json".to_string()),
        "{what}: {text}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["status"], status, "{what}: {text}");
    // The authority's errors have a type of their own (listed in the API's description), the
    // rest are `about:blank`.
    let kind = doc["type"].as_str().unwrap_or_default();
    assert!(
        kind == "about:blank" || kind.starts_with("urn:inkan:problem:"),
        "{what}: type {kind:?}"
    );
    assert!(
        doc["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}"
    );
    let detail = doc["detail"].as_str().unwrap().to_string();
    assert!(!detail.is_empty(), "{what}");
    detail
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_where_the_document_says_and_errors_are_problems() {
    let (env, server, _) = serve_with_token();
    let mut conn = server.raw(&env).await;
    let (status, _, body) = conn
        .send(Method::GET, "/v1/openapi.json", &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let problem_ref = "#/components/schemas/ProblemDetails";
    assert!(doc["components"]["schemas"]["ProblemDetails"]["properties"]["detail"].is_object());
    assert!(doc["components"]["securitySchemes"]["admin_cert"].is_object());
    let mut query_parameters = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let templated: std::collections::BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, operation) in item.as_object().unwrap() {
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut in_path = std::collections::BTreeSet::new();
            for parameter in &parameters {
                let name = parameter["name"].as_str().unwrap();
                match parameter["in"].as_str().unwrap() {
                    "path" => {
                        assert!(
                            templated.contains(name),
                            "{method} {path}: `in: path` parameter {name} is not in the path"
                        );
                        assert_eq!(parameter["required"], true, "{method} {path} {name}");
                        in_path.insert(name);
                    }
                    "query" => {
                        assert_ne!(parameter["required"], true, "{method} {path} {name}");
                        query_parameters
                            .insert(format!("{method} {path} {name}"), parameter.clone());
                    }
                    "header" => {}
                    other => panic!("{method} {path} {name}: in {other}"),
                }
            }
            assert_eq!(in_path, templated, "{method} {path}: path parameters");
            // Every error an operation documents is a problem+json with the schema.
            for (code, response) in operation["responses"].as_object().unwrap() {
                if code.as_str() < "400" {
                    continue;
                }
                let content = response["content"].as_object().unwrap();
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{method} {path} {code}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"], problem_ref,
                    "{method} {path} {code}"
                );
            }
        }
    }
    let expected_queries = [
        ("get /v1/devices product", None, None),
        ("get /v1/devices after", None, None),
        ("get /v1/devices limit", Some(1), Some(1000)),
        ("get /v1/revocations since", Some(0), None),
        ("get /v1/revocations limit", Some(1), Some(1000)),
        ("get /v1/revocations/stream since", Some(0), None),
        ("get /v1/revocations/stream limit", Some(1), Some(1000)),
    ];
    assert_eq!(
        query_parameters
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        {
            let mut names: Vec<_> = expected_queries.iter().map(|(n, _, _)| *n).collect();
            names.sort();
            names
        }
    );
    for (name, minimum, maximum) in expected_queries {
        let schema = &query_parameters[name]["schema"];
        assert_eq!(schema["minimum"].as_i64(), minimum, "{name}: {schema}");
        assert_eq!(schema["maximum"].as_i64(), maximum, "{name}: {schema}");
    }
    let body_operations = [
        ("/v1/products", "post"),
        ("/v1/devices", "post"),
        ("/v1/certificates/{serial}/revoke", "post"),
        ("/v1/tpm/activations", "post"),
        ("/v1/tpm/enrollments", "post"),
    ];
    for (path, method) in body_operations {
        for code in ["400", "413", "415", "500"] {
            assert!(
                doc["paths"][path][method]["responses"][code].is_object(),
                "{method} {path} does not document {code}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v1_error_is_problem_json() {
    let (env, server, token) = serve_with_token();
    let admin = [("authorization", format!("Bearer {token}"))];
    let json = [("content-type", "application/json".to_string())];
    let mut conn = server.raw(&env).await;
    let mut send = async |method: Method, path: &str, headers: &[(&str, String)], body: &str| {
        conn.send(method, path, headers, Bytes::from(body.to_string()))
            .await
            .unwrap()
    };

    // 404: no such /v1 route (a fallback), while other paths keep their empty 404.
    for path in ["/v1", "/v1/", "/v1/nothing/here", "/v1/products/x/y/z"] {
        let detail = problem(404, send(Method::GET, path, &[], "").await, path);
        assert!(detail.contains("/v1/openapi.json"), "{detail}");
    }
    let (status, _, body) = send(Method::GET, "/nothing", &[], "").await;
    assert_eq!(status, 404);
    assert!(body.is_empty());

    // 405: a /v1 route with another method, its Allow header kept.
    let got = send(Method::DELETE, "/v1/products", &admin, "").await;
    let allow = got.1["allow"].to_str().unwrap().to_string();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let detail = problem(405, got, "DELETE /v1/products");
    assert!(detail.contains("DELETE"), "{detail}");
    problem(
        405,
        send(Method::PUT, "/v1/openapi.json", &[], "").await,
        "PUT openapi",
    );

    // 400: `limit` out of bounds or malformed, `since` negative, unknown parameters.
    for path in [
        "/v1/devices?limit=1000000",
        "/v1/devices?limit=1001",
        "/v1/devices?limit=0",
        "/v1/devices?limit=-1",
        "/v1/devices?limit=ten",
        "/v1/devices?limit=99999999999999999999999",
        "/v1/revocations?limit=1000000",
        "/v1/revocations?limit=0",
        "/v1/revocations/stream?limit=1000000",
    ] {
        let detail = problem(400, send(Method::GET, path, &admin, "").await, path);
        assert!(detail.contains("limit"), "{path}: {detail}");
    }
    for path in [
        "/v1/revocations?since=-1",
        "/v1/revocations/stream?since=-1",
    ] {
        let detail = problem(400, send(Method::GET, path, &admin, "").await, path);
        assert!(
            detail.contains("since") && detail.contains("at least 0"),
            "{detail}"
        );
    }
    for path in ["/v1/devices?limits=5", "/v1/revocations?sinse=1"] {
        let detail = problem(400, send(Method::GET, path, &admin, "").await, path);
        assert!(detail.contains("unknown field"), "{path}: {detail}");
    }
    // The bounds themselves are accepted.
    for path in [
        "/v1/devices?limit=1000",
        "/v1/devices?limit=1",
        "/v1/revocations?limit=1000&since=0",
    ] {
        let (status, _, body) = send(Method::GET, path, &admin, "").await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    }

    // 400 and 415 for bodies, after authentication.
    let detail = problem(
        400,
        send(
            Method::POST,
            "/v1/products",
            &[admin[0].clone(), json[0].clone()],
            "{",
        )
        .await,
        "truncated JSON",
    );
    assert!(detail.contains("invalid JSON body"), "{detail}");
    problem(
        415,
        send(Method::POST, "/v1/products", &admin, r#"{"name":"x"}"#).await,
        "no content type",
    );

    // An unauthenticated request gets 401 whatever its body, query or path parameter.
    for (method, path, body) in [
        (Method::POST, "/v1/certificates/01/revoke", "null"),
        (Method::POST, "/v1/certificates/not-hex/revoke", "null"),
        (Method::POST, "/v1/certificates/01/revoke", "{"),
        (Method::POST, "/v1/products", "null"),
        (Method::POST, "/v1/products", "[]"),
        (Method::POST, "/v1/devices", "null"),
        (Method::GET, "/v1/devices?limit=1000000", ""),
        (Method::GET, "/v1/devices?limit=ten", ""),
        (Method::GET, "/v1/certificates/not-hex/attestation", ""),
        (Method::GET, "/v1/devices/%FF", ""),
        (Method::POST, "/v1/devices/%FF/disable", ""),
    ] {
        let what = format!("{method} {path} {body}");
        problem(401, send(method, path, &json, body).await, &what);
    }
    // With a token, a `null` revocation body means the defaults, as documented.
    problem(
        404,
        send(
            Method::POST,
            "/v1/certificates/01/revoke",
            &[admin[0].clone(), json[0].clone()],
            "null",
        )
        .await,
        "revoke null",
    );

    // 413 on /v1, declared (Content-Length) or not (chunked); EST keeps its plain text.
    let big = vec![b' '; 200_000];
    let mut fresh = server.raw(&env).await;
    let got = fresh
        .send(
            Method::POST,
            "/v1/products",
            &[admin[0].clone(), json[0].clone()],
            Bytes::from(big.clone()),
        )
        .await
        .unwrap();
    let detail = problem(413, got, "declared oversized body");
    assert!(detail.contains("limit"), "{detail}");
    let file = env.tmp.path().join("big.json");
    std::fs::write(&file, &big).unwrap();
    // Chunked bodies are drained like declared ones: the client reads the 413, never a reset.
    for (version, path, _) in ["--http1.1", "--http2"].into_iter().flat_map(|v| {
        ["/v1/products", "/.well-known/est/simpleenroll"]
            .into_iter()
            .flat_map(move |p| (0..3).map(move |i| (v, p, i)))
    }) {
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                version,
                "-o",
                "-",
                "-w",
                "\n%{http_code} %{content_type}",
            ])
            .arg("--cacert")
            .arg(env.root_pem())
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["-H", "Content-Type: application/json"])
            .args(["-H", "Transfer-Encoding: chunked"])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("{}{path}", server.url()))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let out = String::from_utf8_lossy(&out.stdout).into_owned();
        let last = out.lines().last().unwrap_or_default();
        if path.starts_with("/v1") {
            assert_eq!(
                last, "413 application/problem+json",
                "{version} {path}: {out} {err}"
            );
        } else {
            assert!(
                last.starts_with("413 text/plain"),
                "{version} {path}: {out} {err}"
            );
        }
    }
}
