//! Third-party secrets at rest (an MCP server's auth header, a WeChat app secret):
//! sealed with AES-256-GCM under a key derived from `SECRET_KEY` by HKDF-SHA256, and
//! bound to where they are stored, so a sealed value copied to another row or tenant
//! does not open.
//!
//! The stored text is `v1:` followed by base64 of a random 96-bit nonce and the
//! ciphertext with its tag. Changing `SECRET_KEY` makes stored secrets unreadable: they
//! must be entered again.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

/// What every sealed value starts with; a later scheme gets another.
const VERSION: &str = "v1:";

/// A sealed value could not be opened: wrong key, wrong place, or tampered with.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be opened (was SECRET_KEY changed?)")]
pub struct OpenError;

/// Seals and opens secrets with one key.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// The sealer for `secret_key` (the server's `SECRET_KEY`).
    pub fn new(secret_key: &SecretString) -> Self {
        let prk =
            Salt::new(HKDF_SHA256, b"hydronet").extract(secret_key.expose_secret().as_bytes());
        let okm = prk
            .expand(&[b"at-rest secrets v1"], &AES_256_GCM)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let key = UnboundKey::from(okm);
        Self {
            key: LessSafeKey::new(key),
        }
    }

    /// `plaintext` sealed for the place named by `context`, e.g.
    /// `"mcp_servers.auth:<tenant>:<server>"`.
    pub fn seal(&self, context: &str, plaintext: &str) -> String {
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let mut data = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        format!("{VERSION}{}", STANDARD.encode(out))
    }

    /// The plaintext of a value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<SecretString, OpenError> {
        let encoded = sealed.strip_prefix(VERSION).ok_or(OpenError)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| OpenError)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| OpenError)?;
        let text = std::str::from_utf8(plain).map_err(|_| OpenError)?;
        Ok(SecretString::from(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(key: &str) -> Sealer {
        Sealer::new(&SecretString::from(key.to_owned()))
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let a = sealer("first-secret-key-0123456789abcdefghij");
        let sealed = a.seal("mcp:t1:s1", "Bearer tool-token");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("tool-token"));
        assert_eq!(
            a.open("mcp:t1:s1", &sealed).unwrap().expose_secret(),
            "Bearer tool-token"
        );

        // Another row, another key, or a flipped bit: nothing opens.
        assert!(a.open("mcp:t2:s1", &sealed).is_err());
        assert!(
            sealer("other-secret-key-0123456789abcdefghij")
                .open("mcp:t1:s1", &sealed)
                .is_err()
        );
        let mut bytes = STANDARD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("v1:{}", STANDARD.encode(bytes));
        assert!(a.open("mcp:t1:s1", &tampered).is_err());
        assert!(a.open("mcp:t1:s1", "plain text").is_err());
    }

    #[test]
    fn sealing_twice_gives_different_text() {
        let a = sealer("first-secret-key-0123456789abcdefghij");
        assert_ne!(a.seal("c", "x"), a.seal("c", "x"));
    }
}
