//! Integration tests of the reference server, driven in-process.

mod helpers;

mod audit;
mod auth;
mod chat;
mod counts;
mod errors;
mod gateway;
mod health;
mod isolation;
mod limits;
mod metrics;
mod postgres;
mod rbac;
mod tokens;
mod usage;
mod users;
