use super::*;

fn options(pass: Option<&str>) -> CaInitOptions {
    CaInitOptions {
        name: "Test".into(),
        algorithm: KeyAlgorithm::P256,
        passphrase: pass.map(|p| p.as_bytes().to_vec()),
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
