//! The key service's socket: applications on the device ask for a certificate of their own and
//! for signatures with its key, one JSON request and one JSON answer per line. A key belongs to
//! the application that asked for it first — its uid and executable path, read from the
//! socket's peer credentials and `/proc/<pid>/exe` — and only that application may use it.
//!
//! Requests (`key` names the application's key, 1 to 63 of `a-z 0-9 -`):
//! - `{"op": "enroll", "key": K}` → `{"serial", "certificate"}`: a new key and certificate
//!   through the TA (again: renewal);
//! - `{"op": "certificate", "key": K}` → `{"certificate"}` (PEM chain);
//! - `{"op": "sign", "key": K, "data": B64}` → `{"signature": B64}` (DER ECDSA with SHA-256
//!   for P-256);
//!
//! and every refusal is `{"error": "..."}`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use inkan_pki::GeneratedKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Mutex, Semaphore};

use super::{enroll, write_file, KeydOptions, StoredTpmKey, UnitSecret};
use crate::AgentError;

/// The longest request line.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
const MAX_CONNECTIONS: usize = 64;

/// Who owns a key: the application that enrolled it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Its user id.
    pub uid: u32,
    /// Its executable.
    pub exe: PathBuf,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
enum Request {
    Enroll { key: String },
    Certificate { key: String },
    Sign { key: String, data: String },
}

/// Binds the key service's socket (replacing a stale one), mode 0666: any local application
/// may connect, and what it may do is decided by its credentials.
pub fn bind(socket: &Path) -> Result<UnixListener, AgentError> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).map_err(|e| super::file_error(socket, e))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| super::file_error(socket, e))?;
    Ok(listener)
}

/// Serves the key service on `listener` until the task is dropped. `options.dir` is the
/// state root: each application's key lives in `apps/<key>/`.
pub async fn serve(listener: UnixListener, options: KeydOptions) -> Result<(), AgentError> {
    let options = Arc::new(options);
    // One enrollment at a time: two requests for one key must not both become its owner.
    let enrolling = Arc::new(Mutex::new(()));
    tokio::spawn(renew_loop(options.clone(), enrolling.clone()));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "keyd: accept failed");
                continue;
            }
        };
        let (options, enrolling) = (options.clone(), enrolling.clone());
        tokio::spawn(async move {
            if let Err(e) = serve_one(stream, &options, &enrolling).await {
                tracing::debug!(error = %e, "keyd: connection ended");
            }
            drop(permit);
        });
    }
}

/// Renews every application's certificate at two thirds of its lifetime (a new key through
/// the TA, as `enroll` does), for as long as the service runs.
async fn renew_loop(options: Arc<KeydOptions>, enrolling: Arc<Mutex<()>>) {
    loop {
        let wait = renew_due(&options, &enrolling).await;
        tokio::time::sleep(wait).await;
    }
}

/// Renews the certificates that are due; returns how long until the next one is.
async fn renew_due(options: &KeydOptions, enrolling: &Mutex<()>) -> Duration {
    let mut next = Duration::from_secs(3600);
    let Ok(entries) = std::fs::read_dir(options.dir.join("apps")) else {
        return next;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for dir in entries.flatten().map(|e| e.path()) {
        let Some(info) = std::fs::read(dir.join("device.pem"))
            .ok()
            .and_then(|pem| inkan_pki::certs_from_pem(&pem).ok())
            .and_then(|chain| chain.into_iter().next())
            .and_then(|leaf| inkan_pki::CertificateInfo::parse(&leaf).ok())
        else {
            continue;
        };
        let due = crate::renewal_due_in(info.not_before, info.not_after, now);
        if !due.is_zero() {
            next = next.min(due);
            continue;
        }
        let _one_at_a_time = enrolling.lock().await;
        let app = KeydOptions {
            dir: dir.clone(),
            ..options.clone()
        };
        match enroll(&app).await {
            Ok(done) => {
                tracing::info!(dir = %dir.display(), serial = %done.serial, "keyd: renewed an application's certificate");
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "keyd: renewal failed; retrying in a minute");
                next = next.min(Duration::from_secs(60));
            }
        }
    }
    next
}

fn peer_owner(stream: &UnixStream) -> Result<Owner, String> {
    let cred = stream
        .peer_cred()
        .map_err(|e| format!("peer credentials: {e}"))?;
    let pid = cred
        .pid()
        .ok_or_else(|| "the peer's process id is unknown".to_string())?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map_err(|e| format!("the peer's executable: {e}"))?;
    Ok(Owner {
        uid: cred.uid(),
        exe,
    })
}

async fn serve_one(
    stream: UnixStream,
    options: &KeydOptions,
    enrolling: &Mutex<()>,
) -> std::io::Result<()> {
    let peer = peer_owner(&stream);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(MAX_REQUEST_BYTES);
    let mut line = String::new();
    let answer = match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => json!({"error": "no request within 10 s"}),
        Ok(Err(e)) => json!({"error": format!("reading the request: {e}")}),
        Ok(Ok(_)) if !line.ends_with('\n') => {
            json!({"error": "a request is one line of JSON of at most 64 KiB"})
        }
        Ok(Ok(_)) => match peer {
            Err(e) => json!({"error": e}),
            Ok(peer) => match serde_json::from_str::<Request>(&line) {
                Err(e) => json!({"error": format!("bad request: {e}")}),
                Ok(request) => answer(request, &peer, options, enrolling)
                    .await
                    .unwrap_or_else(|e| json!({"error": e})),
            },
        },
    };
    let mut text = answer.to_string();
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await
}

fn check_key_name(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 63
        && !key.starts_with('-')
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("key name {key:?}: use 1 to 63 of a-z, 0-9 and -"))
    }
}

fn owner_of(dir: &Path) -> Option<Owner> {
    let bytes = std::fs::read(dir.join("owner.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The key's directory, if `peer` owns it.
fn owned(options: &KeydOptions, key: &str, peer: &Owner) -> Result<PathBuf, String> {
    check_key_name(key)?;
    let dir = options.dir.join("apps").join(key);
    match owner_of(&dir) {
        None => Err(format!("no key {key:?}: enroll it first")),
        Some(owner) if &owner == peer => Ok(dir),
        Some(owner) => Err(format!(
            "key {key:?} belongs to another application (uid {}, {}); this is uid {}, {}",
            owner.uid,
            owner.exe.display(),
            peer.uid,
            peer.exe.display()
        )),
    }
}

async fn answer(
    request: Request,
    peer: &Owner,
    options: &KeydOptions,
    enrolling: &Mutex<()>,
) -> Result<Value, String> {
    match request {
        Request::Enroll { key } => {
            check_key_name(&key)?;
            let _one_at_a_time = enrolling.lock().await;
            let dir = options.dir.join("apps").join(&key);
            if let Some(owner) = owner_of(&dir) {
                if &owner != peer {
                    return Err(format!(
                        "key {key:?} belongs to another application (uid {}, {})",
                        owner.uid,
                        owner.exe.display()
                    ));
                }
            }
            let app = KeydOptions {
                dir: dir.clone(),
                ..options.clone()
            };
            let done = enroll(&app).await.map_err(|e| e.to_string())?;
            let owner = serde_json::to_vec_pretty(peer).map_err(|e| e.to_string())?;
            write_file(&dir.join("owner.json"), &owner, 0o600).map_err(|e| e.to_string())?;
            tracing::info!(key = %key, uid = peer.uid, exe = %peer.exe.display(), serial = %done.serial, "keyd: enrolled a key for an application");
            let certificate =
                std::fs::read_to_string(&done.certificate).map_err(|e| e.to_string())?;
            Ok(json!({
                "serial": done.serial,
                "level": done.level,
                "key_storage": done.key_storage,
                "certificate": certificate,
            }))
        }
        Request::Certificate { key } => {
            let dir = owned(options, &key, peer)?;
            let certificate =
                std::fs::read_to_string(dir.join("device.pem")).map_err(|e| e.to_string())?;
            Ok(json!({"certificate": certificate}))
        }
        Request::Sign { key, data } => {
            let dir = owned(options, &key, peer)?;
            let data = B64
                .decode(data)
                .map_err(|_| "data is not standard base64".to_string())?;
            let signature = match (&options.unit, StoredTpmKey::read(&dir)) {
                (UnitSecret::Tpm(tpm), Some(key)) => {
                    tpm.sign(&key, &data).map_err(|e| e.to_string())?
                }
                (_, Some(_)) => {
                    return Err(format!(
                        "key {key:?} lives in a TPM and this key service was started without --tpm"
                    ))
                }
                (_, None) => {
                    let pem = std::fs::read_to_string(dir.join("device.key"))
                        .map_err(|e| e.to_string())?;
                    GeneratedKey::from_pem(&pem, None)
                        .and_then(|k| k.sign(&data))
                        .map_err(|e| e.to_string())?
                }
            };
            Ok(json!({"signature": B64.encode(signature)}))
        }
    }
}
