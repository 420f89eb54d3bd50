//! The registry aggregate: products, devices, PSK nonces and the certificates devices received.

use async_trait::async_trait;

use crate::{
    DeviceCertificate, DeviceCursor, DeviceRecord, DeviceStatus, NewCertificate, ProductRecord,
    ProductStatus, RecordOutcome, RegisterOutcome, StoreError,
};

/// What the registering transaction knows about a device about to be registered: the facts a
/// [`RegistrationRule`] decides on. They cannot change before the transaction commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationFacts {
    /// The device's product, if it exists.
    pub product: Option<ProductRecord>,
    /// How many devices the product has, this batch's earlier registrations included.
    pub device_count: i64,
    /// The device that holds the same key, in any product.
    pub same_key: Option<DeviceRecord>,
    /// Whether another device of the product holds the same PSK registration id.
    pub registration_id_taken: bool,
}

/// A device to register, the actor to audit and the certificate to record with it if admitted
/// (see [`RegistryStore::register_devices_issuing`]).
#[derive(Clone, Debug)]
pub struct NewRegistration {
    /// The candidate device.
    pub device: DeviceRecord,
    /// Who registers it (audited).
    pub actor: String,
    /// Its first certificate, signed for the candidate's id, if the caller signed one.
    pub certificate: Option<NewCertificate>,
}

/// What a [`RegistrationRule`] decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Insert the device (audited); the outcome is [`RegisterOutcome::Registered`].
    Admit,
    /// Write nothing and answer this.
    Answer(RegisterOutcome),
}

/// The registration rules (cap, key in use, disabled...), called by the backend inside its
/// transaction for each device with the facts it gathered there, so the decision is atomic.
pub trait RegistrationRule: Send + Sync {
    /// Whether `device` is admitted, given `facts`.
    fn decide(&self, device: &DeviceRecord, facts: &RegistrationFacts) -> Admission;
}

impl<F> RegistrationRule for F
where
    F: Fn(&DeviceRecord, &RegistrationFacts) -> Admission + Send + Sync,
{
    fn decide(&self, device: &DeviceRecord, facts: &RegistrationFacts) -> Admission {
        self(device, facts)
    }
}

/// Products, devices and PSK nonces. Each method is atomic.
#[async_trait]
pub trait RegistryStore: Send + Sync + 'static {
    /// Creates a product with its ProductCert (`cert`, recorded like
    /// [`crate::CertificateStore::record_issued`]) and, with `psk_group_key`, PSK registration
    /// on: all audited, in one transaction. `false`, and nothing written, when the name or id
    /// is taken by another product; [`StoreError::Conflict`] (nothing written) when the
    /// certificate's serial is.
    async fn create_product(
        &self,
        product: &ProductRecord,
        cert: &NewCertificate,
        psk_group_key: Option<&str>,
        actor: &str,
    ) -> Result<bool, StoreError>;

    /// A product by id or name.
    async fn product(&self, id_or_name: &str) -> Result<Option<ProductRecord>, StoreError>;

    /// The product whose ProductCert has this serial.
    async fn product_by_cert(&self, serial: &str) -> Result<Option<ProductRecord>, StoreError>;

    /// All products, oldest first.
    async fn products(&self) -> Result<Vec<ProductRecord>, StoreError>;

    /// Enables or disables a product (audited as `product.<status>`); `false` if it had that
    /// status already or does not exist.
    async fn set_product_status(
        &self,
        product_id: &str,
        status: ProductStatus,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Registers devices (each with the actor to audit) in one transaction, in order: for each,
    /// gathers [`RegistrationFacts`] (which see the registrations before it) and lets `rule`
    /// decide. One outcome per device; idempotence and the cap are the rule's.
    async fn register_devices(
        &self,
        batch: &[(DeviceRecord, String)],
        rule: &dyn RegistrationRule,
    ) -> Result<Vec<RegisterOutcome>, StoreError> {
        let batch: Vec<_> = batch
            .iter()
            .map(|(device, actor)| NewRegistration {
                device: device.clone(),
                actor: actor.clone(),
                certificate: None,
            })
            .collect();
        let outcomes = self.register_devices_issuing(&batch, rule, 0).await?;
        Ok(outcomes.into_iter().map(|(outcome, _)| outcome).collect())
    }

    /// [`RegistryStore::register_devices`], and in the same transaction the certificate each
    /// admitted device comes with, recorded as [`crate::CertificateStore::record_issued`] would
    /// at `at_ms`: a device and its first certificate cost one commit. A certificate of a device
    /// that was not admitted (an existing one, a refusal) is not recorded (`None`).
    async fn register_devices_issuing(
        &self,
        batch: &[NewRegistration],
        rule: &dyn RegistrationRule,
        at_ms: i64,
    ) -> Result<Vec<(RegisterOutcome, Option<RecordOutcome>)>, StoreError>;

    /// One device by id.
    async fn device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError>;

    /// Devices, newest first, optionally of one product, after the `after` cursor (keyset
    /// paging), at most `limit`.
    async fn devices(
        &self,
        product_id: Option<&str>,
        after: Option<&DeviceCursor>,
        limit: i64,
    ) -> Result<Vec<DeviceRecord>, StoreError>;

    /// How many devices a product has (without reading them).
    async fn count_devices(&self, product_id: &str) -> Result<i64, StoreError>;

    /// Turns PSK registration on (`Some(group key hex)`) or off for a product (audited);
    /// [`StoreError::NotFound`] if there is no such product.
    async fn set_product_psk(
        &self,
        product_id: &str,
        group_key_hex: Option<&str>,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// The product's PSK group key (hex), if PSK registration is on.
    async fn product_psk_key(&self, product_id: &str) -> Result<Option<String>, StoreError>;

    /// Records a PSK token nonce until `expires_ms`; `false` if it was seen before (a replay).
    /// Expired nonces are dropped on the way.
    async fn consume_psk_nonce(
        &self,
        product_id: &str,
        nonce: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Enables or disables a device (audited as `device.<status>`); `false` if it already had
    /// that status or does not exist.
    async fn set_device_status(
        &self,
        device_id: &str,
        status: DeviceStatus,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Records that a device received a certificate (durable before the device sees it) and
    /// marks the device as seen.
    async fn record_device_certificate(&self, cert: &DeviceCertificate) -> Result<(), StoreError>;

    /// The certificates a device received, newest first.
    async fn device_certificates(
        &self,
        device_id: &str,
    ) -> Result<Vec<DeviceCertificate>, StoreError>;
}
