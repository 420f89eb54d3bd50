//! The one table from the authority's errors to what each protocol tells the client: the HTTP
//! status (RFC 9110) with a problem type and title for `/v1` (RFC 9457), the same status for
//! EST (RFC 7030 §4.2.3 answers with HTTP statuses), and the OCSP response status (RFC 6960
//! §4.2.1) of a failed OCSP answer. `/v1` (`problem.rs`, `tpm_api.rs`), EST (`est_error.rs`)
//! and OCSP (`revocation_routes.rs`) all read it; nothing else maps an `AuthorityError`.

use axum::http::StatusCode;
use inkan_attest::AttestError;
use inkan_authority::{AuthorityError, LinkRefusal, TeeRefusal};
use inkan_store::StoreError;

/// What the client is told about one kind of error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The HTTP status, for `/v1` and EST alike.
    pub(crate) status: StatusCode,
    /// The problem type (RFC 9457 §3.1.1): a stable URN naming the kind of error.
    pub(crate) problem_type: &'static str,
    /// The problem's title: short and fixed for each type.
    pub(crate) title: &'static str,
    /// The OCSP response status if an OCSP answer fails with this error.
    pub(crate) ocsp: OcspFailure,
    /// Whether the error's message is for the client; if not, it is logged and the client is
    /// told only that the request failed on the server.
    pub(crate) is_public: bool,
}

/// The unsigned OCSP response statuses a failed answer can have (RFC 6960 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OcspFailure {
    /// `malformedRequest`.
    MalformedRequest,
    /// `internalError`.
    InternalError,
    /// `tryLater`.
    TryLater,
    /// `unauthorized`.
    Unauthorized,
}

impl OcspFailure {
    /// The DER OCSPResponse with this status.
    pub(crate) fn response(self) -> Vec<u8> {
        match self {
            Self::MalformedRequest => inkan_pki::malformed_response(),
            Self::InternalError => inkan_pki::internal_error_response(),
            Self::TryLater => inkan_pki::try_later_response(),
            Self::Unauthorized => inkan_pki::unauthorized_response(),
        }
    }
}

/// The answer to `e`: the table itself.
pub(crate) fn answer(e: &AuthorityError) -> Answer {
    use OcspFailure::{InternalError, MalformedRequest, TryLater, Unauthorized};
    let public = |status, slug, title, ocsp| Answer {
        status,
        problem_type: slug,
        title,
        ocsp,
        is_public: true,
    };
    match e {
        AuthorityError::Csr(_) => public(
            StatusCode::BAD_REQUEST,
            "urn:inkan:problem:csr",
            "CSR refused",
            MalformedRequest,
        ),
        AuthorityError::Invalid(_) => public(
            StatusCode::BAD_REQUEST,
            "urn:inkan:problem:invalid",
            "Invalid request",
            MalformedRequest,
        ),
        AuthorityError::Evidence(AttestError::Malformed { .. }) => public(
            StatusCode::BAD_REQUEST,
            "urn:inkan:problem:evidence-malformed",
            "Malformed evidence",
            MalformedRequest,
        ),
        AuthorityError::Unauthenticated(_) => public(
            StatusCode::UNAUTHORIZED,
            "urn:inkan:problem:unauthenticated",
            "Authentication required",
            Unauthorized,
        ),
        AuthorityError::Policy(_) => public(
            StatusCode::FORBIDDEN,
            "urn:inkan:problem:policy",
            "Refused by the authorization policy",
            Unauthorized,
        ),
        AuthorityError::Rejected(_) => public(
            StatusCode::FORBIDDEN,
            "urn:inkan:problem:rejected",
            "Rejected by a registry rule",
            Unauthorized,
        ),
        AuthorityError::Evidence(AttestError::Refused { .. }) => public(
            StatusCode::FORBIDDEN,
            "urn:inkan:problem:evidence-refused",
            "Evidence refused",
            Unauthorized,
        ),
        // The client named it (an EST label in the path, a profile): not found (RFC 9110
        // §15.5.5), not a server failure.
        AuthorityError::UnknownProfile(_) => public(
            StatusCode::NOT_FOUND,
            "urn:inkan:problem:unknown-profile",
            "Unknown profile or label",
            MalformedRequest,
        ),
        AuthorityError::ActivationUnknown(_) => public(
            StatusCode::NOT_FOUND,
            "urn:inkan:problem:activation-unknown",
            "Unknown activation",
            MalformedRequest,
        ),
        AuthorityError::ActivationUsed(_) => public(
            StatusCode::CONFLICT,
            "urn:inkan:problem:activation-used",
            "Activation used",
            MalformedRequest,
        ),
        AuthorityError::TooManyActivations(_) => public(
            StatusCode::TOO_MANY_REQUESTS,
            "urn:inkan:problem:activation-limit",
            "Too many activations",
            TryLater,
        ),
        AuthorityError::ActivationExpired(_) => public(
            StatusCode::GONE,
            "urn:inkan:problem:activation-expired",
            "Activation expired",
            MalformedRequest,
        ),
        AuthorityError::Tee(refusal) => {
            let (status, slug, title) = match refusal {
                TeeRefusal::UnknownDevice(_) => (
                    StatusCode::NOT_FOUND,
                    "urn:inkan:problem:tee-unknown-device",
                    "Unknown device",
                ),
                TeeRefusal::UnknownProfile(_) | TeeRefusal::UnknownVersion { .. } => (
                    StatusCode::NOT_FOUND,
                    "urn:inkan:problem:tee-unknown-profile",
                    "Unknown TA profile or version",
                ),
                TeeRefusal::ProfileRevoked(_) | TeeRefusal::VersionRetired { .. } => (
                    StatusCode::FORBIDDEN,
                    "urn:inkan:problem:tee-profile-retired",
                    "TA profile revoked or version retired",
                ),
                TeeRefusal::ChallengeUnknown => (
                    StatusCode::NOT_FOUND,
                    "urn:inkan:problem:tee-challenge-unknown",
                    "Unknown challenge",
                ),
                TeeRefusal::ChallengeOtherDevice => (
                    StatusCode::FORBIDDEN,
                    "urn:inkan:problem:tee-challenge-other-device",
                    "Challenge of another device",
                ),
                TeeRefusal::ChallengeUsed => (
                    StatusCode::CONFLICT,
                    "urn:inkan:problem:tee-challenge-used",
                    "Challenge used",
                ),
                TeeRefusal::ChallengeExpired => (
                    StatusCode::GONE,
                    "urn:inkan:problem:tee-challenge-expired",
                    "Challenge expired",
                ),
                TeeRefusal::Mac => (
                    StatusCode::FORBIDDEN,
                    "urn:inkan:problem:tee-mac",
                    "CSR MAC refused",
                ),
                TeeRefusal::Identity(_) => (
                    StatusCode::BAD_REQUEST,
                    "urn:inkan:problem:tee-identity",
                    "CSR contents refused",
                ),
                TeeRefusal::TpmKeyMissing(_) | TeeRefusal::TpmKey(_) => (
                    StatusCode::BAD_REQUEST,
                    "urn:inkan:problem:tee-tpm-key",
                    "TPM device key missing or refused",
                ),
                TeeRefusal::TpmBinding(_) => (
                    StatusCode::FORBIDDEN,
                    "urn:inkan:problem:tee-tpm-binding",
                    "Not the key the TA was sealed to",
                ),
                TeeRefusal::ActivationProof => (
                    StatusCode::FORBIDDEN,
                    "urn:inkan:problem:tee-activation",
                    "Activation proof refused",
                ),
                TeeRefusal::TooManyChallenges(_) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "urn:inkan:problem:tee-too-many-challenges",
                    "Too many challenges",
                ),
                _ => (
                    StatusCode::FORBIDDEN,
                    "urn:inkan:problem:tee-refused",
                    "TEE request refused",
                ),
            };
            public(status, slug, title, Unauthorized)
        }
        AuthorityError::Link(refusal) => {
            let (status, slug, title) = match refusal {
                LinkRefusal::AnchorLevel(_)
                | LinkRefusal::NotAnAnchor
                | LinkRefusal::OtherAccount { .. } => (
                    StatusCode::FORBIDDEN,
                    "urn:inkan:problem:link-not-anchor",
                    "Not this account's trust anchor",
                ),
                LinkRefusal::AnchorsAnAccount(_) => (
                    StatusCode::CONFLICT,
                    "urn:inkan:problem:link-anchor-bound",
                    "Key anchors an account already",
                ),
                LinkRefusal::LinkUnusable => (
                    StatusCode::NOT_FOUND,
                    "urn:inkan:problem:link-unusable",
                    "Link code unknown, used or expired",
                ),
                LinkRefusal::TooManyLinkRequests => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "urn:inkan:problem:link-too-many",
                    "Too many devices waiting to be linked",
                ),
                LinkRefusal::DeviceCap(_) | LinkRefusal::KeyInUse => (
                    StatusCode::CONFLICT,
                    "urn:inkan:problem:link-refused",
                    "Device cannot be linked",
                ),
                LinkRefusal::UnknownDevice(_) => (
                    StatusCode::NOT_FOUND,
                    "urn:inkan:problem:link-unknown-device",
                    "Unknown linked device",
                ),
                LinkRefusal::Signature(_) | LinkRefusal::Stale(_) => (
                    StatusCode::FORBIDDEN,
                    "urn:inkan:problem:link-signature",
                    "Signature refused",
                ),
                LinkRefusal::UnknownLogin(_) => (
                    StatusCode::NOT_FOUND,
                    "urn:inkan:problem:login-unknown",
                    "Unknown login",
                ),
                LinkRefusal::LoginUnavailable => (
                    StatusCode::CONFLICT,
                    "urn:inkan:problem:login-unavailable",
                    "Login approved already, expired, or device unlinked",
                ),
                LinkRefusal::DelegationTerms(_) => (
                    StatusCode::BAD_REQUEST,
                    "urn:inkan:problem:delegation-terms",
                    "Delegation terms out of bounds",
                ),
                LinkRefusal::NotADeputy(_) | LinkRefusal::DeputyOwnLogin => (
                    StatusCode::FORBIDDEN,
                    "urn:inkan:problem:delegation-not-deputy",
                    "Not a deputy for this login",
                ),
                LinkRefusal::DelegationUnusable(_) => (
                    StatusCode::CONFLICT,
                    "urn:inkan:problem:delegation-unusable",
                    "Delegation used up, ended or outside its window",
                ),
                LinkRefusal::TooManyLogins => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "urn:inkan:problem:login-too-many",
                    "Too many logins waiting",
                ),
                _ => (
                    StatusCode::FORBIDDEN,
                    "urn:inkan:problem:link-refused",
                    "Linking refused",
                ),
            };
            public(status, slug, title, Unauthorized)
        }
        AuthorityError::Upstream(_) => public(
            StatusCode::BAD_GATEWAY,
            "urn:inkan:problem:upstream",
            "Certificate authority unavailable",
            TryLater,
        ),
        AuthorityError::ShuttingDown => public(
            StatusCode::SERVICE_UNAVAILABLE,
            "urn:inkan:problem:shutting-down",
            "Shutting down",
            TryLater,
        ),
        // Other writers held the database past the wait: nothing was written, the same request
        // can succeed later.
        AuthorityError::Store(StoreError::Busy(_)) => Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            problem_type: "urn:inkan:problem:busy",
            title: "Database busy",
            ocsp: TryLater,
            is_public: false,
        },
        // The database is down or restarting: nothing of this request was written (or, if the
        // connection broke during commit, nothing was returned), the same request can succeed
        // once it is back.
        AuthorityError::Store(StoreError::Unavailable(_)) => Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            problem_type: "urn:inkan:problem:database-unavailable",
            title: "Database unavailable",
            ocsp: TryLater,
            is_public: false,
        },
        // A concurrent request took the same unique name or key first; the database's message
        // names tables, so the client gets the title only.
        AuthorityError::Store(StoreError::Conflict(_)) => Answer {
            status: StatusCode::CONFLICT,
            problem_type: "urn:inkan:problem:conflict",
            title: "Conflicting request",
            ocsp: InternalError,
            is_public: false,
        },
        // Configuration, CA files, key operations, the database, IO, the random source: the
        // server's fault, and nothing of it is for the client.
        _ => Answer {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            problem_type: "urn:inkan:problem:internal",
            title: "Internal error",
            ocsp: InternalError,
            is_public: false,
        },
    }
}

/// The message for the client: the error itself, or, for the server's own failures, a line
/// saying where the details are (the cause is logged here, once).
pub(crate) fn detail(e: &AuthorityError, answer: &Answer) -> String {
    if answer.is_public {
        return e.to_string();
    }
    if !answer.status.is_server_error() {
        tracing::info!(cause = %e, "request collided with another");
        return "another request changed the same record at the same time: read it again and retry"
            .to_string();
    }
    tracing::error!(cause = %e, "request failed");
    if answer.status == StatusCode::SERVICE_UNAVAILABLE {
        "the database is busy: nothing was written, retry shortly".to_string()
    } else {
        "the request failed on the server; its log has details".to_string()
    }
}

/// The OCSP response for a failed OCSP answer.
pub(crate) fn ocsp_response(e: &AuthorityError) -> Vec<u8> {
    let answer = answer(e);
    if !answer.is_public {
        tracing::error!(cause = %e, "OCSP answer failed");
    }
    answer.ocsp.response()
}

/// Every problem type `/v1` can answer with, for its documentation.
pub(crate) const PROBLEM_TYPES: &[(&str, &str)] = &[
    ("urn:inkan:problem:csr", "400: the CSR fails the profile's form checks"),
    ("urn:inkan:problem:invalid", "400: the request is malformed; `detail` says what to fix"),
    ("urn:inkan:problem:evidence-malformed", "400: a TPM structure is malformed"),
    ("urn:inkan:problem:unauthenticated", "401: the requester did not prove who it is"),
    ("urn:inkan:problem:policy", "403: the authorization policy refused; `detail` names the rule"),
    ("urn:inkan:problem:rejected", "403: a registry rule (cap, disabled product or device, name, key) rejected the request"),
    ("urn:inkan:problem:evidence-refused", "403: a TPM check failed; `detail` names it"),
    ("urn:inkan:problem:unknown-profile", "404: no such profile or EST label"),
    ("urn:inkan:problem:activation-unknown", "404: no such TPM activation"),
    ("urn:inkan:problem:activation-used", "409: the TPM activation was used already"),
    ("urn:inkan:problem:activation-limit", "429: the EK holds 8 unused TPM activations already; use one or wait until they expire"),
    ("urn:inkan:problem:activation-expired", "410: the TPM activation expired"),
    ("urn:inkan:problem:tee-unknown-device", "404: no TEE device has this UID"),
    ("urn:inkan:problem:tee-unknown-profile", "404: no such TA profile or version"),
    ("urn:inkan:problem:tee-profile-retired", "403: the TA profile is revoked, or the version's grace period is over"),
    ("urn:inkan:problem:tee-challenge-unknown", "404: no such TEE challenge"),
    ("urn:inkan:problem:tee-challenge-other-device", "403: the TEE challenge was issued to another device"),
    ("urn:inkan:problem:tee-challenge-used", "409: the TEE challenge was used already (a replay)"),
    ("urn:inkan:problem:tee-challenge-expired", "410: the TEE challenge expired"),
    ("urn:inkan:problem:tee-mac", "403: the CSR's MAC does not verify under the TA profile's key for this device"),
    ("urn:inkan:problem:tee-identity", "400: the CSR carries names or a key the TA profile does not ask for"),
    ("urn:inkan:problem:tee-too-many-challenges", "429: the device holds 8 unused challenges already; use one or wait until they expire"),
    ("urn:inkan:problem:tee-tpm-key", "400: a TPM unit's QueryResponse lacks its TPM key, or the key may leave the TPM or is not a P-256 signing key"),
    ("urn:inkan:problem:tee-tpm-binding", "403: a TPM unit's CSR is not for the key its TA was sealed to, or its challenge cannot be bound"),
    ("urn:inkan:problem:tee-activation", "403: a TPM unit's activation proof does not verify"),
    ("urn:inkan:problem:tee-refused", "403: another TEE refusal; `detail` says why"),
    ("urn:inkan:problem:link-not-anchor", "403: the client certificate is not a level-3 trust anchor of this account"),
    ("urn:inkan:problem:link-anchor-bound", "409: the key anchors an account already"),
    ("urn:inkan:problem:link-unusable", "404: the link code is unknown, used or expired"),
    ("urn:inkan:problem:link-too-many", "429: too many devices are waiting to be linked (8 from one address, 1,000 in all); retry when their codes expire"),
    ("urn:inkan:problem:link-refused", "409: the account has its maximum of devices, or the key is linked already"),
    ("urn:inkan:problem:link-unknown-device", "404: no such linked device (or it was unlinked)"),
    ("urn:inkan:problem:link-signature", "403: a device-list, login or approval signature does not verify, or its time is too far off"),
    ("urn:inkan:problem:login-unknown", "404: no such login (or a wrong poll secret)"),
    ("urn:inkan:problem:login-unavailable", "409: the login was approved already, expired, or its device was unlinked"),
    ("urn:inkan:problem:login-too-many", "429: the device has 4 logins waiting already"),
    ("urn:inkan:problem:delegation-terms", "400: a delegation's window is empty, past, longer than 7 days, or its count is not 1 to 100"),
    ("urn:inkan:problem:delegation-not-deputy", "403: the device has no delegation of the login's account, or a deputy approves its own login"),
    ("urn:inkan:problem:delegation-unusable", "409: the delegation is used up, ended, outside its window, or its anchor no longer anchors the account"),
    ("urn:inkan:problem:upstream", "502: the certificate authority this one relies on failed"),
    ("urn:inkan:problem:conflict", "409: a concurrent request took the same name or key first; nothing was written"),
    ("urn:inkan:problem:shutting-down", "503: the authority is shutting down; retry"),
    ("urn:inkan:problem:busy", "503: the database stayed locked by other writers; nothing was written, retry"),
    ("urn:inkan:problem:database-unavailable", "503: the database cannot be reached (down or restarting); nothing was written, retry"),
    ("urn:inkan:problem:internal", "500: the server failed; its log has details"),
    ("about:blank", "any other error (unknown route, wrong method, oversized or mistyped body, missing credentials...): `title` is the status' name or a short summary"),
];

#[cfg(test)]
mod tests;
