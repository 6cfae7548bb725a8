//! The catalog's values and rules without storage: what a server
//! registration and a hand-entered tool must hold, how stored rows read
//! (a stored tool status this code does not know is an error), the
//! annotations the policy carries, and a list request's window.

use super::store::{KnownToolRow, ServerRow, ToolRow};
use crate::audit::like_escape;
use crate::error::{Error, Result};
use portcullis_discovery::DiscoveredTool;
use portcullis_policy::bundle::Annotations;
use portcullis_types::{
    FieldError, ManualToolInput, Page, ServerInput, ServerSummary, ToolHints, ToolStatus,
    ToolSummary,
};
use serde_json::{json, Value};

/// The annotations the policy bundle carries for a tool.
pub fn effective_annotations(hints: &ToolHints, overrides: &ToolHints) -> Annotations {
    let e = hints.overridden_by(overrides).effective();
    Annotations {
        read_only: e.read_only,
        destructive: e.destructive,
        idempotent: e.idempotent,
        open_world: e.open_world,
    }
}

/// A list request's search pattern (lower-cased, LIKE-escaped, `%%` for
/// everything) and window (1 to 200 items from `offset`).
pub(super) struct Window {
    pub pattern: String,
    pub offset: i64,
    pub limit: i64,
}

impl Window {
    pub(super) fn new(q: &str, offset: i64, limit: i64) -> Self {
        Window {
            limit: limit.clamp(1, 200),
            offset: offset.max(0),
            pattern: format!("%{}%", like_escape(&q.trim().to_lowercase())),
        }
    }

    /// The page of `items` out of `total`.
    pub(super) fn page<T>(&self, items: Vec<T>, total: i64) -> Page<T> {
        Page {
            items,
            total,
            offset: self.offset,
            limit: self.limit,
        }
    }
}

/// A server registration, trimmed and checked.
pub(super) struct CheckedServer {
    pub name: String,
    pub slug: String,
    pub resource_url: String,
    pub description: String,
    pub owner: String,
    pub tags: Vec<String>,
}

/// Checks every field of a server registration at once.
pub(super) fn check_server(input: &ServerInput) -> Result<CheckedServer> {
    let mut errors = Vec::new();
    let mut err = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        })
    };
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        err("name", "enter a name of 1 to 100 characters");
    }
    let slug = input.slug.trim().to_lowercase();
    if slug.is_empty()
        || slug.len() > 48
        || !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || slug.starts_with('-')
    {
        err(
            "slug",
            "use 1 to 48 lower-case letters, digits and dashes, not starting with a dash",
        );
    }
    let resource_url = input.resource_url.trim().to_owned();
    match url::Url::parse(&resource_url) {
        Ok(u) if !matches!(u.scheme(), "https" | "http") => {
            err("resource_url", "use an http or https URL")
        }
        Ok(u) if u.fragment().is_some() => {
            err("resource_url", "a resource URL has no #fragment (RFC 8707)")
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => err(
            "resource_url",
            "a resource URL has no user name or password",
        ),
        Ok(u) if u.host_str().is_none() => err("resource_url", "the URL needs a host"),
        Ok(_) if resource_url.len() > 2000 => err("resource_url", "at most 2,000 characters"),
        Ok(_) => {}
        Err(_) => err(
            "resource_url",
            "enter the server's full URL, e.g. https://mcp.example.com/mcp",
        ),
    }
    let description = input.description.trim().to_owned();
    if description.chars().count() > 2000 {
        err("description", "at most 2,000 characters");
    }
    let owner = input.owner.trim().to_owned();
    if owner.chars().count() > 200 {
        err("owner", "at most 200 characters");
    }
    let mut tags: Vec<String> = input
        .tags
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    if tags.len() > 20 || tags.iter().any(|t| t.chars().count() > 32) {
        err("tags", "at most 20 tags of up to 32 characters each");
    }
    if errors.is_empty() {
        Ok(CheckedServer {
            name,
            slug,
            resource_url,
            description,
            owner,
            tags,
        })
    } else {
        Err(Error::Invalid(errors))
    }
}

/// A hand-entered tool in the shape discovery produces, validated.
pub(super) fn manual_tool(input: &ManualToolInput) -> Result<DiscoveredTool> {
    let mut errors = Vec::new();
    let name = input.name.trim().to_owned();
    if name.is_empty()
        || name.len() > 128
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        errors.push(FieldError {
            field: "name".to_owned(),
            message:
                "enter the tool's name as the server reports it (1 to 128 characters, no spaces)"
                    .to_owned(),
        });
    }
    if input.description.chars().count() > 8192 {
        errors.push(FieldError {
            field: "description".to_owned(),
            message: "at most 8,192 characters".to_owned(),
        });
    }
    let schema = if input.input_schema.trim().is_empty() {
        json!({ "type": "object" })
    } else {
        match serde_json::from_str::<Value>(&input.input_schema) {
            Ok(v) if v.is_object() && input.input_schema.len() <= 65536 => v,
            _ => {
                errors.push(FieldError {
                    field: "input_schema".to_owned(),
                    message: "enter a JSON object (a JSON Schema), at most 64 KiB".to_owned(),
                });
                Value::Null
            }
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let title = Some(input.title.trim().to_owned()).filter(|t| !t.is_empty());
    let description = Some(input.description.trim().to_owned()).filter(|t| !t.is_empty());
    Ok(DiscoveredTool {
        name,
        title,
        description,
        input_schema: schema,
        output_schema: None,
        annotations: portcullis_discovery::ToolAnnotations {
            title: None,
            read_only_hint: input.hints.read_only,
            destructive_hint: input.hints.destructive,
            idempotent_hint: input.hints.idempotent,
            open_world_hint: input.hints.open_world,
        },
    })
}

/// `v` as JSON text, for a TEXT column.
pub(super) fn to_json_text<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

/// Stored hints (or overrides); unreadable JSON reads as no hints.
pub(super) fn parse_hints(s: &str) -> ToolHints {
    serde_json::from_str(s).unwrap_or_default()
}

/// A stored tool status, refusing a value this code does not know.
pub(super) fn stored_status(status: &str) -> Result<ToolStatus> {
    ToolStatus::parse(status)
        .ok_or_else(|| Error::Internal(format!("mcp_tools.status: unknown value `{status}`")))
}

impl ServerRow {
    pub(super) fn into_summary(self) -> ServerSummary {
        ServerSummary {
            id: self.id,
            slug: self.slug,
            name: self.name,
            resource_url: self.resource_url,
            description: self.description,
            owner: self.owner,
            tags: serde_json::from_str(&self.tags).unwrap_or_default(),
            enabled: self.enabled,
            tools: self.tools,
            quarantined: self.quarantined,
            grants: self.grants,
            discovered_at: self.discovered_at,
            discovery_error: self.discovery_error,
            updated_at: self.updated_at,
        }
    }
}

impl ToolRow {
    /// The tool as Catalog → Tools lists it.
    pub(super) fn summary(&self) -> Result<ToolSummary> {
        let hints = parse_hints(&self.hints);
        let overrides = parse_hints(&self.overrides);
        Ok(ToolSummary {
            id: self.id.clone(),
            server_id: self.server_id.clone(),
            server_slug: self.server_slug.clone(),
            server_name: self.server_name.clone(),
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            hints,
            overrides,
            effective: hints.overridden_by(&overrides).effective(),
            status: stored_status(&self.status)?,
            quarantine_reason: self.quarantine_reason.clone(),
            source: self.source.clone(),
            definition_hash: self.definition_hash.clone(),
            last_seen_at: self.last_seen_at,
            callers: None,
        })
    }
}

/// A tool the server had before a discovery, as discovery compares it.
pub(super) struct KnownTool {
    pub id: String,
    pub name: String,
    pub definition_hash: String,
    pub status: ToolStatus,
    pub source: String,
    pub pending_hash: Option<String>,
}

impl TryFrom<KnownToolRow> for KnownTool {
    type Error = Error;

    fn try_from(r: KnownToolRow) -> Result<Self> {
        Ok(KnownTool {
            status: stored_status(&r.status)?,
            id: r.id,
            name: r.name,
            definition_hash: r.definition_hash,
            source: r.source,
            pending_hash: r.pending_hash,
        })
    }
}

/// What approving a pending definition pins besides the definition: the
/// fields the console lists, read from the definition itself.
pub(super) struct PendingFields {
    pub title: Option<String>,
    pub description: String,
    pub hints: ToolHints,
}

impl PendingFields {
    /// Reads a stored pending definition (canonical JSON).
    pub(super) fn parse(pending: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(pending).map_err(|e| Error::Internal(e.to_string()))?;
        let a = &v["annotations"];
        Ok(PendingFields {
            title: v["title"]
                .as_str()
                .or(a["title"].as_str())
                .map(str::to_owned),
            description: v["description"].as_str().unwrap_or_default().to_owned(),
            hints: ToolHints {
                read_only: a["readOnlyHint"].as_bool(),
                destructive: a["destructiveHint"].as_bool(),
                idempotent: a["idempotentHint"].as_bool(),
                open_world: a["openWorldHint"].as_bool(),
            },
        })
    }
}
