//! The state shared by every request, and the session bookkeeping built on it.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use hydronet_core::{Clock, Problem, SessionId, SystemClock, TenantId, UserId};
use hydronet_llm::layers::{ConcurrencyLimitLayer, MetricsLayer, RetryLayer};
use hydronet_llm::{ChatModel, OfflineModel, OpenAiConfig, OpenAiModel};
use hydronet_tenancy::audit::{
    self as audit_log, AuditEvent, AuditSink, AuditWriter, BatchConfig, SqlAudit, TracingSink,
    WriterTask,
};
use hydronet_tenancy::auth::AuthLayer;
use hydronet_tenancy::bus::{BusHandler, RedisBus};
use hydronet_tenancy::password::{PasswordHasher, PasswordPolicy};
use hydronet_tenancy::quota::{
    BudgetError, BudgetLimits, BudgetUse, Decision, Fallback, LimiterError, LocalBudget,
    LocalLimiter, LoginGuard, OnOutage, Rate, RateLimiter, RedisBudget, RedisLimiter, Reservation,
    TokenBudget,
};
use hydronet_tenancy::rbac::{Rbac, RbacError, SqlxAdapter};
use hydronet_tenancy::revocation::{RedisRevocations, RevocationList, RevocationSource};
use hydronet_tenancy::token::{AccessGrant, JwtCodec, JwtKey, OpaqueToken, TokenError};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::Layer;

use crate::api_keys::KeyVerifier;
use crate::config::Settings;
use crate::db::{Backend, Db, Tx};
use crate::error::ApiError;
use crate::limits::TenantLimits;
use crate::store::{self, ClientInfo};
use crate::usage::UsageRecorder;

/// The pub/sub channel on which instances announce revoked sessions.
pub const REVOCATION_CHANNEL: &str = "hydronet:revocations";

/// The pub/sub channel on which instances announce policy changes.
pub const POLICY_CHANNEL: &str = "hydronet:policy";

/// Prefix of refresh tokens, so a leaked one is recognisable.
pub const REFRESH_PREFIX: &str = "hnr_";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Configuration is missing or invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A signing key is unusable.
    #[error("invalid JWT key: {0}")]
    Key(#[from] TokenError),
    /// A key file could not be read.
    #[error("cannot read {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `REDIS_URL` is malformed.
    #[error("invalid REDIS_URL: {0}")]
    Redis(#[from] redis::RedisError),
    /// The audit log's queue could not be set up.
    #[error("cannot set up the audit log: {0}")]
    Audit(String),
    /// The model provider could not be set up.
    #[error("cannot set up the language model client: {0}")]
    Llm(String),
    /// The policies could not be loaded.
    #[error("cannot load access-control policies: {0}")]
    Rbac(#[from] RbacError),
}

/// Shared application state; cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// What [`AppState`] holds.
pub struct Inner {
    /// The settings it was built from.
    pub settings: Settings,
    /// The relational store.
    pub db: Db,
    /// Signs and verifies access tokens.
    pub codec: JwtCodec,
    /// Hashes and verifies passwords on the blocking pool.
    pub hasher: PasswordHasher,
    /// What a new password must satisfy.
    pub policy: PasswordPolicy,
    /// Sessions whose tokens are refused.
    pub revocations: Arc<RevocationList>,
    /// The Redis bus, when `REDIS_URL` is set.
    pub bus: Option<RedisBus>,
    /// Broadcasts revocations when Redis is configured.
    pub redis: Option<RedisRevocations>,
    /// Roles and permissions of every tenant.
    pub rbac: Arc<Rbac>,
    /// The language model, wrapped in retries and a concurrency limit.
    pub model: Arc<dyn ChatModel>,
    /// A copy of every audit event (structured logs in production, memory in tests).
    pub audit: Arc<dyn AuditSink>,
    /// The audit log in the database.
    pub audit_store: SqlAudit,
    /// Batches events that need not be durable before the response.
    pub audit_writer: AuditWriter,
    audit_task: tokio::sync::Mutex<Option<WriterTask>>,
    /// Serialises role assignments, so guards such as "keep one owner" hold.
    pub role_changes: tokio::sync::Mutex<()>,
    /// Login throttling per account and address; fails closed while Redis is down.
    pub login_guard: LoginGuard<Limiter>,
    /// Each tenant's effective limits (plan plus overrides).
    pub limits: Arc<TenantLimits>,
    /// LLM token budgets; fail closed while Redis is down.
    pub budget: Arc<Budget>,
    /// Daily usage counters.
    pub usage: Arc<UsageRecorder>,
    /// Request rate limits: in process, or shared through Redis with an in-process fallback.
    pub limiter: Arc<Limiter>,
    /// Seals third-party secrets stored in the database (see [`crate::sealed`]).
    pub sealer: crate::sealed::Sealer,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Renders the Prometheus metrics, when a metrics address or token is configured.
    pub metrics: Option<PrometheusHandle>,
    /// WeChat's server API, for answers sent after the callback (see [`crate::wechat`]).
    pub wechat: crate::wechat::api::WeChatApi,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

/// A freshly issued access and refresh token.
#[derive(Debug)]
pub struct TokenPair {
    /// The JWT.
    pub access_token: String,
    /// The opaque refresh token, shown once.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl TokenPair {
    /// The fields every token-issuing response carries.
    pub fn to_json(&self) -> Value {
        json!({
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        })
    }
}

impl AppState {
    /// Connects to the database, applies migrations and prepares keys, on the system clock.
    pub async fn new(settings: Settings) -> Result<Self, StartError> {
        let model = build_model(&settings)?;
        Self::with_parts(
            settings,
            Arc::new(SystemClock),
            Arc::new(TracingSink),
            model,
        )
        .await
    }

    /// As [`AppState::new`], with a chosen clock and audit sink.
    pub async fn with_parts(
        settings: Settings,
        clock: Arc<dyn Clock>,
        audit: Arc<dyn AuditSink>,
        model: Arc<dyn ChatModel>,
    ) -> Result<Self, StartError> {
        let metrics = settings.metrics_enabled().then(crate::metrics::install);
        let db = Db::connect(&settings.database_url).await?;
        db.migrate().await?;
        let codec = build_codec(&settings, clock.clone())?;
        let bus = settings
            .redis_url
            .as_deref()
            .map(RedisBus::new)
            .transpose()?;
        let redis = bus
            .clone()
            .map(|bus| RedisRevocations::new(bus, REVOCATION_CHANNEL));
        let rbac = Arc::new(Rbac::new(policy_adapter(&db)).await?);
        let prefix = settings.redis_key_prefix.as_str();
        let on_outage = settings.rate_limit_on_outage;
        let limiter = Arc::new(Limiter::new(bus.as_ref(), &clock, on_outage, prefix));
        let on_outage = settings.login_limit_on_outage;
        let login_limiter = Limiter::new(bus.as_ref(), &clock, on_outage, prefix);
        let login_guard = LoginGuard::new(Arc::new(login_limiter));
        let limits = Arc::new(TenantLimits::new(settings.plans));
        limits.load(&db).await?;
        let budget = Arc::new(match &bus {
            None => Budget::Local(LocalBudget::new(clock.clone())),
            Some(bus) => Budget::Redis(Box::new(
                RedisBudget::new(bus.clone())
                    .prefix(format!("{prefix}bud:"))
                    .clock(clock.clone()),
            )),
        });
        let usage = Arc::new(UsageRecorder::new(clock.clone()));
        let audit_store = audit_store(&db);
        let (audit_writer, audit_task) = AuditWriter::spawn_spooled(
            audit_store.clone(),
            BatchConfig::default(),
            &settings.audit_spool_dir,
        )
        .await
        .map_err(|err| StartError::Audit(err.to_string()))?;

        let state = Self {
            inner: Arc::new(Inner {
                hasher: PasswordHasher::new(settings.hash_concurrency),
                policy: PasswordPolicy::new(),
                revocations: Arc::new(RevocationList::new()),
                login_guard,
                limits,
                budget,
                usage,
                model,
                audit_store,
                audit_writer,
                audit_task: tokio::sync::Mutex::new(Some(audit_task)),
                limiter,
                sealer: crate::sealed::Sealer::new(&settings.secret_key),
                wechat: crate::wechat::api::WeChatApi::new(&settings.wechat_api_base),
                settings,
                db,
                codec,
                bus,
                redis,
                rbac,
                audit,
                role_changes: tokio::sync::Mutex::new(()),
                clock,
                metrics,
            }),
        };
        state.reload_revocations().await?;
        Ok(state)
    }

    /// The authentication layer for this state's keys and revocations.
    pub fn auth_layer(&self) -> AuthLayer {
        let keys = KeyVerifier::new(self.db.clone(), self.clock.clone(), self.rbac.clone());
        AuthLayer::new(self.codec.clone())
            .revocations(self.revocations.clone())
            .api_keys(Arc::new(keys))
            .gate(self.limits.clone())
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        self.clock.now_secs()
    }

    /// Starts background work: pruning the revocation list, listening for revocations
    /// from other instances when Redis is configured, and compacting metrics.
    pub fn spawn_background(&self) {
        if let Some(handle) = &self.metrics {
            crate::metrics::spawn_upkeep(handle.clone());
        }

        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                state.revocations.prune(state.now());
            }
        });

        if let Some(redis) = self.redis.clone() {
            let source = DbRevocations {
                state: self.clone(),
            };
            tokio::spawn(redis.listen(self.revocations.clone(), source));
        }
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                if let Err(err) = state.usage.flush(&state.db).await {
                    tracing::warn!(error = %err, "usage counters not written yet; will retry");
                }
            }
        });

        if let Some(bus) = self.bus.clone() {
            let handler = PolicyReload {
                state: self.clone(),
            };
            tokio::spawn(bus.listen(POLICY_CHANNEL, handler));
        }
    }

    /// Gives `user` exactly `roles` in `tenant` and tells the other instances.
    pub async fn set_roles(
        &self,
        tenant: TenantId,
        user: UserId,
        roles: &[String],
    ) -> Result<(), RbacError> {
        self.rbac.set_roles(tenant, user, roles).await?;
        self.announce_policy_change(tenant).await;
        Ok(())
    }

    /// Tells the other instances that `tenant`'s policies changed, so they reload them.
    pub async fn announce_policy_change(&self, tenant: TenantId) {
        let Some(bus) = &self.bus else { return };
        if let Err(err) = bus.publish(POLICY_CHANNEL, tenant.to_string()).await {
            tracing::warn!(error = %err, "could not publish a policy change to Redis");
        }
    }

    /// Appends a security event to the audit log inside `tx`: the action and its record
    /// commit together, or neither does (503 `audit_unavailable`).
    pub async fn audit_in(&self, tx: &mut Tx, event: AuditEvent) -> Result<(), ApiError> {
        let backend = audit_backend(&self.db);
        audit_log::append(tx, backend, std::slice::from_ref(&event))
            .await
            .map_err(audit_unavailable)?;
        self.mirror(event).await;
        Ok(())
    }

    /// Makes a security event durable now, in a transaction of its own.
    pub async fn audit_now(&self, event: AuditEvent) -> Result<(), ApiError> {
        let mut tx = self.db.system().await.map_err(audit_unavailable)?;
        self.audit_in(&mut tx, event).await?;
        tx.commit().await.map_err(audit_unavailable)
    }

    /// Queues an ordinary event; it is written within a fraction of a second, and a full
    /// queue makes the caller wait rather than lose it.
    pub async fn audit_later(&self, event: AuditEvent) {
        if let Err(err) = self.audit_writer.record(event.clone()).await {
            tracing::error!(error = %err, "audit event not queued");
        }
        self.mirror(event).await;
    }

    async fn mirror(&self, event: AuditEvent) {
        if let Err(err) = self.audit.record(event).await {
            tracing::warn!(error = %err, "audit mirror failed");
        }
    }

    /// Finishes background work before the process exits: every queued audit event and
    /// every usage count is written.
    pub async fn shutdown(&self) {
        if let Some(task) = self.audit_task.lock().await.take() {
            task.shutdown().await;
        }
        if let Err(err) = self.usage.flush(&self.db).await {
            tracing::error!(error = %err, "usage counters lost at shutdown");
        }
    }

    /// Opens a session for `user` and issues its first token pair, inside `tx`.
    pub async fn start_session(
        &self,
        tx: &mut Tx,
        tenant: &store::TenantRow,
        user: &store::UserRow,
        roles: &[String],
        client: &ClientInfo,
    ) -> Result<TokenPair, crate::error::ApiError> {
        let now = self.now();
        let session = SessionId::new();
        let expires_at = now + secs(self.settings.refresh_ttl);
        store::insert_session(
            tx,
            user.tenant(),
            user.user_id(),
            session,
            expires_at,
            client,
            now,
        )
        .await?;
        self.issue_pair(tx, tenant, user, roles, session).await
    }

    /// Issues an access token and a new refresh token of an existing `session`, inside `tx`.
    pub async fn issue_pair(
        &self,
        tx: &mut Tx,
        tenant: &store::TenantRow,
        user: &store::UserRow,
        roles: &[String],
        session: SessionId,
    ) -> Result<TokenPair, crate::error::ApiError> {
        let now = self.now();
        let refresh = OpaqueToken::generate(REFRESH_PREFIX);
        let expires_at = now + secs(self.settings.refresh_ttl);
        store::insert_refresh_token(
            tx,
            user.tenant(),
            session,
            &refresh.digest(),
            expires_at,
            now,
        )
        .await?;

        let grant = AccessGrant {
            tenant_id: user.tenant(),
            user_id: user.user_id(),
            session_id: session,
            roles,
            plan: tenant.plan(),
        };
        let access = self.codec.issue_access(&grant)?;
        Ok(TokenPair {
            access_token: access.token,
            refresh_token: refresh.into_secret(),
            expires_in: access.expires_in,
        })
    }

    /// Refuses every token of `sessions` from now on, here and (through Redis) on every
    /// other instance. Call after the revocation is committed to the database.
    pub async fn announce_revoked(&self, sessions: &[SessionId]) {
        let until = self.revocation_horizon();
        for &session in sessions {
            self.revocations.revoke(session, until);
            let Some(redis) = &self.redis else { continue };
            if let Err(err) = redis.publish(session, until).await {
                // The database has the revocation; peers catch up when they reconnect.
                tracing::warn!(error = %err, "could not publish a revocation to Redis");
            }
        }
    }

    /// Revokes every session of a user, in the database and in memory.
    pub async fn revoke_user(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<(), crate::error::ApiError> {
        let mut tx = self.db.tenant(tenant).await?;
        let sessions = store::revoke_user_sessions(&mut tx, tenant, user, self.now()).await?;
        tx.commit().await?;
        self.announce_revoked(&sessions).await;
        Ok(())
    }

    /// Loads recently revoked sessions from the database into the in-memory list.
    pub async fn reload_revocations(&self) -> Result<(), sqlx::Error> {
        for (session, until) in self.recent_revocations().await? {
            self.revocations.revoke(session, until);
        }
        Ok(())
    }

    async fn recent_revocations(&self) -> Result<Vec<(SessionId, i64)>, sqlx::Error> {
        let window = secs(self.codec.access_ttl()) + 60;
        let mut tx = self.db.system_reader().await?;
        let rows = store::revoked_sessions_since(&mut tx, self.now() - window).await?;
        tx.commit().await?;
        let extra = secs(self.codec.access_ttl()) + 60;
        Ok(rows.into_iter().map(|(id, at)| (id, at + extra)).collect())
    }

    /// Until when a session revoked now must stay on the list: past the expiry of any
    /// access token it could still have.
    fn revocation_horizon(&self) -> i64 {
        self.now() + secs(self.codec.access_ttl()) + 60
    }
}

/// The request rate limiter of this deployment.
#[derive(Debug)]
pub enum Limiter {
    /// One instance, limits in process.
    Local(LocalLimiter),
    /// Limits shared by every instance through Redis; each instance falls back to its own
    /// in-process limits while Redis is unreachable.
    Shared(Box<Fallback<RedisLimiter, LocalLimiter>>),
}

impl Limiter {
    /// In process without Redis; shared through `bus` otherwise, doing `on_outage` while
    /// Redis is unreachable.
    /// Redis keys start with `prefix`.
    pub fn new(
        bus: Option<&RedisBus>,
        clock: &Arc<dyn Clock>,
        on_outage: OnOutage,
        prefix: &str,
    ) -> Self {
        let local = LocalLimiter::with_clock(clock.clone());
        match bus {
            None => Limiter::Local(local),
            Some(bus) => {
                let redis = RedisLimiter::new(bus.clone()).prefix(format!("{prefix}rl:"));
                let shared = Fallback::new(redis, local).on_outage(on_outage);
                Limiter::Shared(Box::new(shared))
            }
        }
    }

    /// Whether decisions are currently made without the shared backend.
    pub fn is_degraded(&self) -> bool {
        match self {
            Limiter::Local(_) => false,
            Limiter::Shared(fallback) => fallback.is_degraded(),
        }
    }

    /// Decisions made in fallback since start.
    pub fn fallback_decisions(&self) -> u64 {
        match self {
            Limiter::Local(_) => 0,
            Limiter::Shared(fallback) => fallback.fallback_decisions(),
        }
    }
}

impl RateLimiter for Limiter {
    async fn check(&self, key: &str, rate: Rate, cost: u32) -> Result<Decision, LimiterError> {
        match self {
            Limiter::Local(local) => local.check(key, rate, cost).await,
            Limiter::Shared(shared) => shared.check(key, rate, cost).await,
        }
    }

    fn check_sync(
        &self,
        key: &str,
        rate: Rate,
        cost: u32,
    ) -> Option<Result<Decision, LimiterError>> {
        match self {
            Limiter::Local(local) => local.check_sync(key, rate, cost),
            Limiter::Shared(_) => None,
        }
    }
}

/// Reloads roles and limit overrides whenever another instance changes them.
struct PolicyReload {
    state: AppState,
}

impl PolicyReload {
    async fn reload(&self) -> Result<(), String> {
        self.state
            .rbac
            .reload()
            .await
            .map_err(|err| err.to_string())?;
        self.state
            .limits
            .load(&self.state.db)
            .await
            .map_err(|err| err.to_string())
    }
}

impl BusHandler for PolicyReload {
    async fn resync(&self) -> Result<(), String> {
        self.reload().await
    }

    async fn message(&self, _tenant: &[u8]) {
        if let Err(err) = self.reload().await {
            tracing::error!(error = %err, "could not reload policies after a change elsewhere");
        }
    }
}

/// The token budget store of this deployment.
#[derive(Debug)]
pub enum Budget {
    /// One instance, in process.
    Local(LocalBudget),
    /// Shared through Redis; unavailable while Redis is down (fails closed).
    Redis(Box<RedisBudget>),
}

impl TokenBudget for Budget {
    async fn reserve(
        &self,
        tenant: TenantId,
        estimate: u64,
        limits: BudgetLimits,
    ) -> Result<Reservation, BudgetError> {
        match self {
            Budget::Local(budget) => budget.reserve(tenant, estimate, limits).await,
            Budget::Redis(budget) => budget.reserve(tenant, estimate, limits).await,
        }
    }

    async fn settle(&self, reservation: Reservation, used: u64) -> Result<(), BudgetError> {
        match self {
            Budget::Local(budget) => budget.settle(reservation, used).await,
            Budget::Redis(budget) => budget.settle(reservation, used).await,
        }
    }

    async fn usage(&self, tenant: TenantId) -> Result<BudgetUse, BudgetError> {
        match self {
            Budget::Local(budget) => budget.usage(tenant).await,
            Budget::Redis(budget) => budget.usage(tenant).await,
        }
    }
}

/// The name of the model chat uses by default, as `/v1/models` lists it.
pub fn model_name(settings: &Settings) -> &str {
    match (&settings.llm_api_key, &settings.llm_model) {
        (None, _) => "offline",
        (Some(_), Some(model)) => model,
        (Some(_), None) => hydronet_llm::DEFAULT_MODEL,
    }
}

/// The configured model: an OpenAI-compatible provider behind retries and a concurrency
/// limit, or, without an API key, the offline model (and a warning saying so). Either way
/// the calls are measured (latency, tokens and errors by model) as the handlers see them.
pub fn build_model(settings: &Settings) -> Result<Arc<dyn ChatModel>, StartError> {
    use secrecy::ExposeSecret;
    // Every model a plan allows is a label of its own; anything else counts as `other`.
    let measured = settings
        .plan_models
        .values()
        .flatten()
        .fold(MetricsLayer::new(model_name(settings)), |layer, model| {
            layer.model(model.as_str())
        });
    let Some(key) = &settings.llm_api_key else {
        tracing::warn!(
            "no ALIYUN_API_KEY or DASHSCOPE_API_KEY: chat answers with the offline model"
        );
        return Ok(Arc::new(measured.layer(OfflineModel)));
    };
    let mut config = OpenAiConfig::default().api_key(key.expose_secret());
    if let Some(url) = &settings.llm_base_url {
        config = config.base_url(url);
    }
    if let Some(model) = &settings.llm_model {
        config = config.model(model);
    }
    let provider = OpenAiModel::new(config).map_err(|err| StartError::Llm(err.to_string()))?;
    tracing::info!(
        model = provider.default_model(),
        "chat uses an OpenAI-compatible provider"
    );
    let model = tower::ServiceBuilder::new()
        .layer(measured)
        .layer(ConcurrencyLimitLayer::new(64))
        .layer(RetryLayer::new())
        .service(provider);
    Ok(Arc::new(model))
}

fn audit_backend(db: &Db) -> audit_log::Backend {
    match db.backend() {
        Backend::Sqlite => audit_log::Backend::Sqlite,
        Backend::Postgres => audit_log::Backend::Postgres,
    }
}

/// The audit store over the application's pool, working as the app role in the system
/// scope on PostgreSQL (it writes every tenant's chain).
fn audit_store(db: &Db) -> SqlAudit {
    let store = SqlAudit::new(db.pool().clone(), audit_backend(db));
    match db.backend() {
        Backend::Sqlite => store,
        Backend::Postgres => store.on_begin(vec![
            "SET LOCAL ROLE hydronet_app".to_owned(),
            "SELECT set_config('app.scope', 'system', true)".to_owned(),
        ]),
    }
}

fn audit_unavailable(err: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %err, "audit log unavailable; refusing the action");
    Problem::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        "The action cannot be recorded right now, so it was not carried out; retry shortly.",
    )
    .into()
}

/// The casbin adapter over the application's pool; on PostgreSQL it works as the app role
/// in the system scope, since the enforcer holds every tenant's policies.
fn policy_adapter(db: &Db) -> SqlxAdapter {
    let adapter = SqlxAdapter::new(db.pool().clone());
    match db.backend() {
        Backend::Sqlite => adapter,
        Backend::Postgres => adapter.on_begin(vec![
            "SET LOCAL ROLE hydronet_app".to_owned(),
            "SELECT set_config('app.scope', 'system', true)".to_owned(),
        ]),
    }
}

struct DbRevocations {
    state: AppState,
}

impl RevocationSource for DbRevocations {
    async fn load(&self) -> Result<Vec<(SessionId, i64)>, String> {
        self.state
            .recent_revocations()
            .await
            .map_err(|err| err.to_string())
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 2)
}

/// A stable key id derived from key material: rotating the secret changes it, and instances
/// sharing a secret agree on it without configuration.
fn kid(prefix: &str, material: &[u8]) -> String {
    let digest = Sha256::digest(material);
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

fn build_codec(settings: &Settings, clock: Arc<dyn Clock>) -> Result<JwtCodec, StartError> {
    let secret = settings.jwt_secret_bytes();
    let hs = JwtKey::hs256(kid("hs", secret), secret)?;

    let mut builder = match &settings.jwt_ed25519 {
        Some((private, public)) => {
            let public_pem = read_key(public)?;
            let private_pem = private.as_deref().map(read_key).transpose()?;
            let ed =
                JwtKey::ed25519_pem(kid("ed", &public_pem), private_pem.as_deref(), &public_pem)?;
            if private_pem.is_some() {
                JwtCodec::builder(ed).verify_key(hs)
            } else {
                JwtCodec::builder(hs).verify_key(ed)
            }
        }
        None => JwtCodec::builder(hs),
    };
    if let Some(previous) = &settings.jwt_previous_secret {
        use secrecy::ExposeSecret;
        let bytes = previous.expose_secret().as_bytes();
        builder = builder.verify_key(JwtKey::hs256(kid("hs", bytes), bytes)?);
    }
    Ok(builder.access_ttl(settings.access_ttl).clock(clock).build())
}

fn read_key(path: &str) -> Result<Vec<u8>, StartError> {
    std::fs::read(path).map_err(|source| StartError::KeyFile {
        path: path.to_owned(),
        source,
    })
}
