//! Reserved for a PostgreSQL harness: a throw-away database for the store's conformance suite
//! when `INKAN_TEST_POSTGRES` names a server (not built yet).
