//! The WeChat official-account channel: a tenant's followers chat with its assistant.
//!
//! WeChat calls `/wechat/{tenant}` (see [`crate::routes::wechat`]): `GET` once to check
//! the URL, `POST` for each message. Every call is signed with the account's token
//! ([`crypto`]); messages arrive as flat XML ([`xml`]), plain or encrypted. Each WeChat
//! user (an `openid`) gets one conversation of the tenant, owned by the tenant's WeChat
//! service user ([`store`]), so the assistant keeps their history. WeChat waits five
//! seconds for an answer and retries otherwise: deliveries are claimed once, and an
//! answer that takes longer is sent afterwards through the customer-service API
//! ([`api`]).
//!
//! # Where an account comes from
//!
//! A tenant configures its own account with `PUT /api/tenant/wechat`; its secrets are
//! sealed at rest ([`crate::sealed`]). The original single-tenant deployment's
//! `WECHAT_APP_ID`, `WECHAT_TOKEN`, `WECHAT_APP_SECRET` (and `WECHAT_ENCODING_AES_KEY`)
//! are kept as the account of the tenant named by `HYDRONET_WECHAT_TENANT`, until that
//! tenant saves settings of its own. `WECHAT_ENABLED=false` switches the whole channel
//! off.

pub mod account;
pub mod api;
pub mod crypto;
pub mod store;
pub mod xml;
