//! Passwords: policy, hashing and verification.
//!
//! A [`PasswordPolicy`] turns user input into a [`Password`]; a [`PasswordHasher`] hashes it
//! with Argon2id and verifies it against a stored PHC string.
//!
//! # Example
//!
//! ```
//! use hydronet_tenancy::password::{HashParams, PasswordHasher, PasswordPolicy, Verification};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = PasswordPolicy::new();
//!
//! // Sign-up: the whole policy applies.
//! let password = policy.check_new("correct horse battery staple", "ada@example.com")?;
//!
//! // Small parameters keep the example fast; `PasswordHasher::new` uses the OWASP ones.
//! let params = HashParams { memory_kib: 1024, iterations: 1, parallelism: 1 };
//! let hasher = PasswordHasher::with_params(params, 4);
//! let stored = hasher.hash(&password).await?;
//!
//! // Login: only the length limit applies before verifying.
//! let attempt = policy.check_candidate("correct horse battery staple")?;
//! let outcome = hasher.verify(&attempt, &stored).await?;
//! assert_eq!(outcome, Verification::Valid { needs_rehash: false });
//! # Ok(())
//! # }
//! ```
//!
//! # New passwords and login attempts
//!
//! [`PasswordPolicy::check_new`] applies every rule: a length between 8 and 128 characters by
//! default, not the account's email, not on the bundled list of common passwords.
//! [`PasswordPolicy::check_candidate`] only refuses an over-long input, so that a login attempt
//! is never refused for a rule that was introduced after the password was set, and a huge input
//! is never hashed. Rejections ([`PasswordRejection`]) carry user-facing messages.
//!
//! # A login, step by step
//!
//! 1. `check_candidate` the input; a rejection is a failed login.
//! 2. Look the account up. When there is none, await [`PasswordHasher::verify_dummy`] and fail
//!    the login: the response then takes as long as for a wrong password.
//! 3. [`PasswordHasher::verify`] against the stored hash. On
//!    `Verification::Valid { needs_rehash: true }`, store a fresh [`PasswordHasher::hash`]: the
//!    parameters have changed since the password was set.
//!
//! # Concurrency
//!
//! Argon2 is deliberately slow and memory-hungry. Each computation runs on tokio's blocking
//! pool, and a semaphore lets at most `max_concurrent` of them run at once (memory use peaks at
//! `max_concurrent × memory_kib`). Extra requests wait for a permit rather than piling up
//! threads.
//!
//! # Common passwords
//!
//! The list holds the entries of 8 characters or more from the password frequency list shipped
//! by the `zxcvbn` Python package (MIT License), lowercased, about 11,600 of them. It is parsed
//! on first use.

mod hasher;
mod policy;

pub use hasher::{HashParams, PasswordError, PasswordHasher, Verification};
pub use policy::{Password, PasswordPolicy, PasswordRejection};
