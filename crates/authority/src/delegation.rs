//! Delegation (DESIGN §4.4, the paper's open problem): before going out of reach, an account's
//! anchor signs a time-boxed, counted permission for a deputy — another linked device of the
//! account — to approve the account's other logins. The authority enforces the terms (window,
//! count, not its own logins, deputy still linked, anchor still an anchor) and ends the
//! delegation when the anchor approves again, when the anchor revokes it or delegates anew, and
//! when the deputy is unlinked.

use inkan_attest::{
    delegated_approval_message, delegation_message, verify_signature, DelegationTerms,
};
use inkan_store::Delegation;
use rand::RngCore;

use crate::linking::{check_time, LinkRefusal, PresentedKey};
use crate::{unix_ms, Authority, AuthorityError, EnrollMethod, IssueRequest, Issued, LinkedLogin};

/// The longest a delegation may last.
pub const MAX_DELEGATION: time::Duration = time::Duration::days(7);
/// The most logins one delegation may approve.
pub const MAX_DELEGATED_APPROVALS: i64 = 100;

/// An anchor's signed delegation, as it arrives.
#[derive(Clone, Debug)]
pub struct DelegationRequest {
    /// The deputy's registration number.
    pub deputy: String,
    /// From when (Unix s).
    pub not_before: i64,
    /// Until when (Unix s, exclusive).
    pub not_after: i64,
    /// How many logins the deputy may approve.
    pub max_approvals: i64,
    /// When the anchor signed (Unix s).
    pub signed_at: i64,
    /// The anchor's signature over the terms.
    pub signature: Vec<u8>,
}

fn check_terms(request: &DelegationRequest, now: i64) -> Result<(), LinkRefusal> {
    let refuse = |why: &str| Err(LinkRefusal::DelegationTerms(why.into()));
    if request.not_after <= request.not_before {
        return refuse("not_after must be later than not_before");
    }
    if request.not_after <= now {
        return refuse("not_after is in the past");
    }
    if request.not_before < request.signed_at - crate::SIGNATURE_SKEW_SECS {
        return refuse("not_before is earlier than the signature");
    }
    if request.not_after - request.not_before > MAX_DELEGATION.whole_seconds() {
        return refuse("at most 7 days");
    }
    if !(1..=MAX_DELEGATED_APPROVALS).contains(&request.max_approvals) {
        return refuse("max_approvals from 1 to 100");
    }
    Ok(())
}

impl Authority {
    /// Stores `anchor`'s delegation to a deputy device of its account (ending the open one).
    pub async fn delegate(
        &self,
        anchor: &PresentedKey,
        account_id: &str,
        request: &DelegationRequest,
    ) -> Result<Delegation, AuthorityError> {
        let account = self.own_account(anchor, account_id).await?;
        let now = self.now();
        check_time(request.signed_at, now)?;
        check_terms(request, now.unix_timestamp())?;
        let deputy = self
            .store()
            .linked_device(&request.deputy)
            .await?
            .filter(|d| d.account_id == account.id && d.unlinked_at_ms.is_none())
            .ok_or_else(|| LinkRefusal::UnknownDevice(request.deputy.clone()))?;
        let message = delegation_message(&DelegationTerms {
            account_id: &account.id,
            deputy: &deputy.registration,
            deputy_key_sha256: &deputy.spki_sha256,
            not_before: request.not_before,
            not_after: request.not_after,
            max_approvals: request.max_approvals,
            signed_at: request.signed_at,
        });
        verify_signature(&anchor.spki_der, &message, &request.signature)
            .map_err(|_| LinkRefusal::Signature("delegation"))?;
        let mut id = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let delegation = Delegation {
            id: format!("dlg-{}", hex::encode(id)),
            account_id: account.id.clone(),
            deputy: deputy.registration.clone(),
            anchor_serial: anchor.serial.clone(),
            not_before_ms: request.not_before.saturating_mul(1000),
            not_after_ms: request.not_after.saturating_mul(1000),
            max_approvals: request.max_approvals,
            used: 0,
            signed_at: request.signed_at,
            signature: request.signature.clone(),
            created_at_ms: unix_ms(now),
            ended_at_ms: None,
            end_reason: None,
        };
        let actor = format!("anchor:{}", anchor.serial);
        if !self.store().create_delegation(&delegation, &actor).await? {
            return Err(LinkRefusal::UnknownDevice(request.deputy.clone()).into());
        }
        Ok(delegation)
    }

    /// Ends the open delegation of `anchor`'s account; false if there was none.
    pub async fn end_delegation(
        &self,
        anchor: &PresentedKey,
        account_id: &str,
    ) -> Result<bool, AuthorityError> {
        let account = self.own_account(anchor, account_id).await?;
        let actor = format!("anchor:{}", anchor.serial);
        Ok(self
            .store()
            .end_delegation(&account.id, "revoked", unix_ms(self.now()), &actor)
            .await?)
    }

    /// The delegations of `anchor`'s account, newest first.
    pub async fn delegations(
        &self,
        anchor: &PresentedKey,
        account_id: &str,
    ) -> Result<Vec<Delegation>, AuthorityError> {
        let account = self.own_account(anchor, account_id).await?;
        Ok(self.store().delegations(&account.id).await?)
    }

    /// A deputy's approval of a login, carried by the linked device (it needs the login's poll
    /// secret): checked against the deputy's delegation, then the login's certificate is issued
    /// and the approval counted in the same transaction.
    pub async fn approve_login_as_deputy(
        &self,
        login_id: &str,
        poll_secret: &[u8],
        deputy_registration: &str,
        signed_at: i64,
        signature: &[u8],
    ) -> Result<Issued, AuthorityError> {
        let login = self.login_for_poller(login_id, poll_secret).await?;
        let now = self.now();
        let now_ms = unix_ms(now);
        if login.approved_at_ms.is_some() || login.expires_at_ms <= now_ms {
            return Err(LinkRefusal::LoginUnavailable.into());
        }
        // The newest delegation to this deputy: the open one if there is one (at most one is
        // open per account), else the one whose end explains the refusal.
        let delegation = self
            .store()
            .delegations(&login.account_id)
            .await?
            .into_iter()
            .find(|d| d.deputy == deputy_registration)
            .ok_or_else(|| LinkRefusal::NotADeputy(deputy_registration.into()))?;
        if delegation.deputy == login.registration {
            return Err(LinkRefusal::DeputyOwnLogin.into());
        }
        let unusable = |why: &str| LinkRefusal::DelegationUnusable(why.into());
        if let Some(reason) = &delegation.end_reason {
            return Err(unusable(&format!("it ended ({reason})")).into());
        }
        if now_ms < delegation.not_before_ms || delegation.not_after_ms <= now_ms {
            return Err(unusable("outside its window").into());
        }
        if delegation.used >= delegation.max_approvals {
            return Err(unusable("every approval it allowed is used").into());
        }
        let anchor = self.stored_anchor(&delegation.anchor_serial).await?;
        let anchors_it = self
            .store()
            .account_of_anchor(&anchor.spki_sha256())
            .await?
            .is_some_and(|a| a.id == login.account_id);
        if !anchors_it {
            return Err(unusable("its anchor no longer anchors the account").into());
        }
        let deputy = self
            .store()
            .linked_device(&delegation.deputy)
            .await?
            .filter(|d| d.unlinked_at_ms.is_none())
            .ok_or_else(|| LinkRefusal::NotADeputy(delegation.deputy.clone()))?;
        check_time(signed_at, now)?;
        let request_sha256 = hex::decode(&login.request_sha256)
            .map_err(|_| AuthorityError::Ca("a stored login hash is not hex".into()))?;
        let message = delegated_approval_message(
            &delegation.deputy,
            &request_sha256,
            &login.nonce,
            signed_at,
        );
        verify_signature(&deputy.spki_der, &message, signature)
            .map_err(|_| LinkRefusal::Signature("deputy approval"))?;
        self.issue(IssueRequest {
            csr_der: login.csr.clone(),
            profile: "linked".into(),
            label: None,
            method: EnrollMethod::Linked(Box::new(LinkedLogin {
                account_id: login.account_id.clone(),
                registration: login.registration.clone(),
                login_id: login.id.clone(),
                anchor_serial: anchor.serial.clone(),
                anchor_level: anchor.level,
                signature: signature.to_vec(),
                signed_at,
                deputy: Some(crate::DeputyApproval {
                    delegation_id: delegation.id.clone(),
                    registration: delegation.deputy.clone(),
                }),
            })),
            validity: None,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(not_before: i64, not_after: i64, max_approvals: i64) -> DelegationRequest {
        DelegationRequest {
            deputy: "ld-1".into(),
            not_before,
            not_after,
            max_approvals,
            signed_at: 1000,
            signature: vec![],
        }
    }

    #[test]
    fn terms_are_bounded() {
        assert_eq!(check_terms(&request(1000, 4600, 5), 1000), Ok(()));
        for (bad, why) in [
            (request(1000, 1000, 5), "empty window"),
            (request(1000, 999, 5), "reversed"),
            (request(0, 500, 5), "in the past"),
            (request(500, 4600, 5), "before the signature"),
            (request(1000, 1000 + 7 * 86400 + 1, 5), "over 7 days"),
            (request(1000, 4600, 0), "no approvals"),
            (request(1000, 4600, 101), "too many"),
        ] {
            assert!(
                matches!(
                    check_terms(&bad, 1000),
                    Err(LinkRefusal::DelegationTerms(_))
                ),
                "{why}"
            );
        }
    }
}
