//! The PostgreSQL store over TLS, against the local server that `.ci/postgres-tls` set up
//! with a certificate for the name `localhost` only (its file in
//! `SWITCHBOARD_TEST_POSTGRES_CA`): `require` encrypts, `verify-full` checks the chain and
//! the name, `verify-ca` the chain only, and an unknown root is refused.

use switchboard::config::{StorageSettings, StorageUrl, Synchronous};
use switchboard::store::{self, Store, StoreError};

use crate::helpers::fresh_postgres_database;

/// The server's certificate (its own root), when the test server has TLS switched on.
fn server_certificate() -> Option<String> {
    let ca = std::env::var("SWITCHBOARD_TEST_POSTGRES_CA").ok();
    if ca.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL TLS tests: .ci/run sets SWITCHBOARD_TEST_POSTGRES_CA"
        );
        eprintln!(
            "skipping: set SWITCHBOARD_TEST_POSTGRES_CA to the certificate of a TLS-enabled \
             test server (.ci/postgres-tls makes one)"
        );
    }
    ca
}

/// A fresh database's URL with `host` instead of the test server's host and `query` added;
/// also the `application_name` that tells its connections apart.
async fn url_with(host: &str, query: &str) -> (String, String) {
    let url = fresh_postgres_database().await.unwrap();
    let (scheme_auth, rest) = url.split_once('@').expect("a URL with user@host");
    let (_, port_db) = rest.split_once(':').expect("host:port/db");
    let app = format!("sb_tls_{}", ulid::Ulid::new().to_string().to_lowercase());
    (
        format!("{scheme_auth}@{host}:{port_db}?{query}&application_name={app}"),
        app,
    )
}

async fn open(url: &str) -> Result<Store, StoreError> {
    store::open(&StorageSettings {
        url: StorageUrl::Postgres(url.to_string()),
        retention_days: 30,
        synchronous: Synchronous::Normal,
    })
    .await
}

/// Whether every connection named `app` is encrypted, and how many there are.
async fn encrypted(app: &str) -> (bool, i64) {
    let base = std::env::var("SWITCHBOARD_TEST_POSTGRES_URL").unwrap();
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT coalesce(bool_and(s.ssl), false), count(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn verify_full_connects_over_tls_to_the_name_on_the_certificate() {
    let Some(ca) = server_certificate() else {
        return;
    };
    let (url, app) = url_with(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    )
    .await;
    let store = open(&url).await.expect("verify-full to localhost");
    // A query on the pool, so that a connection is open while we look.
    assert_eq!(
        store.paused_providers().await.unwrap(),
        Vec::<String>::new()
    );
    let (all_tls, count) = encrypted(&app).await;
    assert!(
        count > 0 && all_tls,
        "{count} connection(s), all TLS: {all_tls}"
    );
    store.close();
}

#[tokio::test]
async fn require_encrypts_without_checking_the_certificate() {
    if server_certificate().is_none() {
        return;
    }
    let (url, app) = url_with("127.0.0.1", "sslmode=require").await;
    let store = open(&url).await.expect("sslmode=require");
    store.paused_providers().await.unwrap();
    let (all_tls, count) = encrypted(&app).await;
    assert!(
        count > 0 && all_tls,
        "{count} connection(s), all TLS: {all_tls}"
    );
    store.close();
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_for_another_name_and_verify_ca_takes_it() {
    let Some(ca) = server_certificate() else {
        return;
    };
    // The certificate names localhost, not 127.0.0.1.
    let (url, _) = url_with(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    )
    .await;
    let refused = open(&url)
        .await
        .err()
        .expect("verify-full to 127.0.0.1 is refused");
    assert!(
        refused.to_string().contains("not valid for name"),
        "{refused}"
    );
    let (url, _) = url_with("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")).await;
    open(&url)
        .await
        .expect("verify-ca ignores the name")
        .close();
}

#[tokio::test]
async fn verify_full_refuses_a_server_whose_certificate_no_trusted_root_signed() {
    if server_certificate().is_none() {
        return;
    }
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("other-root.pem");
    std::fs::write(&root, other.cert.pem()).unwrap();
    let (url, _) = url_with(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", root.display()),
    )
    .await;
    let refused = open(&url).await.err().expect("an unknown root is refused");
    assert!(refused.to_string().contains("UnknownIssuer"), "{refused}");
}
