//! SQLite statements of products, devices, PSK nonces and device certificates.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::certificates::insert_issued;
use super::{audit, SqliteStore, Tx};
use crate::audit::events;
use crate::rows::{self, json_text};
use crate::{
    Admission, DeviceCertificate, DeviceCursor, DeviceRecord, DeviceStatus, NewCertificate,
    NewRegistration, ProductRecord, ProductStatus, RecordOutcome, RegisterOutcome,
    RegistrationFacts, RegistrationRule, RegistryStore, StoreError,
};

#[async_trait]
impl RegistryStore for SqliteStore {
    async fn create_product(
        &self,
        product: &ProductRecord,
        cert: &NewCertificate,
        psk_group_key: Option<&str>,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        // Names and ids share one namespace: `product(id_or_name)` must find exactly one.
        let taken = sqlx::query("SELECT 1 FROM products WHERE id IN (?1, ?2) OR name IN (?1, ?2)")
            .bind(&product.id)
            .bind(&product.name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO products (id, name, attributes, max_devices, device_validity_secs, status, \
             created_at, cert_serial, psk_group_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&product.id)
        .bind(&product.name)
        .bind(json_text(&product.attributes)?)
        .bind(product.max_devices)
        .bind(product.device_validity_secs)
        .bind(product.status.as_str())
        .bind(product.created_at_ms)
        .bind(&cert.serial)
        .bind(psk_group_key)
        .execute(&mut *tx)
        .await?;
        let event = events::product_created(product, actor);
        audit(&mut tx, event).await?;
        let recorded =
            insert_issued(&mut tx, std::slice::from_ref(cert), product.created_at_ms).await?;
        if recorded != [RecordOutcome::Recorded] {
            return Err(StoreError::Conflict(format!(
                "the ProductCert serial {} is taken",
                cert.serial
            )));
        }
        if psk_group_key.is_some() {
            let event = events::product_psk(&product.id, true, actor, product.created_at_ms);
            audit(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn product(&self, id_or_name: &str) -> Result<Option<ProductRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM products WHERE id = ?1 OR name = ?1")
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::product).transpose()
    }

    async fn product_by_cert(&self, serial: &str) -> Result<Option<ProductRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM products WHERE cert_serial = ?")
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::product).transpose()
    }

    async fn products(&self) -> Result<Vec<ProductRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM products ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::product).collect()
    }

    async fn set_product_status(
        &self,
        product_id: &str,
        status: ProductStatus,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE products SET status = ?1 WHERE id = ?2 AND status != ?1";
        set_status(
            self,
            sql,
            "product",
            product_id,
            status.as_str(),
            actor,
            at_ms,
        )
        .await
    }

    async fn register_devices_issuing(
        &self,
        batch: &[NewRegistration],
        rule: &dyn RegistrationRule,
        at_ms: i64,
    ) -> Result<Vec<(RegisterOutcome, Option<RecordOutcome>)>, StoreError> {
        // One write transaction: each device's facts see the registrations before it, so a cap
        // of N admits exactly N devices under any concurrency, and a batch costs one commit.
        let mut tx = self.write_tx().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut certificates = Vec::new();
        for registration in batch {
            let device = &registration.device;
            let facts = registration_facts(&mut tx, device).await?;
            outcomes.push(match rule.decide(device, &facts) {
                Admission::Answer(outcome) => outcome,
                Admission::Admit => {
                    insert_device(&mut tx, device, &registration.actor).await?;
                    if let Some(cert) = &registration.certificate {
                        certificates.push((outcomes.len(), cert.clone()));
                    }
                    RegisterOutcome::Registered(device.clone())
                }
            });
        }
        let (at, certs): (Vec<usize>, Vec<NewCertificate>) = certificates.into_iter().unzip();
        let recorded = match certs.is_empty() {
            true => Vec::new(),
            false => insert_issued(&mut tx, &certs, at_ms).await?,
        };
        tx.commit().await?;
        let mut recorded = at.into_iter().zip(recorded).peekable();
        Ok(outcomes
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| {
                let cert = recorded.next_if(|(at, _)| *at == i).map(|(_, r)| r);
                (outcome, cert)
            })
            .collect())
    }

    async fn device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM devices WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::device).transpose()
    }

    async fn devices(
        &self,
        product_id: Option<&str>,
        after: Option<&DeviceCursor>,
        limit: i64,
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        // Only the conditions asked for, and `created_at <= cursor` as a plain index bound: a
        // deep page costs no more than the first (an `?1 IS NULL OR ...` form would scan).
        let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM devices WHERE 1");
        if let Some(product_id) = product_id {
            q.push(" AND product_id = ").push_bind(product_id);
        }
        if let Some(cursor) = after {
            q.push(" AND created_at <= ")
                .push_bind(cursor.created_at_ms)
                .push(" AND (created_at < ")
                .push_bind(cursor.created_at_ms)
                .push(" OR id > ")
                .push_bind(&cursor.id)
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id LIMIT ")
            .push_bind(limit);
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(rows::device).collect()
    }

    async fn count_devices(&self, product_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT device_count FROM products WHERE id = ?")
            .bind(product_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
    }

    async fn set_product_psk(
        &self,
        product_id: &str,
        group_key_hex: Option<&str>,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query("UPDATE products SET psk_group_key = ? WHERE id = ?")
            .bind(group_key_hex)
            .bind(product_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound(format!("no product {product_id}")));
        }
        let event = events::product_psk(product_id, group_key_hex.is_some(), actor, at_ms);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn product_psk_key(&self, product_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT psk_group_key FROM products WHERE id = ?")
            .bind(product_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("psk_group_key")?,
            None => None,
        })
    }

    async fn consume_psk_nonce(
        &self,
        product_id: &str,
        nonce: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM psk_nonces WHERE expires_at < ?")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO psk_nonces (nonce, product_id, expires_at) VALUES (?, ?, ?)
             ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(product_id)
        .bind(expires_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn set_device_status(
        &self,
        device_id: &str,
        status: DeviceStatus,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE devices SET status = ?1 WHERE id = ?2 AND status != ?1";
        set_status(
            self,
            sql,
            "device",
            device_id,
            status.as_str(),
            actor,
            at_ms,
        )
        .await
    }

    async fn record_device_certificate(&self, cert: &DeviceCertificate) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO device_certificates (serial, device_id, issuer, not_after, der, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING",
        )
        .bind(&cert.serial)
        .bind(&cert.device_id)
        .bind(&cert.issuer)
        .bind(cert.not_after)
        .bind(&cert.der)
        .bind(cert.created_at_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE devices SET last_seen = ? WHERE id = ?")
            .bind(cert.created_at_ms)
            .bind(&cert.device_id)
            .execute(&mut *tx)
            .await?;
        let event = events::device_certificate(cert);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn device_certificates(
        &self,
        device_id: &str,
    ) -> Result<Vec<DeviceCertificate>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM device_certificates WHERE device_id = ? ORDER BY created_at DESC, serial",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::device_certificate).collect()
    }
}

/// Runs a status `UPDATE` (`?1` status, `?2` id) and audits it as `<kind>.<status>` if it
/// changed a row; returns whether it did.
async fn set_status(
    store: &SqliteStore,
    sql: &'static str,
    kind: &str,
    id: &str,
    status: &str,
    actor: &str,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let mut tx = store.write_tx().await?;
    let changed = sqlx::query(sql)
        .bind(status)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if changed > 0 {
        let event = events::status_set(kind, id, status, actor, at_ms);
        audit(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(changed > 0)
}

/// What `tx` knows about registering `device` (see [`RegistrationFacts`]).
async fn registration_facts(
    tx: &mut Tx,
    device: &DeviceRecord,
) -> Result<RegistrationFacts, StoreError> {
    let product = sqlx::query("SELECT * FROM products WHERE id = ?")
        .bind(&device.product_id)
        .fetch_optional(&mut **tx)
        .await?;
    let device_count = match &product {
        Some(row) => row.try_get("device_count")?,
        None => 0,
    };
    let product = product.as_ref().map(rows::product).transpose()?;
    let same_key = sqlx::query("SELECT * FROM devices WHERE spki_sha256 = ?")
        .bind(&device.spki_sha256)
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(rows::device)
        .transpose()?;
    let registration_id_taken = match &device.registration_id {
        Some(registration_id) => {
            sqlx::query("SELECT 1 FROM devices WHERE product_id = ? AND registration_id = ?")
                .bind(&device.product_id)
                .bind(registration_id)
                .fetch_optional(&mut **tx)
                .await?
                .is_some()
        }
        None => false,
    };
    Ok(RegistrationFacts {
        product,
        device_count,
        same_key,
        registration_id_taken,
    })
}

/// Inserts an admitted device, counts it in its product and audits it.
async fn insert_device(tx: &mut Tx, device: &DeviceRecord, actor: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO devices (id, product_id, attributes, spki_sha256, registration_id, status,
                              created_at, last_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&device.id)
    .bind(&device.product_id)
    .bind(device.attributes.to_string())
    .bind(&device.spki_sha256)
    .bind(&device.registration_id)
    .bind(device.status.as_str())
    .bind(device.created_at_ms)
    .bind(device.last_seen_ms)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE products SET device_count = device_count + 1 WHERE id = ?")
        .bind(&device.product_id)
        .execute(&mut **tx)
        .await?;
    let event = events::device_registered(device, actor);
    audit(tx, event).await?;
    Ok(())
}
