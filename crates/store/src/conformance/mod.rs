//! The backend conformance suite: every store operation, concurrency included, checked the
//! same way against every backend (as atuin's `tests-database`). A backend's tests call
//! [`run`] with a function that opens a fresh, empty store; SQLite runs it in this crate's
//! tests, other backends enable the `conformance` feature.
//!
//! Each case gets its own store with one issuer registered, and the audit chain is verified
//! after it. The registration rule used here is a stand-in that exercises the backend's
//! atomicity (facts gathered in the transaction); the authority's real rules live in
//! `inkan-authority`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod audit;
mod certificates;
mod link;
mod registry;
mod secrets;
mod segments;
mod tee;
mod tpm;

use std::future::Future;
use std::sync::Arc;

use crate::{
    Admission, ChainVerifier, DeviceRecord, DeviceStatus, IssuerRecord, NewCertificate,
    ProductRecord, ProductStatus, RegisterOutcome, RegistrationFacts, Store,
};

/// Runs every case, each on a store from `make`; panics naming the first case that fails.
pub async fn run<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! cases {
        ($($case:path),+ $(,)?) => {$({
            // One store per case, closed before the next opens.
            let store = Arc::new(make().await);
            store.register_issuer(&issuer(), "conformance").await.unwrap();
            $case(store.clone()).await;
            verify_chain(&*store, stringify!($case)).await;
        })+};
    }
    cases!(
        certificates::a_batch_is_recorded_with_chained_audit_events,
        certificates::a_duplicate_serial_is_skipped_not_fatal,
        certificates::certificates_page_by_audit_seq,
        certificates::issued_refs_page_by_audit_seq,
        certificates::issuers_register_once,
        certificates::revocation_is_idempotent_audited_and_fed,
        certificates::cascade_follows_the_callers_rule,
        certificates::parallel_revocations_of_one_certificate_revoke_it_once,
        certificates::the_feed_is_gapless_under_parallel_revocations,
        certificates::crl_numbers_only_go_up,
        certificates::certificate_stats_count_what_an_overview_shows,
        certificates::certificates_are_found_by_name_prefix_and_method,
        registry::a_product_comes_with_its_cert_and_psk_key_in_one_transaction,
        registry::a_refused_product_writes_nothing,
        registry::product_status_changes_are_audited_once,
        registry::a_registration_batch_sees_its_earlier_registrations,
        registry::a_registration_records_the_certificate_of_each_admitted_device,
        registry::the_cap_holds_under_parallel_registration,
        registry::an_unknown_product_is_a_fact_not_an_error,
        registry::devices_page_newest_first,
        registry::device_status_changes_are_audited_once,
        registry::psk_keys_are_set_and_cleared,
        registry::a_psk_nonce_is_accepted_once_under_parallel_use,
        registry::device_certificates_are_listed_newest_first,
        audit::appended_events_page_in_order,
        audit::parallel_appends_keep_one_chain,
        secrets::est_secrets_are_replaced_and_audited,
        secrets::admin_tokens_are_found_by_hash_and_unique,
        secrets::a_single_use_admin_token_is_taken_once,
        secrets::credentials_are_listed_and_revoked_with_an_audit_event,
        segments::segments_are_created_once_and_rotated_from_the_newest,
        segments::card_logins_count_failures_and_lock,
        tpm::a_tpm_activation_is_consumed_once_with_its_certificate,
        tpm::parallel_enrollments_share_no_activation,
        tpm::outstanding_activations_are_counted_and_expired_ones_purged,
        tee::ta_profiles_are_versioned_rotated_and_revoked,
        tee::tee_models_and_devices_register_once,
        tee::a_tee_challenge_is_consumed_once_with_its_certificate,
        tee::parallel_tee_enrollments_share_no_challenge,
        tee::a_ta_delivery_is_audited_in_the_chain,
        tee::a_tpm_binding_needs_an_open_challenge_of_that_device,
        tee::a_tee_challenge_is_spent_once_without_a_certificate,
        tee::outstanding_challenges_are_counted_and_expired_ones_purged,
        link::accounts_are_bound_to_one_anchor_key_at_a_time,
        link::a_link_request_links_once_within_the_caps,
        link::an_approval_is_consumed_once_and_never_for_an_unlinked_device,
        link::expired_link_requests_and_logins_are_purged,
        link::a_delegation_counts_its_approvals_and_ends_when_the_anchor_returns,
    );
}

/// Every stored event checks out, in order.
async fn verify_chain<S: Store + ?Sized>(store: &S, case: &str) {
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let events = store.audit_events(after, 500).await.unwrap();
        let Some(last) = events.last() else { break };
        after = last.seq;
        for event in &events {
            if let Err(b) = verifier.push(event) {
                panic!("{case}: audit chain broken at {}: {}", b.seq, b.reason);
            }
        }
    }
}

pub(crate) fn issuer() -> IssuerRecord {
    IssuerRecord {
        id: "issuer".into(),
        role: "issuing".into(),
        subject: "CN=ca".into(),
        not_after: 10,
        der: vec![9],
        created_at_ms: 5,
    }
}

pub(crate) fn cert(serial: &str) -> NewCertificate {
    NewCertificate {
        serial: serial.into(),
        issuer_id: "issuer".into(),
        subject: "CN=x".into(),
        sans: vec!["DNS:x.example".into()],
        spki_sha256: "00".into(),
        not_before: 1,
        not_after: 2,
        profile: "device".into(),
        method: "admin".into(),
        evidence: serde_json::json!({"k": "v"}),
        der: vec![1, 2, 3],
        actor: "test".into(),
        bootstrap_serial: None,
        approval: None,
        tpm: None,
        tee: None,
        device_id: None,
        level: None,
    }
}

fn product(id: &str, name: &str) -> ProductRecord {
    ProductRecord {
        id: id.into(),
        name: name.into(),
        attributes: vec![],
        max_devices: None,
        device_validity_secs: 60,
        status: ProductStatus::Active,
        cert_serial: None,
        psk: false,
        created_at_ms: 1,
    }
}

pub(crate) fn device(id: &str, key: &str) -> DeviceRecord {
    DeviceRecord {
        id: id.into(),
        product_id: "p1".into(),
        attributes: serde_json::json!({}),
        spki_sha256: key.into(),
        registration_id: None,
        status: DeviceStatus::Active,
        created_at_ms: 1,
        last_seen_ms: 1,
    }
}

/// The stand-in registration rule: unknown product, same key (idempotent), cap.
pub(crate) fn rule(device: &DeviceRecord, facts: &RegistrationFacts) -> Admission {
    let Some(product) = &facts.product else {
        return Admission::Answer(RegisterOutcome::UnknownProduct);
    };
    if let Some(found) = &facts.same_key {
        return Admission::Answer(if found.product_id != device.product_id {
            RegisterOutcome::KeyInUse
        } else if found.status == DeviceStatus::Disabled {
            RegisterOutcome::DeviceDisabled
        } else {
            RegisterOutcome::Existing(found.clone())
        });
    }
    if facts.registration_id_taken {
        return Admission::Answer(RegisterOutcome::RegistrationIdInUse);
    }
    match product.max_devices {
        Some(max) if facts.device_count >= max => {
            Admission::Answer(RegisterOutcome::CapReached(max))
        }
        _ => Admission::Admit,
    }
}

/// Creates product `p1` ("thermo") with `max_devices`.
pub(crate) async fn thermo<S: Store + ?Sized>(store: &S, max_devices: Option<i64>) {
    let p = ProductRecord {
        max_devices,
        ..product("p1", "thermo")
    };
    assert!(store
        .create_product(&p, &cert("pc1"), None, "test")
        .await
        .unwrap());
}
