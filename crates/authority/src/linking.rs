//! Accounts and linked devices (DESIGN §4.4, paper 000): a trust anchor — the key of a level-3
//! certificate (TPM, or a TEE unit's TPM key) — creates an account, links its owner's other
//! devices by a single-use link code it confirms and signs for, and approves each of their
//! logins by signing (request hash, nonce, time); the approval is consumed by the short-lived
//! certificate it produces for the linked device's own key.

use std::time::Duration;

use inkan_attest::{
    approval_message, confirmation_code, device_list_message, login_request_sha256,
    verify_signature,
};
use inkan_pki::{sha256_hex, CsrCheck};
use inkan_store::{Account, Anchor, LinkOutcome, LinkRequest, LinkedDevice, Login};
use rand::RngCore;
use subtle::ConstantTimeEq;
use thiserror::Error;
use time::OffsetDateTime;

use crate::{unix_ms, Authority, AuthorityError, EnrollMethod, IssueRequest, Issued, LinkedLogin};

/// How long a link code may be used.
pub const LINK_TTL: time::Duration = time::Duration::minutes(10);
/// How long a login waits for its approval.
pub const LOGIN_TTL: time::Duration = time::Duration::minutes(5);
/// How far a signature's time may be from the authority's clock.
pub const SIGNATURE_SKEW_SECS: i64 = 120;
/// Link requests open at once (unauthenticated: the bound keeps the table small).
pub const MAX_OPEN_LINK_REQUESTS: i64 = 1000;
/// Link requests open at once from one address (so that one client cannot use up the rest).
pub const MAX_OPEN_LINK_REQUESTS_PER_ADDRESS: i64 = 8;
/// Logins one device may have waiting at once.
pub const MAX_OPEN_LOGINS: i64 = 4;
/// Devices an account links at most, unless the account says fewer.
pub const DEFAULT_MAX_DEVICES: i64 = 8;
/// How often expired link requests and logins are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Why linking or a login was refused. Nothing was written.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkRefusal {
    /// The presented certificate is not level 3 (or is an administrator's).
    #[error("an account's trust anchor is a level-3 device certificate (TPM or a TEE unit's TPM key); this one is level {0}")]
    AnchorLevel(u8),
    /// The presented key anchors no account.
    #[error("this certificate's key anchors no account: create one with POST /v1/accounts")]
    NotAnAnchor,
    /// The key anchors an account already.
    #[error("this key anchors account {0} already")]
    AnchorsAnAccount(String),
    /// The anchor acts on another account.
    #[error("this anchor's account is {mine}, not {asked}")]
    OtherAccount {
        /// The anchor's account.
        mine: String,
        /// The account asked for.
        asked: String,
    },
    /// The link code is unknown, used or expired.
    #[error("the link code is unknown, used or expired: start linking again on the new device")]
    LinkUnusable,
    /// Too many link requests are open, in all or from this address.
    #[error("too many devices are waiting to be linked (from this address: at most {MAX_OPEN_LINK_REQUESTS_PER_ADDRESS}): link them, or try again when their codes expire (10 minutes)")]
    TooManyLinkRequests,
    /// The account has its maximum of devices.
    #[error("the account links at most {0} devices: unlink one first")]
    DeviceCap(i64),
    /// The key is linked to an account already.
    #[error("this device key is linked to an account already")]
    KeyInUse,
    /// No such linked device, or it was unlinked.
    #[error("no linked device {0:?} (never linked, or unlinked)")]
    UnknownDevice(String),
    /// A signature does not verify.
    #[error("the {0} signature does not verify")]
    Signature(&'static str),
    /// A signature's time is too far from the authority's clock.
    #[error("the signature's time is {0} s from the authority's clock (at most {SIGNATURE_SKEW_SECS} s)")]
    Stale(i64),
    /// The login is unknown, or its poll secret is wrong.
    #[error("no login {0:?}")]
    UnknownLogin(String),
    /// The login was approved already, expired, or its device was unlinked meanwhile.
    #[error(
        "the login was approved already, expired, or its device was unlinked: start a new login"
    )]
    LoginUnavailable,
    /// The delegation's terms are out of bounds.
    #[error("delegation: {0}")]
    DelegationTerms(String),
    /// The device is not the deputy of an open delegation of the login's account.
    #[error("{0:?} is not the deputy of an open delegation of this account: the anchor delegates with `inkan agent delegate`")]
    NotADeputy(String),
    /// A deputy approves the logins of the account's other devices, not its own.
    #[error("a deputy does not approve its own logins")]
    DeputyOwnLogin,
    /// The delegation is used up, outside its window, ended, or its anchor is no longer one.
    #[error("the delegation cannot approve: {0}")]
    DelegationUnusable(String),
    /// A device has too many logins waiting.
    #[error("this device has {MAX_OPEN_LOGINS} logins waiting already: wait for them to be approved or expire")]
    TooManyLogins,
}

/// The valid certificates of linked device `registration`.
async fn linked_certificates(
    store: &dyn inkan_store::Store,
    registration: &str,
) -> Result<Vec<String>, AuthorityError> {
    let san = format!("URI:urn:inkan:linked:{registration}");
    let mut found = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_certificates(&inkan_store::CertificateQuery {
                profile: Some("linked".into()),
                status: Some(inkan_store::CertificateStatus::Valid),
                limit: Some(1000),
                before_audit_seq: before,
                ..Default::default()
            })
            .await?;
        let Some(last) = page.last() else {
            return Ok(found);
        };
        before = Some(last.audit_seq);
        found.extend(
            page.into_iter()
                .filter(|c| c.sans.contains(&san))
                .map(|c| c.serial),
        );
    }
}

/// Accounts as an administrator sees them, over the store alone (the CLI): list, show, bind a
/// new anchor (a lost or replaced phone), remove an anchor, unlink a device.
#[derive(Clone)]
pub struct AccountRegistry {
    store: std::sync::Arc<dyn inkan_store::Store>,
}

impl AccountRegistry {
    /// The registry over `store`.
    pub fn new(store: std::sync::Arc<dyn inkan_store::Store>) -> Self {
        Self { store }
    }

    /// Every account.
    pub async fn accounts(&self) -> Result<Vec<Account>, AuthorityError> {
        Ok(self.store.accounts().await?)
    }

    /// One account, its anchors and devices.
    pub async fn show(&self, id: &str) -> Result<AccountDetails, AuthorityError> {
        let account = self.store.account(id).await?.ok_or_else(|| {
            AuthorityError::Invalid(format!("no account {id:?}: see `inkan account list`"))
        })?;
        Ok(AccountDetails {
            anchors: self.store.anchors(id).await?,
            devices: self.store.linked_devices(id).await?,
            delegations: self.store.delegations(id).await?,
            account,
        })
    }

    /// Ends the account's open delegation (a deputy device is lost); false if there was none.
    pub async fn end_delegation(&self, id: &str, actor: &str) -> Result<bool, AuthorityError> {
        Ok(self
            .store
            .end_delegation(id, "revoked", unix_ms(OffsetDateTime::now_utc()), actor)
            .await?)
    }

    /// Binds the key of certificate `serial` (valid, level 3, not an administrator's) as an
    /// anchor of account `id`: the owner's replacement phone, or a second anchor.
    pub async fn add_anchor(
        &self,
        id: &str,
        serial: &str,
        actor: &str,
    ) -> Result<Anchor, AuthorityError> {
        let record = self.store.certificate(serial).await?.ok_or_else(|| {
            AuthorityError::Invalid(format!("no certificate {serial}: see `inkan cert list`"))
        })?;
        let info = inkan_pki::CertificateInfo::parse(&record.der)?;
        let now = OffsetDateTime::now_utc();
        let valid = record.status == inkan_store::CertificateStatus::Valid
            && record.not_before <= now.unix_timestamp()
            && now.unix_timestamp() < record.not_after;
        if !valid {
            return Err(AuthorityError::Invalid(format!(
                "certificate {serial} is revoked or not valid now"
            )));
        }
        let level = info.level.unwrap_or(0);
        if level < 3 || record.profile == "admin" {
            return Err(LinkRefusal::AnchorLevel(level).into());
        }
        let anchor = Anchor {
            account_id: id.to_string(),
            spki_sha256: sha256_hex(&inkan_pki::spki_der(&record.der)?),
            serial: serial.to_string(),
            added_at_ms: unix_ms(now),
            removed_at_ms: None,
        };
        self.store
            .add_anchor(&anchor, actor)
            .await
            .map_err(|e| match e {
                inkan_store::StoreError::Conflict(_) => AuthorityError::Invalid(
                    "that certificate's key anchors an account already".into(),
                ),
                inkan_store::StoreError::NotFound(_) => {
                    AuthorityError::Invalid(format!("no account {id:?}: see `inkan account list`"))
                }
                other => other.into(),
            })?;
        Ok(anchor)
    }

    /// Removes the anchor whose key hash is `key_sha256` from account `id` (a lost phone: revoke
    /// its certificate too, `inkan cert revoke --cascade`, to revoke what it approved).
    pub async fn remove_anchor(
        &self,
        id: &str,
        key_sha256: &str,
        actor: &str,
    ) -> Result<(), AuthorityError> {
        let removed = self
            .store
            .remove_anchor(id, key_sha256, unix_ms(OffsetDateTime::now_utc()), actor)
            .await?;
        if removed {
            Ok(())
        } else {
            Err(AuthorityError::Invalid(format!(
                "no current anchor {key_sha256} in account {id:?}: see `inkan account show {id}`"
            )))
        }
    }

    /// Unlinks a device of account `id` and revokes its certificates; returns their serials.
    pub async fn unlink(
        &self,
        id: &str,
        registration: &str,
        actor: &str,
    ) -> Result<Vec<String>, AuthorityError> {
        let now = OffsetDateTime::now_utc();
        if !self
            .store
            .unlink_device(id, registration, unix_ms(now), actor)
            .await?
        {
            return Err(LinkRefusal::UnknownDevice(registration.into()).into());
        }
        let serials = linked_certificates(&*self.store, registration).await?;
        for serial in &serials {
            crate::revoke(
                &*self.store,
                serial,
                inkan_pki::RevocationReason::PrivilegeWithdrawn,
                now.unix_timestamp(),
                actor,
                false,
            )
            .await?;
        }
        Ok(serials)
    }
}

/// An account as its administrator sees it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AccountDetails {
    /// The account.
    pub account: Account,
    /// Its anchors, current and removed.
    pub anchors: Vec<Anchor>,
    /// Its devices, linked and unlinked.
    pub devices: Vec<LinkedDevice>,
    /// Its delegations, newest first.
    pub delegations: Vec<inkan_store::Delegation>,
}

/// A client certificate's key, as a linking request presents it (verified over mTLS).
#[derive(Clone, Debug)]
pub struct PresentedKey {
    /// The certificate's serial.
    pub serial: String,
    /// Its SubjectPublicKeyInfo (DER).
    pub spki_der: Vec<u8>,
    /// Its level.
    pub level: u8,
}

impl PresentedKey {
    pub(crate) fn spki_sha256(&self) -> String {
        sha256_hex(&self.spki_der)
    }
}

/// A new device's link code.
#[derive(Clone, Debug)]
pub struct LinkStart {
    /// The single-use token (16 random bytes), shown as a code or QR.
    pub token: Vec<u8>,
    /// The registration number the device gets.
    pub registration: String,
    /// The six-digit confirmation code both screens show.
    pub code: String,
    /// When the token stops being usable.
    pub expires_at: OffsetDateTime,
}

/// A link request as the anchor sees it before confirming.
#[derive(Clone, Debug)]
pub struct LinkPreview {
    /// The request.
    pub request: LinkRequest,
    /// The confirmation code to compare with the new device's screen.
    pub code: String,
    /// The account's current devices as (registration, key hash): with the new one, what the
    /// anchor signs.
    pub devices: Vec<(String, String)>,
    /// The anchor's account.
    pub account_id: String,
}

/// A login waiting for its anchor.
#[derive(Clone, Debug)]
pub struct LoginStarted {
    /// The login.
    pub login: Login,
    /// The secret the device polls with (32 random bytes).
    pub poll_secret: Vec<u8>,
}

/// Where a login stands.
#[derive(Clone, Debug)]
pub enum LoginStatus {
    /// Waiting for the anchor.
    Pending(Login),
    /// Approved: the certificate it produced, and the proof keyed by the login's session key
    /// that this authority issued it.
    Approved(Login, Box<inkan_store::CertificateRecord>, Vec<u8>),
}

fn random(bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut out);
    out
}

fn check_name(name: &str) -> Result<(), AuthorityError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= 64
        && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(AuthorityError::Invalid(format!(
            "name {name:?}: 1 to 64 printable characters"
        )))
    }
}

pub(crate) fn check_time(signed_at: i64, now: OffsetDateTime) -> Result<(), LinkRefusal> {
    let off = signed_at - now.unix_timestamp();
    if off.abs() > SIGNATURE_SKEW_SECS {
        return Err(LinkRefusal::Stale(off));
    }
    Ok(())
}

impl Authority {
    /// Creates an account anchored by `anchor` (a level-3 certificate that is not an
    /// administrator's).
    pub async fn create_account(
        &self,
        anchor: &PresentedKey,
        name: &str,
    ) -> Result<Account, AuthorityError> {
        check_name(name)?;
        self.check_anchor(anchor).await?;
        let now = unix_ms(self.now());
        let account = Account {
            id: format!("acct-{}", hex::encode(random(8))),
            name: name.to_string(),
            max_devices: DEFAULT_MAX_DEVICES,
            created_at_ms: now,
        };
        let bound = Anchor {
            account_id: account.id.clone(),
            spki_sha256: anchor.spki_sha256(),
            serial: anchor.serial.clone(),
            added_at_ms: now,
            removed_at_ms: None,
        };
        match self
            .store()
            .create_account(&account, &bound, &format!("cert:{}", anchor.serial))
            .await
        {
            Ok(()) => Ok(account),
            Err(inkan_store::StoreError::Conflict(_)) => {
                let existing = self.anchored_account(anchor).await?;
                Err(LinkRefusal::AnchorsAnAccount(existing.id).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn check_anchor(&self, anchor: &PresentedKey) -> Result<(), AuthorityError> {
        let admin = self
            .certificate(&anchor.serial)
            .await?
            .is_some_and(|r| r.profile == "admin");
        if anchor.level < 3 || admin {
            return Err(LinkRefusal::AnchorLevel(if admin { 0 } else { anchor.level }).into());
        }
        Ok(())
    }

    /// The account `anchor`'s key anchors.
    pub async fn anchored_account(&self, anchor: &PresentedKey) -> Result<Account, AuthorityError> {
        self.check_anchor(anchor).await?;
        Ok(self
            .store()
            .account_of_anchor(&anchor.spki_sha256())
            .await?
            .ok_or(LinkRefusal::NotAnAnchor)?)
    }

    /// The account `anchor` anchors, which must be `account_id`.
    pub(crate) async fn own_account(
        &self,
        anchor: &PresentedKey,
        account_id: &str,
    ) -> Result<Account, AuthorityError> {
        let account = self.anchored_account(anchor).await?;
        if account.id != account_id {
            return Err(LinkRefusal::OtherAccount {
                mine: account.id,
                asked: account_id.into(),
            }
            .into());
        }
        Ok(account)
    }

    /// A new device asks to be linked: its key (SubjectPublicKeyInfo DER, ECDSA P-256/P-384)
    /// and name get a registration number, a single-use token and the confirmation code.
    /// `client` is the address it came from (at most 8 open requests each).
    pub async fn start_link(
        &self,
        name: &str,
        spki_der: &[u8],
        client: &str,
    ) -> Result<LinkStart, AuthorityError> {
        check_name(name)?;
        if let Err(inkan_attest::LinkError::Key(why)) = verify_signature(spki_der, b"", b"") {
            return Err(AuthorityError::Invalid(format!("public_key: {why}")));
        }
        let token = random(16);
        let now = self.now();
        let expires_at = now + LINK_TTL;
        let spki_sha256 = sha256_hex(spki_der);
        let request = LinkRequest {
            token_sha256: sha256_hex(&token),
            registration: format!("ld-{}", hex::encode(random(6))),
            name: name.to_string(),
            spki_der: spki_der.to_vec(),
            spki_sha256: spki_sha256.clone(),
            created_at_ms: unix_ms(now),
            expires_at_ms: unix_ms(expires_at),
            used_at_ms: None,
            client: client.to_string(),
        };
        let stored = self
            .store()
            .create_link_request(
                &request,
                MAX_OPEN_LINK_REQUESTS,
                MAX_OPEN_LINK_REQUESTS_PER_ADDRESS,
                &format!("link:{}", request.registration),
            )
            .await?;
        if !stored {
            return Err(LinkRefusal::TooManyLinkRequests.into());
        }
        let key_hash = hex::decode(&spki_sha256).unwrap_or_default();
        Ok(LinkStart {
            code: confirmation_code(&token, &key_hash),
            token,
            registration: request.registration,
            expires_at,
        })
    }

    /// What `anchor` confirms for link token `token`: the device, the code, and the device
    /// list it signs.
    pub async fn preview_link(
        &self,
        anchor: &PresentedKey,
        token: &[u8],
    ) -> Result<LinkPreview, AuthorityError> {
        let account = self.anchored_account(anchor).await?;
        let request = self
            .store()
            .link_request(&sha256_hex(token))
            .await?
            .filter(|r| r.used_at_ms.is_none() && r.expires_at_ms > unix_ms(self.now()))
            .ok_or(LinkRefusal::LinkUnusable)?;
        let key_hash = hex::decode(&request.spki_sha256).unwrap_or_default();
        let mut devices: Vec<(String, String)> = self
            .store()
            .linked_devices(&account.id)
            .await?
            .into_iter()
            .filter(|d| d.unlinked_at_ms.is_none())
            .map(|d| (d.registration, d.spki_sha256))
            .collect();
        devices.push((request.registration.clone(), request.spki_sha256.clone()));
        Ok(LinkPreview {
            code: confirmation_code(token, &key_hash),
            request,
            devices,
            account_id: account.id,
        })
    }

    /// `anchor` links the device of link token `token`, having signed the account's device
    /// list with it at `signed_at` (Unix s).
    pub async fn confirm_link(
        &self,
        anchor: &PresentedKey,
        account_id: &str,
        token: &[u8],
        signed_at: i64,
        signature: &[u8],
    ) -> Result<LinkedDevice, AuthorityError> {
        self.own_account(anchor, account_id).await?;
        let preview = self.preview_link(anchor, token).await?;
        check_time(signed_at, self.now())?;
        let message = device_list_message(account_id, &preview.devices, signed_at);
        verify_signature(&anchor.spki_der, &message, signature)
            .map_err(|_| LinkRefusal::Signature("device list"))?;
        let now = unix_ms(self.now());
        let device = LinkedDevice {
            registration: preview.request.registration.clone(),
            account_id: account_id.to_string(),
            name: preview.request.name.clone(),
            spki_der: preview.request.spki_der.clone(),
            spki_sha256: preview.request.spki_sha256.clone(),
            anchor_serial: anchor.serial.clone(),
            list_signature: signature.to_vec(),
            linked_at_ms: now,
            unlinked_at_ms: None,
        };
        let outcome = self
            .store()
            .link_device(
                &preview.request.token_sha256,
                &device,
                now,
                &format!("cert:{}", anchor.serial),
            )
            .await?;
        match outcome {
            LinkOutcome::Linked => Ok(device),
            LinkOutcome::RequestUnusable => Err(LinkRefusal::LinkUnusable.into()),
            LinkOutcome::CapReached(max) => Err(LinkRefusal::DeviceCap(max).into()),
            LinkOutcome::KeyInUse => Err(LinkRefusal::KeyInUse.into()),
            LinkOutcome::UnknownAccount => Err(LinkRefusal::NotAnAnchor.into()),
        }
    }

    /// An account and its anchors and devices, for its anchor.
    pub async fn account_view(
        &self,
        anchor: &PresentedKey,
        account_id: &str,
    ) -> Result<(Account, Vec<Anchor>, Vec<LinkedDevice>), AuthorityError> {
        let account = self.own_account(anchor, account_id).await?;
        let anchors = self.store().anchors(account_id).await?;
        let devices = self.store().linked_devices(account_id).await?;
        Ok((account, anchors, devices))
    }

    /// Accounts as an administrator sees them (over this authority's store).
    pub fn account_registry(&self) -> AccountRegistry {
        AccountRegistry::new(self.store().clone())
    }

    /// An administrator unlinks a device (audited with `actor`); its certificates are revoked
    /// through this authority, so OCSP and the revocation feed know at once.
    pub async fn unlink_as_admin(
        &self,
        account_id: &str,
        registration: &str,
        actor: &str,
    ) -> Result<(), AuthorityError> {
        let unlinked = self
            .store()
            .unlink_device(account_id, registration, unix_ms(self.now()), actor)
            .await?;
        if !unlinked {
            return Err(LinkRefusal::UnknownDevice(registration.into()).into());
        }
        self.revoke_linked_certificates(registration, actor).await
    }

    /// `anchor` unlinks a device of its account: its logins are refused from now on, and its
    /// certificates are revoked.
    pub async fn unlink(
        &self,
        anchor: &PresentedKey,
        account_id: &str,
        registration: &str,
    ) -> Result<(), AuthorityError> {
        self.own_account(anchor, account_id).await?;
        let actor = format!("cert:{}", anchor.serial);
        let unlinked = self
            .store()
            .unlink_device(account_id, registration, unix_ms(self.now()), &actor)
            .await?;
        if !unlinked {
            return Err(LinkRefusal::UnknownDevice(registration.into()).into());
        }
        self.revoke_linked_certificates(registration, &actor).await
    }

    /// Revokes every valid certificate of linked device `registration` (privilegeWithdrawn).
    async fn revoke_linked_certificates(
        &self,
        registration: &str,
        actor: &str,
    ) -> Result<(), AuthorityError> {
        for serial in linked_certificates(&**self.store(), registration).await? {
            self.revoke(
                &serial,
                inkan_pki::RevocationReason::PrivilegeWithdrawn,
                actor,
                false,
            )
            .await?;
        }
        Ok(())
    }

    /// A linked device asks to log in: a CSR for its own key, a nonce, and its signature over
    /// the request hash. Returns the login (waiting for the anchor) and the poll secret.
    pub async fn request_login(
        &self,
        registration: &str,
        nonce: &[u8],
        csr_der: &[u8],
        sealed_session: &[u8],
        signature: &[u8],
    ) -> Result<LoginStarted, AuthorityError> {
        if !(16..=64).contains(&nonce.len()) {
            return Err(AuthorityError::Invalid("nonce: 16 to 64 bytes".into()));
        }
        let device = self
            .store()
            .linked_device(registration)
            .await?
            .filter(|d| d.unlinked_at_ms.is_none())
            .ok_or_else(|| LinkRefusal::UnknownDevice(registration.into()))?;
        // The session key must open for this device and nonce before anything is stored.
        self.login_key()?
            .open(sealed_session, registration, nonce)
            .map_err(|e| AuthorityError::Invalid(format!("session: {e}")))?;
        let profile = self
            .profile("linked")
            .ok_or_else(|| AuthorityError::UnknownProfile("linked".into()))?;
        let checked = CsrCheck::new(profile).check(csr_der)?;
        if checked.spki_der != device.spki_der {
            return Err(AuthorityError::Invalid(
                "the CSR is not for this device's linked key".into(),
            ));
        }
        let request_sha256 = login_request_sha256(registration, nonce, csr_der, sealed_session);
        verify_signature(&device.spki_der, &request_sha256, signature)
            .map_err(|_| LinkRefusal::Signature("device"))?;
        let now = self.now();
        let poll_secret = random(32);
        let login = Login {
            id: format!("login-{}", hex::encode(random(8))),
            registration: registration.to_string(),
            account_id: device.account_id.clone(),
            request_sha256: hex::encode(request_sha256),
            nonce: nonce.to_vec(),
            csr: csr_der.to_vec(),
            session: sealed_session.to_vec(),
            poll_sha256: sha256_hex(&poll_secret),
            created_at_ms: unix_ms(now),
            expires_at_ms: unix_ms(now + LOGIN_TTL),
            approved_at_ms: None,
            anchor_serial: None,
            signature: None,
            serial: None,
            delegation_id: None,
        };
        let stored = self
            .store()
            .create_login(&login, MAX_OPEN_LOGINS, &format!("linked:{registration}"))
            .await?;
        if !stored {
            return Err(LinkRefusal::TooManyLogins.into());
        }
        Ok(LoginStarted { login, poll_secret })
    }

    /// The logins waiting for `anchor`'s approval.
    pub async fn pending_logins(
        &self,
        anchor: &PresentedKey,
    ) -> Result<Vec<Login>, AuthorityError> {
        let account = self.anchored_account(anchor).await?;
        Ok(self
            .store()
            .pending_logins(&account.id, unix_ms(self.now()))
            .await?)
    }

    /// `anchor` approves login `login_id` with its signature over (request hash, nonce,
    /// `signed_at`): the linked device's certificate is issued, consuming the approval.
    pub async fn approve_login(
        &self,
        anchor: &PresentedKey,
        login_id: &str,
        signed_at: i64,
        signature: &[u8],
    ) -> Result<Issued, AuthorityError> {
        let account = self.anchored_account(anchor).await?;
        let login = self
            .store()
            .login(login_id)
            .await?
            .filter(|l| l.account_id == account.id)
            .ok_or_else(|| LinkRefusal::UnknownLogin(login_id.into()))?;
        if login.approved_at_ms.is_some() || login.expires_at_ms <= unix_ms(self.now()) {
            return Err(LinkRefusal::LoginUnavailable.into());
        }
        check_time(signed_at, self.now())?;
        let request_sha256 = hex::decode(&login.request_sha256)
            .map_err(|_| AuthorityError::Ca("a stored login hash is not hex".into()))?;
        let message = approval_message(&request_sha256, &login.nonce, signed_at);
        verify_signature(&anchor.spki_der, &message, signature)
            .map_err(|_| LinkRefusal::Signature("approval"))?;
        self.issue(IssueRequest {
            csr_der: login.csr.clone(),
            profile: "linked".into(),
            label: None,
            method: EnrollMethod::Linked(Box::new(LinkedLogin {
                account_id: account.id,
                registration: login.registration.clone(),
                login_id: login.id.clone(),
                anchor_serial: anchor.serial.clone(),
                anchor_level: anchor.level,
                signature: signature.to_vec(),
                signed_at,
                deputy: None,
            })),
            validity: None,
        })
        .await
    }

    /// A login approved away from the network: the anchor signed it offline (the linked device
    /// read the request from its screen, the anchor showed its signature back), and the device
    /// carries the approval here with its poll secret. The anchor is the certificate
    /// `anchor_serial`, which must be valid, unrevoked and a current anchor of the account;
    /// everything else is as [`Authority::approve_login`].
    pub async fn approve_login_carried(
        &self,
        login_id: &str,
        poll_secret: &[u8],
        anchor_serial: &str,
        signed_at: i64,
        signature: &[u8],
    ) -> Result<Issued, AuthorityError> {
        let login = self.login_for_poller(login_id, poll_secret).await?;
        let anchor = self.stored_anchor(anchor_serial).await?;
        self.approve_login(&anchor, &login.id, signed_at, signature)
            .await
    }

    /// Login `login_id`, if `poll_secret` is its device's.
    /// The proof, keyed by `login`'s session key, that this authority issued `certificate_der`
    /// for it (see [`inkan_attest::session_proof`]).
    pub fn session_proof(
        &self,
        login: &Login,
        certificate_der: &[u8],
    ) -> Result<Vec<u8>, AuthorityError> {
        let key = self
            .login_key()?
            .open(&login.session, &login.registration, &login.nonce)
            .map_err(|e| AuthorityError::Ca(format!("login {}: {e}", login.id)))?;
        Ok(inkan_attest::session_proof(
            &key,
            &login.id,
            certificate_der,
        ))
    }

    /// The proof for login `login_id`'s certificate `certificate_der`, as
    /// [`Authority::session_proof`].
    pub async fn login_proof(
        &self,
        login_id: &str,
        certificate_der: &[u8],
    ) -> Result<Vec<u8>, AuthorityError> {
        let login = self
            .store()
            .login(login_id)
            .await?
            .ok_or_else(|| LinkRefusal::UnknownLogin(login_id.into()))?;
        self.session_proof(&login, certificate_der)
    }

    /// The key of certificate `serial` as an anchor would present it, if the certificate is
    /// valid now (whether it anchors an account is checked by the caller).
    pub(crate) async fn stored_anchor(&self, serial: &str) -> Result<PresentedKey, AuthorityError> {
        let record = self
            .certificate(serial)
            .await?
            .ok_or(LinkRefusal::NotAnAnchor)?;
        let now = self.now().unix_timestamp();
        let usable = record.status == inkan_store::CertificateStatus::Valid
            && record.not_before <= now
            && now < record.not_after;
        if !usable {
            return Err(LinkRefusal::NotAnAnchor.into());
        }
        let info = inkan_pki::CertificateInfo::parse(&record.der)?;
        Ok(PresentedKey {
            serial: record.serial.clone(),
            spki_der: inkan_pki::spki_der(&record.der)?,
            level: info.level.unwrap_or(0),
        })
    }

    pub(crate) async fn login_for_poller(
        &self,
        login_id: &str,
        poll_secret: &[u8],
    ) -> Result<Login, AuthorityError> {
        let unknown = || LinkRefusal::UnknownLogin(login_id.into());
        let login = self.store().login(login_id).await?.ok_or_else(unknown)?;
        let presented = sha256_hex(poll_secret);
        if !bool::from(presented.as_bytes().ct_eq(login.poll_sha256.as_bytes())) {
            return Err(unknown().into());
        }
        Ok(login)
    }

    /// Where login `login_id` stands, for the device that holds its poll secret.
    pub async fn login_status(
        &self,
        login_id: &str,
        poll_secret: &[u8],
    ) -> Result<LoginStatus, AuthorityError> {
        let login = self.login_for_poller(login_id, poll_secret).await?;
        match &login.serial {
            Some(serial) => {
                let record = self.certificate(serial).await?.ok_or_else(|| {
                    AuthorityError::Ca(format!("certificate {serial} is not recorded"))
                })?;
                let proof = self.session_proof(&login, &record.der)?;
                Ok(LoginStatus::Approved(login, Box::new(record), proof))
            }
            None if login.expires_at_ms <= unix_ms(self.now()) => {
                Err(LinkRefusal::LoginUnavailable.into())
            }
            None => Ok(LoginStatus::Pending(login)),
        }
    }

    /// Deletes expired link requests and logins now and every ten minutes.
    pub(crate) fn spawn_link_purge(&self) {
        let store = self.store().clone();
        let clock = self.clock_fn();
        tokio::spawn(async move {
            loop {
                match store.purge_links(unix_ms(clock()), "system").await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "expired link requests and logins purged"),
                    Err(e) => tracing::warn!(error = %e, "purging expired link requests failed"),
                }
                tokio::time::sleep(PURGE_EVERY).await;
            }
        });
    }
}
