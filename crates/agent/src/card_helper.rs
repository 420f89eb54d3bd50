//! The card helper (`inkan agent card`): a gateway's login page asks it, over plain HTTP on
//! loopback, for the FeliCa card on this machine's reader, because no web page can read one by
//! itself (Web NFC reads NDEF only).
//!
//! Locked to one web origin, the gateway's: a page from any other origin gets 403 and no card is
//! read; so does a request without an Origin header (curl, other programs on this machine)
//! unless allowed. The Host header must name the helper's own loopback address, so a
//! DNS-rebinding page cannot reach it under a name of its own. CORS answers (with Chromium's
//! Private Network Access header) let the gateway's HTTPS page call `http://127.0.0.1:PORT`.
//! Connections are capped and short-lived, and one card read runs at a time.
//!
//! `POST /watch` binds a gateway session to the card: after a login the gateway's page hands
//! over the session's presence token and the card's IDm, and the helper reports to the gateway
//! ([`crate::card_presence`]) while that card stays on the reader, and at once when it leaves.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore};

use crate::card_reader::{self, CardReaderError, ReadCard};

/// The most connections served at once; further ones wait in the listen queue.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's headers (and, between requests, to start
/// the next one).
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may stay open at all.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// How long a card read (waiting for the previous one included) may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The one path the helper answers.
const CARD_PATH: &str = "/card";
/// The path that binds a session to the card on the reader.
const WATCH_PATH: &str = "/watch";
/// Sessions watched at once.
const MAX_WATCHES: usize = 16;
/// How often a watched card is looked at.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How often its presence is reported.
const REPORT_EVERY: Duration = Duration::from_secs(3);

/// A web origin as browsers send it in `Origin`: `scheme://host[:port]`, lowercase, without the
/// scheme's default port and without a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebOrigin(String);

impl WebOrigin {
    /// Parses and normalizes an origin such as `https://gw.example:8443`.
    pub fn parse(text: &str) -> Result<Self, CardHelperError> {
        let bad = |reason: &'static str| CardHelperError::Origin {
            origin: text.to_string(),
            reason,
        };
        if !text.is_ascii() {
            return Err(bad("write a non-ASCII host name in its xn-- form"));
        }
        let lower = text.trim().to_ascii_lowercase();
        let (scheme, rest) = lower
            .split_once("://")
            .ok_or_else(|| bad("use scheme://host[:port]"))?;
        let default_port = match scheme {
            "https" => 443,
            "http" => 80,
            _ => return Err(bad("the scheme must be https or http")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(bad("the host is missing"));
        }
        if authority.contains(['/', '?', '#', '@']) {
            return Err(bad("an origin has no path, query, fragment or user name"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (host, Some(port)),
            _ => (authority, None),
        };
        let host_ok = !host.is_empty()
            && (host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                || (host.starts_with('[')
                    && host.ends_with(']')
                    && host.len() > 2
                    && host[1..host.len() - 1]
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')));
        if !host_ok {
            return Err(bad("the host is not a DNS name or IP address"));
        }
        let port = match port.map(str::parse::<u16>) {
            None => None,
            Some(Ok(0) | Err(_)) => return Err(bad("the port is not 1-65535")),
            Some(Ok(port)) => Some(port).filter(|p| *p != default_port),
        };
        Ok(Self(match port {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        }))
    }

    /// The origin as browsers send it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for WebOrigin {
    type Err = CardHelperError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl std::fmt::Display for WebOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the card helper serves, and to whom.
#[derive(Clone, Debug)]
pub struct CardHelperConfig {
    /// The one web origin allowed to read cards: the gateway's login page.
    pub origin: WebOrigin,
    /// The reader to read (its PC/SC name); `None`: the first.
    pub reader: Option<String>,
    /// The FeliCa system code reported with each card (0003 for transport cards like Suica).
    pub system_code: [u8; 2],
    /// Whether requests without an `Origin` header (curl, scripts on this machine) are answered.
    pub allow_no_origin: bool,
    /// TLS to the gateway for presence reports (`POST /watch`); `None`: sessions are not
    /// bound to the card by this helper.
    pub gateway_tls: Option<Arc<rustls::ClientConfig>>,
}

impl CardHelperConfig {
    /// The helper for `origin`: the first reader, system code 0003, browsers only.
    pub fn new(origin: WebOrigin) -> Self {
        Self {
            origin,
            reader: None,
            system_code: [0x00, 0x03],
            allow_no_origin: false,
            gateway_tls: None,
        }
    }
}

/// Why the card helper cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardHelperError {
    /// The listening address is not a loopback address.
    #[error(
        "the card helper listens on loopback only (127.0.0.1 or [::1]), not {0}: other machines must not read this machine's cards"
    )]
    NotLoopback(SocketAddr),
    /// The allowed origin is not a web origin.
    #[error("{origin:?} is not a web origin such as https://gw.example:8443: {reason}")]
    Origin {
        /// The text given.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The listener failed.
    #[error("the card helper's listener: {0}")]
    Listener(#[source] std::io::Error),
}

/// Refuses an address other machines could reach.
pub fn ensure_loopback(address: SocketAddr) -> Result<(), CardHelperError> {
    if address.ip().is_loopback() {
        Ok(())
    } else {
        Err(CardHelperError::NotLoopback(address))
    }
}

/// Serves `GET /card` (and its CORS preflight) on `listener`, which must be on loopback, until
/// the future is dropped.
pub async fn serve_card_helper(
    listener: TcpListener,
    config: CardHelperConfig,
) -> Result<(), CardHelperError> {
    serve_with(listener, config, Arc::new(card_reader::read_card)).await
}

/// How the helper reads a card: [`card_reader::read_card`], or a fake in tests.
type ReadFn = dyn Fn(Option<&str>) -> Result<Option<ReadCard>, CardReaderError> + Send + Sync;

async fn serve_with(
    listener: TcpListener,
    config: CardHelperConfig,
    read: Arc<ReadFn>,
) -> Result<(), CardHelperError> {
    let address = listener.local_addr().map_err(CardHelperError::Listener)?;
    ensure_loopback(address)?;
    let helper = Arc::new(Helper {
        policy: Policy::new(config.origin, config.allow_no_origin, address),
        reader: config.reader,
        system_code: config.system_code,
        read,
        reading: Arc::new(Mutex::new(())),
        gateway_tls: config.gateway_tls,
        watches: std::sync::Mutex::new(std::collections::HashMap::new()),
    });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(()); // never closed
        };
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                tracing::debug!("card helper accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let helper = helper.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |request| {
                let helper = helper.clone();
                async move { Ok::<_, Infallible>(helper.answer(request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(tcp), service);
            tokio::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!("card helper connection: {e}");
                    }
                }
                () = tokio::time::sleep(CONNECTION_LIFETIME) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(HEADER_TIMEOUT, connection).await;
                }
            }
        });
    }
}

struct Helper {
    policy: Policy,
    reader: Option<String>,
    system_code: [u8; 2],
    read: Arc<ReadFn>,
    /// Held for the length of a card read: one at a time.
    reading: Arc<Mutex<()>>,
    gateway_tls: Option<Arc<rustls::ClientConfig>>,
    /// The sessions watched, by presence token.
    watches: std::sync::Mutex<std::collections::HashMap<String, tokio::task::JoinHandle<()>>>,
}

impl Helper {
    async fn answer(self: &Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let verdict = self
            .policy
            .decide(request.method(), request.uri().path(), request.headers());
        let mut response = match verdict {
            Verdict::Read => {
                drop(request); // the body is never read
                self.read_card().await
            }
            Verdict::Watch => self.watch(request).await,
            Verdict::Preflight => {
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::NO_CONTENT;
                let headers = response.headers_mut();
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, POST"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("content-type"),
                );
                headers.insert(
                    "access-control-allow-private-network",
                    HeaderValue::from_static("true"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static("600"),
                );
                response
            }
            Verdict::Refuse(status, why) => {
                let mut response = json(status, &serde_json::json!({ "error": why }));
                if status == StatusCode::METHOD_NOT_ALLOWED {
                    response.headers_mut().insert(
                        header::ALLOW,
                        HeaderValue::from_static("GET, POST, OPTIONS"),
                    );
                }
                response
            }
        };
        let headers = response.headers_mut();
        if let Ok(origin) = HeaderValue::from_str(self.policy.origin.as_str()) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }

    /// `POST /watch` `{"token": PRESENCE, "idm": IDM}`: reports the card to the gateway for
    /// that session while it stays on the reader (202), if it is on the reader now (else 409).
    async fn watch(self: &Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        use http_body_util::BodyExt;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Watch {
            token: String,
            idm: String,
        }
        let error = |status, why: &str| json(status, &serde_json::json!({ "error": why }));
        let Some(tls) = self.gateway_tls.clone() else {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "this helper does not bind sessions to the card: start it with --gateway-ca",
            );
        };
        let body = http_body_util::Limited::new(request.into_body(), 1024);
        let Ok(body) = tokio::time::timeout(HEADER_TIMEOUT, body.collect()).await else {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            );
        };
        let Some(watch) = body
            .ok()
            .and_then(|b| serde_json::from_slice::<Watch>(&b.to_bytes()).ok())
            .filter(|w| crate::card_presence::is_token(&w.token))
        else {
            return error(StatusCode::BAD_REQUEST, "send {\"token\": …, \"idm\": …}");
        };
        let Some(idm) = hex::decode(&watch.idm)
            .ok()
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
        else {
            return error(StatusCode::BAD_REQUEST, "idm: 16 hex digits");
        };
        if self.card_on_reader().await != Some(idm) {
            return error(StatusCode::CONFLICT, "that card is not on the reader");
        }
        let Ok(mut watches) = self.watches.lock() else {
            return error(StatusCode::SERVICE_UNAVAILABLE, "try again");
        };
        watches.retain(|_, task| !task.is_finished());
        if let Some(previous) = watches.remove(&watch.token) {
            previous.abort();
        }
        if watches.len() >= MAX_WATCHES {
            return error(StatusCode::TOO_MANY_REQUESTS, "too many sessions watched");
        }
        let helper = self.clone();
        let token = watch.token.clone();
        let task = tokio::spawn(async move { helper.keep_reporting(tls, token, idm).await });
        watches.insert(watch.token, task);
        json(
            StatusCode::ACCEPTED,
            &serde_json::json!({ "watching": watch.idm }),
        )
    }

    /// Reports the card for a session until it leaves the reader or the session ends.
    async fn keep_reporting(
        self: Arc<Self>,
        tls: Arc<rustls::ClientConfig>,
        token: String,
        idm: [u8; 8],
    ) {
        use crate::card_presence::{report, Reported};
        let origin = self.policy.origin.as_str().to_string();
        let mut last_report: Option<tokio::time::Instant> = None;
        loop {
            if self.card_on_reader().await != Some(idm) {
                if let Err(e) = report(&origin, tls.clone(), &token, false).await {
                    tracing::warn!(
                        "the card left the reader, but the gateway did not hear it: {e}"
                    );
                }
                return;
            }
            if last_report.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                match report(&origin, tls.clone(), &token, true).await {
                    Ok(Reported::Accepted) => last_report = Some(tokio::time::Instant::now()),
                    Ok(Reported::SessionGone) => return,
                    Err(e) => tracing::warn!("presence report to {origin}: {e}"),
                }
            }
            tokio::time::sleep(WATCH_EVERY).await;
        }
    }

    /// The IDm of the card on the reader now, if any (read errors count as no card).
    async fn card_on_reader(&self) -> Option<[u8; 8]> {
        match self.read_once().await {
            Ok(Ok(Some(card))) => Some(card.idm),
            _ => None,
        }
    }

    /// One card read, in turn with the others, in a blocking task, within [`READ_TIMEOUT`].
    async fn read_once(
        &self,
    ) -> Result<Result<Option<ReadCard>, CardReaderError>, Option<tokio::task::JoinError>> {
        let read = self.read.clone();
        let reader = self.reader.clone();
        let reading = self.reading.clone();
        let outcome = tokio::time::timeout(READ_TIMEOUT, async move {
            let turn = reading.lock_owned().await;
            tokio::task::spawn_blocking(move || {
                let _turn = turn;
                read(reader.as_deref())
            })
            .await
        })
        .await;
        match outcome {
            Ok(Ok(read)) => Ok(read),
            Ok(Err(e)) => Err(Some(e)),
            Err(_) => Err(None),
        }
    }

    async fn read_card(&self) -> Response<Full<Bytes>> {
        let read = self.read.clone();
        let reader = self.reader.clone();
        let reading = self.reading.clone();
        // The turn travels into the blocking task, so a stuck PC/SC call holds it and no
        // second blocking thread piles up behind a timed-out one.
        let outcome = tokio::time::timeout(READ_TIMEOUT, async move {
            let turn = reading.lock_owned().await;
            tokio::task::spawn_blocking(move || {
                let _turn = turn;
                read(reader.as_deref())
            })
            .await
        })
        .await;
        let error = |status, why: String| json(status, &serde_json::json!({ "error": why }));
        match outcome {
            Ok(Ok(Ok(Some(card)))) => json(
                StatusCode::OK,
                &serde_json::json!({
                    "idm": hex::encode(card.idm),
                    "pmm": card.pmm.map(hex::encode),
                    "system_code": hex::encode(self.system_code),
                    "reader": card.reader,
                }),
            ),
            Ok(Ok(Ok(None))) => error(StatusCode::NOT_FOUND, "no card on the reader".into()),
            Ok(Ok(Err(e @ CardReaderError::Unreadable { .. }))) => {
                error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            Ok(Ok(Err(e))) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            Ok(Err(e)) => {
                tracing::warn!("card read task: {e}");
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the card read failed".into(),
                )
            }
            Err(_) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the reader did not answer in time".into(),
            ),
        }
    }
}

/// Who may ask what: one pure decision over the request line and headers.
struct Policy {
    origin: WebOrigin,
    allow_no_origin: bool,
    /// The Host values naming this helper: `127.0.0.1:PORT`, `localhost:PORT` and the
    /// listening address itself.
    hosts: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Read the card and answer with it.
    Read,
    /// Watch the card for a session.
    Watch,
    /// Answer the CORS preflight.
    Preflight,
    /// Refuse with this status and reason.
    Refuse(StatusCode, &'static str),
}

impl Policy {
    fn new(origin: WebOrigin, allow_no_origin: bool, address: SocketAddr) -> Self {
        let port = address.port();
        Self {
            origin,
            allow_no_origin,
            hosts: vec![
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                address.to_string(),
            ],
        }
    }

    fn decide(&self, method: &Method, path: &str, headers: &HeaderMap) -> Verdict {
        let forbidden = |why| Verdict::Refuse(StatusCode::FORBIDDEN, why);
        let mut hosts = headers.get_all(header::HOST).iter();
        let host_ok = match (hosts.next(), hosts.next()) {
            (Some(host), None) => self
                .hosts
                .iter()
                .any(|ours| ours.as_bytes().eq_ignore_ascii_case(host.as_bytes())),
            _ => false,
        };
        if !host_ok {
            return forbidden("this helper answers http://127.0.0.1:PORT/card only");
        }
        let allowed = match path {
            CARD_PATH => Method::GET,
            WATCH_PATH => Method::POST,
            _ => return Verdict::Refuse(StatusCode::NOT_FOUND, "no such path: ask for /card"),
        };
        if method != allowed && method != Method::OPTIONS {
            return Verdict::Refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                if path == CARD_PATH {
                    "use GET"
                } else {
                    "use POST"
                },
            );
        }
        let mut origins = headers.get_all(header::ORIGIN).iter();
        match (origins.next(), origins.next()) {
            (Some(origin), None) if origin.as_bytes() == self.origin.as_str().as_bytes() => {}
            (None, _) if self.allow_no_origin => {}
            (None, _) => {
                return forbidden(
                    "a request without an Origin header (start the helper with --allow-no-origin to answer one)",
                )
            }
            _ => return forbidden("this helper answers its gateway's login page only"),
        }
        if method == Method::OPTIONS {
            Verdict::Preflight
        } else if path == WATCH_PATH {
            Verdict::Watch
        } else {
            Verdict::Read
        }
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{value}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_as_browsers_send_them() {
        for (text, origin) in [
            ("https://gw.example:8443", "https://gw.example:8443"),
            ("HTTPS://GW.Example:8443/", "https://gw.example:8443"),
            ("https://gw.example:443", "https://gw.example"),
            ("http://gw.example:80", "http://gw.example"),
            ("http://gw.example:443", "http://gw.example:443"),
            ("https://[::1]:8443", "https://[::1]:8443"),
            ("https://[::1]", "https://[::1]"),
            ("https://10.0.0.1", "https://10.0.0.1"),
        ] {
            assert_eq!(WebOrigin::parse(text).unwrap().as_str(), origin, "{text}");
        }
        for text in [
            "gw.example",
            "ftp://gw.example",
            "https://",
            "https://gw.example/login",
            "https://gw.example?x",
            "https://user@gw.example",
            "https://gw.example:0",
            "https://gw.example:65536",
            "https://gw example",
            "https://gw.exämple",
            "null",
        ] {
            assert!(WebOrigin::parse(text).is_err(), "{text}");
        }
    }

    fn policy(allow_no_origin: bool) -> Policy {
        Policy::new(
            WebOrigin::parse("https://gw.test:8443").unwrap(),
            allow_no_origin,
            "127.0.0.1:47120".parse().unwrap(),
        )
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    /// A verdict as the status it answers with: 200 read, 202 watch, 204 preflight, else the
    /// refusal's.
    fn status(verdict: &Verdict) -> u16 {
        match verdict {
            Verdict::Read => 200,
            Verdict::Watch => 202,
            Verdict::Preflight => 204,
            Verdict::Refuse(status, _) => status.as_u16(),
        }
    }

    /// (allow requests without Origin, method, path, headers, expected status).
    type Case = (
        bool,
        Method,
        &'static str,
        Vec<(&'static str, &'static str)>,
        u16,
    );

    #[test]
    fn only_the_gateway_page_on_the_helpers_own_host_reads_cards() {
        let host = ("host", "127.0.0.1:47120");
        let origin = ("origin", "https://gw.test:8443");
        let evil = ("origin", "https://evil.example");
        let (get, options) = (Method::GET, Method::OPTIONS);
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            (false, get.clone(), "/card", vec![host, origin], 200),
            (false, get.clone(), "/card", vec![("host", "localhost:47120"), origin], 200),
            (false, get.clone(), "/card", vec![("host", "LocalHost:47120"), origin], 200),
            (false, options.clone(), "/card", vec![host, origin], 204),
            (false, get.clone(), "/card", vec![host, evil], 403),
            (false, get.clone(), "/card", vec![host, ("origin", "https://gw.test")], 403),
            (false, get.clone(), "/card", vec![host, ("origin", "http://gw.test:8443")], 403),
            (false, get.clone(), "/card", vec![host, ("origin", "null")], 403),
            (false, get.clone(), "/card", vec![host, origin, evil], 403),
            (false, options.clone(), "/card", vec![host, evil], 403),
            (false, options.clone(), "/card", vec![host], 403),
            (false, get.clone(), "/card", vec![host], 403),
            (true, get.clone(), "/card", vec![host], 200),
            (true, get.clone(), "/card", vec![host, evil], 403),
            (false, get.clone(), "/card", vec![("host", "evil.example"), origin], 403),
            (false, get.clone(), "/card", vec![("host", "evil.example:47120"), origin], 403),
            (false, get.clone(), "/card", vec![("host", "127.0.0.1:47121"), origin], 403),
            (false, get.clone(), "/card", vec![("host", "127.0.0.1"), origin], 403),
            (false, get.clone(), "/card", vec![origin], 403),
            (false, get.clone(), "/card", vec![host, host, origin], 403),
            (true, get.clone(), "/card", vec![("host", "evil.example")], 403),
            (false, get.clone(), "/", vec![host, origin], 404),
            (false, get.clone(), "/card/", vec![host, origin], 404),
            (false, Method::POST, "/card", vec![host, origin], 405),
            (false, Method::HEAD, "/card", vec![host, origin], 405),
            (false, Method::DELETE, "/card", vec![host, origin], 405),
            (false, Method::POST, "/watch", vec![host, origin], 202),
            (false, options.clone(), "/watch", vec![host, origin], 204),
            (false, Method::POST, "/watch", vec![host, evil], 403),
            (false, Method::POST, "/watch", vec![host], 403),
            (false, get.clone(), "/watch", vec![host, origin], 405),
            (false, Method::POST, "/watch", vec![("host", "evil.example"), origin], 403),
        ];
        for (allow_no_origin, method, path, pairs, expected) in cases {
            let verdict = policy(allow_no_origin).decide(&method, path, &headers(&pairs));
            assert_eq!(
                status(&verdict),
                expected,
                "{method} {path} {pairs:?} (allow_no_origin {allow_no_origin}): {verdict:?}"
            );
        }
    }

    #[test]
    fn only_loopback_addresses_are_served() {
        for ok in ["127.0.0.1:47120", "127.0.0.2:1", "[::1]:47120"] {
            assert!(ensure_loopback(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for refused in ["0.0.0.0:47120", "192.168.1.2:47120", "[::]:47120"] {
            assert!(
                matches!(
                    ensure_loopback(refused.parse().unwrap()),
                    Err(CardHelperError::NotLoopback(_))
                ),
                "{refused}"
            );
        }
    }
}
