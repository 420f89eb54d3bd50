//! The console's certificates: the list (search by name, filters, keyset pages, exports), a
//! certificate with its evidence, and revoking it — the authority's own read and revoke
//! services, as `inkan cert` and `/v1` use.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use inkan_authority::Authority;
use inkan_pki::RevocationReason;
use serde::Deserialize;

use super::export;
use super::pages::{self, render, CertRow};
use super::{form_session, html, normal_serial, query, see, session_of, Refused};
use crate::PeerCertificates;

#[derive(Deserialize, Default)]
pub(super) struct CertificateFilter {
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
pub(super) const EXPORT_ROWS: (i64, i64) = (1_000, 10_000);

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
pub(super) fn urlencoding(value: &str) -> String {
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

pub(super) async fn certificates(
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
pub(super) struct Notice {
    revoked: Option<String>,
}

pub(super) async fn certificate(
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
pub(super) struct RevokeForm {
    #[serde(default)]
    csrf: String,
    reason: String,
    cascade: Option<String>,
}

pub(super) async fn revoke(
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
    let actor = session.audit_actor();
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
