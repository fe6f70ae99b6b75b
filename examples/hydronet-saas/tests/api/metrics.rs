//! Prometheus metrics: the token on the main address, the separate metrics address, and
//! what the scrape contains. The recorder is shared by every test of this process, so
//! these tests look for series and increases, never for exact totals.

use std::net::SocketAddr;
use std::time::Duration;

use hydronet_saas::config::random_secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::TestApp;

/// The value of the sample of `name` carrying every one of `labels`, if there is one.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Scrapes `/metrics` on the main router with `token`; the body as text.
async fn scrape(app: &TestApp, token: &str) -> String {
    let reply = app.get("/metrics", Some(token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let content_type = reply.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    reply.body.as_str().expect("a text body").to_owned()
}

const HEALTH_OK: [(&str, &str); 3] = [
    ("method", "GET"),
    ("route", "/api/health"),
    ("status", "200"),
];

#[tokio::test]
async fn the_token_guards_the_scrape_which_counts_requests_by_route() {
    let token = random_secret();
    let app = TestApp::with_env(&[("HYDRONET_METRICS_TOKEN", &token)]).await;

    app.get("/metrics", None)
        .await
        .assert_problem(401, "unauthenticated");
    let wrong = random_secret();
    app.get("/metrics", Some(&wrong))
        .await
        .assert_problem(401, "unauthenticated");

    let before = scrape(&app, &token).await;
    let health_before = sample(&before, "http_requests_total", &HEALTH_OK).unwrap_or(0.0);
    assert_eq!(app.get("/api/health", None).await.status, 200);
    let stray = format!("/no-such-page-{}", uuid::Uuid::now_v7().simple());
    app.get(&stray, None).await.assert_problem(404, "not_found");

    let after = scrape(&app, &token).await;
    let health_after = sample(&after, "http_requests_total", &HEALTH_OK).unwrap();
    assert!(health_after >= health_before + 1.0, "{after}");
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert!(sample(&after, "http_requests_total", &unmatched).unwrap() >= 1.0);
    assert!(!after.contains(&stray), "a stray path became a label");
    assert!(
        sample(&after, "http_request_duration_seconds_bucket", &HEALTH_OK).is_some(),
        "latency is a histogram with buckets"
    );
}

#[tokio::test]
async fn rate_limit_decisions_reach_the_scrape_by_plan() {
    let token = random_secret();
    let app = TestApp::with_env(&[("HYDRONET_METRICS_TOKEN", &token)]).await;
    let owner = app.register("owner@metrics.example", "Metrics").await;
    let allowed = [("decision", "allowed"), ("plan", "free")];
    let name = "hydronet_rate_limit_decisions_total";
    let before = sample(&scrape(&app, &token).await, name, &allowed).unwrap_or(0.0);

    let info = app.get("/api/tenant/info", Some(&owner.token())).await;
    assert_eq!(info.status, 200, "{}", info.body);

    let after = scrape(&app, &token).await;
    assert!(sample(&after, name, &allowed).unwrap() >= before + 1.0);
    let tenant = owner.body["tenant"]["id"].as_str().unwrap();
    assert!(!after.contains(tenant), "tenant ids are never labels");
}

#[tokio::test]
async fn without_configuration_there_is_no_metrics_route() {
    let app = TestApp::new().await;
    app.get("/metrics", None)
        .await
        .assert_problem(404, "not_found");
    let token = random_secret();
    app.get("/metrics", Some(&token))
        .await
        .assert_problem(404, "not_found");
}

/// A plain HTTP/1.1 GET over a fresh connection; the whole response as text.
async fn raw_get(address: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8(response).unwrap()
}

#[tokio::test]
async fn a_metrics_address_serves_only_the_scrape_and_stops_on_request() {
    let app = TestApp::with_env(&[("HYDRONET_METRICS_BIND", "127.0.0.1:0")]).await;
    // Not on the main address: that needs a token.
    app.get("/metrics", None)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.get("/api/health", None).await.status, 200);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hydronet_saas::metrics::serve(
        listener,
        app.state.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    let scraped = raw_get(address, "/metrics").await;
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(scraped.contains("content-type: text/plain"), "{scraped}");
    let (_, body) = scraped.split_once("\r\n\r\n").unwrap();
    assert!(
        sample(body, "http_requests_total", &HEALTH_OK).is_some(),
        "{body}"
    );
    let other = raw_get(address, "/api/health").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");

    stop.send(()).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
}
