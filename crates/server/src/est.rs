//! EST (RFC 7030): `cacerts`, `simpleenroll`, `simplereenroll` and `csrattrs`, each with and
//! without a label (`/.well-known/est/<label>/…`) that selects the profile.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine;
use inkan_authority::{Authority, EnrollMethod, IssueRequest, PresentedCert, Registrant};
use inkan_pki::certs_only_encode;

use crate::client_cert::VerifyPeer;
use crate::client_cert::{ClientCertProblem, VerifiedClient};
use crate::est_error::EstError;
use crate::PeerCertificates;

/// The EST routes. Each operation answers with and without a label; the unlabelled paths use
/// `est.default_label`.
pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/.well-known/est/cacerts", get(cacerts))
        .route("/.well-known/est/csrattrs", get(csrattrs))
        .route("/.well-known/est/simpleenroll", post(simpleenroll))
        .route("/.well-known/est/simplereenroll", post(simplereenroll))
        .route("/.well-known/est/{label}/cacerts", get(cacerts))
        .route("/.well-known/est/{label}/csrattrs", get(csrattrs))
        .route("/.well-known/est/{label}/simpleenroll", post(simpleenroll))
        .route(
            "/.well-known/est/{label}/simplereenroll",
            post(simplereenroll),
        )
}

/// The label in the path, or the default label.
fn label_of(authority: &Authority, label: Option<Path<String>>) -> String {
    label.map_or_else(|| authority.config().est.default_label.clone(), |Path(l)| l)
}

async fn cacerts(
    State(authority): State<Arc<Authority>>,
    label: Option<Path<String>>,
) -> Result<Response, EstError> {
    profile_for(&authority, &label_of(&authority, label))?;
    pkcs7_response(&authority.ca_chain(), "application/pkcs7-mime")
}

/// The CSR attributes: the signature algorithm the profile prefers (ecdsa-with-SHA256).
async fn csrattrs(
    State(authority): State<Arc<Authority>>,
    label: Option<Path<String>>,
) -> Result<Response, EstError> {
    profile_for(&authority, &label_of(&authority, label))?;
    // SEQUENCE { OBJECT IDENTIFIER ecdsa-with-SHA256 }
    let der = [
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
    Ok(base64_response(&der, "application/csrattrs"))
}

async fn simpleenroll(
    State(authority): State<Arc<Authority>>,
    label: Option<Path<String>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, EstError> {
    let label = label_of(&authority, label);
    enroll(&authority, &label, &peer, &headers, &body, false).await
}

async fn simplereenroll(
    State(authority): State<Arc<Authority>>,
    label: Option<Path<String>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, EstError> {
    let label = label_of(&authority, label);
    enroll(&authority, &label, &peer, &headers, &body, true).await
}

async fn enroll(
    authority: &Authority,
    label: &str,
    peer: &PeerCertificates,
    headers: &HeaderMap,
    body: &[u8],
    renewal: bool,
) -> Result<Response, EstError> {
    let profile = profile_for(authority, label)?;
    check_content_type(headers)?;
    let method = if renewal {
        renewal_method(authority, peer).await?
    } else {
        enroll_method(authority, label, peer, headers).await?
    };
    let csr_der = decode_base64_body(body)?;
    if let EnrollMethod::ClientCert(presented) = &method {
        // A ProductCert does not enroll itself: it registers a device and gets its DeviceCert.
        if let Some(product) = authority
            .registry()
            .product_by_cert(&presented.serial)
            .await?
        {
            let (device, issued) = authority
                .bootstrap_device(
                    &product,
                    Registrant::ProductCert {
                        serial: presented.serial.clone(),
                    },
                    &csr_der,
                    serde_json::json!({}),
                )
                .await?;
            tracing::info!(device = %device.id, product = %product.name, serial = %issued.serial, "device registered");
            return pkcs7_response(
                &issued.chain[..1],
                "application/pkcs7-mime; smime-type=certs-only",
            );
        }
    }
    // A DeviceCert renews under its product's policy: a disabled device cannot renew, and the
    // new certificate has the product's device validity and joins the device's certificates.
    let validity = match &method {
        EnrollMethod::Renewal(p) if p.device_id.is_some() && p.profile == profile => {
            device_validity(authority, p).await?
        }
        EnrollMethod::ClientCert(p) if p.device_id.is_some() && p.profile == profile => {
            device_validity(authority, p).await?
        }
        _ => None,
    };
    let issued = authority
        .issue(IssueRequest {
            csr_der,
            profile,
            label: Some(label.to_string()),
            method,
            validity,
        })
        .await?;
    tracing::info!(serial = %issued.serial, subject = %issued.info.subject, label, "issued");
    pkcs7_response(
        &[issued.der],
        "application/pkcs7-mime; smime-type=certs-only",
    )
}

/// The product's device validity for a registered device's own certificate.
async fn device_validity(
    authority: &Authority,
    presented: &PresentedCert,
) -> Result<Option<std::time::Duration>, EstError> {
    Ok(authority
        .device_of(&presented.sans)
        .await?
        .map(|(_, product)| {
            std::time::Duration::from_secs(u64::try_from(product.device_validity_secs).unwrap_or(0))
        }))
}

/// The profile a label issues; the profiles EST cannot reach (product, admin, tpm) are refused
/// with the reason, unknown labels are not found.
fn profile_for(authority: &Authority, label: &str) -> Result<String, EstError> {
    let config = authority.config();
    match config.est_label(label) {
        Ok(found) => Ok(found.profile),
        Err(why) => {
            let target = config
                .est
                .labels
                .get(label)
                .map_or(label, |l| l.profile.as_str());
            if inkan_authority::reserved_profile(target).is_some() {
                Err(EstError::Forbidden(why))
            } else {
                Err(EstError::NotFound(format!("unknown EST label {label:?}")))
            }
        }
    }
}

pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), EstError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/pkcs10") {
        Ok(())
    } else {
        Err(EstError::UnsupportedMediaType(format!(
            "the request must be a base64 PKCS#10 CSR with Content-Type: application/pkcs10 (got {ct:?})"
        )))
    }
}

pub(crate) fn decode_base64_body(body: &[u8]) -> Result<Vec<u8>, EstError> {
    let clean: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if clean.is_empty() {
        return Err(EstError::BadRequest(
            "the request body is empty: send a base64 PKCS#10 CSR".into(),
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode(&clean)
        .map_err(|_| {
            EstError::BadRequest(
                "the body is not base64: EST sends the DER CSR base64-encoded (RFC 7030 §4.2.1)"
                    .into(),
            )
        })
}

/// Who may enroll: the label's secret by HTTP Basic, else a client certificate of ours.
async fn enroll_method(
    authority: &Authority,
    label: &str,
    peer: &PeerCertificates,
    headers: &HeaderMap,
) -> Result<EnrollMethod, EstError> {
    if let Some(secret) = basic_password(headers)? {
        return if authority.secrets().verify(label, &secret).await? {
            Ok(EnrollMethod::EstSecret {
                label: label.to_string(),
            })
        } else {
            Err(EstError::Unauthorized(format!(
                "wrong enrollment secret for label {label:?}"
            )))
        };
    }
    match peer.verify(authority).await {
        Ok(client) => Ok(EnrollMethod::ClientCert(
            presented(authority, client).await?,
        )),
        Err(ClientCertProblem::Missing) => Err(EstError::Unauthorized(format!(
            "authenticate with the enrollment secret of label {label:?} (HTTP Basic) or a client certificate from this authority"
        ))),
        Err(problem) => Err(client_cert_error(problem)),
    }
}

async fn renewal_method(
    authority: &Authority,
    peer: &PeerCertificates,
) -> Result<EnrollMethod, EstError> {
    match peer.verify(authority).await {
        Ok(client) => Ok(EnrollMethod::Renewal(presented(authority, client).await?)),
        Err(ClientCertProblem::Missing) => Err(EstError::Unauthorized(
            "simplereenroll needs the current certificate as the TLS client certificate".into(),
        )),
        Err(problem) => Err(client_cert_error(problem)),
    }
}

/// The verified facts of a client certificate: its names, the profile it was issued under (from
/// the store), its level and, for a registered device, the device and its product (refusing a
/// disabled one).
async fn presented(
    authority: &Authority,
    client: VerifiedClient,
) -> Result<PresentedCert, EstError> {
    let VerifiedClient { info, profile } = client;
    let level = info
        .level
        .or_else(|| authority.profile(&profile).map(|p| p.level))
        .unwrap_or(1);
    let device = authority.device_of(&info.sans).await?;
    Ok(PresentedCert {
        serial: info.serial,
        subject: info.subject,
        sans: info.sans,
        profile,
        level,
        device_id: device.as_ref().map(|(d, _)| d.id.clone()),
        product: device.map(|(_, p)| (p.id, p.name)),
    })
}

fn client_cert_error(problem: ClientCertProblem) -> EstError {
    match problem {
        ClientCertProblem::Missing => EstError::Unauthorized("no client certificate".into()),
        ClientCertProblem::Untrusted(why) => {
            EstError::Unauthorized(format!("client certificate not accepted: {why}"))
        }
        ClientCertProblem::Revoked => {
            EstError::Forbidden("the client certificate has been revoked".into())
        }
        ClientCertProblem::Store(e) => EstError::Internal(e),
    }
}

/// The password of an HTTP Basic `Authorization` header, if there is one.
pub(crate) fn basic_password(headers: &HeaderMap) -> Result<Option<String>, EstError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || EstError::Unauthorized("malformed Authorization header: use HTTP Basic".into());
    let text = value.to_str().map_err(|_| bad())?;
    let (scheme, encoded) = text.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (_user, password) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some(password.to_string()))
}

fn pkcs7_response(certs: &[Vec<u8>], content_type: &'static str) -> Result<Response, EstError> {
    let der = certs_only_encode(certs).map_err(|e| EstError::Internal(e.to_string()))?;
    Ok(base64_response(&der, content_type))
}

fn base64_response(der: &[u8], content_type: &'static str) -> Response {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut body = String::with_capacity(b64.len() + b64.len() / 64 + 2);
    for line in b64.as_bytes().chunks(64) {
        body.push_str(&String::from_utf8_lossy(line));
        body.push('\n');
    }
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        "content-transfer-encoding",
        HeaderValue::from_static("base64"),
    );
    response
}

impl From<inkan_store::StoreError> for EstError {
    fn from(e: inkan_store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}
