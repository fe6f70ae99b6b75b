//! Running the reference server under test: its environment, scratch directory and a
//! registered tenant to call it as.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::client::{BoxError, Conn, Req};

/// A directory for one benchmark's databases and spools, removed when dropped.
pub(crate) struct Scratch {
    /// The directory.
    pub(crate) dir: PathBuf,
}

impl Scratch {
    /// A fresh directory under the system's temporary directory.
    pub(crate) fn new(name: &str) -> Result<Self, BoxError> {
        let dir = std::env::temp_dir().join(format!("hydronet-load-{name}-{}", unique()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A string unique to this process and moment, for names that must not collide.
pub(crate) fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}_{nanos}", std::process::id())
}

/// Settings shared by every instance of one deployment.
pub(crate) struct Deployment {
    vars: Vec<(String, String)>,
}

impl Deployment {
    /// A deployment on a SQLite file in `scratch`, with limits raised far above what the
    /// benchmarks send, talking to an OpenAI-compatible upstream at `llm` if given.
    pub(crate) fn new(scratch: &Scratch, llm: Option<SocketAddr>) -> Self {
        let secret = hydronet_saas::config::random_secret();
        let jwt = hydronet_saas::config::random_secret();
        let db = scratch.dir.join("hydronet.db");
        let mut vars = vec![
            ("DEBUG".into(), "false".into()),
            ("SECRET_KEY".into(), secret),
            ("JWT_SECRET_KEY".into(), jwt),
            (
                "DATABASE_URL".into(),
                format!("sqlite://{}?mode=rwc", db.display()),
            ),
            ("HYDRONET_ACCESS_TOKEN_TTL_SECS".into(), "86400".into()),
        ];
        for limit in ["REQUESTS_PER_MINUTE", "USER_REQUESTS_PER_MINUTE"] {
            vars.push((format!("HYDRONET_PLAN_FREE_{limit}"), "1000000000".into()));
        }
        for limit in ["TOKENS_PER_DAY", "TOKENS_PER_MONTH"] {
            vars.push((
                format!("HYDRONET_PLAN_FREE_{limit}"),
                "1000000000000000".into(),
            ));
        }
        vars.push((
            "HYDRONET_PLAN_FREE_MAX_CONVERSATIONS".into(),
            "1000000".into(),
        ));
        if let Some(llm) = llm {
            vars.push(("HYDRONET_LLM_BASE_URL".into(), format!("http://{llm}/v1")));
            vars.push(("ALIYUN_API_KEY".into(), "bench-key".into()));
        }
        Self { vars }
    }

    /// Sets (or overrides) a variable.
    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value.into()));
    }

    /// The environment of instance `n`, whose audit spool is its own.
    pub(crate) fn instance(&self, scratch: &Scratch, n: usize) -> Vec<(String, String)> {
        let mut vars = self.vars.clone();
        let spool = scratch.dir.join(format!("spool-{n}"));
        vars.push((
            "HYDRONET_AUDIT_SPOOL_DIR".into(),
            spool.display().to_string(),
        ));
        vars
    }
}

/// A registered tenant owner.
pub(crate) struct Account {
    /// Their access token.
    pub(crate) token: String,
}

/// The password every benchmark account uses.
pub(crate) const PASSWORD: &str = "Hydraulic-Gradient-Line-42";

/// Registers tenant `n` on the server at `addr`.
pub(crate) async fn register(addr: SocketAddr, n: usize) -> Result<Account, BoxError> {
    let mut conn = Conn::open(addr).await?;
    let body = json!({
        "email": format!("bench{n}@example.com"),
        "password": PASSWORD,
        "tenant_name": format!("Bench Water {n}"),
    });
    let reply = conn.send(&Req::post("/api/auth/register", &body)).await?;
    if !reply.ok() {
        return Err(format!(
            "registering failed with {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )
        .into());
    }
    let token = reply.json()?["access_token"]
        .as_str()
        .ok_or("no access_token in the sign-up reply")?
        .to_owned();
    Ok(Account { token })
}

/// Opens `count` conversations for `account`; returns their ids.
pub(crate) async fn conversations(
    addr: SocketAddr,
    account: &Account,
    count: usize,
) -> Result<Vec<String>, BoxError> {
    let mut conn = Conn::open(addr).await?;
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let req = Req::post(
            "/api/chat/conversations",
            &json!({ "title": format!("load {n}") }),
        )
        .bearer(&account.token);
        let reply = conn.send(&req).await?;
        let id = reply.json()?["conversation"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no conversation id (status {})", reply.status))?;
        ids.push(id);
    }
    Ok(ids)
}
