//! Which permission each route requires.

use std::collections::HashMap;

use http::Method;

use super::Permission;

/// Maps a request's method and matched route template (such as `/api/users/{id}`, not the
/// raw path) to the permission it requires. A route that is not in the table is refused:
/// deny by default.
///
/// ```
/// use http::Method;
/// use hydronet_tenancy::rbac::{Permission, RoutePermissions};
///
/// let routes = RoutePermissions::new()
///     .route(Method::GET, "/api/tenant/info", Permission::TenantRead)
///     .route(Method::PUT, "/api/tenant/users/{id}/roles", Permission::UsersManage);
/// assert_eq!(routes.required(&Method::GET, "/api/tenant/info"), Some(Permission::TenantRead));
/// assert_eq!(routes.required(&Method::HEAD, "/api/tenant/info"), Some(Permission::TenantRead));
/// assert_eq!(routes.required(&Method::DELETE, "/api/tenant/info"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct RoutePermissions {
    routes: HashMap<Box<str>, Vec<(Method, Permission)>>,
}

impl RoutePermissions {
    /// An empty table: every route is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `permission` for `method` on the route `template`.
    pub fn route(mut self, method: Method, template: &str, permission: Permission) -> Self {
        self.insert(method, template, permission);
        self
    }

    /// As [`RoutePermissions::route`], in place.
    pub fn insert(&mut self, method: Method, template: &str, permission: Permission) {
        let methods = self.routes.entry(template.into()).or_default();
        methods.retain(|(m, _)| *m != method);
        methods.push((method, permission));
    }

    /// The permission `method` on `template` requires, if the route is known. `HEAD` is
    /// treated as `GET`. Does not allocate.
    pub fn required(&self, method: &Method, template: &str) -> Option<Permission> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.routes
            .get(template)?
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, permission)| *permission)
    }

    /// Every entry, for listings and tests.
    pub fn entries(&self) -> impl Iterator<Item = (&Method, &str, Permission)> {
        self.routes
            .iter()
            .flat_map(|(template, methods)| methods.iter().map(move |(m, p)| (m, &**template, *p)))
    }
}
