//! The decision as a table: method × profile × CSR → grant or refusal (by rule).

use std::collections::BTreeMap;

use inkan_pki::{build_csr, GeneratedKey, KeyAlgorithm, Profile, San};
use inkan_store::TpmAttestation;
use time::OffsetDateTime;

use super::*;
use crate::{Config, EstLabel};

mod levels;
mod methods;
mod names;
mod reach;

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
