//! The console's credentials: EST secrets and admin tokens — listed (never the secrets), made
//! (shown once, on the page that answers the form) and revoked. The same `Credentials`
//! services as `inkan est secret` and `inkan admin token`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::{Extension, Form};
use inkan_authority::{Authority, AuthorityError};
use serde::Deserialize;

use super::export::{self, Format, Table};
use super::pages::{self, ms, render};
use super::{
    form_session, html, query, see, session_of, ConsoleSession, CsrfForm, FormatQuery, Refused,
};
use crate::PeerCertificates;

fn bad(why: String) -> Refused {
    Refused::Failed(StatusCode::BAD_REQUEST, why)
}

/// The page, with a credential just made (shown once) or a notice.
async fn page(
    authority: &Authority,
    session: &ConsoleSession,
    notice: Option<String>,
    made: Option<pages::MadeSecret>,
) -> Result<pages::Credentials, Refused> {
    let key = authority.console_key()?;
    let credentials = authority.credentials();
    let secrets = credentials.est_secrets().await?;
    let tokens = credentials.admin_tokens().await?;
    let mut labels: Vec<String> = authority
        .config()
        .profiles()
        .into_keys()
        .chain(authority.config().est.labels.keys().cloned())
        .filter(|label| authority.config().est_label(label).is_ok())
        .collect();
    labels.sort();
    labels.dedup();
    Ok(pages::Credentials {
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice,
        made,
        labels,
        secrets: secrets
            .iter()
            .map(|s| pages::SecretRow {
                label: s.label.clone(),
                set_at: ms(Some(s.created_at_ms)),
            })
            .collect(),
        tokens: tokens
            .iter()
            .map(|t| pages::TokenRow {
                id: t.id.clone(),
                short: t.id.get(..16).unwrap_or(&t.id).to_string(),
                name: t.name.clone(),
                created_at: ms(Some(t.created_at_ms)),
            })
            .collect(),
    })
}

pub(super) async fn credentials(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    asked: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let asked = query(asked)?;
    let format = Format::parse(asked.format.as_deref())?;
    let page = page(&authority, &session, None, None).await?;
    if format != Format::Html {
        let table = match asked.table.as_deref() {
            Some("est-secrets") => Table {
                name: "est-secrets",
                columns: &["label", "set_at"],
                rows: page
                    .secrets
                    .into_iter()
                    .map(|s| vec![s.label, s.set_at])
                    .collect(),
            },
            Some("admin-tokens") => Table {
                name: "admin-tokens",
                columns: &["id", "name", "created_at"],
                rows: page
                    .tokens
                    .into_iter()
                    .map(|t| vec![t.id, t.name, t.created_at])
                    .collect(),
            },
            _ => return Err(bad("table: est-secrets or admin-tokens".into())),
        };
        return Ok(export::download(format, &table, None));
    }
    Ok(html(StatusCode::OK, render(&page)))
}

#[derive(Deserialize)]
pub(super) struct NewSecretForm {
    #[serde(default)]
    csrf: String,
    label: String,
}

/// Makes (or replaces) a label's EST secret; the answer shows it once.
pub(super) async fn create_est_secret(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<NewSecretForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let label = form.label.trim();
    let secret = authority
        .create_est_secret(label, &session.audit_actor())
        .await
        .map_err(|e| match e {
            AuthorityError::Invalid(why) => bad(why),
            other => Refused::from(other),
        })?;
    let made = pages::MadeSecret {
        what: format!(
            "EST secret for label {label} (HTTP Basic password; it replaces any earlier one)"
        ),
        value: secret,
    };
    let page = page(&authority, &session, None, Some(made)).await?;
    Ok(html(StatusCode::CREATED, render(&page)))
}

pub(super) async fn revoke_est_secret(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(label): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let actor = session.audit_actor();
    if !authority.revoke_est_secret(&label, &actor).await? {
        return Err(Refused::Failed(
            StatusCode::NOT_FOUND,
            format!("label {label:?} has no EST secret"),
        ));
    }
    Ok(see("/console/credentials"))
}

#[derive(Deserialize)]
pub(super) struct NewTokenForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

/// Makes an admin token; the answer shows it once.
pub(super) async fn create_admin_token(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let name = form.name.trim();
    if name.is_empty()
        || name.len() > 48
        || name == inkan_authority::CONSOLE_LINK
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
    {
        return Err(bad(
            "name: 1 to 48 letters, digits, - _ . or @ (console-link is reserved)".into(),
        ));
    }
    let token = authority
        .credentials()
        .create_admin_token(name, &session.audit_actor())
        .await?;
    let made = pages::MadeSecret {
        what: format!("Admin token {name} (Authorization: Bearer …; it logs in here too)"),
        value: token,
    };
    let page = page(&authority, &session, None, Some(made)).await?;
    Ok(html(StatusCode::CREATED, render(&page)))
}

pub(super) async fn revoke_admin_token(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let actor = session.audit_actor();
    match authority
        .credentials()
        .revoke_admin_token(&id, &actor)
        .await
    {
        Ok(Some(_)) => Ok(see("/console/credentials")),
        Ok(None) => Err(Refused::Failed(
            StatusCode::NOT_FOUND,
            format!("no admin token has id {id}"),
        )),
        Err(AuthorityError::Invalid(why)) => Err(bad(why)),
        Err(other) => Err(other.into()),
    }
}
