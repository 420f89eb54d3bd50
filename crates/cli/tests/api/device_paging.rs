//! The device list a page at a time: `/v1/devices?after=<next>` and `inkan device list --after`
//! walk every device exactly once, newest first; a cursor the server did not give out is a 400.

use bytes::Bytes;
use http::Method;
use inkan_client::EstCredentials;
use inkan_pki::{build_csr, certs_from_pem, GeneratedKey, KeyAlgorithm};
use serde_json::Value;

use super::support::{Env, Server};

/// Registers `count` units of a new product `name` (its ProductCert over EST).
async fn register_units(env: &Env, server: &Server, name: &str, count: usize) {
    let dir = env.tmp.path().join(name);
    let created: Value = serde_json::from_str(&env.ok(&[
        "product",
        "create",
        name,
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let chain =
        certs_from_pem(&std::fs::read(created["cert_path"].as_str().unwrap()).unwrap()).unwrap();
    let key = GeneratedKey::from_pem(
        &std::fs::read_to_string(created["key_path"].as_str().unwrap()).unwrap(),
        None,
    )
    .unwrap();
    let tls =
        inkan_client::client_tls_config(&[env.root_der()], Some((chain, key.pkcs8_der().to_vec())))
            .unwrap();
    let mut est = inkan_client::EstClient::connect(&server.url(), tls, None, EstCredentials::None)
        .await
        .unwrap();
    for i in 0..count {
        let unit = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
        est.simpleenroll(&build_csr(&unit, &format!("{name}-{i}"), &[]).unwrap())
            .await
            .unwrap();
    }
}

/// The ids of a list, in order.
fn ids(devices: &[Value]) -> Vec<String> {
    devices
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

/// Newest first; devices registered in the same millisecond by id.
fn assert_keyset_order(devices: &[Value]) {
    for pair in devices.windows(2) {
        let key = |d: &Value| {
            (
                -d["created_at_ms"].as_i64().unwrap(),
                d["id"].as_str().unwrap().to_string(),
            )
        };
        assert!(key(&pair[0]) < key(&pair[1]), "{pair:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_appears_once_across_pages_in_order() {
    let (env, _) = Env::with_ca();
    let token = env.ok(&["admin", "token", "create"]).trim().to_string();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start(cmd);
    register_units(&env, &server, "thermo", 7).await;
    register_units(&env, &server, "lamp", 2).await;

    let admin = [("authorization", format!("Bearer {token}"))];
    let mut conn = server.raw(&env).await;
    let mut get = async |path: &str| {
        conn.send(Method::GET, path, &admin, Bytes::new())
            .await
            .unwrap()
    };
    let (status, _, body) = get("/v1/devices").await;
    assert_eq!(status, 200);
    let everything: Value = serde_json::from_slice(&body).unwrap();
    assert!(everything.get("next").is_none(), "one page holds all");
    let all = everything["devices"].as_array().unwrap().clone();
    assert_eq!(all.len(), 9);
    assert_keyset_order(&all);

    // Pages of 4 over HTTP: 4, 4, 1, each continuing where the last ended.
    let mut walked = Vec::new();
    let mut sizes = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(c) => format!("/v1/devices?limit=4&after={c}"),
            None => "/v1/devices?limit=4".to_string(),
        };
        let (status, _, body) = get(&path).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let page: Value = serde_json::from_slice(&body).unwrap();
        let devices = page["devices"].as_array().unwrap();
        sizes.push(devices.len());
        walked.extend(devices.iter().cloned());
        match page.get("next") {
            Some(next) => after = Some(next.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(sizes, [4, 4, 1]);
    assert_eq!(ids(&walked), ids(&all));

    // With a product filter: the pages hold only its devices, and all of them.
    let product: Value =
        serde_json::from_str(&env.ok(&["product", "show", "thermo", "--json"])).unwrap();
    let thermo: Vec<Value> = all
        .iter()
        .filter(|d| d["product_id"] == product["product"]["id"])
        .cloned()
        .collect();
    let (_, _, body) = get("/v1/devices?product=thermo&limit=5").await;
    let first: Value = serde_json::from_slice(&body).unwrap();
    let next = first["next"].as_str().unwrap().to_string();
    let (_, _, body) = get(&format!("/v1/devices?product=thermo&limit=5&after={next}")).await;
    let second: Value = serde_json::from_slice(&body).unwrap();
    assert!(second.get("next").is_none());
    let mut filtered = first["devices"].as_array().unwrap().clone();
    filtered.extend(second["devices"].as_array().unwrap().iter().cloned());
    assert_eq!(ids(&filtered), ids(&thermo));
    assert_eq!(thermo.len(), 7);

    // Anything but a cursor the server gave out is a 400 problem+json naming `after`.
    let appended = format!("{next}.");
    let padded = format!("{next}=");
    for bad in [
        "",
        "x",
        "!!!",
        "%00",
        "MTIzNA",      // base64url of "1234": no id
        "MTIzNDpkIDE", // "1234:d 1": not an id
        "LTA6ZDE",     // "-0:d1": not canonical
        appended.as_str(),
        padded.as_str(),
        &"A".repeat(5000),
    ] {
        let path = format!("/v1/devices?after={bad}");
        let (status, headers, body) = get(&path).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 400, "{path}: {text}");
        assert_eq!(
            headers.get("content-type").unwrap(),
            "application/problem+json",
            "{path}"
        );
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 400);
        assert!(
            problem["detail"].as_str().unwrap().contains("after"),
            "{path}: {text}"
        );
    }

    // The CLI: same pages, the cursor on stderr, stdout unchanged (a JSON array).
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec!["device", "list", "--limit", "4", "--json"];
        if let Some(c) = &after {
            args.extend(["--after", c.as_str()]);
        }
        let out = env.run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        walked.extend(page);
        let stderr = String::from_utf8(out.stderr).unwrap();
        match stderr.lines().find_map(|l| l.strip_prefix("next: ")) {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(ids(&walked), ids(&all));
    let table = env
        .command(&["device", "list", "--limit", "2"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&table.stderr).contains("next: "));
    assert_eq!(String::from_utf8_lossy(&table.stdout).lines().count(), 3);
    let refused = env.run(&["device", "list", "--after", "not-a-cursor!"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--after"));
}
