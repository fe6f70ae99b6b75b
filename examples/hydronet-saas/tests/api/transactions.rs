//! Reading transactions: they take no write lock, so requests that only read (every
//! gateway call reads its tenant's settings) never queue behind writers; on PostgreSQL
//! they cannot write. Runs on SQLite, and on PostgreSQL when it is configured.

use std::time::Duration;

use hydronet_core::TenantId;
use hydronet_saas::db::{Backend, Tx};

use crate::helpers::TestApp;

#[tokio::test]
async fn a_reader_sees_the_last_commit_while_a_writer_holds_the_lock() {
    let app = TestApp::new().await;
    let reply = app.register("reader@example.com", "Before").await;
    let tenant: TenantId = reply.body["tenant"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let db = &app.state.db;

    // A writer changes the tenant's name and keeps its transaction (and on SQLite the
    // database's write lock) open.
    let mut writer = db.tenant(tenant).await.unwrap();
    sqlx::query("UPDATE tenants SET name = 'During' WHERE id = $1")
        .bind(tenant.to_string())
        .execute(&mut *writer)
        .await
        .unwrap();

    // A reader neither waits for it (a writing transaction would, then fail busy on
    // SQLite) nor sees its uncommitted change.
    let read = async {
        let mut reader = db.tenant_reader(tenant).await?;
        let name = name_of(&mut reader, tenant).await?;
        reader.commit().await?;
        Ok::<_, sqlx::Error>(name)
    };
    let name = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the reader waited for the writer")
        .unwrap();
    assert_eq!(name, "Before");

    writer.commit().await.unwrap();
    let mut reader = db.tenant_reader(tenant).await.unwrap();
    assert_eq!(name_of(&mut reader, tenant).await.unwrap(), "During");
}

#[tokio::test]
async fn a_reader_cannot_write_on_postgres() {
    let app = TestApp::new().await;
    if app.state.db.backend() != Backend::Postgres {
        return; // SQLite has no read-only transactions; its readers simply take no lock.
    }
    let reply = app.register("readonly@example.com", "Kept").await;
    let tenant: TenantId = reply.body["tenant"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let mut reader = app.state.db.tenant_reader(tenant).await.unwrap();
    let refused = sqlx::query("UPDATE tenants SET name = 'Changed' WHERE id = $1")
        .bind(tenant.to_string())
        .execute(&mut *reader)
        .await;
    assert!(refused.is_err(), "a read-only transaction wrote");

    let mut check = app.state.db.system_reader().await.unwrap();
    assert_eq!(name_of(&mut check, tenant).await.unwrap(), "Kept");
}

async fn name_of(tx: &mut Tx, tenant: TenantId) -> Result<String, sqlx::Error> {
    let (name,): (String,) = sqlx::query_as("SELECT name FROM tenants WHERE id = $1")
        .bind(tenant.to_string())
        .fetch_one(&mut **tx)
        .await?;
    Ok(name)
}
