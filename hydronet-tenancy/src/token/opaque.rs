//! Opaque secrets: random strings that mean nothing by themselves and are looked up by
//! their digest.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Random bytes in every secret: 256 bits, beyond guessing.
const SECRET_BYTES: usize = 32;

/// Characters of base64url (no padding) needed for [`SECRET_BYTES`].
const ENCODED_LEN: usize = 43;

/// A freshly generated secret: shown once to the client, stored only as its digest.
///
/// Its `Debug` output is redacted.
///
/// ```
/// use hydronet_tenancy::token::{OpaqueToken, token_digest};
///
/// let token = OpaqueToken::generate("hnr_");
/// let stored = token.digest();
/// let presented = token.into_secret();
/// assert_eq!(token_digest(&presented), stored);
/// ```
pub struct OpaqueToken {
    secret: String,
}

impl OpaqueToken {
    /// `prefix` followed by the base64url encoding (no padding) of 32 random bytes from the
    /// operating system, e.g. `"hnr_"` and 43 more characters.
    ///
    /// The prefix tells token kinds apart at a glance and lets secret scanners find leaked
    /// tokens; it adds no secrecy.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide random bytes, which leaves no safe way to
    /// make a secret.
    pub fn generate(prefix: &str) -> OpaqueToken {
        let mut bytes = [0_u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");

        let mut secret = String::with_capacity(prefix.len() + ENCODED_LEN);
        secret.push_str(prefix);
        URL_SAFE_NO_PAD.encode_string(bytes, &mut secret);
        OpaqueToken { secret }
    }

    /// The secret, to hand to the client once.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The secret, by value.
    pub fn into_secret(self) -> String {
        self.secret
    }

    /// The digest to store in place of the secret; same as [`token_digest`].
    pub fn digest(&self) -> String {
        token_digest(&self.secret)
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpaqueToken")
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Lowercase hex SHA-256 of a presented secret; what the database stores and looks up.
///
/// A plain hash suffices: the secret has 256 random bits, so there is nothing for a slow
/// password hash to protect, and equal secrets must give equal digests to be found.
pub fn token_digest(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";

    let hash = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(2 * hash.len());

    for byte in hash {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_the_prefix_and_length() {
        let token = OpaqueToken::generate("hnr_");
        let body = token.secret().strip_prefix("hnr_").unwrap();

        assert_eq!(token.secret().len(), 4 + 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert!(
            body.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn two_generations_differ() {
        let a = OpaqueToken::generate("hnr_");
        let b = OpaqueToken::generate("hnr_");

        assert_ne!(a.secret(), b.secret());
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn digest_matches_token_digest_of_the_secret() {
        let token = OpaqueToken::generate("hnk_");
        let digest = token.digest();

        assert_eq!(digest, token_digest(token.secret()));
        assert_eq!(digest.len(), 64);
        assert!(
            digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(token_digest(&token.into_secret()), digest);
    }

    #[test]
    fn token_digest_is_sha256_hex() {
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_is_redacted() {
        let token = OpaqueToken::generate("hnr_");
        let printed = format!("{token:?}");

        assert!(!printed.contains(token.secret()), "{printed}");
        assert!(printed.contains("redacted"));
    }
}
