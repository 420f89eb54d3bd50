use std::sync::Arc;

use super::{check_identity, check_requirements};
use crate::auth::Credential;
use crate::error::{AuthRefusal, Unmet};
use crate::identity::ClientIdentity;
use crate::{ClientCertMode, RouteConfig};

fn identity() -> ClientIdentity {
    ClientIdentity {
        card: None,
        serial: "7B5007".into(),
        subject: "CN=sensor-7".into(),
        level: Some(2),
        not_after: i64::MAX,
        escaped_pem: String::new(),
        device: Some("dev-1".into()),
        product: Some("prod-1".into()),
        linked: None,
        account: None,
    }
}

fn route(edit: impl FnOnce(&mut RouteConfig)) -> RouteConfig {
    let mut config: RouteConfig = toml::from_str("upstreams = [\"http://127.0.0.1:1\"]").unwrap();
    edit(&mut config);
    config
}

#[test]
fn identity_by_mode_and_credential() {
    use ClientCertMode::{Off, Optional, Required};
    let verified = || Credential::Verified(Arc::new(identity()));
    let refused = || Credential::Refused(AuthRefusal::Revoked);
    // (mode, credential, Ok(has identity) or Err(refusal))
    let table: Vec<(ClientCertMode, Credential, Result<bool, AuthRefusal>)> = vec![
        (
            Required,
            Credential::Absent,
            Err(AuthRefusal::NoCertificate),
        ),
        (Required, verified(), Ok(true)),
        (Required, refused(), Err(AuthRefusal::Revoked)),
        (Optional, Credential::Absent, Ok(false)),
        (Optional, verified(), Ok(true)),
        (Optional, refused(), Err(AuthRefusal::Revoked)),
        (
            Optional,
            Credential::Refused(AuthRefusal::Untrusted("expired".into())),
            Err(AuthRefusal::Untrusted("expired".into())),
        ),
        (Off, Credential::Absent, Ok(false)),
        (Off, verified(), Ok(false)),
        (Off, refused(), Ok(false)),
    ];
    for (mode, found, expected) in table {
        let what = format!("{mode:?} {found:?}");
        let got = check_identity(mode, found).map(|i| i.is_some());
        assert_eq!(got, expected, "{what}");
    }
}

#[test]
fn requirements_by_route() {
    type Edit = fn(&mut RouteConfig);
    let table: Vec<(&str, Edit, bool, Result<(), Unmet>)> = vec![
        ("no requirements, anonymous", |_| {}, false, Ok(())),
        ("no requirements", |_| {}, true, Ok(())),
        (
            "a level, anonymous",
            |r| r.min_level = Some(1),
            false,
            Err(Unmet::NoIdentity),
        ),
        ("level met", |r| r.min_level = Some(2), true, Ok(())),
        (
            "level below",
            |r| r.min_level = Some(3),
            true,
            Err(Unmet::Level { level: 2, min: 3 }),
        ),
        (
            "subject listed",
            |r| r.allow_subjects = vec!["CN=sensor-7".into()],
            true,
            Ok(()),
        ),
        (
            "subject not listed",
            |r| r.allow_subjects = vec!["CN=other".into()],
            true,
            Err(Unmet::Subject),
        ),
        (
            "serial any case",
            |r| r.allow_serials = vec!["7b5007".into()],
            true,
            Ok(()),
        ),
        (
            "serial not listed",
            |r| r.allow_serials = vec!["01".into()],
            true,
            Err(Unmet::Serial),
        ),
        (
            "product listed",
            |r| r.allow_products = vec!["prod-1".into()],
            true,
            Ok(()),
        ),
        (
            "product not listed",
            |r| r.allow_products = vec!["prod-2".into()],
            true,
            Err(Unmet::Product),
        ),
        (
            "device listed",
            |r| r.allow_devices = vec!["dev-1".into()],
            true,
            Ok(()),
        ),
        (
            "device not listed",
            |r| r.allow_devices = vec!["dev-2".into()],
            true,
            Err(Unmet::Device),
        ),
        (
            "devices, anonymous",
            |r| r.allow_devices = vec!["dev-1".into()],
            false,
            Err(Unmet::NoIdentity),
        ),
    ];
    let client = identity();
    for (what, edit, with_identity, expected) in table {
        let config = route(edit);
        let got = check_requirements(&config, with_identity.then_some(&client));
        assert_eq!(got, expected, "{what}");
    }
}

#[test]
fn a_client_without_product_or_level_meets_no_such_requirement() {
    let client = ClientIdentity {
        card: None,
        level: None,
        product: None,
        linked: None,
        account: None,
        ..identity()
    };
    let level = route(|r| r.min_level = Some(1));
    assert_eq!(
        check_requirements(&level, Some(&client)),
        Err(Unmet::Level { level: 0, min: 1 })
    );
    let product = route(|r| r.allow_products = vec!["prod-1".into()]);
    assert_eq!(
        check_requirements(&product, Some(&client)),
        Err(Unmet::Product)
    );
}
