//! Subscription plans and their limits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A tenant's subscription plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// The plan every new tenant starts on.
    #[default]
    Free,
    /// A paid plan with higher limits.
    Pro,
    /// The largest plan.
    Enterprise,
}

/// The error returned when a string names no plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan; expected one of free, pro, enterprise")]
pub struct UnknownPlan;

impl Plan {
    /// Every plan, smallest first.
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Enterprise];

    /// The plan's name as stored and shown: `free`, `pro` or `enterprise`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// The built-in default limits of this plan. Deployments may configure others.
    pub const fn limits(self) -> PlanLimits {
        match self {
            Plan::Free => PlanLimits {
                requests_per_minute: 60,
                user_requests_per_minute: 30,
                tokens_per_day: 50_000,
                tokens_per_month: 1_000_000,
                max_users: 5,
                max_conversations: 100,
                max_mcp_servers: 1,
            },
            Plan::Pro => PlanLimits {
                requests_per_minute: 600,
                user_requests_per_minute: 300,
                tokens_per_day: 1_000_000,
                tokens_per_month: 20_000_000,
                max_users: 50,
                max_conversations: 10_000,
                max_mcp_servers: 10,
            },
            Plan::Enterprise => PlanLimits {
                requests_per_minute: 6_000,
                user_requests_per_minute: 3_000,
                tokens_per_day: 20_000_000,
                tokens_per_month: 500_000_000,
                max_users: 10_000,
                max_conversations: 1_000_000,
                max_mcp_servers: 100,
            },
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = UnknownPlan;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Plan::Free),
            "pro" => Ok(Plan::Pro),
            "enterprise" => Ok(Plan::Enterprise),
            _ => Err(UnknownPlan),
        }
    }
}

/// What a plan allows a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// API requests per minute for the whole tenant (also the burst).
    pub requests_per_minute: u32,
    /// API requests per minute for each user or API key of the tenant.
    pub user_requests_per_minute: u32,
    /// LLM tokens per UTC day.
    pub tokens_per_day: u64,
    /// LLM tokens per UTC calendar month.
    pub tokens_per_month: u64,
    /// User accounts.
    pub max_users: u32,
    /// Conversations kept at once.
    pub max_conversations: u32,
    /// Registered MCP tool servers.
    pub max_mcp_servers: u32,
}

/// The limits of every plan, as a deployment configures them. The default is each plan's
/// built-in limits ([`Plan::limits`]).
///
/// ```
/// use hydronet_core::{Plan, PlanCatalog};
///
/// let mut catalog = PlanCatalog::default();
/// catalog.set(Plan::Free, Plan::Free.limits().with_requests_per_minute(120));
/// assert_eq!(catalog.limits(Plan::Free).requests_per_minute, 120);
/// assert_eq!(catalog.limits(Plan::Pro), Plan::Pro.limits());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanCatalog {
    limits: [PlanLimits; 3],
}

impl Default for PlanCatalog {
    fn default() -> Self {
        Self {
            limits: Plan::ALL.map(Plan::limits),
        }
    }
}

impl PlanCatalog {
    /// The limits of `plan`.
    pub fn limits(&self, plan: Plan) -> PlanLimits {
        self.limits[plan as usize]
    }

    /// Replaces the limits of `plan`.
    pub fn set(&mut self, plan: Plan, limits: PlanLimits) {
        self.limits[plan as usize] = limits;
    }
}

impl PlanLimits {
    /// The same limits with another tenant-wide request rate.
    pub const fn with_requests_per_minute(mut self, value: u32) -> Self {
        self.requests_per_minute = value;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for plan in Plan::ALL {
            assert_eq!(plan.as_str().parse::<Plan>(), Ok(plan));
        }
        assert_eq!("gold".parse::<Plan>(), Err(UnknownPlan));
    }

    #[test]
    fn larger_plans_allow_more() {
        let [free, pro, ent] = Plan::ALL.map(Plan::limits);
        assert!(free.requests_per_minute < pro.requests_per_minute);
        assert!(pro.tokens_per_month < ent.tokens_per_month);
        assert!(free.max_users < ent.max_users);
    }
}
