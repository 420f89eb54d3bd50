//! Every write endpoint refuses invalid input with a 4xx and leaves the database as it was.

use inkan_attest::PskToken;

use super::*;

#[test]
fn refused_writes_leave_the_database_unchanged() {
    let (env, secret) = Env::with_ca();
    let token = env
        .ok(&["admin", "token", "create", "--name", "tests"])
        .trim()
        .to_string();
    let thermo = create_product(&env, "thermo");
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start(cmd);
    let bearer = format!("Authorization: Bearer {token}");
    let admin_post = |body: &str, path: &str| {
        curl(
            &env,
            &server,
            &["-H", &bearer, "-H", "Content-Type: application/json"],
            path,
            Some(body.as_bytes()),
        )
    };
    let admin_json = |body: &str, path: &str| problem(admin_post(body, path));

    // POST /v1/products: the passphrase is checked before the product or its certificate exist.
    refused(
        &env,
        "too short a PKCS#12 passphrase",
        400,
        "at least 8",
        || {
            admin_json(
                r#"{"name": "lamp", "pkcs12_passphrase": "short"}"#,
                "/v1/products",
            )
        },
    );
    refused(
        &env,
        "a PKCS#12 passphrase outside the BMP",
        400,
        "BMPString",
        || {
            admin_json(
                r#"{"name": "lamp", "pkcs12_passphrase": "long enough \ud83d\udd11"}"#,
                "/v1/products",
            )
        },
    );
    refused(&env, "a PKCS#12 passphrase with NUL", 400, "NUL", || {
        admin_json(
            r#"{"name": "lamp", "pkcs12_passphrase": "long enough\u0000", "psk": true}"#,
            "/v1/products",
        )
    });
    refused(
        &env,
        "a product name outside the BMP",
        403,
        "U+FFFF",
        || {
            admin_json(
                r#"{"name": "a\ud83d\ude00b", "pkcs12_passphrase": "long enough"}"#,
                "/v1/products",
            )
        },
    );
    refused(
        &env,
        "a duplicate product name",
        403,
        "exists already",
        || admin_json(r#"{"name": "thermo"}"#, "/v1/products"),
    );
    refused(&env, "malformed JSON", 400, "invalid JSON", || {
        admin_json(r#"{"name": "lamp""#, "/v1/products")
    });
    refused(&env, "an unknown field", 400, "unknown field", || {
        admin_json(r#"{"name": "lamp", "colour": "red"}"#, "/v1/products")
    });
    refused(&env, "a bad device validity", 400, "", || {
        admin_json(
            r#"{"name": "lamp", "device_validity": "forever"}"#,
            "/v1/products",
        )
    });
    refused(&env, "max_devices 0", 400, "positive", || {
        admin_json(r#"{"name": "lamp", "max_devices": 0}"#, "/v1/products")
    });
    refused(
        &env,
        "a product without a token",
        401,
        "admin token",
        || {
            problem(curl(
                &env,
                &server,
                &["-H", "Content-Type: application/json"],
                "/v1/products",
                Some(br#"{"name": "lamp"}"#),
            ))
        },
    );
    refused(
        &env,
        "a product as form data",
        415,
        "application/json",
        || {
            problem(curl(
                &env,
                &server,
                &["-H", &bearer],
                "/v1/products",
                Some(b"name=lamp"),
            ))
        },
    );

    // POST /v1/products/{id}/psk
    refused(
        &env,
        "PSK for an unknown product",
        404,
        "no product",
        || admin_json("", "/v1/products/no-such-product/psk"),
    );
    refused(&env, "PSK without a token", 401, "admin token", || {
        problem(curl(
            &env,
            &server,
            &[],
            "/v1/products/thermo/psk",
            Some(b""),
        ))
    });

    // POST /v1/devices, with the ProductCert over mTLS.
    let with_product_cert = |body: &[u8]| {
        problem(curl(
            &env,
            &server,
            &[
                "--cert",
                path_str(&thermo.cert),
                "--key",
                path_str(&thermo.key),
                "-H",
                "Content-Type: application/json",
            ],
            "/v1/devices",
            Some(body),
        ))
    };
    let garbage_csr = json!({"csr": B64.encode(b"not a certificate request")}).to_string();
    refused(&env, "a device with a garbage CSR", 400, "PKCS#10", || {
        with_product_cert(garbage_csr.as_bytes())
    });
    refused(
        &env,
        "a device with a CSR that is not base64",
        400,
        "base64",
        || with_product_cert(br#"{"csr": "%%%"}"#),
    );
    let unknown_attribute = json!({"csr": csr_b64(), "device_info": {"colour": "red"}}).to_string();
    refused(
        &env,
        "a device with an unknown attribute",
        403,
        "colour",
        || with_product_cert(unknown_attribute.as_bytes()),
    );
    refused(
        &env,
        "a device without credentials",
        401,
        "ProductCert",
        || {
            problem(curl(
                &env,
                &server,
                &["-H", "Content-Type: application/json"],
                "/v1/devices",
                Some(json!({"csr": csr_b64()}).to_string().as_bytes()),
            ))
        },
    );

    // POST /v1/devices with PSK tokens: a refused request does not even spend the nonce.
    let device_key = B64
        .decode(
            env.ok(&["product", "psk", "derive", "thermo", "unit-1"])
                .trim(),
        )
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let with_psk = |product: &str, nonce: &str, body: &[u8]| {
        let auth = PskToken::sign(
            &device_key,
            product,
            "unit-1",
            now,
            nonce,
            "POST",
            "/v1/devices",
            body,
        );
        problem(curl(
            &env,
            &server,
            &[
                "-H",
                &format!("Authorization: {auth}"),
                "-H",
                "Content-Type: application/json",
            ],
            "/v1/devices",
            Some(body),
        ))
    };
    let good_body = json!({"csr": csr_b64()}).to_string();
    refused(
        &env,
        "a PSK token for an unknown product",
        401,
        "PSK",
        || {
            with_psk(
                "no-such-product",
                "nonce-unknown-00000001",
                good_body.as_bytes(),
            )
        },
    );
    refused(
        &env,
        "a PSK device with a garbage CSR",
        400,
        "PKCS#10",
        || with_psk("thermo", "nonce-garbage-00000001", garbage_csr.as_bytes()),
    );
    refused(
        &env,
        "a PSK device with malformed JSON",
        400,
        "invalid JSON",
        || with_psk("thermo", "nonce-json-00000001", b"{\"csr\":"),
    );
    refused(
        &env,
        "a PSK device with an unknown attribute",
        403,
        "colour",
        || {
            with_psk(
                "thermo",
                "nonce-attr-00000001",
                unknown_attribute.as_bytes(),
            )
        },
    );

    // Disable and enable an unknown device.
    for action in ["disable", "enable"] {
        refused(
            &env,
            &format!("{action} an unknown device"),
            404,
            "no device",
            || admin_json("", &format!("/v1/devices/0011223344556677/{action}")),
        );
    }

    // Revocation.
    refused(
        &env,
        "revoke an unknown serial",
        404,
        "no certificate",
        || {
            admin_json(
                r#"{"reason": "keyCompromise"}"#,
                "/v1/certificates/0123456789abcdef/revoke",
            )
        },
    );
    refused(&env, "revoke with an unknown reason", 400, "", || {
        admin_json(
            r#"{"reason": "boredom"}"#,
            &format!("/v1/certificates/{}/revoke", thermo.serial),
        )
    });
    refused(&env, "revoke with a malformed serial", 400, "", || {
        admin_json("", "/v1/certificates/not-hex/revoke")
    });
    refused(
        &env,
        "revoke without credentials",
        401,
        "admin token",
        || {
            problem(curl(
                &env,
                &server,
                &[],
                &format!("/v1/certificates/{}/revoke", thermo.serial),
                Some(b""),
            ))
        },
    );

    // TPM activations and enrollments with malformed evidence.
    let tpm = |body: &str, path: &str| {
        problem(curl(
            &env,
            &server,
            &["-H", "Content-Type: application/json"],
            path,
            Some(body.as_bytes()),
        ))
    };
    refused(
        &env,
        "a TPM activation without fields",
        400,
        "missing field",
        || tpm("{}", "/v1/tpm/activations"),
    );
    refused(&env, "a TPM activation with garbage", 400, "", || {
        tpm(
            r#"{"ek_public": "AAEC", "ak_public": "!!!"}"#,
            "/v1/tpm/activations",
        )
    });
    let enrollment = json!({
        "activation_id": "00112233445566778899aabbccddeeff",
        "secret": B64.encode([0u8; 32]),
        "attest": "AAAA",
        "signature": "AAAA",
        "key_public": "AAAA",
        "csr": csr_b64(),
    })
    .to_string();
    refused(
        &env,
        "a TPM enrollment for an unknown activation",
        404,
        "activation",
        || tpm(&enrollment, "/v1/tpm/enrollments"),
    );
    refused(&env, "a TPM enrollment with bad base64", 400, "", || {
        tpm(
            &enrollment.replace("\"AAAA\"", "\"%%%\""),
            "/v1/tpm/enrollments",
        )
    });

    // EST simpleenroll with a bad CSR, with the EST secret and with the ProductCert.
    let est = |args: &[&str]| {
        let mut all = vec!["-H", "Content-Type: application/pkcs10"];
        all.extend_from_slice(args);
        curl(
            &env,
            &server,
            &all,
            "/.well-known/est/device/simpleenroll",
            Some(B64.encode(b"not a certificate request").as_bytes()),
        )
    };
    let user = format!("test:{secret}");
    refused(&env, "EST with a garbage CSR", 400, "PKCS#10", || {
        est(&["-u", &user])
    });
    refused(
        &env,
        "EST bootstrap with a garbage CSR",
        400,
        "PKCS#10",
        || {
            est(&[
                "--cert",
                path_str(&thermo.cert),
                "--key",
                path_str(&thermo.key),
            ])
        },
    );

    // The refused names were never taken: the same product goes through once it is valid.
    let created = admin_post(
        r#"{"name": "lamp", "pkcs12_passphrase": "long enough \u00e9\u20ac", "psk": true}"#,
        "/v1/products",
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body["product_p12"].is_string());
    assert!(created.body["psk_group_key"].is_string());
    env.ok(&["audit", "verify"]);
}
