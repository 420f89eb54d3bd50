//! Rows per enrolment method: EST secrets, the registry, TPM attestation and the admin.

use super::Expect::{Grant as G, Refused as R};
use super::*;

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

fn tee(key_storage: &str) -> EnrollMethod {
    EnrollMethod::Tee(Box::new(inkan_store::TeeAttestation {
        serial: String::new(),
        uid: "unit-1".into(),
        model: "m".into(),
        profile: "meter".into(),
        version: 1,
        challenge: "00".into(),
        key_storage: key_storage.into(),
        identity: vec![("mac".into(), "001122334455".into())],
        checks: vec![],
        verified_at_ms: 0,
    }))
}

#[test]
fn a_trusted_app_gets_the_names_the_authority_writes_at_level_2() {
    run(vec![
        row(
            "software TA, tee profile: names from the evidence, not the CSR",
            tee("software"),
            "tee",
            None,
            csr("someone-else", &["urn:dev:mac:ffffffffffff"]),
            G {
                subject: "CN=unit-1",
                sans: &["URI:urn:inkan:tee:unit-1", "URI:urn:dev:mac:001122334455"],
                level: 2,
            },
        ),
        row(
            "never the admin profile",
            tee("software"),
            "admin",
            None,
            csr("x", &[]),
            R("reserved-profile"),
        ),
        row(
            "never the tpm profile",
            tee("tpm"),
            "tpm",
            None,
            csr("x", &[]),
            R("reserved-profile"),
        ),
        row(
            "never ProductCerts",
            tee("software"),
            "product",
            None,
            csr("x", &[]),
            R("reserved-profile"),
        ),
        row(
            "a CSR claiming an inkan identity",
            tee("software"),
            "tee",
            None,
            csr("x", &["urn:inkan:device:d1"]),
            R("inkan-identifiers-from-authority"),
        ),
    ]);
    assert_eq!(tee("software").max_level(), SHARED_SECRET_MAX_LEVEL);
    assert_eq!(tee("tpm").max_level(), TPM_MAX_LEVEL);
}

#[test]
fn est_cannot_reach_the_tee_profile() {
    run(vec![row(
        "device secret asking for tee",
        secret("device"),
        "tee",
        Some("device"),
        csr("x", &[]),
        R("reserved-profile"),
    )]);
}

fn linked(anchor_level: u8) -> EnrollMethod {
    EnrollMethod::Linked(Box::new(crate::LinkedLogin {
        account_id: "acct-1".into(),
        registration: "ld-1".into(),
        login_id: "login-1".into(),
        anchor_serial: "0a".into(),
        anchor_level,
        signature: vec![],
        signed_at: 0,
        deputy: None,
    }))
}

#[test]
fn an_anchors_approval_gets_the_linked_profile_named_by_the_authority() {
    run(vec![
        row(
            "approved login: names from the link, not the CSR",
            linked(3),
            "linked",
            None,
            csr("someone-else", &["urn:dev:x"]),
            G {
                subject: "CN=ld-1",
                sans: &["URI:urn:inkan:linked:ld-1", "URI:urn:inkan:account:acct-1"],
                level: 2,
            },
        ),
        row(
            "never another profile",
            linked(3),
            "device",
            None,
            csr("x", &[]),
            R("reserved-profile"),
        ),
        row(
            "never above its anchor",
            linked(1),
            "linked",
            None,
            csr("x", &[]),
            R("method-maximum-level"),
        ),
        row(
            "an EST secret cannot reach it",
            secret("device"),
            "linked",
            Some("device"),
            csr("x", &[]),
            R("reserved-profile"),
        ),
        row(
            "nor can a trusted app",
            tee("software"),
            "linked",
            None,
            csr("x", &[]),
            R("reserved-profile"),
        ),
    ]);
    assert_eq!(linked(3).max_level(), SHARED_SECRET_MAX_LEVEL);
}
