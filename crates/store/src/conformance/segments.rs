//! Segments: created once with their first generation, rotated only from the newest, audited.

use std::sync::Arc;

use crate::{
    address_subject, card_subject, AttemptLimits, CardLogin, LoginFailure, RegisteredCard,
    SegmentUser, LOCKED_UNTIL_UNLOCKED,
};
use crate::{RevokedCard, SaltGenerationRecord, SegmentRecord, Store, StoreError};

fn segment(name: &str) -> SegmentRecord {
    SegmentRecord {
        name: name.into(),
        pin_digits: 6,
        use_pmm: true,
        max_card_failures: 3,
        max_address_failures: 4,
        created_at_ms: 1,
    }
}

fn generation(segment: &str, number: i64, from: i64, until: i64) -> SaltGenerationRecord {
    SaltGenerationRecord {
        segment: segment.into(),
        number,
        salt_sealed: vec![number as u8; 48],
        valid_from: from,
        valid_until: until,
        created_at_ms: 2,
    }
}

pub(super) async fn segments_are_created_once_and_rotated_from_the_newest<S: Store>(store: Arc<S>) {
    let head = store.audit_events(0, 1000).await.unwrap().len();
    store
        .create_segment(
            &segment("physics"),
            &generation("physics", 1, 0, 100),
            "cli:root",
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_segment(
                &segment("physics"),
                &generation("physics", 1, 0, 100),
                "cli:root"
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.segment("physics").await.unwrap(),
        Some(segment("physics"))
    );
    assert!(store.segment("chemistry").await.unwrap().is_none());

    let lost = |segment: &str| RevokedCard {
        segment: segment.into(),
        idm: "0123456789abcdef".into(),
        reason: "lost".into(),
        revoked_at_ms: 5,
    };
    assert!(store
        .revoke_card(&lost("physics"), "cli:root")
        .await
        .unwrap());
    assert!(
        !store
            .revoke_card(&lost("physics"), "cli:root")
            .await
            .unwrap(),
        "once"
    );
    assert!(matches!(
        store.revoke_card(&lost("chemistry"), "cli:root").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.revoked_cards("physics").await.unwrap(),
        [lost("physics")]
    );
    store
        .rotate_segment(1, 60, &generation("physics", 2, 50, 500), "cli:root")
        .await
        .unwrap();
    assert!(
        store.revoked_cards("physics").await.unwrap().is_empty(),
        "a rotation clears the list"
    );
    let generations = store.salt_generations("physics").await.unwrap();
    assert_eq!(generations.len(), 2);
    assert_eq!((generations[0].number, generations[0].valid_until), (1, 60));
    assert_eq!(generations[1], generation("physics", 2, 50, 500));
    // From a generation that is no longer the newest: refused, nothing changes.
    assert!(matches!(
        store
            .rotate_segment(1, 70, &generation("physics", 2, 60, 600), "cli:root")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .rotate_segment(1, 70, &generation("chemistry", 2, 60, 600), "cli:root")
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.salt_generations("physics").await.unwrap(),
        generations
    );

    store
        .record_pin_issued("physics", "0123456789abcdef", 2, "cli:root", 3)
        .await
        .unwrap();
    let events = store.audit_events(0, 1000).await.unwrap();
    let kinds: Vec<&str> = events[head..].iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "segment.created",
            "segment.card.revoked",
            "segment.rotated",
            "pin.issued"
        ]
    );
    assert_eq!(store.segments().await.unwrap().len(), 1);
}

/// Failures lock a card at its limit (until unlocked) and an address for a while, a login
/// clears the counters of an unlocked card, and nothing resets by itself.
pub(super) async fn card_logins_count_failures_and_lock<S: Store>(store: Arc<S>) {
    store
        .create_segment(
            &segment("biology"),
            &generation("biology", 1, 0, 100),
            "cli:root",
        )
        .await
        .unwrap();
    let limits = AttemptLimits {
        card: 3,
        address: 4,
        address_lock_ms: 1_000,
    };
    let failure = |idm: &str, at_ms: i64| LoginFailure {
        segment: "biology".into(),
        idm: idm.into(),
        pmm: Some("0011223344556677".into()),
        address: "192.0.2.7".into(),
        reason: "wrong-pin".into(),
        at_ms,
    };
    let card = card_subject("0123456789abcdef");
    let address = address_subject("192.0.2.7");
    let first = store
        .record_login_failure(&failure("0123456789abcdef", 10), limits)
        .await
        .unwrap();
    assert_eq!((first.card_failures, first.card_locked), (1, false));
    // A login clears the counters of its card and address.
    let login = CardLogin {
        segment: "biology".into(),
        idm: "0123456789abcdef".into(),
        address: "192.0.2.7".into(),
        level: 2,
        user: None,
        at_ms: 11,
    };
    store.record_card_login(&login).await.unwrap();
    assert!(store
        .attempts("biology", &[card.clone(), address.clone()])
        .await
        .unwrap()
        .is_empty());
    let mut last = first;
    for at in 20..23 {
        last = store
            .record_login_failure(&failure("0123456789abcdef", at), limits)
            .await
            .unwrap();
    }
    assert_eq!((last.card_failures, last.card_locked), (3, true));
    let records = store
        .attempts("biology", std::slice::from_ref(&card))
        .await
        .unwrap();
    assert_eq!(records[0].locked_until_ms, LOCKED_UNTIL_UNLOCKED);
    assert!(records[0].is_locked_at(i64::MAX - 1), "until unlocked");
    // Another card from the same address: the address reaches its limit.
    let other = store
        .record_login_failure(&failure("fedcba9876543210", 30), limits)
        .await
        .unwrap();
    assert_eq!((other.address_failures, other.address_locked), (4, true));
    assert!(!other.card_locked);
    let addr = store
        .attempts("biology", std::slice::from_ref(&address))
        .await
        .unwrap();
    assert_eq!(addr[0].locked_until_ms, 1_030);
    // A login does not lift a card lock; only an unlock does.
    store
        .record_card_login(&CardLogin {
            at_ms: 40,
            ..login.clone()
        })
        .await
        .unwrap();
    assert!(store
        .attempts("biology", std::slice::from_ref(&card))
        .await
        .unwrap()[0]
        .is_locked_at(41));
    assert!(store
        .unlock("biology", &card, "cli:root", 50)
        .await
        .unwrap());
    assert!(!store
        .unlock("biology", &card, "cli:root", 51)
        .await
        .unwrap());
    assert!(store.attempts("biology", &[card]).await.unwrap().is_empty());
    // Left: the locked address, and the other card's one failure.
    assert_eq!(
        store.failed_attempts(Some("biology")).await.unwrap().len(),
        2
    );
    assert!(store
        .failed_attempts(Some("none"))
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store
            .record_login_failure(
                &LoginFailure {
                    segment: "none".into(),
                    ..failure("0123456789abcdef", 60)
                },
                limits
            )
            .await,
        Err(StoreError::NotFound(_))
    ));

    // Level 1: registered cards.
    let registered = RegisteredCard {
        segment: "biology".into(),
        idm: "0123456789abcdef".into(),
        holder: "guest-17".into(),
        registered_at_ms: 70,
    };
    assert!(store.register_card(&registered, "cli:root").await.unwrap());
    assert!(!store.register_card(&registered, "cli:root").await.unwrap());
    assert_eq!(
        store
            .registered_card("biology", "0123456789abcdef")
            .await
            .unwrap(),
        Some(registered.clone())
    );
    assert_eq!(store.registered_cards("biology").await.unwrap().len(), 1);
    assert!(store
        .unregister_card("biology", "0123456789abcdef", "cli:root", 71)
        .await
        .unwrap());
    assert!(store
        .registered_card("biology", "0123456789abcdef")
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store
            .register_card(
                &RegisteredCard {
                    segment: "none".into(),
                    ..registered
                },
                "cli:root"
            )
            .await,
        Err(StoreError::NotFound(_))
    ));

    // Level 3: users.
    let user = SegmentUser {
        segment: "biology".into(),
        name: "tanaka".into(),
        idm: "0123456789abcdef".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at_ms: 80,
    };
    store.add_segment_user(&user, "cli:root").await.unwrap();
    assert!(matches!(
        store.add_segment_user(&user, "cli:root").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.segment_user("biology", "tanaka").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.segment_users("biology").await.unwrap(), [user]);
    assert!(store
        .remove_segment_user("biology", "tanaka", "cli:root", 81)
        .await
        .unwrap());
    assert!(!store
        .remove_segment_user("biology", "tanaka", "cli:root", 82)
        .await
        .unwrap());
    let events = store.audit_events(0, 10_000).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "card.login.failed",
        "card.locked",
        "card.address.locked",
        "card.login",
        "card.unlocked",
        "segment.card.registered",
        "segment.card.unregistered",
        "segment.user.added",
        "segment.user.removed",
    ] {
        assert!(kinds.contains(&kind), "{kind} audited");
    }
    let locked = events.iter().find(|e| e.kind == "card.locked").unwrap();
    assert!(
        locked.data.contains("0011223344556677"),
        "the card data is recorded"
    );
    assert!(
        !events.iter().any(|e| e.data.contains("argon2id")),
        "no password hash in the audit log"
    );
}
