//! The `hydronet-saas` binary as an operator runs it: configuration checks, `init`, and
//! `serve` with a graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "cli-test-secret-0123456789abcdefghijklmnopq";

struct Workdir(PathBuf);

impl Workdir {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("hydronet-cli-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with a clean environment: no inherited database or Redis settings.
fn command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hydronet-saas"));
    command.current_dir(dir);
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "JWT_SECRET_KEY",
        "DEBUG",
        "HYDRONET_BIND",
        "HYDRONET_ADMIN_PASSWORD",
        "HYDRONET_ADMIN_EMAIL",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command
}

fn production(dir: &Path) -> Command {
    let mut command = command(dir);
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

#[test]
fn production_without_secrets_refuses_to_start_and_says_what_to_set() {
    let dir = Workdir::new();
    let output = command(&dir.0)
        .env("DEBUG", "false")
        .args(["serve"])
        .output()
        .unwrap();

    assert!(!output.status.success());
    let text = text(&output);
    assert!(text.contains("SECRET_KEY"), "{text}");
    assert!(!dir.0.join("hydronet.db").exists());
}

#[test]
fn development_generates_secrets_once_with_a_warning() {
    let dir = Workdir::new();
    let first = command(&dir.0).arg("migrate").output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("generated development secrets"),
        "{}",
        text(&first)
    );

    let secrets = std::fs::read_to_string(dir.0.join(".hydronet/secrets.env")).unwrap();
    let second = command(&dir.0).arg("migrate").output().unwrap();
    assert!(second.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.0.join(".hydronet/secrets.env")).unwrap(),
        secrets
    );
    assert!(dir.0.join("hydronet.db").exists());
}

/// Starts `serve` on a free port and returns the child and its address.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = production(dir)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let address = loop {
        assert!(Instant::now() < deadline, "server did not start");
        let line = lines.next().expect("server exited early").unwrap();
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(address) = json["fields"]["address"].as_str() {
            break address.to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

async fn http(address: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn init_creates_one_admin_who_can_log_in_and_serve_stops_on_sigterm() {
    let dir = Workdir::new();
    let init = production(&dir.0)
        .args(["init", "--email", "root@example.com"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let out = String::from_utf8_lossy(&init.stdout).to_string();
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("generated password (shown only now): "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();

    let again = production(&dir.0)
        .args(["init", "--email", "other@example.com"])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already exists"));

    let (mut child, address) = serve(&dir.0);
    let (status, _) = http(&address, "GET", "/api/health", "").await;
    assert_eq!(status, 200);
    let login = format!(r#"{{"email":"root@example.com","password":"{password}"}}"#);
    let (status, body) = http(&address, "POST", "/api/auth/login", &login).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("system_admin"), "{body}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

#[test]
fn init_refuses_a_weak_given_password() {
    let dir = Workdir::new();
    let output = production(&dir.0)
        .args(["init"])
        .env("HYDRONET_ADMIN_PASSWORD", "password")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output).contains("HYDRONET_ADMIN_PASSWORD"),
        "{}",
        text(&output)
    );
}

#[tokio::test]
async fn audit_verify_names_the_first_tampered_record() {
    let dir = Workdir::new();
    let init = production(&dir.0)
        .args(["init", "--email", "audit@example.com"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));

    let clean = production(&dir.0)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(text(&clean).contains("ok (1 records)"), "{}", text(&clean));

    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", dir.0.join("hydronet.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE audit_events SET details = '{\"email\":\"someone-else@example.com\"}' WHERE seq = 1")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let tampered = production(&dir.0)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!tampered.status.success());
    let out = text(&tampered);
    assert!(
        out.contains("BROKEN at seq 1") && out.contains("Edited"),
        "{out}"
    );
}

#[test]
fn audit_prune_keeps_the_rest_verifiable() {
    let dir = Workdir::new();
    let init = production(&dir.0)
        .args(["init", "--email", "prune@example.com"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));

    let prune = production(&dir.0)
        .args(["audit", "prune", "--older-than", "0"])
        .output()
        .unwrap();
    assert!(prune.status.success(), "{}", text(&prune));
    assert!(
        text(&prune).contains("pruned 1 audit records"),
        "{}",
        text(&prune)
    );

    let verify = production(&dir.0)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
}
