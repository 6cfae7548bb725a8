//! Who is calling, and what their console role allows.
//!
//! Every service method takes an [`Actor`] and checks the permission it needs
//! with [`Actor::require`] before touching storage, so a server function
//! called directly over HTTP obeys the same rules as the UI.

use crate::error::{Error, Result};
use portcullis_types::{
    ActorType, ApiKeyId, ConsoleUserId, DirectoryId, GatewayId, PersonId, Role,
};

/// Where a request came from, recorded with every audit event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// The caller of a service method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorType,
    /// Console user id, directory id, …; `None` for anonymous callers.
    pub id: Option<String>,
    /// Name shown in the audit log (an email for console users).
    pub display: String,
    /// Console role, for console users.
    pub role: Option<Role>,
    /// The hash of the caller's session id, for console users.
    pub session: Option<String>,
    pub meta: RequestMeta,
}

/// What a console role may do. Checked in services, never in adapters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// See the console's pages (every role).
    ConsoleRead,
    /// Read the audit log (every role; auditors exist for this).
    AuditRead,
    /// Invite, change, disable console admins (owners only).
    AdminsManage,
    /// Read the list of console admins: owners, and API keys of any role
    /// (an owner minted the key; access reviews read who administers the
    /// console without an owner's session).
    AdminsRead,
    /// See directories, their users and groups (every role).
    DirectoryRead,
    /// Create directories and their SCIM tokens (owners and admins).
    DirectoryManage,
    /// Register MCP servers, run discovery, review tools (owners and admins).
    CatalogManage,
    /// Create and revoke grants, roll back revisions (owners and admins).
    AccessManage,
    /// Create and change SSO connections (owners and admins; mapping a group
    /// to the owner role also needs `AdminsManage`).
    SsoManage,
    /// Create, approve, block and revoke OAuth clients and set the client
    /// policy (owners and admins).
    ClientsManage,
    /// Register agents, rotate their secrets, use their kill switch
    /// (owners and admins).
    AgentsManage,
    /// Place and lift the audit log's legal hold and manage where it is
    /// streamed (owners only: lifting a hold lets retention delete
    /// evidence; a stream sends the whole log elsewhere).
    AuditManage,
    /// Reveal an audit event's masked details (owners only; each reveal is
    /// audited).
    AuditReveal,
    /// Erase a person's personal data from the audit log (owners only).
    AuditErase,
}

impl Permission {
    fn allows(self, role: Role) -> bool {
        match self {
            Permission::ConsoleRead | Permission::AuditRead | Permission::DirectoryRead => true,
            Permission::AdminsManage
            | Permission::AdminsRead
            | Permission::AuditManage
            | Permission::AuditReveal
            | Permission::AuditErase => role == Role::Owner,
            Permission::DirectoryManage
            | Permission::CatalogManage
            | Permission::AccessManage
            | Permission::SsoManage
            | Permission::ClientsManage
            | Permission::AgentsManage => role >= Role::Admin,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Permission::ConsoleRead => "view the console",
            Permission::AuditRead => "read the audit log",
            Permission::AdminsManage => "manage console admins (owners only)",
            Permission::AdminsRead => "list console admins (owners only)",
            Permission::DirectoryRead => "view directories",
            Permission::DirectoryManage => "manage directories and SCIM tokens",
            Permission::CatalogManage => "change the catalog of MCP servers and tools",
            Permission::AccessManage => "change grants or roll back the access policy",
            Permission::SsoManage => "change single sign-on connections",
            Permission::ClientsManage => "manage OAuth clients and the client policy",
            Permission::AgentsManage => "manage agents and their credentials",
            Permission::AuditManage => {
                "manage the audit log's legal hold and streaming (owners only)"
            }
            Permission::AuditReveal => "reveal masked audit details (owners only)",
            Permission::AuditErase => {
                "erase a person's personal data from the audit log (owners only)"
            }
        }
    }
}

impl Actor {
    /// Someone not signed in.
    pub fn anonymous(meta: RequestMeta) -> Self {
        Self {
            kind: ActorType::Anonymous,
            id: None,
            display: "anonymous".to_owned(),
            role: None,
            session: None,
            meta,
        }
    }

    /// A directory person signed in for MCP clients, acting for themselves
    /// (My access). Has no console role.
    pub fn person(id: &PersonId, email: &str, meta: RequestMeta) -> Self {
        Self {
            kind: ActorType::Person,
            id: Some(id.to_string()),
            display: email.to_owned(),
            role: None,
            session: None,
            meta,
        }
    }

    /// A SCIM directory authenticated by one of its bearer tokens.
    pub fn directory(id: &DirectoryId, name: &str, meta: RequestMeta) -> Self {
        Self {
            kind: ActorType::Directory,
            id: Some(id.to_string()),
            display: format!("directory {name}"),
            role: None,
            session: None,
            meta,
        }
    }

    /// A console user just signed in (no session yet), as the audit actor.
    pub fn console_user(
        id: &ConsoleUserId,
        email: &str,
        role: Option<Role>,
        meta: RequestMeta,
    ) -> Self {
        Self {
            kind: ActorType::ConsoleUser,
            id: Some(id.to_string()),
            display: email.to_owned(),
            role,
            session: None,
            meta,
        }
    }

    /// A gateway authenticated by its credential.
    pub fn gateway(id: &GatewayId, name: &str, meta: RequestMeta) -> Self {
        Self {
            kind: ActorType::Gateway,
            id: Some(id.to_string()),
            display: format!("gateway {name}"),
            role: None,
            session: None,
            meta,
        }
    }

    /// An API key of the admin REST API, with its role (admin or auditor).
    pub fn api_key(id: &ApiKeyId, name: &str, role: Role, meta: RequestMeta) -> Self {
        Self {
            kind: ActorType::ApiKey,
            id: Some(id.to_string()),
            display: format!("API key {name}"),
            role: Some(role),
            session: None,
            meta,
        }
    }

    /// The operator on the host (CLI) or Portcullis itself.
    pub fn system(display: &str) -> Self {
        Self {
            kind: ActorType::System,
            id: None,
            display: display.to_owned(),
            role: None,
            session: None,
            meta: RequestMeta::default(),
        }
    }

    /// Fails with `Unauthenticated` for anonymous callers and `Forbidden` when
    /// the role does not grant `permission`. The system actor passes. An API
    /// key never manages admins or keys, whatever its role, and always may
    /// list the admins (`AdminsRead`).
    pub fn require(&self, permission: Permission) -> Result<()> {
        match (self.kind, self.role) {
            (ActorType::System, _) => Ok(()),
            (ActorType::ApiKey, Some(_)) if permission == Permission::AdminsRead => Ok(()),
            (ActorType::ApiKey, _) if permission == Permission::AdminsManage => Err(
                Error::Forbidden("an API key cannot manage console admins or API keys".to_owned()),
            ),
            (ActorType::ConsoleUser | ActorType::ApiKey, Some(role)) if permission.allows(role) => {
                Ok(())
            }
            (ActorType::ConsoleUser | ActorType::ApiKey, Some(role)) => {
                Err(Error::Forbidden(format!(
                    "the {} role cannot {}",
                    role.as_str(),
                    permission.describe()
                )))
            }
            _ => Err(Error::Unauthenticated("sign in first".to_owned())),
        }
    }
}
