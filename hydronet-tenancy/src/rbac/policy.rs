//! The casbin-backed policy store and its lock-free compiled snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use casbin::{Adapter, CoreApi, DefaultModel, Enforcer, MgmtApi};
use hydronet_core::{TenantId, UserId};

use super::permission::{BUILTIN_ROLES, Permission, PermissionSet, builtin_role};

/// The casbin model: RBAC with domains, where the domain is the tenant. Built-in roles'
/// permissions are written once with the domain `*` and apply in every tenant; custom
/// roles' permissions are written with their tenant's id.
pub const MODEL: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && (p.dom == "*" || p.dom == r.dom) && r.obj == p.obj && r.act == p.act
"#;

/// The domain of the built-in roles' template policies.
pub const TEMPLATE_DOMAIN: &str = "*";

/// Why a policy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    /// casbin or its adapter failed (for example, the database is unreachable).
    #[error("policy store error: {0}")]
    Store(#[from] casbin::Error),
}

/// A role as seen by one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    /// The role's name.
    pub name: String,
    /// Whether it is built in (same for every tenant) or the tenant's own.
    pub builtin: bool,
    /// What it allows.
    pub permissions: PermissionSet,
}

#[derive(Debug, Default)]
struct Snapshot {
    template: HashMap<String, PermissionSet>,
    custom: HashMap<TenantId, HashMap<String, PermissionSet>>,
    users: HashMap<(TenantId, UserId), Grant>,
}

#[derive(Debug, Default)]
struct Grant {
    roles: Vec<String>,
    permissions: PermissionSet,
}

/// Role-based access control for every tenant at once.
///
/// casbin holds the model and the policies and persists every change through its adapter.
/// After each change the policies are compiled into an immutable snapshot — per user, the
/// union of their roles' permissions as one bitset — that is swapped in atomically. Checks
/// ([`Rbac::permissions`], [`Rbac::allows`]) read that snapshot: no lock, no I/O, no
/// allocation. Changes are serialised behind an async mutex that checks never touch.
pub struct Rbac {
    enforcer: tokio::sync::Mutex<Enforcer>,
    snapshot: ArcSwap<Snapshot>,
}

impl std::fmt::Debug for Rbac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot.load();
        f.debug_struct("Rbac")
            .field("tenants_with_custom_roles", &snapshot.custom.len())
            .field("users", &snapshot.users.len())
            .finish()
    }
}

fn subject(user: UserId) -> String {
    format!("u:{user}")
}

impl Rbac {
    /// Loads every policy through `adapter`, brings the built-in roles' template up to date
    /// (adding missing rules and removing stale ones), and compiles the first snapshot.
    pub async fn new(adapter: impl Adapter + 'static) -> Result<Self, RbacError> {
        let model = DefaultModel::from_str(MODEL).await?;
        let mut enforcer = Enforcer::new(model, adapter).await?;
        sync_template(&mut enforcer).await?;

        let snapshot = compile(&enforcer);
        Ok(Self {
            enforcer: tokio::sync::Mutex::new(enforcer),
            snapshot: ArcSwap::from_pointee(snapshot),
        })
    }

    /// Everything `user` may do in `tenant`. Lock-free.
    pub fn permissions(&self, tenant: TenantId, user: UserId) -> PermissionSet {
        self.snapshot
            .load()
            .users
            .get(&(tenant, user))
            .map_or(PermissionSet::EMPTY, |grant| grant.permissions)
    }

    /// Whether `user` may exercise `permission` in `tenant`. Lock-free.
    pub fn allows(&self, tenant: TenantId, user: UserId, permission: Permission) -> bool {
        self.permissions(tenant, user).contains(permission)
    }

    /// The roles `user` holds in `tenant`, sorted.
    pub fn roles_of(&self, tenant: TenantId, user: UserId) -> Vec<String> {
        self.snapshot
            .load()
            .users
            .get(&(tenant, user))
            .map_or_else(Vec::new, |grant| grant.roles.clone())
    }

    /// The users of `tenant` holding `role`.
    pub fn holders(&self, tenant: TenantId, role: &str) -> Vec<UserId> {
        let snapshot = self.snapshot.load();
        let mut users: Vec<UserId> = snapshot
            .users
            .iter()
            .filter(|((t, _), grant)| *t == tenant && grant.roles.iter().any(|r| r == role))
            .map(|((_, user), _)| *user)
            .collect();
        users.sort();
        users
    }

    /// The permissions of `role` in `tenant` (built in or custom), if it exists there.
    pub fn role(&self, tenant: TenantId, role: &str) -> Option<PermissionSet> {
        let snapshot = self.snapshot.load();
        let builtin = snapshot.template.get(role).copied();
        let custom = snapshot
            .custom
            .get(&tenant)
            .and_then(|roles| roles.get(role))
            .copied();
        match (builtin, custom) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or_default().union(b.unwrap_or_default())),
        }
    }

    /// The roles `tenant` can assign: the built-in ones, then its own, each by name.
    pub fn tenant_roles(&self, tenant: TenantId) -> Vec<RoleInfo> {
        let snapshot = self.snapshot.load();
        let builtin = BUILTIN_ROLES.iter().map(|role| RoleInfo {
            name: role.name.to_owned(),
            builtin: true,
            permissions: snapshot
                .template
                .get(role.name)
                .copied()
                .unwrap_or_default(),
        });
        let mut custom: Vec<RoleInfo> = snapshot
            .custom
            .get(&tenant)
            .into_iter()
            .flatten()
            .map(|(name, permissions)| RoleInfo {
                name: name.clone(),
                builtin: false,
                permissions: *permissions,
            })
            .collect();
        custom.sort_by(|a, b| a.name.cmp(&b.name));
        builtin.chain(custom).collect()
    }

    /// Gives `user` exactly `roles` in `tenant`, replacing what they had.
    pub async fn set_roles(
        &self,
        tenant: TenantId,
        user: UserId,
        roles: &[String],
    ) -> Result<(), RbacError> {
        let mut enforcer = self.enforcer.lock().await;
        let subject = subject(user);
        let domain = tenant.to_string();

        enforcer
            .remove_filtered_grouping_policy(
                0,
                vec![subject.clone(), String::new(), domain.clone()],
            )
            .await?;
        let rules: Vec<Vec<String>> = roles
            .iter()
            .map(|role| vec![subject.clone(), role.clone(), domain.clone()])
            .collect();
        if !rules.is_empty() {
            enforcer.add_grouping_policies(rules).await?;
        }

        self.recompile(&enforcer);
        Ok(())
    }

    /// Creates or replaces `tenant`'s custom role `name` with `permissions` (at least one).
    pub async fn put_custom_role(
        &self,
        tenant: TenantId,
        name: &str,
        permissions: PermissionSet,
    ) -> Result<(), RbacError> {
        debug_assert!(builtin_role(name).is_none() && !permissions.is_empty());
        let mut enforcer = self.enforcer.lock().await;
        let domain = tenant.to_string();

        enforcer
            .remove_filtered_policy(0, vec![name.to_owned(), domain.clone()])
            .await?;
        let rules: Vec<Vec<String>> = permissions
            .iter()
            .map(|p| {
                vec![
                    name.to_owned(),
                    domain.clone(),
                    p.resource().to_owned(),
                    p.action().to_owned(),
                ]
            })
            .collect();
        enforcer.add_policies(rules).await?;

        self.recompile(&enforcer);
        Ok(())
    }

    /// Deletes `tenant`'s custom role `name`; returns whether it existed.
    pub async fn delete_custom_role(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<bool, RbacError> {
        let mut enforcer = self.enforcer.lock().await;
        let removed = enforcer
            .remove_filtered_policy(0, vec![name.to_owned(), tenant.to_string()])
            .await?;
        self.recompile(&enforcer);
        Ok(removed)
    }

    /// Forgets every role of `user` in `tenant` (when the user is deleted).
    pub async fn remove_user(&self, tenant: TenantId, user: UserId) -> Result<(), RbacError> {
        self.set_roles(tenant, user, &[]).await
    }

    /// Reloads every policy from the adapter, for changes made by another instance.
    pub async fn reload(&self) -> Result<(), RbacError> {
        let mut enforcer = self.enforcer.lock().await;
        enforcer.load_policy().await?;
        self.recompile(&enforcer);
        Ok(())
    }

    /// Asks casbin itself (the model's matcher, not the compiled snapshot) whether `user`
    /// may exercise `permission` in `tenant`. Slow: for diagnostics and for verifying that
    /// the snapshot agrees with the model.
    pub async fn check_with_model(
        &self,
        tenant: TenantId,
        user: UserId,
        permission: Permission,
    ) -> Result<bool, RbacError> {
        let enforcer = self.enforcer.lock().await;
        let request = (
            subject(user),
            tenant.to_string(),
            permission.resource(),
            permission.action(),
        );
        Ok(enforcer.enforce(request)?)
    }

    fn recompile(&self, enforcer: &Enforcer) {
        self.snapshot.store(Arc::new(compile(enforcer)));
    }
}

/// Makes the template rules in the store match [`BUILTIN_ROLES`].
async fn sync_template(enforcer: &mut Enforcer) -> Result<(), casbin::Error> {
    let wanted: Vec<Vec<String>> = BUILTIN_ROLES
        .iter()
        .flat_map(|role| {
            role.permissions.iter().map(move |p| {
                vec![
                    role.name.to_owned(),
                    TEMPLATE_DOMAIN.to_owned(),
                    p.resource().to_owned(),
                    p.action().to_owned(),
                ]
            })
        })
        .collect();
    let present = enforcer.get_filtered_policy(1, vec![TEMPLATE_DOMAIN.to_owned()]);

    let stale: Vec<Vec<String>> = present
        .iter()
        .filter(|r| !wanted.contains(r))
        .cloned()
        .collect();
    let missing: Vec<Vec<String>> = wanted
        .into_iter()
        .filter(|r| !present.contains(r))
        .collect();
    if !stale.is_empty() {
        enforcer.remove_policies(stale).await?;
    }
    if !missing.is_empty() {
        enforcer.add_policies(missing).await?;
    }
    Ok(())
}

/// Compiles casbin's policies into per-user permission bitsets, mirroring [`MODEL`]'s
/// matcher: a user holds a role in a tenant (`g`), and a role allows a permission through
/// a template rule (`*`) or a rule of that tenant (`p`).
fn compile(enforcer: &Enforcer) -> Snapshot {
    let mut snapshot = Snapshot::default();

    for rule in enforcer.get_policy() {
        let [role, domain, resource, action] = rule.as_slice() else {
            continue;
        };
        let Some(permission) = Permission::from_parts(resource, action) else {
            continue;
        };
        let set = if domain == TEMPLATE_DOMAIN {
            snapshot.template.entry(role.clone()).or_default()
        } else {
            let Ok(tenant) = domain.parse() else { continue };
            snapshot
                .custom
                .entry(tenant)
                .or_default()
                .entry(role.clone())
                .or_default()
        };
        set.insert(permission);
    }

    for rule in enforcer.get_grouping_policy() {
        let [subject, role, domain] = rule.as_slice() else {
            continue;
        };
        let Some(user) = subject.strip_prefix("u:").and_then(|id| id.parse().ok()) else {
            continue;
        };
        let Ok(tenant) = domain.parse() else { continue };
        let grant = snapshot.users.entry((tenant, user)).or_default();
        grant.roles.push(role.clone());
    }

    for ((tenant, _), grant) in snapshot.users.iter_mut() {
        grant.roles.sort();
        grant.roles.dedup();
        for role in &grant.roles {
            let template = snapshot.template.get(role).copied().unwrap_or_default();
            let custom = snapshot
                .custom
                .get(tenant)
                .and_then(|roles| roles.get(role))
                .copied()
                .unwrap_or_default();
            grant.permissions = grant.permissions.union(template).union(custom);
        }
    }
    snapshot
}

#[cfg(test)]
mod tests {
    use casbin::MemoryAdapter;

    use super::*;

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[tokio::test]
    async fn built_in_roles_apply_in_every_tenant_without_copies() {
        let rbac = Rbac::new(MemoryAdapter::default()).await.unwrap();
        let (a, b, user) = (TenantId::new(), TenantId::new(), UserId::new());
        rbac.set_roles(a, user, &roles(&["member"])).await.unwrap();
        rbac.set_roles(b, user, &roles(&["auditor"])).await.unwrap();

        assert!(rbac.allows(a, user, Permission::ConversationsWrite));
        assert!(!rbac.allows(a, user, Permission::AuditRead));
        assert!(rbac.allows(b, user, Permission::AuditRead));
        assert!(!rbac.allows(b, user, Permission::ConversationsWrite));

        // The template is stored once, under the domain `*`, whatever the number of tenants.
        let enforcer = rbac.enforcer.lock().await;
        let rules = enforcer.get_policy();
        assert!(rules.iter().all(|rule| rule[1] == TEMPLATE_DOMAIN));
        let expected: usize = BUILTIN_ROLES
            .iter()
            .map(|r| r.permissions.iter().count())
            .sum();
        assert_eq!(rules.len(), expected);
    }

    #[tokio::test]
    async fn custom_roles_belong_to_one_tenant() {
        let rbac = Rbac::new(MemoryAdapter::default()).await.unwrap();
        let (a, b, user) = (TenantId::new(), TenantId::new(), UserId::new());
        let set = PermissionSet::of(&[Permission::UsageRead]);
        rbac.put_custom_role(a, "reporter", set).await.unwrap();
        rbac.set_roles(a, user, &roles(&["reporter"]))
            .await
            .unwrap();
        rbac.set_roles(b, user, &roles(&["reporter"]))
            .await
            .unwrap();

        assert!(rbac.allows(a, user, Permission::UsageRead));
        assert!(!rbac.allows(b, user, Permission::UsageRead));
        assert_eq!(rbac.role(a, "reporter"), Some(set));
        assert_eq!(rbac.role(b, "reporter"), None);
        let names: Vec<String> = rbac.tenant_roles(a).into_iter().map(|r| r.name).collect();
        assert!(names.contains(&"reporter".to_owned()) && names.contains(&"owner".to_owned()));

        assert!(rbac.delete_custom_role(a, "reporter").await.unwrap());
        assert!(!rbac.allows(a, user, Permission::UsageRead));
    }

    #[tokio::test]
    async fn replacing_roles_takes_effect_at_once() {
        let rbac = Rbac::new(MemoryAdapter::default()).await.unwrap();
        let (tenant, user) = (TenantId::new(), UserId::new());
        rbac.set_roles(tenant, user, &roles(&["admin"]))
            .await
            .unwrap();
        assert!(rbac.allows(tenant, user, Permission::UsersManage));
        assert_eq!(rbac.holders(tenant, "admin"), vec![user]);

        rbac.set_roles(tenant, user, &roles(&["member"]))
            .await
            .unwrap();
        assert!(!rbac.allows(tenant, user, Permission::UsersManage));
        assert_eq!(rbac.roles_of(tenant, user), ["member"]);
        assert!(rbac.holders(tenant, "admin").is_empty());
    }

    /// The compiled snapshot must decide exactly as casbin's own matcher does.
    #[tokio::test]
    async fn snapshot_agrees_with_the_casbin_model() {
        let rbac = Rbac::new(MemoryAdapter::default()).await.unwrap();
        let tenants = [TenantId::new(), TenantId::new(), TenantId::new()];
        let users = [UserId::new(), UserId::new(), UserId::new(), UserId::new()];
        let custom = PermissionSet::of(&[Permission::McpManage, Permission::AuditRead]);
        rbac.put_custom_role(tenants[1], "toolsmith", custom)
            .await
            .unwrap();

        let assignments: [&[&str]; 4] = [&["owner"], &["member", "toolsmith"], &["auditor"], &[]];
        for (i, user) in users.iter().enumerate() {
            for (j, tenant) in tenants.iter().enumerate() {
                let held = assignments[(i + j) % assignments.len()];
                rbac.set_roles(*tenant, *user, &roles(held)).await.unwrap();
            }
        }

        let mut checked = 0;
        for tenant in tenants {
            for user in users {
                for &permission in Permission::ALL {
                    let fast = rbac.allows(tenant, user, permission);
                    let model = rbac
                        .check_with_model(tenant, user, permission)
                        .await
                        .unwrap();
                    assert_eq!(fast, model, "{tenant} {user} {permission}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 3 * 4 * Permission::ALL.len());
    }

    #[tokio::test]
    async fn stale_template_rules_are_replaced_on_start() {
        let mut adapter = MemoryAdapter::default();
        let stale = vec![
            "member".into(),
            TEMPLATE_DOMAIN.into(),
            "admin".into(),
            "manage".into(),
        ];
        casbin::Adapter::add_policy(&mut adapter, "p", "p", stale)
            .await
            .unwrap();

        let rbac = Rbac::new(adapter).await.unwrap();
        let (tenant, user) = (TenantId::new(), UserId::new());
        rbac.set_roles(tenant, user, &roles(&["member"]))
            .await
            .unwrap();

        assert!(!rbac.allows(tenant, user, Permission::AdminManage));
        assert!(rbac.allows(tenant, user, Permission::ConversationsRead));
    }
}
