//! Cases of [`crate::AuditStore`].

use std::sync::Arc;

use crate::{NewAuditEvent, Store};

pub(super) async fn appended_events_page_in_order<S: Store>(store: Arc<S>) {
    for i in 0..5 {
        let event = NewAuditEvent::new(
            i,
            "test.event",
            "t",
            format!("s{i}"),
            serde_json::json!({"i": i}),
        );
        let sealed = store.append_audit(&event).await.unwrap();
        assert_eq!(sealed.seq, i + 2, "after the issuer's event");
        assert_eq!(sealed.data, r#"{"i":"#.to_string() + &i.to_string() + "}");
    }
    let page = store.audit_events(2, 2).await.unwrap();
    let seqs: Vec<i64> = page.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [3, 4]);
    assert!(store.audit_events(6, 10).await.unwrap().is_empty());
}

pub(super) async fn parallel_appends_keep_one_chain<S: Store>(store: Arc<S>) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let event = NewAuditEvent::new(i, "test.event", "t", "s", serde_json::json!({}));
                store.append_audit(&event).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.audit_events(0, 100).await.unwrap().len(), 17);
}
