//! Card + PIN login at the gateway (docs/cards.md): the login page and its form under
//! [`PREFIX`], sessions per segment in a cookie, lockout alerts. The checks themselves are the
//! segment's ([`inkan_authority::Segments::login`]), on the segment's own store.

mod alerts;
mod pages;
mod sessions;

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use base64::Engine;
use inkan_attest::card_pin::CardData;
use inkan_authority::{CardLoginAttempt, CardLoginError, Segments};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::identity::{CardIdentity, ClientIdentity};
use crate::routes::{find, Route};
use crate::{AuthMethod, CardsConfig};
pub(crate) use sessions::{SessionLimits, Sessions};

/// The gateway's own paths: the login page, its script, the form, logout.
pub(crate) const PREFIX: &str = "/_inkan/card/";

/// The login form's token cookie.
const FORM_COOKIE: &str = "inkan_card_form";

/// Largest login form accepted.
const MAX_FORM: usize = 8 * 1024;

/// Card logins of a gateway: the segments' store, the sessions, the settings.
pub struct CardLogins {
    segments: Segments,
    pub(crate) sessions: Sessions,
    config: CardsConfig,
}

impl CardLogins {
    /// Card logins checked by `segments` (opened on `config.data_dir`).
    pub fn new(segments: Segments, config: CardsConfig) -> Self {
        Self {
            sessions: Sessions::new(SessionLimits {
                idle: config.session_idle,
                lifetime: config.session_lifetime,
                presence: config.card_presence.then_some(config.presence_timeout),
            }),
            segments,
            config,
        }
    }
}

/// The session cookie of a segment.
pub(crate) fn cookie_name(segment: &str) -> String {
    format!("inkan_card_{segment}")
}

/// A cookie's value among the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The answer to a request without a session on a card route: the login page for a page
/// load, 401 for anything else.
pub(crate) fn login_needed(method: &Method, path_and_query: &str) -> Response {
    if *method != Method::GET && *method != Method::HEAD {
        return (
            StatusCode::UNAUTHORIZED,
            "this route needs a card login: open it in a browser\n",
        )
            .into_response();
    }
    let next = form_urlencoded_component(path_and_query);
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("{PREFIX}login?next={next}"))],
    )
        .into_response()
}

fn form_urlencoded_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn random_token() -> Option<String> {
    let mut bytes = [0u8; 24];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Headers of the gateway's own pages: no caching, no framing, scripts from itself only, and
/// fetches to the helper.
fn page_headers(helper: &str) -> [(header::HeaderName, String); 4] {
    [
        (header::CONTENT_TYPE, "text/html; charset=utf-8".into()),
        (header::CACHE_CONTROL, "no-store".into()),
        (
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src {helper}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            ),
        ),
        (header::X_FRAME_OPTIONS, "DENY".into()),
    ]
}

/// The login form.
#[derive(Deserialize)]
struct LoginForm {
    form: String,
    next: String,
    segment: String,
    idm: String,
    #[serde(default)]
    pmm: String,
    #[serde(default)]
    system_code: String,
    #[serde(default)]
    pin: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// A card route for `path` on `host`: its segment and level.
fn card_route<'a>(routes: &'a [Route], host: &str, path: &str) -> Option<&'a Route> {
    find(routes, host, path).filter(|r| r.config.auth.contains(&AuthMethod::Card))
}

/// `next` if it is a path on this gateway (never another site).
fn local_path(next: &str) -> Option<&str> {
    (next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && next.len() <= 2048)
        .then_some(next)
}

impl CardLogins {
    /// Answers a request under [`PREFIX`].
    pub(crate) async fn handle(
        &self,
        gw: &crate::Gateway,
        routes: &[Route],
        host: &str,
        client: IpAddr,
        request: Request<Body>,
    ) -> Response {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        match (method, path.strip_prefix(PREFIX).unwrap_or("")) {
            (Method::GET, "login.js") => (
                [
                    (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                pages::LOGIN_JS,
            )
                .into_response(),
            (Method::GET, "login") => {
                let next = query_value(request.uri().query(), "next").unwrap_or_else(|| "/".into());
                self.page(routes, host, &next, None, StatusCode::OK)
            }
            (Method::GET, "bound.js") => (
                [
                    (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                pages::BOUND_JS,
            )
                .into_response(),
            (Method::POST, "login") => self.login(gw, routes, host, client, request).await,
            (Method::POST, "presence") => self.presence(request).await,
            (Method::POST, "logout") => self.logout(routes, host, request).await,
            (_, "login" | "logout" | "login.js" | "bound.js" | "presence") => {
                (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response()
            }
            _ => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        }
    }

    fn page(
        &self,
        routes: &[Route],
        host: &str,
        next: &str,
        problem: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let Some(next) = local_path(next) else {
            return (
                StatusCode::BAD_REQUEST,
                "next must be a path on this site\n",
            )
                .into_response();
        };
        let path = next.split('?').next().unwrap_or("/");
        let Some(route) = card_route(routes, host, path) else {
            return (StatusCode::NOT_FOUND, "no card route here\n").into_response();
        };
        let Some(token) = random_token() else {
            return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness\n").into_response();
        };
        let html = pages::LoginPage {
            segment: route.config.segment.as_deref().unwrap_or(""),
            level: route.config.min_level.unwrap_or(2),
            next,
            form_token: &token,
            helper: &self.config.helper,
            problem,
        }
        .render();
        let mut response = (status, page_headers(&self.config.helper), html).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{FORM_COOKIE}={token}; Path={PREFIX}; Secure; HttpOnly; SameSite=Strict; Max-Age=1800"
        )) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    }

    async fn login(
        &self,
        gw: &crate::Gateway,
        routes: &[Route],
        host: &str,
        client: IpAddr,
        request: Request<Body>,
    ) -> Response {
        let expected = cookie(request.headers(), FORM_COOKIE).map(str::to_string);
        let (parts, body) = request.into_parts();
        let limited = Body::new(http_body_util::Limited::new(body, MAX_FORM));
        let request = Request::from_parts(parts, limited);
        let Ok(Form(form)) = Form::<LoginForm>::from_request(request, &()).await else {
            return (
                StatusCode::BAD_REQUEST,
                "the login form is malformed or too large\n",
            )
                .into_response();
        };
        let Some(next) = local_path(&form.next) else {
            return (
                StatusCode::BAD_REQUEST,
                "next must be a path on this site\n",
            )
                .into_response();
        };
        let path = next.split('?').next().unwrap_or("/");
        let Some(route) = card_route(routes, host, path) else {
            return (StatusCode::NOT_FOUND, "no card route here\n").into_response();
        };
        let segment = route.config.segment.clone().unwrap_or_default();
        let same_form =
            expected.is_some_and(|e| bool::from(e.as_bytes().ct_eq(form.form.as_bytes())));
        if !same_form || form.segment != segment {
            return self.page(
                routes,
                host,
                next,
                Some("This form has expired: log in again."),
                StatusCode::FORBIDDEN,
            );
        }
        let system_code = if form.system_code.is_empty() {
            "0003"
        } else {
            &form.system_code
        };
        let pmm = (!form.pmm.trim().is_empty()).then_some(form.pmm.as_str());
        let card = match CardData::parse(system_code, &form.idm, pmm) {
            Ok(card) => card,
            Err(e) => {
                return self.page(
                    routes,
                    host,
                    next,
                    Some(&format!(
                        "The card was not read: {e}. Touch it on the reader again."
                    )),
                    StatusCode::BAD_REQUEST,
                )
            }
        };
        let blank = |v: Option<String>| v.filter(|s| !s.is_empty());
        let pin = blank(form.pin);
        let password = match (blank(form.user), blank(form.password)) {
            (Some(user), Some(password)) => Some((user, password)),
            _ => None,
        };
        let attempt = CardLoginAttempt {
            segment: segment.clone(),
            card,
            pin,
            password,
            address: client,
        };
        let session = match self.segments.login(&attempt).await {
            Ok(session) => session,
            Err(CardLoginError::Refused { reason, alerts }) => {
                tracing::info!(target: "inkan::cards", segment, %client, reason, "card login refused");
                for alert in alerts {
                    if alert.event == "card.locked" {
                        self.sessions.end_card(&alert.segment, &alert.idm);
                    }
                    alerts::raise(&gw.client, self.config.alert_webhook.as_deref(), alert);
                }
                return self.page(
                    routes,
                    host,
                    next,
                    Some("The card, PIN or password is not accepted."),
                    StatusCode::UNAUTHORIZED,
                );
            }
            Err(CardLoginError::Locked) => {
                return self.page(
                    routes,
                    host,
                    next,
                    Some("This card or this computer is locked after too many failed logins: ask the segment's administrator."),
                    StatusCode::FORBIDDEN,
                );
            }
            Err(CardLoginError::Authority(e)) => {
                tracing::error!(target: "inkan::cards", segment, error = %e, "card login failed");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "card logins are unavailable; try again later\n",
                )
                    .into_response();
            }
        };
        let min = route.config.min_level.unwrap_or(2);
        if session.level < min {
            return self.page(
                routes,
                host,
                next,
                Some("This site needs a higher level: enter the PIN (and your password)."),
                StatusCode::FORBIDDEN,
            );
        }
        let identity = Arc::new(ClientIdentity {
            serial: String::new(),
            subject: match &session.user {
                Some(user) => format!("CN={user}"),
                None => format!("CN=card:{}", session.idm),
            },
            level: Some(session.level),
            not_after: i64::MAX,
            escaped_pem: String::new(),
            device: None,
            product: None,
            linked: None,
            account: None,
            card: Some(CardIdentity {
                segment: session.segment.clone(),
                idm: session.idm.clone(),
                user: session.user.clone(),
            }),
        });
        let Some(opened) = self.sessions.open(identity) else {
            return (StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response();
        };
        let mut response = if self.sessions.bound_to_card() {
            // The page hands the presence token to the card helper, which reports the card
            // from then on, then goes on to `next`.
            let html = pages::BoundPage {
                next,
                helper: &self.config.helper,
                presence: &opened.presence,
                idm: &session.idm,
            }
            .render();
            (StatusCode::OK, page_headers(&self.config.helper), html).into_response()
        } else {
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, next.to_string())],
            )
                .into_response()
        };
        let token = opened.cookie;
        let cookies = [
            format!(
                "{}={token}; Path=/; Secure; HttpOnly; SameSite=Lax",
                cookie_name(&segment)
            ),
            format!("{FORM_COOKIE}=; Path={PREFIX}; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
        ];
        for c in cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        response
    }

    /// `POST presence` from the card helper: `token=PRESENCE&present=1|0`.
    async fn presence(&self, request: Request<Body>) -> Response {
        #[derive(Deserialize)]
        struct Report {
            token: String,
            present: u8,
        }
        let (parts, body) = request.into_parts();
        let limited = Body::new(http_body_util::Limited::new(body, 1024));
        let request = Request::from_parts(parts, limited);
        let Ok(Form(report)) = Form::<Report>::from_request(request, &()).await else {
            return (StatusCode::BAD_REQUEST, "send token=…&present=1|0\n").into_response();
        };
        if report.present > 1 {
            return (StatusCode::BAD_REQUEST, "present is 1 or 0\n").into_response();
        }
        if self
            .sessions
            .report_presence(&report.token, report.present == 1)
        {
            StatusCode::NO_CONTENT.into_response()
        } else {
            (StatusCode::NOT_FOUND, "no such session: it has ended\n").into_response()
        }
    }

    async fn logout(&self, routes: &[Route], host: &str, request: Request<Body>) -> Response {
        let next = query_value(request.uri().query(), "next").unwrap_or_else(|| "/".into());
        let Some(next) = local_path(&next) else {
            return (
                StatusCode::BAD_REQUEST,
                "next must be a path on this site\n",
            )
                .into_response();
        };
        let path = next.split('?').next().unwrap_or("/");
        let Some(route) = card_route(routes, host, path) else {
            return (StatusCode::NOT_FOUND, "no card route here\n").into_response();
        };
        let segment = route.config.segment.clone().unwrap_or_default();
        let name = cookie_name(&segment);
        if let Some(token) = cookie(request.headers(), &name) {
            self.sessions.end(token);
        }
        let mut response = (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                format!("{PREFIX}login?next={}", form_urlencoded_component(next)),
            )],
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{name}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"
        )) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    }

    /// The identity of the request's session for `route`, if it has a live one.
    pub(crate) fn session(
        &self,
        headers: &HeaderMap,
        route: &crate::RouteConfig,
    ) -> Option<Arc<ClientIdentity>> {
        let segment = route.segment.as_deref()?;
        let token = cookie(headers, &cookie_name(segment))?;
        self.sessions.find(token, segment)
    }
}

/// A query parameter's decoded value.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    let query = query?;
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query);
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}").parse().unwrap_or_default(),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}
