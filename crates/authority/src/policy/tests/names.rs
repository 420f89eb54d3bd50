//! Rows for name policies: server profiles allow no names until listed.

use super::Expect::{Grant as G, Refused as R};
use super::*;

#[test]
fn server_profiles_allow_no_names_until_listed() {
    run(vec![
        row(
            "default server profile, any DNS name",
            secret("server"),
            "server",
            Some("server"),
            csr("bank.example.com", &["bank.example.com"]),
            R("name-policy-allow"),
        ),
        row(
            "default server profile, only a CN",
            secret("server"),
            "server",
            Some("server"),
            csr("localhost", &[]),
            R("name-policy-allow"),
        ),
        row(
            "listed subdomain",
            secret("web"),
            "web",
            Some("web"),
            csr("a.example.com", &["a.example.com", "10.1.2.3"]),
            G {
                subject: "CN=a.example.com",
                sans: &["DNS:a.example.com", "IP:10.1.2.3"],
                level: 2,
            },
        ),
        row(
            "denied name wins",
            secret("web"),
            "web",
            Some("web"),
            csr("a.example.com", &["bank.example.com"]),
            R("name-policy-deny"),
        ),
        row(
            "wildcard covering a denied name",
            secret("web"),
            "web",
            Some("web"),
            csr("a.example.com", &["*.example.com"]),
            R("name-policy-deny"),
        ),
        row(
            "CN outside the list",
            secret("web"),
            "web",
            Some("web"),
            csr("ops", &["a.example.com"]),
            R("name-policy-allow"),
        ),
        row(
            "IP outside the range",
            secret("web"),
            "web",
            Some("web"),
            csr("a.example.com", &["192.168.1.1"]),
            R("name-policy-allow"),
        ),
        row(
            "administrator's own choice (server identity)",
            EnrollMethod::Admin { actor: "t".into() },
            "server",
            None,
            csr("localhost", &["localhost", "127.0.0.1"]),
            G {
                subject: "CN=localhost",
                sans: &["DNS:localhost", "IP:127.0.0.1"],
                level: 2,
            },
        ),
        row(
            "administrator, denied name",
            EnrollMethod::Admin { actor: "t".into() },
            "web",
            None,
            csr("bank.example.com", &[]),
            R("name-policy-deny"),
        ),
    ]);
}
