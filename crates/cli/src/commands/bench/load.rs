//! The shared load loop: N workers, each on its own connection (or a new connection per
//! request), taking request numbers from one counter until `count` are sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indicatif::ProgressBar;
use inkan_client::{HttpConnection, HttpTarget};

/// What one load run measured.
pub struct LoadResult {
    /// Latencies of the successful requests, sorted.
    pub latencies: Vec<Duration>,
    /// Failed requests.
    pub errors: usize,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl LoadResult {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// One request shape: method, path, headers and the bodies to cycle through.
pub struct RequestShape {
    pub method: http::Method,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub bodies: Vec<Bytes>,
}

/// Runs the load. With `keepalive` false every request gets a fresh connection (a full TLS
/// handshake for https targets) and asks the server to close it.
pub async fn run(
    target: &HttpTarget,
    tls: Arc<rustls::ClientConfig>,
    shape: RequestShape,
    concurrency: usize,
    count: usize,
    keepalive: bool,
    bar: ProgressBar,
) -> LoadResult {
    let mut shape = shape;
    if !keepalive {
        shape.headers.push(("connection", "close".into()));
    }
    if shape.bodies.is_empty() {
        shape.bodies.push(Bytes::new());
    }
    let shape = Arc::new(shape);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (target, tls, shape, next, bar) = (
            target.clone(),
            tls.clone(),
            shape.clone(),
            next.clone(),
            bar.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            let mut conn: Option<HttpConnection> = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                if conn.is_none() || !keepalive {
                    match HttpConnection::connect(&target, tls.clone()).await {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e.to_string());
                            bar.inc(1);
                            continue;
                        }
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                let body = shape.bodies[i % shape.bodies.len()].clone();
                let mut sent = c
                    .send(
                        shape.method.clone(),
                        &shape.path,
                        &shape.headers,
                        body.clone(),
                    )
                    .await;
                // A server may close an idle keep-alive connection (nginx does after
                // keepalive_requests): reconnect and send again once, as HTTP clients do.
                if matches!(&sent, Err(e) if e.to_string().contains("connection closed")) {
                    if let Ok(mut fresh) = HttpConnection::connect(&target, tls.clone()).await {
                        sent = fresh
                            .send(shape.method.clone(), &shape.path, &shape.headers, body)
                            .await;
                        conn = Some(fresh);
                    }
                }
                match sent {
                    Ok((s, _, _)) if s.is_success() => latencies.push(t.elapsed()),
                    Ok((s, _, b)) => {
                        errors += 1;
                        first_error.get_or_insert(format!(
                            "HTTP {s}: {}",
                            String::from_utf8_lossy(&b).trim()
                        ));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e.to_string());
                        conn = None;
                    }
                }
                bar.inc(1);
            }
            (latencies, errors, first_error)
        }));
    }
    let mut result = LoadResult {
        latencies: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        if let Ok((l, e, f)) = task.await {
            result.latencies.extend(l);
            result.errors += e;
            if result.first_error.is_none() {
                result.first_error = f;
            }
        }
    }
    result.elapsed = started.elapsed();
    bar.finish_and_clear();
    result.latencies.sort();
    result
}
