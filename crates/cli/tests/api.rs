//! Integration tests: the real `inkan` binary, started on ephemeral ports, driven over the
//! network by inkan's own client and by third-party tools (curl, openssl, python's sqlite3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api {
    pub mod support;

    mod cli;
    mod docs;
    mod durability;
    mod est;
    mod gateway;
    mod products;
    mod quickstart;
    mod revocation;
    mod tpm;
}
