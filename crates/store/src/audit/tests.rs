use super::*;

fn chain(n: i64) -> Vec<AuditEvent> {
    let mut prev = GENESIS_HASH.to_string();
    (1..=n)
        .map(|seq| {
            let e = AuditEvent::seal(
                &NewAuditEvent {
                    at_ms: 1000 + seq,
                    kind: "certificate.issued".into(),
                    actor: "test".into(),
                    subject: format!("serial-{seq}"),
                    data: serde_json::json!({"n": seq}),
                },
                seq,
                &prev,
            );
            prev.clone_from(&e.hash);
            e
        })
        .collect()
}

fn verify(events: &[AuditEvent]) -> Result<i64, AuditBreak> {
    let mut v = ChainVerifier::default();
    for e in events {
        v.push(e)?;
    }
    Ok(v.verified())
}

#[test]
fn an_untouched_chain_verifies() {
    assert_eq!(verify(&chain(5)), Ok(5));
}

#[test]
fn an_edited_field_is_detected() {
    let mut events = chain(5);
    events[2].subject = "serial-999".into();
    let err = verify(&events).unwrap_err();
    assert_eq!(err.seq, 3);
    assert!(err.reason.contains("changed"));
}

#[test]
fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
    let mut events = chain(5);
    events[2].data = "{\"n\":42}".into();
    events[2].hash = events[2].recomputed_hash();
    let err = verify(&events).unwrap_err();
    assert_eq!(err.seq, 4);
    assert!(err.reason.contains("prev_hash"));
}

#[test]
fn a_deleted_event_is_detected() {
    let mut events = chain(5);
    events.remove(1);
    let err = verify(&events).unwrap_err();
    assert_eq!(err.seq, 2);
    assert!(err.reason.contains("missing"));
}
