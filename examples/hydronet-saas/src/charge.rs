//! A model call charged to its tenant's token budget: reserved before the call, settled
//! with what the provider reported after it, or released when it used nothing.

use http::StatusCode;
use hydronet_core::{Plan, Problem, TenantId};
use hydronet_llm::Usage;
use hydronet_tenancy::quota::{BudgetError, BudgetLimits, Reservation, TokenBudget};

use crate::error::ApiError;
use crate::state::AppState;

/// Tokens in `text`, estimated at four characters a token.
pub fn estimate(text: &str) -> u64 {
    u64::try_from(text.chars().count().div_ceil(4)).unwrap_or(u64::MAX)
}

/// A reservation of the tenant's budget for one call.
pub struct Charge {
    /// The application.
    pub state: AppState,
    /// Whose budget.
    pub tenant: TenantId,
    reservation: Reservation,
}

impl Charge {
    /// Reserves `tokens` of `tenant`'s budget on `plan`: 403 `quota_exceeded` when a
    /// period's budget is used up, 503 when the budget store is down (it fails closed).
    pub async fn reserve(
        state: &AppState,
        tenant: TenantId,
        plan: Plan,
        tokens: u64,
    ) -> Result<Self, ApiError> {
        let limits = state.limits.effective(tenant, plan);
        let budget = BudgetLimits {
            per_day: limits.tokens_per_day,
            per_month: limits.tokens_per_month,
        };
        let reservation = state
            .budget
            .reserve(tenant, tokens, budget)
            .await
            .map_err(refusal)?;
        Ok(Self {
            state: state.clone(),
            tenant,
            reservation,
        })
    }

    /// Settles the budget with what the call used and counts it in the tenant's usage.
    pub async fn meter(&self, usage: &Usage) {
        let used = usage
            .total_tokens
            .max(usage.prompt_tokens + usage.completion_tokens);
        if let Err(err) = self
            .state
            .budget
            .settle(self.reservation.clone(), used)
            .await
        {
            tracing::error!(error = %err, "token budget not settled");
        }
        self.state
            .usage
            .tokens(self.tenant, usage.prompt_tokens, usage.completion_tokens);
    }

    /// Gives the whole reservation back: the call used nothing.
    pub async fn release(&self) {
        if let Err(err) = self.state.budget.release(self.reservation.clone()).await {
            tracing::error!(error = %err, "token reservation not released");
        }
    }
}

fn refusal(err: BudgetError) -> ApiError {
    match err {
        BudgetError::Exceeded { period, limit, .. } => Problem::new(
            StatusCode::FORBIDDEN,
            "quota_exceeded",
            format!(
                "The tenant's LLM token budget for the {period:?} ({limit} tokens) is used up."
            )
            .to_lowercase(),
        )
        .into(),
        BudgetError::Unavailable(cause) => {
            tracing::error!(%cause, "token budget unavailable; refusing the call");
            Problem::unavailable("The assistant is temporarily unavailable; retry shortly.").into()
        }
    }
}
