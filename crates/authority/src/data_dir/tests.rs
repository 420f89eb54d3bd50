use super::*;

fn options(pass: Option<&str>) -> CaInitOptions {
    CaInitOptions {
        name: "Test".into(),
        algorithm: KeyAlgorithm::P256,
        passphrase: pass.map(|p| p.as_bytes().to_vec()),
        root_crl_url: Some("http://ca.example.com/crl/root.crl".into()),
    }
}

#[test]
fn init_writes_private_keys_0600_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("data"));
    let paths = dir
        .init_ca(&options(None), OffsetDateTime::now_utc())
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [&paths.root_key, &paths.issuing_key] {
            let mode = fs::metadata(key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
        }
    }
    let before = fs::read(&paths.root_key).unwrap();
    let err = dir
        .init_ca(&options(None), OffsetDateTime::now_utc())
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(fs::read(&paths.root_key).unwrap(), before);
    dir.load_issuing_ca(None).unwrap();
}

#[test]
fn an_encrypted_ca_needs_its_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path());
    dir.init_ca(&options(Some("s3cret")), OffsetDateTime::now_utc())
        .unwrap();
    assert!(dir
        .load_issuing_ca(None)
        .unwrap_err()
        .to_string()
        .contains("passphrase"));
    assert!(dir.load_issuing_ca(Some(b"wrong")).is_err());
    dir.load_issuing_ca(Some(b"s3cret")).unwrap();
}

#[test]
fn a_missing_ca_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let err = DataDir::new(tmp.path()).load_issuing_ca(None).unwrap_err();
    assert!(err.to_string().contains("inkan ca init"), "{err}");
}

#[test]
fn the_root_crl_is_made_at_init_and_re_signed_when_due_while_the_root_key_is_here() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("d"));
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    dir.init_ca(&options(None), now).unwrap();
    let first = dir.root_crl(None, now).unwrap();
    assert!(!first.renewed);
    let summary = inkan_pki::crl_summary(first.der.as_ref().unwrap()).unwrap();
    assert_eq!((summary.number, summary.entries), (1, 0));
    // Past half its validity it is re-signed with the next number.
    let later = now + ROOT_CRL_VALIDITY / 2 + time::Duration::days(1);
    let second = dir.root_crl(None, later).unwrap();
    assert!(second.renewed);
    assert_eq!(
        inkan_pki::crl_summary(second.der.as_ref().unwrap())
            .unwrap()
            .number,
        2
    );
    // Without the root key the file is published as it is.
    std::fs::remove_file(dir.ca_paths().root_key).unwrap();
    let offline = dir.root_crl(None, later + ROOT_CRL_VALIDITY).unwrap();
    assert!(!offline.renewed);
    assert_eq!(offline.der, second.der);
}
