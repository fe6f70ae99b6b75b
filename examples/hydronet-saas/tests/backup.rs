//! `hydronet-saas backup` and `restore` as an operator runs them: real round trips through
//! the binary on SQLite, the refusals that protect data, the PostgreSQL client tools'
//! handling of passwords, and (with `HYDRONET_TEST_DATABASE_URL`) a PostgreSQL round trip
//! between two fresh databases.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::body::Body;
use futures_util::FutureExt;
use http::Request;
use http_body_util::BodyExt;
use hydronet_saas::config::Settings;
use hydronet_saas::db::Db;
use hydronet_saas::state::AppState;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "backup-test-secret-0123456789abcdefghijklm";
const PASSWORD: &str = "lapwing-aqueduct-42";

struct Workdir(PathBuf);

impl Workdir {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("hydronet-backup-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The default database of a binary run in this directory.
    fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.path("hydronet.db").display())
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary in production mode, in `dir`, with nothing inherited that could change its
/// database or tools.
fn hydronet(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hydronet-saas"));
    command.current_dir(dir);
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "HYDRONET_ADMIN_PASSWORD",
        "HYDRONET_ADMIN_EMAIL",
        "HYDRONET_AUDIT_SPOOL_DIR",
        "HYDRONET_PG_DUMP",
        "HYDRONET_PG_RESTORE",
        "PGPASSWORD",
        "PGOPTIONS",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command
        .env("DEBUG", "false")
        .env("SECRET_KEY", SECRET)
        .env("JWT_SECRET_KEY", SECRET);
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs the binary and asserts it succeeded.
#[track_caller]
fn ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    text(&output)
}

/// Runs the binary, asserts it failed, and returns its one-line error.
#[track_caller]
fn fails(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| panic!("no error line: {}", text(&output)))
        .to_owned()
}

/// The application on `database_url`, as the server would run it.
async fn app(dir: &Path, database_url: &str) -> AppState {
    let vars = HashMap::from([
        ("DEBUG".to_owned(), "true".to_owned()),
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        ("SECRET_KEY".to_owned(), SECRET.to_owned()),
        ("JWT_SECRET_KEY".to_owned(), SECRET.to_owned()),
        (
            "HYDRONET_PASSWORD_HASH_CONCURRENCY".to_owned(),
            "2".to_owned(),
        ),
        (
            "HYDRONET_AUDIT_SPOOL_DIR".to_owned(),
            dir.join("spool").display().to_string(),
        ),
    ]);
    let settings = Settings::from_map(&vars, None).unwrap();
    AppState::new(settings).await.unwrap()
}

async fn post(state: &AppState, path: &str, body: Value) -> (u16, Value) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = hydronet_saas::app::router(state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Signs a new tenant up through the API.
async fn register(state: &AppState, email: &str, tenant: &str) {
    let body = json!({ "email": email, "password": PASSWORD, "tenant_name": tenant });
    let (status, reply) = post(state, "/api/auth/register", body).await;
    assert_eq!(status, 201, "{reply}");
}

async fn stop(state: AppState) {
    state.shutdown().await;
    state.db.close().await;
}

/// Every user's email and every tenant's name, read across tenants.
async fn contents(database_url: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let db = Db::connect(database_url).await.unwrap();
    let mut tx = db.system().await.unwrap();
    let emails: Vec<(String,)> = sqlx::query_as("SELECT email FROM users")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    let tenants: Vec<(String,)> = sqlx::query_as("SELECT name FROM tenants")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    db.close().await;
    (
        emails.into_iter().map(|(e,)| e).collect(),
        tenants.into_iter().map(|(t,)| t).collect(),
    )
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|i| (*i).to_owned()).collect()
}

#[tokio::test]
async fn sqlite_backup_then_restore_brings_the_data_and_a_verifiable_audit_log_back() {
    let dir = Workdir::new();
    ok(hydronet(&dir.0).args(["init", "--email", "owner@example.com"]));
    let state = app(&dir.0, &dir.sqlite_url()).await;
    register(&state, "alice@example.com", "Alpha Water").await;
    let before = contents(&dir.sqlite_url()).await;

    // Online: the application still holds its pool, the new rows maybe only in the WAL.
    let out = ok(hydronet(&dir.0).args(["backup", "--out", "backups/before.db"]));
    assert!(out.contains("backed up"), "{out}");
    assert!(dir.path("backups/before.db").is_file());
    stop(state).await;

    // Afterwards: a new tenant, and a user deleted.
    let state = app(&dir.0, &dir.sqlite_url()).await;
    register(&state, "later@example.com", "Later Co").await;
    sqlx::query("DELETE FROM users WHERE email = 'alice@example.com'")
        .execute(state.db.pool())
        .await
        .unwrap();
    stop(state).await;
    let (emails, _) = contents(&dir.sqlite_url()).await;
    assert_eq!(emails, set(&["owner@example.com", "later@example.com"]));

    let refused = fails(hydronet(&dir.0).args(["restore", "--from", "backups/before.db"]));
    assert!(
        refused.contains("holds 3 tenants") && refused.contains("--force"),
        "{refused}"
    );

    let out = ok(hydronet(&dir.0).args(["restore", "--from", "backups/before.db", "--force"]));
    assert!(
        out.contains("server must be stopped") && out.contains("restored"),
        "{out}"
    );
    let after = contents(&dir.sqlite_url()).await;
    assert_eq!(after, before);
    assert_eq!(after.0, set(&["owner@example.com", "alice@example.com"]));

    let verify = ok(hydronet(&dir.0).args(["audit", "verify"]));
    assert!(verify.contains("2 audit chains verified"), "{verify}");

    // The restored database serves: the deleted user signs in again.
    let state = app(&dir.0, &dir.sqlite_url()).await;
    let login = json!({ "email": "alice@example.com", "password": PASSWORD });
    let (status, reply) = post(&state, "/api/auth/login", login).await;
    assert_eq!(status, 200, "{reply}");
    stop(state).await;
}

#[test]
fn backup_refuses_an_existing_file_unless_forced() {
    let dir = Workdir::new();
    ok(hydronet(&dir.0).args(["init", "--email", "owner@example.com"]));
    std::fs::write(dir.path("existing.db"), "keep me").unwrap();

    let refused = fails(hydronet(&dir.0).args(["backup", "--out", "existing.db"]));
    assert!(
        refused.contains("existing.db already exists") && refused.contains("--force"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path("existing.db")).unwrap(),
        "keep me"
    );

    let err = fails(hydronet(&dir.0).args(["backup", "--out", "./hydronet.db", "--force"]));
    assert!(err.contains("is the database itself"), "{err}");
    let err = fails(hydronet(&dir.0).args(["restore", "--from", "hydronet.db", "--force"]));
    assert!(err.contains("is the database itself"), "{err}");

    ok(hydronet(&dir.0).args(["backup", "--out", "existing.db", "--force"]));
    let bytes = std::fs::read(dir.path("existing.db")).unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    // Nothing is left under a temporary name.
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn backup_of_a_missing_database_says_so_and_creates_nothing() {
    let dir = Workdir::new();
    let refused = fails(hydronet(&dir.0).args(["backup", "--out", "b.db"]));
    assert!(refused.contains("does not exist"), "{refused}");
    assert!(!dir.path("hydronet.db").exists());
    assert!(!dir.path("b.db").exists());
}

#[tokio::test]
async fn restore_refuses_files_that_are_not_sound_hydronet_backups() {
    let dir = Workdir::new();
    ok(hydronet(&dir.0).args(["init", "--email", "owner@example.com"]));
    ok(hydronet(&dir.0).args(["backup", "--out", "good.db"]));
    let restore = |file: &str| {
        let mut command = hydronet(&dir.0);
        command.args(["restore", "--force", "--from", file]);
        command
    };

    std::fs::write(dir.path("notes.txt"), "these are not the tables you want").unwrap();
    let err = fails(&mut restore("notes.txt"));
    assert_eq!(err, "notes.txt is not a SQLite database");

    // A valid header over pages of garbage.
    let mut bytes = std::fs::read(dir.path("good.db")).unwrap();
    for byte in bytes.iter_mut().skip(4096).step_by(7) {
        *byte = 0xA5;
    }
    std::fs::write(dir.path("damaged.db"), &bytes).unwrap();
    let err = fails(&mut restore("damaged.db"));
    assert!(err.starts_with("damaged.db is damaged: "), "{err}");

    let plain = format!("sqlite://{}?mode=rwc", dir.path("plain.db").display());
    let pool = sqlx::SqlitePool::connect(&plain).await.unwrap();
    sqlx::query("CREATE TABLE notes (body TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = fails(&mut restore("plain.db"));
    assert!(err.contains("not a HydroNet backup"), "{err}");

    std::fs::copy(dir.path("good.db"), dir.path("future.db")).unwrap();
    let future = format!("sqlite://{}", dir.path("future.db").display());
    let pool = sqlx::SqlitePool::connect(&future).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let err = fails(&mut restore("future.db"));
    assert!(
        err.contains("newer HydroNet (migration 99990101000000"),
        "{err}"
    );

    // None of them touched the database, and no copy was left beside it.
    let (emails, _) = contents(&dir.sqlite_url()).await;
    assert_eq!(emails, set(&["owner@example.com"]));
    let leftovers = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[tokio::test]
async fn restore_needs_force_only_for_a_database_that_holds_tenants() {
    let source = Workdir::new();
    ok(hydronet(&source.0).args(["init", "--email", "source@example.com"]));
    let backup = source.path("source.db");
    ok(hydronet(&source.0).args(["backup", "--out", backup.to_str().unwrap()]));

    let occupied = Workdir::new();
    ok(hydronet(&occupied.0).args(["init", "--email", "occupant@example.com"]));
    let err = fails(hydronet(&occupied.0).args(["restore", "--from", backup.to_str().unwrap()]));
    assert!(
        err.contains("holds 1 tenant") && err.contains("--force"),
        "{err}"
    );
    let (emails, _) = contents(&occupied.sqlite_url()).await;
    assert_eq!(emails, set(&["occupant@example.com"]));

    // A migrated but empty database, and no database at all, need no --force.
    let migrated = Workdir::new();
    ok(hydronet(&migrated.0).arg("migrate"));
    let fresh = Workdir::new();
    for dir in [&migrated, &fresh] {
        let out = ok(hydronet(&dir.0).args(["restore", "--from", backup.to_str().unwrap()]));
        assert!(out.contains("restored"), "{out}");
        let (emails, _) = contents(&dir.sqlite_url()).await;
        assert_eq!(emails, set(&["source@example.com"]));
    }
}

/// Writes an executable shell script.
#[cfg(unix)]
fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs `command`, retrying while a just-written script is still busy in a forked child of
/// another test (ETXTBSY).
#[cfg(unix)]
fn output_of(command: &mut Command) -> Output {
    for _ in 0..20 {
        let output = command.output().unwrap();
        if !text(&output).contains("Text file busy") {
            return output;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the script stayed busy");
}

#[cfg(unix)]
#[test]
fn pg_dump_gets_the_password_in_its_environment_and_messages_never_show_it() {
    let dir = Workdir::new();
    let url = "postgres://hn:Sw0rdf1sh%21@127.0.0.1:1/hydronet";
    let fake = dir.path("fake_pg_dump");
    script(
        &fake,
        r#"here=$(dirname "$0")
printf '%s\n' "$@" > "$here/args"
printf '%s' "$PGPASSWORD" > "$here/password"
while [ $# -gt 0 ]; do
    if [ "$1" = "--file" ]; then shift; printf 'PGDMP-fake' > "$1"; fi
    shift
done
"#,
    );
    let output = output_of(
        hydronet(&dir.0)
            .env("DATABASE_URL", url)
            .env("HYDRONET_PG_DUMP", &fake)
            .args(["backup", "--out", "pg.dump"]),
    );
    assert!(output.status.success(), "{}", text(&output));
    let out = text(&output);
    assert!(
        out.contains("backed up postgres://hn:***@127.0.0.1:1/hydronet to pg.dump"),
        "{out}"
    );
    assert!(!out.contains("Sw0rdf1sh"), "{out}");
    let args = std::fs::read_to_string(dir.path("args")).unwrap();
    assert!(!args.contains("Sw0rdf1sh"), "{args}");
    assert!(
        args.contains("--format=custom") && args.contains("postgres://hn@127.0.0.1:1/hydronet"),
        "{args}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path("password")).unwrap(),
        "Sw0rdf1sh!"
    );
    assert_eq!(std::fs::read(dir.path("pg.dump")).unwrap(), b"PGDMP-fake");

    // A failing pg_dump: its message is passed on, password removed.
    script(
        &fake,
        "echo \"pg_dump: error: password authentication failed ($PGPASSWORD)\" >&2\nexit 1\n",
    );
    let output = output_of(
        hydronet(&dir.0)
            .env("DATABASE_URL", url)
            .env("HYDRONET_PG_DUMP", &fake)
            .args(["backup", "--out", "again.dump"]),
    );
    assert!(!output.status.success());
    let out = text(&output);
    assert!(
        out.contains("error: pg_dump failed")
            && out.contains("password authentication failed (***)"),
        "{out}"
    );
    assert!(!out.contains("Sw0rdf1sh"), "{out}");
    assert!(!dir.path("again.dump").exists());
}

#[test]
fn missing_postgres_tools_are_named_with_what_to_run_instead() {
    let dir = Workdir::new();
    let url = "postgres://hn:Sw0rdf1sh@127.0.0.1:1/hydronet";
    let empty = dir.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();

    let err = fails(
        hydronet(&dir.0)
            .env("DATABASE_URL", url)
            .env("PATH", &empty)
            .args(["backup", "--out", "pg.dump"]),
    );
    assert!(
        err.starts_with("pg_dump was not found")
            && err.contains("HYDRONET_PG_DUMP")
            && err.contains("pg_dump --format=custom"),
        "{err}"
    );

    std::fs::write(dir.path("pg.dump"), "PGDMP and then nothing").unwrap();
    let err = fails(
        hydronet(&dir.0)
            .env("DATABASE_URL", url)
            .env("PATH", &empty)
            .args(["restore", "--from", "pg.dump"]),
    );
    assert!(
        err.starts_with("pg_restore was not found") && err.contains("HYDRONET_PG_RESTORE"),
        "{err}"
    );
    assert!(!err.contains("Sw0rdf1sh"), "{err}");

    let err = fails(hydronet(&dir.0).env("DATABASE_URL", url).args([
        "restore",
        "--from",
        "../nowhere.dump",
    ]));
    assert_eq!(err, "../nowhere.dump does not exist");
}

/// The admin URL of the PostgreSQL test server.
fn postgres_admin_url() -> String {
    std::env::var("HYDRONET_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("set HYDRONET_TEST_DATABASE_URL to run the PostgreSQL tests")
}

async fn admin_execute(admin_url: &str, sql: String) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    let result = sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
    result.map(drop)
}

#[tokio::test]
#[ignore = "needs HYDRONET_TEST_DATABASE_URL"]
async fn postgres_backup_restores_into_another_database() {
    let admin_url = postgres_admin_url();
    let (base, _) = admin_url.rsplit_once('/').expect("a database URL");
    let names: Vec<String> = (0..2)
        .map(|_| format!("hn_bk_{}", uuid::Uuid::now_v7().simple()))
        .collect();
    for name in &names {
        admin_execute(&admin_url, format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
    }
    let urls: Vec<String> = names.iter().map(|n| format!("{base}/{n}")).collect();

    let outcome = std::panic::AssertUnwindSafe(postgres_round_trip(&urls[0], &urls[1]))
        .catch_unwind()
        .await;

    // Drop both databases whatever happened (best effort).
    for name in &names {
        let _ = admin_execute(
            &admin_url,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn postgres_round_trip(first: &str, second: &str) {
    let dir = Workdir::new();
    ok(hydronet(&dir.0).env("DATABASE_URL", first).args([
        "init",
        "--email",
        "pg-owner@example.com",
    ]));
    let state = app(&dir.0, first).await;
    register(&state, "pg-alice@example.com", "Alpha Water").await;
    stop(state).await;
    let original = contents(first).await;
    assert_eq!(original.1.len(), 2, "{original:?}");

    let out = ok(hydronet(&dir.0)
        .env("DATABASE_URL", first)
        .args(["backup", "--out", "pg.dump"]));
    assert!(out.contains("backed up"), "{out}");

    let out = ok(hydronet(&dir.0)
        .env("DATABASE_URL", second)
        .args(["restore", "--from", "pg.dump"]));
    assert!(out.contains("restored"), "{out}");
    assert_eq!(contents(second).await, original);

    let verify = ok(hydronet(&dir.0)
        .env("DATABASE_URL", second)
        .args(["audit", "verify"]));
    assert!(verify.contains("2 audit chains verified"), "{verify}");

    // The restored database serves, as the application role with row-level security.
    let state = app(&dir.0, second).await;
    let login = json!({ "email": "pg-alice@example.com", "password": PASSWORD });
    let (status, reply) = post(&state, "/api/auth/login", login).await;
    assert_eq!(status, 200, "{reply}");
    stop(state).await;

    let err = fails(
        hydronet(&dir.0)
            .env("DATABASE_URL", second)
            .args(["restore", "--from", "pg.dump"]),
    );
    assert!(
        err.contains("holds 2 tenants") && err.contains("--force"),
        "{err}"
    );
    ok(hydronet(&dir.0)
        .env("DATABASE_URL", second)
        .args(["restore", "--from", "pg.dump", "--force"]));
    assert_eq!(contents(second).await, original);
}
