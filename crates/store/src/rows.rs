//! Row decoding shared by the backends: both store the same columns under the same names, so
//! each record is read from a row in one place, whichever database the row came from.

use serde::de::DeserializeOwned;
use sqlx::Row;

use crate::{
    AuditEvent, CertificateRecord, CertificateStatus, CrlRecord, DeviceCertificate, DeviceRecord,
    DeviceStatus, IssuerRecord, ProductRecord, ProductStatus, RevocationRecord, StoreError,
    TaProfile, TeeAttestation, TeeChallenge, TeeDevice, TeeModel, TpmActivation, TpmAttestation,
};

/// A database row read by column name, with the few column types the schema uses.
pub(crate) trait StoredRow {
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// A JSON text column, decoded.
    fn json<T: DeserializeOwned>(&self, column: &str) -> Result<T, StoreError> {
        serde_json::from_str(&self.text(column)?)
            .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    }
}

macro_rules! stored_row {
    ($row:ty) => {
        impl StoredRow for $row {
            fn text(&self, column: &str) -> Result<String, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(self.try_get(column)?)
            }
        }
    };
}

stored_row!(sqlx::sqlite::SqliteRow);
stored_row!(sqlx::postgres::PgRow);

/// JSON text for a column.
pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn certificate<R: StoredRow>(row: &R) -> Result<CertificateRecord, StoreError> {
    Ok(CertificateRecord {
        serial: row.text("serial")?,
        issuer_id: row.text("issuer_id")?,
        subject: row.text("subject")?,
        sans: row.json("sans")?,
        spki_sha256: row.text("spki_sha256")?,
        not_before: row.int("not_before")?,
        not_after: row.int("not_after")?,
        profile: row.text("profile")?,
        method: row.text("method")?,
        evidence: row.json("evidence")?,
        status: CertificateStatus::from_stored(&row.text("status")?)?,
        revoked_at: row.opt_int("revoked_at")?,
        revocation_reason: row.opt_text("revocation_reason")?,
        der: row.bytes("der")?,
        created_at_ms: row.int("created_at")?,
        audit_seq: row.int("audit_seq")?,
        bootstrap_serial: row.opt_text("bootstrap_serial")?,
        level: row.opt_int("level")?,
    })
}

pub(crate) fn issuer<R: StoredRow>(row: &R) -> Result<IssuerRecord, StoreError> {
    Ok(IssuerRecord {
        id: row.text("id")?,
        role: row.text("role")?,
        subject: row.text("subject")?,
        not_after: row.int("not_after")?,
        der: row.bytes("der")?,
        created_at_ms: row.int("created_at")?,
    })
}

pub(crate) fn revocation<R: StoredRow>(row: &R) -> Result<RevocationRecord, StoreError> {
    Ok(RevocationRecord {
        seq: row.int("seq")?,
        serial: row.text("serial")?,
        issuer_id: row.text("issuer_id")?,
        revoked_at: row.int("revoked_at")?,
        reason: row.text("reason")?,
    })
}

pub(crate) fn crl<R: StoredRow>(row: &R) -> Result<CrlRecord, StoreError> {
    Ok(CrlRecord {
        issuer_id: row.text("issuer_id")?,
        number: row.int("number")?,
        this_update: row.int("this_update")?,
        next_update: row.int("next_update")?,
        der: row.bytes("der")?,
    })
}

pub(crate) fn product<R: StoredRow>(row: &R) -> Result<ProductRecord, StoreError> {
    Ok(ProductRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        attributes: row.json("attributes")?,
        max_devices: row.opt_int("max_devices")?,
        device_validity_secs: row.int("device_validity_secs")?,
        status: ProductStatus::from_stored(&row.text("status")?)?,
        cert_serial: row.opt_text("cert_serial")?,
        psk: row.opt_text("psk_group_key")?.is_some(),
        created_at_ms: row.int("created_at")?,
    })
}

pub(crate) fn device<R: StoredRow>(row: &R) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        id: row.text("id")?,
        product_id: row.text("product_id")?,
        attributes: row.json("attributes")?,
        spki_sha256: row.text("spki_sha256")?,
        registration_id: row.opt_text("registration_id")?,
        status: DeviceStatus::from_stored(&row.text("status")?)?,
        created_at_ms: row.int("created_at")?,
        last_seen_ms: row.int("last_seen")?,
    })
}

pub(crate) fn device_certificate<R: StoredRow>(row: &R) -> Result<DeviceCertificate, StoreError> {
    Ok(DeviceCertificate {
        serial: row.text("serial")?,
        device_id: row.text("device_id")?,
        issuer: row.text("issuer")?,
        not_after: row.int("not_after")?,
        der: row.bytes("der")?,
        created_at_ms: row.int("created_at")?,
    })
}

pub(crate) fn audit_event<R: StoredRow>(row: &R) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        seq: row.int("seq")?,
        at_ms: row.int("at_ms")?,
        kind: row.text("kind")?,
        actor: row.text("actor")?,
        subject: row.text("subject")?,
        data: row.text("data")?,
        prev_hash: row.text("prev_hash")?,
        hash: row.text("hash")?,
    })
}

pub(crate) fn tpm_activation<R: StoredRow>(row: &R) -> Result<TpmActivation, StoreError> {
    Ok(TpmActivation {
        id: row.text("id")?,
        ek_cert_sha256: row.opt_text("ek_cert_sha256")?,
        ek_issuer: row.opt_text("ek_issuer")?,
        ek_public_sha256: row.text("ek_public_sha256")?,
        ak_name: row.text("ak_name")?,
        ak_public: row.bytes("ak_public")?,
        secret_sha256: row.text("secret_sha256")?,
        nonce: row.bytes("nonce")?,
        created_at_ms: row.int("created_at")?,
        expires_at_ms: row.int("expires_at")?,
        used_at_ms: row.opt_int("used_at")?,
        serial: row.opt_text("serial")?,
    })
}

pub(crate) fn tpm_attestation<R: StoredRow>(row: &R) -> Result<TpmAttestation, StoreError> {
    Ok(TpmAttestation {
        serial: row.text("serial")?,
        activation_id: row.text("activation_id")?,
        ek_cert_sha256: row.opt_text("ek_cert_sha256")?,
        ek_issuer: row.opt_text("ek_issuer")?,
        ek_public_sha256: row.text("ek_public_sha256")?,
        ak_name: row.text("ak_name")?,
        key_name: row.text("key_name")?,
        checks: row.json("checks")?,
        verified_at_ms: row.int("verified_at")?,
    })
}

pub(crate) fn ta_profile<R: StoredRow>(row: &R) -> Result<TaProfile, StoreError> {
    Ok(TaProfile {
        name: row.text("name")?,
        version: row.int("version")?,
        sk_csr_sealed: row.bytes("sk_csr_sealed")?,
        identity_fields: row.json("identity_fields")?,
        key_algorithm: row.text("key_algorithm")?,
        certificate_profile: row.text("certificate_profile")?,
        created_at_ms: row.int("created_at")?,
        accepted_until_ms: row.opt_int("accepted_until")?,
        revoked_at_ms: row.opt_int("revoked_at")?,
    })
}

pub(crate) fn tee_model<R: StoredRow>(row: &R) -> Result<TeeModel, StoreError> {
    Ok(TeeModel {
        name: row.text("name")?,
        master_sealed: row.bytes("master_sealed")?,
        created_at_ms: row.int("created_at")?,
    })
}

pub(crate) fn tee_device<R: StoredRow>(row: &R) -> Result<TeeDevice, StoreError> {
    Ok(TeeDevice {
        uid: row.text("uid")?,
        model: row.text("model")?,
        created_at_ms: row.int("created_at")?,
        ek_public: row.opt_bytes("ek_public")?,
    })
}

pub(crate) fn tee_challenge<R: StoredRow>(row: &R) -> Result<TeeChallenge, StoreError> {
    Ok(TeeChallenge {
        nonce: row.text("nonce")?,
        uid: row.text("uid")?,
        created_at_ms: row.int("created_at")?,
        expires_at_ms: row.int("expires_at")?,
        used_at_ms: row.opt_int("used_at")?,
        serial: row.opt_text("serial")?,
        tpm_key: row.opt_bytes("tpm_key")?,
        tpm_secret_sealed: row.opt_bytes("tpm_secret")?,
    })
}

pub(crate) fn tee_attestation<R: StoredRow>(row: &R) -> Result<TeeAttestation, StoreError> {
    Ok(TeeAttestation {
        serial: row.text("serial")?,
        uid: row.text("uid")?,
        model: row.text("model")?,
        profile: row.text("profile")?,
        version: row.int("version")?,
        challenge: row.text("challenge")?,
        key_storage: row.text("key_storage")?,
        identity: row.json("identity")?,
        checks: row.json("checks")?,
        verified_at_ms: row.int("verified_at")?,
    })
}

pub(crate) fn account<R: StoredRow>(row: &R) -> Result<crate::Account, StoreError> {
    Ok(crate::Account {
        id: row.text("id")?,
        name: row.text("name")?,
        max_devices: row.int("max_devices")?,
        created_at_ms: row.int("created_at")?,
    })
}

pub(crate) fn anchor<R: StoredRow>(row: &R) -> Result<crate::Anchor, StoreError> {
    Ok(crate::Anchor {
        account_id: row.text("account_id")?,
        spki_sha256: row.text("spki_sha256")?,
        serial: row.text("serial")?,
        added_at_ms: row.int("added_at")?,
        removed_at_ms: row.opt_int("removed_at")?,
    })
}

pub(crate) fn link_request<R: StoredRow>(row: &R) -> Result<crate::LinkRequest, StoreError> {
    Ok(crate::LinkRequest {
        token_sha256: row.text("token_sha256")?,
        registration: row.text("registration")?,
        name: row.text("name")?,
        spki_der: row.bytes("spki_der")?,
        spki_sha256: row.text("spki_sha256")?,
        created_at_ms: row.int("created_at")?,
        expires_at_ms: row.int("expires_at")?,
        used_at_ms: row.opt_int("used_at")?,
        client: row.text("client")?,
    })
}

pub(crate) fn linked_device<R: StoredRow>(row: &R) -> Result<crate::LinkedDevice, StoreError> {
    Ok(crate::LinkedDevice {
        registration: row.text("registration")?,
        account_id: row.text("account_id")?,
        name: row.text("name")?,
        spki_der: row.bytes("spki_der")?,
        spki_sha256: row.text("spki_sha256")?,
        anchor_serial: row.text("anchor_serial")?,
        list_signature: row.bytes("list_signature")?,
        linked_at_ms: row.int("linked_at")?,
        unlinked_at_ms: row.opt_int("unlinked_at")?,
    })
}

pub(crate) fn login<R: StoredRow>(row: &R) -> Result<crate::Login, StoreError> {
    Ok(crate::Login {
        id: row.text("id")?,
        registration: row.text("registration")?,
        account_id: row.text("account_id")?,
        request_sha256: row.text("request_sha256")?,
        nonce: row.bytes("nonce")?,
        csr: row.bytes("csr")?,
        session: row.opt_bytes("session")?.unwrap_or_default(),
        poll_sha256: row.text("poll_sha256")?,
        created_at_ms: row.int("created_at")?,
        expires_at_ms: row.int("expires_at")?,
        approved_at_ms: row.opt_int("approved_at")?,
        anchor_serial: row.opt_text("anchor_serial")?,
        signature: row.opt_bytes("signature")?,
        serial: row.opt_text("serial")?,
        delegation_id: row.opt_text("delegation_id")?,
    })
}

pub(crate) fn delegation<R: StoredRow>(row: &R) -> Result<crate::Delegation, StoreError> {
    Ok(crate::Delegation {
        id: row.text("id")?,
        account_id: row.text("account_id")?,
        deputy: row.text("deputy")?,
        anchor_serial: row.text("anchor_serial")?,
        not_before_ms: row.int("not_before")?,
        not_after_ms: row.int("not_after")?,
        max_approvals: row.int("max_approvals")?,
        used: row.int("used")?,
        signed_at: row.int("signed_at")?,
        signature: row.bytes("signature")?,
        created_at_ms: row.int("created_at")?,
        ended_at_ms: row.opt_int("ended_at")?,
        end_reason: row.opt_text("end_reason")?,
    })
}
