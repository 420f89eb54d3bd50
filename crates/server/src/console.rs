//! `/console`: the authority in a browser (docs/console.md). Server-rendered pages (askama), no
//! JavaScript needed; every action calls the same authority service as the CLI and `/v1`.
//!
//! Administrators log in with an admin client certificate (no cookie needed) or an admin token
//! exchanged for a signed session cookie (`session`); every form carries the session's CSRF
//! token and is refused from another origin; actions are audited with the administrator's
//! identity as actor (`console:token:NAME`, `console:admin-cert:SERIAL`).

mod accounts;
mod credentials;
mod export;
mod pages;
mod products;
mod session;
mod tee;

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use inkan_authority::Authority;
use inkan_pki::RevocationReason;
use serde::Deserialize;

use crate::admin_auth::{admin_actor, AdminCheck};
use crate::PeerCertificates;
use pages::{render, CertRow};
use session::{ConsoleSession, SESSION_SECS};

const STYLE: &str = include_str!("../templates/console/console.css");
/// htmx 2 (npm `htmx.org`, BSD Zero Clause, `assets/htmx-LICENSE`), served by the authority.
const HTMX: &str = include_str!("../assets/htmx-2.0.11.min.js");

pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/console", get(overview))
        .route("/console/", get(overview))
        .route("/console/login", get(login_page).post(login))
        .route("/console/login/link", get(login_link))
        .route("/console/logout", post(logout))
        .route("/console/certificates", get(certificates))
        .route("/console/certificates/{serial}", get(certificate))
        .route("/console/certificates/{serial}/revoke", post(revoke))
        .route("/console/audit", get(audit))
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

async fn overview(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let latest = authority
        .certificates(&inkan_store::CertificateQuery {
            limit: Some(10),
            ..Default::default()
        })
        .await?;
    let stats = authority.certificate_stats().await?;
    let page = pages::Overview {
        alerts: alerts(&authority),
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice: None,
        stats,
        issuer_id: authority.issuer_id().to_string(),
        rows: latest.iter().map(CertRow::from).collect(),
    };
    Ok(html(StatusCode::OK, render(&page)))
}

/// What needs an operator's attention now: the issuing CA near its end, a CRL past its
/// nextUpdate (relying parties that fetch it fail closed or stop checking).
fn alerts(authority: &Authority) -> Vec<String> {
    let now = now();
    let mut alerts = Vec::new();
    if let Ok(ca) = inkan_pki::CertificateInfo::parse(authority.ca().cert_der()) {
        let days = (ca.not_after - now) / 86_400;
        if days < 90 {
            alerts.push(format!(
                "The issuing CA expires in {days} days: make its successor (docs/deployment.md)."
            ));
        }
    }
    match authority.crl().current() {
        Some(crl) if crl.next_update < now => alerts.push(format!(
            "The CRL (number {}) passed its nextUpdate {} minutes ago: check the authority's log.",
            crl.number,
            (now - crl.next_update) / 60
        )),
        _ => {}
    }
    alerts
}

#[derive(Deserialize, Default)]
struct CertificateFilter {
    #[serde(default)]
    serial: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    status: String,
    before: Option<i64>,
    format: Option<String>,
    limit: Option<i64>,
}

/// Rows per page of the certificate list.
const PAGE_ROWS: i64 = 50;
/// Rows per exported page (CSV, JSON) by default, and at most.
const EXPORT_ROWS: (i64, i64) = (1_000, 10_000);

/// A filter value: trimmed, at most 255 bytes, or 400.
fn filter_text(what: &str, value: &str) -> Result<String, Refused> {
    let value = value.trim();
    if value.len() > 255 {
        return Err(Refused::Failed(
            StatusCode::BAD_REQUEST,
            format!("{what}: at most 255 characters"),
        ));
    }
    Ok(value.to_string())
}

/// A query string of the non-empty pairs, escaped.
fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencoding(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn urlencoding(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn certificates(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    filter: Result<Query<CertificateFilter>, QueryRejection>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let filter = query(filter)?;
    let format = export::Format::parse(filter.format.as_deref())?;
    let serial = filter_text("serial", &filter.serial)?;
    if !serial.is_empty() && format == export::Format::Html {
        // A serial is a lookup: straight to the certificate, or an empty list. Any spelling
        // openssl prints (colons, upper case, leading zeros) finds it.
        if let Some(serial) = normal_serial(&serial) {
            if authority.certificate(&serial).await?.is_some() {
                let location = format!("/console/certificates/{serial}");
                if headers.contains_key("hx-request") {
                    // htmx would follow a 303 and swap a part; the detail is a page of its own.
                    let mut found = StatusCode::OK.into_response();
                    if let Ok(v) = HeaderValue::from_str(&location) {
                        found.headers_mut().insert("hx-redirect", v);
                    }
                    return Ok(found);
                }
                return Ok(see(&location));
            }
        }
    }
    let status = match filter.status.as_str() {
        "" => None,
        "valid" => Some(inkan_store::CertificateStatus::Valid),
        "revoked" => Some(inkan_store::CertificateStatus::Revoked),
        _ => {
            return Err(Refused::Failed(
                StatusCode::BAD_REQUEST,
                "status: valid, revoked or empty".into(),
            ))
        }
    };
    let name = filter_text("name", &filter.name)?;
    let profile = filter_text("profile", &filter.profile)?;
    let method = filter_text("method", &filter.method)?;
    let level = match filter.level.trim() {
        "" => None,
        l => Some(
            l.parse::<i64>()
                .ok()
                .filter(|l| (1..=4).contains(l))
                .ok_or_else(|| {
                    Refused::Failed(StatusCode::BAD_REQUEST, "level: 1 to 4, or empty".into())
                })?,
        ),
    };
    let limit = match format {
        export::Format::Html => PAGE_ROWS,
        _ => filter
            .limit
            .unwrap_or(EXPORT_ROWS.0)
            .clamp(1, EXPORT_ROWS.1),
    };
    let rows = if !serial.is_empty() {
        // An export of one serial: that certificate, if it exists.
        match normal_serial(&serial) {
            Some(s) => authority.certificate(&s).await?.into_iter().collect(),
            None => Vec::new(),
        }
    } else {
        let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
        authority
            .certificates(&inkan_store::CertificateQuery {
                name: some(&name),
                profile: some(&profile),
                method: some(&method),
                level,
                status,
                limit: Some(limit),
                before_audit_seq: filter.before,
            })
            .await?
    };
    let next = (rows.len() as i64 == limit && serial.is_empty())
        .then(|| rows.last().map(|r| r.audit_seq))
        .flatten();
    let filters = query_string(&[
        ("name", &name),
        ("profile", &profile),
        ("method", &method),
        ("level", filter.level.trim()),
        ("status", &filter.status),
    ]);
    let rows: Vec<CertRow> = rows.iter().map(CertRow::from).collect();
    if format != export::Format::Html {
        let table = export::Table {
            name: "certificates",
            columns: &[
                "serial",
                "subject",
                "sans",
                "profile",
                "method",
                "level",
                "status",
                "revocation_reason",
                "not_before",
                "not_after",
                "spki_sha256",
                "bootstrap_serial",
            ],
            rows: rows.iter().map(CertRow::cells).collect(),
        };
        let fmt = filter.format.as_deref().unwrap_or_default();
        let next = next.map(|n| {
            format!("/console/certificates?{filters}&format={fmt}&limit={limit}&before={n}")
        });
        return Ok(export::download(format, &table, next));
    }
    let page = pages::Certificates {
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice: (!serial.is_empty()).then(|| format!("No certificate has serial {serial}.")),
        serial,
        name,
        profile,
        status: filter.status.clone(),
        levels: (1..=4).map(|l| (l, level == Some(l))).collect(),
        methods: pages::METHODS.iter().map(|m| (*m, *m == method)).collect(),
        method,
        rows,
        next,
        filters,
    };
    Ok(html(StatusCode::OK, render(&page)))
}

#[derive(Deserialize, Default)]
struct Notice {
    revoked: Option<String>,
}

async fn certificate(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let serial = normal_serial(&serial).unwrap_or(serial);
    let record = authority.certificate(&serial).await?.ok_or_else(|| {
        Refused::Failed(StatusCode::NOT_FOUND, format!("no certificate {serial}"))
    })?;
    let notice = query(notice)?
        .revoked
        .map(|count| format!("Revoked ({count} in all, with what it was used to obtain). OCSP answers revoked now; the next CRL follows within moments."));
    let attestation = attestation_of(&authority, &record).await?;
    let page = pages::Certificate {
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice,
        attestation,
        evidence: serde_json::to_string_pretty(&record.evidence).unwrap_or_default(),
        pem: inkan_pki::der_to_pem("CERTIFICATE", &record.der),
        cert: CertRow::from(&record),
    };
    Ok(html(StatusCode::OK, render(&page)))
}

/// The TPM or TEE attestation a certificate was issued on, as labelled facts.
async fn attestation_of(
    authority: &Authority,
    record: &inkan_store::CertificateRecord,
) -> Result<Option<pages::EvidenceView>, Refused> {
    let fact = |label: &str, value: &str| (label.to_string(), value.to_string());
    if record.method == "tpm2" {
        if let Some(a) = authority.tpm_attestation(&record.serial).await? {
            return Ok(Some(pages::EvidenceView {
                title: "TPM 2.0 attestation".into(),
                facts: vec![
                    fact(
                        "EK certificate (SHA-256)",
                        a.ek_cert_sha256
                            .as_deref()
                            .unwrap_or("none: EK allowed by its public key"),
                    ),
                    fact(
                        "EK certificate issuer",
                        a.ek_issuer.as_deref().unwrap_or(""),
                    ),
                    fact("EK public key (SHA-256)", &a.ek_public_sha256),
                    fact("AK name", &a.ak_name),
                    fact("Certified key name", &a.key_name),
                    fact("Activation", &a.activation_id),
                    fact("Verified", &pages::ms(Some(a.verified_at_ms))),
                ],
                checks: a.checks,
            }));
        }
    }
    if record.method == "tee" {
        if let Some(a) = authority.tee_attestation(&record.serial).await? {
            let mut facts = vec![
                fact("Device UID", &a.uid),
                fact("Model", &a.model),
                fact("TA profile", &format!("{} v{}", a.profile, a.version)),
                fact("Key storage", &a.key_storage),
                fact("Challenge", &a.challenge),
                fact("Verified", &pages::ms(Some(a.verified_at_ms))),
            ];
            facts.extend(
                a.identity
                    .iter()
                    .map(|(k, v)| fact(&format!("Identity: {k}"), v)),
            );
            return Ok(Some(pages::EvidenceView {
                title: "TEE attestation".into(),
                facts,
                checks: a.checks,
            }));
        }
    }
    Ok(None)
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf: String,
    reason: String,
    cascade: Option<String>,
}

async fn revoke(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(serial): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let reason: RevocationReason = form.reason.parse().map_err(|e: inkan_pki::PkiError| {
        Refused::Failed(StatusCode::BAD_REQUEST, e.to_string())
    })?;
    let serial = normal_serial(&serial).unwrap_or(serial);
    let actor = format!("console:{}", session.actor);
    let result = authority
        .revoke(&serial, reason, &actor, form.cascade.is_some())
        .await?;
    if matches!(result.outcome, inkan_store::RevokeOutcome::NotFound) {
        return Err(Refused::Failed(
            StatusCode::NOT_FOUND,
            format!("no certificate {serial}"),
        ));
    }
    Ok((
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            format!(
                "/console/certificates/{serial}?revoked={}",
                1 + result.cascaded.len()
            ),
        )],
    )
        .into_response())
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    after: Option<i64>,
    verify: Option<String>,
    format: Option<String>,
    limit: Option<i64>,
}

/// Events per page of the audit view.
const AUDIT_ROWS: i64 = 100;

async fn audit(
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
