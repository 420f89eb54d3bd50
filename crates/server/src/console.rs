//! `/console`: the authority in a browser (docs/console.md). Server-rendered pages (askama), no
//! JavaScript needed; every action calls the same authority service as the CLI and `/v1`.
//!
//! Administrators log in with an admin client certificate (no cookie needed) or an admin token
//! exchanged for a signed session cookie (`session`); every form carries the session's CSRF
//! token and is refused from another origin; actions are audited with the administrator's
//! identity as actor (`console:token:NAME`, `console:admin-cert:SERIAL`).

mod accounts;
mod audit;
mod certificates;
mod credentials;
mod export;
mod overview;
mod pages;
mod products;
mod segments;
mod session;
mod tee;

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use inkan_authority::Authority;
use serde::Deserialize;

use crate::admin_auth::{admin_actor, AdminCheck};
use crate::PeerCertificates;
use pages::render;
use session::{ConsoleSession, SESSION_SECS};

const STYLE: &str = include_str!("../templates/console/console.css");
/// htmx 2 (npm `htmx.org`, BSD Zero Clause, `assets/htmx-LICENSE`), served by the authority.
const HTMX: &str = include_str!("../assets/htmx-2.0.11.min.js");

pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/console", get(overview::overview))
        .route("/console/", get(overview::overview))
        .route("/console/login", get(login_page).post(login))
        .route("/console/login/link", get(login_link))
        .route("/console/logout", post(logout))
        .route("/console/certificates", get(certificates::certificates))
        .route(
            "/console/certificates/{serial}",
            get(certificates::certificate),
        )
        .route(
            "/console/certificates/{serial}/revoke",
            post(certificates::revoke),
        )
        .route("/console/audit", get(audit::audit))
        .route(
            "/console/products",
            get(products::products).post(products::create),
        )
        .route("/console/products/{id}", get(products::product))
        .route("/console/accounts", get(accounts::accounts))
        .route("/console/accounts/{id}", get(accounts::account))
        .route(
            "/console/accounts/{id}/devices/{registration}/unlink",
            post(accounts::unlink),
        )
        .route(
            "/console/accounts/{id}/delegation/end",
            post(accounts::end_delegation),
        )
        .route(
            "/console/products/{id}/status",
            post(products::set_product_status),
        )
        .route(
            "/console/devices/{id}/status",
            post(products::set_device_status),
        )
        .route("/console/credentials", get(credentials::credentials))
        .route(
            "/console/credentials/est-secrets",
            post(credentials::create_est_secret),
        )
        .route(
            "/console/credentials/est-secrets/{label}/revoke",
            post(credentials::revoke_est_secret),
        )
        .route(
            "/console/credentials/admin-tokens",
            post(credentials::create_admin_token),
        )
        .route(
            "/console/credentials/admin-tokens/{id}/revoke",
            post(credentials::revoke_admin_token),
        )
        .route("/console/segments", get(segments::segments))
        .route("/console/segments/{name}", get(segments::segment))
        .route("/console/segments/{name}/pin", post(segments::issue_pin))
        .route("/console/segments/{name}/unlock", post(segments::unlock))
        .route(
            "/console/segments/{name}/revoke-card",
            post(segments::revoke_card),
        )
        .route("/console/tee", get(tee::profiles))
        .route("/console/tee/{name}/rotate", post(tee::rotate))
        .route("/console/tee/{name}/revoke", post(tee::revoke))
        .route("/console/static/console.css", get(style))
        .route("/console/static/htmx-2.0.11.min.js", get(htmx))
}

/// Why a console request did not get its page.
enum Refused {
    /// Not logged in: to the login page (a page) or 403 (an action).
    Login,
    /// The form's CSRF token or origin is wrong.
    Forbidden(&'static str),
    /// Anything else, shown as a page with its message.
    Failed(StatusCode, String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Login => (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, "/console/login")],
                "log in first\n",
            )
                .into_response(),
            Refused::Forbidden(why) => html(StatusCode::FORBIDDEN, problem_page(why)),
            Refused::Failed(status, why) => html(status, problem_page(&why)),
        }
    }
}

/// A refusal as a page whose `#problem` element htmx swaps into the page the form was on.
fn problem_page(why: &str) -> String {
    let why = why
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Refused · inkan console</title>\
         <link rel=\"stylesheet\" href=\"/console/static/console.css\"></head>\n<body><main>\
         <div id=\"problem\" role=\"alert\"><p class=\"broken\">{why}</p></div>\
         <p><a href=\"/console\">Back to the console</a></p></main></body></html>\n"
    )
}

impl From<crate::problem::Problem> for Refused {
    fn from(p: crate::problem::Problem) -> Self {
        Refused::Failed(StatusCode::INTERNAL_SERVER_ERROR, format!("{p:?}"))
    }
}

/// A query string, or 400 with what is wrong with it.
fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Refused> {
    query
        .map(|Query(q)| q)
        .map_err(|e| Refused::Failed(StatusCode::BAD_REQUEST, e.body_text()))
}

impl From<inkan_authority::AuthorityError> for Refused {
    fn from(e: inkan_authority::AuthorityError) -> Self {
        tracing::warn!(error = %e, "console request failed");
        Refused::Failed(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

fn page_headers() -> [(header::HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ]
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, page_headers(), body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// 303 to another console page (after a form).
fn see(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The logged-in administrator: an admin client certificate, or a valid session cookie.
async fn session_of(
    authority: &Authority,
    headers: &HeaderMap,
    peer: &PeerCertificates,
) -> Result<ConsoleSession, Refused> {
    let key = authority.console_key()?;
    // Only the connection's certificate counts here, never a bearer header.
    if let AdminCheck::Admin(actor) = admin_actor(authority, &HeaderMap::new(), peer).await? {
        // Stable for the certificate, so its CSRF token is too.
        let expires_at = match peer.0.first().map(|c| inkan_pki::CertificateInfo::parse(c)) {
            Some(Ok(info)) => info.not_after,
            _ => now() + SESSION_SECS,
        };
        return Ok(ConsoleSession {
            actor,
            expires_at,
            token_id: None,
        });
    }
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let session = session::cookie_in(cookies)
        .and_then(|value| ConsoleSession::from_cookie(value, key, now()))
        .ok_or(Refused::Login)?;
    // A revoked token ends the sessions it opened.
    if let Some(id) = &session.token_id {
        if !authority.credentials().admin_token_exists(id).await? {
            return Err(Refused::Login);
        }
    }
    Ok(session)
}

/// A form's checks: the session's CSRF token, and no other site's Origin (compared with the
/// request's own authority: the Host header, or HTTP/2's `:authority`).
fn check_form(
    authority: &Authority,
    headers: &HeaderMap,
    uri: &Uri,
    session: &ConsoleSession,
    csrf: &str,
) -> Result<(), Refused> {
    let key = authority.console_key()?;
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()))
            .unwrap_or_default();
        if origin.as_bytes() != format!("https://{host}").as_bytes() {
            return Err(Refused::Forbidden("a form from another site"));
        }
    }
    if !session.csrf_matches(key, csrf) {
        return Err(Refused::Forbidden(
            "the form's token is not this session's: reload the page",
        ));
    }
    Ok(())
}

/// A serial as the store keeps it (lowercase hex, no leading zeros), from any spelling; None
/// if it is not one.
fn normal_serial(text: &str) -> Option<String> {
    text.trim()
        .parse::<inkan_pki::Serial>()
        .ok()
        .map(|s| s.to_string())
}

/// The administrator behind a form: logged in (else 403, not the login page: an action is
/// never redirected), the session's CSRF token, no other site's origin.
async fn form_session(
    authority: &Authority,
    headers: &HeaderMap,
    peer: &PeerCertificates,
    uri: &Uri,
    csrf: &str,
) -> Result<ConsoleSession, Refused> {
    let session = match session_of(authority, headers, peer).await {
        Err(Refused::Login) => return Err(Refused::Forbidden("log in first")),
        other => other?,
    };
    check_form(authority, headers, uri, &session, csrf)?;
    Ok(session)
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
}

async fn htmx() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // The version is in the path: a new one is a new URL.
            (header::CACHE_CONTROL, "max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        HTMX,
    )
}

async fn login_page() -> Response {
    html(StatusCode::OK, render(&pages::Login::new(None)))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(authority): State<Arc<Authority>>,
    Form(form): Form<LoginForm>,
) -> Result<Response, Refused> {
    let key = authority.console_key()?;
    let Some((token_id, name)) = authority
        .credentials()
        .admin_token_id(form.token.trim())
        .await?
    else {
        return Ok(html(
            StatusCode::UNAUTHORIZED,
            render(&pages::Login::new(Some(
                "That is not a valid administrator token.".into(),
            ))),
        ));
    };
    let session = ConsoleSession {
        actor: format!("token:{name}"),
        expires_at: now() + SESSION_SECS,
        token_id: Some(token_id),
    };
    let cookie = session::set_cookie(&session.cookie_value(key));
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/console".to_string()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response())
}

#[derive(Deserialize)]
struct LinkQuery {
    token: String,
}

/// A one-time login link (`inkan quickstart`, `inkan admin console-link`): its single-use
/// token opens a session once.
async fn login_link(
    State(authority): State<Arc<Authority>>,
    asked: Result<Query<LinkQuery>, QueryRejection>,
) -> Result<Response, Refused> {
    let key = authority.console_key()?;
    let asked = query(asked)?;
    if !authority
        .credentials()
        .take_console_link(asked.token.trim(), "console")
        .await?
    {
        let mut page = html(
            StatusCode::UNAUTHORIZED,
            render(&pages::Login::new(Some(
                "That login link was used already, or is not one: make a new one with `inkan admin console-link`, or log in below.".into(),
            ))),
        );
        page.headers_mut().insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        return Ok(page);
    }
    let session = ConsoleSession {
        actor: format!("token:{}", inkan_authority::CONSOLE_LINK),
        expires_at: now() + SESSION_SECS,
        token_id: None,
    };
    let cookie = session::set_cookie(&session.cookie_value(key));
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/console".to_string()),
            (header::SET_COOKIE, cookie),
            (header::REFERRER_POLICY, "no-referrer".to_string()),
        ],
    )
        .into_response())
}

/// The `format` of a table page (html, csv, json) and, for credentials, which table.
#[derive(Deserialize, Default)]
struct FormatQuery {
    format: Option<String>,
    table: Option<String>,
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    check_form(&authority, &headers, &uri, &session, &form.csrf)?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/console/login".to_string()),
            (header::SET_COOKIE, session::clear_cookie()),
        ],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::normal_serial;

    #[test]
    fn a_serial_is_found_however_openssl_spells_it() {
        assert_eq!(normal_serial("0D770ECA").as_deref(), Some("d770eca"));
        assert_eq!(normal_serial("0d:77:0e:ca").as_deref(), Some("d770eca"));
        assert_eq!(normal_serial("not hex"), None);
    }
}
