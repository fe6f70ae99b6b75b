//! Settings, read from the environment (and a `.env` file) with the names the original
//! HydroNet deployment used.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hydronet_core::{Plan, PlanCatalog, PlanLimits};
use hydronet_llm::egress::EgressPolicy;
use hydronet_tenancy::quota::OnOutage;
use secrecy::{ExposeSecret, SecretString};

/// Where development secrets are kept when none are configured.
pub const DEV_SECRETS_FILE: &str = ".hydronet/secrets.env";

/// The database used when `DATABASE_URL` is not set: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://hydronet.db?mode=rwc";

const MIN_SECRET_BYTES: usize = 32;

/// Everything the server needs to know to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Development mode (`DEBUG`, default true): human-readable logs, generated secrets.
    pub debug: bool,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `REDIS_URL`, when instances share revocations through Redis.
    pub redis_url: Option<String>,
    /// `SECRET_KEY`: encrypts stored third-party secrets.
    pub secret_key: SecretString,
    /// `JWT_SECRET_KEY`: signs access tokens (HS256).
    pub jwt_secret: SecretString,
    /// `JWT_PREVIOUS_SECRET_KEY`: a former signing secret that still verifies, for rotation.
    pub jwt_previous_secret: Option<SecretString>,
    /// `HYDRONET_JWT_ED25519_PRIVATE_KEY_FILE` / `..._PUBLIC_KEY_FILE`: sign with EdDSA instead.
    pub jwt_ed25519: Option<(Option<String>, String)>,
    /// `HYDRONET_ACCESS_TOKEN_TTL_SECS`, default 900.
    pub access_ttl: Duration,
    /// `HYDRONET_REFRESH_TOKEN_TTL_SECS`, default 30 days.
    pub refresh_ttl: Duration,
    /// `HYDRONET_PASSWORD_HASH_CONCURRENCY`, default half the CPUs (at least one).
    pub hash_concurrency: usize,
    /// Each plan's limits: the built-in defaults, overridden by
    /// `HYDRONET_PLAN_<PLAN>_<LIMIT>` (for example `HYDRONET_PLAN_FREE_REQUESTS_PER_MINUTE`).
    pub plans: PlanCatalog,
    /// `HYDRONET_PLAN_<PLAN>_MODELS`: the models a plan may use, comma-separated, the
    /// first being its default. Default: the configured model alone.
    pub plan_models: HashMap<Plan, Vec<String>>,
    /// `HYDRONET_LLM_BASE_URL`: an OpenAI-compatible endpoint. Default DashScope's.
    pub llm_base_url: Option<String>,
    /// `HYDRONET_LLM_MODEL`. Default `qwen-turbo`.
    pub llm_model: Option<String>,
    /// `ALIYUN_API_KEY` (or `DASHSCOPE_API_KEY`). Without one the offline model answers.
    pub llm_api_key: Option<SecretString>,
    /// `HYDRONET_LLM_MAX_TOKENS`: the longest reply, default 1024.
    pub llm_max_tokens: u32,
    /// `HYDRONET_LLM_CONTEXT_TOKENS`: the model's window for history, default 8000.
    pub llm_context_tokens: u32,
    /// `HYDRONET_MCP_ALLOW`: CIDR ranges MCP servers may be reached in beyond the public
    /// internet (comma-separated), e.g. `10.20.0.0/16`. Default: public addresses only.
    pub egress: EgressPolicy,
    /// `HYDRONET_MCP_CALL_TIMEOUT_SECS`: the longest one tool call may take, default 20.
    pub mcp_call_timeout: Duration,
    /// `HYDRONET_MCP_MAX_OUTPUT_BYTES`: a tool's output is cut there, default 64 KiB.
    pub mcp_max_output_bytes: usize,
    /// `HYDRONET_MCP_MAX_STEPS`: rounds of tool calls per chat message, default 5.
    pub mcp_max_steps: u32,
    /// `HYDRONET_AUDIT_SPOOL_DIR`: where queued audit events wait, on disk, until they are
    /// written, so a crash loses none. Default `.hydronet/audit-spool`.
    pub audit_spool_dir: std::path::PathBuf,
    /// `HYDRONET_REDIS_KEY_PREFIX`, default `hn:`: the namespace of this deployment's keys,
    /// so several deployments (or test runs) can share one Redis.
    pub redis_key_prefix: String,
    /// `HYDRONET_TRUSTED_PROXIES`: reverse proxies (addresses or CIDR ranges) whose
    /// `X-Forwarded-For` is believed. Default none.
    pub trusted_proxies: Vec<crate::proxies::Cidr>,
    /// `HYDRONET_RATE_LIMIT_ON_OUTAGE`: `fallback` (default) to in-process request limits
    /// while Redis is down, or `fail_closed` (503).
    pub rate_limit_on_outage: OnOutage,
    /// `HYDRONET_LOGIN_LIMIT_ON_OUTAGE`: `fail_closed` (default) or `fallback`.
    pub login_limit_on_outage: OnOutage,
    /// `HYDRONET_METRICS_BIND`: a socket address where `serve` answers `GET /metrics` on a
    /// listener of its own, for a scraper on a private network. Default none.
    pub metrics_bind: Option<SocketAddr>,
    /// `HYDRONET_METRICS_TOKEN`: when set, `GET /metrics` on the main address (and on the
    /// metrics address) answers only requests bearing it. At least 32 characters.
    pub metrics_token: Option<SecretString>,
    /// `WECHAT_ENABLED`, default true: `false` turns the WeChat channel off server-wide
    /// (every callback answers 404, whatever the tenants configured).
    pub wechat_enabled: bool,
    /// The original deployment's single WeChat account (`WECHAT_APP_ID`, `WECHAT_TOKEN`,
    /// `WECHAT_APP_SECRET`, optionally `WECHAT_ENCODING_AES_KEY`), used by the tenant named
    /// in `HYDRONET_WECHAT_TENANT` for as long as that tenant has no settings of its own.
    pub wechat_default: Option<WeChatDefault>,
    /// `HYDRONET_WECHAT_API_BASE`: where WeChat's server API is, default
    /// `https://api.weixin.qq.com` (tests point it at a local mock).
    pub wechat_api_base: String,
    /// `HYDRONET_WECHAT_REPLY_WITHIN_MS`, default 4500: how long a callback waits for the
    /// model before it answers `success` and sends the reply later through the
    /// customer-service API. Below WeChat's 5-second limit.
    pub wechat_reply_within: Duration,
}

/// A WeChat official account configured in the environment rather than by its tenant.
#[derive(Debug, Clone)]
pub struct WeChatDefault {
    /// `HYDRONET_WECHAT_TENANT`: the slug or id of the tenant it belongs to.
    pub tenant: String,
    /// `WECHAT_APP_ID`.
    pub app_id: String,
    /// `WECHAT_TOKEN`: signs WeChat's callbacks.
    pub token: SecretString,
    /// `WECHAT_APP_SECRET`: obtains access tokens for the customer-service API.
    pub app_secret: SecretString,
    /// `WECHAT_ENCODING_AES_KEY`: the 43-character key of the encrypted mode, if used.
    pub encoding_aes_key: Option<SecretString>,
}

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Production mode without a required secret.
    #[error(
        "{0} is not set. With DEBUG=false secrets must be configured: set {0} to a random \
         string of at least 32 characters (for example `openssl rand -base64 48`)"
    )]
    MissingSecret(&'static str),
    /// A secret too short to be safe.
    #[error("{0} is too short: use at least 32 characters")]
    WeakSecret(&'static str),
    /// A variable that does not parse.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A plan limit variable that is not a whole number.
    #[error("{0} is invalid: expected a whole number")]
    PlanLimit(String),
    /// The development secrets file could not be read or written.
    #[error("cannot use {DEV_SECRETS_FILE}: {0}")]
    SecretsFile(#[from] std::io::Error),
}

impl Settings {
    /// Reads the process environment. In development mode, missing secrets are generated
    /// once and kept in [`DEV_SECRETS_FILE`].
    pub fn from_env() -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::from_map(&env, Some(Path::new(DEV_SECRETS_FILE)))
    }

    /// Reads settings from `vars`; `dev_secrets` is where generated development secrets are
    /// kept (`None`: generate fresh ones each time).
    pub fn from_map(
        vars: &HashMap<String, String>,
        dev_secrets: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let debug = match get("DEBUG") {
            None => true,
            Some(value) => parse_bool(value).ok_or_else(|| ConfigError::Invalid {
                name: "DEBUG",
                reason: "expected true or false".into(),
            })?,
        };

        let mut generated = HashMap::new();
        let mut secret = |name: &'static str| -> Result<SecretString, ConfigError> {
            if let Some(value) = get(name) {
                return check_strength(name, value);
            }
            if !debug {
                return Err(ConfigError::MissingSecret(name));
            }
            let value = dev_secret(name, dev_secrets)?;
            generated.insert(name, ());
            Ok(SecretString::from(value))
        };
        let secret_key = secret("SECRET_KEY")?;
        let jwt_secret = secret("JWT_SECRET_KEY")?;
        if !generated.is_empty() {
            tracing::warn!(
                file = DEV_SECRETS_FILE,
                "SECRET_KEY or JWT_SECRET_KEY not set: using generated development secrets; \
                 set both (and DEBUG=false) in production"
            );
        }

        let jwt_previous_secret = get("JWT_PREVIOUS_SECRET_KEY")
            .map(|v| check_strength("JWT_PREVIOUS_SECRET_KEY", v))
            .transpose()?;
        let jwt_ed25519 = get("HYDRONET_JWT_ED25519_PUBLIC_KEY_FILE").map(|public| {
            let private = get("HYDRONET_JWT_ED25519_PRIVATE_KEY_FILE").map(str::to_owned);
            (private, public.to_owned())
        });

        Ok(Self {
            debug,
            database_url: get("DATABASE_URL")
                .unwrap_or(DEFAULT_DATABASE_URL)
                .to_owned(),
            redis_url: get("REDIS_URL").map(str::to_owned),
            secret_key,
            jwt_secret,
            jwt_previous_secret,
            jwt_ed25519,
            access_ttl: secs(
                get("HYDRONET_ACCESS_TOKEN_TTL_SECS"),
                "HYDRONET_ACCESS_TOKEN_TTL_SECS",
                900,
            )?,
            refresh_ttl: secs(
                get("HYDRONET_REFRESH_TOKEN_TTL_SECS"),
                "HYDRONET_REFRESH_TOKEN_TTL_SECS",
                30 * 24 * 3600,
            )?,
            hash_concurrency: match get("HYDRONET_PASSWORD_HASH_CONCURRENCY") {
                Some(v) => number("HYDRONET_PASSWORD_HASH_CONCURRENCY", v)?.max(1) as usize,
                // Half the CPUs: a storm of logins leaves the other half to requests.
                None => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            },
            plans: plans(&get)?,
            plan_models: plan_models(&get),
            trusted_proxies: crate::proxies::parse_list(
                get("HYDRONET_TRUSTED_PROXIES").unwrap_or(""),
            )
            .map_err(|reason| ConfigError::Invalid {
                name: "HYDRONET_TRUSTED_PROXIES",
                reason,
            })?,
            llm_base_url: get("HYDRONET_LLM_BASE_URL").map(str::to_owned),
            llm_model: get("HYDRONET_LLM_MODEL").map(str::to_owned),
            llm_api_key: get("ALIYUN_API_KEY")
                .or_else(|| get("DASHSCOPE_API_KEY"))
                .map(|key| SecretString::from(key.to_owned())),
            llm_max_tokens: match get("HYDRONET_LLM_MAX_TOKENS") {
                Some(v) => number("HYDRONET_LLM_MAX_TOKENS", v)?.clamp(1, 1_000_000) as u32,
                None => 1024,
            },
            llm_context_tokens: match get("HYDRONET_LLM_CONTEXT_TOKENS") {
                Some(v) => number("HYDRONET_LLM_CONTEXT_TOKENS", v)?.clamp(256, 10_000_000) as u32,
                None => 8000,
            },
            egress: EgressPolicy::from_allow_list(get("HYDRONET_MCP_ALLOW").unwrap_or(""))
                .map_err(|err| ConfigError::Invalid {
                    name: "HYDRONET_MCP_ALLOW",
                    reason: err.to_string(),
                })?,
            mcp_call_timeout: Duration::from_secs(match get("HYDRONET_MCP_CALL_TIMEOUT_SECS") {
                Some(v) => number("HYDRONET_MCP_CALL_TIMEOUT_SECS", v)?.clamp(1, 600),
                None => 20,
            }),
            mcp_max_output_bytes: match get("HYDRONET_MCP_MAX_OUTPUT_BYTES") {
                Some(v) => {
                    number("HYDRONET_MCP_MAX_OUTPUT_BYTES", v)?.clamp(1024, 16 << 20) as usize
                }
                None => 64 << 10,
            },
            mcp_max_steps: match get("HYDRONET_MCP_MAX_STEPS") {
                Some(v) => number("HYDRONET_MCP_MAX_STEPS", v)?.clamp(1, 20) as u32,
                None => 5,
            },
            audit_spool_dir: get("HYDRONET_AUDIT_SPOOL_DIR")
                .unwrap_or(".hydronet/audit-spool")
                .into(),
            redis_key_prefix: get("HYDRONET_REDIS_KEY_PREFIX").unwrap_or("hn:").to_owned(),
            rate_limit_on_outage: on_outage(
                get("HYDRONET_RATE_LIMIT_ON_OUTAGE"),
                "HYDRONET_RATE_LIMIT_ON_OUTAGE",
                OnOutage::UseSecondary,
            )?,
            login_limit_on_outage: on_outage(
                get("HYDRONET_LOGIN_LIMIT_ON_OUTAGE"),
                "HYDRONET_LOGIN_LIMIT_ON_OUTAGE",
                OnOutage::FailClosed,
            )?,
            metrics_bind: get("HYDRONET_METRICS_BIND")
                .map(|v| {
                    v.parse().map_err(|_| ConfigError::Invalid {
                        name: "HYDRONET_METRICS_BIND",
                        reason: "expected an address and port such as 127.0.0.1:9100".into(),
                    })
                })
                .transpose()?,
            metrics_token: get("HYDRONET_METRICS_TOKEN")
                .map(|v| check_strength("HYDRONET_METRICS_TOKEN", v))
                .transpose()?,
            wechat_enabled: match get("WECHAT_ENABLED") {
                None => true,
                Some(value) => parse_bool(value).ok_or_else(|| ConfigError::Invalid {
                    name: "WECHAT_ENABLED",
                    reason: "expected true or false".into(),
                })?,
            },
            wechat_default: wechat_default(&get)?,
            wechat_api_base: get("HYDRONET_WECHAT_API_BASE")
                .unwrap_or("https://api.weixin.qq.com")
                .trim_end_matches('/')
                .to_owned(),
            wechat_reply_within: match get("HYDRONET_WECHAT_REPLY_WITHIN_MS") {
                None => Duration::from_millis(4500),
                Some(v) => match number("HYDRONET_WECHAT_REPLY_WITHIN_MS", v)? {
                    ms @ 1..=4900 => Duration::from_millis(ms),
                    _ => {
                        return Err(ConfigError::Invalid {
                            name: "HYDRONET_WECHAT_REPLY_WITHIN_MS",
                            reason: "must be from 1 to 4900 (WeChat waits 5 seconds)".into(),
                        });
                    }
                },
            },
        })
    }

    /// Whether Prometheus metrics are collected: a metrics address or token is set.
    pub fn metrics_enabled(&self) -> bool {
        self.metrics_bind.is_some() || self.metrics_token.is_some()
    }

    /// The JWT signing secret, for building keys.
    pub fn jwt_secret_bytes(&self) -> &[u8] {
        self.jwt_secret.expose_secret().as_bytes()
    }
}

/// Whether `DEBUG` asks for development mode (the default); an unparsable value counts as
/// production here and is reported by [`Settings::from_env`].
pub fn debug_from_env() -> bool {
    std::env::var("DEBUG").map_or(true, |v| {
        v.trim().is_empty() || parse_bool(&v).unwrap_or(false)
    })
}

/// The environment's WeChat account, when `HYDRONET_WECHAT_TENANT` says whose it is. The
/// original deployment served one tenant, so its `WECHAT_*` variables mean nothing until
/// a tenant is named; they are then all required.
fn wechat_default<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<WeChatDefault>, ConfigError> {
    let account = ["WECHAT_APP_ID", "WECHAT_TOKEN", "WECHAT_APP_SECRET"];
    let Some(tenant) = get("HYDRONET_WECHAT_TENANT") else {
        if account.iter().any(|name| get(name).is_some()) {
            tracing::warn!(
                "WECHAT_APP_ID, WECHAT_TOKEN or WECHAT_APP_SECRET is set but \
                 HYDRONET_WECHAT_TENANT is not: they are ignored; name the tenant they \
                 belong to, or configure the account with PUT /api/tenant/wechat"
            );
        }
        return Ok(None);
    };
    let required = |name: &'static str| {
        get(name).ok_or_else(|| ConfigError::Invalid {
            name,
            reason: "is required when HYDRONET_WECHAT_TENANT is set".into(),
        })
    };
    let secret = |value: &str| SecretString::from(value.to_owned());
    Ok(Some(WeChatDefault {
        tenant: tenant.to_owned(),
        app_id: required("WECHAT_APP_ID")?.to_owned(),
        token: secret(required("WECHAT_TOKEN")?),
        app_secret: secret(required("WECHAT_APP_SECRET")?),
        encoding_aes_key: get("WECHAT_ENCODING_AES_KEY").map(secret),
    }))
}

/// The model lists of `HYDRONET_PLAN_<PLAN>_MODELS`, for the plans that set one.
fn plan_models<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> HashMap<Plan, Vec<String>> {
    Plan::ALL
        .into_iter()
        .filter_map(|plan| {
            let name = format!("HYDRONET_PLAN_{}_MODELS", plan.as_str().to_uppercase());
            let models: Vec<String> = get(&name)?
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect();
            (!models.is_empty()).then_some((plan, models))
        })
        .collect()
}

/// The plan catalog with the overrides found in the environment.
fn plans<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<PlanCatalog, ConfigError> {
    let mut catalog = PlanCatalog::default();
    for plan in Plan::ALL {
        let mut limits = catalog.limits(plan);
        let prefix = format!("HYDRONET_PLAN_{}_", plan.as_str().to_uppercase());
        let read = |field: &str| -> Result<Option<u64>, ConfigError> {
            let name = format!("{prefix}{field}");
            get(&name)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| ConfigError::PlanLimit(name.clone()))
                })
                .transpose()
        };
        let small = |value: u64, field: &str| {
            u32::try_from(value).map_err(|_| ConfigError::PlanLimit(format!("{prefix}{field}")))
        };
        apply(&mut limits, &read, &small)?;
        catalog.set(plan, limits);
    }
    Ok(catalog)
}

type Read<'r> = dyn Fn(&str) -> Result<Option<u64>, ConfigError> + 'r;
type Small<'r> = dyn Fn(u64, &str) -> Result<u32, ConfigError> + 'r;

fn apply(limits: &mut PlanLimits, read: &Read<'_>, small: &Small<'_>) -> Result<(), ConfigError> {
    let u32_fields: [(&str, &mut u32); 5] = [
        ("REQUESTS_PER_MINUTE", &mut limits.requests_per_minute),
        (
            "USER_REQUESTS_PER_MINUTE",
            &mut limits.user_requests_per_minute,
        ),
        ("MAX_USERS", &mut limits.max_users),
        ("MAX_CONVERSATIONS", &mut limits.max_conversations),
        ("MAX_MCP_SERVERS", &mut limits.max_mcp_servers),
    ];
    for (field, slot) in u32_fields {
        if let Some(value) = read(field)? {
            *slot = small(value, field)?;
        }
    }
    if let Some(value) = read("TOKENS_PER_DAY")? {
        limits.tokens_per_day = value;
    }
    if let Some(value) = read("TOKENS_PER_MONTH")? {
        limits.tokens_per_month = value;
    }
    Ok(())
}

fn on_outage(
    value: Option<&str>,
    name: &'static str,
    default: OnOutage,
) -> Result<OnOutage, ConfigError> {
    match value {
        None => Ok(default),
        Some("fallback") => Ok(OnOutage::UseSecondary),
        Some("fail_closed") => Ok(OnOutage::FailClosed),
        Some(_) => Err(ConfigError::Invalid {
            name,
            reason: "expected fallback or fail_closed".into(),
        }),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn check_strength(name: &'static str, value: &str) -> Result<SecretString, ConfigError> {
    if value.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::WeakSecret(name));
    }
    Ok(SecretString::from(value.to_owned()))
}

fn number(name: &'static str, value: &str) -> Result<u64, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid {
        name,
        reason: "expected a whole number".into(),
    })
}

fn secs(value: Option<&str>, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
    let secs = value
        .map(|v| number(name, v))
        .transpose()?
        .unwrap_or(default);
    if secs == 0 {
        return Err(ConfigError::Invalid {
            name,
            reason: "must be greater than zero".into(),
        });
    }
    Ok(Duration::from_secs(secs))
}

/// A random secret: 48 bytes, base64url.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads `name` from the development secrets file, generating and appending it if absent.
fn dev_secret(name: &str, file: Option<&Path>) -> Result<String, ConfigError> {
    let Some(file) = file else {
        return Ok(random_secret());
    };
    let existing = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err.into()),
    };
    let found = existing.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    });
    if let Some(value) = found.filter(|v| v.len() >= MIN_SECRET_BYTES) {
        return Ok(value);
    }

    let value = random_secret();
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut options = fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    writeln!(options.open(file)?, "{name}={value}")?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn production_without_secrets_refuses_and_names_the_variable() {
        let err = Settings::from_map(&vars(&[("DEBUG", "false")]), None).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("SECRET_KEY"), "{message}");
    }

    #[test]
    fn short_secrets_are_refused() {
        let err = Settings::from_map(
            &vars(&[("SECRET_KEY", "short"), ("JWT_SECRET_KEY", &"x".repeat(40))]),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::WeakSecret("SECRET_KEY")));
    }

    #[test]
    fn development_generates_and_keeps_secrets() {
        let dir = std::env::temp_dir().join(format!("hn-cfg-{}", uuid::Uuid::now_v7()));
        let file = dir.join("secrets.env");
        let first = Settings::from_map(&vars(&[]), Some(&file)).unwrap();
        let second = Settings::from_map(&vars(&[]), Some(&file)).unwrap();
        assert!(first.debug);
        assert_eq!(
            first.jwt_secret.expose_secret(),
            second.jwt_secret.expose_secret()
        );
        assert_ne!(
            first.jwt_secret.expose_secret(),
            first.secret_key.expose_secret()
        );
        assert_eq!(first.database_url, DEFAULT_DATABASE_URL);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn plan_limits_come_from_the_environment() {
        let settings = Settings::from_map(
            &vars(&[
                ("HYDRONET_PLAN_FREE_REQUESTS_PER_MINUTE", "5"),
                ("HYDRONET_PLAN_PRO_TOKENS_PER_DAY", "123456"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(settings.plans.limits(Plan::Free).requests_per_minute, 5);
        assert_eq!(settings.plans.limits(Plan::Pro).tokens_per_day, 123_456);
        assert_eq!(
            settings.plans.limits(Plan::Enterprise),
            Plan::Enterprise.limits()
        );

        let err = Settings::from_map(&vars(&[("HYDRONET_PLAN_FREE_MAX_USERS", "many")]), None)
            .unwrap_err();
        assert!(
            err.to_string().contains("HYDRONET_PLAN_FREE_MAX_USERS"),
            "{err}"
        );
    }

    #[test]
    fn outage_behaviour_is_configurable() {
        let defaults = Settings::from_map(&vars(&[]), None).unwrap();
        assert_eq!(defaults.rate_limit_on_outage, OnOutage::UseSecondary);
        assert_eq!(defaults.login_limit_on_outage, OnOutage::FailClosed);
        let set = Settings::from_map(
            &vars(&[
                ("HYDRONET_RATE_LIMIT_ON_OUTAGE", "fail_closed"),
                ("HYDRONET_LOGIN_LIMIT_ON_OUTAGE", "fallback"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(set.rate_limit_on_outage, OnOutage::FailClosed);
        assert_eq!(set.login_limit_on_outage, OnOutage::UseSecondary);
        let bad = Settings::from_map(&vars(&[("HYDRONET_RATE_LIMIT_ON_OUTAGE", "maybe")]), None);
        assert!(bad.is_err());
    }

    #[test]
    fn metrics_are_off_unless_an_address_or_token_is_set() {
        let defaults = Settings::from_map(&vars(&[]), None).unwrap();
        assert!(!defaults.metrics_enabled());

        let token = "m".repeat(40);
        let set = Settings::from_map(
            &vars(&[
                ("HYDRONET_METRICS_BIND", "127.0.0.1:9100"),
                ("HYDRONET_METRICS_TOKEN", &token),
            ]),
            None,
        )
        .unwrap();
        assert!(set.metrics_enabled());
        assert_eq!(
            set.metrics_bind,
            Some(SocketAddr::from(([127, 0, 0, 1], 9100)))
        );
        assert_eq!(set.metrics_token.unwrap().expose_secret(), token);
        // The token never shows in debug output.
        let printed = format!(
            "{:?}",
            Settings::from_map(&vars(&[("HYDRONET_METRICS_TOKEN", &token)]), None).unwrap()
        );
        assert!(!printed.contains(&token));

        let short = Settings::from_map(&vars(&[("HYDRONET_METRICS_TOKEN", "letmein")]), None);
        assert!(matches!(
            short,
            Err(ConfigError::WeakSecret("HYDRONET_METRICS_TOKEN"))
        ));
        let bad = Settings::from_map(&vars(&[("HYDRONET_METRICS_BIND", "port 9100")]), None);
        assert!(matches!(
            bad,
            Err(ConfigError::Invalid {
                name: "HYDRONET_METRICS_BIND",
                ..
            })
        ));
    }

    #[test]
    fn the_wechat_channel_is_on_with_no_default_account() {
        let defaults = Settings::from_map(&vars(&[]), None).unwrap();
        assert!(defaults.wechat_enabled);
        assert!(defaults.wechat_default.is_none());
        assert_eq!(defaults.wechat_api_base, "https://api.weixin.qq.com");
        assert_eq!(defaults.wechat_reply_within, Duration::from_millis(4500));

        let off = Settings::from_map(&vars(&[("WECHAT_ENABLED", "false")]), None).unwrap();
        assert!(!off.wechat_enabled);
        let bad = Settings::from_map(&vars(&[("WECHAT_ENABLED", "perhaps")]), None);
        assert!(matches!(
            bad,
            Err(ConfigError::Invalid {
                name: "WECHAT_ENABLED",
                ..
            })
        ));
    }

    #[test]
    fn the_environment_account_belongs_to_the_named_tenant_only() {
        let account = [
            ("WECHAT_APP_ID", "wx0123456789abcdef"),
            ("WECHAT_TOKEN", "callbacktoken"),
            ("WECHAT_APP_SECRET", "app-secret-value"),
        ];
        // Without a tenant the original variables are ignored (with a warning).
        let unnamed = Settings::from_map(&vars(&account), None).unwrap();
        assert!(unnamed.wechat_default.is_none());

        let mut named = account.to_vec();
        named.push(("HYDRONET_WECHAT_TENANT", "operator"));
        let settings = Settings::from_map(&vars(&named), None).unwrap();
        let default = settings.wechat_default.expect("a default account");
        assert_eq!(default.tenant, "operator");
        assert_eq!(default.app_id, "wx0123456789abcdef");
        assert_eq!(default.token.expose_secret(), "callbacktoken");
        assert!(default.encoding_aes_key.is_none());
        assert!(!format!("{default:?}").contains("app-secret-value"));

        let missing = Settings::from_map(
            &vars(&[
                ("HYDRONET_WECHAT_TENANT", "operator"),
                ("WECHAT_APP_ID", "wx1"),
            ]),
            None,
        );
        assert!(matches!(
            missing,
            Err(ConfigError::Invalid {
                name: "WECHAT_TOKEN",
                ..
            })
        ));
    }

    #[test]
    fn the_wechat_reply_budget_stays_under_five_seconds() {
        let set = Settings::from_map(
            &vars(&[
                ("HYDRONET_WECHAT_REPLY_WITHIN_MS", "50"),
                ("HYDRONET_WECHAT_API_BASE", "http://127.0.0.1:9/"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(set.wechat_reply_within, Duration::from_millis(50));
        assert_eq!(set.wechat_api_base, "http://127.0.0.1:9");
        for bad in ["0", "5000", "soon"] {
            let err = Settings::from_map(&vars(&[("HYDRONET_WECHAT_REPLY_WITHIN_MS", bad)]), None);
            assert!(err.is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn bad_debug_value_is_an_error() {
        let err = Settings::from_map(&vars(&[("DEBUG", "maybe")]), None).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { name: "DEBUG", .. }));
    }

    #[test]
    fn production_with_secrets_starts() {
        let long = "k".repeat(40);
        let settings = Settings::from_map(
            &vars(&[
                ("DEBUG", "false"),
                ("SECRET_KEY", &long),
                ("JWT_SECRET_KEY", &long),
                ("HYDRONET_ACCESS_TOKEN_TTL_SECS", "60"),
            ]),
            None,
        )
        .unwrap();
        assert!(!settings.debug);
        assert_eq!(settings.access_ttl, Duration::from_secs(60));
    }
}
