use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use inkan_authority::Authority;

/// Every route of the authority, with the configured request-body limit.
pub fn router(authority: Arc<Authority>) -> Router {
    let limit = authority.config().server.max_body_bytes;
    let body_timeout = authority.config().server.limits.body_timeout;
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(crate::est::routes())
        .merge(crate::revocation_routes::routes())
        .merge(crate::api::routes())
        .merge(crate::registry_api::routes())
        .merge(crate::openapi::routes())
        .merge(crate::tpm_api::routes())
        .merge(crate::tee_api::routes())
        .merge(crate::link_api::routes())
        .merge(crate::eat_api::routes())
        .merge(crate::console::routes())
        .fallback(crate::v1_errors::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            crate::body_refusal::body_limit(limit),
            inkan_http::body_limit::enforce,
        ))
        .layer(axum::middleware::from_fn_with_state(
            body_timeout,
            inkan_http::body_deadline::enforce,
        ))
        .layer(axum::middleware::from_fn(crate::v1_errors::problems))
        .with_state(authority)
}

/// The admin listener: Prometheus text at `/metrics` (see [`inkan_authority::Metrics`]), and
/// `/healthz`.
pub fn admin_router(authority: Arc<Authority>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(
                |axum::extract::State(authority): axum::extract::State<Arc<Authority>>| async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        authority.metrics_text(),
                    )
                },
            ),
        )
        .with_state(authority)
}

/// The routes of the plain-HTTP listener: CRLs, OCSP and health only.
pub fn plain_router(authority: Arc<Authority>) -> Router {
    let limit = authority.config().server.max_body_bytes;
    let body_timeout = authority.config().server.limits.body_timeout;
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(crate::revocation_routes::routes())
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            crate::body_refusal::body_limit(limit),
            inkan_http::body_limit::enforce,
        ))
        .layer(axum::middleware::from_fn_with_state(
            body_timeout,
            inkan_http::body_deadline::enforce,
        ))
        .with_state(authority)
}
