//! Products and devices: a product's ProductCert bootstraps each unit's own DeviceCert.

use std::time::Duration;

use inkan_pki::{
    build_csr, der_to_pem, derive_device_key, sha256_hex, GeneratedKey, KeyAlgorithm, PskToken,
};
use inkan_store::{DeviceCertificate, DeviceRecord, ProductRecord, RegisterOutcome, Store};
use rand::RngCore;

use crate::{
    unix_ms, Authority, AuthorityError, DeviceCertRequest, EnrollMethod, IssueRequest,
    IssuedDeviceCert,
};

/// What `create_product` hands back once: the ProductCert chain and its private key.
pub struct NewProduct {
    /// The product as stored.
    pub product: ProductRecord,
    /// ProductCert then issuing CA, PEM.
    pub chain_pem: String,
    /// The ProductCert's key, PKCS#8 PEM (not stored by the authority).
    pub key_pem: String,
    /// ProductCert then issuing CA, DER.
    pub chain_der: Vec<Vec<u8>>,
    key: GeneratedKey,
}

impl NewProduct {
    /// The ProductCert, its chain and key as one PKCS#12 bundle under `passphrase`.
    pub fn pkcs12(&self, passphrase: &str) -> Result<Vec<u8>, AuthorityError> {
        Ok(inkan_pki::pkcs12_encode(
            self.key.pkcs8_der(),
            &self.chain_der,
            &format!("product {}", self.product.name),
            passphrase,
        )?)
    }
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
            psk: false,
            created_at_ms: unix_ms(self.now()),
        };
        self.store().create_product(&product, actor).await?;
        let key = GeneratedKey::generate(KeyAlgorithm::P256)?;
        // The authority names the product (urn:inkan:product:<id>) itself.
        let csr = build_csr(&key, &format!("product {name}"), &[])?;
        let issued = self
            .issue(IssueRequest {
                csr_der: csr,
                profile: "product".into(),
                method: EnrollMethod::ProductCreation {
                    actor: actor.into(),
                    product_id: product.id.clone(),
                },
                validity: None,
                label: None,
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
            chain_der: vec![issued.der.clone(), self.ca().cert_der().to_vec()],
            key,
        })
    }

    /// Registers the device behind `csr_der` under `product` (idempotent per key) and has its
    /// DeviceCert issued by the device issuer (see [`crate::Issuer`]), named by the device's
    /// random id only. The certificate is recorded against the device before it is returned.
    pub async fn bootstrap_device(
        &self,
        product: &ProductRecord,
        registrant: Registrant,
        csr_der: &[u8],
        attributes: serde_json::Value,
    ) -> Result<(DeviceRecord, IssuedDeviceCert), AuthorityError> {
        let profile = self
            .profile("device")
            .ok_or_else(|| AuthorityError::UnknownProfile("device".into()))?;
        let candidate_id = random_id();
        let method = |device_id: String| match &registrant {
            Registrant::ProductCert { serial } => EnrollMethod::Bootstrap {
                product_id: product.id.clone(),
                product_cert_serial: serial.clone(),
                device_id,
            },
            Registrant::Psk { registration_id } => EnrollMethod::Psk {
                product_id: product.id.clone(),
                registration_id: registration_id.clone(),
                device_id,
            },
        };
        // The policy decides before anything is registered: a refused request changes nothing.
        let grant = crate::decide(&crate::PolicyInput {
            method: &method(candidate_id.clone()),
            profile,
            label: None,
            csr_der,
            validity: None,
            now: self.now(),
        })?;
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
            id: candidate_id,
            product_id: product.id.clone(),
            attributes,
            spki_sha256: sha256_hex(grant.spki_der()),
            registration_id: match &registrant {
                Registrant::Psk { registration_id } => Some(registration_id.clone()),
                Registrant::ProductCert { .. } => None,
            },
            status: "active".into(),
            created_at_ms: now,
            last_seen_ms: now,
        };
        let device = match self
            .register(candidate, format!("product:{}", product.id))
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
            RegisterOutcome::DeviceDisabled => {
                return Err(AuthorityError::Refused(
                    "the device with this key is disabled: an administrator must enable it".into(),
                ))
            }
            RegisterOutcome::RegistrationIdInUse => {
                return Err(AuthorityError::Refused(
                    "this registration id belongs to a device with another key: register with its key, or disable that device and use a new registration id".into(),
                ))
            }
        };
        let method = method(device.id.clone());
        let cert = self
            .device_issuer()
            .issue_device_cert(
                self,
                DeviceCertRequest {
                    csr_der: csr_der.to_vec(),
                    method,
                    validity: Duration::from_secs(
                        u64::try_from(product.device_validity_secs).unwrap_or(0),
                    ),
                },
            )
            .await?;
        Ok((device, cert))
    }

    /// Records that `device_id` received `cert` from another CA (and that the device was seen
    /// now). Certificates this authority issues are recorded with their device by the pipeline.
    pub async fn record_device_cert(
        &self,
        device_id: &str,
        issuer: &str,
        cert: &IssuedDeviceCert,
    ) -> Result<(), AuthorityError> {
        self.store()
            .record_device_certificate(&DeviceCertificate {
                serial: cert.serial.clone(),
                device_id: device_id.into(),
                issuer: issuer.into(),
                not_after: cert.not_after,
                der: cert.chain.first().cloned().unwrap_or_default(),
                created_at_ms: unix_ms(self.now()),
            })
            .await?;
        Ok(())
    }

    /// The registered device a certificate names (`urn:inkan:device:<id>`), if any, refusing a
    /// disabled device or product: renewals of DeviceCerts go through here.
    pub async fn device_of(
        &self,
        sans: &[inkan_pki::San],
    ) -> Result<Option<(DeviceRecord, ProductRecord)>, AuthorityError> {
        let Some(id) = sans.iter().find_map(|san| match san {
            inkan_pki::San::Uri(uri) => uri.strip_prefix("urn:inkan:device:"),
            _ => None,
        }) else {
            return Ok(None);
        };
        let Some(device) = self.store().device(id).await? else {
            return Ok(None);
        };
        if device.status != "active" {
            return Err(AuthorityError::Refused(format!(
                "device {id} is disabled: an administrator must enable it before it renews"
            )));
        }
        let product = self
            .store()
            .product(&device.product_id)
            .await?
            .ok_or_else(|| AuthorityError::Refused(format!("device {id} has no product")))?;
        Ok(Some((device, product)))
    }

    /// Checks a PSK `Authorization` header for a request (`method`, `path`, `body`): the product
    /// has PSK on, the token is signed with the key derived for its registration id, it is
    /// fresh, and its nonce was never seen. Returns the product and the registration id.
    pub async fn verify_psk(
        &self,
        header: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(ProductRecord, String), AuthorityError> {
        let token =
            PskToken::parse(header).map_err(|e| AuthorityError::Unauthenticated(e.to_string()))?;
        let unknown = || {
            AuthorityError::Unauthenticated(format!(
                "product {:?} does not accept PSK registration",
                token.product
            ))
        };
        let product = self
            .store()
            .product(&token.product)
            .await?
            .ok_or_else(unknown)?;
        let group_key = self
            .store()
            .product_psk_key(&product.id)
            .await?
            .and_then(|k| hex::decode(k).ok())
            .ok_or_else(unknown)?;
        let device_key = derive_device_key(&group_key, &token.registration_id);
        let now = self.now().unix_timestamp();
        token
            .verify(&device_key, method, path, body, now, PSK_WINDOW_SECS)
            .map_err(|e| AuthorityError::Unauthenticated(e.to_string()))?;
        let expires_ms = (token.timestamp.saturating_add(PSK_WINDOW_SECS)).saturating_mul(1000);
        if !self
            .store()
            .consume_psk_nonce(&product.id, &token.nonce, expires_ms, unix_ms(self.now()))
            .await?
        {
            return Err(AuthorityError::Unauthenticated(
                "this PSK token was used before (replay): sign every request with a fresh nonce"
                    .into(),
            ));
        }
        Ok((product, token.registration_id))
    }
}

/// Turns PSK registration on for a product with a fresh group key (replacing an earlier one),
/// audited; returns the key (hex).
pub async fn enable_product_psk(
    store: &dyn Store,
    product: &ProductRecord,
    actor: &str,
    at_ms: i64,
) -> Result<String, AuthorityError> {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let hex_key = hex::encode(key);
    store
        .set_product_psk(&product.id, Some(&hex_key), actor, at_ms)
        .await?;
    Ok(hex_key)
}

/// The key (32 bytes) a PSK device of `product` with `registration_id` holds, for manufacturing
/// lines that flash it.
pub async fn psk_device_key(
    store: &dyn Store,
    product: &ProductRecord,
    registration_id: &str,
) -> Result<[u8; 32], AuthorityError> {
    inkan_pki::check_registration_id(registration_id)
        .map_err(|e| AuthorityError::Refused(e.to_string()))?;
    let group_key = store
        .product_psk_key(&product.id)
        .await?
        .and_then(|k| hex::decode(k).ok())
        .ok_or_else(|| {
            AuthorityError::Refused(format!(
                "product {} has no PSK group key: run `inkan product psk enable {}`",
                product.name, product.name
            ))
        })?;
    Ok(derive_device_key(&group_key, registration_id))
}

/// How a unit proved it belongs to its product.
#[derive(Clone, Debug)]
pub enum Registrant {
    /// It presented the product's ProductCert (TLS client certificate) with this serial.
    ProductCert {
        /// The ProductCert's serial.
        serial: String,
    },
    /// It signed a PSK token with the key derived for this registration id.
    Psk {
        /// The registration id.
        registration_id: String,
    },
}

/// How far a PSK token's timestamp may be from the authority's clock (and how long its nonce
/// is remembered): 5 minutes.
pub const PSK_WINDOW_SECS: i64 = 300;
