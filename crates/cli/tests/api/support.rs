//! The shared harnesses of `inkan-test-support` under the name these tests use: a data
//! directory, the binary, a running server.

pub use inkan_test_support::server::*;
