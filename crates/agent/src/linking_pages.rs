//! Local web pages for linking, served on 127.0.0.1 (server-rendered HTML, no JavaScript): the
//! new device's link page (its QR code, link token and confirmation code) and the anchor's
//! approval page (the logins waiting for it, each with an Approve button that signs with the
//! anchor's key, as `inkan agent approve ID` does).
//!
//! The approval page acts with the anchor's key, so it answers only a browser that names the
//! page's own address as Host (a DNS-rebinding page cannot), refuses a cross-site Origin, and
//! every form carries the page's CSRF token, compared in constant time. Bodies are bounded and
//! form fields parsed strictly.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::RngCore;
use tokio::net::TcpListener;

use crate::linking::{self, AnchorSigner, LinkCode, Session};
use crate::AgentError;

/// The largest form body the approval page reads.
const MAX_FORM: usize = 4 * 1024;

/// How the anchor reaches the authority: a fresh mTLS connection per page action.
pub struct AnchorConnection {
    /// The authority, https://HOST:PORT.
    pub authority: String,
    /// Roots for its TLS certificate.
    pub roots: Vec<Vec<u8>>,
    /// The anchor's client TLS configuration (its certificate and key).
    pub tls: Arc<rustls::ClientConfig>,
}

impl AnchorConnection {
    async fn session(&self) -> Result<Session, AgentError> {
        Session::connect(&self.authority, &self.roots, Some(self.tls.clone())).await
    }
}

/// What a page server shows.
pub enum Page {
    /// A new device's link code.
    Link(LinkCode),
    /// The anchor's waiting logins.
    Approval {
        /// The authority connection.
        anchor: AnchorConnection,
        /// The anchor's key.
        signer: Box<dyn AnchorSigner>,
    },
}

struct Served {
    page: Page,
    /// `127.0.0.1:PORT`: the only Host the pages answer.
    host: String,
    csrf: String,
}

/// Serves `page` on `listener` (HTTP/1.1) until `shutdown` completes.
pub async fn serve_page(
    listener: TcpListener,
    page: Page,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let address = listener
        .local_addr()
        .map_err(|e| AgentError::Protocol(format!("the page's listener: {e}")))?;
    let mut token = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut token);
    let served = Arc::new(Served {
        page,
        host: address.to_string(),
        csrf: hex::encode(token),
    });
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let served = served.clone();
                let service = hyper::service::service_fn(move |request| {
                    let served = served.clone();
                    async move { Ok::<_, Infallible>(served.answer(request).await) }
                });
                tokio::spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(tcp), service);
                    if let Err(e) = connection.await {
                        tracing::debug!("page connection: {e}");
                    }
                });
            }
            () = &mut shutdown => return Ok(()),
        }
    }
}

impl Served {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let host_ok = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h == self.host);
        if !host_ok {
            return plain(
                StatusCode::MISDIRECTED_REQUEST,
                &format!("this page answers http://{}/ only", self.host),
            );
        }
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or_default().to_string();
        match (&self.page, request.method(), path.as_str()) {
            (Page::Link(code), &Method::GET, "/") => html(StatusCode::OK, &link_page(code)),
            (Page::Approval { anchor, .. }, &Method::GET, "/") => {
                let notice = field(&query, "approved")
                    .map(|serial| format!("Approved: certificate {serial}."));
                self.approval_page(anchor, notice.as_deref(), StatusCode::OK)
                    .await
            }
            (Page::Approval { anchor, signer }, &Method::POST, "/approve") => {
                match self.approve(anchor, &**signer, request).await {
                    Ok(serial) => redirect(&format!("/?approved={serial}")),
                    Err((status, message)) => {
                        self.approval_page(anchor, Some(&message), status).await
                    }
                }
            }
            (_, &Method::GET, _) => plain(StatusCode::NOT_FOUND, "no such page"),
            _ => plain(StatusCode::METHOD_NOT_ALLOWED, "not allowed"),
        }
    }

    async fn approval_page(
        &self,
        anchor: &AnchorConnection,
        notice: Option<&str>,
        status: StatusCode,
    ) -> Response<Full<Bytes>> {
        let waiting = match anchor.session().await {
            Ok(mut session) => linking::pending(&mut session).await,
            Err(e) => Err(e),
        };
        match waiting {
            Ok(logins) => html(status, &approval_page(&logins, &self.csrf, notice)),
            Err(e) => html(
                StatusCode::BAD_GATEWAY,
                &approval_page(&[], &self.csrf, Some(&format!("The authority: {e}"))),
            ),
        }
    }

    /// Checks the form and approves its login; the certificate's serial, or (status, why).
    async fn approve(
        &self,
        anchor: &AnchorConnection,
        signer: &dyn AnchorSigner,
        request: Request<Incoming>,
    ) -> Result<String, (StatusCode, String)> {
        let forbidden = |why: &str| (StatusCode::FORBIDDEN, why.to_string());
        let origin_ok = request
            .headers()
            .get(header::ORIGIN)
            .is_none_or(|o| o.as_bytes() == format!("http://{}", self.host).as_bytes());
        if !origin_ok {
            return Err(forbidden("a form from another site"));
        }
        let body = Limited::new(request.into_body(), MAX_FORM)
            .collect()
            .await
            .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large".to_string()))?
            .to_bytes();
        let form = std::str::from_utf8(&body).map_err(|_| forbidden("a form that is not text"))?;
        let csrf = field(form, "csrf").unwrap_or_default();
        let same: bool =
            subtle::ConstantTimeEq::ct_eq(csrf.as_bytes(), self.csrf.as_bytes()).into();
        if !same {
            return Err(forbidden(
                "the form's token is not this page's: reload the page",
            ));
        }
        let id = field(form, "id")
            .ok_or_else(|| (StatusCode::BAD_REQUEST, "which login?".to_string()))?;
        let failed = |e: AgentError| {
            let status = match &e {
                AgentError::Status { status, .. } => {
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
                }
                _ => StatusCode::BAD_GATEWAY,
            };
            (status, e.to_string())
        };
        let mut session = anchor.session().await.map_err(failed)?;
        let waiting = linking::pending(&mut session).await.map_err(failed)?;
        let login = waiting
            .iter()
            .find(|l| l["id"].as_str() == Some(id))
            .ok_or_else(|| {
                (
                    StatusCode::NOT_FOUND,
                    format!("login {id} no longer waits for this anchor"),
                )
            })?;
        let issued = linking::approve(&mut session, signer, login)
            .await
            .map_err(failed)?;
        Ok(issued["serial"].as_str().unwrap_or_default().to_string())
    }
}

/// The value of `name` in an `a=b&c=d` string; values are letters, digits and '-' only (the
/// ids and tokens these pages use), anything else is no value.
fn field<'a>(form: &'a str, name: &str) -> Option<&'a str> {
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}\
         .code{{font-size:2.5rem;letter-spacing:.3rem;font-family:monospace}}\
         table{{border-collapse:collapse;width:100%}}td,th{{text-align:left;padding:.4rem;border-bottom:1px solid #ccc}}\
         .notice{{padding:.6rem;background:#eef;border:1px solid #99c}}\
         button{{font-size:1rem;padding:.3rem 1rem}}svg{{width:16rem;height:16rem}}\
         </style></head><body>{body}</body></html>\n",
        title = escape(title),
    )
}

fn link_page(code: &LinkCode) -> String {
    let qr = code
        .svg_qr()
        .unwrap_or_else(|e| format!("<p>{}</p>", escape(&e.to_string())));
    document(
        "Link this device",
        &format!(
            "<h1>Link this device</h1>\
             <p>On your phone (the account's anchor), scan this code, or run\
             <code>inkan agent link confirm {uri} --code {code}</code>.</p>\
             <figure>{qr}<figcaption>{uri}</figcaption></figure>\
             <p>Confirm only if your phone shows the same code:</p>\
             <p class=\"code\" aria-label=\"confirmation code\">{code}</p>\
             <p>Registration <code>{registration}</code>; the link code works once, until {expires}.</p>",
            uri = escape(&code.uri()),
            code = escape(&code.code),
            registration = escape(&code.registration),
            expires = escape(&code.expires_at),
        ),
    )
}

fn approval_page(logins: &[serde_json::Value], csrf: &str, notice: Option<&str>) -> String {
    let mut body = String::from("<h1>Logins waiting for this phone</h1>");
    if let Some(notice) = notice {
        body.push_str(&format!(
            "<p class=\"notice\" role=\"status\">{}</p>",
            escape(notice)
        ));
    }
    if logins.is_empty() {
        body.push_str("<p>Nothing waits. Reload when a device asks to log in.</p>");
    } else {
        body.push_str(
            "<table><thead><tr><th>Device</th><th>Request</th><th>Until</th><th></th></tr></thead><tbody>",
        );
        for login in logins {
            let get = |name: &str| escape(login[name].as_str().unwrap_or_default());
            let request = get("request_sha256");
            body.push_str(&format!(
                "<tr><td>{device}</td><td><code>{short}</code></td><td>{until}</td><td>\
                 <form method=\"post\" action=\"/approve\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"id\" value=\"{id}\">\
                 <button type=\"submit\" aria-label=\"Approve login {id}\">Approve</button>\
                 </form></td></tr>",
                device = get("registration"),
                short = request.get(..16).unwrap_or(&request),
                until = get("expires_at"),
                id = get("id"),
                csrf = escape(csrf),
            ));
        }
        body.push_str("</tbody></table>");
        body.push_str(
            "<p>Approve only a login you started: the device shows the same request hash.</p>",
        );
    }
    document("Approve logins", &body)
}

fn with_headers(
    mut response: Response<Full<Bytes>>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn html(status: StatusCode, page: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(page.to_string())));
    *response.status_mut() = status;
    with_headers(response, "text/html; charset=utf-8")
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    with_headers(response, "text/plain; charset=utf-8")
}

fn redirect(location: &str) -> Response<Full<Bytes>> {
    let mut response = plain(StatusCode::SEE_OTHER, "approved");
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_parsed_strictly() {
        assert_eq!(field("csrf=ab12&id=login-01", "id"), Some("login-01"));
        assert_eq!(field("csrf=ab12&id=login-01", "csrf"), Some("ab12"));
        assert_eq!(field("id=login%2001", "id"), None, "no escapes");
        assert_eq!(field("id=<script>", "id"), None);
        assert_eq!(field("id=", "id"), None);
        assert_eq!(field("ids=x", "id"), None);
    }

    #[test]
    fn page_text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let logins = [serde_json::json!({
            "id": "login-1", "registration": "<b>ld</b>", "request_sha256": "00ff", "expires_at": "soon"
        })];
        let page = approval_page(&logins, "tok", None);
        assert!(page.contains("&lt;b&gt;ld&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>ld"), "{page}");
        assert!(page.contains("name=\"csrf\" value=\"tok\""));
    }
}
