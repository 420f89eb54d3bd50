use axum::http::StatusCode;
use inkan_attest::{AttestError, Check};
use inkan_authority::{AuthorityError, Refusal, Rejection};
use inkan_pki::{CsrError, PkiError};
use inkan_store::StoreError;

use super::{answer, OcspFailure, PROBLEM_TYPES};

/// Every variant of `AuthorityError`, with the status, problem type and OCSP status it gets.
#[test]
fn every_variant_has_one_answer() {
    use OcspFailure::{InternalError, MalformedRequest, TryLater, Unauthorized};
    let io = || std::io::Error::other("disk");
    let table: Vec<(AuthorityError, u16, &str, OcspFailure)> = vec![
        (CsrError::Malformed.into(), 400, "csr", MalformedRequest),
        (
            AuthorityError::Invalid("bad".into()),
            400,
            "invalid",
            MalformedRequest,
        ),
        (
            AttestError::Malformed {
                what: "ak_public",
                why: "short".into(),
            }
            .into(),
            400,
            "evidence-malformed",
            MalformedRequest,
        ),
        (
            AuthorityError::Unauthenticated("replay".into()),
            401,
            "unauthenticated",
            Unauthorized,
        ),
        (
            AuthorityError::Policy(Refusal::InkanIdentifier("URI:urn:inkan:x".into())),
            403,
            "policy",
            Unauthorized,
        ),
        (Rejection::KeyInUse.into(), 403, "rejected", Unauthorized),
        (
            Rejection::DeviceCap {
                product: "lamp".into(),
                max: 1,
            }
            .into(),
            403,
            "rejected",
            Unauthorized,
        ),
        (
            AttestError::Refused {
                check: Check::EkChain,
                why: "no root".into(),
            }
            .into(),
            403,
            "evidence-refused",
            Unauthorized,
        ),
        (
            AuthorityError::UnknownProfile("x".into()),
            404,
            "unknown-profile",
            MalformedRequest,
        ),
        (
            AuthorityError::ActivationUnknown("a".into()),
            404,
            "activation-unknown",
            MalformedRequest,
        ),
        (
            AuthorityError::ActivationUsed("a".into()),
            409,
            "activation-used",
            MalformedRequest,
        ),
        (
            AuthorityError::ActivationExpired("a".into()),
            410,
            "activation-expired",
            MalformedRequest,
        ),
        (
            AuthorityError::Upstream("https://ca".into()),
            502,
            "upstream",
            TryLater,
        ),
        (AuthorityError::ShuttingDown, 503, "shutting-down", TryLater),
        (
            StoreError::Busy("database is locked".into()).into(),
            503,
            "busy",
            TryLater,
        ),
        (
            StoreError::Unavailable("connection refused".into()).into(),
            503,
            "database-unavailable",
            TryLater,
        ),
        (
            StoreError::Conflict("UNIQUE constraint failed: products.name".into()).into(),
            409,
            "conflict",
            InternalError,
        ),
        (
            AuthorityError::Config("x".into()),
            500,
            "internal",
            InternalError,
        ),
        (
            AuthorityError::Ca("x".into()),
            500,
            "internal",
            InternalError,
        ),
        (
            AuthorityError::Pki(PkiError::Build("x".into())),
            500,
            "internal",
            InternalError,
        ),
        (
            StoreError::Config("x".into()).into(),
            500,
            "internal",
            InternalError,
        ),
        (
            AttestError::Crypto("rng".into()).into(),
            500,
            "internal",
            InternalError,
        ),
        (
            AuthorityError::io(std::path::Path::new("/x"), io()),
            500,
            "internal",
            InternalError,
        ),
    ];
    for (error, status, slug, ocsp) in table {
        let got = answer(&error);
        assert_eq!(
            got.status,
            StatusCode::from_u16(status).unwrap(),
            "{error:?}"
        );
        assert_eq!(
            got.problem_type,
            format!("urn:inkan:problem:{slug}"),
            "{error:?}"
        );
        assert_eq!(got.ocsp, ocsp, "{error:?}");
        let is_store_race = matches!(error, AuthorityError::Store(_)) && status != 500;
        assert_eq!(got.is_public, status != 500 && !is_store_race, "{error:?}");
        assert!(!got.title.is_empty());
        assert!(
            PROBLEM_TYPES
                .iter()
                .any(|(t, doc)| *t == got.problem_type && doc.starts_with(&format!("{status}:"))),
            "{} is not documented with status {status}",
            got.problem_type
        );
    }
}

#[test]
fn internal_errors_tell_nothing() {
    let e = AuthorityError::Config("the secret path /etc/inkan/key".into());
    let detail = super::detail(&e, &answer(&e));
    assert!(!detail.contains("/etc"), "{detail}");
}

#[test]
fn store_races_name_no_table() {
    for e in [
        AuthorityError::from(StoreError::Conflict(
            "UNIQUE constraint failed: products.name".into(),
        )),
        AuthorityError::from(StoreError::Busy("database is locked".into())),
    ] {
        let detail = super::detail(&e, &answer(&e));
        assert!(!detail.contains("products"), "{detail}");
        assert!(detail.contains("retry"), "{detail}");
    }
}

#[test]
fn ocsp_failures_are_unsigned_responses_with_their_status() {
    for (failure, status) in [
        (OcspFailure::MalformedRequest, 1),
        (OcspFailure::InternalError, 2),
        (OcspFailure::TryLater, 3),
        (OcspFailure::Unauthorized, 6),
    ] {
        let der = failure.response();
        // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, ... }: 30 03 0a 01 <status>.
        assert_eq!(der, [0x30, 0x03, 0x0a, 0x01, status], "{failure:?}");
    }
}
