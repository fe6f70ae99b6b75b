//! The flat XML WeChat speaks: `<xml><Field>value</Field>…</xml>`, values as text or
//! CDATA.
//!
//! Parsing is strict where it matters for safety: a document type declaration is refused
//! outright (so no DTD, and no entity of one, is ever read or expanded), and only XML's
//! five predefined entities and character references are accepted in text. The caller
//! caps the size of what it hands over. Only the root's direct children are kept; their
//! own children (some events carry them) are skipped.
//!
//! ```
//! use hydronet_saas::wechat::xml;
//!
//! let fields = xml::parse(b"<xml><Content><![CDATA[a < b]]></Content></xml>").unwrap();
//! assert_eq!(fields.get("Content"), Some("a < b"));
//! assert!(xml::parse(b"<!DOCTYPE x [<!ENTITY e 'boom'>]><xml/>").is_err());
//! ```

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

/// The most fields a message may have.
const MAX_FIELDS: usize = 64;

/// Why a body is not a WeChat message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// It declares a document type (and perhaps entities): refused, never read.
    #[error("document type declarations are not accepted")]
    Doctype,
    /// It refers to an entity other than the five XML predefines.
    #[error("unknown entity reference")]
    Entity,
    /// It is not well-formed, or not `<xml>` with fields.
    #[error("malformed XML: {0}")]
    Malformed(String),
}

/// A message's fields by element name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(HashMap<String, String>);

impl Fields {
    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value of `name`, trimmed, if present and not blank.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }
}

/// Parses a message.
pub fn parse(body: &[u8]) -> Result<Fields, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut fields = HashMap::new();
    // Depth 1 is inside <xml>, 2 inside one of its fields.
    let mut depth = 0_usize;
    let mut current: Option<(String, String)> = None;
    let mut seen_root = false;

    loop {
        let event = reader
            .read_event()
            .map_err(|err| malformed(&err.to_string()))?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_owned();
                depth += 1;
                match depth {
                    1 if name == "xml" && !seen_root => seen_root = true,
                    1 => return Err(malformed("the root element must be <xml>")),
                    2 => current = Some((name, String::new())),
                    _ => {}
                }
            }
            Event::Empty(start) => match depth {
                0 if start.local_name().as_ref() == "xml" && !seen_root => seen_root = true,
                0 => return Err(malformed("the root element must be <xml>")),
                1 => {
                    let name = start.local_name().as_ref().to_owned();
                    insert(&mut fields, name, String::new())?;
                }
                _ => {}
            },
            Event::End(_) => {
                if depth == 2
                    && let Some((name, value)) = current.take()
                {
                    insert(&mut fields, name, value)?;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(text) if depth == 2 => push(&mut current, &text.xml10_content()),
            Event::CData(data) if depth == 2 => push(&mut current, &data),
            Event::GeneralRef(reference) => {
                let resolved = resolve(&reference)?;
                if depth == 2 {
                    push(&mut current, &resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root || depth != 0 {
        return Err(malformed("expected one complete <xml> element"));
    }
    Ok(Fields(fields))
}

fn malformed(what: &str) -> XmlError {
    XmlError::Malformed(what.to_owned())
}

fn push(current: &mut Option<(String, String)>, text: &str) {
    if let Some((_, value)) = current {
        value.push_str(text);
    }
}

fn insert(
    fields: &mut HashMap<String, String>,
    name: String,
    value: String,
) -> Result<(), XmlError> {
    if fields.len() >= MAX_FIELDS {
        return Err(malformed("too many fields"));
    }
    fields.insert(name, value);
    Ok(())
}

/// A character reference, or one of the five entities XML predefines.
fn resolve(reference: &quick_xml::events::BytesRef<'_>) -> Result<String, XmlError> {
    if let Some(c) = reference.resolve_char_ref().map_err(|_| XmlError::Entity)? {
        return Ok(c.to_string());
    }
    let text = match &**reference {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return Err(XmlError::Entity),
    };
    Ok(text.to_owned())
}

/// `text` as CDATA content; a `]]>` inside is split across two sections.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// A passive text reply from the account `from` to the user `to`.
pub fn text_reply(to: &str, from: &str, created: i64, content: &str) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
         <CreateTime>{created}</CreateTime><MsgType>{}</MsgType><Content>{}</Content></xml>",
        cdata(to),
        cdata(from),
        cdata("text"),
        cdata(content),
    )
}

/// The envelope of an encrypted reply.
pub fn encrypted_reply(encrypt: &str, signature: &str, timestamp: &str, nonce: &str) -> String {
    format!(
        "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature>\
         <TimeStamp>{}</TimeStamp><Nonce>{}</Nonce></xml>",
        cdata(encrypt),
        cdata(signature),
        cdata(timestamp),
        cdata(nonce),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_cdata_and_predefined_entities_are_read() {
        let body = b"<?xml version=\"1.0\"?>\n<xml>\n <ToUserName><![CDATA[gh_1]]></ToUserName>\n \
            <CreateTime>1700000000</CreateTime><Content>fish &amp; chips &#x4E2D;</Content>\
            <Empty/><ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo></xml>";
        let fields = parse(body).unwrap();
        assert_eq!(fields.get("ToUserName"), Some("gh_1"));
        assert_eq!(fields.get("CreateTime"), Some("1700000000"));
        assert_eq!(fields.get("Content"), Some("fish & chips 中"));
        assert_eq!(fields.get("Empty"), Some(""));
        assert_eq!(fields.get("ScanType"), None);
    }

    #[test]
    fn doctypes_unknown_entities_and_other_shapes_are_refused() {
        let bomb =
            b"<!DOCTYPE xml [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;\">]><xml><C>&b;</C></xml>";
        assert_eq!(parse(bomb), Err(XmlError::Doctype));
        assert_eq!(parse(b"<xml><C>&ext;</C></xml>"), Err(XmlError::Entity));
        assert!(matches!(parse(b"<root/>"), Err(XmlError::Malformed(_))));
        assert!(matches!(
            parse(b"<xml><C>open</xml>"),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(parse(b""), Err(XmlError::Malformed(_))));
        assert!(matches!(
            parse(b"<xml/><xml/>"),
            Err(XmlError::Malformed(_))
        ));
    }

    #[test]
    fn replies_survive_a_round_trip_even_with_cdata_terminators() {
        let reply = text_reply("user", "gh_1", 42, "a ]]> b <c>");
        let fields = parse(reply.as_bytes()).unwrap();
        assert_eq!(fields.get("Content"), Some("a ]]> b <c>"));
        assert_eq!(fields.get("MsgType"), Some("text"));
        assert_eq!(fields.get("CreateTime"), Some("42"));
    }
}
