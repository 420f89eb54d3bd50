//! Cases of [`crate::LinkStore`] (and login approvals consumed with certificates).

use std::sync::Arc;

use super::{cert, verify_chain};
use crate::{
    Account, Anchor, ApprovalUse, Delegation, LinkOutcome, LinkRequest, LinkedDevice, Login,
    NewCertificate, RecordOutcome, Store, StoreError,
};

fn account(id: &str, max_devices: i64) -> Account {
    Account {
        id: id.into(),
        name: format!("{id} owner"),
        max_devices,
        created_at_ms: 10,
    }
}

fn anchor(account_id: &str, key: &str) -> Anchor {
    Anchor {
        account_id: account_id.into(),
        spki_sha256: key.into(),
        serial: format!("serial-{key}"),
        added_at_ms: 10,
        removed_at_ms: None,
    }
}

fn request(token: &str, registration: &str, key: &str, expires_at_ms: i64) -> LinkRequest {
    LinkRequest {
        token_sha256: token.into(),
        registration: registration.into(),
        name: format!("{registration} laptop"),
        spki_der: vec![0x30, 0x59, 1],
        spki_sha256: key.into(),
        created_at_ms: 100,
        expires_at_ms,
        used_at_ms: None,
        client: "192.0.2.1".into(),
    }
}

fn device(registration: &str, account_id: &str, key: &str) -> LinkedDevice {
    LinkedDevice {
        registration: registration.into(),
        account_id: account_id.into(),
        name: format!("{registration} laptop"),
        spki_der: vec![0x30, 0x59, 1],
        spki_sha256: key.into(),
        anchor_serial: "serial-anchor".into(),
        list_signature: vec![0x30, 0x44],
        linked_at_ms: 200,
        unlinked_at_ms: None,
    }
}

fn login(id: &str, registration: &str, account_id: &str, expires_at_ms: i64) -> Login {
    Login {
        id: id.into(),
        registration: registration.into(),
        account_id: account_id.into(),
        request_sha256: format!("req-{id}"),
        nonce: vec![1; 16],
        csr: vec![0x30, 0x82],
        session: vec![7; 80],
        poll_sha256: format!("poll-{id}"),
        created_at_ms: 300,
        expires_at_ms,
        approved_at_ms: None,
        anchor_serial: None,
        signature: None,
        serial: None,
        delegation_id: None,
    }
}

fn approved_cert(serial: &str, login_id: &str, registration: &str) -> NewCertificate {
    NewCertificate {
        method: "linked-device".into(),
        approval: Some(ApprovalUse {
            login_id: login_id.into(),
            registration: registration.into(),
            anchor_serial: "serial-anchor".into(),
            signature: vec![0x30, 0x45],
            delegation_id: None,
        }),
        ..cert(serial)
    }
}

fn deputy_cert(
    serial: &str,
    login_id: &str,
    registration: &str,
    delegation: &str,
) -> NewCertificate {
    let mut cert = approved_cert(serial, login_id, registration);
    if let Some(approval) = cert.approval.as_mut() {
        approval.delegation_id = Some(delegation.into());
    }
    cert
}

fn delegation(id: &str, deputy: &str, not_after_ms: i64, max_approvals: i64) -> Delegation {
    Delegation {
        id: id.into(),
        account_id: "a1".into(),
        deputy: deputy.into(),
        anchor_serial: "serial-anchor".into(),
        not_before_ms: 0,
        not_after_ms,
        max_approvals,
        used: 0,
        signed_at: 0,
        signature: vec![0x30, 0x46],
        created_at_ms: 250,
        ended_at_ms: None,
        end_reason: None,
    }
}

/// Account `a1` (anchor key `k-anchor`) with device `ld-1` linked.
async fn linked<S: Store>(store: &S) {
    store
        .create_account(&account("a1", 3), &anchor("a1", "k-anchor"), "test")
        .await
        .unwrap();
    assert!(store
        .create_link_request(&request("t1", "ld-1", "k-1", 10_000), 100, 100, "test")
        .await
        .unwrap());
    let outcome = store
        .link_device("t1", &device("ld-1", "a1", "k-1"), 200, "test")
        .await
        .unwrap();
    assert_eq!(outcome, LinkOutcome::Linked);
}

pub(super) async fn accounts_are_bound_to_one_anchor_key_at_a_time<S: Store>(store: Arc<S>) {
    store
        .create_account(&account("a1", 3), &anchor("a1", "k-anchor"), "test")
        .await
        .unwrap();
    let taken = store
        .create_account(&account("a2", 3), &anchor("a2", "k-anchor"), "test")
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    assert!(
        store.account("a2").await.unwrap().is_none(),
        "nothing written"
    );
    let found = store.account_of_anchor("k-anchor").await.unwrap().unwrap();
    assert_eq!(found.id, "a1");

    store
        .add_anchor(&anchor("a1", "k-second"), "admin")
        .await
        .unwrap();
    let missing = store.add_anchor(&anchor("nope", "k-third"), "admin").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(store.anchors("a1").await.unwrap().len(), 2);
    assert!(store
        .remove_anchor("a1", "k-anchor", 50, "admin")
        .await
        .unwrap());
    assert!(!store
        .remove_anchor("a1", "k-anchor", 60, "admin")
        .await
        .unwrap());
    assert!(store.account_of_anchor("k-anchor").await.unwrap().is_none());
    // Once removed, the key may anchor another account.
    store
        .create_account(&account("a2", 3), &anchor("a2", "k-anchor"), "test")
        .await
        .unwrap();
    assert_eq!(store.accounts().await.unwrap().len(), 2);
    verify_chain(&*store, "accounts_are_bound_to_one_anchor_key_at_a_time").await;
}

pub(super) async fn a_link_request_links_once_within_the_caps<S: Store>(store: Arc<S>) {
    linked(&*store).await;
    // The request is used up.
    let again = store
        .link_device("t1", &device("ld-1", "a1", "k-1"), 210, "test")
        .await
        .unwrap();
    assert_eq!(again, LinkOutcome::RequestUnusable);
    // An expired request, and one presented with another key, do not link.
    assert!(store
        .create_link_request(&request("t2", "ld-2", "k-2", 150), 100, 100, "test")
        .await
        .unwrap());
    let expired = store
        .link_device("t2", &device("ld-2", "a1", "k-2"), 200, "test")
        .await
        .unwrap();
    assert_eq!(expired, LinkOutcome::RequestUnusable);
    assert!(store
        .create_link_request(&request("t3", "ld-3", "k-3", 10_000), 100, 100, "test")
        .await
        .unwrap());
    let swapped = store
        .link_device("t3", &device("ld-3", "a1", "k-other"), 200, "test")
        .await
        .unwrap();
    assert_eq!(swapped, LinkOutcome::RequestUnusable);
    let unknown = store
        .link_device("t3", &device("ld-3", "nope", "k-3"), 200, "test")
        .await
        .unwrap();
    assert_eq!(unknown, LinkOutcome::UnknownAccount);
    // The open-request cap.
    let open = store
        .create_link_request(&request("t4", "ld-4", "k-4", 10_000), 1, 100, "test")
        .await
        .unwrap();
    assert!(!open, "one request (t3) is open already");
    assert!(store.link_request("t4").await.unwrap().is_none());
    // The per-address cap: t3 is open from this address.
    let from_here = store
        .create_link_request(&request("t4", "ld-4", "k-4", 10_000), 100, 1, "test")
        .await
        .unwrap();
    assert!(!from_here, "one request is open from this address already");
    let elsewhere = LinkRequest {
        client: "198.51.100.9".into(),
        ..request("t4", "ld-4", "k-4", 10_000)
    };
    assert!(store
        .create_link_request(&elsewhere, 100, 1, "test")
        .await
        .unwrap());
    // The account's device cap (3): ld-1 and two more fill it.
    for (token, reg, key) in [
        ("t5", "ld-5", "k-5"),
        ("t6", "ld-6", "k-6"),
        ("t7", "ld-7", "k-7"),
    ] {
        assert!(store
            .create_link_request(&request(token, reg, key, 10_000), 100, 100, "test")
            .await
            .unwrap());
    }
    for (token, reg, key) in [("t5", "ld-5", "k-5"), ("t6", "ld-6", "k-6")] {
        let outcome = store
            .link_device(token, &device(reg, "a1", key), 200, "test")
            .await
            .unwrap();
        assert_eq!(outcome, LinkOutcome::Linked);
    }
    let full = store
        .link_device("t7", &device("ld-7", "a1", "k-7"), 200, "test")
        .await
        .unwrap();
    assert_eq!(full, LinkOutcome::CapReached(3));
    assert!(store.linked_device("ld-7").await.unwrap().is_none());
    // Unlinking frees a place; a key linked elsewhere is refused.
    assert!(store
        .unlink_device("a1", "ld-5", 300, "anchor")
        .await
        .unwrap());
    assert!(!store
        .unlink_device("a1", "ld-5", 310, "anchor")
        .await
        .unwrap());
    store
        .create_account(&account("a2", 3), &anchor("a2", "k-anchor-2"), "test")
        .await
        .unwrap();
    assert!(store
        .create_link_request(&request("t8", "ld-8", "k-1", 10_000), 100, 100, "test")
        .await
        .unwrap());
    let in_use = store
        .link_device("t8", &device("ld-8", "a2", "k-1"), 200, "test")
        .await
        .unwrap();
    assert_eq!(in_use, LinkOutcome::KeyInUse);
    let listed = store.linked_devices("a1").await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed
        .iter()
        .any(|d| d.registration == "ld-5" && d.unlinked_at_ms == Some(300)));
    verify_chain(&*store, "a_link_request_links_once_within_the_caps").await;
}

pub(super) async fn an_approval_is_consumed_once_and_never_for_an_unlinked_device<S: Store>(
    store: Arc<S>,
) {
    linked(&*store).await;
    assert!(store
        .create_login(&login("l1", "ld-1", "a1", 10_000), 2, "device:ld-1")
        .await
        .unwrap());
    assert!(store
        .create_login(&login("l2", "ld-1", "a1", 10_000), 2, "device:ld-1")
        .await
        .unwrap());
    assert!(
        !store
            .create_login(&login("l3", "ld-1", "a1", 10_000), 2, "device:ld-1")
            .await
            .unwrap(),
        "two logins are open already"
    );
    assert_eq!(store.pending_logins("a1", 400).await.unwrap().len(), 2);

    let out = store
        .record_issued(&[approved_cert("c1", "l1", "ld-1")], 7)
        .await
        .unwrap();
    assert_eq!(out, [RecordOutcome::Recorded]);
    let approved = store.login("l1").await.unwrap().unwrap();
    assert_eq!(approved.serial.as_deref(), Some("c1"));
    assert!(approved.approved_at_ms.is_some());
    let replay = store
        .record_issued(&[approved_cert("c2", "l1", "ld-1")], 7)
        .await
        .unwrap();
    assert_eq!(replay, [RecordOutcome::ActivationUnavailable]);
    assert!(store.certificate("c2").await.unwrap().is_none());
    assert_eq!(store.pending_logins("a1", 400).await.unwrap().len(), 1);

    // The device is unlinked between its request and the approval.
    assert!(store
        .unlink_device("a1", "ld-1", 500, "anchor")
        .await
        .unwrap());
    let late = store
        .record_issued(&[approved_cert("c3", "l2", "ld-1")], 7)
        .await
        .unwrap();
    assert_eq!(late, [RecordOutcome::ActivationUnavailable]);
    assert!(store.certificate("c3").await.unwrap().is_none());
    verify_chain(
        &*store,
        "an_approval_is_consumed_once_and_never_for_an_unlinked_device",
    )
    .await;
}

pub(super) async fn expired_link_requests_and_logins_are_purged<S: Store>(store: Arc<S>) {
    linked(&*store).await;
    assert!(store
        .create_link_request(&request("t2", "ld-2", "k-2", 150), 100, 100, "test")
        .await
        .unwrap());
    assert!(store
        .create_login(&login("l1", "ld-1", "a1", 400), 5, "test")
        .await
        .unwrap());
    assert!(store
        .create_login(&login("l2", "ld-1", "a1", 10_000), 5, "test")
        .await
        .unwrap());
    assert_eq!(store.purge_links(1_000, "system").await.unwrap(), 2);
    assert!(store.link_request("t2").await.unwrap().is_none());
    assert!(
        store.link_request("t1").await.unwrap().is_some(),
        "a used request stays"
    );
    assert!(store.login("l1").await.unwrap().is_none());
    assert!(store.login("l2").await.unwrap().is_some());
    assert_eq!(store.purge_links(1_000, "system").await.unwrap(), 0);
    verify_chain(&*store, "expired_link_requests_and_logins_are_purged").await;
}

pub(super) async fn a_delegation_counts_its_approvals_and_ends_when_the_anchor_returns<S: Store>(
    store: Arc<S>,
) {
    linked(&*store).await;
    assert!(store
        .create_link_request(&request("t2", "ld-2", "k-2", 10_000), 100, 100, "test")
        .await
        .unwrap());
    let outcome = store
        .link_device("t2", &device("ld-2", "a1", "k-2"), 200, "test")
        .await
        .unwrap();
    assert_eq!(outcome, LinkOutcome::Linked);
    assert!(
        !store
            .create_delegation(&delegation("d0", "ld-9", 1000, 1), "anchor")
            .await
            .unwrap(),
        "a deputy must be a linked device of the account"
    );
    assert!(store.delegation("d0").await.unwrap().is_none());
    assert!(store
        .create_delegation(&delegation("d1", "ld-2", 1000, 1), "anchor")
        .await
        .unwrap());
    for id in ["l1", "l2", "l4"] {
        assert!(store
            .create_login(&login(id, "ld-1", "a1", 10_000), 4, "device:ld-1")
            .await
            .unwrap());
    }
    assert!(store
        .create_login(&login("l3", "ld-2", "a1", 10_000), 4, "device:ld-2")
        .await
        .unwrap());

    let used = store
        .record_issued(&[deputy_cert("c1", "l1", "ld-1", "d1")], 500)
        .await
        .unwrap();
    assert_eq!(used, [RecordOutcome::Recorded]);
    assert_eq!(
        store
            .login("l1")
            .await
            .unwrap()
            .unwrap()
            .delegation_id
            .as_deref(),
        Some("d1")
    );
    assert_eq!(store.delegation("d1").await.unwrap().unwrap().used, 1);
    let over = store
        .record_issued(&[deputy_cert("c2", "l2", "ld-1", "d1")], 600)
        .await
        .unwrap();
    assert_eq!(
        over,
        [RecordOutcome::ActivationUnavailable],
        "past its count"
    );
    assert!(store.certificate("c2").await.unwrap().is_none());
    assert!(store
        .login("l2")
        .await
        .unwrap()
        .unwrap()
        .approved_at_ms
        .is_none());

    assert!(store
        .create_delegation(&delegation("d2", "ld-2", 1000, 5), "anchor")
        .await
        .unwrap());
    let replaced = store.delegation("d1").await.unwrap().unwrap();
    assert_eq!(replaced.end_reason.as_deref(), Some("replaced"));
    let late = store
        .record_issued(&[deputy_cert("c3", "l2", "ld-1", "d2")], 1000)
        .await
        .unwrap();
    assert_eq!(
        late,
        [RecordOutcome::ActivationUnavailable],
        "past its window"
    );
    let own = store
        .record_issued(&[deputy_cert("c4", "l3", "ld-2", "d2")], 700)
        .await
        .unwrap();
    assert_eq!(
        own,
        [RecordOutcome::ActivationUnavailable],
        "a deputy's own login"
    );
    assert_eq!(store.delegation("d2").await.unwrap().unwrap().used, 0);

    // The anchor approves again: the delegation ends in the same transaction.
    let back = store
        .record_issued(&[approved_cert("c5", "l2", "ld-1")], 700)
        .await
        .unwrap();
    assert_eq!(back, [RecordOutcome::Recorded]);
    let ended = store.delegation("d2").await.unwrap().unwrap();
    assert_eq!(ended.end_reason.as_deref(), Some("anchor-returned"));
    assert_eq!(ended.ended_at_ms, Some(700));
    let after = store
        .record_issued(&[deputy_cert("c6", "l4", "ld-1", "d2")], 800)
        .await
        .unwrap();
    assert_eq!(after, [RecordOutcome::ActivationUnavailable], "ended");

    // Unlinking the deputy ends its delegation.
    assert!(store
        .create_delegation(&delegation("d3", "ld-2", 1000, 5), "anchor")
        .await
        .unwrap());
    assert!(store
        .unlink_device("a1", "ld-2", 900, "anchor")
        .await
        .unwrap());
    let unlinked = store.delegation("d3").await.unwrap().unwrap();
    assert_eq!(unlinked.end_reason.as_deref(), Some("unlinked"));
    assert!(!store
        .end_delegation("a1", "revoked", 950, "anchor")
        .await
        .unwrap());
    let listed: Vec<String> = store
        .delegations("a1")
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, ["d3", "d2", "d1"]);
    verify_chain(
        &*store,
        "a_delegation_counts_its_approvals_and_ends_when_the_anchor_returns",
    )
    .await;
}
