//! The conformance suite against PostgreSQL: one fresh schema per case, dropped afterwards.
//!
//! The server is `INKAN_TEST_DATABASE_URL` (default `postgres://$USER@127.0.0.1:5432/test`,
//! trust auth as scripts/test expects); `INKAN_TEST_DATABASE_URL=off` skips these tests on a machine
//! without PostgreSQL. Schemas are named after this process and a counter, so concurrent runs
//! never see each other.

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use super::*;

/// The test server's URL, or `None` when the tests are switched off.
pub(crate) fn test_server() -> Option<String> {
    match std::env::var("INKAN_TEST_DATABASE_URL") {
        Ok(url) if url == "off" => None,
        Ok(url) => Some(url),
        Err(_) => {
            let user = std::env::var("USER").unwrap_or_else(|_| "postgres".into());
            Some(format!("postgres://{user}@127.0.0.1:5432/test"))
        }
    }
}

/// Numbers the test schemas of this process.
static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

/// A store on a fresh schema of its own, and the schema's name (for [`drop_schemas`]).
pub(crate) async fn fresh_store(server: &str) -> (PgStore, String) {
    let schema = format!(
        "inkan_test_{}_{}",
        std::process::id(),
        SCHEMAS.fetch_add(1, Ordering::Relaxed)
    );
    let options = DatabaseOptions {
        max_connections: 8,
        ..DatabaseOptions::default()
    };
    let store = PgStore::open(&format!("{server}?schema={schema}"), &options)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {server}: {e} (start it, or set INKAN_TEST_DATABASE_URL=off)")
        });
    (store, schema)
}

/// Drops the schemas a test made.
pub(crate) async fn drop_schemas(server: &str, schemas: &[String]) {
    let mut conn = PgConnection::connect(server).await.unwrap();
    for schema in schemas {
        conn.execute(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_conformance_suite() {
    let Some(server) = test_server() else { return };
    let made = std::sync::Mutex::new(Vec::new());
    crate::conformance::run(|| async {
        let (store, schema) = fresh_store(&server).await;
        made.lock().unwrap().push(schema);
        store
    })
    .await;
    let made = made.into_inner().unwrap();
    drop_schemas(&server, &made).await;
}

#[test]
fn the_schema_parameter_is_taken_out_and_checked() {
    assert_eq!(
        split_schema("postgres://h/db?schema=a_1&sslmode=require").unwrap(),
        ("postgres://h/db?sslmode=require".into(), Some("a_1".into()))
    );
    assert_eq!(
        split_schema("postgres://h/db").unwrap(),
        ("postgres://h/db".into(), None)
    );
    for bad in ["A", "1a", "a-b", "a\"; DROP", ""] {
        assert!(
            split_schema(&format!("postgres://h/db?schema={bad}")).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn passwords_are_redacted() {
    assert_eq!(
        crate::redact("postgres://inkan:s3cret@db:5432/x"),
        "postgres://inkan:***@db:5432/x"
    );
    assert_eq!(crate::redact("postgres://db/x"), "postgres://db/x");
}
