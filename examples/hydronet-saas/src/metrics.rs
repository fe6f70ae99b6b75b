//! Prometheus metrics: the process-wide recorder, the HTTP request metrics, and the
//! listener that serves `GET /metrics` on an address of its own.
//!
//! Collection is on when `HYDRONET_METRICS_BIND` or `HYDRONET_METRICS_TOKEN` is set; the
//! recorder is then installed once per process and every layer of the library crates
//! reports to it. HTTP requests are counted by method, route template and status: a path
//! no route matches is labelled [`UNMATCHED_ROUTE`], so random URLs cannot create new
//! series. No metric is labelled by tenant.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use http::Method;
use metrics::{
    Label, SharedString, Unit, counter, describe_counter, describe_histogram, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::state::AppState;

/// Requests answered, by `method`, `route` and `status`.
pub const HTTP_REQUESTS: &str = "http_requests_total";

/// Time to the response head, by `method`, `route` and `status`. For streamed replies this
/// is the time to the first byte, not to the end of the stream.
pub const HTTP_REQUEST_DURATION: &str = "http_request_duration_seconds";

/// The `route` label of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds of the histogram buckets of every `*_seconds` metric: from 5 ms for quick
/// API calls up to two minutes for long model replies.
const SECONDS_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// How often histograms are compacted between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. If another recorder was
/// installed first (an embedding program's), the handle renders nothing and a warning
/// says why.
pub fn install() -> PrometheusHandle {
    HANDLE.get_or_init(build).clone()
}

fn build() -> PrometheusHandle {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .expect("the bucket list is not empty")
        .build_recorder();
    let handle = recorder.handle();
    if let Err(err) = metrics::set_global_recorder(recorder) {
        tracing::warn!(error = %err, "another metrics recorder is installed; /metrics stays empty");
        return handle;
    }
    describe();
    handle
}

/// Help text for the metrics of this server and of the library crates.
fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route and status");
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time to the response head by method, route and status"
    );
    hydronet_tenancy::metrics::describe();
    hydronet_llm::layers::metrics::describe();
}

/// Compacts `handle`'s histograms now and then, for as long as the runtime lives.
pub fn spawn_upkeep(handle: PrometheusHandle) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
}

/// Middleware counting and timing every request by method, route template and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route: SharedString = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE.into(), |path| {
            path.as_str().to_owned().into()
        });
    let started = Instant::now();

    let response = next.run(request).await;

    let labels = vec![
        Label::new("method", method),
        Label::new("route", route),
        Label::new("status", response.status().as_str().to_owned()),
    ];
    counter!(HTTP_REQUESTS, labels.clone()).increment(1);
    histogram!(HTTP_REQUEST_DURATION, labels).record(started.elapsed().as_secs_f64());
    response
}

/// The method as a fixed label; methods outside the standard set are `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The router of the metrics address: `GET /metrics` and nothing else.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(crate::routes::metrics::scrape_private))
        .fallback(|| async { hydronet_core::Problem::not_found() })
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_label(&custom), "other");
    }
}
