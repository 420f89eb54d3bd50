use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

use super::*;

/// The published test vector (docs/linking.md), computed independently with Python's hmac.
#[test]
fn the_confirmation_code_matches_its_test_vector() {
    let token = [0x11u8; 16];
    let key_hash = [0x22u8; 32];
    assert_eq!(confirmation_code(&token, &key_hash), "474324");
}

#[test]
fn the_code_changes_with_the_token_or_the_key() {
    let code = confirmation_code(&[1; 16], &[2; 32]);
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    assert_ne!(code, confirmation_code(&[1; 16], &[3; 32]));
    assert_ne!(code, confirmation_code(&[4; 16], &[2; 32]));
}

#[test]
fn the_device_list_is_order_independent_and_binds_every_part() {
    let a = ("ld-a".to_string(), "ka".to_string());
    let b = ("ld-b".to_string(), "kb".to_string());
    let one = device_list_message("acct-1", &[a.clone(), b.clone()], 5);
    assert_eq!(
        one,
        device_list_message("acct-1", &[b.clone(), a.clone()], 5)
    );
    assert_ne!(
        one,
        device_list_message("acct-2", &[a.clone(), b.clone()], 5)
    );
    assert_ne!(
        one,
        device_list_message("acct-1", std::slice::from_ref(&a), 5)
    );
    assert_ne!(one, device_list_message("acct-1", &[a, b], 6));
}

#[test]
fn a_signature_verifies_only_for_its_message_and_key() {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    // SubjectPublicKeyInfo of a P-256 key: the fixed header, then the point.
    let mut spki = hex_literal_p256_header();
    spki.extend_from_slice(key.public_key().as_ref());
    let request = login_request_sha256("ld-1", &[9; 16], b"csr", b"sealed");
    let message = approval_message(&request, &[9; 16], 1_700_000_000);
    let signature = key.sign(&rng, &message).unwrap();
    assert_eq!(
        verify_signature(&spki, &message, signature.as_ref()),
        Ok(())
    );
    let later = approval_message(&request, &[9; 16], 1_700_000_001);
    assert_eq!(
        verify_signature(&spki, &later, signature.as_ref()),
        Err(LinkError::Signature)
    );
    assert!(matches!(
        verify_signature(b"junk", &message, signature.as_ref()),
        Err(LinkError::Key(_))
    ));
}

fn hex_literal_p256_header() -> Vec<u8> {
    vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ]
}

#[test]
fn a_delegation_covers_every_limit_and_its_approvals_have_their_own_domain() {
    let terms = DelegationTerms {
        account_id: "acct-1",
        deputy: "ld-1",
        deputy_key_sha256: "ab",
        not_before: 10,
        not_after: 20,
        max_approvals: 3,
        signed_at: 10,
    };
    let base = delegation_message(&terms);
    for changed in [
        DelegationTerms {
            account_id: "acct-2",
            ..terms.clone()
        },
        DelegationTerms {
            deputy: "ld-2",
            ..terms.clone()
        },
        DelegationTerms {
            deputy_key_sha256: "cd",
            ..terms.clone()
        },
        DelegationTerms {
            not_before: 11,
            ..terms.clone()
        },
        DelegationTerms {
            not_after: 21,
            ..terms.clone()
        },
        DelegationTerms {
            max_approvals: 4,
            ..terms.clone()
        },
        DelegationTerms {
            signed_at: 11,
            ..terms.clone()
        },
    ] {
        assert_ne!(delegation_message(&changed), base);
    }
    let request = login_request_sha256("ld-2", &[9; 16], b"csr", b"sealed");
    assert_ne!(
        delegated_approval_message("ld-1", &request, &[9; 16], 5),
        approval_message(&request, &[9; 16], 5)
    );
    assert_ne!(
        delegated_approval_message("ld-1", &request, &[9; 16], 5),
        delegated_approval_message("ld-3", &request, &[9; 16], 5)
    );
}
