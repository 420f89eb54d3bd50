//! Integration tests: the real `inkan` binary, started on ephemeral ports, driven over the
//! network by inkan's own client and by third-party tools (curl, openssl, python's sqlite3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api {
    pub mod support;

    mod agent;
    mod card_browser;
    mod card_login;
    mod card_reader;
    mod cards;
    mod cert_verify;
    mod cli;
    mod console;
    mod database_outage;
    mod device_paging;
    mod docs;
    mod durability;
    mod est;
    mod gateway;
    mod gateway_headers;
    mod issuer;
    #[cfg(feature = "tpm")]
    mod linking;
    mod metrics;
    mod openapi;
    mod peers;
    mod pkilint;
    mod policy;
    mod policy_arc;
    mod products;
    mod psk;
    mod quickstart;
    mod refusals;
    mod replicas;
    mod revocation;
    mod robustness;
    mod tee;
    mod tee_apps;
    #[cfg(feature = "tpm")]
    mod tee_tpm;
    mod tpm;
    #[cfg(feature = "tpm")]
    mod tpm_agent;
}
