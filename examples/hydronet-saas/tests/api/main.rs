//! Integration tests of the reference server, driven in-process.

mod helpers;

mod api_keys;
mod audit;
mod auth;
mod chat;
mod console;
mod counts;
mod docs;
mod errors;
mod gateway;
mod health;
mod isolation;
mod lifecycle;
mod limits;
mod mcp;
mod metrics;
mod postgres;
mod rbac;
mod tokens;
mod transactions;
mod usage;
mod users;
mod wechat;
