//! PSK registration: device key = HMAC-SHA256(group key, registration id); each request is a
//! timestamped, single-use token over method, path and body.

use base64::Engine;
use bytes::Bytes;
use http::Method;
use inkan_attest::PskToken;
use inkan_pki::{build_csr, GeneratedKey, KeyAlgorithm};

use super::support::{Env, Server};

fn serve(env: &Env) -> Server {
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    Server::start(cmd)
}

fn device_key(env: &Env, product: &str, registration_id: &str) -> Vec<u8> {
    let out = env.ok(&["product", "psk", "derive", product, registration_id]);
    base64::engine::general_purpose::STANDARD
        .decode(out.trim())
        .unwrap()
}

fn body(key: &GeneratedKey, info: serde_json::Value) -> Vec<u8> {
    let csr = build_csr(key, "unit", &[]).unwrap();
    serde_json::to_vec(&serde_json::json!({
        "device_info": info,
        "csr": base64::engine::general_purpose::STANDARD.encode(csr),
    }))
    .unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn nonce(i: usize) -> String {
    format!("nonce-{i:012}-{}", now())
}

async fn post(server: &Server, env: &Env, auth: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut conn = server.raw(env).await;
    let (status, _, bytes) = conn
        .send(
            Method::POST,
            "/v1/devices",
            &[
                ("content-type", "application/json".to_string()),
                ("authorization", auth.to_string()),
            ],
            Bytes::from(body.to_vec()),
        )
        .await
        .unwrap();
    (
        status.as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psk_units_register_and_forged_stale_or_replayed_tokens_are_refused() {
    let (env, _) = Env::with_ca();
    env.ok(&[
        "product",
        "create",
        "lamp",
        "--psk",
        "--attributes",
        "mac",
        "--max-devices",
        "2",
        "--out",
        env.tmp.path().join("lamp").to_str().unwrap(),
    ]);
    let server = serve(&env);
    let key = device_key(&env, "lamp", "SN-0001");
    let unit = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let body1 = body(&unit, serde_json::json!({"mac": "00:11:22:33:44:55"}));
    let auth = PskToken::sign(
        &key,
        "lamp",
        "SN-0001",
        now(),
        &nonce(1),
        "POST",
        "/v1/devices",
        &body1,
    );
    let (status, reg) = post(&server, &env, &auth, &body1).await;
    assert_eq!(status, 201, "{reg}");
    let device_id = reg["device"]["id"].as_str().unwrap().to_string();
    assert_eq!(reg["device"]["registration_id"], "SN-0001");
    let chain = reg["device_cert_chain"].as_str().unwrap();
    assert!(!chain.is_empty());
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["cert", "show", reg["serial"].as_str().unwrap(), "--json"]))
            .unwrap();
    assert_eq!(shown["method"], "psk");
    env.ok(&[
        "product",
        "create",
        "plain",
        "--out",
        env.tmp.path().join("plain").to_str().unwrap(),
    ]);
    let count = env.certificate_count();

    // The same token again: a replay.
    let (status, problem) = post(&server, &env, &auth, &body1).await;
    assert_eq!(status, 401, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("replay"),
        "{problem}"
    );
    // A key derived for another registration id, a tampered body, a stale timestamp, a
    // product without PSK: all 401, nothing issued.
    let other = device_key(&env, "lamp", "SN-0002");
    let forged = PskToken::sign(
        &other,
        "lamp",
        "SN-0001",
        now(),
        &nonce(2),
        "POST",
        "/v1/devices",
        &body1,
    );
    let (status, problem) = post(&server, &env, &forged, &body1).await;
    assert_eq!(status, 401);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{problem}"
    );
    let tampered = body(&unit, serde_json::json!({"mac": "ff:ff:ff:ff:ff:ff"}));
    let (status, _) = post(
        &server,
        &env,
        &PskToken::sign(
            &key,
            "lamp",
            "SN-0001",
            now(),
            &nonce(3),
            "POST",
            "/v1/devices",
            &body1,
        ),
        &tampered,
    )
    .await;
    assert_eq!(status, 401);
    let stale = PskToken::sign(
        &key,
        "lamp",
        "SN-0001",
        now() - 301,
        &nonce(4),
        "POST",
        "/v1/devices",
        &body1,
    );
    let (status, problem) = post(&server, &env, &stale, &body1).await;
    assert_eq!(status, 401);
    assert!(
        problem["detail"].as_str().unwrap().contains("clock"),
        "{problem}"
    );
    let (status, _) = post(
        &server,
        &env,
        &PskToken::sign(
            &key,
            "plain",
            "SN-0001",
            now(),
            &nonce(5),
            "POST",
            "/v1/devices",
            &body1,
        ),
        &body1,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post(&server, &env, "InkanPSK garbage", &body1).await;
    assert_eq!(status, 401);
    assert_eq!(env.certificate_count(), count);

    // A retry with a fresh token and the same key: the same device.
    let (status, again) = post(
        &server,
        &env,
        &PskToken::sign(
            &key,
            "lamp",
            "SN-0001",
            now(),
            &nonce(6),
            "POST",
            "/v1/devices",
            &body1,
        ),
        &body1,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(again["device"]["id"], device_id.as_str());
    // The same registration id with another key is refused.
    let body2 = body(
        &GeneratedKey::generate(KeyAlgorithm::P256).unwrap(),
        serde_json::json!({}),
    );
    let (status, problem) = post(
        &server,
        &env,
        &PskToken::sign(
            &key,
            "lamp",
            "SN-0001",
            now(),
            &nonce(7),
            "POST",
            "/v1/devices",
            &body2,
        ),
        &body2,
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    // Attributes outside the product's set are refused.
    let body3 = body(
        &GeneratedKey::generate(KeyAlgorithm::P256).unwrap(),
        serde_json::json!({"imei": "1"}),
    );
    let key3 = device_key(&env, "lamp", "SN-0003");
    let (status, problem) = post(
        &server,
        &env,
        &PskToken::sign(
            &key3,
            "lamp",
            "SN-0003",
            now(),
            &nonce(8),
            "POST",
            "/v1/devices",
            &body3,
        ),
        &body3,
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        problem["detail"].as_str().unwrap().contains("imei"),
        "{problem}"
    );

    // Under concurrency: one signed request sent 20 times at once is accepted exactly once.
    let key4 = device_key(&env, "lamp", "SN-0004");
    let body4 = body(
        &GeneratedKey::generate(KeyAlgorithm::P256).unwrap(),
        serde_json::json!({}),
    );
    let auth4 = PskToken::sign(
        &key4,
        "lamp",
        "SN-0004",
        now(),
        &nonce(9),
        "POST",
        "/v1/devices",
        &body4,
    );
    let mut conns = Vec::new();
    for _ in 0..20 {
        conns.push(server.raw(&env).await);
    }
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (auth, body) = (auth4.clone(), body4.clone());
            tokio::spawn(async move {
                conn.send(
                    Method::POST,
                    "/v1/devices",
                    &[
                        ("content-type", "application/json".to_string()),
                        ("authorization", auth),
                    ],
                    Bytes::from(body),
                )
                .await
                .unwrap()
                .0
                .as_u16()
            })
        })
        .collect();
    let mut codes = Vec::new();
    for task in tasks {
        codes.push(task.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 401).count(), 19, "{codes:?}");

    // The agent takes the PSK path too; the cap (2) then holds.
    let key_file = env.tmp.path().join("sn5.key");
    std::fs::write(
        &key_file,
        base64::engine::general_purpose::STANDARD.encode(device_key(&env, "lamp", "SN-0005")),
    )
    .unwrap();
    let agent = |reg: &str, out: &str| {
        env.run(&[
            "agent",
            "enroll",
            "--authority",
            &server.url(),
            "--ca-file",
            env.root_pem().to_str().unwrap(),
            "--psk-key-file",
            key_file.to_str().unwrap(),
            "--product",
            "lamp",
            "--registration-id",
            reg,
            "--out",
            env.tmp.path().join(out).to_str().unwrap(),
        ])
    };
    let out = agent("SN-0005", "unit5");
    assert!(!out.status.success(), "the cap of 2 was exceeded");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("limit of 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.ok(&["device", "list", "--product", "lamp"]);
}

#[test]
fn the_agent_registers_over_psk() {
    let (env, _) = Env::with_ca();
    env.ok(&[
        "product",
        "create",
        "sensor",
        "--psk",
        "--out",
        env.tmp.path().join("s").to_str().unwrap(),
    ]);
    let server = serve(&env);
    let key_file = env.tmp.path().join("unit.key");
    let key = env.ok(&["product", "psk", "derive", "sensor", "SN-42"]);
    std::fs::write(&key_file, key).unwrap();
    let out = env.ok(&[
        "agent",
        "enroll",
        "--authority",
        &server.url(),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
        "--psk-key-file",
        key_file.to_str().unwrap(),
        "--product",
        "sensor",
        "--registration-id",
        "SN-42",
        "--out",
        env.tmp.path().join("unit").to_str().unwrap(),
    ]);
    assert!(out.contains("registered device"), "{out}");
    let shown = env.ok(&["device", "list", "--product", "sensor", "--json"]);
    assert!(shown.contains("SN-42"), "{shown}");
    // The unit renews with its DeviceCert like any other.
    env.ok(&[
        "agent",
        "renew",
        "--dir",
        env.tmp.path().join("unit").to_str().unwrap(),
        "--force",
    ]);
    // A registration id that was not derived for this key is refused by the authority.
    let out = env.run(&[
        "agent",
        "enroll",
        "--authority",
        &server.url(),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
        "--psk-key-file",
        key_file.to_str().unwrap(),
        "--product",
        "sensor",
        "--registration-id",
        "SN-43",
        "--out",
        env.tmp.path().join("unit2").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}
