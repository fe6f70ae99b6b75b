//! The HydroNet reference SaaS server, assembled from the HydroNet library crates.
//!
//! `main.rs` only parses the command line; everything it runs lives here so integration
//! tests can build the same [`router`](app::router) in-process.

pub mod api_keys;
pub mod app;
pub mod backup;
pub mod body;
pub mod charge;
pub mod chat_store;
pub mod cli;
pub mod config;
pub mod cookie;
pub mod counts;
pub mod db;
pub mod domain;
pub mod error;
pub mod export;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod models;
pub mod openapi;
pub mod proxies;
pub mod routes;
pub mod sealed;
pub mod state;
pub mod store;
pub mod usage;
pub mod wechat;
