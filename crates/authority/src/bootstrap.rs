//! What the registry needs the CA for: a product's ProductCert, and each unit's own DeviceCert
//! bootstrapped with it (or with a PSK token).

use std::time::Duration;

use inkan_attest::{derive_device_key, PskToken};
use inkan_pki::{build_csr, der_to_pem, sha256_hex, GeneratedKey, KeyAlgorithm};
use inkan_store::{
    DeviceCertificate, DeviceRecord, DeviceStatus, NewRegistration, ProductRecord, ProductStatus,
    RecordOutcome, RegisterOutcome,
};
use rand::RngCore;

use crate::{
    unix_ms, Authority, AuthorityError, DeviceCertRequest, EnrollMethod, IssueRequest,
    IssuedDeviceCert, Rejection,
};

/// What a new product is to be: the one input of [`Authority::create_product`].
#[derive(Clone, Debug, Default)]
pub struct ProductParams {
    /// Unique name, 1 to 48 characters, without '/' or control characters.
    pub name: String,
    /// At most this many devices may register (positive).
    pub max_devices: Option<i64>,
    /// Validity of each DeviceCert.
    pub device_validity: Duration,
    /// Device attributes (keys of `device_info`) the product allows.
    pub attributes: Vec<String>,
    /// Also bundle the ProductCert and key as PKCS#12 under this passphrase.
    pub pkcs12_passphrase: Option<String>,
    /// Turn PSK registration on with a fresh group key.
    pub psk: bool,
}

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
    /// The ProductCert, its chain and key as PKCS#12, when a passphrase was given.
    pub pkcs12: Option<Vec<u8>>,
    /// The PSK group key (hex), when PSK registration was asked for.
    pub psk_group_key: Option<String>,
}

fn random_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Authority {
    /// Creates a product, its ProductCert (key made here, returned once, never stored) and, if
    /// asked, its PSK group key. Everything that can be refused is checked, and everything
    /// returned is built, before one transaction records product, certificate and audit events:
    /// a refused or failed call leaves nothing behind.
    pub async fn create_product(
        &self,
        params: ProductParams,
        actor: &str,
    ) -> Result<NewProduct, AuthorityError> {
        let name = params.name.as_str();
        // The name is also the PKCS#12 bundle's friendly name, a BMPString: no character above
        // U+FFFF fits there.
        if name.is_empty()
            || name.len() > 48
            || name
                .chars()
                .any(|c| c.is_control() || c == '/' || u32::from(c) > 0xFFFF)
        {
            return Err(Rejection::ProductName.into());
        }
        if params.max_devices.is_some_and(|m| m <= 0) {
            return Err(AuthorityError::Invalid(
                "max_devices must be positive".into(),
            ));
        }
        if let Some(passphrase) = &params.pkcs12_passphrase {
            inkan_pki::check_pkcs12_passphrase(passphrase)?;
        }
        let taken = || {
            AuthorityError::from(Rejection::ProductExists {
                name: name.to_string(),
            })
        };
        if self.store().product(name).await?.is_some() {
            return Err(taken());
        }
        let mut product = ProductRecord {
            id: random_id(),
            name: name.to_string(),
            attributes: params.attributes,
            max_devices: params.max_devices,
            device_validity_secs: i64::try_from(params.device_validity.as_secs())
                .unwrap_or(i64::MAX),
            status: ProductStatus::Active,
            cert_serial: None,
            psk: params.psk,
            created_at_ms: unix_ms(self.now()),
        };
        let key = GeneratedKey::generate(KeyAlgorithm::P256)?;
        // The authority names the product (urn:inkan:product:<id>) itself.
        let csr = build_csr(&key, &format!("product {name}"), &[])?;
        let (record, issued) = self.sign_unrecorded(&IssueRequest {
            csr_der: csr,
            profile: "product".into(),
            method: EnrollMethod::ProductCreation {
                actor: actor.into(),
                product_id: product.id.clone(),
            },
            validity: None,
            label: None,
        })?;
        product.cert_serial = Some(issued.serial.clone());
        let chain_der = vec![issued.der.clone(), self.ca().cert_der().to_vec()];
        let pkcs12 = match &params.pkcs12_passphrase {
            Some(passphrase) => Some(inkan_pki::pkcs12_encode(
                key.pkcs8_der(),
                &chain_der,
                &format!("product {name}"),
                passphrase,
            )?),
            None => None,
        };
        let key_pem = key.to_pem(None)?;
        let psk_group_key = params.psk.then(crate::registry::random_psk_group_key);
        if !self
            .store()
            .create_product(&product, &record, psk_group_key.as_deref(), actor)
            .await?
        {
            return Err(taken());
        }
        Ok(NewProduct {
            product,
            chain_pem: format!(
                "{}{}",
                der_to_pem("CERTIFICATE", &issued.der),
                der_to_pem("CERTIFICATE", self.ca().cert_der())
            ),
            key_pem,
            chain_der,
            pkcs12,
            psk_group_key,
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
        let started = std::time::Instant::now();
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
            Registrant::Psk {
                registration_id, ..
            } => EnrollMethod::Psk {
                product_id: product.id.clone(),
                registration_id: registration_id.clone(),
                device_id,
            },
        };
        let validity =
            Duration::from_secs(u64::try_from(product.device_validity_secs).unwrap_or(0));
        // The policy decides before anything is registered: a refused request changes nothing.
        let grant = crate::decide(&crate::PolicyInput {
            method: &method(candidate_id.clone()),
            profile,
            label: None,
            csr_der,
            validity: Some(validity),
            now: self.now(),
        })?;
        if let Some(unknown) = attributes
            .as_object()
            .and_then(|o| o.keys().find(|k| !product.attributes.contains(k)))
        {
            return Err(Rejection::AttributeNotAllowed {
                attribute: unknown.clone(),
                product: product.name.clone(),
                allowed: product.attributes.clone(),
            }
            .into());
        }
        // Every check of the request is done: now the token is used, whatever comes of it.
        if let Registrant::Psk {
            nonce,
            nonce_expires_ms,
            ..
        } = &registrant
        {
            self.spend_psk_nonce(product, nonce, *nonce_expires_ms)
                .await?;
        }
        let now = unix_ms(self.now());
        let candidate = DeviceRecord {
            id: candidate_id.clone(),
            product_id: product.id.clone(),
            attributes,
            spki_sha256: sha256_hex(grant.spki_der()),
            registration_id: match &registrant {
                Registrant::Psk {
                    registration_id, ..
                } => Some(registration_id.clone()),
                Registrant::ProductCert { .. } => None,
            },
            status: DeviceStatus::Active,
            created_at_ms: now,
            last_seen_ms: now,
        };
        // With this authority's own pipeline, the certificate is signed for the candidate now
        // and recorded in the commit that registers it: a new device costs one commit. It is
        // handed out only if that commit recorded it.
        let issuer = self.device_issuer();
        let signed = match issuer.is_in_process() {
            true => Some(self.sign(&grant, &method(candidate_id.clone()))?),
            false => None,
        };
        let (record, issued) = signed.unzip();
        let (outcome, recorded) = self
            .register(NewRegistration {
                device: candidate,
                actor: format!("product:{}", product.id),
                certificate: record,
            })
            .await?;
        let device = match outcome {
            RegisterOutcome::Registered(d) | RegisterOutcome::Existing(d) => d,
            RegisterOutcome::CapReached(max) => {
                return Err(Rejection::DeviceCap {
                    product: product.name.clone(),
                    max,
                }
                .into())
            }
            RegisterOutcome::KeyInUse => return Err(Rejection::KeyInUse.into()),
            RegisterOutcome::ProductDisabled => {
                return Err(Rejection::ProductDisabled {
                    product: product.name.clone(),
                }
                .into())
            }
            RegisterOutcome::DeviceDisabled => return Err(Rejection::KeyOfDisabledDevice.into()),
            RegisterOutcome::UnknownProduct => {
                return Err(Rejection::UnknownProduct {
                    product: product.name.clone(),
                }
                .into())
            }
            RegisterOutcome::RegistrationIdInUse => {
                return Err(Rejection::RegistrationIdInUse.into())
            }
        };
        if let (Some(RecordOutcome::Recorded), Some(issued)) = (recorded, issued) {
            self.metrics()
                .issue_took(method(device.id.clone()).name(), started.elapsed());
            return Ok((
                device,
                IssuedDeviceCert {
                    serial: issued.serial,
                    not_after: issued.info.not_after,
                    chain: vec![issued.der, self.ca().cert_der().to_vec()],
                },
            ));
        }
        // The decision above named the candidate; a device registered before has its own id.
        let grant = (device.id == candidate_id).then_some(grant);
        let method = method(device.id.clone());
        let cert = issuer
            .issue_device_cert(
                self,
                DeviceCertRequest {
                    csr_der: csr_der.to_vec(),
                    method,
                    validity,
                    grant,
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
        if device.status != DeviceStatus::Active {
            return Err(Rejection::DeviceDisabled { device: id.into() }.into());
        }
        let product = self
            .store()
            .product(&device.product_id)
            .await?
            .ok_or_else(|| Rejection::DeviceWithoutProduct { device: id.into() })?;
        Ok(Some((device, product)))
    }

    /// Checks a PSK `Authorization` header for a request (`method`, `path`, `body`): the product
    /// has PSK on, the token is signed with the key derived for its registration id, and it is
    /// fresh. Writes nothing: the token's nonce is spent by [`Authority::bootstrap_device`]
    /// once the request has passed its checks, so a refused request leaves no trace. Returns
    /// the product and the registrant.
    pub async fn verify_psk(
        &self,
        header: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(ProductRecord, Registrant), AuthorityError> {
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
            .registry()
            .psk_group_key(&product)
            .await?
            .ok_or_else(unknown)?;
        let device_key = derive_device_key(&group_key, &token.registration_id);
        let now = self.now().unix_timestamp();
        token
            .verify(&device_key, method, path, body, now, PSK_WINDOW_SECS)
            .map_err(|e| AuthorityError::Unauthenticated(e.to_string()))?;
        let nonce_expires_ms =
            (token.timestamp.saturating_add(PSK_WINDOW_SECS)).saturating_mul(1000);
        Ok((
            product,
            Registrant::Psk {
                registration_id: token.registration_id,
                nonce: token.nonce,
                nonce_expires_ms,
            },
        ))
    }

    /// Spends a PSK token's nonce; a nonce seen before is a replay.
    async fn spend_psk_nonce(
        &self,
        product: &ProductRecord,
        nonce: &str,
        expires_ms: i64,
    ) -> Result<(), AuthorityError> {
        if self
            .store()
            .consume_psk_nonce(&product.id, nonce, expires_ms, unix_ms(self.now()))
            .await?
        {
            return Ok(());
        }
        Err(AuthorityError::Unauthenticated(
            "this PSK token was used before (replay): sign every request with a fresh nonce".into(),
        ))
    }
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
        /// The token's nonce, spent when the registration passes its checks.
        nonce: String,
        /// Until when the nonce must be remembered (Unix ms).
        nonce_expires_ms: i64,
    },
}

/// How far a PSK token's timestamp may be from the authority's clock (and how long its nonce
/// is remembered): 5 minutes.
pub const PSK_WINDOW_SECS: i64 = 300;
