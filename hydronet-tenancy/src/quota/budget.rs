//! LLM token budgets per tenant, per UTC day and per UTC month.
//!
//! Tokens are spent before anyone knows how many: a call [reserves](TokenBudget::reserve)
//! an estimate (prompt plus the most the reply may use) before the model is asked,
//! [settles](TokenBudget::settle) with the provider's reported usage after, and
//! [releases](TokenBudget::release) the reservation if the call fails. A reservation is
//! admitted while the period's count — spent plus reserved — is below the limit, and is
//! added to the count at once, so concurrent calls see each other: the budget is overspent
//! by at most one reservation.

use std::future::Future;
use std::sync::Arc;

use crate::ConcurrentMap;
use hydronet_core::{Clock, SystemClock, TenantId};

/// A tenant's token limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimits {
    /// Tokens per UTC day.
    pub per_day: u64,
    /// Tokens per UTC calendar month.
    pub per_month: u64,
}

/// Which budget period ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// The UTC day.
    Day,
    /// The UTC month.
    Month,
}

/// Why tokens could not be reserved or settled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The budget of `period` is used up.
    #[error("token budget for the {period:?} exhausted ({used} of {limit})")]
    Exceeded {
        /// The period.
        period: Period,
        /// Its limit.
        limit: u64,
        /// Spent and reserved so far.
        used: u64,
    },
    /// The backend cannot be reached; budgets fail closed.
    #[error("token budget store unavailable: {0}")]
    Unavailable(String),
}

/// Tokens set aside for one call, to be settled or released.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a reservation must be settled or released"]
pub struct Reservation {
    /// The tenant.
    pub tenant: TenantId,
    /// The UTC day, as `YYYYMMDD`.
    pub day: u32,
    /// The UTC month, as `YYYYMM`.
    pub month: u32,
    /// Tokens reserved.
    pub amount: u64,
}

/// Tokens counted so far in the current periods (spent plus reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetUse {
    /// Today.
    pub day: u64,
    /// This month.
    pub month: u64,
}

/// Where token budgets are counted.
pub trait TokenBudget: Send + Sync + 'static {
    /// Reserves `estimate` tokens for `tenant` if both periods still have room.
    fn reserve(
        &self,
        tenant: TenantId,
        estimate: u64,
        limits: BudgetLimits,
    ) -> impl Future<Output = Result<Reservation, BudgetError>> + Send;

    /// Replaces a reservation by the tokens actually `used`.
    fn settle(
        &self,
        reservation: Reservation,
        used: u64,
    ) -> impl Future<Output = Result<(), BudgetError>> + Send;

    /// Gives a reservation back (the call failed before using anything).
    fn release(
        &self,
        reservation: Reservation,
    ) -> impl Future<Output = Result<(), BudgetError>> + Send {
        self.settle(reservation, 0)
    }

    /// What `tenant` has counted in the current periods.
    fn usage(
        &self,
        tenant: TenantId,
    ) -> impl Future<Output = Result<BudgetUse, BudgetError>> + Send;
}

/// The UTC day (`YYYYMMDD`) and month (`YYYYMM`) of a Unix time in seconds.
pub fn periods(unix_secs: i64) -> (u32, u32) {
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let days = unix_secs.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let ym = u32::try_from(year * 100 + month).unwrap_or(0);
    (ym * 100 + u32::try_from(day).unwrap_or(0), ym)
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    day: u32,
    day_used: i64,
    month: u32,
    month_used: i64,
}

/// Token budgets in process memory: one entry per tenant holding both periods, updated
/// under that entry's lock so day and month move together.
#[derive(Debug)]
pub struct LocalBudget {
    counters: ConcurrentMap<TenantId, Counters>,
    clock: Arc<dyn Clock>,
}

impl Default for LocalBudget {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl LocalBudget {
    /// Budgets on `clock`'s days and months.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            counters: ConcurrentMap::default(),
            clock,
        }
    }

    fn current(&self, counters: &mut Counters) -> (u32, u32) {
        let (day, month) = periods(self.clock.now_secs());
        if counters.day != day {
            *counters = Counters {
                day,
                day_used: 0,
                ..*counters
            };
        }
        if counters.month != month {
            counters.month = month;
            counters.month_used = 0;
        }
        (day, month)
    }
}

fn count(value: i64) -> u64 {
    u64::try_from(value.max(0)).unwrap_or(0)
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl TokenBudget for LocalBudget {
    async fn reserve(
        &self,
        tenant: TenantId,
        estimate: u64,
        limits: BudgetLimits,
    ) -> Result<Reservation, BudgetError> {
        let mut entry = self.counters.entry(tenant).or_default();
        let (day, month) = self.current(&mut entry);

        if count(entry.day_used) >= limits.per_day {
            return Err(BudgetError::Exceeded {
                period: Period::Day,
                limit: limits.per_day,
                used: count(entry.day_used),
            });
        }
        if count(entry.month_used) >= limits.per_month {
            return Err(BudgetError::Exceeded {
                period: Period::Month,
                limit: limits.per_month,
                used: count(entry.month_used),
            });
        }
        entry.day_used += signed(estimate);
        entry.month_used += signed(estimate);
        Ok(Reservation {
            tenant,
            day,
            month,
            amount: estimate,
        })
    }

    async fn settle(&self, reservation: Reservation, used: u64) -> Result<(), BudgetError> {
        let delta = signed(used) - signed(reservation.amount);
        let mut entry = self.counters.entry(reservation.tenant).or_default();
        self.current(&mut entry);
        // A period that has ended since the reservation keeps its count.
        if entry.day == reservation.day {
            entry.day_used += delta;
        }
        if entry.month == reservation.month {
            entry.month_used += delta;
        }
        Ok(())
    }

    async fn usage(&self, tenant: TenantId) -> Result<BudgetUse, BudgetError> {
        let mut entry = self.counters.entry(tenant).or_default();
        self.current(&mut entry);
        Ok(BudgetUse {
            day: count(entry.day_used),
            month: count(entry.month_used),
        })
    }
}

#[cfg(test)]
pub(crate) mod behaviour {
    use super::*;

    /// The suite every budget backend must pass.
    pub(crate) async fn run<B: TokenBudget>(budget: Arc<B>) {
        concurrent_calls_overspend_by_at_most_one_reservation(&budget).await;
        settling_replaces_the_estimate(&budget).await;
        the_month_binds_too(&budget).await;
    }

    async fn concurrent_calls_overspend_by_at_most_one_reservation<B: TokenBudget>(
        budget: &Arc<B>,
    ) {
        let tenant = TenantId::new();
        let limits = BudgetLimits {
            per_day: 10,
            per_month: 1_000,
        };
        let calls = (0..50).map(|_| {
            let budget = budget.clone();
            tokio::spawn(async move {
                let reservation = budget.reserve(tenant, 3, limits).await.ok()?;
                budget.settle(reservation, 3).await.unwrap();
                Some(())
            })
        });
        let mut admitted = 0;
        for call in calls {
            admitted += usize::from(call.await.unwrap().is_some());
        }
        assert_eq!(admitted, 4, "reservations seen at 0, 3, 6 and 9 tokens");
        let used = budget.usage(tenant).await.unwrap().day;
        assert!(used <= limits.per_day + 3, "{used}");
        assert!(matches!(
            budget.reserve(tenant, 1, limits).await,
            Err(BudgetError::Exceeded {
                period: Period::Day,
                ..
            })
        ));
    }

    async fn settling_replaces_the_estimate<B: TokenBudget>(budget: &Arc<B>) {
        let tenant = TenantId::new();
        let limits = BudgetLimits {
            per_day: 1_000,
            per_month: 10_000,
        };
        let reservation = budget.reserve(tenant, 500, limits).await.unwrap();
        assert_eq!(budget.usage(tenant).await.unwrap().day, 500);
        budget.settle(reservation, 120).await.unwrap();
        assert_eq!(
            budget.usage(tenant).await.unwrap(),
            BudgetUse {
                day: 120,
                month: 120
            }
        );

        let failed = budget.reserve(tenant, 300, limits).await.unwrap();
        budget.release(failed).await.unwrap();
        assert_eq!(budget.usage(tenant).await.unwrap().day, 120);
    }

    async fn the_month_binds_too<B: TokenBudget>(budget: &Arc<B>) {
        let tenant = TenantId::new();
        let limits = BudgetLimits {
            per_day: 1_000,
            per_month: 50,
        };
        let reservation = budget.reserve(tenant, 60, limits).await.unwrap();
        budget.settle(reservation, 60).await.unwrap();
        assert!(matches!(
            budget.reserve(tenant, 1, limits).await,
            Err(BudgetError::Exceeded {
                period: Period::Month,
                limit: 50,
                used: 60
            })
        ));
    }
}

#[cfg(test)]
mod tests {
    use hydronet_core::ManualClock;

    use super::*;

    #[test]
    fn periods_are_utc_calendar_days_and_months() {
        assert_eq!(periods(0), (19_700_101, 197_001));
        assert_eq!(periods(1_709_164_800), (20_240_229, 202_402)); // a leap day
        assert_eq!(periods(1_735_689_599), (20_241_231, 202_412));
        assert_eq!(periods(1_735_689_600), (20_250_101, 202_501));
    }

    #[tokio::test]
    async fn behaves_like_every_budget() {
        behaviour::run(Arc::new(LocalBudget::default())).await;
    }

    #[tokio::test]
    async fn a_new_day_starts_a_new_budget_but_not_a_new_month() {
        let clock = ManualClock::at_secs(1_764_806_400); // 2025-12-04 00:00 UTC
        let budget = LocalBudget::new(Arc::new(clock.clone()));
        let tenant = TenantId::new();
        let limits = BudgetLimits {
            per_day: 10,
            per_month: 15,
        };
        let r = budget.reserve(tenant, 10, limits).await.unwrap();
        budget.settle(r, 10).await.unwrap();
        assert!(budget.reserve(tenant, 1, limits).await.is_err());

        clock.advance_secs(86_400);
        assert_eq!(
            budget.usage(tenant).await.unwrap(),
            BudgetUse { day: 0, month: 10 }
        );
        let r = budget.reserve(tenant, 5, limits).await.unwrap();
        budget.settle(r, 5).await.unwrap();
        assert!(matches!(
            budget.reserve(tenant, 1, limits).await,
            Err(BudgetError::Exceeded {
                period: Period::Month,
                ..
            })
        ));
    }
}
