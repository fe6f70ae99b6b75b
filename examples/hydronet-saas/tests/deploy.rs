//! The deployment kit in `deploy/` checked against the server it deploys: every setting it
//! writes or documents is one the server reads, nginx refuses the same bodies the server
//! does, and the systemd sandbox leaves writable the spool the guide configures.
//!
//! The server's variable names are taken from the text of `src/config.rs` and `src/cli.rs`,
//! where every one is read by its literal name, so a variable added there is known here
//! without a second list to keep.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use hydronet_core::Plan;
use hydronet_saas::body::MAX_BODY_BYTES;

/// Read by a library rather than by name in the server: `RUST_LOG` by tracing-subscriber's
/// `EnvFilter::try_from_default_env`.
const READ_BY_LIBRARIES: [&str; 1] = ["RUST_LOG"];

/// Variables of the server's own namespace: names starting with one of these...
const OWN_PREFIXES: [&str; 5] = ["HYDRONET_", "WECHAT_", "JWT_", "ALIYUN_", "DASHSCOPE_"];
/// ...or exactly one of these.
const OWN_NAMES: [&str; 5] = [
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "RUST_LOG",
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn deploy_dir() -> PathBuf {
    manifest_dir().join("../../deploy")
}

/// Every file under `dir`, depth first, in a stable order.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .collect();
    entries.sort();
    entries
        .into_iter()
        .flat_map(|path| {
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// String literals made only of `A-Z`, `0-9` and `_`, such as `"HYDRONET_BIND"`.
fn upper_literals(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = source;
    while let Some(start) = rest.find('"') {
        rest = &rest[start + 1..];
        let len = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        if len > 0 && rest[len..].starts_with('"') {
            found.insert(rest[..len].to_owned());
        }
    }
    found
}

/// What the server reads, as literals in its configuration and command-line code.
struct Known {
    names: BTreeSet<String>,
}

impl Known {
    fn from_server_source() -> Self {
        let mut names = BTreeSet::new();
        for file in ["src/config.rs", "src/cli.rs"] {
            let path = manifest_dir().join(file);
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
            names.extend(upper_literals(&text));
        }
        names.extend(READ_BY_LIBRARIES.map(str::to_owned));
        Self { names }
    }

    /// `HYDRONET_PLAN_<PLAN>_<LIMIT>`: built with `format!`, so matched piecewise; the
    /// limit names are literals in `config.rs`.
    fn is_plan_limit(&self, name: &str) -> bool {
        let Some(rest) = name.strip_prefix("HYDRONET_PLAN_") else {
            return false;
        };
        Plan::ALL.iter().any(|plan| {
            rest.strip_prefix(&plan.as_str().to_uppercase())
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|limit| self.names.contains(limit))
        })
    }

    /// Whether the server reads `name`. A name ending in `_` is a family written out in
    /// prose (`WECHAT_*`, `HYDRONET_PLAN_<PLAN>_<LIMIT>`): known if some member is.
    fn knows(&self, name: &str) -> bool {
        if name.ends_with('_') {
            return name == "HYDRONET_PLAN_" || self.names.iter().any(|n| n.starts_with(name));
        }
        self.names.contains(name) || self.is_plan_limit(name)
    }
}

/// The server-namespace variable names mentioned in `text`.
fn mentioned(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| OWN_NAMES.contains(word) || OWN_PREFIXES.iter().any(|p| word.starts_with(p)))
        .map(str::to_owned)
        .collect()
}

/// `name (file)` for each mention in `text` that the server does not read.
fn unknown_in(known: &Known, file: &str, text: &str) -> Vec<String> {
    mentioned(text)
        .into_iter()
        .filter(|name| !known.knows(name))
        .map(|name| format!("{name} ({file})"))
        .collect()
}

#[test]
fn every_variable_the_kit_uses_is_read_by_the_server() {
    let known = Known::from_server_source();
    let mut all_mentioned = BTreeSet::new();
    let mut unknown = Vec::new();
    for path in files_under(&deploy_dir()) {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let file = path.strip_prefix(deploy_dir()).unwrap_or(&path).display();
        unknown.extend(unknown_in(&known, &file.to_string(), &text));
        all_mentioned.extend(mentioned(&text));
    }

    assert!(
        unknown.is_empty(),
        "deploy/ uses variables the server does not read: {unknown:?}"
    );
    // The scan must have found the kit's essentials, or it proved nothing.
    for essential in [
        "DEBUG",
        "SECRET_KEY",
        "JWT_SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "HYDRONET_TRUSTED_PROXIES",
        "HYDRONET_AUDIT_SPOOL_DIR",
    ] {
        assert!(
            all_mentioned.contains(essential),
            "deploy/ never mentions {essential}"
        );
    }
}

#[test]
fn a_misspelt_variable_is_reported() {
    let known = Known::from_server_source();
    let text = "DEBUG=false\nHYDRONET_TRUSTED_PROXY=127.0.0.1\nJWT_SECRET=x\n\
                HYDRONET_PLAN_PRO_TOKENS_PER_DAY=5\nHYDRONET_PLAN_GOLD_MAX_USERS=3\n";
    assert_eq!(
        unknown_in(&known, "env", text),
        [
            "HYDRONET_PLAN_GOLD_MAX_USERS (env)",
            "HYDRONET_TRUSTED_PROXY (env)",
            "JWT_SECRET (env)",
        ]
    );
}

#[test]
fn the_server_names_are_found_in_its_source() {
    let known = Known::from_server_source();
    for name in [
        "HYDRONET_BIND",
        "DATABASE_URL",
        "ALIYUN_API_KEY",
        "HYDRONET_ADMIN_PASSWORD",
    ] {
        assert!(known.knows(name), "{name} not found in config.rs or cli.rs");
    }
    assert!(known.knows("HYDRONET_PLAN_FREE_REQUESTS_PER_MINUTE"));
    assert!(!known.knows("HYDRONET_NO_SUCH_SETTING"));
}

/// nginx sizes such as `1m`, `512k` or `1048576`, in bytes.
fn nginx_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 1024),
        (i, 'm' | 'M') => (&text[..i], 1024 * 1024),
        (i, 'g' | 'G') => (&text[..i], 1024 * 1024 * 1024),
        _ => (text, 1),
    };
    digits.parse::<usize>().ok().map(|n| n * unit)
}

#[test]
fn nginx_refuses_the_bodies_the_server_refuses() {
    let mut checked = 0;
    for path in files_under(&deploy_dir().join("nginx")) {
        let text = fs::read_to_string(&path).expect("a readable nginx file");
        for line in text.lines().map(str::trim) {
            let Some(value) = line.strip_prefix("client_max_body_size") else {
                continue;
            };
            let value = value.trim().trim_end_matches(';');
            assert_eq!(
                nginx_size(value),
                Some(MAX_BODY_BYTES),
                "{}: client_max_body_size {value}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "expected a body limit in each nginx site");
}

/// The value of `key=` on its own line, unquoted.
fn setting<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
        .map(str::trim)
        .collect()
}

#[test]
fn the_sandbox_leaves_the_configured_spool_writable() {
    let unit = fs::read_to_string(deploy_dir().join("systemd/hydronet@.service"))
        .expect("the instance unit");
    let guide = fs::read_to_string(deploy_dir().join("README.md")).expect("the guide");

    let spool = setting(&guide, "HYDRONET_AUDIT_SPOOL_DIR");
    assert_eq!(spool, ["/var/lib/hydronet/audit-spool"]);
    assert_eq!(setting(&unit, "ReadWritePaths"), spool);
    assert_eq!(setting(&unit, "ProtectSystem"), ["strict"]);
    assert_eq!(setting(&unit, "CapabilityBoundingSet"), [""]);
    // Each instance listens on its own port, the instance name.
    assert_eq!(
        setting(&unit, "ExecStart"),
        ["/usr/local/bin/hydronet-saas serve --bind 127.0.0.1:%i"]
    );
}

#[test]
fn nginx_sizes_parse() {
    assert_eq!(nginx_size("1m"), Some(1024 * 1024));
    assert_eq!(nginx_size("512k"), Some(512 * 1024));
    assert_eq!(nginx_size("100"), Some(100));
    assert_eq!(nginx_size("lots"), None);
}
