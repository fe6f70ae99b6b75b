//! The password policy and the [`Password`] newtype it produces.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// The bundled list of common passwords, one a line, `#` lines are comments.
const COMMON_PASSWORDS_FILE: &str = include_str!("common-passwords.txt");

/// The common-password list, parsed on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS_FILE
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// A password that passed a [`PasswordPolicy`] check.
///
/// Built by [`PasswordPolicy::check_new`] (a new password that meets the whole policy) or
/// [`PasswordPolicy::check_candidate`] (a login attempt, only bounded in length). Its `Debug`
/// output is `Password(***)`; it has no `Display` and no `Serialize`, so it cannot end up in a
/// log line or a response by accident.
pub struct Password(pub(super) String);

impl Password {
    /// The password's text, for hashing or verifying it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Why a password was refused by a [`PasswordPolicy`].
///
/// The `Display` messages are lowercase reasons meant to be shown to the user after a field name,
/// e.g. "password must be at least 8 characters".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    /// Fewer Unicode scalar values than the policy's minimum.
    #[error("must be at least {min} characters")]
    TooShort {
        /// The policy's minimum length, in characters.
        min: usize,
    },

    /// More Unicode scalar values than the policy's maximum.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The policy's maximum length, in characters.
        max: usize,
    },

    /// The password equals the account's email address (ignoring case and outer whitespace).
    #[error("must not be the same as the email address")]
    SameAsEmail,

    /// The password is on the list of commonly used passwords (ignoring case).
    #[error("is too common; choose a less guessable password")]
    Common,
}

/// The rules a password must meet.
///
/// Lengths are counted in Unicode scalar values (`char`s), not bytes.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    min_chars: usize,
    max_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 8,
            max_chars: 128,
        }
    }
}

impl PasswordPolicy {
    /// A policy with the default limits: 8 to 128 characters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the minimum length in characters of a new password.
    ///
    /// Defaults to 8. The common-password list only holds entries of 8 characters or more, so a
    /// lower minimum lets shorter common passwords through.
    pub fn min_chars(mut self, n: usize) -> Self {
        self.min_chars = n;
        self
    }

    /// Sets the maximum length in characters of a new password and of a login attempt.
    ///
    /// Defaults to 128. The bound keeps hashing cost predictable and lets an oversized input be
    /// refused before any work is done on it.
    pub fn max_chars(mut self, n: usize) -> Self {
        self.max_chars = n;
        self
    }

    /// Checks a new password (sign-up, change or reset) against the whole policy.
    ///
    /// The checks run in this order, and the first failure is returned: the maximum length
    /// (refusing a huge input before any other work), the minimum length, equality with `email`
    /// (ignoring case and outer whitespace), then the common-password list (ignoring case).
    ///
    /// # Errors
    ///
    /// The [`PasswordRejection`] for the first rule the candidate breaks.
    pub fn check_new(&self, candidate: &str, email: &str) -> Result<Password, PasswordRejection> {
        let chars = self.check_max(candidate)?;

        if chars < self.min_chars {
            return Err(PasswordRejection::TooShort {
                min: self.min_chars,
            });
        }

        if same_as_email(candidate, email) {
            return Err(PasswordRejection::SameAsEmail);
        }

        if is_common(candidate) {
            return Err(PasswordRejection::Common);
        }

        Ok(Password(candidate.to_owned()))
    }

    /// Checks a login attempt: only the maximum length, so an oversized input is refused before
    /// it is hashed. Anything else is accepted as a candidate for verification.
    ///
    /// # Errors
    ///
    /// [`PasswordRejection::TooLong`] when the candidate exceeds the maximum length.
    pub fn check_candidate(&self, candidate: &str) -> Result<Password, PasswordRejection> {
        self.check_max(candidate)?;

        Ok(Password(candidate.to_owned()))
    }

    /// Refuses a candidate longer than `max_chars`, returning its length in chars otherwise.
    fn check_max(&self, candidate: &str) -> Result<usize, PasswordRejection> {
        let too_long = PasswordRejection::TooLong {
            max: self.max_chars,
        };

        // A char is at most 4 bytes, so this refuses a huge input without scanning it.
        if candidate.len() > self.max_chars.saturating_mul(4) {
            return Err(too_long);
        }

        let chars = candidate.chars().count();
        if chars > self.max_chars {
            return Err(too_long);
        }

        Ok(chars)
    }
}

/// Whether the candidate equals the email, ignoring case and outer whitespace.
fn same_as_email(candidate: &str, email: &str) -> bool {
    let email = email.trim();
    if email.is_empty() {
        return false;
    }

    lowercase(candidate.trim()).eq(lowercase(email))
}

/// The chars of `s`, lowercased, without allocating.
fn lowercase(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// Whether the candidate is on the common-password list, ignoring case.
fn is_common(candidate: &str) -> bool {
    COMMON_PASSWORDS.contains(candidate.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(candidate: &str) -> Result<Password, PasswordRejection> {
        PasswordPolicy::new().check_new(candidate, "ada@example.com")
    }

    #[test]
    fn length_limits_are_inclusive() {
        assert_eq!(
            check("Xk9#qLm").unwrap_err(),
            PasswordRejection::TooShort { min: 8 }
        );
        assert!(check("Xk9#qLmz").is_ok());

        let longest = "Xk9#".repeat(32);
        assert_eq!(longest.chars().count(), 128);
        assert!(check(&longest).is_ok());

        let too_long = format!("{longest}z");
        assert_eq!(
            check(&too_long).unwrap_err(),
            PasswordRejection::TooLong { max: 128 }
        );
    }

    #[test]
    fn huge_input_is_refused_as_too_long_without_scanning() {
        let huge = "a".repeat(1024 * 1024);

        let rejection = check(&huge).unwrap_err();

        assert_eq!(rejection, PasswordRejection::TooLong { max: 128 });
        assert_eq!(
            PasswordPolicy::new().check_candidate(&huge).unwrap_err(),
            PasswordRejection::TooLong { max: 128 }
        );
    }

    #[test]
    fn multibyte_characters_count_as_one() {
        // Eight 4-byte chars: 32 bytes, but only 8 characters.
        let eight = "🦀🔑🌊🧪🎲🛰🪐🧭";
        assert_eq!(eight.chars().count(), 8);
        assert!(check(eight).is_ok());

        let seven: String = eight.chars().take(7).collect();
        assert_eq!(
            check(&seven).unwrap_err(),
            PasswordRejection::TooShort { min: 8 }
        );

        // 128 four-byte chars are exactly at the byte pre-check's bound and must pass it.
        let policy = PasswordPolicy::new();
        assert!(policy.check_candidate(&"🦀".repeat(128)).is_ok());
        assert_eq!(
            policy.check_candidate(&"🦀".repeat(129)).unwrap_err(),
            PasswordRejection::TooLong { max: 128 }
        );
    }

    #[test]
    fn same_as_email_ignores_case_and_outer_whitespace() {
        let policy = PasswordPolicy::new();

        let rejection = policy
            .check_new(" Ada.Lovelace@Example.COM ", "ada.lovelace@example.com")
            .unwrap_err();
        assert_eq!(rejection, PasswordRejection::SameAsEmail);

        let rejection = policy
            .check_new("ada.lovelace@example.com", "  ADA.LOVELACE@EXAMPLE.COM")
            .unwrap_err();
        assert_eq!(rejection, PasswordRejection::SameAsEmail);

        assert!(policy.check_new("Xk9#qLmzT2", "").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_ignoring_case() {
        for common in ["password123", "qwertyuiop", "PassWord123", "QWERTYUIOP"] {
            assert_eq!(
                check(common).unwrap_err(),
                PasswordRejection::Common,
                "{common}"
            );
        }
    }

    #[test]
    fn common_list_is_loaded_without_comments() {
        assert!(COMMON_PASSWORDS.len() > 5_000);
        assert!(COMMON_PASSWORDS.iter().all(|p| !p.starts_with('#')));
        assert!(COMMON_PASSWORDS.iter().all(|p| p.chars().count() >= 8));
        assert!(COMMON_PASSWORDS.contains("baseball"));
    }

    #[test]
    fn strong_password_is_accepted_and_kept_verbatim() {
        let password = check(" vN7$pQ2!xR4wz ").unwrap();

        assert_eq!(password.expose(), " vN7$pQ2!xR4wz ");
    }

    #[test]
    fn login_candidate_skips_all_but_the_length_limit() {
        let policy = PasswordPolicy::new();

        assert!(policy.check_candidate("short").is_ok());
        assert!(policy.check_candidate("password123").is_ok());
        assert_eq!(
            policy.check_candidate(&"a".repeat(129)).unwrap_err(),
            PasswordRejection::TooLong { max: 128 }
        );
    }

    #[test]
    fn custom_limits_apply() {
        let policy = PasswordPolicy::new().min_chars(12).max_chars(16);

        assert_eq!(
            policy.check_new("Xk9#qLmzT2a", "").unwrap_err(),
            PasswordRejection::TooShort { min: 12 }
        );
        assert_eq!(
            policy.check_new("Xk9#qLmzT2abcdefg", "").unwrap_err(),
            PasswordRejection::TooLong { max: 16 }
        );
        assert!(policy.check_new("Xk9#qLmzT2ab", "").is_ok());
    }

    #[test]
    fn debug_hides_the_password() {
        let password = check("vN7$pQ2!xR4wz").unwrap();

        assert_eq!(format!("{password:?}"), "Password(***)");
    }

    #[test]
    fn rejection_messages_are_user_facing() {
        assert_eq!(
            PasswordRejection::TooShort { min: 8 }.to_string(),
            "must be at least 8 characters"
        );
        assert_eq!(
            PasswordRejection::TooLong { max: 128 }.to_string(),
            "must be at most 128 characters"
        );
        assert_eq!(
            PasswordRejection::SameAsEmail.to_string(),
            "must not be the same as the email address"
        );
        assert_eq!(
            PasswordRejection::Common.to_string(),
            "is too common; choose a less guessable password"
        );
    }
}
