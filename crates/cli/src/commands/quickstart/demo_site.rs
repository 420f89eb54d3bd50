//! The quickstart's demo site: a plain-HTTP page on loopback, reached only through the
//! quickstart's gateway, that shows who the gateway let in (its `X-Inkan-*` headers).

use std::net::SocketAddr;

use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

/// Serves the demo page on a free loopback port until the process ends; returns its address.
pub(super) async fn spawn() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let router = axum::Router::new().fallback(get(page));
    tokio::spawn(inkan_server::serve_plain(
        listener,
        router,
        inkan_server::ConnectionLimits::default(),
        std::future::pending(),
    ));
    Ok(addr)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn page(headers: HeaderMap) -> impl IntoResponse {
    let seen = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let subject = seen("x-inkan-subject");
    let rows: String = headers
        .iter()
        .filter(|(name, _)| {
            name.as_str().starts_with("x-inkan-") && name.as_str() != "x-inkan-client-cert"
        })
        .map(|(name, value)| {
            format!(
                "<tr><th scope=\"row\">{}</th><td><code>{}</code></td></tr>\n",
                escape(name.as_str()),
                escape(value.to_str().unwrap_or("(not text)"))
            )
        })
        .collect();
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>inkan demo site</title></head>\n\
         <body><h1>Hello, {}</h1>\n\
         <p>This page sits behind <code>inkan gateway</code>. It has no login of its own: the gateway let this \
         request through because it came with an unrevoked certificate from your authority, and told \
         the page who it is in these headers:</p>\n<table>\n{rows}</table>\n</body></html>\n",
        escape(if subject.is_empty() { "(no certificate)" } else { &subject })
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body)
}
