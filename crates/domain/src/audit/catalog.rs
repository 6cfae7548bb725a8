//! Event schema v1: every action the product records, with the OCSF
//! (Open Cybersecurity Schema Framework, 1.x) class and activity a SIEM
//! files it under. `docs/audit-events.md` lists the same table (a test keeps
//! them in step), and the export and SIEM records carry the class
//! ([`portcullis_types::AuditRecord`]).
//!
//! Every action appended is in [`ACTIONS`]: `NewEvent::success` checks it
//! in debug builds, so the test suites fail on an action missing here.

/// An OCSF event class the audit actions map to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcsfClass {
    /// 3001, Identity & Access Management: accounts created, enabled,
    /// disabled, deleted, their credentials and roles.
    AccountChange,
    /// 3002: sign-ins and sign-outs.
    Authentication,
    /// 3003: privileges given to a new session (access tokens).
    AuthorizeSession,
    /// 3004: managed entities changed at the console (servers, clients,
    /// keys, connections).
    EntityManagement,
    /// 3005: privileges assigned or revoked (grants, delegations, consent).
    UserAccess,
    /// 3006: groups.
    GroupManagement,
    /// 6003, Application Activity: API calls (the admin API, gateways'
    /// tool calls).
    ApiActivity,
}

impl OcsfClass {
    /// `class_uid`.
    pub fn uid(self) -> u32 {
        match self {
            OcsfClass::AccountChange => 3001,
            OcsfClass::Authentication => 3002,
            OcsfClass::AuthorizeSession => 3003,
            OcsfClass::EntityManagement => 3004,
            OcsfClass::UserAccess => 3005,
            OcsfClass::GroupManagement => 3006,
            OcsfClass::ApiActivity => 6003,
        }
    }

    /// `class_name`.
    pub fn name(self) -> &'static str {
        match self {
            OcsfClass::AccountChange => "Account Change",
            OcsfClass::Authentication => "Authentication",
            OcsfClass::AuthorizeSession => "Authorize Session",
            OcsfClass::EntityManagement => "Entity Management",
            OcsfClass::UserAccess => "User Access Management",
            OcsfClass::GroupManagement => "Group Management",
            OcsfClass::ApiActivity => "API Activity",
        }
    }

    /// `category_uid`: 3 Identity & Access Management, 6 Application
    /// Activity.
    pub fn category_uid(self) -> u32 {
        self.uid() / 1000
    }
}

/// One action of the catalog.
#[derive(Clone, Copy, Debug)]
pub struct ActionInfo {
    /// `area.object.verb`.
    pub action: &'static str,
    pub class: OcsfClass,
    /// OCSF `activity_id` within the class (99: Other).
    pub activity_id: u32,
    /// OCSF `activity_name`.
    pub activity_name: &'static str,
    /// What happened, for the docs and the explorer.
    pub description: &'static str,
}

impl ActionInfo {
    /// OCSF `type_uid`: `class_uid` × 100 + `activity_id`.
    pub fn type_uid(&self) -> u32 {
        self.class.uid() * 100 + self.activity_id
    }
}

/// Every action the product records, sorted by name.
pub const ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        action: "access.grant.created",
        class: OcsfClass::UserAccess,
        activity_id: 1,
        activity_name: "Assign Privileges",
        description: "A grant was made: a person, group or agent may call a server or tools.",
    },
    ActionInfo {
        action: "access.grant.revoked",
        class: OcsfClass::UserAccess,
        activity_id: 2,
        activity_name: "Revoke Privileges",
        description: "A grant was revoked.",
    },
    ActionInfo {
        action: "access.grant.updated",
        class: OcsfClass::UserAccess,
        activity_id: 99,
        activity_name: "Other",
        description: "A grant's tools, expiry or note changed.",
    },
    ActionInfo {
        action: "access.policy.rolled_back",
        class: OcsfClass::UserAccess,
        activity_id: 99,
        activity_name: "Other",
        description: "The policy was rolled back to an earlier revision's grants.",
    },
    ActionInfo {
        action: "agent.created",
        class: OcsfClass::AccountChange,
        activity_id: 1,
        activity_name: "Create",
        description: "An agent (a headless principal) was created.",
    },
    ActionInfo {
        action: "agent.delegation.created",
        class: OcsfClass::UserAccess,
        activity_id: 1,
        activity_name: "Assign Privileges",
        description: "An agent may act for a person, a group's people or everyone on a server.",
    },
    ActionInfo {
        action: "agent.delegation.removed",
        class: OcsfClass::UserAccess,
        activity_id: 2,
        activity_name: "Revoke Privileges",
        description: "A delegation was removed.",
    },
    ActionInfo {
        action: "agent.disabled",
        class: OcsfClass::AccountChange,
        activity_id: 5,
        activity_name: "Disable",
        description: "An agent was disabled (the kill switch).",
    },
    ActionInfo {
        action: "agent.enabled",
        class: OcsfClass::AccountChange,
        activity_id: 2,
        activity_name: "Enable",
        description: "An agent was enabled again.",
    },
    ActionInfo {
        action: "agent.expired",
        class: OcsfClass::AccountChange,
        activity_id: 5,
        activity_name: "Disable",
        description: "An agent passed its expiry and was listed inactive.",
    },
    ActionInfo {
        action: "agent.keys_replaced",
        class: OcsfClass::AccountChange,
        activity_id: 3,
        activity_name: "Password Change",
        description: "An agent's public keys (private_key_jwt) were replaced.",
    },
    ActionInfo {
        action: "agent.secret_rotated",
        class: OcsfClass::AccountChange,
        activity_id: 3,
        activity_name: "Password Change",
        description: "An agent's client secret was replaced.",
    },
    ActionInfo {
        action: "api.call",
        class: OcsfClass::ApiActivity,
        activity_id: 2,
        activity_name: "Read",
        description: "A call of the admin REST API that changed nothing itself (a read or a refusal): method, path, status.",
    },
    ActionInfo {
        action: "api_key.created",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "An admin API key was created.",
    },
    ActionInfo {
        action: "api_key.revoked",
        class: OcsfClass::EntityManagement,
        activity_id: 4,
        activity_name: "Delete",
        description: "An admin API key was revoked.",
    },
    ActionInfo {
        action: "audit.erased",
        class: OcsfClass::ApiActivity,
        activity_id: 3,
        activity_name: "Update",
        description: "An owner erased a person's personal data from the audit log (the person's id, the pseudonym, events rewritten; a signed erasure record vouches for them).",
    },
    ActionInfo {
        action: "audit.exported",
        class: OcsfClass::ApiActivity,
        activity_id: 2,
        activity_name: "Read",
        description: "The audit log was exported (format, filters, events).",
    },
    ActionInfo {
        action: "audit.legal_hold.lifted",
        class: OcsfClass::EntityManagement,
        activity_id: 4,
        activity_name: "Delete",
        description: "The audit log's legal hold was lifted: retention purges again.",
    },
    ActionInfo {
        action: "audit.legal_hold.placed",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "A legal hold was placed on the audit log (reason): nothing is purged while it holds.",
    },
    ActionInfo {
        action: "audit.purged",
        class: OcsfClass::ApiActivity,
        activity_id: 4,
        activity_name: "Delete",
        description: "Retention deleted events older than the retention period and blanked older gateway decisions (ranges and counts, each a signed purge record).",
    },
    ActionInfo {
        action: "audit.revealed",
        class: OcsfClass::ApiActivity,
        activity_id: 2,
        activity_name: "Read",
        description: "An owner revealed an event's masked details (the event, the keys revealed).",
    },
    ActionInfo {
        action: "audit.searched",
        class: OcsfClass::ApiActivity,
        activity_id: 2,
        activity_name: "Read",
        description: "Someone searched the audit log (the filters set, events shown on the first page).",
    },
    ActionInfo {
        action: "audit.signing_key.created",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "The first key that signs audit checkpoints was made.",
    },
    ActionInfo {
        action: "audit.signing_key.rotated",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "The audit checkpoint key was replaced.",
    },
    ActionInfo {
        action: "audit.sink.created",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "An audit streaming destination (webhook, syslog, Splunk HEC) was added (kind, URL; never its secret).",
    },
    ActionInfo {
        action: "audit.sink.deleted",
        class: OcsfClass::EntityManagement,
        activity_id: 4,
        activity_name: "Delete",
        description: "An audit streaming destination was removed (kind, URL, the last event it accepted).",
    },
    ActionInfo {
        action: "audit.sink.paused",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "An audit streaming destination was paused: events wait in the log.",
    },
    ActionInfo {
        action: "audit.sink.resumed",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "A paused audit streaming destination was resumed: it catches up from where it stopped.",
    },
    ActionInfo {
        action: "audit.verified",
        class: OcsfClass::ApiActivity,
        activity_id: 2,
        activity_name: "Read",
        description: "Someone verified the audit chain (events checked, checkpoints checked, the first bad event if any, whether an exported checkpoint was given).",
    },
    ActionInfo {
        action: "catalog.server.created",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "An MCP server was registered.",
    },
    ActionInfo {
        action: "catalog.server.deleted",
        class: OcsfClass::EntityManagement,
        activity_id: 4,
        activity_name: "Delete",
        description: "An MCP server was removed.",
    },
    ActionInfo {
        action: "catalog.server.disabled",
        class: OcsfClass::EntityManagement,
        activity_id: 9,
        activity_name: "Disable",
        description: "An MCP server was disabled.",
    },
    ActionInfo {
        action: "catalog.server.discovered",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "Tool discovery ran against an MCP server.",
    },
    ActionInfo {
        action: "catalog.server.discovery_failed",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "Tool discovery against an MCP server failed.",
    },
    ActionInfo {
        action: "catalog.server.enabled",
        class: OcsfClass::EntityManagement,
        activity_id: 8,
        activity_name: "Enable",
        description: "An MCP server was enabled.",
    },
    ActionInfo {
        action: "catalog.server.scopes_updated",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "The OAuth scopes an MCP server declares changed.",
    },
    ActionInfo {
        action: "catalog.server.updated",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "An MCP server's settings changed.",
    },
    ActionInfo {
        action: "catalog.tool.added",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "Discovery found a new tool (pending review).",
    },
    ActionInfo {
        action: "catalog.tool.annotations_overridden",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "An admin overrode a tool's annotations.",
    },
    ActionInfo {
        action: "catalog.tool.approved",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "A tool's definition was approved (pinned).",
    },
    ActionInfo {
        action: "catalog.tool.changed",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "A tool's live definition differs from the approved one (quarantined).",
    },
    ActionInfo {
        action: "console.admin.disabled",
        class: OcsfClass::AccountChange,
        activity_id: 5,
        activity_name: "Disable",
        description: "A console admin was disabled.",
    },
    ActionInfo {
        action: "console.admin.enabled",
        class: OcsfClass::AccountChange,
        activity_id: 2,
        activity_name: "Enable",
        description: "A console admin was enabled.",
    },
    ActionInfo {
        action: "console.admin.invited",
        class: OcsfClass::AccountChange,
        activity_id: 1,
        activity_name: "Create",
        description: "A console admin was invited.",
    },
    ActionInfo {
        action: "console.admin.role_changed",
        class: OcsfClass::AccountChange,
        activity_id: 7,
        activity_name: "Attach Policy",
        description: "A console admin's role changed.",
    },
    ActionInfo {
        action: "console.admin.sessions_revoked",
        class: OcsfClass::Authentication,
        activity_id: 2,
        activity_name: "Logoff",
        description: "A console admin's sessions were ended.",
    },
    ActionInfo {
        action: "console.invite.accepted",
        class: OcsfClass::AccountChange,
        activity_id: 3,
        activity_name: "Password Change",
        description: "An invited admin set a password.",
    },
    ActionInfo {
        action: "console.owner.created",
        class: OcsfClass::AccountChange,
        activity_id: 1,
        activity_name: "Create",
        description: "An owner was created from the host (set-up link).",
    },
    ActionInfo {
        action: "console.owner.link_reissued",
        class: OcsfClass::AccountChange,
        activity_id: 4,
        activity_name: "Password Reset",
        description: "An owner's set-up link was issued again.",
    },
    ActionInfo {
        action: "console.owner.setup_completed",
        class: OcsfClass::AccountChange,
        activity_id: 3,
        activity_name: "Password Change",
        description: "The first owner finished set-up.",
    },
    ActionInfo {
        action: "console.secret_key.resealed",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "Every stored secret was sealed again under the current secret key.",
    },
    ActionInfo {
        action: "console.signin.failed",
        class: OcsfClass::Authentication,
        activity_id: 1,
        activity_name: "Logon",
        description: "A console sign-in failed.",
    },
    ActionInfo {
        action: "console.signin.refused",
        class: OcsfClass::Authentication,
        activity_id: 1,
        activity_name: "Logon",
        description: "A console sign-in was refused (disabled account, SSO check).",
    },
    ActionInfo {
        action: "console.signin.succeeded",
        class: OcsfClass::Authentication,
        activity_id: 1,
        activity_name: "Logon",
        description: "A console sign-in succeeded (password or SSO).",
    },
    ActionInfo {
        action: "console.signin.throttled",
        class: OcsfClass::Authentication,
        activity_id: 1,
        activity_name: "Logon",
        description: "A console sign-in was refused by the attempt limit.",
    },
    ActionInfo {
        action: "console.signout",
        class: OcsfClass::Authentication,
        activity_id: 2,
        activity_name: "Logoff",
        description: "A console user signed out.",
    },
    ActionInfo {
        action: "console.user.created",
        class: OcsfClass::AccountChange,
        activity_id: 1,
        activity_name: "Create",
        description: "A console account was created at first SSO sign-in.",
    },
    ActionInfo {
        action: "console.user.role_changed",
        class: OcsfClass::AccountChange,
        activity_id: 7,
        activity_name: "Attach Policy",
        description: "A console account's role changed (SSO group mapping).",
    },
    ActionInfo {
        action: "directory.created",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "A SCIM directory was created.",
    },
    ActionInfo {
        action: "directory.token.revoked",
        class: OcsfClass::EntityManagement,
        activity_id: 4,
        activity_name: "Delete",
        description: "A SCIM directory's bearer token was revoked.",
    },
    ActionInfo {
        action: "directory.token.rotated",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "A SCIM directory's bearer token was replaced.",
    },
    ActionInfo {
        action: "directory.user.created_just_in_time",
        class: OcsfClass::AccountChange,
        activity_id: 1,
        activity_name: "Create",
        description: "A person was created at SSO sign-in (just in time).",
    },
    ActionInfo {
        action: "gateway.created",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "A gateway was registered.",
    },
    ActionInfo {
        action: "gateway.credential.rotated",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "A gateway's credential was replaced.",
    },
    ActionInfo {
        action: "gateway.decision",
        class: OcsfClass::ApiActivity,
        activity_id: 99,
        activity_name: "Other",
        description: "A gateway allowed or refused a tool call (outcome success or denied; arguments masked).",
    },
    ActionInfo {
        action: "gateway.revoked",
        class: OcsfClass::EntityManagement,
        activity_id: 4,
        activity_name: "Delete",
        description: "A gateway was revoked.",
    },
    ActionInfo {
        action: "oauth.client.approved",
        class: OcsfClass::EntityManagement,
        activity_id: 8,
        activity_name: "Enable",
        description: "An admin approved a client.",
    },
    ActionInfo {
        action: "oauth.client.blocked",
        class: OcsfClass::EntityManagement,
        activity_id: 9,
        activity_name: "Disable",
        description: "An admin blocked a client.",
    },
    ActionInfo {
        action: "oauth.client.created",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "An admin pre-registered an OAuth client.",
    },
    ActionInfo {
        action: "oauth.client.duplicates_revoked",
        class: OcsfClass::EntityManagement,
        activity_id: 4,
        activity_name: "Delete",
        description: "Duplicate registrations of one client were revoked.",
    },
    ActionInfo {
        action: "oauth.client.metadata_changed",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "A client's metadata document changed.",
    },
    ActionInfo {
        action: "oauth.client.pending",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "A new client waits for an admin's approval.",
    },
    ActionInfo {
        action: "oauth.client.reaped",
        class: OcsfClass::EntityManagement,
        activity_id: 4,
        activity_name: "Delete",
        description: "Registered clients unused past the policy's days were removed.",
    },
    ActionInfo {
        action: "oauth.client.registered",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "An MCP client registered dynamically (RFC 7591) or by metadata document.",
    },
    ActionInfo {
        action: "oauth.client.unblocked",
        class: OcsfClass::EntityManagement,
        activity_id: 8,
        activity_name: "Enable",
        description: "An admin unblocked a client.",
    },
    ActionInfo {
        action: "oauth.consent.denied",
        class: OcsfClass::UserAccess,
        activity_id: 99,
        activity_name: "Other",
        description: "A person refused a client's request.",
    },
    ActionInfo {
        action: "oauth.consent.granted",
        class: OcsfClass::UserAccess,
        activity_id: 1,
        activity_name: "Assign Privileges",
        description: "A person let a client act for them on a server.",
    },
    ActionInfo {
        action: "oauth.consent.withdrawn",
        class: OcsfClass::UserAccess,
        activity_id: 2,
        activity_name: "Revoke Privileges",
        description: "A person withdrew a client's access.",
    },
    ActionInfo {
        action: "oauth.grant.revoked",
        class: OcsfClass::UserAccess,
        activity_id: 2,
        activity_name: "Revoke Privileges",
        description: "A client's refresh tokens for a person were revoked.",
    },
    ActionInfo {
        action: "oauth.policy.updated",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "The client registration policy changed.",
    },
    ActionInfo {
        action: "oauth.signin.refused",
        class: OcsfClass::Authentication,
        activity_id: 1,
        activity_name: "Logon",
        description: "Such a sign-in was refused.",
    },
    ActionInfo {
        action: "oauth.signin.succeeded",
        class: OcsfClass::Authentication,
        activity_id: 1,
        activity_name: "Logon",
        description: "A person signed in through SSO to authorise an MCP client.",
    },
    ActionInfo {
        action: "oauth.signing_key.created",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "The first access-token signing key was made.",
    },
    ActionInfo {
        action: "oauth.signing_key.rotated",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "The access-token signing key was replaced.",
    },
    ActionInfo {
        action: "oauth.token.issued",
        class: OcsfClass::AuthorizeSession,
        activity_id: 1,
        activity_name: "Assign Privileges",
        description: "An access token was issued (grant type, client, resource, scopes).",
    },
    ActionInfo {
        action: "policy.signing_key.created",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "The first bundle signing key was made.",
    },
    ActionInfo {
        action: "policy.signing_key.rotated",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "The bundle signing key was replaced.",
    },
    ActionInfo {
        action: "scim.group.created",
        class: OcsfClass::GroupManagement,
        activity_id: 6,
        activity_name: "Create",
        description: "A group was provisioned over SCIM.",
    },
    ActionInfo {
        action: "scim.group.deleted",
        class: OcsfClass::GroupManagement,
        activity_id: 5,
        activity_name: "Delete",
        description: "A group was deleted over SCIM.",
    },
    ActionInfo {
        action: "scim.group.updated",
        class: OcsfClass::GroupManagement,
        activity_id: 99,
        activity_name: "Other",
        description: "A group's name or members changed over SCIM (members added and removed in details).",
    },
    ActionInfo {
        action: "scim.user.created",
        class: OcsfClass::AccountChange,
        activity_id: 1,
        activity_name: "Create",
        description: "A person was provisioned over SCIM.",
    },
    ActionInfo {
        action: "scim.user.deactivated",
        class: OcsfClass::AccountChange,
        activity_id: 5,
        activity_name: "Disable",
        description: "A person was deactivated over SCIM.",
    },
    ActionInfo {
        action: "scim.user.deleted",
        class: OcsfClass::AccountChange,
        activity_id: 6,
        activity_name: "Delete",
        description: "A person was deleted over SCIM.",
    },
    ActionInfo {
        action: "scim.user.reactivated",
        class: OcsfClass::AccountChange,
        activity_id: 2,
        activity_name: "Enable",
        description: "A person was reactivated over SCIM.",
    },
    ActionInfo {
        action: "scim.user.updated",
        class: OcsfClass::AccountChange,
        activity_id: 99,
        activity_name: "Other",
        description: "A person's attributes changed over SCIM.",
    },
    ActionInfo {
        action: "sso.connection.created",
        class: OcsfClass::EntityManagement,
        activity_id: 1,
        activity_name: "Create",
        description: "An SSO connection (OIDC or SAML) was created.",
    },
    ActionInfo {
        action: "sso.connection.deleted",
        class: OcsfClass::EntityManagement,
        activity_id: 4,
        activity_name: "Delete",
        description: "An SSO connection was removed.",
    },
    ActionInfo {
        action: "sso.connection.tested",
        class: OcsfClass::EntityManagement,
        activity_id: 99,
        activity_name: "Other",
        description: "An admin tested an SSO connection.",
    },
    ActionInfo {
        action: "sso.connection.updated",
        class: OcsfClass::EntityManagement,
        activity_id: 3,
        activity_name: "Update",
        description: "An SSO connection changed.",
    },
];

/// The catalog entry of `action`, if it is one.
pub fn describe(action: &str) -> Option<&'static ActionInfo> {
    ACTIONS
        .binary_search_by(|a| a.action.cmp(action))
        .ok()
        .map(|i| &ACTIONS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_sorted_unique_and_well_formed() {
        for pair in ACTIONS.windows(2) {
            assert!(
                pair[0].action < pair[1].action,
                "{} before {}",
                pair[0].action,
                pair[1].action
            );
        }
        for a in ACTIONS {
            assert!(a.action.split('.').count() >= 2, "{}", a.action);
            assert!(
                a.action
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{}",
                a.action
            );
            assert!(
                a.activity_id <= 99 && !a.description.is_empty(),
                "{}",
                a.action
            );
            assert_eq!(describe(a.action).map(|d| d.action), Some(a.action));
        }
        assert!(describe("no.such.action").is_none());
        assert_eq!(
            describe("oauth.token.issued").map(|a| a.type_uid()),
            Some(300301)
        );
    }

    /// `docs/audit-events.md` lists exactly the catalog, with its classes.
    #[test]
    fn the_docs_list_exactly_the_catalog() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/audit-events.md");
        let doc =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let actions = doc.split_once("## Actions").map_or("", |(_, a)| a);
        let rows: Vec<(String, String)> = actions
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| {
                let (action, rest) = l.split_once("` | ")?;
                let class = rest.split(' ').next()?.to_owned();
                (!action.contains(' ') && action.contains('.')).then(|| (action.to_owned(), class))
            })
            .collect();
        let expected: Vec<(String, String)> = ACTIONS
            .iter()
            .map(|a| (a.action.to_owned(), a.class.uid().to_string()))
            .collect();
        assert_eq!(
            rows, expected,
            "docs/audit-events.md and the catalog differ"
        );
    }

    /// Every action literal in the domain's and the server's sources is in
    /// the catalog (computed ones are checked at run time by
    /// `NewEvent::success`).
    #[test]
    fn every_action_named_in_the_sources_is_in_the_catalog() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let areas = [
            "access.",
            "agent.",
            "api.",
            "api_key.",
            "audit.",
            "catalog.",
            "console.",
            "directory.",
            "gateway.",
            "oauth.",
            "policy.",
            "scim.",
            "sso.",
        ];
        let mut missing = Vec::new();
        let mut found = 0;
        let mut stack = vec![root.join("crates/domain/src"), root.join("src")];
        while let Some(dir) = stack.pop() {
            for entry in
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            {
                let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("catalog.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                // Each `"area.…"` literal, wherever it starts (no reliance on
                // quote parity, which char literals like '"' would upset).
                for area in areas {
                    let opening = format!("\"{area}");
                    for (at, _) in text.match_indices(&opening) {
                        let rest = &text[at + 1..];
                        let Some(end) = rest.find('"') else { continue };
                        let literal = &rest[..end];
                        let looks_like_action = literal
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                            && !literal.ends_with('.');
                        found += 1;
                        if looks_like_action && describe(literal).is_none() {
                            missing.push(format!("{}: {literal}", path.display()));
                        }
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "actions missing from the catalog: {missing:#?}"
        );
        // The scan saw the sources (every action is named at least once).
        assert!(found >= ACTIONS.len(), "only {found} action literals found");
    }
}
