//! The `/v1` REST API (JSON; errors are problem+json): revocation and the revocation feed.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures_util::Stream;
use inkan_authority::Authority;
use inkan_pki::{RevocationReason, Serial};
use inkan_store::{RevocationRecord, RevokeOutcome};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::admin_auth::{admin_actor, AdminCheck};
use crate::client_cert::VerifyPeer;
use crate::problem::{Problem, ProblemDetails};
use crate::query::{self, FeedPosition, PageLimit, MAX_PAGE};
use crate::PeerCertificates;

pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/v1/certificates/{serial}/revoke", post(revoke))
        .route("/v1/revocations", get(revocations))
        .route("/v1/revocations/stream", get(revocation_stream))
}

/// Body of a revocation (optional; an empty body means reason `unspecified`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeBody {
    /// RFC 5280 reason name: unspecified, keyCompromise, cACompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise.
    #[serde(default)]
    reason: Option<String>,
    /// Also revoke every certificate enrolled with this one as client certificate (admin only).
    #[serde(default)]
    cascade: bool,
}

/// Revokes a certificate: an admin (bearer token) may revoke any, with `cascade`; a holder may
/// revoke its own certificate over mTLS. The caller is authenticated before the serial or the
/// body is looked at.
#[utoipa::path(post, path = "/v1/certificates/{serial}/revoke", tag = "revocation",
    params(("serial" = String, Path, description = "Certificate serial, hex", pattern = "^[0-9A-Fa-f]{1,40}$")),
    request_body(content = Option<RevokeBody>, content_type = "application/json",
        description = "Optional: an empty body or `null` means reason `unspecified`, no cascade"),
    security(("admin" = []), ("admin_cert" = []), ("mtls" = [])),
    responses(
        (status = 200, description = "Revoked (or already revoked: `already_revoked`)", body = serde_json::Value),
        (status = 400, description = "Malformed serial, reason or body", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No admin token or client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "A client certificate may revoke only itself, and never cascade", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the server's limit", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn revoke(
    State(authority): State<Arc<Authority>>,
    serial: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let caller = match admin_actor(&authority, &headers, &peer).await? {
        AdminCheck::Admin(actor) => Revoker::Admin(actor),
        AdminCheck::BadToken => {
            return Err(Problem::unauthorized(
                "the bearer token is not a valid admin token",
            ))
        }
        AdminCheck::NoToken => match peer.verify(&authority).await {
            Ok(client) => Revoker::Holder(client.info.serial.clone()),
            Err(_) => {
                return Err(Problem::unauthorized(
                    "authenticate with an admin token (Authorization: Bearer ...) or, to revoke your own certificate, with that certificate over mTLS",
                ))
            }
        },
    };
    let serial: Serial = query::path(serial)?
        .parse()
        .map_err(|e: inkan_pki::PkiError| Problem::bad_request(e.to_string()))?;
    let serial = serial.to_string();
    let request = revoke_body(&headers, &body)?;
    let reason: RevocationReason = match &request.reason {
        Some(r) => r
            .parse()
            .map_err(|e: inkan_pki::PkiError| Problem::bad_request(e.to_string()))?,
        None => RevocationReason::Unspecified,
    };
    let actor = match caller {
        Revoker::Admin(actor) => actor,
        Revoker::Holder(own) if own == serial => {
            if request.cascade {
                return Err(Problem::forbidden(
                    "only an administrator may cascade a revocation",
                ));
            }
            format!("self:{serial}")
        }
        Revoker::Holder(_) => {
            return Err(Problem::forbidden(
                "a client certificate may revoke only itself",
            ))
        }
    };

    let result = authority
        .revoke(&serial, reason, &actor, request.cascade)
        .await?;
    let (record, already) = match result.outcome {
        RevokeOutcome::Revoked(r) => (r, false),
        RevokeOutcome::AlreadyRevoked(r) => (r, true),
        RevokeOutcome::NotFound => {
            return Err(Problem::not_found(format!(
                "no certificate with serial {serial}"
            )))
        }
    };
    Ok(Json(json!({
        "serial": record.serial,
        "status": "revoked",
        "revoked_at": record.revoked_at,
        "reason": record.reason,
        "already_revoked": already,
        "feed_seq": record.seq,
        "cascaded": result.cascaded.iter().map(|c| c.serial.clone()).collect::<Vec<_>>(),
    })))
}

/// Who asks for a revocation.
enum Revoker {
    /// An administrator; the audit actor.
    Admin(String),
    /// The holder of a valid certificate with this serial, over mTLS.
    Holder(String),
}

/// The optional body of a revocation: empty or `null` for the defaults, else strict JSON.
fn revoke_body(headers: &HeaderMap, body: &[u8]) -> Result<RevokeBody, Problem> {
    let defaults = RevokeBody {
        reason: None,
        cascade: false,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(defaults);
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(Problem::unsupported_media_type(
            "send JSON with Content-Type: application/json",
        ));
    }
    let request: Option<RevokeBody> = serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("invalid JSON body: {e}")))?;
    Ok(request.unwrap_or(defaults))
}

/// Position in the revocation feed.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeedQuery {
    /// Only revocations with a feed sequence after this (default 0: from the start).
    #[param(value_type = Option<i64>, minimum = 0)]
    since: Option<FeedPosition>,
    /// At most this many (1 to 1000, default 1000).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<PageLimit>,
}

/// Revocations after `since`, oldest first; `next` is the `since` for the following call.
#[utoipa::path(get, path = "/v1/revocations", tag = "revocation", params(FeedQuery),
    responses((status = 200, description = "`{revocations: [...], next}`", body = serde_json::Value),
        (status = 400, description = "Malformed query, or `since`/`limit` out of bounds", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn revocations(
    State(authority): State<Arc<Authority>>,
    feed_query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<impl IntoResponse, Problem> {
    let feed_query = query::query(feed_query)?;
    let since = feed_query.since.map_or(0, FeedPosition::get);
    let limit = feed_query.limit.map_or(MAX_PAGE, PageLimit::get);
    let records = authority.revocations_since(since, limit).await?;
    let next = records.last().map_or(since, |r| r.seq);
    Ok(Json(json!({ "revocations": records, "next": next })))
}

/// Server-sent events: every revocation after `since` (or `Last-Event-ID`), then new ones as
/// they happen. Each event's id is its feed sequence, so a reconnecting client resumes exactly.
#[utoipa::path(get, path = "/v1/revocations/stream", tag = "revocation", params(FeedQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this feed sequence (overrides `since`; ignored when not a number)")),
    responses((status = 200, description = "Server-sent events, one per revocation (`limit` is accepted and bounded, but a stream has no pages)", content_type = "text/event-stream"),
        (status = 400, description = "Malformed query, or `since`/`limit` out of bounds", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn revocation_stream(
    State(authority): State<Arc<Authority>>,
    headers: HeaderMap,
    feed_query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let feed_query = query::query(feed_query)?;
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(feed_query.since.map_or(0, FeedPosition::get))
        .max(0);
    // Subscribe before catching up, so nothing falls between the two.
    let live = authority.feed().subscribe();
    let state = FeedState {
        authority,
        last: since,
        pending: VecDeque::new(),
        caught_up: false,
        live,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        let record = s.next().await?;
        let event = Event::default()
            .id(record.seq.to_string())
            .event("revocation")
            .json_data(&record)
            .unwrap_or_else(|_| Event::default().comment("encoding failed"));
        Some((Ok(event), s))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct FeedState {
    authority: Arc<Authority>,
    last: i64,
    pending: VecDeque<RevocationRecord>,
    caught_up: bool,
    live: broadcast::Receiver<RevocationRecord>,
}

impl FeedState {
    /// The next revocation after `last`: from the store until caught up, then live.
    async fn next(&mut self) -> Option<RevocationRecord> {
        loop {
            if let Some(record) = self.pending.pop_front() {
                if record.seq > self.last {
                    self.last = record.seq;
                    return Some(record);
                }
                continue;
            }
            if !self.caught_up {
                let page = self
                    .authority
                    .revocations_since(self.last, MAX_PAGE)
                    .await
                    .ok()?;
                self.caught_up = (page.len() as i64) < MAX_PAGE;
                self.pending.extend(page);
                continue;
            }
            match self.live.recv().await {
                Ok(record) => self.pending.push_back(record),
                // Fell behind the live channel: catch up from the store again.
                Err(broadcast::error::RecvError::Lagged(_)) => self.caught_up = false,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
