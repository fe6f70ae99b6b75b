//! A fresh application per test, on SQLite by default or on PostgreSQL and Redis when
//! `HYDRONET_TEST_DATABASE_URL` / `HYDRONET_TEST_REDIS_URL` are set. A configured server
//! that cannot be reached fails the test; nothing is skipped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hydronet_core::ManualClock;
use hydronet_core::{TenantId, UserId};
use hydronet_llm::{ChatModel, ScriptedModel};
use hydronet_saas::config::{Settings, random_secret};
use hydronet_saas::state::AppState;
use hydronet_saas::store;
use hydronet_tenancy::audit::MemorySink;
use serde_json::{Value, json};
use sqlx::Connection;
use tower::ServiceExt;

/// The PostgreSQL server to test against, if any.
pub(crate) fn postgres_url() -> Option<String> {
    std::env::var("HYDRONET_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// The Redis server to test against, if any.
pub(crate) fn redis_url() -> Option<String> {
    std::env::var("HYDRONET_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    /// Asserts the reply is a problem with `status` and `code`.
    #[track_caller]
    pub(crate) fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.headers["content-type"], "application/problem+json");
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert_eq!(self.body["success"], false);
    }

    /// The access token of a signed-in reply.
    pub(crate) fn token(&self) -> String {
        self.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// The refresh token of a signed-in reply.
    pub(crate) fn refresh(&self) -> String {
        self.body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned()
    }
}

/// One application with its own database.
pub(crate) struct TestApp {
    pub(crate) state: AppState,
    pub(crate) router: Router,
    pub(crate) clock: ManualClock,
    pub(crate) audit: MemorySink,
    /// The model chat calls reach; push turns onto it.
    pub(crate) model: ScriptedModel,
    pub(crate) database_url: String,
    sqlite_file: Option<PathBuf>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(file) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

impl TestApp {
    /// A new application on a new, empty database.
    pub(crate) async fn new() -> Self {
        let (database_url, sqlite_file) = fresh_database().await;
        Self::on(database_url, sqlite_file, redis_url()).await
    }

    /// A new application on an existing database (another instance of the same service).
    pub(crate) async fn on(
        database_url: String,
        sqlite_file: Option<PathBuf>,
        redis: Option<String>,
    ) -> Self {
        Self::with_model(database_url, sqlite_file, redis, None, None).await
    }

    /// A new application on a new database whose audit spool is `spool_dir`.
    pub(crate) async fn with_spool(spool_dir: PathBuf) -> Self {
        let (database_url, sqlite_file) = fresh_database().await;
        Self::with_model(
            database_url,
            sqlite_file,
            redis_url(),
            None,
            Some(spool_dir),
        )
        .await
    }

    /// A new application on a new database whose chat calls reach `model`.
    pub(crate) async fn with_chat_model(model: Arc<dyn ChatModel>) -> Self {
        let (database_url, sqlite_file) = fresh_database().await;
        Self::with_model(database_url, sqlite_file, redis_url(), Some(model), None).await
    }

    /// A new application on a new database, with these settings added to the test ones.
    pub(crate) async fn with_env(extra: &[(&str, &str)]) -> Self {
        let (database_url, sqlite_file) = fresh_database().await;
        Self::build(database_url, sqlite_file, redis_url(), None, None, extra).await
    }

    /// A new application on a new database, with these settings added and chat calls
    /// reaching `model`.
    pub(crate) async fn with_env_and_model(
        extra: &[(&str, &str)],
        model: Arc<dyn ChatModel>,
    ) -> Self {
        let (database_url, sqlite_file) = fresh_database().await;
        Self::build(
            database_url,
            sqlite_file,
            redis_url(),
            Some(model),
            None,
            extra,
        )
        .await
    }

    pub(crate) async fn with_model(
        database_url: String,
        sqlite_file: Option<PathBuf>,
        redis: Option<String>,
        model: Option<Arc<dyn ChatModel>>,
        spool_dir: Option<PathBuf>,
    ) -> Self {
        Self::build(database_url, sqlite_file, redis, model, spool_dir, &[]).await
    }

    async fn build(
        database_url: String,
        sqlite_file: Option<PathBuf>,
        redis: Option<String>,
        model: Option<Arc<dyn ChatModel>>,
        spool_dir: Option<PathBuf>,
        extra: &[(&str, &str)],
    ) -> Self {
        let spool_dir = spool_dir.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("hydronet-spool-{}", uuid::Uuid::now_v7().simple()))
        });
        let mut vars = HashMap::from([
            ("DEBUG".to_owned(), "true".to_owned()),
            ("DATABASE_URL".to_owned(), database_url.clone()),
            (
                "SECRET_KEY".to_owned(),
                "test-secret-key-0123456789abcdefghijklmnop".to_owned(),
            ),
            (
                "JWT_SECRET_KEY".to_owned(),
                "test-jwt-secret-0123456789abcdefghijklmnop".to_owned(),
            ),
            (
                "HYDRONET_PASSWORD_HASH_CONCURRENCY".to_owned(),
                "2".to_owned(),
            ),
            (
                "HYDRONET_TRUSTED_PROXIES".to_owned(),
                "127.0.0.1".to_owned(),
            ),
            (
                "HYDRONET_PLAN_FREE_MODELS".to_owned(),
                "qwen-turbo,qwen-plus".to_owned(),
            ),
            (
                "HYDRONET_PLAN_PRO_MODELS".to_owned(),
                "qwen-plus,qwen-max".to_owned(),
            ),
            (
                "HYDRONET_AUDIT_SPOOL_DIR".to_owned(),
                spool_dir.display().to_string(),
            ),
        ]);
        if let Some(redis) = redis {
            vars.insert("REDIS_URL".to_owned(), redis);
            // Keys of one database's instances, apart from other tests and earlier runs.
            let prefix = format!("hnt:{:x}:", stable_hash(&database_url));
            vars.insert("HYDRONET_REDIS_KEY_PREFIX".to_owned(), prefix);
        }
        for (name, value) in extra {
            vars.insert((*name).to_owned(), (*value).to_owned());
        }
        let settings = Settings::from_map(&vars, None).expect("test settings");
        let clock = ManualClock::now();
        let audit = MemorySink::new();
        let scripted = ScriptedModel::new();
        let model = model.unwrap_or_else(|| Arc::new(scripted.clone()));
        let state = AppState::with_parts(
            settings,
            Arc::new(clock.clone()),
            Arc::new(audit.clone()),
            model,
        )
        .await
        .expect("the configured test database must be reachable");
        let router = hydronet_saas::app::router(state.clone());
        Self {
            state,
            router,
            clock,
            audit,
            model: scripted,
            database_url,
            sqlite_file,
        }
    }

    /// Sends a request with an optional JSON body and bearer token.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                builder = builder.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).unwrap()).await
    }

    /// Sends a prepared request.
    pub(crate) async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, None, token).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        self.request(Method::POST, path, Some(body), token).await
    }

    pub(crate) async fn delete_role(&self, token: &str, name: &str) -> Reply {
        self.request(
            Method::DELETE,
            &format!("/api/tenant/roles/{name}"),
            None,
            Some(token),
        )
        .await
    }

    pub(crate) async fn put(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        self.request(Method::PUT, path, Some(body), token).await
    }

    /// Registers a tenant; panics unless it succeeds.
    pub(crate) async fn register(&self, email: &str, tenant: &str) -> Reply {
        let reply = self
            .post(
                "/api/auth/register",
                json!({ "email": email, "password": PASSWORD, "tenant_name": tenant }),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply
    }

    /// Adds a user with `roles` to `tenant` directly (there is no user-creation endpoint
    /// yet) and signs them in; returns the user id and the login reply.
    pub(crate) async fn add_user(
        &self,
        tenant: &str,
        email: &str,
        roles: &[&str],
    ) -> (UserId, Reply) {
        let tenant: TenantId = tenant.parse().unwrap();
        let user = UserId::new();
        let password = hydronet_tenancy::password::PasswordPolicy::new()
            .check_candidate(PASSWORD)
            .unwrap();
        let hash = self.state.hasher.hash(&password).await.unwrap();
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        self.state
            .rbac
            .set_roles(tenant, user, &roles)
            .await
            .unwrap();
        let mut tx = self.state.db.tenant(tenant).await.unwrap();
        store::insert_user(&mut tx, tenant, user, email, &hash, 0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let reply = self.login(email, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        (user, reply)
    }

    /// A fresh access token for an existing account, minted directly (no login throttle).
    pub(crate) async fn session_token(&self, email: &str) -> String {
        let state = &self.state;
        let mut tx = state.db.system().await.unwrap();
        let user = store::user_by_email(&mut tx, email)
            .await
            .unwrap()
            .expect("account exists");
        let tenant = store::tenant(&mut tx, user.tenant())
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        let roles = state.rbac.roles_of(user.tenant(), user.user_id());
        let mut tx = state.db.tenant(user.tenant()).await.unwrap();
        let pair = state
            .start_session(&mut tx, &tenant, &user, &roles, &Default::default())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        pair.access_token
    }

    pub(crate) async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/auth/login",
            json!({ "email": email, "password": password }),
            None,
        )
        .await
    }
}

fn stable_hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// The password every test account starts with.
pub(crate) const PASSWORD: &str = "lapwing-aqueduct-42";

/// A new empty database: a SQLite file in the temp directory, or a new database on the
/// configured PostgreSQL server.
pub(crate) async fn fresh_database() -> (String, Option<PathBuf>) {
    match postgres_url() {
        Some(admin_url) => (fresh_postgres(&admin_url).await, None),
        None => {
            let file = std::env::temp_dir().join(format!(
                "hydronet-test-{}.db",
                uuid::Uuid::now_v7().simple()
            ));
            (format!("sqlite://{}?mode=rwc", file.display()), Some(file))
        }
    }
}

async fn fresh_postgres(admin_url: &str) -> String {
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(admin_url)
        .await
        .unwrap_or_else(|err| panic!("HYDRONET_TEST_DATABASE_URL is set but unreachable: {err}"));

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    drop_stale_databases(&mut admin, now).await;

    let name = format!(
        "hn_t_{now}_{}",
        &random_secret()[..10]
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let _ = admin.close().await;

    let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

/// Test databases left by runs more than an hour old (a crashed run cannot clean up).
async fn drop_stale_databases(admin: &mut sqlx::AnyConnection, now: u64) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'hn\\_t\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let created: Option<u64> = name.split('_').nth(2).and_then(|t| t.parse().ok());
        if created.is_some_and(|t| t + 3600 < now) {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *admin)
            .await;
        }
    }
}
