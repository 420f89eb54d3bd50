use inkan_store::ProductRecord;

use super::*;

fn product(status: ProductStatus, max_devices: Option<i64>) -> ProductRecord {
    ProductRecord {
        id: "p1".into(),
        name: "thermo".into(),
        attributes: vec![],
        max_devices,
        device_validity_secs: 60,
        status,
        cert_serial: None,
        psk: false,
        created_at_ms: 1,
    }
}

fn device(product_id: &str, status: DeviceStatus, registration_id: Option<&str>) -> DeviceRecord {
    DeviceRecord {
        id: "d1".into(),
        product_id: product_id.into(),
        attributes: serde_json::json!({}),
        spki_sha256: "k1".into(),
        registration_id: registration_id.map(str::to_string),
        status,
        created_at_ms: 1,
        last_seen_ms: 1,
    }
}

fn facts(
    product: Option<ProductRecord>,
    device_count: i64,
    same_key: Option<DeviceRecord>,
    registration_id_taken: bool,
) -> RegistrationFacts {
    RegistrationFacts {
        product,
        device_count,
        same_key,
        registration_id_taken,
    }
}

#[test]
fn registration_decisions() {
    use DeviceStatus::{Active, Disabled};
    let new = device("p1", Active, None);
    let psk = device("p1", Active, Some("r1"));
    let active = Some(product(ProductStatus::Active, Some(2)));
    let answer = Admission::Answer;
    let cases: Vec<(&str, &DeviceRecord, RegistrationFacts, Admission)> = vec![
        (
            "new device under the cap",
            &new,
            facts(active.clone(), 1, None, false),
            Admission::Admit,
        ),
        (
            "no cap",
            &new,
            facts(Some(product(ProductStatus::Active, None)), 99, None, false),
            Admission::Admit,
        ),
        (
            "cap reached",
            &new,
            facts(active.clone(), 2, None, false),
            answer(RegisterOutcome::CapReached(2)),
        ),
        (
            "unknown product",
            &new,
            facts(None, 0, None, false),
            answer(RegisterOutcome::UnknownProduct),
        ),
        (
            "disabled product",
            &new,
            facts(Some(product(ProductStatus::Disabled, None)), 0, None, false),
            answer(RegisterOutcome::ProductDisabled),
        ),
        (
            "retry: same device",
            &new,
            facts(active.clone(), 2, Some(new.clone()), false),
            answer(RegisterOutcome::Existing(new.clone())),
        ),
        (
            "key of another product",
            &new,
            facts(active.clone(), 0, Some(device("p2", Active, None)), false),
            answer(RegisterOutcome::KeyInUse),
        ),
        (
            "key of a disabled device",
            &new,
            facts(active.clone(), 0, Some(device("p1", Disabled, None)), false),
            answer(RegisterOutcome::DeviceDisabled),
        ),
        (
            "key under another registration id",
            &psk,
            facts(
                active.clone(),
                0,
                Some(device("p1", Active, Some("r2"))),
                false,
            ),
            answer(RegisterOutcome::KeyInUse),
        ),
        (
            "registration id of another key",
            &psk,
            facts(active.clone(), 0, None, true),
            answer(RegisterOutcome::RegistrationIdInUse),
        ),
    ];
    for (name, device, facts, want) in cases {
        assert_eq!(admit_device(device, &facts), want, "{name}");
    }
}

#[test]
fn a_cascade_takes_only_valid_certificates() {
    let enrolled = [
        Enrolled {
            serial: "a".into(),
            status: CertificateStatus::Valid,
        },
        Enrolled {
            serial: "b".into(),
            status: CertificateStatus::Revoked,
        },
    ];
    assert_eq!(cascade_to("p", &enrolled), ["a"]);
}
