//! Token budgets in Redis: one atomic script per reservation, shared by every instance.

use hydronet_core::{Clock, SystemClock, TenantId};
use redis::Script;
use std::sync::Arc;

use super::budget::{
    BudgetError, BudgetLimits, BudgetUse, Period, Reservation, TokenBudget, periods,
};
use crate::bus::RedisBus;

/// Both periods checked and counted together. Keys keep their TTL on INCRBY; a new key
/// gets one at once, so none outlives its period by more than a day.
const RESERVE: &str = r"
local day = tonumber(redis.call('GET', KEYS[1]) or '0')
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
if day >= tonumber(ARGV[1]) then return {0, 1, day, month} end
if month >= tonumber(ARGV[2]) then return {0, 2, day, month} end
local estimate = tonumber(ARGV[3])
day = redis.call('INCRBY', KEYS[1], estimate)
month = redis.call('INCRBY', KEYS[2], estimate)
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
if redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return {1, 0, day, month}
";

/// Adjusts the periods of a reservation that still exist; an ended period is left alone.
const SETTLE: &str = r"
for i = 1, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[1]) end
end
return 1
";

const DAY_TTL_MS: u64 = 2 * 86_400_000;
const MONTH_TTL_MS: u64 = 32 * 86_400_000;

/// Token budgets in Redis, exact across instances. Keys are
/// `{prefix}{<tenant>}:d:<YYYYMMDD>` and `…:m:<YYYYMM>`, hash-tagged by tenant so one
/// script touches one Cluster slot. Unreachable Redis is an error: budgets fail closed.
#[derive(Debug, Clone)]
pub struct RedisBudget {
    bus: RedisBus,
    prefix: String,
    clock: Arc<dyn Clock>,
    reserve: Script,
    settle: Script,
}

impl RedisBudget {
    /// Budgets on `bus`'s connection under the prefix `hn:bud:`.
    pub fn new(bus: RedisBus) -> Self {
        Self {
            bus,
            prefix: "hn:bud:".to_owned(),
            clock: Arc::new(SystemClock),
            reserve: Script::new(RESERVE),
            settle: Script::new(SETTLE),
        }
    }

    /// Uses another key prefix. Default `hn:bud:`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which clock decides the current day and month. Default the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn keys(&self, tenant: TenantId, day: u32, month: u32) -> [String; 2] {
        [
            format!("{}{{{tenant}}}:d:{day}", self.prefix),
            format!("{}{{{tenant}}}:m:{month}", self.prefix),
        ]
    }
}

fn unavailable(err: redis::RedisError) -> BudgetError {
    BudgetError::Unavailable(err.to_string())
}

impl TokenBudget for RedisBudget {
    async fn reserve(
        &self,
        tenant: TenantId,
        estimate: u64,
        limits: BudgetLimits,
    ) -> Result<Reservation, BudgetError> {
        let (day, month) = periods(self.clock.now_secs());
        let [day_key, month_key] = self.keys(tenant, day, month);
        let mut connection = self.bus.connection();
        let (admitted, period, day_used, month_used): (i64, i64, u64, u64) = self
            .reserve
            .key(day_key)
            .key(month_key)
            .arg(limits.per_day)
            .arg(limits.per_month)
            .arg(estimate)
            .arg(DAY_TTL_MS)
            .arg(MONTH_TTL_MS)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;

        match (admitted, period) {
            (1, _) => Ok(Reservation {
                tenant,
                day,
                month,
                amount: estimate,
            }),
            (_, 1) => Err(BudgetError::Exceeded {
                period: Period::Day,
                limit: limits.per_day,
                used: day_used,
            }),
            _ => Err(BudgetError::Exceeded {
                period: Period::Month,
                limit: limits.per_month,
                used: month_used,
            }),
        }
    }

    async fn settle(&self, reservation: Reservation, used: u64) -> Result<(), BudgetError> {
        let delta = i64::try_from(used).unwrap_or(i64::MAX)
            - i64::try_from(reservation.amount).unwrap_or(i64::MAX);
        if delta == 0 {
            return Ok(());
        }
        let [day_key, month_key] =
            self.keys(reservation.tenant, reservation.day, reservation.month);
        let mut connection = self.bus.connection();
        let _: i64 = self
            .settle
            .key(day_key)
            .key(month_key)
            .arg(delta)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn usage(&self, tenant: TenantId) -> Result<BudgetUse, BudgetError> {
        let (day, month) = periods(self.clock.now_secs());
        let [day_key, month_key] = self.keys(tenant, day, month);
        let mut connection = self.bus.connection();
        let (day_used, month_used): (Option<i64>, Option<i64>) = redis::cmd("MGET")
            .arg(day_key)
            .arg(month_key)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let count = |v: Option<i64>| u64::try_from(v.unwrap_or(0).max(0)).unwrap_or(0);
        Ok(BudgetUse {
            day: count(day_used),
            month: count(month_used),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::budget::behaviour;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs HYDRONET_TEST_REDIS_URL"]
    async fn behaves_like_every_budget() {
        let url = std::env::var("HYDRONET_TEST_REDIS_URL").expect("set HYDRONET_TEST_REDIS_URL");
        let bus = RedisBus::new(&url).unwrap();
        bus.ping()
            .await
            .expect("the configured Redis must be reachable");
        let prefix = format!("hn:test:{}:", uuid::Uuid::now_v7().simple());
        behaviour::run(Arc::new(
            RedisBudget::new(bus.clone()).prefix(prefix.clone()),
        ))
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
            assert!(ttl > 0, "{key} has no TTL");
        }
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_closed() {
        let budget = RedisBudget::new(RedisBus::new("redis://127.0.0.1:1").unwrap());
        let limits = BudgetLimits {
            per_day: 10,
            per_month: 10,
        };
        let result = budget.reserve(TenantId::new(), 1, limits).await;
        assert!(
            matches!(result, Err(BudgetError::Unavailable(_))),
            "{result:?}"
        );
    }
}
