//! Multi-tenancy for tower services.
#![warn(missing_docs)]

pub mod auth;
pub mod password;
pub mod revocation;
pub mod throttle;
pub mod token;
