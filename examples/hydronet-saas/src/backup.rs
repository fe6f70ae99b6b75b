//! Backups of the relational store and restores from them: the `backup` and `restore`
//! subcommands.
//!
//! - **SQLite.** A backup is `VACUUM INTO` a temporary file beside the destination, renamed
//!   into place when complete: a consistent snapshot taken inside one read transaction, so
//!   the server may keep running (the database is in WAL mode). A restore copies the backup
//!   beside the database, checks the copy (a SQLite file that passes `PRAGMA
//!   integrity_check`, with HydroNet's migration table and no migration newer than this
//!   binary), removes the old `-wal` and `-shm` files and renames the copy over the
//!   database. The server must be stopped during a restore.
//! - **PostgreSQL.** `pg_dump --format=custom` and `pg_restore --clean --if-exists
//!   --single-transaction --no-owner`, found on `PATH` or named by `HYDRONET_PG_DUMP` and
//!   `HYDRONET_PG_RESTORE`. The password goes to them in `PGPASSWORD`, never on their
//!   command line, and every message shows the URL redacted.
//!
//! Either way a destination file is never overwritten without `force`, a database that
//! holds tenants is never replaced without `force`, and a restore ends by applying the
//! migrations this binary has and the backup lacks.
//!
//! ```no_run
//! # async fn example() -> Result<(), hydronet_saas::backup::BackupError> {
//! use std::path::Path;
//!
//! let url = "sqlite://hydronet.db";
//! let done = hydronet_saas::backup::backup(url, Path::new("nightly.db"), false).await?;
//! println!("{done}");
//! # Ok(())
//! # }
//! ```

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use crate::db::{Backend, Db};

/// Why a backup or a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// `DATABASE_URL` names neither SQLite nor PostgreSQL, or does not parse.
    #[error("DATABASE_URL {0}")]
    Url(String),
    /// The SQLite database to back up does not exist.
    #[error("the database {0} does not exist")]
    NoDatabase(PathBuf),
    /// The destination exists and `force` was not given.
    #[error("{0} already exists; pass --force to overwrite it")]
    Exists(PathBuf),
    /// The backup file named is the database itself.
    #[error("{0} is the database itself; name a file elsewhere")]
    SameFile(PathBuf),
    /// The backup to restore is missing.
    #[error("{0} does not exist")]
    NoBackup(PathBuf),
    /// The backup is not in the format the database needs.
    #[error("{path} is not {expected}")]
    WrongFormat {
        /// The backup.
        path: PathBuf,
        /// What it should have been.
        expected: &'static str,
    },
    /// The backup is damaged.
    #[error("{path} is damaged: {reason}")]
    Damaged {
        /// The backup.
        path: PathBuf,
        /// What the check found.
        reason: String,
    },
    /// The backup has no migration table, so it is not a HydroNet database.
    #[error("{0} is not a HydroNet backup: it has no _sqlx_migrations table")]
    NotHydronet(PathBuf),
    /// The backup was made by a newer binary.
    #[error(
        "{path} was made by a newer HydroNet (migration {found}; this binary knows up to \
         {known}): restore it with that version or a newer one"
    )]
    TooNew {
        /// The backup.
        path: PathBuf,
        /// Its newest migration.
        found: i64,
        /// The newest this binary knows.
        known: i64,
    },
    /// The target database holds data and `force` was not given.
    #[error("the target database {target} {holds}; pass --force to replace it")]
    NotEmpty {
        /// The target, redacted.
        target: String,
        /// What it holds, or why that could not be told.
        holds: String,
    },
    /// `pg_dump` or `pg_restore` could not be found.
    #[error("{tool} was not found: {hint}")]
    ToolMissing {
        /// The program.
        tool: &'static str,
        /// What the operator can do instead.
        hint: String,
    },
    /// `pg_dump` or `pg_restore` failed.
    #[error("{tool} failed ({status}): {message}")]
    ToolFailed {
        /// The program.
        tool: &'static str,
        /// Its exit status.
        status: String,
        /// What it said, with the password removed.
        message: String,
    },
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// The migrations after a restore failed.
    #[error("the restore succeeded but migrating it failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

type Result<T> = std::result::Result<T, BackupError>;

/// Writes a backup of the database at `database_url` to `out` and returns a one-line
/// summary. An existing `out` is replaced only when `force` is set.
pub async fn backup(database_url: &str, out: &Path, force: bool) -> Result<String> {
    if out.exists() && !force {
        return Err(BackupError::Exists(out.to_owned()));
    }
    match Location::parse(database_url)? {
        Location::Sqlite(db) => backup_sqlite(&db, out).await,
        Location::Postgres(target) => backup_postgres(&target, out),
    }
}

/// Replaces the database at `database_url` with the backup in `from`, then applies pending
/// migrations, and returns a one-line summary. A database holding tenants is replaced only
/// when `force` is set. A SQLite server must be stopped first.
pub async fn restore(database_url: &str, from: &Path, force: bool) -> Result<String> {
    if !from.is_file() {
        return Err(BackupError::NoBackup(from.to_owned()));
    }
    let summary = match Location::parse(database_url)? {
        Location::Sqlite(db) => restore_sqlite(&db, from, force).await?,
        Location::Postgres(target) => restore_postgres(&target, from, force).await?,
    };

    // The backup may be older than this binary: bring it up to date the way `migrate` does.
    let db = Db::connect(database_url).await?;
    let pending = db.pending_migrations().await?;
    db.migrate().await?;
    db.close().await;
    Ok(format!("{summary}; {pending} pending migrations applied"))
}

/// `url` with its password replaced by `***`, fit for messages and logs.
pub fn redact(url: &str) -> String {
    match PgTarget::parse(url) {
        Some(target) if target.password.is_some() => target.display,
        _ => url.to_owned(),
    }
}

/// Where the database lives.
enum Location {
    Sqlite(PathBuf),
    Postgres(PgTarget),
}

impl Location {
    fn parse(url: &str) -> Result<Self> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            return PgTarget::parse(url)
                .map(Location::Postgres)
                .ok_or_else(|| BackupError::Url("is not a valid PostgreSQL URL".into()));
        }
        if !url.starts_with("sqlite:") {
            return Err(BackupError::Url(
                "must start with sqlite: or postgres:".into(),
            ));
        }
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(BackupError::Url(
                "names an in-memory database, which has nothing to back up or restore".into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| BackupError::Url(format!("is not a valid SQLite URL: {err}")))?;
        Ok(Location::Sqlite(options.get_filename().to_owned()))
    }
}

// ---------------------------------------------------------------------------------------
// SQLite

async fn backup_sqlite(db: &Path, out: &Path) -> Result<String> {
    if !db.is_file() {
        return Err(BackupError::NoDatabase(db.to_owned()));
    }
    refuse_same_file(db, out)?;
    let temp = TempFile::beside(out)?;
    let target = utf8(temp.path())?.to_owned();

    let mut conn = open_sqlite(db).await?;
    // One read transaction: a consistent snapshot even while the server writes.
    sqlx::query("VACUUM INTO ?1")
        .bind(target)
        .execute(&mut conn)
        .await?;
    conn.close().await?;

    let size = temp.persist(out)?;
    Ok(format!(
        "backed up {} to {} ({size} bytes)",
        db.display(),
        out.display()
    ))
}

async fn restore_sqlite(db: &Path, from: &Path, force: bool) -> Result<String> {
    refuse_same_file(db, from)?;
    check_magic(from, b"SQLite format 3\0", "a SQLite database")?;

    // Check the very bytes that will become the database: a copy beside it.
    let temp = TempFile::beside(db)?;
    fs::copy(from, temp.path()).map_err(io(format!("cannot copy {}", from.display())))?;
    let found = inspect_sqlite_copy(temp.path(), from).await?;
    check_known(from, found, Backend::Sqlite)?;

    if !force {
        let tenants = sqlite_tenants(db).await;
        refuse_if_holding(&db.display().to_string(), tenants)?;
    }

    // A stale write-ahead log would be replayed onto the restored file and corrupt it.
    for suffix in ["-wal", "-shm"] {
        remove_if_present(&sibling(db, suffix))?;
    }
    temp.persist(db)?;
    Ok(format!("restored {} from {}", db.display(), from.display()))
}

/// Checks a copy of a backup: integrity, and HydroNet's migration table. Returns the newest
/// migration it has, and leaves the copy in rollback-journal mode, self-contained.
async fn inspect_sqlite_copy(copy: &Path, original: &Path) -> Result<Option<i64>> {
    let damaged = |err: sqlx::Error| BackupError::Damaged {
        path: original.to_owned(),
        reason: err.to_string(),
    };
    let mut conn = open_sqlite(copy).await.map_err(|err| match err {
        BackupError::Sql(err) => damaged(err),
        other => other,
    })?;

    let problems: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(damaged)?;
    if problems.len() != 1 || problems[0].0 != "ok" {
        let reason = problems
            .iter()
            .take(3)
            .map(|(p,)| p.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(BackupError::Damaged {
            path: original.to_owned(),
            reason: format!("integrity check failed: {reason}"),
        });
    }

    let (tables,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(damaged)?;
    if tables == 0 {
        return Err(BackupError::NotHydronet(original.to_owned()));
    }
    let (newest,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .map_err(damaged)?;

    sqlx::query("PRAGMA journal_mode = DELETE")
        .fetch_optional(&mut conn)
        .await?;
    conn.close().await?;
    Ok(newest)
}

/// How many tenants the SQLite database at `db` holds; 0 when there is no file yet.
async fn sqlite_tenants(db: &Path) -> std::result::Result<i64, String> {
    match fs::metadata(db) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(err) => Err(err.to_string()),
        Ok(meta) if meta.len() == 0 => Ok(0),
        Ok(_) => count_sqlite_tenants(db).await.map_err(|e| e.to_string()),
    }
}

async fn count_sqlite_tenants(db: &Path) -> Result<i64> {
    let mut conn = open_sqlite(db).await?;
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'tenants'",
    )
    .fetch_one(&mut conn)
    .await?;
    let mut tenants = 0;
    if tables > 0 {
        (tenants,) = sqlx::query_as("SELECT COUNT(*) FROM tenants")
            .fetch_one(&mut conn)
            .await?;
    }
    conn.close().await?;
    Ok(tenants)
}

async fn open_sqlite(file: &Path) -> Result<SqliteConnection> {
    Ok(SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(false)
        .connect()
        .await?)
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

/// A PostgreSQL URL split for the client tools: the URL without its password, the password
/// itself, and the URL as messages show it.
#[derive(Debug)]
struct PgTarget {
    original: String,
    url: String,
    password: Option<String>,
    display: String,
}

impl PgTarget {
    /// Splits `postgres://user:password@host/db?params`; `None` if it is not such a URL.
    fn parse(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        if scheme != "postgres" && scheme != "postgresql" {
            return None;
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (tail, None),
        };

        let mut password = None;
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, secret)) => {
                    password = Some(percent_decode(secret)?);
                    format!("{user}@{host}")
                }
                None => authority.to_owned(),
            },
            None => authority.to_owned(),
        };

        let mut kept = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("password", secret)) => password = Some(percent_decode(secret)?),
                _ if !pair.is_empty() => kept.push(pair),
                _ => {}
            }
        }
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };

        let url_without = format!("{scheme}://{authority}{path}{query}");
        let display = match &password {
            Some(_) => redact_userinfo(&url_without, &authority, scheme),
            None => url_without.clone(),
        };
        Some(Self {
            original: url.to_owned(),
            url: url_without,
            password,
            display,
        })
    }

    /// A client-tool command with the password in its environment and the session in the
    /// system scope, so row-level security shows every tenant's rows.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        if let Some(password) = &self.password {
            command.env("PGPASSWORD", password);
        }
        let mut options = std::env::var_os("PGOPTIONS").unwrap_or_default();
        if !options.is_empty() {
            options.push(" ");
        }
        options.push("-c app.scope=system");
        command.env("PGOPTIONS", options);
        command.stdin(Stdio::null());
        command
    }

    /// `text` with the password removed.
    fn scrub(&self, text: &str) -> String {
        match &self.password {
            Some(password) if !password.is_empty() => text.replace(password.as_str(), "***"),
            _ => text.to_owned(),
        }
    }
}

/// The URL as shown: the user keeps a `:***` where the password was.
fn redact_userinfo(url: &str, authority: &str, scheme: &str) -> String {
    match authority.split_once('@') {
        Some((user, host)) => {
            let redacted = format!("{user}:***@{host}");
            url.replacen(
                &format!("{scheme}://{authority}"),
                &format!("{scheme}://{redacted}"),
                1,
            )
        }
        // The password was a query parameter.
        None => format!("{url} (password hidden)"),
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn backup_postgres(target: &PgTarget, out: &Path) -> Result<String> {
    let pg_dump = find_tool(Tool::Dump)?;
    let temp = TempFile::beside(out)?;

    let mut command = target.command(&pg_dump);
    command
        .args([
            "--format=custom",
            "--no-password",
            "--enable-row-security",
            "--file",
        ])
        .arg(temp.path())
        .arg("--dbname")
        .arg(&target.url);
    run(Tool::Dump, target, &mut command)?;

    let size = temp.persist(out)?;
    Ok(format!(
        "backed up {} to {} ({size} bytes)",
        target.display,
        out.display()
    ))
}

async fn restore_postgres(target: &PgTarget, from: &Path, force: bool) -> Result<String> {
    check_magic(from, b"PGDMP", "a PostgreSQL custom-format archive")?;
    let pg_restore = find_tool(Tool::Restore)?;
    let found = archive_migration(&pg_restore, target, from)?;
    check_known(from, found, Backend::Postgres)?;

    let db = Db::connect(&target.original).await?;
    if !force {
        let tenants = postgres_tenants(&db).await.map_err(|e| e.to_string());
        refuse_if_holding(&target.display, tenants)?;
    }
    prepare_app_role(&db).await?;
    db.close().await;

    let mut command = target.command(&pg_restore);
    command
        .args([
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--no-owner",
            "--no-password",
            "--dbname",
        ])
        .arg(&target.url)
        .arg(from);
    run(Tool::Restore, target, &mut command)?;
    Ok(format!(
        "restored {} from {}",
        target.display,
        from.display()
    ))
}

/// The newest migration recorded in the archive, read by asking `pg_restore` for the data of
/// `_sqlx_migrations` alone as SQL.
fn archive_migration(pg_restore: &Path, target: &PgTarget, from: &Path) -> Result<Option<i64>> {
    let mut command = target.command(pg_restore);
    command
        .args(["--data-only", "--table=_sqlx_migrations", "--file=-"])
        .arg(from);
    let script = run(Tool::Restore, target, &mut command).map_err(|err| match err {
        BackupError::ToolFailed { message, .. } => BackupError::Damaged {
            path: from.to_owned(),
            reason: message,
        },
        other => other,
    })?;

    let mut lines = script.lines();
    if !lines.any(|l| l.starts_with("COPY ") && l.contains("_sqlx_migrations")) {
        return Err(BackupError::NotHydronet(from.to_owned()));
    }
    let versions = lines
        .take_while(|l| *l != "\\.")
        .filter_map(|l| l.split('\t').next()?.parse::<i64>().ok());
    Ok(versions.max())
}

async fn postgres_tenants(db: &Db) -> std::result::Result<i64, sqlx::Error> {
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name = 'tenants'",
    )
    .fetch_one(db.pool())
    .await?;
    if tables == 0 {
        return Ok(0);
    }
    let mut tx = db.system().await?;
    let (tenants,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(tenants)
}

/// The archive grants privileges to `hydronet_app`, a cluster-wide role that a fresh cluster
/// lacks; make it (and our membership) as the first migration does, so those grants apply.
async fn prepare_app_role(db: &Db) -> Result<()> {
    sqlx::raw_sql(
        "DO $$ BEGIN \
             CREATE ROLE hydronet_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; \
         EXCEPTION WHEN OTHERS THEN NULL; END $$; \
         DO $$ BEGIN \
             EXECUTE format('GRANT hydronet_app TO %I', current_user); \
         EXCEPTION WHEN OTHERS THEN NULL; END $$;",
    )
    .execute(db.pool())
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Tool {
    Dump,
    Restore,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Dump => "pg_dump",
            Tool::Restore => "pg_restore",
        }
    }

    fn override_var(self) -> &'static str {
        match self {
            Tool::Dump => "HYDRONET_PG_DUMP",
            Tool::Restore => "HYDRONET_PG_RESTORE",
        }
    }

    /// What the operator can run instead.
    fn manual(self) -> &'static str {
        match self {
            Tool::Dump => "pg_dump --format=custom --file FILE \"$DATABASE_URL\"",
            Tool::Restore => {
                "pg_restore --clean --if-exists --single-transaction --no-owner \
                 --dbname \"$DATABASE_URL\" FILE && hydronet-saas migrate"
            }
        }
    }
}

/// The program: `HYDRONET_PG_DUMP` / `HYDRONET_PG_RESTORE` when set, else from `PATH`.
fn find_tool(tool: Tool) -> Result<PathBuf> {
    let hint = |why: String| BackupError::ToolMissing {
        tool: tool.name(),
        hint: format!(
            "{why}. Install the PostgreSQL client tools of the server's major version \
             (Debian and Ubuntu: apt-get install postgresql-client), set {} to the program, \
             or run `{}` yourself",
            tool.override_var(),
            tool.manual()
        ),
    };
    if let Some(given) = std::env::var_os(tool.override_var()).filter(|v| !v.is_empty()) {
        let given = PathBuf::from(given);
        return if given.is_file() {
            Ok(given)
        } else {
            Err(hint(format!(
                "{} is {}, which is not a file",
                tool.override_var(),
                given.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool.name()))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| hint("it is not on PATH".to_owned()))
}

/// Runs a client tool to completion and returns its standard output; a failure carries what
/// it wrote to standard error, password removed.
fn run(tool: Tool, target: &PgTarget, command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .map_err(io(format!("cannot run {}", tool.name())))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    Err(BackupError::ToolFailed {
        tool: tool.name(),
        status: output.status.to_string(),
        message: target.scrub(&message),
    })
}

// ---------------------------------------------------------------------------------------
// Shared checks and files

fn check_magic(path: &Path, magic: &[u8], expected: &'static str) -> Result<()> {
    let mut head = vec![0; magic.len()];
    let read = fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut head))
        .map(|()| head == magic);
    match read {
        Ok(true) => Ok(()),
        Ok(false) => Err(BackupError::WrongFormat {
            path: path.to_owned(),
            expected,
        }),
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(BackupError::WrongFormat {
                path: path.to_owned(),
                expected,
            })
        }
        Err(err) => Err(io(format!("cannot read {}", path.display()))(err)),
    }
}

/// Refuses `file` when it is the database itself (replacing a live database with a copy of
/// itself would drop its write-ahead log).
fn refuse_same_file(db: &Path, file: &Path) -> Result<()> {
    match (fs::canonicalize(db), fs::canonicalize(file)) {
        (Ok(db), Ok(file)) if db == file => Err(BackupError::SameFile(file)),
        _ => Ok(()),
    }
}

fn check_known(path: &Path, found: Option<i64>, backend: Backend) -> Result<()> {
    let known = Db::latest_migration(backend);
    match found {
        Some(found) if found > known => Err(BackupError::TooNew {
            path: path.to_owned(),
            found,
            known,
        }),
        _ => Ok(()),
    }
}

fn refuse_if_holding(target: &str, tenants: std::result::Result<i64, String>) -> Result<()> {
    let holds = match tenants {
        Ok(0) => return Ok(()),
        Ok(1) => "holds 1 tenant".to_owned(),
        Ok(n) => format!("holds {n} tenants"),
        Err(why) => format!("could not be inspected ({why})"),
    };
    Err(BackupError::NotEmpty {
        target: target.to_owned(),
        holds,
    })
}

/// A file being written under a temporary name beside its destination; removed (with any
/// SQLite side files) unless it is renamed into place.
struct TempFile {
    path: PathBuf,
    kept: bool,
}

impl TempFile {
    fn beside(destination: &Path) -> Result<Self> {
        let dir = match destination.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let name = destination
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let unique = uuid::Uuid::now_v7().simple();
        Ok(Self {
            path: dir.join(format!(".{name}.{unique}.tmp")),
            kept: false,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file to disk and renames it to `destination`; returns its size.
    fn persist(mut self, destination: &Path) -> Result<u64> {
        let file = fs::File::open(&self.path)
            .map_err(io(format!("cannot open {}", self.path.display())))?;
        file.sync_all()
            .map_err(io(format!("cannot flush {}", self.path.display())))?;
        let size = file
            .metadata()
            .map_err(io(format!("cannot read {}", self.path.display())))?
            .len();
        fs::rename(&self.path, destination)
            .map_err(io(format!("cannot move into {}", destination.display())))?;
        self.kept = true;

        // Make the rename itself durable (best effort: not every platform can sync a directory).
        if let Some(dir) = destination.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(size)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let suffixes: &[&str] = if self.kept {
            &["-wal", "-shm", "-journal"]
        } else {
            &["", "-wal", "-shm", "-journal"]
        };
        for suffix in suffixes {
            let _ = fs::remove_file(sibling(&self.path, suffix));
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(io(format!("cannot remove {}", path.display()))(err))
        }
        _ => Ok(()),
    }
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| BackupError::Io {
        context: format!("cannot use {}", path.display()),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is not UTF-8"),
    })
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> BackupError {
    move |source| BackupError::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url_and_messages() {
        let target =
            PgTarget::parse("postgres://app:s%40cret@db.example:5432/hydronet?sslmode=require")
                .unwrap();
        assert_eq!(target.password.as_deref(), Some("s@cret"));
        assert_eq!(
            target.url,
            "postgres://app@db.example:5432/hydronet?sslmode=require"
        );
        assert_eq!(
            target.display,
            "postgres://app:***@db.example:5432/hydronet?sslmode=require"
        );
        assert_eq!(
            target.scrub("auth failed for s@cret"),
            "auth failed for ***"
        );
    }

    #[test]
    fn a_password_in_the_query_is_moved_out_too() {
        let target = PgTarget::parse("postgresql://db/hn?password=pw&application_name=x").unwrap();
        assert_eq!(target.password.as_deref(), Some("pw"));
        assert_eq!(target.url, "postgresql://db/hn?application_name=x");
        assert!(!redact("postgresql://db/hn?password=pw").contains("pw"));
    }

    #[test]
    fn urls_without_a_password_are_shown_as_they_are() {
        let url = "postgres://root@127.0.0.1:5432/test";
        assert_eq!(redact(url), url);
        assert_eq!(
            redact("sqlite://hydronet.db?mode=rwc"),
            "sqlite://hydronet.db?mode=rwc"
        );
        assert!(PgTarget::parse("postgres://u:%zz@h/d").is_none());
    }

    #[test]
    fn sqlite_urls_name_their_file_and_memory_is_refused() {
        let Ok(Location::Sqlite(file)) = Location::parse("sqlite://data/hn.db?mode=rwc") else {
            panic!("a file URL");
        };
        assert_eq!(file, Path::new("data/hn.db"));
        assert!(matches!(
            Location::parse("sqlite::memory:"),
            Err(BackupError::Url(_))
        ));
        assert!(matches!(
            Location::parse("mysql://x"),
            Err(BackupError::Url(_))
        ));
    }
}
