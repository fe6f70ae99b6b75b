//! Role-based access control with casbin: one domain per tenant, enforced by a tower layer.
//!
//! - [`Permission`]: the vocabulary, `resource:action` (`conversations:write`,
//!   `audit:read`, `users:manage`, …), and [`PermissionSet`], a bitset of them.
//! - [`BUILTIN_ROLES`]: `owner`, `admin`, `member`, `auditor` and `system_admin`, defined
//!   once as a template (casbin domain `*`) that applies in every tenant. Tenants add
//!   custom roles from the same vocabulary.
//! - [`Rbac`]: casbin's enforcer as the source of truth, persisted through any casbin
//!   adapter (with the `sqlx` feature, [`SqlxAdapter`] over the application's own pool),
//!   compiled after every change into a snapshot that checks read without locks or I/O.
//! - [`AuthorizeLayer`]: maps each request's method and matched route template to a
//!   permission with [`RoutePermissions`] and enforces it for the [`TenantContext`] set by
//!   the [authentication layer](crate::auth). A route without a mapping is refused; a
//!   refusal is a `403` problem with code `forbidden`. The domain checked is always the
//!   credential's tenant.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use hydronet_core::{TenantId, UserId};
//! use hydronet_tenancy::rbac::{Permission, PermissionSet, Rbac};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let rbac = Rbac::new(casbin::MemoryAdapter::default()).await.unwrap();
//! let (tenant, user) = (TenantId::new(), UserId::new());
//!
//! rbac.set_roles(tenant, user, &["auditor".to_owned()]).await.unwrap();
//! assert!(rbac.allows(tenant, user, Permission::AuditRead));
//! assert!(!rbac.allows(tenant, user, Permission::ConversationsWrite));
//!
//! // A custom role of this tenant only.
//! let chat = PermissionSet::of(&[Permission::ConversationsRead, Permission::ConversationsWrite]);
//! rbac.put_custom_role(tenant, "analyst", chat).await.unwrap();
//! rbac.set_roles(tenant, user, &["auditor".to_owned(), "analyst".to_owned()]).await.unwrap();
//! assert!(rbac.allows(tenant, user, Permission::ConversationsWrite));
//!
//! // Roles held in one tenant mean nothing in another.
//! assert!(!rbac.allows(TenantId::new(), user, Permission::AuditRead));
//! # }
//! ```
//!
//! # Several instances
//!
//! Each instance compiles its own snapshot. After a change, publish a notification (for
//! example on Redis) and have every other instance call [`Rbac::reload`].
//!
//! [`TenantContext`]: hydronet_core::TenantContext

#[cfg(feature = "sqlx")]
mod adapter;
mod layer;
mod permission;
mod policy;
mod routes;
mod service;

#[cfg(feature = "sqlx")]
pub use adapter::SqlxAdapter;
pub use layer::AuthorizeLayer;
pub use permission::{
    BUILTIN_ROLES, BuiltinRole, Permission, PermissionSet, UnknownPermission, builtin_role,
};
pub use policy::{MODEL, Rbac, RbacError, RoleInfo, TEMPLATE_DOMAIN};
pub use routes::RoutePermissions;
pub use service::Authorize;
