//! WeChat's callback signatures and the AES envelope of its encrypted ("safe") mode.
//!
//! A signature is the lowercase hex SHA-1 of its parts sorted and joined without a
//! separator: the account's token, the timestamp and the nonce, plus the `Encrypt` text
//! in the encrypted mode. SHA-1 is what WeChat uses; it is not chosen here.
//!
//! An encrypted message is AES-256-CBC under the 32 bytes of base64 `EncodingAESKey +
//! "="`, with the key's first 16 bytes as the IV, over `16 random bytes ‖ message length
//! (4 bytes, big endian) ‖ message ‖ app id`, padded PKCS#7-style to a multiple of **32**
//! bytes (so a pad byte is 1 to 32, not 1 to 16).
//!
//! ```
//! use hydronet_saas::wechat::crypto::{AesKey, signature};
//!
//! let key = AesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
//! let sealed = key.encrypt("<xml>hi</xml>", "wx-app");
//! assert_eq!(key.decrypt(&sealed, "wx-app").unwrap(), "<xml>hi</xml>");
//! assert_eq!(signature(&["b", "a"]), signature(&["a", "b"]));
//! ```

use aws_lc_rs::cipher::{
    AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use aws_lc_rs::iv::FixedLength;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::{Engine, alphabet};

/// WeChat pads to this block size, twice AES's.
const PAD_BLOCK: usize = 32;
/// The random prefix of every plaintext.
const RANDOM_LEN: usize = 16;

/// Keys are 43 random base64 characters, so the last one usually carries bits beyond
/// the 32 bytes; WeChat ignores them, and so must the decoder.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why an encrypted message was refused. The variants say what was wrong for the log; a
/// client sees one generic problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The `EncodingAESKey` is not 43 base64 characters.
    #[error("the EncodingAESKey must be 43 base64 characters")]
    BadKey,
    /// Not base64, or not a whole number of blocks.
    #[error("the ciphertext is malformed")]
    Malformed,
    /// The padding bytes are not 1 to 32 copies of their count.
    #[error("the padding is invalid")]
    Padding,
    /// The length field or the app id does not match.
    #[error("the plaintext is not a message for this account")]
    Content,
}

/// The signature of `parts`: SHA-1 of them sorted and concatenated, as lowercase hex.
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let hash = digest(&SHA1_FOR_LEGACY_USE_ONLY, sorted.concat().as_bytes());
    hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is the signature of `parts`, compared in constant time (case-blind,
/// as some clients send uppercase hex).
pub fn signature_matches(given: &str, parts: &[&str]) -> bool {
    let expected = signature(parts);
    let given = given.to_ascii_lowercase();
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), given.as_bytes()).is_ok()
}

/// An account's `EncodingAESKey`, decoded.
#[derive(Clone)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey([redacted])")
    }
}

impl AesKey {
    /// Decodes the 43-character key WeChat shows in the account's settings.
    pub fn parse(encoded: &str) -> Result<Self, CryptoError> {
        if encoded.len() != 43 {
            return Err(CryptoError::BadKey);
        }
        let bytes = KEY_BASE64
            .decode(format!("{encoded}="))
            .map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self(key))
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0_u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }

    /// `message` from `app_id`, encrypted and base64-encoded as the `Encrypt` field.
    pub fn encrypt(&self, message: &str, app_id: &str) -> String {
        let mut random = [0_u8; RANDOM_LEN];
        getrandom::fill(&mut random).expect("the operating system's random source failed");
        let length = u32::try_from(message.len()).expect("replies are far below 4 GiB");
        let mut data = random.to_vec();
        data.extend_from_slice(&length.to_be_bytes());
        data.extend_from_slice(message.as_bytes());
        data.extend_from_slice(app_id.as_bytes());
        pad(&mut data);

        let key = UnboundCipherKey::new(&AES_256, &self.0).expect("a 32-byte AES-256 key");
        let key = EncryptingKey::cbc(key).expect("AES-256 supports CBC");
        let iv = EncryptionContext::Iv128(FixedLength::from(self.iv()));
        key.less_safe_encrypt(&mut data, iv)
            .expect("the data is padded to whole blocks");
        STANDARD.encode(data)
    }

    /// The message inside the base64 `Encrypt` field, checked to be for `app_id`.
    pub fn decrypt(&self, encrypted: &str, app_id: &str) -> Result<String, CryptoError> {
        let mut data = STANDARD
            .decode(encrypted.trim())
            .map_err(|_| CryptoError::Malformed)?;
        if data.is_empty() || data.len() % PAD_BLOCK != 0 {
            return Err(CryptoError::Malformed);
        }
        let key = UnboundCipherKey::new(&AES_256, &self.0).expect("a 32-byte AES-256 key");
        let key = DecryptingKey::cbc(key).expect("AES-256 supports CBC");
        let iv = DecryptionContext::Iv128(FixedLength::from(self.iv()));
        let plain = key
            .decrypt(&mut data, iv)
            .map_err(|_| CryptoError::Malformed)?;
        let body = unpad(plain)?;
        open_body(body, app_id)
    }
}

/// Pads `data` to a multiple of 32 bytes with `n` bytes of value `n` (1 to 32).
fn pad(data: &mut Vec<u8>) {
    let n = PAD_BLOCK - data.len() % PAD_BLOCK;
    let byte = u8::try_from(n).expect("at most 32");
    data.resize(data.len() + n, byte);
}

/// `data` without its padding, which must be 1 to 32 copies of its count.
fn unpad(data: &[u8]) -> Result<&[u8], CryptoError> {
    let n = usize::from(*data.last().ok_or(CryptoError::Padding)?);
    if n == 0 || n > PAD_BLOCK || n > data.len() {
        return Err(CryptoError::Padding);
    }
    let (body, padding) = data.split_at(data.len() - n);
    if padding.iter().any(|&b| usize::from(b) != n) {
        return Err(CryptoError::Padding);
    }
    Ok(body)
}

/// The message in `random ‖ length ‖ message ‖ app id`.
fn open_body(body: &[u8], app_id: &str) -> Result<String, CryptoError> {
    let rest = body.get(RANDOM_LEN..).ok_or(CryptoError::Content)?;
    let (length, rest) = rest.split_first_chunk::<4>().ok_or(CryptoError::Content)?;
    let length = usize::try_from(u32::from_be_bytes(*length)).map_err(|_| CryptoError::Content)?;
    if length > rest.len() {
        return Err(CryptoError::Content);
    }
    let (message, sender) = rest.split_at(length);
    if sender != app_id.as_bytes() {
        return Err(CryptoError::Content);
    }
    String::from_utf8(message.to_vec()).map_err(|_| CryptoError::Content)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    #[test]
    fn signatures_match_values_computed_elsewhere() {
        // sha1("1409304348" + "nonce123" + "token") with Python's hashlib.
        assert_eq!(
            signature(&["token", "1409304348", "nonce123"]),
            "e22481cb3e0b6503c7011fea6890b053c85dd7c8"
        );
    }

    #[test]
    fn matching_is_exact_but_case_blind() {
        let good = signature(&["t", "1", "n"]);
        assert!(signature_matches(&good, &["n", "t", "1"]));
        assert!(signature_matches(&good.to_uppercase(), &["t", "1", "n"]));
        assert!(!signature_matches(&good[..39], &["t", "1", "n"]));
        assert!(!signature_matches(&good, &["t", "2", "n"]));
    }

    #[test]
    fn padding_fills_to_thirty_two_and_is_checked() {
        for len in [0, 1, 16, 31, 32, 33] {
            let mut data = vec![7_u8; len];
            pad(&mut data);
            assert_eq!(data.len() % 32, 0);
            assert!(data.len() > len);
            assert_eq!(unpad(&data).unwrap(), vec![7_u8; len].as_slice());
        }
        assert_eq!(unpad(&[1, 2, 0]), Err(CryptoError::Padding));
        assert_eq!(unpad(&[1, 2, 33]), Err(CryptoError::Padding));
        assert_eq!(unpad(&[1, 3, 2]), Err(CryptoError::Padding));
    }

    #[test]
    fn messages_for_another_account_or_tampered_are_refused() {
        let key = AesKey::parse(KEY).unwrap();
        let sealed = key.encrypt("hello", "wx-one");
        assert_eq!(key.decrypt(&sealed, "wx-two"), Err(CryptoError::Content));
        assert_eq!(
            key.decrypt("not base64!", "wx-one"),
            Err(CryptoError::Malformed)
        );
        assert_eq!(
            key.decrypt(&sealed[..20], "wx-one"),
            Err(CryptoError::Malformed)
        );
        assert!(AesKey::parse("short").is_err());
        assert!(AesKey::parse(&"!".repeat(43)).is_err());
    }
}
