//! The console's accounts (docs/linking.md): each account's anchors, linked devices and
//! delegations; unlink a device (its certificates revoked), end a delegation. The same services
//! as `inkan account`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use inkan_authority::Authority;

use super::export::{self, Format, Table};
use super::pages::{self, render};
use super::{form_session, html, query, session_of, CsrfForm, FormatQuery, Refused};
use crate::PeerCertificates;

pub(super) async fn accounts(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    asked: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let format = Format::parse(query(asked)?.format.as_deref())?;
    let listed = authority.account_registry().accounts().await?;
    if format != Format::Html {
        let table = Table {
            name: "accounts",
            columns: &["id", "name", "max_devices", "created_at"],
            rows: listed
                .iter()
                .map(pages::AccountRow::from)
                .map(|a| vec![a.id, a.name, a.max_devices.to_string(), a.created_at])
                .collect(),
        };
        return Ok(export::download(format, &table, None));
    }
    let page = pages::Accounts {
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice: None,
        accounts: listed.iter().map(pages::AccountRow::from).collect(),
    };
    Ok(html(StatusCode::OK, render(&page)))
}

pub(super) async fn account(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let details = authority
        .account_registry()
        .show(&id)
        .await
        .map_err(|_| Refused::Failed(StatusCode::NOT_FOUND, format!("no account {id}")))?;
    let page = pages::AccountPage::new(&details, Some(session.actor.clone()), session.csrf(key));
    Ok(html(StatusCode::OK, render(&page)))
}

pub(super) async fn unlink(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path((id, registration)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    authority
        .unlink_as_admin(&id, &registration, &session.audit_actor())
        .await
        .map_err(|e| Refused::Failed(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(back_to(&id))
}

pub(super) async fn end_delegation(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let ended = authority
        .account_registry()
        .end_delegation(&id, &session.audit_actor())
        .await?;
    if !ended {
        return Err(Refused::Failed(
            StatusCode::NOT_FOUND,
            format!("account {id} has no open delegation"),
        ));
    }
    Ok(back_to(&id))
}

fn back_to(id: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/console/accounts/{id}"))],
    )
        .into_response()
}
