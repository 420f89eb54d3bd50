//! What each audited write says: the audit payloads, as pure functions shared by every backend
//! (a backend writes the event in its transaction but never composes it).

use serde_json::json;
use sha2::Digest;

use crate::{
    DeviceCertificate, DeviceRecord, IssuerRecord, NewAuditEvent, NewCertificate, ProductRecord,
    Revocation, TaProfile, TeeAttestation, TeeChallenge, TeeDevice, TeeModel, TpmActivation,
    TpmAttestation, TpmBinding,
};

/// `certificate.issued`.
pub(crate) fn certificate_issued(cert: &NewCertificate, at_ms: i64) -> NewAuditEvent {
    let data = json!({
        "subject": cert.subject,
        "profile": cert.profile,
        "method": cert.method,
        "not_after": cert.not_after,
        "spki_sha256": cert.spki_sha256,
    });
    NewAuditEvent::new(at_ms, "certificate.issued", &cert.actor, &cert.serial, data)
}

/// `certificate.revoked`, of `serial` (the revocation's own, or one it cascades to).
pub(crate) fn certificate_revoked(
    revocation: &Revocation<'_>,
    serial: &str,
    cascade_from: Option<&str>,
) -> NewAuditEvent {
    NewAuditEvent::new(
        revocation.revoked_at.saturating_mul(1000),
        "certificate.revoked",
        revocation.actor,
        serial,
        json!({"reason": revocation.reason, "cascade_from": cascade_from}),
    )
}

/// `issuer.registered`.
pub(crate) fn issuer_registered(issuer: &IssuerRecord, actor: &str) -> NewAuditEvent {
    let data = json!({"role": issuer.role, "subject": issuer.subject});
    NewAuditEvent::new(
        issuer.created_at_ms,
        "issuer.registered",
        actor,
        &issuer.id,
        data,
    )
}

/// `est.secret.set`.
pub(crate) fn est_secret_set(label: &str, actor: &str, at_ms: i64) -> NewAuditEvent {
    NewAuditEvent::new(at_ms, "est.secret.set", actor, label, json!({}))
}

/// `est.secret.revoked`.
pub(crate) fn est_secret_revoked(label: &str, actor: &str, at_ms: i64) -> NewAuditEvent {
    NewAuditEvent::new(at_ms, "est.secret.revoked", actor, label, json!({}))
}

/// `admin.token.revoked`.
pub(crate) fn admin_token_revoked(name: &str, id: &str, actor: &str, at_ms: i64) -> NewAuditEvent {
    NewAuditEvent::new(at_ms, "admin.token.revoked", actor, name, json!({"id": id}))
}

/// `admin.token.consumed`: a single-use admin token was used.
pub(crate) fn admin_token_consumed(name: &str, actor: &str, at_ms: i64) -> NewAuditEvent {
    NewAuditEvent::new(at_ms, "admin.token.consumed", actor, name, json!({}))
}

/// `admin.token.created`.
pub(crate) fn admin_token_created(name: &str, actor: &str, at_ms: i64) -> NewAuditEvent {
    NewAuditEvent::new(at_ms, "admin.token.created", actor, name, json!({}))
}

/// `product.created`.
pub(crate) fn product_created(product: &ProductRecord, actor: &str) -> NewAuditEvent {
    let data = json!({"name": product.name, "max_devices": product.max_devices});
    NewAuditEvent::new(
        product.created_at_ms,
        "product.created",
        actor,
        &product.id,
        data,
    )
}

/// `product.psk-enabled` or `product.psk-disabled`.
pub(crate) fn product_psk(
    product_id: &str,
    enabled: bool,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    let kind = if enabled {
        "product.psk-enabled"
    } else {
        "product.psk-disabled"
    };
    NewAuditEvent::new(at_ms, kind, actor, product_id, json!({}))
}

/// `product.<status>` or `device.<status>`.
pub(crate) fn status_set(
    kind: &str,
    id: &str,
    status: &str,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(at_ms, format!("{kind}.{status}"), actor, id, json!({}))
}

/// `device.registered`.
pub(crate) fn device_registered(device: &DeviceRecord, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        device.created_at_ms,
        "device.registered",
        actor,
        &device.id,
        json!({"product": device.product_id}),
    )
}

/// `device.certificate`: a certificate from another CA recorded against its device.
pub(crate) fn device_certificate(cert: &DeviceCertificate) -> NewAuditEvent {
    NewAuditEvent::new(
        cert.created_at_ms,
        "device.certificate",
        format!("device:{}", cert.device_id),
        &cert.device_id,
        json!({"serial": cert.serial, "issuer": cert.issuer}),
    )
}

/// `tpm.activation.created`.
pub(crate) fn tpm_activation_created(a: &TpmActivation, actor: &str) -> NewAuditEvent {
    let data = json!({
        "ek_cert_sha256": a.ek_cert_sha256,
        "ek_issuer": a.ek_issuer,
        "ek_public_sha256": a.ek_public_sha256,
        "ak_name": a.ak_name,
        "expires_at": a.expires_at_ms,
    });
    NewAuditEvent::new(
        a.created_at_ms,
        "tpm.activation.created",
        actor,
        &a.id,
        data,
    )
}

/// `tpm.activation.used`.
pub(crate) fn tpm_activation_used(e: &TpmAttestation, actor: &str, at_ms: i64) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "tpm.activation.used",
        actor,
        &e.activation_id,
        json!({"serial": e.serial, "key_name": e.key_name}),
    )
}

/// `tee.profile.created`. Never the sealed SK_CSR.
pub(crate) fn tee_profile_created(p: &TaProfile, actor: &str) -> NewAuditEvent {
    let data = json!({
        "version": p.version,
        "identity_fields": p.identity_fields,
        "key_algorithm": p.key_algorithm,
        "certificate_profile": p.certificate_profile,
    });
    NewAuditEvent::new(p.created_at_ms, "tee.profile.created", actor, &p.name, data)
}

/// `tee.profile.rotated`: `next` added, older versions accepted until `grace_until_ms`. Never
/// the sealed SK_CSR.
pub(crate) fn tee_profile_rotated(
    next: &TaProfile,
    grace_until_ms: i64,
    actor: &str,
) -> NewAuditEvent {
    let data = json!({
        "version": next.version,
        "identity_fields": next.identity_fields,
        "key_algorithm": next.key_algorithm,
        "certificate_profile": next.certificate_profile,
        "previous_accepted_until": grace_until_ms,
    });
    NewAuditEvent::new(
        next.created_at_ms,
        "tee.profile.rotated",
        actor,
        &next.name,
        data,
    )
}

/// `tee.profile.revoked`: every version of `name` (`versions` of them).
pub(crate) fn tee_profile_revoked(
    name: &str,
    versions: u64,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "tee.profile.revoked",
        actor,
        name,
        json!({"versions": versions}),
    )
}

/// `tee.model.created`. Never the sealed master.
pub(crate) fn tee_model_created(m: &TeeModel, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        m.created_at_ms,
        "tee.model.created",
        actor,
        &m.name,
        json!({}),
    )
}

/// `tee.device.registered`.
pub(crate) fn tee_device_registered(d: &TeeDevice, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        d.created_at_ms,
        "tee.device.registered",
        actor,
        &d.uid,
        json!({"model": d.model}),
    )
}

/// `tee.ta.delivered`: version `version` of TA profile `profile` handed to device `uid`.
pub(crate) fn tee_ta_delivered(
    uid: &str,
    profile: &str,
    version: i64,
    binding: Option<&TpmBinding>,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    let mut data = json!({"profile": profile, "version": version});
    if let Some(b) = binding {
        data["challenge"] = json!(b.nonce);
        data["tpm_key_sha256"] = json!(hex::encode(sha2::Sha256::digest(&b.key_public)));
    }
    NewAuditEvent::new(at_ms, "tee.ta.delivered", actor, uid, data)
}

/// `tee.challenge.created`.
pub(crate) fn tee_challenge_created(c: &TeeChallenge, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        c.created_at_ms,
        "tee.challenge.created",
        actor,
        &c.nonce,
        json!({"uid": c.uid, "expires_at": c.expires_at_ms}),
    )
}

/// `tee.challenge.used`: consumed by the certificate `e.serial`.
pub(crate) fn tee_challenge_used(e: &TeeAttestation, actor: &str, at_ms: i64) -> NewAuditEvent {
    let data = json!({
        "serial": e.serial,
        "uid": e.uid,
        "model": e.model,
        "profile": e.profile,
        "version": e.version,
        "key_storage": e.key_storage,
    });
    NewAuditEvent::new(at_ms, "tee.challenge.used", actor, &e.challenge, data)
}

/// `tee.challenge.spent`: used by something other than a certificate (a location report).
pub(crate) fn tee_challenge_spent(
    nonce: &str,
    uid: &str,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "tee.challenge.spent",
        actor,
        nonce,
        json!({"uid": uid}),
    )
}

/// `tee.challenges.purged`: expired, unused challenges deleted.
pub(crate) fn tee_challenges_purged(count: u64, actor: &str, at_ms: i64) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "tee.challenges.purged",
        actor,
        "tee_challenges",
        json!({"deleted": count, "expired_before": at_ms}),
    )
}

/// `tpm.activations.purged`: expired, unused activations deleted.
pub(crate) fn tpm_activations_purged(count: u64, actor: &str, at_ms: i64) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "tpm.activations.purged",
        actor,
        "tpm_activations",
        json!({"deleted": count, "expired_before": at_ms}),
    )
}

/// `account.created`, with its first anchor.
pub(crate) fn account_created(
    a: &crate::Account,
    anchor: &crate::Anchor,
    actor: &str,
) -> NewAuditEvent {
    NewAuditEvent::new(
        a.created_at_ms,
        "account.created",
        actor,
        &a.id,
        json!({"name": a.name, "max_devices": a.max_devices, "anchor_spki_sha256": anchor.spki_sha256, "anchor_serial": anchor.serial}),
    )
}

/// `account.anchor.added`.
pub(crate) fn anchor_added(anchor: &crate::Anchor, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        anchor.added_at_ms,
        "account.anchor.added",
        actor,
        &anchor.account_id,
        json!({"spki_sha256": anchor.spki_sha256, "serial": anchor.serial}),
    )
}

/// `account.anchor.removed`.
pub(crate) fn anchor_removed(
    account_id: &str,
    spki_sha256: &str,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "account.anchor.removed",
        actor,
        account_id,
        json!({"spki_sha256": spki_sha256}),
    )
}

/// `link.requested`: a new device asked to be linked.
pub(crate) fn link_requested(r: &crate::LinkRequest, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        r.created_at_ms,
        "link.requested",
        actor,
        &r.registration,
        json!({"name": r.name, "spki_sha256": r.spki_sha256, "expires_at": r.expires_at_ms}),
    )
}

/// `link.device.linked`.
pub(crate) fn device_linked(d: &crate::LinkedDevice, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        d.linked_at_ms,
        "link.device.linked",
        actor,
        &d.registration,
        json!({"account": d.account_id, "name": d.name, "spki_sha256": d.spki_sha256, "anchor_serial": d.anchor_serial}),
    )
}

/// `link.device.unlinked`.
pub(crate) fn device_unlinked(
    account_id: &str,
    registration: &str,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "link.device.unlinked",
        actor,
        registration,
        json!({"account": account_id}),
    )
}

/// `login.requested`.
pub(crate) fn login_requested(l: &crate::Login, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        l.created_at_ms,
        "login.requested",
        actor,
        &l.id,
        json!({"registration": l.registration, "account": l.account_id, "request_sha256": l.request_sha256}),
    )
}

/// `login.approved`: consumed by certificate `serial`.
pub(crate) fn login_approved(
    a: &crate::ApprovalUse,
    serial: &str,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "login.approved",
        actor,
        &a.login_id,
        json!({"registration": a.registration, "anchor_serial": a.anchor_serial,
               "delegation": a.delegation_id, "serial": serial}),
    )
}

/// `delegation.created`.
pub(crate) fn delegation_created(d: &crate::Delegation, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        d.created_at_ms,
        "delegation.created",
        actor,
        &d.id,
        json!({"account": d.account_id, "deputy": d.deputy, "anchor_serial": d.anchor_serial,
               "not_before_ms": d.not_before_ms, "not_after_ms": d.not_after_ms,
               "max_approvals": d.max_approvals}),
    )
}

/// `delegation.ended`.
pub(crate) fn delegation_ended(
    id: &str,
    account_id: &str,
    reason: &str,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "delegation.ended",
        actor,
        id,
        json!({"account": account_id, "reason": reason}),
    )
}

/// `link.purged`: expired link requests and logins deleted.
pub(crate) fn links_purged(requests: u64, logins: u64, actor: &str, at_ms: i64) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "link.purged",
        actor,
        "links",
        json!({"link_requests": requests, "logins": logins}),
    )
}

/// `segment.created`.
pub(crate) fn segment_created(s: &crate::SegmentRecord, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        s.created_at_ms,
        "segment.created",
        actor,
        &s.name,
        json!({
            "pin_digits": s.pin_digits,
            "use_pmm": s.use_pmm,
            "max_card_failures": s.max_card_failures,
            "max_address_failures": s.max_address_failures,
        }),
    )
}

/// `segment.rotated`.
pub(crate) fn segment_rotated(
    next: &crate::SaltGenerationRecord,
    current_until: i64,
    actor: &str,
) -> NewAuditEvent {
    NewAuditEvent::new(
        next.created_at_ms,
        "segment.rotated",
        actor,
        &next.segment,
        json!({
            "generation": next.number,
            "valid_from": next.valid_from,
            "valid_until": next.valid_until,
            "previous_until": current_until,
        }),
    )
}

/// `pin.issued`: a card's PIN was handed out (never the PIN itself).
pub(crate) fn pin_issued(
    segment: &str,
    idm: &str,
    generation: i64,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "pin.issued",
        actor,
        segment,
        json!({"idm": idm, "generation": generation}),
    )
}

/// `segment.card.revoked`.
pub(crate) fn segment_card_revoked(card: &crate::RevokedCard, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        card.revoked_at_ms,
        "segment.card.revoked",
        actor,
        &card.segment,
        json!({"idm": card.idm, "reason": card.reason}),
    )
}

/// `card.login.failed`: a failed card login, with the failures counted so far.
pub(crate) fn card_login_failed(
    f: &crate::LoginFailure,
    outcome: &crate::FailureOutcome,
) -> NewAuditEvent {
    NewAuditEvent::new(
        f.at_ms,
        "card.login.failed",
        format!("card:{}", f.idm),
        &f.segment,
        json!({
            "idm": f.idm,
            "address": f.address,
            "reason": f.reason,
            "card_failures": outcome.card_failures,
            "address_failures": outcome.address_failures,
        }),
    )
}

/// `card.locked` / `card.address.locked`: a lock begins; the card data is recorded.
pub(crate) fn card_locked(
    f: &crate::LoginFailure,
    what: &str,
    failures: i64,
    until_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        f.at_ms,
        what,
        format!("card:{}", f.idm),
        &f.segment,
        json!({
            "idm": f.idm,
            "pmm": f.pmm,
            "address": f.address,
            "failures": failures,
            "locked_until": until_ms,
        }),
    )
}

/// `card.login`: the access log of card logins.
pub(crate) fn card_login(login: &crate::CardLogin) -> NewAuditEvent {
    NewAuditEvent::new(
        login.at_ms,
        "card.login",
        format!("card:{}", login.idm),
        &login.segment,
        json!({
            "idm": login.idm,
            "address": login.address,
            "level": login.level,
            "user": login.user,
        }),
    )
}

/// `card.unlocked`.
pub(crate) fn card_unlocked(
    segment: &str,
    subject: &str,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "card.unlocked",
        actor,
        segment,
        json!({"subject": subject}),
    )
}

/// `segment.card.registered`.
pub(crate) fn segment_card_registered(card: &crate::RegisteredCard, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        card.registered_at_ms,
        "segment.card.registered",
        actor,
        &card.segment,
        json!({"idm": card.idm, "holder": card.holder}),
    )
}

/// `segment.card.unregistered`.
pub(crate) fn segment_card_unregistered(
    segment: &str,
    idm: &str,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "segment.card.unregistered",
        actor,
        segment,
        json!({"idm": idm}),
    )
}

/// `segment.user.added` (never the password or its hash).
pub(crate) fn segment_user_added(user: &crate::SegmentUser, actor: &str) -> NewAuditEvent {
    NewAuditEvent::new(
        user.created_at_ms,
        "segment.user.added",
        actor,
        &user.segment,
        json!({"user": user.name, "idm": user.idm}),
    )
}

/// `segment.user.removed`.
pub(crate) fn segment_user_removed(
    segment: &str,
    name: &str,
    actor: &str,
    at_ms: i64,
) -> NewAuditEvent {
    NewAuditEvent::new(
        at_ms,
        "segment.user.removed",
        actor,
        segment,
        json!({"user": name}),
    )
}
