//! The HydroNet LLM client.
#![warn(missing_docs)]
