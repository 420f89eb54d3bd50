//! Levels, validity and label syntax as the configuration sets them.

use std::time::Duration;

use super::*;

#[test]
fn validity_comes_from_the_profile_or_the_product() {
    let config = config();
    let profiles = config.profiles();
    let label = config.est_label("device").unwrap();
    let now = OffsetDateTime::now_utc();
    let method = secret("device");
    let der = csr("d", &[]);
    let input = PolicyInput {
        method: &method,
        profile: &profiles["device"],
        label: Some(("device", &label)),
        csr_der: &der,
        validity: None,
        now,
    };
    assert_eq!(
        decide(&input).unwrap().validity(),
        Duration::from_secs(90 * 86_400)
    );
    let shorter = PolicyInput {
        validity: Some(Duration::from_secs(86_400)),
        ..input
    };
    let grant = decide(&shorter).unwrap();
    let params = grant.params(inkan_pki::Serial::random().unwrap());
    assert_eq!(params.not_after, now + Duration::from_secs(86_400));
}

#[test]
fn levels_above_the_methods_are_refused_at_config_load_naming_the_key() {
    for (text, key) in [
        (
            "[profiles.x]\nbase = \"device\"\nlevel = 3\n",
            "profiles.x.level",
        ),
        (
            "[est.labels]\nhigh = \"x\"\n[profiles.x]\nbase = \"device\"\nlevel = 3\n",
            "est.labels.high",
        ),
        ("[profiles.device]\nlevel = 3\n", "profiles.device.level"),
        ("[profiles.tpm]\nlevel = 4\n", "profiles.tpm.level"),
        ("[est.labels]\np = \"product\"\n", "est.labels.p"),
        (
            "[est.labels.f]\nprofile = \"device\"\nholders = [\"nope\"]\n",
            "est.labels.f.holders",
        ),
        (
            "[est.labels.f]\nprofile = \"device\"\nholders = [\"product\"]\n",
            "est.labels.f.holders",
        ),
    ] {
        let c: Config = toml::from_str(text).unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
    // Holders do not lift a label above level 2: their new key is not attested.
    let c: Config = toml::from_str(
        "[est.labels.t3]\nprofile = \"x\"\nholders = [\"tpm\"]\n[profiles.x]\nbase = \"device\"\nlevel = 3\n",
    )
    .unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(
        err.contains("est.labels.t3") && err.contains("profiles.x.level"),
        "{err}"
    );
    // And a profile above level 2 is refused at issuance too, to a secret and to a holder.
    let mut profile = c.profiles()["device"].clone();
    profile.level = 3;
    let label = EstLabel {
        profile: "device".into(),
        holders: vec!["tpm".into()],
        products: vec![],
    };
    let der = csr("d", &[]);
    for method in [
        secret("t3"),
        EnrollMethod::ClientCert(plain_cert("CN=t", &[], "tpm", 3)),
    ] {
        let err = decide(&PolicyInput {
            method: &method,
            profile: &profile,
            label: Some(("t3", &label)),
            csr_der: &der,
            validity: None,
            now: OffsetDateTime::now_utc(),
        })
        .unwrap_err();
        assert_eq!(err.rule(), "method-maximum-level", "{err}");
        assert!(err.to_string().contains("profiles.device.level"), "{err}");
    }
}

#[test]
fn old_label_syntax_still_reads_and_reserved_labels_are_explained() {
    let c = config();
    assert_eq!(c.profile_for_label("sensors").as_deref(), Some("sensor"));
    assert_eq!(
        c.est_label("fleet").unwrap().holders,
        vec!["device".to_string()]
    );
    for reserved in ["product", "admin", "tpm"] {
        let err = c.est_label(reserved).unwrap_err();
        assert!(err.contains("EST cannot reach"), "{err}");
    }
    let err = toml::from_str::<Config>("[est.labels.x]\nprofile = \"device\"\nholder = []\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("holders"), "{err}");
}
