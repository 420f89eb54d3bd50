use super::*;

fn bundle(uid: &str) -> TaBundle {
    TaBundle {
        format: BUNDLE_FORMAT.into(),
        uid: uid.into(),
        profile: "meter".into(),
        version: 2,
        csr_key: B64.encode(derive_csr_key(b"sk-csr", uid)),
        identity_fields: vec!["serial".into()],
        key_algorithm: "p256".into(),
        ca_certificates: vec![B64.encode([1, 2, 3])],
    }
}

#[test]
fn a_bundle_opens_only_with_its_device_key_and_labels() {
    let key = derive_device_unique_key(b"master", "unit-1");
    let sealed = seal_bundle(&key, &bundle("unit-1"), [7; 12]).unwrap();
    assert_eq!(open_bundle(&key, &sealed).unwrap(), bundle("unit-1"));

    let other = derive_device_unique_key(b"master", "unit-2");
    assert_eq!(
        open_bundle(&other, &sealed),
        Err(TeeError::BundleAuthentication)
    );
    for relabel in [
        SealedBundle {
            uid: "unit-2".into(),
            ..sealed.clone()
        },
        SealedBundle {
            profile: "other".into(),
            ..sealed.clone()
        },
        SealedBundle {
            version: 1,
            ..sealed.clone()
        },
    ] {
        assert_eq!(
            open_bundle(&key, &relabel),
            Err(TeeError::BundleAuthentication)
        );
    }
    for i in 0..sealed.ciphertext.len() {
        let mut tampered = sealed.clone();
        tampered.ciphertext[i] ^= 1;
        assert_eq!(
            open_bundle(&key, &tampered),
            Err(TeeError::BundleAuthentication)
        );
    }
    let short_nonce = SealedBundle {
        nonce: vec![7; 11],
        ..sealed
    };
    assert!(matches!(
        open_bundle(&key, &short_nonce),
        Err(TeeError::Malformed(_))
    ));
}

#[test]
fn sealed_content_that_disagrees_with_its_labels_is_refused() {
    let key = derive_device_unique_key(b"master", "unit-1");
    // Sealed under the labels of unit-1 but naming unit-2 inside: only a key holder could
    // make this, and it is still refused.
    let mut inner = bundle("unit-2");
    let aad = bundle_aad("unit-1", "meter", 2);
    let mut content = serde_json::to_vec(&inner).unwrap();
    gcm_key(&key)
        .unwrap()
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key([1; 12]),
            aead::Aad::from(aad),
            &mut content,
        )
        .unwrap();
    let sealed = SealedBundle {
        uid: "unit-1".into(),
        profile: "meter".into(),
        version: 2,
        nonce: vec![1; 12],
        ciphertext: content,
    };
    assert_eq!(
        open_bundle(&key, &sealed),
        Err(TeeError::BundleMismatch("uid"))
    );
    inner.uid = "unit-1".into();
    inner.format = "v0".into();
    let sealed = seal_bundle(&key, &inner, [2; 12]).unwrap();
    assert!(matches!(
        open_bundle(&key, &sealed),
        Err(TeeError::Malformed(_))
    ));
}

#[test]
fn the_csr_mac_binds_every_part() {
    let key = derive_csr_key(b"sk-csr", "unit-1");
    let input = CsrMacInput {
        uid: "unit-1",
        profile: "meter",
        version: 2,
        challenge: &[9; 32],
        csr_der: b"csr",
    };
    let mac = csr_mac(&key, &input);
    assert_eq!(verify_csr_mac(&key, &input, &mac), Ok(()));
    let changed = [
        CsrMacInput {
            uid: "unit-2",
            ..input
        },
        CsrMacInput {
            profile: "meters",
            ..input
        },
        CsrMacInput {
            version: 1,
            ..input
        },
        CsrMacInput {
            challenge: &[8; 32],
            ..input
        },
        CsrMacInput {
            csr_der: b"csR",
            ..input
        },
    ];
    for other in changed {
        assert_eq!(verify_csr_mac(&key, &other, &mac), Err(TeeError::CsrMac));
    }
    // Another device's key (same profile) does not MAC for this UID.
    let other_key = derive_csr_key(b"sk-csr", "unit-2");
    assert_eq!(
        verify_csr_mac(&other_key, &input, &mac),
        Err(TeeError::CsrMac)
    );
    assert_eq!(
        verify_csr_mac(&key, &input, &mac[..31]),
        Err(TeeError::CsrMac)
    );
}

#[test]
fn keys_are_deterministic_and_distinct_per_uid() {
    assert_eq!(
        derive_device_unique_key(b"m", "a"),
        derive_device_unique_key(b"m", "a")
    );
    assert_ne!(
        derive_device_unique_key(b"m", "a"),
        derive_device_unique_key(b"m", "b")
    );
    assert_ne!(derive_csr_key(b"k", "a"), derive_csr_key(b"k", "b"));
}

#[test]
fn an_activation_proof_binds_the_secret_and_the_enrollment() {
    let secret = [7u8; 32];
    let input = CsrMacInput {
        uid: "unit-1",
        profile: "p",
        version: 1,
        challenge: b"challenge",
        csr_der: b"csr",
    };
    let proof = activation_proof(&secret, &input);
    assert_eq!(verify_activation_proof(&secret, &input, &proof), Ok(()));
    // Not the CSR MAC under the same key: the two tags are domain-separated.
    assert_ne!(proof, csr_mac(&secret, &input));
    assert_eq!(
        verify_activation_proof(&[8u8; 32], &input, &proof),
        Err(TeeError::ActivationProof)
    );
    let other_csr = CsrMacInput {
        csr_der: b"another csr",
        ..input
    };
    assert_eq!(
        verify_activation_proof(&secret, &other_csr, &proof),
        Err(TeeError::ActivationProof)
    );
}
