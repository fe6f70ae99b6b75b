//! The permission vocabulary and the built-in roles.

use std::fmt;
use std::str::FromStr;

use hydronet_core::ScopeMask;

macro_rules! permissions {
    ($($variant:ident = $name:literal : $doc:literal,)*) => {
        /// One thing a role may allow: a resource and an action, written `resource:action`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Permission {
            $(#[doc = $doc] $variant,)*
        }

        impl Permission {
            /// Every permission, in a stable order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            /// The `resource:action` name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)*
                }
            }
        }

        impl FromStr for Permission {
            type Err = UnknownPermission;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Permission::$variant),)*
                    _ => Err(UnknownPermission),
                }
            }
        }
    };
}

permissions! {
    ProfileRead = "profile:read": "Read one's own account.",
    ProfileWrite = "profile:write": "Change one's own password, end one's own session.",
    TenantRead = "tenant:read": "Read the tenant's details.",
    TenantManage = "tenant:manage": "Change the tenant's settings.",
    UsersRead = "users:read": "List the tenant's users.",
    UsersManage = "users:manage": "Create, disable and delete users and assign their roles.",
    RolesRead = "roles:read": "List roles and their permissions.",
    RolesManage = "roles:manage": "Create, change and delete custom roles.",
    ConversationsRead = "conversations:read": "Read one's conversations.",
    ConversationsWrite = "conversations:write": "Chat: create conversations and send messages.",
    AuditRead = "audit:read": "Read the tenant's audit log.",
    UsageRead = "usage:read": "Read the tenant's usage.",
    McpRead = "mcp:read": "List the tenant's MCP tool servers.",
    McpManage = "mcp:manage": "Register and configure MCP tool servers.",
    ApiKeysManage = "api_keys:manage": "Create and revoke API keys.",
    AdminManage = "admin:manage": "The system administration API, across tenants.",
}

impl Permission {
    /// The resource part of the name.
    pub fn resource(self) -> &'static str {
        self.as_str().split_once(':').map_or("", |(r, _)| r)
    }

    /// The action part of the name.
    pub fn action(self) -> &'static str {
        self.as_str().split_once(':').map_or("", |(_, a)| a)
    }

    /// The permission named by a resource and an action.
    pub fn from_parts(resource: &str, action: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.resource() == resource && p.action() == action)
    }

    const fn bit(self) -> u64 {
        1 << (self as u8)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned for a name outside the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission")]
pub struct UnknownPermission;

/// A set of permissions, one bit each: checking one is a single AND.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u64);

impl PermissionSet {
    /// No permission.
    pub const EMPTY: PermissionSet = PermissionSet(0);

    /// A set holding `permissions`.
    pub const fn of(permissions: &[Permission]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < permissions.len() {
            bits |= permissions[i].bit();
            i += 1;
        }
        Self(bits)
    }

    /// Whether `permission` is in the set.
    pub const fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Adds `permission`.
    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    /// Both sets together.
    pub const fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }

    /// Whether every permission of `self` is also in `other`.
    pub const fn is_subset(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions in the set, in [`Permission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The names of the permissions in the set.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }
}

impl From<ScopeMask> for PermissionSet {
    fn from(scope: ScopeMask) -> Self {
        PermissionSet(scope.0)
    }
}

impl From<PermissionSet> for ScopeMask {
    fn from(set: PermissionSet) -> Self {
        ScopeMask(set.0)
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = PermissionSet::EMPTY;
        for permission in iter {
            set.insert(permission);
        }
        set
    }
}

/// A role every tenant has, with permissions defined once for all tenants.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinRole {
    /// The role's name.
    pub name: &'static str,
    /// What the role is for.
    pub description: &'static str,
    /// What it allows.
    pub permissions: PermissionSet,
}

use Permission::*;

const SELF_SERVICE: [Permission; 3] = [ProfileRead, ProfileWrite, TenantRead];

/// Everything inside a tenant. Owners and admins differ only in who may make owners.
const TENANT_ADMINISTRATION: PermissionSet = PermissionSet::of(&[
    ProfileRead,
    ProfileWrite,
    TenantRead,
    TenantManage,
    UsersRead,
    UsersManage,
    RolesRead,
    RolesManage,
    ConversationsRead,
    ConversationsWrite,
    AuditRead,
    UsageRead,
    McpRead,
    McpManage,
    ApiKeysManage,
]);

/// The built-in roles. `system_admin` is assigned only in the operator's own tenant and is
/// the only role with [`Permission::AdminManage`].
pub const BUILTIN_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        name: "owner",
        description: "Everything inside the tenant, including managing other owners.",
        permissions: TENANT_ADMINISTRATION,
    },
    BuiltinRole {
        name: "admin",
        description: "Administers users, roles, tools and keys; cannot make or unmake owners.",
        permissions: TENANT_ADMINISTRATION,
    },
    BuiltinRole {
        name: "member",
        description: "Uses the assistant.",
        permissions: PermissionSet::of(&[
            SELF_SERVICE[0],
            SELF_SERVICE[1],
            SELF_SERVICE[2],
            ConversationsRead,
            ConversationsWrite,
            McpRead,
        ]),
    },
    BuiltinRole {
        name: "auditor",
        description: "Reads the audit log and usage; changes nothing.",
        permissions: PermissionSet::of(&[
            SELF_SERVICE[0],
            SELF_SERVICE[1],
            SELF_SERVICE[2],
            AuditRead,
            UsageRead,
        ]),
    },
    BuiltinRole {
        name: "system_admin",
        description: "Operates the service: the admin API and audit logs across every tenant.",
        permissions: PermissionSet::of(&[
            SELF_SERVICE[0],
            SELF_SERVICE[1],
            SELF_SERVICE[2],
            AuditRead,
            AdminManage,
        ]),
    },
];

/// The built-in role called `name`.
pub fn builtin_role(name: &str) -> Option<&'static BuiltinRole> {
    BUILTIN_ROLES.iter().find(|role| role.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_split() {
        for &permission in Permission::ALL {
            assert_eq!(permission.as_str().parse::<Permission>(), Ok(permission));
            let (resource, action) = (permission.resource(), permission.action());
            assert_eq!(Permission::from_parts(resource, action), Some(permission));
        }
        assert_eq!("users:fly".parse::<Permission>(), Err(UnknownPermission));
        assert!(Permission::ALL.len() <= 64);
    }

    #[test]
    fn sets_behave_like_sets() {
        let small = PermissionSet::of(&[AuditRead]);
        let big = PermissionSet::of(&[AuditRead, UsageRead]);
        assert!(small.is_subset(big));
        assert!(!big.is_subset(small));
        assert!(PermissionSet::EMPTY.is_subset(small));
        assert_eq!(small.union(PermissionSet::of(&[UsageRead])), big);
        assert_eq!(big.names(), ["audit:read", "usage:read"]);
        assert_eq!(big.iter().collect::<PermissionSet>(), big);
    }

    #[test]
    fn only_system_admin_administers_the_service() {
        for role in BUILTIN_ROLES {
            assert_eq!(
                role.permissions.contains(AdminManage),
                role.name == "system_admin",
                "{}",
                role.name
            );
        }
        let auditor = builtin_role("auditor").unwrap();
        assert!(!auditor.permissions.contains(ConversationsWrite));
        assert!(auditor.permissions.contains(AuditRead));
    }
}
