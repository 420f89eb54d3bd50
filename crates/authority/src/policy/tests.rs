//! The decision as a table: method × profile × CSR → grant or refusal (by rule).

use std::collections::BTreeMap;
use std::time::Duration;

use inkan_pki::{build_csr, GeneratedKey, KeyAlgorithm, Profile, San};
use inkan_store::TpmAttestation;
use time::OffsetDateTime;

use super::*;
use crate::{Config, EstLabel};

const CONFIG: &str = r#"
[est.labels]
sensors = "sensor"
[est.labels.fleet]
profile = "fleet"
holders = ["device"]
products = ["cam"]

[profiles.sensor]
base = "device"
level = 1

[profiles.fleet]
base = "device"
san = ["dns", "uri"]
[profiles.fleet.names.allow]
dns = ["*.fleet.example.com"]

[profiles.web]
base = "server"
[profiles.web.names.allow]
dns = [".example.com"]
ip = ["10.0.0.0/8"]
[profiles.web.names.deny]
dns = ["bank.example.com"]
"#;

fn config() -> Config {
    let c: Config = toml::from_str(CONFIG).unwrap();
    c.validate().unwrap();
    c
}

fn csr(cn: &str, sans: &[&str]) -> Vec<u8> {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    build_csr(&key, cn, &sans).unwrap()
}

fn secret(label: &str) -> EnrollMethod {
    EnrollMethod::EstSecret {
        label: label.into(),
    }
}

fn device_cert(product: &str) -> PresentedCert {
    PresentedCert {
        serial: "01".into(),
        subject: "CN=d1".into(),
        sans: vec![
            San::Uri("urn:inkan:device:d1".into()),
            San::Uri(format!("urn:inkan:product:{product}-id")),
        ],
        profile: "device".into(),
        level: 2,
        device_id: Some("d1".into()),
        product: Some((format!("{product}-id"), product.into())),
    }
}

fn plain_cert(subject: &str, sans: &[&str], profile: &str, level: u8) -> PresentedCert {
    PresentedCert {
        serial: "02".into(),
        subject: subject.into(),
        sans: sans.iter().map(|s| San::guess(s)).collect(),
        profile: profile.into(),
        level,
        device_id: None,
        product: None,
    }
}

fn tpm() -> EnrollMethod {
    EnrollMethod::Tpm(Box::new(TpmAttestation {
        serial: String::new(),
        activation_id: "a1".into(),
        ek_cert_sha256: None,
        ek_issuer: None,
        ek_public_sha256: "00".into(),
        ak_name: "000b".into(),
        key_name: "000b".repeat(17),
        checks: vec![],
        verified_at_ms: 0,
    }))
}

/// What one row expects: the granted names, or the rule of the refusal.
enum Expect {
    Grant {
        subject: &'static str,
        sans: &'static [&'static str],
        level: u8,
    },
    Refused(&'static str),
}

struct Row {
    what: &'static str,
    method: EnrollMethod,
    profile: &'static str,
    label: Option<&'static str>,
    csr: Vec<u8>,
    expect: Expect,
}

fn row(
    what: &'static str,
    method: EnrollMethod,
    profile: &'static str,
    label: Option<&'static str>,
    csr: Vec<u8>,
    expect: Expect,
) -> Row {
    Row {
        what,
        method,
        profile,
        label,
        csr,
        expect,
    }
}

fn run(rows: Vec<Row>) {
    let config = config();
    let profiles: BTreeMap<String, Profile> = config.profiles();
    let now = OffsetDateTime::now_utc();
    for r in rows {
        let label: Option<(String, EstLabel)> = r
            .label
            .map(|l| (l.to_string(), config.est_label(l).unwrap()));
        let decision = decide(&PolicyInput {
            method: &r.method,
            profile: &profiles[r.profile],
            label: label.as_ref().map(|(n, l)| (n.as_str(), l)),
            csr_der: &r.csr,
            validity: None,
            now,
        });
        match (&r.expect, decision) {
            (
                Expect::Grant {
                    subject,
                    sans,
                    level,
                },
                Ok(grant),
            ) => {
                assert_eq!(grant.subject().to_string(), *subject, "{}", r.what);
                let mut got: Vec<String> = grant.sans().iter().map(ToString::to_string).collect();
                got.sort();
                let mut want: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
                want.sort();
                assert_eq!(got, want, "{}", r.what);
                assert_eq!(grant.level(), *level, "{}", r.what);
            }
            (Expect::Refused(rule), Err(refusal)) => {
                assert_eq!(refusal.rule(), *rule, "{}: {refusal}", r.what);
                assert!(refusal.to_string().contains(rule), "{}", r.what);
            }
            (Expect::Grant { .. }, Err(refusal)) => {
                panic!("{}: expected a grant, got {refusal}", r.what)
            }
            (Expect::Refused(rule), Ok(grant)) => panic!(
                "{}: expected refusal by {rule}, granted {} {:?}",
                r.what,
                grant.subject(),
                grant.sans()
            ),
        }
    }
}

use Expect::{Grant as G, Refused as R};

#[test]
fn est_secrets_reach_their_label_only_and_no_higher_than_level_2() {
    run(vec![
        row(
            "device secret, device profile",
            secret("device"),
            "device",
            Some("device"),
            csr("dev-1", &["urn:dev:1"]),
            G {
                subject: "CN=dev-1",
                sans: &["URI:urn:dev:1"],
                level: 2,
            },
        ),
        row(
            "label maps to its profile",
            secret("sensors"),
            "sensor",
            Some("sensors"),
            csr("s-1", &[]),
            G {
                subject: "CN=s-1",
                sans: &[],
                level: 1,
            },
        ),
        row(
            "device secret on the server profile",
            secret("device"),
            "server",
            Some("device"),
            csr("x", &[]),
            R("est-secret-label-profile"),
        ),
        row(
            "secret without its label",
            secret("device"),
            "device",
            None,
            csr("x", &[]),
            R("est-secret-label-profile"),
        ),
        row(
            "secret for the product profile",
            secret("product"),
            "product",
            None,
            csr("p", &[]),
            R("reserved-profile"),
        ),
        row(
            "secret for the admin profile",
            secret("admin"),
            "admin",
            None,
            csr("ops", &[]),
            R("reserved-profile"),
        ),
        row(
            "secret for the tpm profile",
            secret("tpm"),
            "tpm",
            None,
            csr("t", &[]),
            R("reserved-profile"),
        ),
        row(
            "claiming another device's identity",
            secret("device"),
            "device",
            Some("device"),
            csr("d2", &["urn:inkan:device:other", "urn:inkan:product:p"]),
            R("inkan-identifiers-from-authority"),
        ),
        row(
            "inkan identifiers in any case",
            secret("device"),
            "device",
            Some("device"),
            csr("d2", &["URN:INKAN:tpm:00"]),
            R("inkan-identifiers-from-authority"),
        ),
    ]);
}

#[test]
fn server_profiles_allow_no_names_until_listed() {
    run(vec![
        row(
            "default server profile, any DNS name",
            secret("server"),
            "server",
            Some("server"),
            csr("bank.example.com", &["bank.example.com"]),
            R("name-policy-allow"),
        ),
        row(
            "default server profile, only a CN",
            secret("server"),
            "server",
            Some("server"),
            csr("localhost", &[]),
            R("name-policy-allow"),
        ),
        row(
            "listed subdomain",
            secret("web"),
            "web",
            Some("web"),
            csr("a.example.com", &["a.example.com", "10.1.2.3"]),
            G {
                subject: "CN=a.example.com",
                sans: &["DNS:a.example.com", "IP:10.1.2.3"],
                level: 2,
            },
        ),
        row(
            "denied name wins",
            secret("web"),
            "web",
            Some("web"),
            csr("a.example.com", &["bank.example.com"]),
            R("name-policy-deny"),
        ),
        row(
            "wildcard covering a denied name",
            secret("web"),
            "web",
            Some("web"),
            csr("a.example.com", &["*.example.com"]),
            R("name-policy-deny"),
        ),
        row(
            "CN outside the list",
            secret("web"),
            "web",
            Some("web"),
            csr("ops", &["a.example.com"]),
            R("name-policy-allow"),
        ),
        row(
            "IP outside the range",
            secret("web"),
            "web",
            Some("web"),
            csr("a.example.com", &["192.168.1.1"]),
            R("name-policy-allow"),
        ),
        row(
            "administrator's own choice (server identity)",
            EnrollMethod::Admin { actor: "t".into() },
            "server",
            None,
            csr("localhost", &["localhost", "127.0.0.1"]),
            G {
                subject: "CN=localhost",
                sans: &["DNS:localhost", "IP:127.0.0.1"],
                level: 2,
            },
        ),
        row(
            "administrator, denied name",
            EnrollMethod::Admin { actor: "t".into() },
            "web",
            None,
            csr("bank.example.com", &[]),
            R("name-policy-deny"),
        ),
    ]);
}

#[test]
fn a_presented_certificate_renews_only_itself() {
    let dev = device_cert("cam");
    run(vec![
        row(
            "device cert on the server label",
            EnrollMethod::ClientCert(dev.clone()),
            "server",
            Some("server"),
            csr("bank.example.com", &["bank.example.com"]),
            R("renew-only-itself"),
        ),
        row(
            "device cert re-enrolls itself",
            EnrollMethod::ClientCert(dev.clone()),
            "device",
            Some("device"),
            csr("d1", &[]),
            G {
                subject: "CN=d1",
                sans: &["URI:urn:inkan:device:d1", "URI:urn:inkan:product:cam-id"],
                level: 2,
            },
        ),
        row(
            "device cert mints another subject",
            EnrollMethod::ClientCert(dev.clone()),
            "device",
            Some("device"),
            csr("ops", &[]),
            R("renewal-same-subject"),
        ),
        row(
            "renewal repeating its own identifiers",
            EnrollMethod::Renewal(dev.clone()),
            "device",
            Some("device"),
            csr("d1", &["urn:inkan:device:d1", "urn:inkan:product:cam-id"]),
            G {
                subject: "CN=d1",
                sans: &["URI:urn:inkan:device:d1", "URI:urn:inkan:product:cam-id"],
                level: 2,
            },
        ),
        row(
            "renewal claiming another device",
            EnrollMethod::Renewal(dev.clone()),
            "device",
            Some("device"),
            csr("d1", &["urn:inkan:device:d2"]),
            R("inkan-identifiers-from-authority"),
        ),
        row(
            "renewal adding a name",
            EnrollMethod::Renewal(dev.clone()),
            "device",
            Some("device"),
            csr("d1", &["extra.example.com"]),
            R("renewal-same-names"),
        ),
        row(
            "renewal changing the subject",
            EnrollMethod::Renewal(plain_cert("CN=dev-1", &["urn:dev:1"], "device", 2)),
            "device",
            Some("device"),
            csr("dev-2", &["urn:dev:1"]),
            R("renewal-same-subject"),
        ),
        row(
            "renewal changing a SAN",
            EnrollMethod::Renewal(plain_cert("CN=dev-1", &["urn:dev:1"], "device", 2)),
            "device",
            Some("device"),
            csr("dev-1", &["urn:dev:2"]),
            R("renewal-same-names"),
        ),
        row(
            "renewal into another profile",
            EnrollMethod::Renewal(plain_cert("CN=s", &[], "server", 2)),
            "device",
            Some("device"),
            csr("s", &[]),
            R("renew-only-itself"),
        ),
        row(
            "a level-1 certificate cannot renew into level 2",
            EnrollMethod::Renewal(plain_cert("CN=s", &[], "device", 1)),
            "device",
            Some("device"),
            csr("s", &[]),
            R("method-maximum-level"),
        ),
        row(
            "renewal of a server certificate for a listed name",
            EnrollMethod::Renewal(plain_cert("CN=a.example.com", &["a.example.com"], "web", 2)),
            "web",
            Some("web"),
            csr("a.example.com", &["a.example.com"]),
            G {
                subject: "CN=a.example.com",
                sans: &["DNS:a.example.com"],
                level: 2,
            },
        ),
        row(
            "renewal of a name the policy no longer allows",
            EnrollMethod::Renewal(plain_cert(
                "CN=bank.example.com",
                &["bank.example.com"],
                "web",
                2,
            )),
            "web",
            Some("web"),
            csr("bank.example.com", &["bank.example.com"]),
            R("name-policy-deny"),
        ),
        row(
            "renewal of a server certificate minted before names were listed",
            EnrollMethod::Renewal(plain_cert("CN=x.test", &["x.test"], "server", 2)),
            "server",
            Some("server"),
            csr("x.test", &["x.test"]),
            R("name-policy-allow"),
        ),
        row(
            "renewal of a tpm certificate over EST",
            EnrollMethod::Renewal(plain_cert("CN=t", &[], "tpm", 3)),
            "tpm",
            None,
            csr("t", &[]),
            R("reserved-profile"),
        ),
    ]);
}

#[test]
fn label_holders_enroll_for_the_labels_names_and_products() {
    run(vec![
        row(
            "device of cam under the fleet domain",
            EnrollMethod::ClientCert(device_cert("cam")),
            "fleet",
            Some("fleet"),
            csr("a", &["a.fleet.example.com"]),
            G {
                subject: "CN=a",
                sans: &[
                    "DNS:a.fleet.example.com",
                    "URI:urn:inkan:device:d1",
                    "URI:urn:inkan:product:cam-id",
                ],
                level: 2,
            },
        ),
        row(
            "device of another product",
            EnrollMethod::ClientCert(device_cert("door")),
            "fleet",
            Some("fleet"),
            csr("a", &["a.fleet.example.com"]),
            R("label-holder-products"),
        ),
        row(
            "outside the fleet domain",
            EnrollMethod::ClientCert(device_cert("cam")),
            "fleet",
            Some("fleet"),
            csr("a", &["bank.example.com"]),
            R("name-policy-allow"),
        ),
        row(
            "a sensor holder is not listed",
            EnrollMethod::ClientCert(plain_cert("CN=s", &[], "sensor", 1)),
            "fleet",
            Some("fleet"),
            csr("a", &["a.fleet.example.com"]),
            R("method-maximum-level"),
        ),
        row(
            "a server holder is not listed",
            EnrollMethod::ClientCert(plain_cert("CN=w", &[], "server", 2)),
            "fleet",
            Some("fleet"),
            csr("a", &["a.fleet.example.com"]),
            R("renew-only-itself"),
        ),
    ]);
}

#[test]
fn registry_tpm_and_admin_methods_have_their_own_profiles_and_names() {
    let bootstrap = || EnrollMethod::Bootstrap {
        product_id: "p1".into(),
        product_cert_serial: "09".into(),
        device_id: "d9".into(),
    };
    let psk = EnrollMethod::Psk {
        product_id: "p1".into(),
        registration_id: "r1".into(),
        device_id: "d8".into(),
    };
    let product = EnrollMethod::ProductCreation {
        actor: "t".into(),
        product_id: "p1".into(),
    };
    let admin = || EnrollMethod::Admin { actor: "t".into() };
    run(vec![
        row(
            "bootstrap names the device",
            bootstrap(),
            "device",
            None,
            csr("serial-12345", &["urn:x:1"]),
            G {
                subject: "CN=d9",
                sans: &["URI:urn:inkan:device:d9", "URI:urn:inkan:product:p1"],
                level: 2,
            },
        ),
        row(
            "bootstrap CSR claiming identifiers",
            bootstrap(),
            "device",
            None,
            csr("x", &["urn:inkan:device:other"]),
            R("inkan-identifiers-from-authority"),
        ),
        row(
            "bootstrap for a server certificate",
            bootstrap(),
            "server",
            None,
            csr("x", &[]),
            R("reserved-profile"),
        ),
        row(
            "psk names the device",
            psk,
            "device",
            None,
            csr("x", &[]),
            G {
                subject: "CN=d8",
                sans: &["URI:urn:inkan:device:d8", "URI:urn:inkan:product:p1"],
                level: 2,
            },
        ),
        row(
            "tpm",
            tpm(),
            "tpm",
            None,
            csr("k1", &[]),
            G {
                subject: "CN=k1",
                sans: &["URI:urn:inkan:tpm:000b000b000b000b000b000b000b000b"],
                level: 3,
            },
        ),
        row(
            "tpm evidence for the device profile",
            tpm(),
            "device",
            None,
            csr("k1", &[]),
            R("reserved-profile"),
        ),
        row(
            "product creation",
            product,
            "product",
            None,
            csr("product cam", &[]),
            G {
                subject: "CN=product cam",
                sans: &["URI:urn:inkan:product:p1"],
                level: 2,
            },
        ),
        row(
            "admin certificate",
            admin(),
            "admin",
            None,
            csr("ops", &[]),
            G {
                subject: "CN=ops",
                sans: &[],
                level: 3,
            },
        ),
        row(
            "admin cannot mint a ProductCert without a product",
            admin(),
            "product",
            None,
            csr("p", &[]),
            R("reserved-profile"),
        ),
        row(
            "admin CSR claiming identifiers",
            admin(),
            "device",
            None,
            csr("x", &["urn:inkan:device:d1"]),
            R("inkan-identifiers-from-authority"),
        ),
    ]);
}

#[test]
fn validity_comes_from_the_profile_or_the_product() {
    let config = config();
    let profiles = config.profiles();
    let label = config.est_label("device").unwrap();
    let now = OffsetDateTime::now_utc();
    let method = secret("device");
    let der = csr("d", &[]);
    let input = PolicyInput {
        method: &method,
        profile: &profiles["device"],
        label: Some(("device", &label)),
        csr_der: &der,
        validity: None,
        now,
    };
    assert_eq!(
        decide(&input).unwrap().validity(),
        Duration::from_secs(90 * 86_400)
    );
    let shorter = PolicyInput {
        validity: Some(Duration::from_secs(86_400)),
        ..input
    };
    let grant = decide(&shorter).unwrap();
    let params = grant.params(inkan_pki::Serial::random().unwrap());
    assert_eq!(params.not_after, now + Duration::from_secs(86_400));
}

#[test]
fn levels_above_the_methods_are_refused_at_config_load_naming_the_key() {
    for (text, key) in [
        (
            "[profiles.x]\nbase = \"device\"\nlevel = 3\n",
            "profiles.x.level",
        ),
        (
            "[est.labels]\nhigh = \"x\"\n[profiles.x]\nbase = \"device\"\nlevel = 3\n",
            "est.labels.high",
        ),
        ("[profiles.device]\nlevel = 3\n", "profiles.device.level"),
        ("[profiles.tpm]\nlevel = 4\n", "profiles.tpm.level"),
        ("[est.labels]\np = \"product\"\n", "est.labels.p"),
        (
            "[est.labels.f]\nprofile = \"device\"\nholders = [\"nope\"]\n",
            "est.labels.f.holders",
        ),
        (
            "[est.labels.f]\nprofile = \"device\"\nholders = [\"product\"]\n",
            "est.labels.f.holders",
        ),
    ] {
        let c: Config = toml::from_str(text).unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
    // Holders do not lift a label above level 2: their new key is not attested.
    let c: Config = toml::from_str(
        "[est.labels.t3]\nprofile = \"x\"\nholders = [\"tpm\"]\n[profiles.x]\nbase = \"device\"\nlevel = 3\n",
    )
    .unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(
        err.contains("est.labels.t3") && err.contains("profiles.x.level"),
        "{err}"
    );
    // And a profile above level 2 is refused at issuance too, to a secret and to a holder.
    let mut profile = c.profiles()["device"].clone();
    profile.level = 3;
    let label = EstLabel {
        profile: "device".into(),
        holders: vec!["tpm".into()],
        products: vec![],
    };
    let der = csr("d", &[]);
    for method in [
        secret("t3"),
        EnrollMethod::ClientCert(plain_cert("CN=t", &[], "tpm", 3)),
    ] {
        let err = decide(&PolicyInput {
            method: &method,
            profile: &profile,
            label: Some(("t3", &label)),
            csr_der: &der,
            validity: None,
            now: OffsetDateTime::now_utc(),
        })
        .unwrap_err();
        assert_eq!(err.rule(), "method-maximum-level", "{err}");
        assert!(err.to_string().contains("profiles.device.level"), "{err}");
    }
}

#[test]
fn old_label_syntax_still_reads_and_reserved_labels_are_explained() {
    let c = config();
    assert_eq!(c.profile_for_label("sensors").as_deref(), Some("sensor"));
    assert_eq!(
        c.est_label("fleet").unwrap().holders,
        vec!["device".to_string()]
    );
    for reserved in ["product", "admin", "tpm"] {
        let err = c.est_label(reserved).unwrap_err();
        assert!(err.contains("EST cannot reach"), "{err}");
    }
    let err = toml::from_str::<Config>("[est.labels.x]\nprofile = \"device\"\nholder = []\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("holders"), "{err}");
}
