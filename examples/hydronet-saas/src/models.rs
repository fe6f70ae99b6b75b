//! Which chat models a tenant may use: its plan's list (`HYDRONET_PLAN_<PLAN>_MODELS`,
//! by default the configured model alone), the first being the plan's default unless the
//! tenant chose another of the list.

use http::StatusCode;
use hydronet_core::{Plan, Problem};

use crate::config::Settings;
use crate::state::model_name;

/// The models `plan` allows, its default first.
pub fn allowed(settings: &Settings, plan: Plan) -> Vec<String> {
    match settings.plan_models.get(&plan) {
        Some(models) => models.clone(),
        None => vec![model_name(settings).to_owned()],
    }
}

/// The model a call uses: `requested` if the plan allows it, else the tenant's chosen
/// default while the plan still allows it, else the plan's default.
pub fn choose(
    settings: &Settings,
    plan: Plan,
    tenant_default: Option<&str>,
    requested: Option<&str>,
) -> Result<String, Problem> {
    let allowed = allowed(settings, plan);
    if let Some(model) = requested {
        return if allowed.iter().any(|m| m == model) {
            Ok(model.to_owned())
        } else {
            Err(not_allowed(&allowed))
        };
    }
    let chosen = tenant_default.filter(|model| allowed.iter().any(|m| m == model));
    Ok(chosen.map_or_else(|| allowed[0].clone(), str::to_owned))
}

/// 403 `model_not_allowed`, naming the models the plan allows.
pub fn not_allowed(allowed: &[String]) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "model_not_allowed",
        format!(
            "Your plan does not include this model; it allows: {}.",
            allowed.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_map(&vars, None).unwrap()
    }

    #[test]
    fn plans_allow_their_listed_models_with_the_first_as_default() {
        let s = settings(&[("HYDRONET_PLAN_PRO_MODELS", "qwen-plus, qwen-max")]);
        assert_eq!(allowed(&s, Plan::Pro), ["qwen-plus", "qwen-max"]);
        assert_eq!(allowed(&s, Plan::Free), [model_name(&s)]);

        assert_eq!(choose(&s, Plan::Pro, None, None).unwrap(), "qwen-plus");
        assert_eq!(
            choose(&s, Plan::Pro, Some("qwen-max"), None).unwrap(),
            "qwen-max"
        );
        // A default the plan no longer allows falls back to the plan's.
        assert_eq!(
            choose(&s, Plan::Pro, Some("qwen-turbo"), None).unwrap(),
            "qwen-plus"
        );
        assert_eq!(
            choose(&s, Plan::Pro, None, Some("qwen-max")).unwrap(),
            "qwen-max"
        );
        let refused = choose(&s, Plan::Free, None, Some("qwen-max")).unwrap_err();
        assert_eq!(refused.code(), "model_not_allowed");
    }
}
