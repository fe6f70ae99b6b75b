//! The Redis backend: one atomic script per decision, shared by every instance.

use std::time::Duration;

use redis::Script;

use super::gcra::Rate;
use super::{Decision, LimiterError, RateLimiter};
use crate::bus::RedisBus;

/// GCRA in one round trip. The clock is Redis's own (`TIME`), so instances with skewed
/// clocks still agree; the key always gets a TTL equal to the time until it is fully
/// recovered, so idle keys disappear by themselves. Times are microseconds, formatted as
/// integers because Lua numbers would otherwise print in exponent notation.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, string.format('%.0f', tat - now), string.format('%.0f', allow_at - now)}
end
local ttl = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl)
return {1, string.format('%.0f', new_tat - now), '0'}
";

/// Rate limits in Redis, exact across any number of instances.
///
/// Keys are `{prefix}{<key>}`: the braces make a Redis Cluster hash tag, so everything
/// about one key stays on one node.
#[derive(Debug, Clone)]
pub struct RedisLimiter {
    bus: RedisBus,
    prefix: String,
    script: Script,
}

impl RedisLimiter {
    /// A limiter on `bus`'s connection, naming keys `hn:rl:{<key>}`.
    pub fn new(bus: RedisBus) -> Self {
        Self {
            bus,
            prefix: "hn:rl:".to_owned(),
            script: Script::new(SCRIPT),
        }
    }

    /// Uses another key prefix. Default `hn:rl:`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The Redis key of a limiter key.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{{{key}}}", self.prefix)
    }
}

impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str, rate: Rate, cost: u32) -> Result<Decision, LimiterError> {
        let (interval, tolerance) = (rate.interval_us(), rate.tolerance_us());
        let mut connection = self.bus.connection();
        let (allowed, ahead, retry): (i64, i64, i64) = self
            .script
            .key(self.redis_key(key))
            .arg(interval)
            .arg(tolerance)
            .arg(cost)
            .invoke_async(&mut connection)
            .await
            .map_err(|err| LimiterError::Unavailable(err.to_string()))?;

        let free = (tolerance - ahead).max(0) / interval;
        Ok(Decision {
            allowed: allowed == 1,
            limit: rate.limit,
            remaining: u32::try_from(free).unwrap_or(u32::MAX),
            reset_after: Duration::from_micros(ahead.max(0).unsigned_abs()),
            retry_after: (allowed != 1).then(|| Duration::from_micros(retry.max(0).unsigned_abs())),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::quota::behaviour;

    fn redis_url() -> Option<String> {
        std::env::var("HYDRONET_TEST_REDIS_URL")
            .ok()
            .filter(|v| !v.is_empty())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs HYDRONET_TEST_REDIS_URL"]
    async fn behaves_like_every_limiter() {
        let url = redis_url().expect("set HYDRONET_TEST_REDIS_URL");
        let bus = RedisBus::new(&url).unwrap();
        bus.ping()
            .await
            .expect("the configured Redis must be reachable");
        let prefix = format!("hn:test:{}:", uuid::Uuid::now_v7().simple());
        let limiter = Arc::new(RedisLimiter::new(bus.clone()).prefix(prefix.clone()));

        // Redis keeps its own time: the suite's clock moves by waiting.
        behaviour::run(limiter, &|secs| {
            std::thread::sleep(Duration::from_secs(secs as u64))
        })
        .await;

        let mut connection = bus.connection();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(!keys.is_empty());
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .unwrap();
            assert!(ttl > 0, "{key} has no TTL ({ttl})");
        }
    }
}
