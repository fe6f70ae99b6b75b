//! The hash chain: how a record becomes canonical bytes, and how records link.
//!
//! Each tenant's records form one chain. A record's hash is the lowercase hex SHA-256 of
//! the previous record's hash (as its 64 hex characters) followed by the record's
//! canonical JSON; the first record follows [`GENESIS`], 64 zeros.
//!
//! The canonical JSON is an object with a fixed field order, written here by hand so that
//! neither serde_json's map ordering (`preserve_order`) nor its formatting choices can
//! change a hash:
//!
//! `{"tenant_id":…,"id":…,"time_ms":…,"actor_type":…,"actor_id":…,"token_id":…,`
//! `"action":…,"target":…,"outcome":…,"request_id":…,"client_addr":…,"user_agent":…,`
//! `"details":…}`
//!
//! Missing values are `null`; `details` is the stored canonical text itself (keys sorted
//! at every depth, no whitespace). `seq` is deliberately not hashed: a record's place is
//! fixed by its `prev_hash` link, and leaving the position out keeps a record's hash its
//! own, which is what lets verification tell a moved record (its hash still matches its
//! content) from an altered one.
//!
//! The module is internal; its format is public through [`SqlAudit`](super::SqlAudit),
//! whose example verifies a chain.

use std::fmt::Write as _;

use hydronet_core::{ApiKeyId, TenantId, UserId};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Actor, AuditEvent, Outcome, redact};

/// The hash the first record of every chain links to.
pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed fields of one record, as they are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) tenant_id: String,
    pub(super) id: String,
    pub(super) time_ms: i64,
    pub(super) actor_type: String,
    pub(super) actor_id: Option<String>,
    pub(super) token_id: Option<String>,
    pub(super) action: String,
    pub(super) target: Option<String>,
    pub(super) outcome: String,
    pub(super) request_id: Option<String>,
    pub(super) client_addr: Option<String>,
    pub(super) user_agent: Option<String>,
    pub(super) details: String,
}

/// One value of the canonical record.
enum Field<'a> {
    Text(Option<&'a str>),
    Int(i64),
    Json(&'a str),
}

impl Record {
    /// The record of `event`, its details redacted again (the field is public, so they may
    /// not have gone through [`AuditEvent::details`]) and made canonical, and NUL characters
    /// in text replaced (see [`storable`]).
    pub(super) fn from_event(event: &AuditEvent) -> Self {
        let (actor_type, actor_id) = actor_columns(&event.actor);
        Self {
            tenant_id: event.tenant_id.to_string(),
            id: event.id.hyphenated().to_string(),
            time_ms: event.time_ms,
            actor_type: actor_type.to_owned(),
            actor_id,
            token_id: event.token_id.as_deref().map(storable),
            action: storable(&event.action),
            target: event.target.as_deref().map(storable),
            outcome: outcome_column(event.outcome).to_owned(),
            request_id: event.request_id.as_deref().map(storable),
            client_addr: event.client_addr.as_deref().map(storable),
            user_agent: event.user_agent.as_deref().map(storable),
            details: canonical_json(&redact(event.details.clone())),
        }
    }

    /// The event this record stores, or `None` when a column does not parse.
    pub(super) fn to_event(&self) -> Option<AuditEvent> {
        Some(AuditEvent {
            id: Uuid::try_parse(&self.id).ok()?,
            time_ms: self.time_ms,
            tenant_id: self.tenant_id.parse::<TenantId>().ok()?,
            actor: parse_actor(&self.actor_type, self.actor_id.as_deref())?,
            action: self.action.clone(),
            target: self.target.clone(),
            outcome: parse_outcome(&self.outcome)?,
            request_id: self.request_id.clone(),
            token_id: self.token_id.clone(),
            client_addr: self.client_addr.clone(),
            user_agent: self.user_agent.clone(),
            details: serde_json::from_str(&self.details).ok()?,
        })
    }

    /// The canonical JSON of this record (see the module docs).
    pub(super) fn canonical(&self) -> String {
        let fields = [
            ("tenant_id", Field::Text(Some(&self.tenant_id))),
            ("id", Field::Text(Some(&self.id))),
            ("time_ms", Field::Int(self.time_ms)),
            ("actor_type", Field::Text(Some(&self.actor_type))),
            ("actor_id", Field::Text(self.actor_id.as_deref())),
            ("token_id", Field::Text(self.token_id.as_deref())),
            ("action", Field::Text(Some(&self.action))),
            ("target", Field::Text(self.target.as_deref())),
            ("outcome", Field::Text(Some(&self.outcome))),
            ("request_id", Field::Text(self.request_id.as_deref())),
            ("client_addr", Field::Text(self.client_addr.as_deref())),
            ("user_agent", Field::Text(self.user_agent.as_deref())),
            ("details", Field::Json(&self.details)),
        ];

        let mut out = String::with_capacity(320 + self.details.len());
        out.push('{');
        for (n, (key, value)) in fields.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            push_str(&mut out, key);
            out.push(':');
            push_field(&mut out, value);
        }
        out.push('}');
        out
    }

    /// This record's hash when it follows `prev_hash`.
    pub(super) fn hash(&self, prev_hash: &str) -> String {
        let mut digest = Sha256::new();
        digest.update(prev_hash.as_bytes());
        digest.update(self.canonical().as_bytes());

        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for byte in digest.finalize() {
            hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        hex
    }
}

/// `text` with NUL characters replaced by U+FFFD. PostgreSQL refuses NUL in `TEXT`, and one
/// such event would otherwise fail every batch it is part of.
pub(super) fn storable(text: &str) -> String {
    text.replace('\0', "\u{fffd}")
}

fn push_field(out: &mut String, value: &Field<'_>) {
    match value {
        Field::Text(Some(text)) => push_str(out, text),
        Field::Text(None) => out.push_str("null"),
        Field::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Field::Json(json) => out.push_str(json),
    }
}

/// `details` as canonical JSON: object keys sorted by their UTF-8 bytes at every depth,
/// no insignificant whitespace, strings escaped as [`push_str`] does.
pub(super) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    push_value(&mut out, value);
    out
}

fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => push_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                push_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => push_object(out, map),
    }
}

fn push_object(out: &mut String, map: &serde_json::Map<String, Value>) {
    // Sorted here rather than trusting the map: with `preserve_order` it keeps insertion
    // order.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));

    out.push('{');
    for (n, (key, value)) in entries.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        push_str(out, key);
        out.push(':');
        push_value(out, value);
    }
    out.push('}');
}

/// A JSON string: `"` and `\` escaped, `\n`, `\r`, `\t` as such, other control characters
/// as `\u00xx`, everything else as is.
fn push_str(out: &mut String, text: &str) {
    out.push('"');
    // Runs of plain text are copied whole; every character escaped is ASCII, so the
    // slices always fall on character boundaries.
    let mut plain = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&text[plain..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escaped);
        }
        plain = i + 1;
    }
    out.push_str(&text[plain..]);
    out.push('"');
}

/// The `actor_type` and `actor_id` columns of `actor`.
fn actor_columns(actor: &Actor) -> (&'static str, Option<String>) {
    match actor {
        Actor::User(id) => ("user", Some(id.to_string())),
        Actor::ApiKey(id) => ("api_key", Some(id.to_string())),
        Actor::System => ("system", None),
    }
}

fn parse_actor(actor_type: &str, actor_id: Option<&str>) -> Option<Actor> {
    match (actor_type, actor_id) {
        ("user", Some(id)) => id.parse::<UserId>().ok().map(Actor::User),
        ("api_key", Some(id)) => id.parse::<ApiKeyId>().ok().map(Actor::ApiKey),
        ("system", None) => Some(Actor::System),
        _ => None,
    }
}

/// The `outcome` column of `outcome`.
pub(super) fn outcome_column(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Denied => "denied",
        Outcome::Failed => "failed",
    }
}

fn parse_outcome(outcome: &str) -> Option<Outcome> {
    match outcome {
        "success" => Some(Outcome::Success),
        "denied" => Some(Outcome::Denied),
        "failed" => Some(Outcome::Failed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use hydronet_core::ManualClock;
    use serde_json::json;

    use super::*;

    fn event() -> AuditEvent {
        let clock = ManualClock::at_secs(1_700_000_000);
        AuditEvent::at(
            &clock,
            TenantId::new(),
            Actor::User(UserId::new()),
            "role.assigned",
        )
        .target("user:\"42\"\n")
        .request_id("req-1")
        .details(json!({ "b": [1, 2.5, null], "a": { "z": true, "y": "é\u{1}" } }))
    }

    #[test]
    fn details_are_canonical_whatever_the_key_order() {
        let a = json!({ "b": 1, "a": { "d": [true, null], "c": "x" } });
        let mut reversed = serde_json::Map::new();
        reversed.insert("a".into(), json!({ "c": "x", "d": [true, null] }));
        reversed.insert("b".into(), json!(1));

        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":"x","d":[true,null]},"b":1}"#
        );
        assert_eq!(canonical_json(&a), canonical_json(&Value::Object(reversed)));
    }

    #[test]
    fn canonical_text_is_valid_json_with_the_fixed_order() {
        let record = Record::from_event(&event());
        let canonical = record.canonical();

        let parsed: Value = serde_json::from_str(&canonical).unwrap();
        assert_eq!(parsed["target"], "user:\"42\"\n");
        assert_eq!(parsed["details"]["a"]["y"], "é\u{1}");
        assert_eq!(parsed["token_id"], Value::Null);
        assert!(canonical.starts_with(r#"{"tenant_id":""#));
        assert!(canonical.contains(r#","time_ms":1700000000000,"actor_type":"user","#));
        assert!(
            canonical.ends_with(r#""details":{"a":{"y":"é\u0001","z":true},"b":[1,2.5,null]}}"#)
        );
    }

    #[test]
    fn hashes_link_and_change_with_any_field() {
        let record = Record::from_event(&event());
        let first = record.hash(GENESIS);

        assert_eq!(first.len(), 64);
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(first, record.hash(GENESIS));
        assert_ne!(first, record.hash(&first));

        let mut edited = record.clone();
        edited.details = r#"{"a":1}"#.to_owned();
        assert_ne!(edited.hash(GENESIS), first);
    }

    #[test]
    fn the_hash_is_sha256_of_the_link_and_the_canonical_bytes() {
        let record = Record::from_event(&event());
        let expected = Sha256::digest(format!("{GENESIS}{}", record.canonical()));
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(record.hash(GENESIS), hex);
    }

    #[test]
    fn records_round_trip_and_details_are_redacted() {
        let mut original = event();
        original.details = json!({ "password": "canary", "list": [{ "api_key": "k" }] });
        original.actor = Actor::System;

        let record = Record::from_event(&original);
        assert!(!record.details.contains("canary"));
        assert_eq!(record.actor_id, None);

        let back = record.to_event().unwrap();
        assert_eq!(back.details["password"], "[redacted]");
        assert_eq!(back.details["list"][0]["api_key"], "[redacted]");
        assert_eq!(
            AuditEvent {
                details: original.details.clone(),
                ..back
            },
            original
        );
    }

    #[test]
    fn nul_characters_are_replaced() {
        let mut nul = event();
        nul.target = Some("user:\0".to_owned());
        nul.details = json!({ "k\0": "v\0" });

        let record = Record::from_event(&nul);
        assert_eq!(record.target.as_deref(), Some("user:\u{fffd}"));
        assert_eq!(record.details, r#"{"k\u0000":"v\u0000"}"#);
        assert!(!record.canonical().contains('\0'));
    }

    #[test]
    fn malformed_columns_do_not_parse() {
        let mut record = Record::from_event(&event());
        record.actor_id = None;
        assert!(record.to_event().is_none());

        let mut record = Record::from_event(&event());
        record.outcome = "maybe".into();
        assert!(record.to_event().is_none());
    }
}
