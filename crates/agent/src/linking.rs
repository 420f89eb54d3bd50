//! The device side of linking (docs/linking.md): a new device asks for a link code; the trust
//! anchor creates the account, confirms the link code and signs the device list; a linked
//! device asks to log in and waits for the anchor, which approves by signing the request —
//! through the authority, or with no network on the anchor's side by codes the two devices
//! read from each other's screens ([`PendingLogin::request_code`], [`approve_offline`],
//! [`deliver_approval`]). Before going out of reach, the anchor may [`delegate`] approvals to
//! a deputy device for a time and a count; the deputy then approves by the same codes
//! ([`approve_offline_as_deputy`]).
//! Each operation is one function; the anchor's key signs through [`AnchorSigner`] (a software
//! key or a TPM key, chosen by the caller).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode};
use inkan_attest::{
    approval_message, confirmation_code, delegated_approval_message, delegation_message,
    device_list_message, login_request_sha256, seal_session, verify_session_proof, DelegationTerms,
};
use inkan_client::{client_tls_config, HttpConnection, HttpTarget};
use inkan_pki::{build_csr, certs_from_pem, der_to_pem, GeneratedKey, KeyAlgorithm};
use rand::RngCore;
use serde_json::{json, Value};

use crate::keyd::write_file;
use crate::AgentError;

/// Signs with the anchor's key (ECDSA, DER signature).
pub trait AnchorSigner: Send + Sync {
    /// A signature over `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AgentError>;
}

/// A connection to the authority, with the anchor's certificate when it is one.
pub struct Session {
    connection: HttpConnection,
}

impl Session {
    /// Connects to `authority` trusting `roots`; `tls` is a client configuration with the
    /// anchor's certificate (or none, for a device).
    pub async fn connect(
        authority: &str,
        roots: &[Vec<u8>],
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Self, AgentError> {
        let target = HttpTarget::parse(authority)?;
        let tls = match tls {
            Some(tls) => tls,
            None => client_tls_config(roots, None)?,
        };
        Ok(Self {
            connection: HttpConnection::connect(&target, tls).await?,
        })
    }

    /// One JSON request; a problem answer becomes an error with its detail.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AgentError> {
        let (headers, bytes) = match body {
            Some(b) => (
                vec![("content-type", "application/json".to_string())],
                Bytes::from(
                    serde_json::to_vec(b).map_err(|e| AgentError::Protocol(e.to_string()))?,
                ),
            ),
            None => (Vec::new(), Bytes::new()),
        };
        let (status, _, answer) = self.connection.send(method, path, &headers, bytes).await?;
        if status == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        let parsed: Option<Value> = serde_json::from_slice(&answer).ok();
        if !status.is_success() {
            let message = parsed
                .as_ref()
                .and_then(|v| v.get("detail").or_else(|| v.get("title")))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&answer).trim().to_string());
            return Err(AgentError::Status {
                status: status.as_u16(),
                message,
            });
        }
        parsed.ok_or_else(|| AgentError::Protocol(format!("{path}: the answer is not JSON")))
    }
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn text<'a>(value: &'a Value, field: &str) -> Result<&'a str, AgentError> {
    value[field]
        .as_str()
        .ok_or_else(|| AgentError::Protocol(format!("the answer has no {field}")))
}

/// A new device's link code, as it shows it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LinkCode {
    /// The registration number it gets.
    pub registration: String,
    /// The single-use link token (base64url), for the anchor.
    pub link_token: String,
    /// The six-digit code both screens show.
    pub code: String,
    /// When the token stops working.
    pub expires_at: String,
}

impl LinkCode {
    /// What a QR code or a typed link carries: `inkan-link:<token>`.
    pub fn uri(&self) -> String {
        format!("inkan-link:{}", self.link_token)
    }

    fn qr(&self) -> Result<qrcode::QrCode, AgentError> {
        qrcode::QrCode::new(self.uri().as_bytes())
            .map_err(|e| AgentError::Protocol(format!("making the QR code: {e}")))
    }

    /// [`LinkCode::uri`] as a QR code for a terminal (Unicode half blocks, dark on light).
    pub fn terminal_qr(&self) -> Result<String, AgentError> {
        use qrcode::render::unicode::Dense1x2;
        Ok(self
            .qr()?
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build())
    }

    /// [`LinkCode::uri`] as a QR code in an SVG image, for a web page or a file.
    pub fn svg_qr(&self) -> Result<String, AgentError> {
        Ok(self
            .qr()?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(240, 240)
            .build())
    }
}

/// A new device: makes its key (`dir/device.key`, 0600) and asks the authority for a link code
/// (kept in `dir/link.json`). The code is computed here too, from the token and the key, so a
/// server that swapped either shows a different one.
pub async fn start_link(
    session: &mut Session,
    name: &str,
    dir: &Path,
) -> Result<LinkCode, AgentError> {
    std::fs::create_dir_all(dir).map_err(|e| crate::keyd::file_error(dir, e))?;
    let key = GeneratedKey::generate(KeyAlgorithm::P256)?;
    let spki = key.public_key_der();
    let answer = session
        .call(
            Method::POST,
            "/v1/links",
            Some(&json!({"name": name, "public_key": B64.encode(&spki)})),
        )
        .await?;
    let link = LinkCode {
        registration: text(&answer, "registration")?.to_string(),
        link_token: text(&answer, "link_token")?.to_string(),
        code: text(&answer, "code")?.to_string(),
        expires_at: text(&answer, "expires_at")?.to_string(),
    };
    let token = B64URL
        .decode(&link.link_token)
        .map_err(|_| AgentError::Protocol("the link token is not base64url".into()))?;
    let ours = confirmation_code(&token, &sha256(&spki));
    if ours != link.code {
        return Err(AgentError::Protocol(
            "the authority's confirmation code is not the one this key and token give: do not link"
                .into(),
        ));
    }
    write_file(&dir.join("device.key"), key.to_pem(None)?.as_bytes(), 0o600)?;
    let json = serde_json::to_vec_pretty(&link).map_err(|e| AgentError::Protocol(e.to_string()))?;
    write_file(&dir.join("link.json"), &json, 0o600)?;
    Ok(link)
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

/// The anchor creates its account.
pub async fn create_account(session: &mut Session, name: &str) -> Result<Value, AgentError> {
    session
        .call(Method::POST, "/v1/accounts", Some(&json!({"name": name})))
        .await
}

/// What the anchor is about to confirm.
pub async fn preview_link(session: &mut Session, link_token: &str) -> Result<Value, AgentError> {
    session
        .call(
            Method::POST,
            "/v1/links/preview",
            Some(&json!({"link_token": link_token.trim_start_matches("inkan-link:")})),
        )
        .await
}

/// The anchor links the device of `link_token`: the code it shows must be `expected_code` (what
/// the new device's screen says), then the anchor signs the account's device list with it.
pub async fn confirm_link(
    session: &mut Session,
    signer: &dyn AnchorSigner,
    link_token: &str,
    expected_code: &str,
) -> Result<Value, AgentError> {
    let token = link_token.trim_start_matches("inkan-link:");
    let preview = preview_link(session, token).await?;
    let code = text(&preview, "code")?;
    if code != expected_code.trim() {
        return Err(AgentError::Protocol(format!(
            "the codes differ (this anchor sees {code}): another device or key is behind this link code; nothing was linked"
        )));
    }
    let account = text(&preview, "account")?.to_string();
    let devices: Vec<(String, String)> = preview["devices"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|d| {
                    Some((
                        d["registration"].as_str()?.to_string(),
                        d["key_sha256"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let signed_at = now_unix();
    let signature = signer.sign(&device_list_message(&account, &devices, signed_at))?;
    session
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/devices"),
            Some(&json!({
                "link_token": token,
                "signed_at": signed_at,
                "signature": B64.encode(signature),
            })),
        )
        .await
}

/// The logins waiting for this anchor.
pub async fn pending(session: &mut Session) -> Result<Vec<Value>, AgentError> {
    let listed = session.call(Method::GET, "/v1/approvals", None).await?;
    Ok(listed.as_array().cloned().unwrap_or_default())
}

/// The anchor approves login `id` (listed by [`pending`]): signs (request hash, nonce, now).
pub async fn approve(
    session: &mut Session,
    signer: &dyn AnchorSigner,
    login: &Value,
) -> Result<Value, AgentError> {
    let id = text(login, "id")?;
    let request = hex::decode(text(login, "request_sha256")?)
        .map_err(|_| AgentError::Protocol("request_sha256 is not hex".into()))?;
    let nonce = B64
        .decode(text(login, "nonce")?)
        .map_err(|_| AgentError::Protocol("nonce is not base64".into()))?;
    let signed_at = now_unix();
    let signature = signer.sign(&approval_message(&request, &nonce, signed_at))?;
    session
        .call(
            Method::POST,
            &format!("/v1/approvals/{id}"),
            Some(&json!({"signed_at": signed_at, "signature": B64.encode(signature)})),
        )
        .await
}

/// The anchor unlinks a device of its account.
pub async fn unlink(
    session: &mut Session,
    account: &str,
    registration: &str,
) -> Result<(), AgentError> {
    session
        .call(
            Method::DELETE,
            &format!("/v1/accounts/{account}/devices/{registration}"),
            None,
        )
        .await
        .map(|_| ())
}

/// A login on its way: the id and what the device polls with.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PendingLogin {
    /// The login id.
    pub id: String,
    /// The request hash the anchor signs (hex): shown on both screens.
    pub request_sha256: String,
    /// The device's nonce (base64url).
    pub nonce: String,
    poll_secret: String,
    /// The session key sealed to the authority (base64url): the authority's proof is keyed
    /// by it.
    session_key: String,
}

impl PendingLogin {
    /// What the anchor reads from this device's screen (typed, or scanned as a QR code) to
    /// approve with no network: `inkan-login:<id>.<request hash>.<nonce>`.
    pub fn request_code(&self) -> String {
        format!(
            "inkan-login:{}.{}.{}",
            self.id, self.request_sha256, self.nonce
        )
    }

    /// Keeps the login in `dir/login.json` (0600: it holds the poll secret).
    pub fn save(&self, dir: &Path) -> Result<(), AgentError> {
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| AgentError::Protocol(e.to_string()))?;
        write_file(&dir.join("login.json"), &json, 0o600)
    }

    /// The login kept by [`PendingLogin::save`].
    pub fn read(dir: &Path) -> Result<Self, AgentError> {
        let path = dir.join("login.json");
        let bytes = std::fs::read(&path).map_err(|e| crate::keyd::file_error(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| AgentError::Protocol(format!("login.json: {e}")))
    }
}

/// (login id, request hash, nonce) of a login code `inkan-login:<id>.<request hash>.<nonce>`.
fn parse_login_code(request_code: &str) -> Result<(String, Vec<u8>, Vec<u8>), AgentError> {
    let bad =
        || AgentError::Protocol("not a login code: it reads inkan-login:ID.HASH.NONCE".into());
    let body = request_code
        .trim()
        .strip_prefix("inkan-login:")
        .ok_or_else(bad)?;
    let mut parts = body.split('.');
    let (Some(id), Some(hash), Some(nonce), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let request = hex::decode(hash).map_err(|_| bad())?;
    let nonce = B64URL.decode(nonce).map_err(|_| bad())?;
    Ok((id.to_string(), request, nonce))
}

/// The anchor with no network: signs the login of `request_code` (read from the linked
/// device's screen) and returns what the device reads back:
/// `inkan-approval:<id>.<anchor serial>.<signed_at>.<signature>`.
pub fn approve_offline(
    signer: &dyn AnchorSigner,
    anchor_serial: &str,
    request_code: &str,
) -> Result<String, AgentError> {
    let (id, request, nonce) = parse_login_code(request_code)?;
    let signed_at = now_unix();
    let signature = signer.sign(&approval_message(&request, &nonce, signed_at))?;
    Ok(format!(
        "inkan-approval:{id}.{anchor_serial}.{signed_at}.{}",
        B64URL.encode(signature)
    ))
}

/// A deputy device (its `dir` from [`start_link`]) approves, under its anchor's delegation and
/// with no network, the login of `request_code` another linked device shows; returns what that
/// device reads back: `inkan-approval:<id>.<deputy registration>.<signed_at>.<signature>`.
pub fn approve_offline_as_deputy(dir: &Path, request_code: &str) -> Result<String, AgentError> {
    let (id, request, nonce) = parse_login_code(request_code)?;
    let (link, key) = linked_identity(dir)?;
    let signed_at = now_unix();
    let message = delegated_approval_message(&link.registration, &request, &nonce, signed_at);
    let signature = key.sign(&message)?;
    Ok(format!(
        "inkan-approval:{id}.{}.{signed_at}.{}",
        link.registration,
        B64URL.encode(signature)
    ))
}

/// The anchor delegates approvals of its account's logins to `deputy` (a linked device of
/// `account`) from now for `lasting`, at most `max_approvals` of them: signs the terms with the
/// deputy's key hash as the authority lists it.
pub async fn delegate(
    session: &mut Session,
    signer: &dyn AnchorSigner,
    account: &str,
    deputy: &str,
    lasting: Duration,
    max_approvals: i64,
) -> Result<Value, AgentError> {
    let view = session
        .call(Method::GET, &format!("/v1/accounts/{account}"), None)
        .await?;
    let key = view["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["registration"].as_str() == Some(deputy) && d["unlinked_at"].is_null())
        .and_then(|d| d["key_sha256"].as_str())
        .ok_or_else(|| {
            AgentError::Protocol(format!(
                "{deputy} is not a linked device of account {account}"
            ))
        })?
        .to_string();
    let signed_at = now_unix();
    let not_after = signed_at.saturating_add(i64::try_from(lasting.as_secs()).unwrap_or(i64::MAX));
    let message = delegation_message(&DelegationTerms {
        account_id: account,
        deputy,
        deputy_key_sha256: &key,
        not_before: signed_at,
        not_after,
        max_approvals,
        signed_at,
    });
    let signature = signer.sign(&message)?;
    session
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/delegations"),
            Some(&json!({
                "deputy": deputy,
                "not_before": signed_at,
                "not_after": not_after,
                "max_approvals": max_approvals,
                "signed_at": signed_at,
                "signature": B64.encode(signature),
            })),
        )
        .await
}

/// The anchor ends its account's open delegation.
pub async fn end_delegation(session: &mut Session, account: &str) -> Result<(), AgentError> {
    session
        .call(
            Method::DELETE,
            &format!("/v1/accounts/{account}/delegations"),
            None,
        )
        .await
        .map(|_| ())
}

/// The linked device delivers the approval its anchor signed offline (`approval_code`, read
/// from the anchor's screen) for the login kept in `dir`, and writes its certificate chain to
/// `dir/device.pem`.
pub async fn deliver_approval(
    session: &mut Session,
    dir: &Path,
    approval_code: &str,
) -> Result<(String, PathBuf), AgentError> {
    let login = PendingLogin::read(dir)?;
    let bad = || {
        AgentError::Protocol(
            "not an approval code: it reads inkan-approval:ID.SERIAL.TIME.SIGNATURE".into(),
        )
    };
    let body = approval_code
        .trim()
        .strip_prefix("inkan-approval:")
        .ok_or_else(bad)?;
    let parts: Vec<&str> = body.split('.').collect();
    let [id, approver, signed_at, signature] = parts.as_slice() else {
        return Err(bad());
    };
    if *id != login.id {
        return Err(AgentError::Protocol(format!(
            "the approval is for login {id}, and this device waits for {}",
            login.id
        )));
    }
    let signed_at: i64 = signed_at.parse().map_err(|_| bad())?;
    let signature = B64URL.decode(signature).map_err(|_| bad())?;
    // A deputy is named by its registration number (ld-…), an anchor by its serial (hex).
    let approver_field = if approver.starts_with("ld-") {
        "deputy"
    } else {
        "anchor_serial"
    };
    let answer = session
        .call(
            Method::POST,
            &format!("/v1/logins/{id}/approval"),
            Some(&json!({
                "poll_secret": login.poll_secret,
                approver_field: approver,
                "signed_at": signed_at,
                "signature": B64.encode(signature),
            })),
        )
        .await?;
    install_chain(dir, &login, &answer)
}

/// Checks the authority's session proof for the certificate in `answer`, then writes the chain
/// to `dir/device.pem`.
fn install_chain(
    dir: &Path,
    login: &PendingLogin,
    answer: &Value,
) -> Result<(String, PathBuf), AgentError> {
    let chain = text(answer, "chain")?;
    let parsed = certs_from_pem(chain.as_bytes())?;
    let leaf = parsed
        .first()
        .ok_or_else(|| AgentError::Protocol("the answer holds no certificate".into()))?;
    let key = B64URL
        .decode(&login.session_key)
        .map_err(|_| AgentError::Protocol("login.json: the session key is not base64url".into()))?;
    let proof = B64
        .decode(text(answer, "session_proof")?)
        .map_err(|_| AgentError::Protocol("session_proof is not base64".into()))?;
    if !verify_session_proof(&key, &login.id, leaf, &proof) {
        return Err(AgentError::Protocol(
            "the certificate does not come with a proof from the service this login's session key was sealed to: not installed".into(),
        ));
    }
    let pem: String = parsed
        .iter()
        .map(|c| der_to_pem("CERTIFICATE", c))
        .collect();
    let path = dir.join("device.pem");
    write_file(&path, pem.as_bytes(), 0o644)?;
    Ok((text(answer, "serial")?.to_string(), path))
}

/// A linked device's registration (in `dir/link.json`) and key (`dir/device.key`).
fn linked_identity(dir: &Path) -> Result<(LinkCode, GeneratedKey), AgentError> {
    let link: LinkCode = serde_json::from_slice(
        &std::fs::read(dir.join("link.json")).map_err(|e| crate::keyd::file_error(dir, e))?,
    )
    .map_err(|e| AgentError::Protocol(format!("link.json: {e}")))?;
    let pem = std::fs::read_to_string(dir.join("device.key"))
        .map_err(|e| crate::keyd::file_error(dir, e))?;
    Ok((link, GeneratedKey::from_pem(&pem, None)?))
}

/// A linked device (its `dir` from [`start_link`]) asks to log in with a CSR for its key.
pub async fn request_login(session: &mut Session, dir: &Path) -> Result<PendingLogin, AgentError> {
    let (link, key) = linked_identity(dir)?;
    let csr = build_csr(&key, &link.registration, &[])?;
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let service = session.call(Method::GET, "/v1/login-key", None).await?;
    let service_key = B64
        .decode(text(&service, "public_key")?)
        .map_err(|_| AgentError::Protocol("the login key is not base64".into()))?;
    let (session_key, sealed) = seal_session(&service_key, &link.registration, &nonce)
        .map_err(|e| AgentError::Protocol(e.to_string()))?;
    let request = login_request_sha256(&link.registration, &nonce, &csr, &sealed);
    let signature = key.sign(&request)?;
    let answer = session
        .call(
            Method::POST,
            "/v1/logins",
            Some(&json!({
                "registration": link.registration,
                "nonce": B64.encode(nonce),
                "csr": B64.encode(&csr),
                "session": B64.encode(&sealed),
                "signature": B64.encode(signature),
            })),
        )
        .await?;
    Ok(PendingLogin {
        id: text(&answer, "id")?.to_string(),
        request_sha256: text(&answer, "request_sha256")?.to_string(),
        nonce: B64URL.encode(nonce),
        poll_secret: text(&answer, "poll_secret")?.to_string(),
        session_key: B64URL.encode(session_key),
    })
}

/// Waits (polling every `every`) until the anchor approved `login` or `wait` is over; writes
/// the certificate chain to `dir/device.pem`.
pub async fn await_login(
    session: &mut Session,
    login: &PendingLogin,
    dir: &Path,
    wait: Duration,
    every: Duration,
) -> Result<(String, PathBuf), AgentError> {
    let deadline = Instant::now() + wait;
    loop {
        let answer = session
            .call(
                Method::POST,
                &format!("/v1/logins/{}/status", login.id),
                Some(&json!({"poll_secret": login.poll_secret})),
            )
            .await?;
        if answer["status"] == "approved" {
            return install_chain(dir, login, &answer);
        }
        if Instant::now() >= deadline {
            return Err(AgentError::Protocol(format!(
                "no approval within {} s: approve login {} on the anchor (`inkan agent approve`)",
                wait.as_secs(),
                login.id
            )));
        }
        tokio::time::sleep(every).await;
    }
}
