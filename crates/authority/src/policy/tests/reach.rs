//! Rows for what a presented certificate or a label's holders may reach.

use super::Expect::{Grant as G, Refused as R};
use super::*;

#[test]
fn a_presented_certificate_renews_only_itself() {
    let dev = device_cert("cam");
    run(vec![
        row(
            "device cert on the server label",
            EnrollMethod::ClientCert(dev.clone()),
            "server",
            Some("server"),
            csr("bank.example.com", &["bank.example.com"]),
            R("renew-only-itself"),
        ),
        row(
            "device cert re-enrolls itself",
            EnrollMethod::ClientCert(dev.clone()),
            "device",
            Some("device"),
            csr("d1", &[]),
            G {
                subject: "CN=d1",
                sans: &["URI:urn:inkan:device:d1", "URI:urn:inkan:product:cam-id"],
                level: 2,
            },
        ),
        row(
            "device cert mints another subject",
            EnrollMethod::ClientCert(dev.clone()),
            "device",
            Some("device"),
            csr("ops", &[]),
            R("renewal-same-subject"),
        ),
        row(
            "renewal repeating its own identifiers",
            EnrollMethod::Renewal(dev.clone()),
            "device",
            Some("device"),
            csr("d1", &["urn:inkan:device:d1", "urn:inkan:product:cam-id"]),
            G {
                subject: "CN=d1",
                sans: &["URI:urn:inkan:device:d1", "URI:urn:inkan:product:cam-id"],
                level: 2,
            },
        ),
        row(
            "renewal claiming another device",
            EnrollMethod::Renewal(dev.clone()),
            "device",
            Some("device"),
            csr("d1", &["urn:inkan:device:d2"]),
            R("inkan-identifiers-from-authority"),
        ),
        row(
            "renewal adding a name",
            EnrollMethod::Renewal(dev.clone()),
            "device",
            Some("device"),
            csr("d1", &["extra.example.com"]),
            R("renewal-same-names"),
        ),
        row(
            "renewal changing the subject",
            EnrollMethod::Renewal(plain_cert("CN=dev-1", &["urn:dev:1"], "device", 2)),
            "device",
            Some("device"),
            csr("dev-2", &["urn:dev:1"]),
            R("renewal-same-subject"),
        ),
        row(
            "renewal changing a SAN",
            EnrollMethod::Renewal(plain_cert("CN=dev-1", &["urn:dev:1"], "device", 2)),
            "device",
            Some("device"),
            csr("dev-1", &["urn:dev:2"]),
            R("renewal-same-names"),
        ),
        row(
            "renewal into another profile",
            EnrollMethod::Renewal(plain_cert("CN=s", &[], "server", 2)),
            "device",
            Some("device"),
            csr("s", &[]),
            R("renew-only-itself"),
        ),
        row(
            "a level-1 certificate cannot renew into level 2",
            EnrollMethod::Renewal(plain_cert("CN=s", &[], "device", 1)),
            "device",
            Some("device"),
            csr("s", &[]),
            R("method-maximum-level"),
        ),
        row(
            "renewal of a server certificate for a listed name",
            EnrollMethod::Renewal(plain_cert("CN=a.example.com", &["a.example.com"], "web", 2)),
            "web",
            Some("web"),
            csr("a.example.com", &["a.example.com"]),
            G {
                subject: "CN=a.example.com",
                sans: &["DNS:a.example.com"],
                level: 2,
            },
        ),
        row(
            "renewal of a name the policy no longer allows",
            EnrollMethod::Renewal(plain_cert(
                "CN=bank.example.com",
                &["bank.example.com"],
                "web",
                2,
            )),
            "web",
            Some("web"),
            csr("bank.example.com", &["bank.example.com"]),
            R("name-policy-deny"),
        ),
        row(
            "renewal of a server certificate minted before names were listed",
            EnrollMethod::Renewal(plain_cert("CN=x.test", &["x.test"], "server", 2)),
            "server",
            Some("server"),
            csr("x.test", &["x.test"]),
            R("name-policy-allow"),
        ),
        row(
            "renewal of a tpm certificate over EST",
            EnrollMethod::Renewal(plain_cert("CN=t", &[], "tpm", 3)),
            "tpm",
            None,
            csr("t", &[]),
            R("reserved-profile"),
        ),
    ]);
}

#[test]
fn label_holders_enroll_for_the_labels_names_and_products() {
    run(vec![
        row(
            "device of cam under the fleet domain",
            EnrollMethod::ClientCert(device_cert("cam")),
            "fleet",
            Some("fleet"),
            csr("a", &["a.fleet.example.com"]),
            G {
                subject: "CN=a",
                sans: &[
                    "DNS:a.fleet.example.com",
                    "URI:urn:inkan:device:d1",
                    "URI:urn:inkan:product:cam-id",
                ],
                level: 2,
            },
        ),
        row(
            "device of another product",
            EnrollMethod::ClientCert(device_cert("door")),
            "fleet",
            Some("fleet"),
            csr("a", &["a.fleet.example.com"]),
            R("label-holder-products"),
        ),
        row(
            "outside the fleet domain",
            EnrollMethod::ClientCert(device_cert("cam")),
            "fleet",
            Some("fleet"),
            csr("a", &["bank.example.com"]),
            R("name-policy-allow"),
        ),
        row(
            "a sensor holder is not listed",
            EnrollMethod::ClientCert(plain_cert("CN=s", &[], "sensor", 1)),
            "fleet",
            Some("fleet"),
            csr("a", &["a.fleet.example.com"]),
            R("method-maximum-level"),
        ),
        row(
            "a server holder is not listed",
            EnrollMethod::ClientCert(plain_cert("CN=w", &[], "server", 2)),
            "fleet",
            Some("fleet"),
            csr("a", &["a.fleet.example.com"]),
            R("renew-only-itself"),
        ),
    ]);
}
