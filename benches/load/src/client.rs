//! The load generator: keep-alive HTTP/1.1 connections driven closed-loop (as fast as they
//! go, for capacity) or open-loop (requests sent at scheduled times, for latency).
//!
//! Open-loop latency is measured from each request's *scheduled* send time, so a server
//! that stalls is charged for the requests that queued behind the stall (no coordinated
//! omission).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::stats::Samples;

/// Any failure of the load generator or a server under test.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One request to send, cloned per send.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    /// The method.
    pub(crate) method: Method,
    /// Path and query.
    pub(crate) path: String,
    /// `Authorization`, if any.
    pub(crate) bearer: Option<String>,
    /// A JSON body, if any.
    pub(crate) body: Option<Bytes>,
    /// More headers.
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Req {
    /// A `GET` of `path`.
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            bearer: None,
            body: None,
            headers: Vec::new(),
        }
    }

    /// A `POST` of `body` as JSON to `path`.
    pub(crate) fn post(path: impl Into<String>, body: &serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            bearer: None,
            body: Some(Bytes::from(body.to_string())),
            headers: Vec::new(),
        }
    }

    /// With a bearer token.
    pub(crate) fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(format!("Bearer {token}"));
        self
    }

    /// With one more header.
    pub(crate) fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    fn build(&self) -> Result<Request<Full<Bytes>>, BoxError> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(http::header::HOST, HeaderValue::from_static("127.0.0.1"));
        if let Some(bearer) = &self.bearer {
            builder = builder.header(http::header::AUTHORIZATION, bearer.as_str());
        }
        for (name, value) in &self.headers {
            builder = builder.header(*name, value.as_str());
        }
        let body = match &self.body {
            Some(body) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                body.clone()
            }
            None => Bytes::new(),
        };
        Ok(builder.body(Full::new(body))?)
    }
}

/// A response, read to its end.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// The status code.
    pub(crate) status: u16,
    /// The whole body.
    pub(crate) body: Vec<u8>,
    /// When each body frame carrying a streamed content delta arrived.
    pub(crate) content_frames: Vec<Instant>,
}

impl Reply {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Result<serde_json::Value, BoxError> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// The status is 2xx.
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One keep-alive HTTP/1.1 connection.
pub(crate) struct Conn {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects to `addr`.
    pub(crate) async fn open(addr: SocketAddr) -> Result<Self, BoxError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { addr, sender })
    }

    /// Sends `req` and reads the whole response, reconnecting first if the server closed
    /// the connection.
    pub(crate) async fn send(&mut self, req: &Req) -> Result<Reply, BoxError> {
        if self.sender.is_closed() {
            *self = Self::open(self.addr).await?;
        }
        self.sender.ready().await?;
        let response = self.sender.send_request(req.build()?).await?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut reply = Reply {
            status,
            ..Reply::default()
        };
        while let Some(frame) = body.frame().await {
            let frame = frame?;
            if let Some(data) = frame.data_ref() {
                if is_content_delta(data) {
                    reply.content_frames.push(Instant::now());
                }
                reply.body.extend_from_slice(data);
            }
        }
        Ok(reply)
    }
}

/// Whether an SSE frame carries a non-empty text delta (`"content":"…"`).
pub(crate) fn is_content_delta(frame: &[u8]) -> bool {
    let needle = b"\"content\":\"";
    frame.starts_with(b"data:") && frame.windows(needle.len()).any(|window| window == needle)
}

/// When the `i`-th request of an open-loop run at `rate` per second is due.
pub(crate) fn send_time(start: Instant, rate: f64, i: u64) -> Instant {
    start + Duration::from_secs_f64(i as f64 / rate)
}

/// What a run measured.
#[derive(Debug, Default)]
pub(crate) struct RunStats {
    /// Responses with a 2xx status.
    pub(crate) ok: u64,
    /// Responses with any other status.
    pub(crate) refused: u64,
    /// Transport failures.
    pub(crate) failed: u64,
    /// From the scheduled (open loop) or actual (closed loop) send to the response's end.
    pub(crate) latency: Samples,
    /// From the scheduled send to the first content delta (streams only).
    pub(crate) ttft: Samples,
    /// Between consecutive content deltas of one stream.
    pub(crate) gaps: Samples,
    /// How long the run took.
    pub(crate) elapsed: Duration,
}

impl RunStats {
    fn merge(&mut self, other: RunStats) {
        self.ok += other.ok;
        self.refused += other.refused;
        self.failed += other.failed;
        self.latency.extend(other.latency);
        self.ttft.extend(other.ttft);
        self.gaps.extend(other.gaps);
    }

    fn record(&mut self, result: Result<Reply, BoxError>, since: Instant) {
        let reply = match result {
            Ok(reply) => reply,
            Err(_) => {
                self.failed += 1;
                return;
            }
        };
        if !reply.ok() {
            self.refused += 1;
            return;
        }
        self.ok += 1;
        self.latency.push(Instant::now() - since);
        if let Some(first) = reply.content_frames.first() {
            self.ttft.push(*first - since);
        }
        for pair in reply.content_frames.windows(2) {
            self.gaps.push(pair[1] - pair[0]);
        }
    }

    /// Completed requests per second.
    pub(crate) fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Makes the request with a given sequence number.
pub(crate) type MakeReq = Arc<dyn Fn(u64) -> Req + Send + Sync>;

/// `conns` connections send requests back to back for `duration`.
pub(crate) async fn closed_loop(
    addr: SocketAddr,
    conns: usize,
    duration: Duration,
    make: MakeReq,
) -> Result<RunStats, BoxError> {
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::with_capacity(conns);
    for _ in 0..conns {
        let mut conn = Conn::open(addr).await?;
        let (counter, make) = (counter.clone(), make.clone());
        workers.push(tokio::spawn(async move {
            let mut stats = RunStats::default();
            while Instant::now() < deadline {
                let req = make(counter.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                let result = conn.send(&req).await;
                stats.record(result, sent);
            }
            stats
        }));
    }
    gather(workers, start).await
}

/// Requests at `rate` per second for `duration`, on up to `conns` connections; each is
/// timed from when it was due.
pub(crate) async fn open_loop(
    addr: SocketAddr,
    conns: usize,
    rate: f64,
    duration: Duration,
    make: MakeReq,
) -> Result<RunStats, BoxError> {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let counter = Arc::new(AtomicU64::new(0));
    let mut opened = Vec::with_capacity(conns);
    for _ in 0..conns {
        opened.push(Conn::open(addr).await?);
    }
    let start = Instant::now() + Duration::from_millis(20);
    let mut workers = Vec::with_capacity(conns);
    for mut conn in opened {
        let (counter, make) = (counter.clone(), make.clone());
        workers.push(tokio::spawn(async move {
            let mut stats = RunStats::default();
            loop {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let due = send_time(start, rate, i);
                tokio::time::sleep_until(due).await;
                let result = conn.send(&make(i)).await;
                stats.record(result, due);
            }
            stats
        }));
    }
    gather(workers, start).await
}

async fn gather(
    workers: Vec<tokio::task::JoinHandle<RunStats>>,
    start: Instant,
) -> Result<RunStats, BoxError> {
    let mut all = RunStats::default();
    for worker in workers {
        all.merge(worker.await?);
    }
    all.elapsed = Instant::now().saturating_duration_since(start);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spaces_requests_evenly_from_the_start() {
        let start = Instant::now();
        assert_eq!(send_time(start, 1000.0, 0), start);
        assert_eq!(
            send_time(start, 1000.0, 1) - start,
            Duration::from_millis(1)
        );
        assert_eq!(
            send_time(start, 1000.0, 2500) - start,
            Duration::from_millis(2500)
        );
        assert_eq!(
            send_time(start, 400.0, 3) - start,
            Duration::from_micros(7500)
        );
    }

    #[test]
    fn content_deltas_are_told_from_other_frames() {
        assert!(is_content_delta(
            br#"data: {"choices":[{"delta":{"content":"Hi"}}]}"#
        ));
        assert!(!is_content_delta(
            br#"data: {"choices":[{"delta":{},"finish_reason":"stop"}]}"#
        ));
        assert!(!is_content_delta(
            br#"data: {"choices":[{"delta":{"content":null}}]}"#
        ));
        assert!(!is_content_delta(b"data: [DONE]"));
    }

    #[test]
    fn a_refused_reply_is_counted_but_not_timed() {
        let mut stats = RunStats::default();
        let since = Instant::now();
        stats.record(
            Ok(Reply {
                status: 429,
                ..Reply::default()
            }),
            since,
        );
        stats.record(
            Ok(Reply {
                status: 200,
                ..Reply::default()
            }),
            since,
        );
        stats.record(Err("reset".into()), since);
        assert_eq!((stats.ok, stats.refused, stats.failed), (1, 1, 1));
        assert_eq!(stats.latency.len(), 1);
    }
}
