//! Multi-tenancy for tower services.
#![warn(missing_docs)]
