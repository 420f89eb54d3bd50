//! Cases of [`crate::RegistryStore`].

use std::sync::Arc;

use super::{cert, device, product, rule, thermo};
use crate::{
    DeviceCertificate, DeviceCursor, DeviceStatus, NewCertificate, NewRegistration, ProductStatus,
    RecordOutcome, RegisterOutcome, Store, StoreError,
};

pub(super) async fn a_product_comes_with_its_cert_and_psk_key_in_one_transaction<S: Store>(
    store: Arc<S>,
) {
    assert!(store
        .create_product(&product("p1", "thermo"), &cert("pc1"), Some("00ff"), "t")
        .await
        .unwrap());
    let stored = store.product("thermo").await.unwrap().unwrap();
    assert_eq!(stored.cert_serial.as_deref(), Some("pc1"));
    assert!(stored.psk);
    assert_eq!(store.product("p1").await.unwrap(), Some(stored.clone()));
    assert_eq!(store.product_by_cert("pc1").await.unwrap(), Some(stored));
    assert!(store.product_by_cert("zz").await.unwrap().is_none());
    assert_eq!(
        store.product_psk_key("p1").await.unwrap().as_deref(),
        Some("00ff")
    );
    assert!(store.certificate("pc1").await.unwrap().is_some());
    let kinds: Vec<String> = store
        .audit_events(1, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "product.created",
            "certificate.issued",
            "product.psk-enabled"
        ]
    );
}

pub(super) async fn a_refused_product_writes_nothing<S: Store>(store: Arc<S>) {
    assert!(store
        .create_product(&product("p1", "thermo"), &cert("pc1"), None, "t")
        .await
        .unwrap());
    let head = store.audit_events(0, 100).await.unwrap().len();
    // The name is taken; so is an existing product's id used as a name.
    assert!(!store
        .create_product(&product("p2", "thermo"), &cert("pc2"), None, "t")
        .await
        .unwrap());
    assert!(!store
        .create_product(&product("p3", "p1"), &cert("pc3"), None, "t")
        .await
        .unwrap());
    // A serial that is taken rolls the product back with it.
    assert!(matches!(
        store
            .create_product(&product("p4", "meter"), &cert("pc1"), None, "t")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.products().await.unwrap().len(), 1);
    assert!(store.certificate("pc2").await.unwrap().is_none());
    assert!(store.certificate("pc3").await.unwrap().is_none());
    assert_eq!(store.audit_events(0, 100).await.unwrap().len(), head);
}

pub(super) async fn product_status_changes_are_audited_once<S: Store>(store: Arc<S>) {
    thermo(&*store, None).await;
    let disable = |store: Arc<S>| async move {
        store
            .set_product_status("p1", ProductStatus::Disabled, "t", 2)
            .await
            .unwrap()
    };
    assert!(disable(store.clone()).await);
    assert!(!disable(store.clone()).await);
    assert!(!store
        .set_product_status("zz", ProductStatus::Disabled, "t", 2)
        .await
        .unwrap());
    let found = store.product("p1").await.unwrap().unwrap();
    assert_eq!(found.status, ProductStatus::Disabled);
    let events = store.audit_events(0, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "product.disabled")
            .count(),
        1
    );
}

pub(super) async fn a_registration_batch_sees_its_earlier_registrations<S: Store>(store: Arc<S>) {
    thermo(&*store, Some(2)).await;
    let actor = "product:p1".to_string();
    let outcomes = store
        .register_devices(
            &[
                (device("d1", "k1"), actor.clone()),
                (device("d1b", "k1"), actor.clone()),
                (device("d2", "k2"), actor.clone()),
                (device("d3", "k3"), actor.clone()),
            ],
            &rule,
        )
        .await
        .unwrap();
    assert_eq!(outcomes[0], RegisterOutcome::Registered(device("d1", "k1")));
    // The same key again in the same batch is the same device, not a second one.
    assert_eq!(outcomes[1], RegisterOutcome::Existing(device("d1", "k1")));
    assert!(matches!(outcomes[2], RegisterOutcome::Registered(_)));
    assert_eq!(outcomes[3], RegisterOutcome::CapReached(2));
    assert_eq!(store.count_devices("p1").await.unwrap(), 2);
    assert_eq!(store.devices(Some("p1"), None, 10).await.unwrap().len(), 2);
    assert_eq!(store.device("d1").await.unwrap(), Some(device("d1", "k1")));
    assert!(store.device("d3").await.unwrap().is_none());
    let registered = store
        .audit_events(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "device.registered")
        .count();
    assert_eq!(registered, 2);
}

pub(super) async fn a_registration_records_the_certificate_of_each_admitted_device<S: Store>(
    store: Arc<S>,
) {
    thermo(&*store, Some(3)).await;
    let with_cert = |id: &str, key: &str, serial: &str| NewRegistration {
        device: device(id, key),
        actor: "product:p1".into(),
        certificate: Some(NewCertificate {
            device_id: Some(id.into()),
            ..cert(serial)
        }),
    };
    let head = store.audit_events(0, 1000).await.unwrap().len();
    let outcomes = store
        .register_devices_issuing(
            &[
                with_cert("d1", "k1", "c1"),
                // The same key again: the existing device; its certificate is not recorded.
                with_cert("d1b", "k1", "c1b"),
                NewRegistration {
                    certificate: None,
                    ..with_cert("d2", "k2", "-")
                },
                // A serial taken (here, earlier in the batch): the device is registered, its
                // certificate is to be signed again.
                with_cert("d3", "k3", "c1"),
                // Over the cap: nothing of it is written.
                with_cert("d4", "k4", "c4"),
            ],
            &rule,
            7,
        )
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [
            (
                RegisterOutcome::Registered(device("d1", "k1")),
                Some(RecordOutcome::Recorded)
            ),
            (RegisterOutcome::Existing(device("d1", "k1")), None),
            (RegisterOutcome::Registered(device("d2", "k2")), None),
            (
                RegisterOutcome::Registered(device("d3", "k3")),
                Some(RecordOutcome::DuplicateSerial)
            ),
            (RegisterOutcome::CapReached(3), None),
        ]
    );
    let recorded = store.certificate("c1").await.unwrap().unwrap();
    assert_eq!(recorded.created_at_ms, 7);
    for serial in ["c1b", "c4"] {
        assert!(store.certificate(serial).await.unwrap().is_none());
    }
    let of_d1 = store.device_certificates("d1").await.unwrap();
    assert_eq!(of_d1.len(), 1);
    assert_eq!(of_d1[0].serial, "c1");
    assert!(store.device_certificates("d3").await.unwrap().is_empty());
    assert!(store.device("d4").await.unwrap().is_none());
    // The devices' events come before the certificate's, in the same chain.
    let kinds: Vec<String> = store
        .audit_events(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .skip(head)
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "device.registered",
            "device.registered",
            "device.registered",
            "certificate.issued"
        ]
    );
}

pub(super) async fn the_cap_holds_under_parallel_registration<S: Store>(store: Arc<S>) {
    thermo(&*store, Some(5)).await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let d = device(&format!("d{i}"), &format!("k{i}"));
                store
                    .register_devices(&[(d, "product:p1".into())], &rule)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut registered = 0;
    for task in tasks {
        let outcomes = task.await.unwrap();
        match &outcomes[..] {
            [RegisterOutcome::Registered(_)] => registered += 1,
            [RegisterOutcome::CapReached(5)] => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(registered, 5);
    assert_eq!(store.count_devices("p1").await.unwrap(), 5);
    assert_eq!(store.devices(Some("p1"), None, 100).await.unwrap().len(), 5);
}

pub(super) async fn an_unknown_product_is_a_fact_not_an_error<S: Store>(store: Arc<S>) {
    let outcomes = store
        .register_devices(&[(device("d1", "k1"), "x".into())], &rule)
        .await
        .unwrap();
    assert_eq!(outcomes, [RegisterOutcome::UnknownProduct]);
    assert_eq!(store.count_devices("p1").await.unwrap(), 0);
}

pub(super) async fn devices_page_newest_first<S: Store>(store: Arc<S>) {
    thermo(&*store, None).await;
    let batch: Vec<_> = (0..5)
        .map(|i| {
            let mut d = device(&format!("d{i}"), &format!("k{i}"));
            d.created_at_ms = [10, 20, 20, 30, 40][i];
            (d, "t".to_string())
        })
        .collect();
    store.register_devices(&batch, &rule).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<DeviceCursor> = None;
    loop {
        let page = store.devices(Some("p1"), cursor.as_ref(), 2).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(last.into());
        seen.extend(page.iter().map(|d| d.id.clone()));
    }
    assert_eq!(seen, ["d4", "d3", "d1", "d2", "d0"]);
    assert_eq!(store.devices(None, None, 100).await.unwrap().len(), 5);
    assert!(store
        .devices(Some("zz"), None, 100)
        .await
        .unwrap()
        .is_empty());
}

pub(super) async fn device_status_changes_are_audited_once<S: Store>(store: Arc<S>) {
    thermo(&*store, None).await;
    store
        .register_devices(&[(device("d1", "k1"), "t".into())], &rule)
        .await
        .unwrap();
    let set = |status| {
        let store = store.clone();
        async move { store.set_device_status("d1", status, "t", 2).await.unwrap() }
    };
    assert!(set(DeviceStatus::Disabled).await);
    assert!(!set(DeviceStatus::Disabled).await);
    assert!(!store
        .set_device_status("zz", DeviceStatus::Disabled, "t", 2)
        .await
        .unwrap());
    // A disabled device's key is refused, not re-registered (the facts show it disabled).
    let again = store
        .register_devices(&[(device("d9", "k1"), "t".into())], &rule)
        .await
        .unwrap();
    assert_eq!(again, [RegisterOutcome::DeviceDisabled]);
    assert!(set(DeviceStatus::Active).await);
    let kinds: Vec<String> = store
        .audit_events(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("device.") && k != "device.registered")
        .collect();
    assert_eq!(kinds, ["device.disabled", "device.active"]);
}

pub(super) async fn psk_keys_are_set_and_cleared<S: Store>(store: Arc<S>) {
    thermo(&*store, None).await;
    assert!(store.product_psk_key("p1").await.unwrap().is_none());
    store
        .set_product_psk("p1", Some("aa"), "t", 2)
        .await
        .unwrap();
    assert_eq!(
        store.product_psk_key("p1").await.unwrap().as_deref(),
        Some("aa")
    );
    assert!(store.product("p1").await.unwrap().unwrap().psk);
    store.set_product_psk("p1", None, "t", 3).await.unwrap();
    assert!(store.product_psk_key("p1").await.unwrap().is_none());
    assert!(matches!(
        store.set_product_psk("zz", Some("aa"), "t", 4).await,
        Err(StoreError::NotFound(_))
    ));
}

pub(super) async fn a_psk_nonce_is_accepted_once_under_parallel_use<S: Store>(store: Arc<S>) {
    thermo(&*store, None).await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .consume_psk_nonce("p1", "n1", 1_000, 100)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        accepted += usize::from(task.await.unwrap());
    }
    assert_eq!(accepted, 1);
    // An expired nonce is forgotten: the token's own window has closed by then.
    assert!(store
        .consume_psk_nonce("p1", "n1", 3_000, 2_000)
        .await
        .unwrap());
    assert!(!store
        .consume_psk_nonce("p1", "n1", 3_000, 2_001)
        .await
        .unwrap());
}

pub(super) async fn device_certificates_are_listed_newest_first<S: Store>(store: Arc<S>) {
    thermo(&*store, None).await;
    store
        .register_devices(&[(device("d1", "k1"), "t".into())], &rule)
        .await
        .unwrap();
    let dc = |serial: &str, at: i64| DeviceCertificate {
        serial: serial.into(),
        device_id: "d1".into(),
        issuer: "https://ca.example/est".into(),
        not_after: 99,
        der: vec![1],
        created_at_ms: at,
    };
    store
        .record_device_certificate(&dc("e1", 10))
        .await
        .unwrap();
    store
        .record_device_certificate(&dc("e2", 20))
        .await
        .unwrap();
    // Recording the same certificate again changes nothing but the audit trail.
    store
        .record_device_certificate(&dc("e2", 20))
        .await
        .unwrap();
    let mut local = cert("l3");
    local.device_id = Some("d1".into());
    store.record_issued(&[local], 30).await.unwrap();
    let listed = store.device_certificates("d1").await.unwrap();
    let serials: Vec<_> = listed.iter().map(|c| c.serial.as_str()).collect();
    assert_eq!(serials, ["l3", "e2", "e1"]);
    assert_eq!(listed[0].issuer, "local");
    assert_eq!(store.device("d1").await.unwrap().unwrap().last_seen_ms, 30);
}
