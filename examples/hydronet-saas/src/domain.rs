//! Validated values of the identity domain: parse, don't validate.

use std::fmt;

/// An email address, trimmed and lowercased. Only the shape is checked: a local part, one
/// `@`, and a dotted domain, without spaces, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a value was refused; the text is shown to the client next to the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Email {
    /// Parses an address as typed by a user.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(Invalid("must not be empty"));
        }
        if email.len() > 254 {
            return Err(Invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(Invalid("is not an email address"));
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        let chars_ok = !email.chars().any(|c| c.is_whitespace() || c.is_control());
        // RFC 2606 reserves `.invalid`; the server names its own service users there.
        let reserved = domain.ends_with(".invalid");
        if local.is_empty() || local.len() > 64 || !domain_ok || !chars_ok || reserved {
            return Err(Invalid("is not an email address"));
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant's display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    /// Parses a name as typed.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Invalid("must not be empty"));
        }
        if name.chars().count() > 100 {
            return Err(Invalid("must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid("must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A URL-safe slug: lowercase ASCII letters and digits joined by single hyphens, at
    /// most 48 characters; `tenant` when the name has no ASCII letters or digits.
    pub fn slug(&self) -> String {
        let mut slug = String::new();
        for c in self.0.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
            if slug.len() >= 48 {
                break;
            }
        }
        let slug = slug.trim_end_matches('-');
        if slug.is_empty() {
            "tenant".to_owned()
        } else {
            slug.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn bad_emails_are_refused() {
        for raw in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "alice@.com",
            "alice@example..com",
            // Reserved for the server's own service users.
            "wechat@0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.invalid",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn slugs_are_url_safe() {
        let slug = |name: &str| TenantName::parse(name).unwrap().slug();
        assert_eq!(slug("Acme Water Co."), "acme-water-co");
        assert_eq!(slug("  --Hello__World--  "), "hello-world");
        assert_eq!(slug("深圳水务"), "tenant");
        assert_eq!(slug("深圳 Water 2"), "water-2");
        assert!(slug(&"x".repeat(100)).len() <= 48);
    }

    #[test]
    fn tenant_names_are_bounded() {
        assert!(TenantName::parse("   ").is_err());
        assert!(TenantName::parse(&"n".repeat(101)).is_err());
        assert!(TenantName::parse("bad\u{0}name").is_err());
        assert_eq!(TenantName::parse(" Acme ").unwrap().as_str(), "Acme");
    }
}
