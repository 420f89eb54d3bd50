//! The console's audit log: events in order, verified on request, exported with their hashes.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use inkan_authority::Authority;
use serde::Deserialize;

use super::certificates::EXPORT_ROWS;
use super::export;
use super::pages::{self, render};
use super::{html, query, session_of, Refused};
use crate::PeerCertificates;

#[derive(Deserialize, Default)]
pub(super) struct AuditQuery {
    after: Option<i64>,
    verify: Option<String>,
    format: Option<String>,
    limit: Option<i64>,
}

/// Events per page of the audit view.
const AUDIT_ROWS: i64 = 100;

pub(super) async fn audit(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    asked: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let query = query(asked)?;
    let format = export::Format::parse(query.format.as_deref())?;
    let after = query.after.unwrap_or(0).max(0);
    let limit = match format {
        export::Format::Html => AUDIT_ROWS,
        _ => query.limit.unwrap_or(EXPORT_ROWS.0).clamp(1, EXPORT_ROWS.1),
    };
    let events = authority.audit_events(after, limit).await?;
    if format != export::Format::Html {
        let table = export::Table {
            name: "audit",
            columns: &["seq", "at", "kind", "actor", "subject", "data", "hash"],
            rows: events
                .iter()
                .map(|e| {
                    vec![
                        e.seq.to_string(),
                        pages::ms(Some(e.at_ms)),
                        e.kind.clone(),
                        e.actor.clone(),
                        e.subject.clone(),
                        e.data.clone(),
                        e.hash.clone(),
                    ]
                })
                .collect(),
        };
        let next = (events.len() as i64 == limit)
            .then(|| events.last().map(|e| e.seq))
            .flatten()
            .map(|n| {
                format!(
                    "/console/audit?format={}&limit={limit}&after={n}",
                    query.format.as_deref().unwrap_or_default()
                )
            });
        return Ok(export::download(format, &table, next));
    }
    let report = match query.verify {
        Some(_) => Some(authority.verify_audit().await?),
        None => None,
    };
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let page = pages::Audit {
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice: None,
        events: events.iter().map(pages::EventRow::from).collect(),
        report,
        after,
        next,
    };
    Ok(html(StatusCode::OK, render(&page)))
}
