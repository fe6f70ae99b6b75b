//! Servers under test run as child processes (this same binary, `serve <kind>`), so their
//! CPU time can be read from `/proc/<pid>/stat` apart from the load generator's.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::client::BoxError;

/// Clock ticks per second of `utime`/`stime` in `/proc/<pid>/stat`: `USER_HZ`, which Linux
/// fixes at 100 for user space on every architecture it supports.
const TICKS_PER_SEC: u64 = 100;

/// A running server child; killed when dropped.
pub(crate) struct Server {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Whatever else it printed after the address (the stack's access token).
    pub(crate) info: String,
}

impl Server {
    /// Starts `hydronet-load serve <kind>` with exactly the environment `env`,
    /// and waits for the address it prints.
    pub(crate) fn start(kind: &str, env: &[(String, String)]) -> Result<Self, BoxError> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["serve", kind])
            // Only what the benchmark sets: nothing leaks in from the calling shell.
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            // The child exits when its stdin closes, so it never outlives this process.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the child has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let (addr, info) = match line.trim().strip_prefix("listening ") {
            Some(rest) => {
                let (addr, info) = rest.split_once(' ').unwrap_or((rest, ""));
                (addr.parse()?, info.to_owned())
            }
            None => {
                let _ = child.kill();
                return Err(format!("server `{kind}` did not start: {line:?}").into());
            }
        };
        Ok(Self { child, addr, info })
    }

    /// CPU time (user + system) the server has used so far.
    pub(crate) fn cpu(&self) -> Result<Duration, BoxError> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        let ticks = parse_cpu_ticks(&stat).ok_or("unreadable /proc/<pid>/stat")?;
        Ok(Duration::from_micros(ticks * 1_000_000 / TICKS_PER_SEC))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) this process has used so far.
pub(crate) fn own_cpu() -> Result<Duration, BoxError> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let ticks = parse_cpu_ticks(&stat).ok_or("unreadable /proc/self/stat")?;
    Ok(Duration::from_micros(ticks * 1_000_000 / TICKS_PER_SEC))
}

/// `utime + stime` from a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces, so fields are counted after its closing parenthesis:
/// `utime` and `stime` are the 12th and 13th from there.
pub(crate) fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Run by a child: exit as soon as the parent closes our stdin (or dies).
pub(crate) fn exit_with_parent() {
    std::thread::spawn(|| {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
        std::process::exit(0);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_come_from_fields_fourteen_and_fifteen() {
        let stat = "4242 (hydronet load) S 1 4242 4242 0 -1 4194560 1021 0 0 0 \
                    250 75 0 0 20 0 9 0 123456 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }

    #[test]
    fn our_own_stat_parses() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(parse_cpu_ticks(&stat).is_some());
    }
}
