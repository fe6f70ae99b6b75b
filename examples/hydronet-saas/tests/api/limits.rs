//! Request rate limits through the real router: per plan, shared across instances through
//! Redis, and surviving a Redis outage.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{TestApp, fresh_database, postgres_url, redis_url};

/// The free plan allows each user 30 requests a minute.
const PER_USER: usize = 30;

#[tokio::test]
async fn requests_beyond_the_plan_are_429_with_headers() {
    let app = TestApp::new().await;
    let token = app.register("busy@limits.example", "Busy").await.token();

    for i in 0..PER_USER {
        let reply = app.get("/api/auth/me", Some(&token)).await;
        assert_eq!(reply.status, 200, "request {i}: {}", reply.body);
        assert!(reply.headers.contains_key("ratelimit"));
        let policy = reply.headers["ratelimit-policy"].to_str().unwrap();
        assert!(policy.contains("\"principal\";q=30;w=60"), "{policy}");
    }
    let limited = app.get("/api/auth/me", Some(&token)).await;
    limited.assert_problem(429, "rate_limited");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");

    if redis_url().is_none() {
        // In process, the limiter reads the application's clock.
        app.clock.advance_secs(2);
        assert_eq!(app.get("/api/auth/me", Some(&token)).await.status, 200);
    }
}

#[tokio::test]
#[ignore = "needs HYDRONET_TEST_DATABASE_URL and HYDRONET_TEST_REDIS_URL"]
async fn two_instances_enforce_one_limit() {
    assert!(
        postgres_url().is_some() && redis_url().is_some(),
        "set both test URLs"
    );
    let first = TestApp::new().await;
    let second = TestApp::on(first.database_url.clone(), None, redis_url()).await;
    let token = first
        .register("shared@limits.example", "Shared")
        .await
        .token();
    second.state.rbac.reload().await.unwrap();

    let mut admitted = 0;
    for i in 0..2 * PER_USER {
        let app = if i % 2 == 0 { &first } else { &second };
        let status = app.get("/api/auth/me", Some(&token)).await.status;
        assert!(status == 200 || status == 429, "{status}");
        admitted += usize::from(status == 200);
    }
    assert_eq!(admitted, PER_USER, "each instance counted on its own");
}

/// A Redis server of this test's own, on a free port, so it can be stopped.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start(port: Option<u16>) -> Self {
        let port = port.unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the outage test");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            port,
            child: Some(child),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server; run with the Redis suite"]
async fn a_redis_outage_degrades_and_recovers_without_errors() {
    let mut redis = OwnRedis::start(None);
    let (url, file) = fresh_database().await;
    let app = TestApp::on(url, file, Some(redis.url())).await;
    let token = app
        .register("outage@limits.example", "Outage")
        .await
        .token();

    assert_eq!(app.get("/api/auth/me", Some(&token)).await.status, 200);
    let health = app.get("/api/health", None).await;
    assert_eq!(health.body["checks"]["rate_limiter"]["mode"], "shared");

    redis.stop();
    for _ in 0..5 {
        let status = app.get("/api/auth/me", Some(&token)).await.status;
        assert_eq!(status, 200, "requests keep working during the outage");
    }
    // Login throttling and token budgets fail closed.
    app.login("outage@limits.example", crate::helpers::PASSWORD)
        .await
        .assert_problem(503, "service_unavailable");
    app.get("/api/tenant/usage", Some(&token))
        .await
        .assert_problem(503, "service_unavailable");

    let health = app.get("/api/health", None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "degraded");
    assert_eq!(
        health.body["checks"]["rate_limiter"]["mode"],
        "local_fallback"
    );
    let during = health.body["checks"]["rate_limiter"]["fallback_decisions"]
        .as_u64()
        .unwrap();
    assert!(during >= 4, "{during}");

    let port = redis.port;
    let _restarted = OwnRedis::start(Some(port));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = app.get("/api/auth/me", Some(&token)).await.status;
        assert_eq!(status, 200);
        let health = app.get("/api/health", None).await;
        if health.body["status"] == "healthy" {
            assert_eq!(health.body["checks"]["rate_limiter"]["mode"], "shared");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never left the fallback: {}",
            health.body
        );
    }
}
