//! The registry service: products, devices and PSK registration, over the store alone (no CA
//! key), so the CLI, the `/v1` handlers and the console call the same function per operation.

use std::sync::Arc;

use inkan_attest::derive_device_key;
use inkan_store::{
    DeviceCertificate, DeviceRecord, DeviceStatus, ProductRecord, ProductStatus, Store,
};
use rand::RngCore;
use time::OffsetDateTime;

use crate::device_page::{DevicePage, PageCursor};
use crate::{unix_ms, AuthorityError, Rejection};

/// Products and devices. Cheap to clone; needs only the store.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    clock: fn() -> OffsetDateTime,
}

impl Registry {
    /// The registry over `store`, on the system clock.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_clock(store, OffsetDateTime::now_utc)
    }

    /// The registry over `store`, on another clock.
    pub fn with_clock(store: Arc<dyn Store>, clock: fn() -> OffsetDateTime) -> Self {
        Self { store, clock }
    }

    fn now_ms(&self) -> i64 {
        unix_ms((self.clock)())
    }

    /// A product by id or name.
    pub async fn product(&self, id_or_name: &str) -> Result<Option<ProductRecord>, AuthorityError> {
        Ok(self.store.product(id_or_name).await?)
    }

    /// The product whose ProductCert has this serial.
    pub async fn product_by_cert(
        &self,
        serial: &str,
    ) -> Result<Option<ProductRecord>, AuthorityError> {
        Ok(self.store.product_by_cert(serial).await?)
    }

    /// All products, oldest first.
    pub async fn products(&self) -> Result<Vec<ProductRecord>, AuthorityError> {
        Ok(self.store.products().await?)
    }

    /// How many devices a product has.
    pub async fn count_devices(&self, product_id: &str) -> Result<i64, AuthorityError> {
        Ok(self.store.count_devices(product_id).await?)
    }

    /// One page of devices, newest first, optionally of one product: at most `limit` (at
    /// least one) after `after`, and the cursor of the next page unless this is the last.
    pub async fn device_page(
        &self,
        product_id: Option<&str>,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<DevicePage, AuthorityError> {
        let limit = limit.max(1);
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let devices = self
            .store
            .devices(product_id, after.map(PageCursor::position), fetch)
            .await?;
        Ok(DevicePage::from_overfetch(devices, limit))
    }

    /// One device by id.
    pub async fn device(&self, id: &str) -> Result<Option<DeviceRecord>, AuthorityError> {
        Ok(self.store.device(id).await?)
    }

    /// The certificates a device received, newest first.
    pub async fn device_certificates(
        &self,
        device_id: &str,
    ) -> Result<Vec<DeviceCertificate>, AuthorityError> {
        Ok(self.store.device_certificates(device_id).await?)
    }

    /// Enables or disables a product (by id or name), audited. `None` if there is no such
    /// product; otherwise the product as it is now and whether it changed.
    pub async fn set_product_status(
        &self,
        id_or_name: &str,
        status: ProductStatus,
        actor: &str,
    ) -> Result<Option<(ProductRecord, bool)>, AuthorityError> {
        let Some(found) = self.store.product(id_or_name).await? else {
            return Ok(None);
        };
        let changed = self
            .store
            .set_product_status(&found.id, status, actor, self.now_ms())
            .await?;
        Ok(self.store.product(&found.id).await?.map(|p| (p, changed)))
    }

    /// Enables or disables a device, audited: a disabled device can neither renew nor register
    /// again; its current certificate stays valid until revoked. `None` if there is no such
    /// device; otherwise the device as it is now and whether it changed.
    pub async fn set_device_status(
        &self,
        id: &str,
        status: DeviceStatus,
        actor: &str,
    ) -> Result<Option<(DeviceRecord, bool)>, AuthorityError> {
        if self.store.device(id).await?.is_none() {
            return Ok(None);
        }
        let changed = self
            .store
            .set_device_status(id, status, actor, self.now_ms())
            .await?;
        Ok(self.store.device(id).await?.map(|d| (d, changed)))
    }

    /// Turns PSK registration on for a product with a fresh group key (replacing an earlier
    /// one: earlier PSK device keys stop working), audited; returns the key (hex).
    pub async fn enable_psk(
        &self,
        product: &ProductRecord,
        actor: &str,
    ) -> Result<String, AuthorityError> {
        let hex_key = random_psk_group_key();
        self.store
            .set_product_psk(&product.id, Some(&hex_key), actor, self.now_ms())
            .await?;
        Ok(hex_key)
    }

    /// Turns PSK registration off for a product, audited.
    pub async fn disable_psk(
        &self,
        product: &ProductRecord,
        actor: &str,
    ) -> Result<(), AuthorityError> {
        self.store
            .set_product_psk(&product.id, None, actor, self.now_ms())
            .await?;
        Ok(())
    }

    /// The product's PSK group key, if PSK registration is on.
    pub(crate) async fn psk_group_key(
        &self,
        product: &ProductRecord,
    ) -> Result<Option<Vec<u8>>, AuthorityError> {
        Ok(self
            .store
            .product_psk_key(&product.id)
            .await?
            .and_then(|k| hex::decode(k).ok()))
    }

    /// The key (32 bytes) a PSK device of `product` with `registration_id` holds, for
    /// manufacturing lines that flash it.
    pub async fn psk_device_key(
        &self,
        product: &ProductRecord,
        registration_id: &str,
    ) -> Result<[u8; 32], AuthorityError> {
        inkan_attest::check_registration_id(registration_id)
            .map_err(|e| Rejection::RegistrationId(e.to_string()))?;
        let group_key = self
            .psk_group_key(product)
            .await?
            .ok_or_else(|| Rejection::NoPskKey {
                product: product.name.clone(),
            })?;
        Ok(derive_device_key(&group_key, registration_id))
    }
}

/// A fresh PSK group key (256 bits), hex.
pub(crate) fn random_psk_group_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    hex::encode(key)
}

#[cfg(test)]
mod tests;
