//! The console's products and devices: list and create products (the ProductCert bundle is
//! downloaded once, never stored), enable and disable products and devices. The same registry
//! services as `inkan product` and `/v1/products`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use inkan_authority::{Authority, PageCursor, ProductParams};
use inkan_store::{DeviceStatus, ProductStatus};
use serde::Deserialize;

use super::export::{self, Format, Table};
use super::pages::{self, render, DeviceRow, ProductRow};
use super::{form_session, html, query, see, session_of, FormatQuery, Refused};
use crate::PeerCertificates;

/// Devices per page of a product.
const DEVICE_ROWS: usize = 50;

pub(super) async fn products(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    asked: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let format = Format::parse(query(asked)?.format.as_deref())?;
    let mut rows = Vec::new();
    for product in authority.registry().products().await? {
        let devices = authority.registry().count_devices(&product.id).await?;
        rows.push(ProductRow::new(&product, devices));
    }
    if format != Format::Html {
        let table = Table {
            name: "products",
            columns: &[
                "id",
                "name",
                "status",
                "devices",
                "max_devices",
                "psk",
                "product_cert_serial",
                "created_at",
            ],
            rows: rows
                .iter()
                .map(|p| {
                    vec![
                        p.id.clone(),
                        p.name.clone(),
                        p.status.clone(),
                        p.devices.to_string(),
                        p.max_devices.map(|m| m.to_string()).unwrap_or_default(),
                        p.psk.to_string(),
                        p.cert_serial.clone().unwrap_or_default(),
                        p.created_at.clone(),
                    ]
                })
                .collect(),
        };
        return Ok(export::download(format, &table, None));
    }
    let page = pages::Products {
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice: None,
        products: rows,
    };
    Ok(html(StatusCode::OK, render(&page)))
}

#[derive(Deserialize)]
pub(super) struct NewProductForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    max_devices: String,
    #[serde(default)]
    validity_days: String,
    psk: Option<String>,
}

fn bad(why: &str) -> Refused {
    Refused::Failed(StatusCode::BAD_REQUEST, why.to_string())
}

/// Creates a product and answers with its bundle as a download: the ProductCert chain, its key
/// and (with PSK) the group key, once.
pub(super) async fn create(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<NewProductForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let max_devices = match form.max_devices.trim() {
        "" => None,
        n => Some(
            n.parse::<i64>()
                .map_err(|_| bad("most devices: a whole number, or empty for no limit"))?,
        ),
    };
    let days: u64 = match form.validity_days.trim() {
        "" => 365,
        n => n
            .parse()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or_else(|| bad("DeviceCert validity: 1 to 3650 days"))?,
    };
    let actor = session.audit_actor();
    let created = authority
        .create_product(
            ProductParams {
                name: form.name.trim().to_string(),
                max_devices,
                device_validity: Duration::from_secs(days * 86_400),
                attributes: Vec::new(),
                pkcs12_passphrase: None,
                psk: form.psk.is_some(),
            },
            &actor,
        )
        .await
        .map_err(|e| match e {
            inkan_authority::AuthorityError::Rejected(r) => bad(&r.to_string()),
            inkan_authority::AuthorityError::Invalid(why) => bad(&why),
            other => Refused::from(other),
        })?;
    let mut bundle = format!(
        "# inkan product {} ({}): ProductCert, issuing CA, key. Shown once; keep it on the production line only.\n",
        created.product.name, created.product.id
    );
    if let Some(psk) = &created.psk_group_key {
        bundle.push_str(&format!("# PSK group key: {psk}\n"));
    }
    bundle.push_str(&created.chain_pem);
    bundle.push_str(&created.key_pem);
    let filename = format!("product-{}.pem", created.product.id);
    Ok((
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/x-pem-file".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bundle,
    )
        .into_response())
}

#[derive(Deserialize, Default)]
pub(super) struct DevicePageQuery {
    after: Option<String>,
    format: Option<String>,
}

pub(super) async fn product(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    Path(id): Path<String>,
    asked: Result<Query<DevicePageQuery>, QueryRejection>,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let asked = query(asked)?;
    let format = Format::parse(asked.format.as_deref())?;
    let registry = authority.registry();
    let found = registry
        .product(&id)
        .await?
        .ok_or_else(|| Refused::Failed(StatusCode::NOT_FOUND, format!("no product {id}")))?;
    let after: Option<PageCursor> = match asked.after {
        Some(text) => Some(
            text.parse()
                .map_err(|_| bad("after: a cursor from the previous page"))?,
        ),
        None => None,
    };
    let rows = match format {
        Format::Html => DEVICE_ROWS,
        _ => super::certificates::EXPORT_ROWS.0 as usize,
    };
    let devices = registry
        .device_page(Some(&found.id), after.as_ref(), rows)
        .await?;
    if format != Format::Html {
        let table = Table {
            name: "devices",
            columns: &["id", "status", "created_at", "last_seen"],
            rows: devices
                .devices
                .iter()
                .map(DeviceRow::from)
                .map(|d| vec![d.id, d.status, d.created_at, d.last_seen])
                .collect(),
        };
        let next = devices.next.map(|c| {
            format!(
                "/console/products/{}?format={}&after={}",
                found.id,
                asked.format.as_deref().unwrap_or_default(),
                super::certificates::urlencoding(&c.to_string())
            )
        });
        return Ok(export::download(format, &table, next));
    }
    let count = registry.count_devices(&found.id).await?;
    let page = pages::Product {
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice: None,
        product: ProductRow::new(&found, count),
        devices: devices.devices.iter().map(DeviceRow::from).collect(),
        next: devices.next.map(|c| c.to_string()),
    };
    Ok(html(StatusCode::OK, render(&page)))
}

#[derive(Deserialize)]
pub(super) struct StatusForm {
    #[serde(default)]
    csrf: String,
    status: String,
    #[serde(default)]
    product: String,
}

pub(super) async fn set_product_status(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let status = match form.status.as_str() {
        "active" => ProductStatus::Active,
        "disabled" => ProductStatus::Disabled,
        _ => return Err(bad("status: active or disabled")),
    };
    let actor = session.audit_actor();
    let (product, _) = authority
        .registry()
        .set_product_status(&id, status, &actor)
        .await?
        .ok_or_else(|| Refused::Failed(StatusCode::NOT_FOUND, format!("no product {id}")))?;
    Ok(see(&format!("/console/products/{}", product.id)))
}

pub(super) async fn set_device_status(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, Refused> {
    let session = form_session(&authority, &headers, &peer, &uri, &form.csrf).await?;
    let status = match form.status.as_str() {
        "active" => DeviceStatus::Active,
        "disabled" => DeviceStatus::Disabled,
        _ => return Err(bad("status: active or disabled")),
    };
    let actor = session.audit_actor();
    let (device, _) = authority
        .registry()
        .set_device_status(&id, status, &actor)
        .await?
        .ok_or_else(|| Refused::Failed(StatusCode::NOT_FOUND, format!("no device {id}")))?;
    let back = if form.product == device.product_id {
        format!("/console/products/{}", device.product_id)
    } else {
        "/console/products".to_string()
    };
    Ok(see(&back))
}
