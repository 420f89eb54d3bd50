//! Products and devices: a product's ProductCert bootstraps each unit's own DeviceCert.

use std::time::Duration;

use inkan_pki::{build_csr, der_to_pem, sha256_hex, CsrCheck, GeneratedKey, KeyAlgorithm};
use inkan_store::{DeviceRecord, ProductRecord, RegisterOutcome};
use rand::RngCore;

use crate::{unix_ms, Authority, AuthorityError, EnrollMethod, IssueRequest, Issued};

/// What `create_product` hands back once: the ProductCert chain and its private key.
pub struct NewProduct {
    /// The product as stored.
    pub product: ProductRecord,
    /// ProductCert then issuing CA, PEM.
    pub chain_pem: String,
    /// The ProductCert's key, PKCS#8 PEM (not stored by the authority).
    pub key_pem: String,
}

fn random_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Authority {
    /// Creates a product and its ProductCert (key made here, returned once, never stored).
    pub async fn create_product(
        &self,
        name: &str,
        max_devices: Option<i64>,
        device_validity: Duration,
        attributes: Vec<String>,
        actor: &str,
    ) -> Result<NewProduct, AuthorityError> {
        if name.is_empty() || name.len() > 48 || name.chars().any(|c| c.is_control() || c == '/') {
            return Err(AuthorityError::Refused(
                "a product name is 1 to 48 characters, without '/' or control characters".into(),
            ));
        }
        if self.store().product(name).await?.is_some() {
            return Err(AuthorityError::Refused(format!(
                "a product named {name:?} exists already"
            )));
        }
        let mut product = ProductRecord {
            id: random_id(),
            name: name.to_string(),
            attributes,
            max_devices,
            device_validity_secs: i64::try_from(device_validity.as_secs()).unwrap_or(i64::MAX),
            status: "active".into(),
            cert_serial: None,
            created_at_ms: unix_ms(self.now()),
        };
        self.store().create_product(&product, actor).await?;
        let key = GeneratedKey::generate(KeyAlgorithm::P256)?;
        let csr = build_csr(
            &key,
            &format!("product {name}"),
            &[format!("urn:inkan:product:{}", product.id)],
        )?;
        let issued = self
            .issue(IssueRequest {
                csr_der: csr,
                profile: "product".into(),
                method: EnrollMethod::Admin {
                    actor: actor.into(),
                },
                validity: None,
            })
            .await?;
        self.store()
            .set_product_cert(&product.id, &issued.serial)
            .await?;
        product.cert_serial = Some(issued.serial.clone());
        Ok(NewProduct {
            product,
            chain_pem: format!(
                "{}{}",
                der_to_pem("CERTIFICATE", &issued.der),
                der_to_pem("CERTIFICATE", self.ca().cert_der())
            ),
            key_pem: key.to_pem(None)?,
        })
    }

    /// Registers the device behind `csr_der` under `product` (idempotent per key) and issues its
    /// DeviceCert, named by the device's random id only.
    pub async fn bootstrap_device(
        &self,
        product: &ProductRecord,
        product_cert_serial: &str,
        csr_der: &[u8],
        attributes: serde_json::Value,
    ) -> Result<(DeviceRecord, Issued), AuthorityError> {
        let profile = self
            .profile("device")
            .ok_or_else(|| AuthorityError::UnknownProfile("device".into()))?;
        let checked = CsrCheck::new(profile).check(csr_der)?;
        if let Some(unknown) = attributes
            .as_object()
            .and_then(|o| o.keys().find(|k| !product.attributes.contains(k)))
        {
            return Err(AuthorityError::Refused(format!(
                "device attribute {unknown:?} is not allowed by product {} (allowed: {})",
                product.name,
                product.attributes.join(", ")
            )));
        }
        let now = unix_ms(self.now());
        let candidate = DeviceRecord {
            id: random_id(),
            product_id: product.id.clone(),
            attributes,
            spki_sha256: sha256_hex(&checked.spki_der),
            status: "active".into(),
            created_at_ms: now,
            last_seen_ms: now,
        };
        let device = match self
            .store()
            .register_device(&candidate, &format!("product:{}", product.id))
            .await?
        {
            RegisterOutcome::Registered(d) | RegisterOutcome::Existing(d) => d,
            RegisterOutcome::CapReached(max) => {
                return Err(AuthorityError::Refused(format!(
                    "product {} has reached its limit of {max} devices",
                    product.name
                )))
            }
            RegisterOutcome::KeyInUse => {
                return Err(AuthorityError::Refused(
                    "this key is registered to another device: every device needs its own key"
                        .into(),
                ))
            }
            RegisterOutcome::ProductDisabled => {
                return Err(AuthorityError::Refused(format!(
                    "product {} is disabled: no new devices",
                    product.name
                )))
            }
        };
        let issued = self
            .issue(IssueRequest {
                csr_der: csr_der.to_vec(),
                profile: "device".into(),
                method: EnrollMethod::Bootstrap {
                    product_id: product.id.clone(),
                    product_cert_serial: product_cert_serial.to_string(),
                    device_id: device.id.clone(),
                },
                validity: Some(Duration::from_secs(
                    u64::try_from(product.device_validity_secs).unwrap_or(0),
                )),
            })
            .await?;
        Ok((device, issued))
    }
}
