//! The accept loop: TLS (or plain TCP), HTTP/1.1 and HTTP/2, every limit of [`ConnectionLimits`],
//! and a graceful drain on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::activity::{Activity, Watched};
use crate::log_limit::LogLimit;
use crate::{ConnectionLimits, PeerCertificates};

const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then stops accepting and
/// waits (at most 10 s) for open requests to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    accept_loop(
        listener,
        Some(TlsAcceptor::from(tls)),
        router,
        limits,
        shutdown,
    )
    .await
}

/// Serves `router` over plain HTTP (no TLS) until `shutdown` resolves: for CRL and OCSP, which
/// relying parties fetch over HTTP, and for admin listeners.
pub async fn serve_plain(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    accept_loop(listener, None, router, limits, shutdown).await
}

struct Shared {
    acceptor: Option<TlsAcceptor>,
    router: Router,
    builder: Builder<TokioExecutor>,
    limits: ConnectionLimits,
    handshake_failures: LogLimit,
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let shared = Arc::new(Shared {
        acceptor,
        router,
        builder: http_builder(&limits),
        handshake_failures: LogLimit::every(Duration::from_secs(10)),
        limits,
    });
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections));
    let at_capacity = LogLimit::every(Duration::from_secs(10));
    let accept_failures = LogLimit::every(Duration::from_secs(10));
    let local = listener.local_addr()?;
    tokio::pin!(shutdown);
    loop {
        // Back-pressure: take a connection slot before accepting, so at the limit new clients
        // wait in the kernel's backlog instead of costing a descriptor each.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if at_capacity.allow() {
                    tracing::warn!(
                        listener = %local,
                        max_connections = shared.limits.max_connections,
                        "connection limit reached; not accepting until a connection closes"
                    );
                }
                tokio::select! {
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: say so (rate-limited), breathe,
                    // and keep serving once descriptors are free again.
                    if accept_failures.allow() {
                        tracing::warn!(listener = %local, error = %e, "accept failed; retrying");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(handle(
            tcp,
            peer,
            permit,
            shared.clone(),
            graceful.watcher(),
        ));
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("connections still open after the drain timeout; closing them");
        }
    }
    Ok(())
}

/// One accepted connection, from the handshake to its close; the slot is freed on return.
async fn handle(
    tcp: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    watcher: Watcher,
) {
    let activity = Activity::new();
    let io = Watched::new(tcp, activity.clone());
    let Some(acceptor) = shared.acceptor.clone() else {
        let peer_certs = PeerCertificates::default();
        return serve_connection(io, peer, peer_certs, activity, &shared, watcher).await;
    };
    let handshake = tokio::time::timeout(shared.limits.handshake_timeout, acceptor.accept(io));
    let tls = match handshake.await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            if shared.handshake_failures.allow() {
                tracing::info!(
                    %peer,
                    timeout = ?shared.limits.handshake_timeout,
                    "TLS handshake timed out; closing (further ones are counted, not logged, for 10 s)"
                );
            }
            return;
        }
    };
    let peer_certs = PeerCertificates(Arc::new(
        tls.get_ref()
            .1
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.to_vec()).collect())
            .unwrap_or_default(),
    ));
    serve_connection(tls, peer, peer_certs, activity, &shared, watcher).await;
}

/// Serves HTTP/1.1 or HTTP/2 on one connection until it ends or has been idle too long; every
/// request carries the connection's peer certificates and address as extensions.
async fn serve_connection<IO>(
    io: IO,
    peer: SocketAddr,
    peer_certs: PeerCertificates,
    activity: Arc<Activity>,
    shared: &Shared,
    watcher: Watcher,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let router = shared.router.clone();
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let in_flight = requests.request();
        req.extensions_mut().insert(peer_certs.clone());
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = router.oneshot(req).await.unwrap_or_else(|e| match e {});
            drop(in_flight);
            Ok::<_, Infallible>(response)
        }
    });
    let conn = shared
        .builder
        .serve_connection(TokioIo::new(io), service)
        .into_owned();
    let conn = watcher.watch(conn);
    tokio::pin!(conn);
    let idle_timeout = shared.limits.idle_timeout;
    loop {
        let idle = activity.idle_for();
        if idle >= idle_timeout {
            tracing::debug!(%peer, ?idle, "closing an idle connection");
            return;
        }
        tokio::select! {
            result = &mut conn => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep(idle_timeout - idle) => {}
        }
    }
}

/// HTTP/1.1 and HTTP/2 settings from the limits.
fn http_builder(limits: &ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(limits.h2_max_pending_reset_streams)
        .max_local_error_reset_streams(limits.h2_max_pending_reset_streams);
    builder
}
