//! Segments: created once with their first generation, rotated only from the newest, audited.

use std::sync::Arc;

use crate::{RevokedCard, SaltGenerationRecord, SegmentRecord, Store, StoreError};

fn segment(name: &str) -> SegmentRecord {
    SegmentRecord {
        name: name.into(),
        pin_digits: 6,
        use_pmm: true,
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
