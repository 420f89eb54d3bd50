//! The console's card segments (docs/cards.md): every segment with the cards and addresses
//! locked after failed logins, and one segment's page — hand out a PIN (shown once, stored
//! nowhere), unlock, revoke a card, and its generations, cards and users. The same `Segments`
//! services as `inkan segment` and `inkan pin`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::{Extension, Form};
use inkan_attest::card_pin::CardData;
use inkan_authority::{Authority, AuthorityError};
use inkan_store::{AttemptRecord, SegmentRecord, LOCKED_UNTIL_UNLOCKED};
use serde::Deserialize;

use super::pages::{self, ms, render, rfc3339};
use super::session::ConsoleSession;
use super::{form_session, html, now, see, session_of, Refused};
use crate::PeerCertificates;

fn refused(e: AuthorityError) -> Refused {
    match e {
        AuthorityError::Invalid(why) => Refused::Failed(StatusCode::BAD_REQUEST, why),
        other => other.into(),
    }
}

fn row(s: &SegmentRecord) -> pages::SegmentRow {
    pages::SegmentRow {
        name: s.name.clone(),
        pin_digits: s.pin_digits,
        use_pmm: s.use_pmm,
        limits: format!(
            "{} failures of a card, {} from an address",
            s.max_card_failures, s.max_address_failures
        ),
        created_at: ms(Some(s.created_at_ms)),
    }
}

fn attempt_row(a: &AttemptRecord, now_ms: i64) -> pages::AttemptRow {
    let (locked, is_locked) = match a.locked_until_ms {
        LOCKED_UNTIL_UNLOCKED => ("until unlocked".to_string(), true),
        until if until > now_ms => (format!("until {}", ms(Some(until))), true),
        _ => ("no".to_string(), false),
    };
    pages::AttemptRow {
        segment: a.segment.clone(),
        subject: a.subject.clone(),
        failures: a.failures,
        locked,
        is_locked,
        last_failure: ms(Some(a.last_failure_ms)),
    }
}

/// Cards and addresses locked now, in every segment (for the list and the overview).
pub(super) async fn locked(authority: &Authority) -> Result<Vec<pages::AttemptRow>, Refused> {
    let now_ms = now() * 1000;
    Ok(authority
        .segments()?
        .failed_attempts(None)
        .await?
        .iter()
        .filter(|a| a.is_locked_at(now_ms))
        .map(|a| attempt_row(a, now_ms))
        .collect())
}

pub(super) async fn segments(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let list = authority.segments()?.list().await?;
    let page = pages::Segments {
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice: None,
        segments: list.iter().map(row).collect(),
        locked: locked(&authority).await?,
    };
    Ok(html(StatusCode::OK, render(&page)))
}

/// One segment's page, with a PIN just handed out or a notice.
async fn segment_page(
    authority: &Authority,
    session: &ConsoleSession,
    name: &str,
    issued: Option<pages::IssuedPinView>,
    notice: Option<String>,
) -> Result<Response, Refused> {
    let key = authority.console_key()?;
    let segments = authority.segments()?;
    let (segment, generations) = segments.show(name).await.map_err(|e| match e {
        AuthorityError::Invalid(why) => Refused::Failed(StatusCode::NOT_FOUND, why),
        other => other.into(),
    })?;
    let now_s = now();
    let page = pages::Segment {
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice,
        segment: row(&segment),
        issued,
        generations: generations
            .iter()
            .map(|g| {
                let state = if g.valid_from <= now_s && now_s < g.valid_until {
                    "accepted"
                } else if now_s < g.valid_from {
                    "not yet"
                } else {
                    "over"
                };
                (
                    g.number,
                    rfc3339(g.valid_from),
                    rfc3339(g.valid_until),
                    state.to_string(),
                )
            })
            .collect(),
        attempts: segments
            .failed_attempts(Some(name))
            .await?
            .iter()
            .map(|a| attempt_row(a, now_s * 1000))
            .collect(),
        revoked: segments
            .revoked_cards(name)
            .await?
            .into_iter()
            .map(|r| (r.idm, r.reason, ms(Some(r.revoked_at_ms))))
            .collect(),
        cards: segments
            .registered_cards(name)
            .await?
            .into_iter()
            .map(|c| (c.idm, c.holder, ms(Some(c.registered_at_ms))))
            .collect(),
        users: segments
            .users(name)
            .await?
            .into_iter()
            .map(|u| (u.name, u.idm, ms(Some(u.created_at_ms))))
            .collect(),
    };
    Ok(html(StatusCode::OK, render(&page)))
}

pub(super) async fn segment(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    segment_page(&authority, &session, &name, None, None).await
}

#[derive(Deserialize)]
pub(super) struct PinForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idm: String,
    #[serde(default)]
    system_code: String,
    #[serde(default)]
    pmm: String,
}

/// The card of a form, or a 400 that says what is wrong.
fn card(system_code: &str, idm: &str, pmm: &str) -> Result<CardData, Refused> {
    let system_code = if system_code.trim().is_empty() {
        "0003"
    } else {
        system_code.trim()
    };
    let pmm = (!pmm.trim().is_empty()).then_some(pmm.trim());
    CardData::parse(system_code, idm, pmm)
        .map_err(|e| Refused::Failed(StatusCode::BAD_REQUEST, e.to_string()))
}

pub(super) async fn issue_pin(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Form(form): Form<PinForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let card = card(&form.system_code, &form.idm, &form.pmm)?;
    let issued = authority
        .segments()?
        .issue_pin(&name, &card, &session.audit_actor())
        .await
        .map_err(refused)?;
    let view = pages::IssuedPinView {
        idm: hex::encode(card.idm),
        pin: issued.pin,
        generation: issued.generation,
        valid_until: rfc3339(issued.valid_until),
    };
    segment_page(&authority, &session, &name, Some(view), None).await
}

#[derive(Deserialize)]
pub(super) struct UnlockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
}

pub(super) async fn unlock(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Form(form): Form<UnlockForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let bad = || {
        Refused::Failed(
            StatusCode::BAD_REQUEST,
            "unlock card:IDM or address:IP".into(),
        )
    };
    let (card, address) = match form.subject.split_once(':') {
        Some(("card", idm)) => (Some(card("0000", idm, "")?), None),
        Some(("address", ip)) => (None, Some(ip.parse::<IpAddr>().map_err(|_| bad())?)),
        _ => return Err(bad()),
    };
    let unlocked = authority
        .segments()?
        .unlock(&name, card.as_ref(), address, &session.audit_actor())
        .await
        .map_err(refused)?;
    if !unlocked {
        return Err(Refused::Failed(
            StatusCode::CONFLICT,
            format!("{} has no failed logins in {name}", form.subject),
        ));
    }
    Ok(see(&format!("/console/segments/{name}")))
}

#[derive(Deserialize)]
pub(super) struct RevokeCardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idm: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn revoke_card(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Form(form): Form<RevokeCardForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let card = card("0000", &form.idm, "")?;
    let revoked = authority
        .segments()?
        .revoke_card(&name, &card, &form.reason, &session.audit_actor())
        .await
        .map_err(refused)?;
    if !revoked {
        return Err(Refused::Failed(
            StatusCode::CONFLICT,
            format!(
                "card {} is revoked in {name} already",
                hex::encode(card.idm)
            ),
        ));
    }
    Ok(see(&format!("/console/segments/{name}")))
}
