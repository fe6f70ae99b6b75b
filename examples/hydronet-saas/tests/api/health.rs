use crate::helpers::{TestApp, fresh_database, redis_url};

#[tokio::test]
async fn healthy_with_every_dependency_checked() {
    let app = TestApp::new().await;

    let reply = app.get("/api/health", None).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "healthy");
    assert_eq!(reply.body["checks"]["database"]["status"], "up");
    let expected_redis = if redis_url().is_some() {
        "up"
    } else {
        "not_configured"
    };
    assert_eq!(reply.body["checks"]["redis"]["status"], expected_redis);
    assert!(reply.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn unreachable_database_is_unhealthy_503() {
    let app = TestApp::new().await;
    app.state.db.close().await;

    let reply = app.get("/api/health", None).await;

    assert_eq!(reply.status, 503);
    assert_eq!(reply.body["status"], "unhealthy");
    assert_eq!(reply.body["checks"]["database"]["status"], "down");
}

#[tokio::test]
async fn unreachable_redis_is_degraded_not_down() {
    let (url, file) = fresh_database().await;
    // Nothing listens on port 1.
    let app = TestApp::on(url, file, Some("redis://127.0.0.1:1".to_owned())).await;

    let reply = app.get("/api/health", None).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "degraded");
    assert_eq!(reply.body["checks"]["redis"]["status"], "down");
}

#[tokio::test]
async fn the_embedded_database_runs_in_wal_mode() {
    let app = TestApp::new().await;
    if app.state.db.backend() != hydronet_saas::db::Backend::Sqlite {
        return;
    }
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn liveness_and_readiness_are_distinguished() {
    let app = TestApp::new().await;
    assert_eq!(
        app.get("/api/health/live", None).await.body["status"],
        "alive"
    );
    let ready = app.get("/api/health/ready", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["status"], "ready");

    // A migration this build expects is missing: not ready, though alive.
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(app.state.db.pool())
    .await
    .unwrap();
    let pending = app.get("/api/health/ready", None).await;
    assert_eq!(pending.status, 503);
    assert_eq!(pending.body["reason"], "1 migrations pending");
    assert_eq!(app.get("/api/health/live", None).await.status, 200);

    app.state.db.close().await;
    let down = app.get("/api/health/ready", None).await;
    assert_eq!(down.status, 503);
    assert_eq!(down.body["reason"], "database unreachable");
}
