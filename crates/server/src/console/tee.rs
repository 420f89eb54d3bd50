//! The console's TEE profiles (docs/tee.md): every version of every TA profile with its
//! window, rotate (a fresh SK_CSR; older versions accepted for a grace period) and revoke. The
//! same `TeeRegistry` services as `inkan tee profile`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::{Extension, Form};
use inkan_authority::{Authority, AuthorityError};
use serde::Deserialize;

use super::export::{self, Format, Table};
use super::pages::{self, ms, render};
use super::{form_session, html, query, see, session_of, CsrfForm, FormatQuery, Refused};
use crate::PeerCertificates;

/// Longest grace period the form accepts.
const MAX_GRACE_DAYS: u64 = 365;

fn refused(e: AuthorityError) -> Refused {
    match e {
        AuthorityError::Invalid(why) => Refused::Failed(StatusCode::BAD_REQUEST, why),
        AuthorityError::Tee(why) => Refused::Failed(StatusCode::CONFLICT, why.to_string()),
        other => other.into(),
    }
}

pub(super) async fn profiles(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    asked: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let format = Format::parse(query(asked)?.format.as_deref())?;
    let now = super::now() * 1000;
    let rows: Vec<pages::TaProfileRow> = authority
        .tee()?
        .profiles()
        .await?
        .iter()
        .map(|p| pages::TaProfileRow {
            name: p.name.clone(),
            version: p.version,
            identity_fields: p.identity_fields.join(", "),
            key_algorithm: p.key_algorithm.clone(),
            certificate_profile: p.certificate_profile.clone(),
            created_at: ms(Some(p.created_at_ms)),
            state: match (p.revoked_at_ms, p.accepted_until_ms) {
                (Some(at), _) => format!("revoked {}", ms(Some(at))),
                (None, Some(until)) if until <= now => format!("retired {}", ms(Some(until))),
                (None, Some(until)) => format!("accepted until {}", ms(Some(until))),
                (None, None) => "current".to_string(),
            },
            current: p.revoked_at_ms.is_none() && p.accepted_until_ms.is_none(),
        })
        .collect();
    if format != Format::Html {
        let table = Table {
            name: "tee-profiles",
            columns: &[
                "name",
                "version",
                "identity_fields",
                "key_algorithm",
                "certificate_profile",
                "created_at",
                "state",
            ],
            rows: rows
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        r.version.to_string(),
                        r.identity_fields.clone(),
                        r.key_algorithm.clone(),
                        r.certificate_profile.clone(),
                        r.created_at.clone(),
                        r.state.clone(),
                    ]
                })
                .collect(),
        };
        return Ok(export::download(format, &table, None));
    }
    let page = pages::TeeProfiles {
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice: None,
        profiles: rows,
    };
    Ok(html(StatusCode::OK, render(&page)))
}

#[derive(Deserialize)]
pub(super) struct RotateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    grace_days: String,
}

pub(super) async fn rotate(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Form(form): Form<RotateForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let days: u64 = match form.grace_days.trim() {
        "" => 7,
        n => n
            .parse()
            .ok()
            .filter(|d| *d <= MAX_GRACE_DAYS)
            .ok_or_else(|| {
                Refused::Failed(
                    StatusCode::BAD_REQUEST,
                    format!("grace: 0 to {MAX_GRACE_DAYS} days"),
                )
            })?,
    };
    let actor = session.audit_actor();
    authority
        .tee()?
        .rotate_profile(&name, Duration::from_secs(days * 86_400), &actor)
        .await
        .map_err(refused)?;
    Ok(see("/console/tee"))
}

pub(super) async fn revoke(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let actor = session.audit_actor();
    authority
        .tee()?
        .revoke_profile(&name, &actor)
        .await
        .map_err(refused)?;
    Ok(see("/console/tee"))
}
