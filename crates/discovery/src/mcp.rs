//! MCP tool discovery over streamable HTTP (protocol 2025-06-18, also
//! accepting servers that negotiate 2025-03-26 or 2025-11-25).
//!
//! [`discover`] runs `initialize`, `notifications/initialized`, `tools/list`
//! (following `nextCursor`) and finally `DELETE`s the session, all through
//! the [`Guard`].
//!
//! This is a small hand-written client rather than the `rmcp` SDK's client
//! on purpose. The server is untrusted, so every byte must go through the
//! guard: our resolver, the per-hop redirect checks and the `host:port`
//! allow list live in [`Guard::send`], while rmcp's HTTP transport drives
//! its own `reqwest::Client` (0.13, a second major version next to the
//! workspace's 0.12), follows reqwest's redirects and has size limits but no
//! deadline of its own. Its client also runs a background worker that opens
//! a standing GET event stream, and its `list_all_tools` has no page cap or
//! cursor-cycle check. Three JSON-RPC calls are little code, and here each
//! response is bounded in bytes and time by the guard, an event stream is
//! read only until the matching response arrives, and every tool is
//! validated field by field.
//!
//! Untrusted tool definitions are validated, not repaired: a tool with an
//! invalid name, a title, description or schema over the limits
//! ([`DiscoveryLimits`]) or a mistyped annotation is left out of
//! [`Discovery::tools`] and listed in [`Discovery::rejected`] with the
//! reason. Nothing is truncated, because a truncated description would let a
//! server change text past the cut without changing the definition hash.

mod sse;

use std::collections::HashSet;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::guard::{FetchRequest, FetchResponse, Guard, GuardError};
use crate::hash::{canonical_json, definition_hash};
use sse::SseParser;

/// The protocol version Portcullis asks for.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Versions a server may answer `initialize` with.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
const METHOD_NOT_FOUND: i64 = -32601;
/// Longest server name / version / error message kept (characters).
const MAX_INFO_CHARS: usize = 256;

/// Bounds on what a server may send during discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryLimits {
    /// `tools/list` pages followed.
    pub max_pages: usize,
    /// Tools listed in total (valid or not).
    pub max_tools: usize,
    /// Tool name length in characters.
    pub max_name_chars: usize,
    /// Tool and annotation title length in bytes.
    pub max_title_bytes: usize,
    /// Description length in bytes.
    pub max_description_bytes: usize,
    /// Size of the canonical JSON of the input schema, and of the output
    /// schema, in bytes.
    pub max_schema_bytes: usize,
    /// Pagination cursor length in bytes.
    pub max_cursor_bytes: usize,
}

impl Default for DiscoveryLimits {
    fn default() -> Self {
        Self {
            max_pages: 100,
            max_tools: 10_000,
            max_name_chars: 128,
            max_title_bytes: 512,
            max_description_bytes: 8 * 1024,
            max_schema_bytes: 64 * 1024,
            max_cursor_bytes: 4 * 1024,
        }
    }
}

/// What a server said about itself and its tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    /// `serverInfo.name` (control characters removed, at most 256 characters).
    pub server_name: String,
    /// `serverInfo.version` (same treatment).
    pub server_version: String,
    /// The negotiated protocol version.
    pub protocol_version: String,
    /// The valid tools, in the server's order.
    pub tools: Vec<DiscoveredTool>,
    /// Tools left out, and why.
    pub rejected: Vec<RejectedTool>,
}

/// One tool as the server defines it (validated, see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredTool {
    /// Non-empty, at most 128 characters, no control or invisible formatting
    /// characters.
    pub name: String,
    /// Display title.
    pub title: Option<String>,
    /// What the tool does, as told to the model.
    pub description: Option<String>,
    /// JSON Schema (an object) of the arguments.
    pub input_schema: Value,
    /// JSON Schema (an object) of structured results.
    pub output_schema: Option<Value>,
    /// Behaviour hints (untrusted, informational).
    pub annotations: ToolAnnotations,
}

impl DiscoveredTool {
    /// The definition that is hashed and stored: an object with `name`,
    /// `title`, `description`, `inputSchema`, `outputSchema` and
    /// `annotations` (`title`, `readOnlyHint`, `destructiveHint`,
    /// `idempotentHint`, `openWorldHint`), absent values as `null`.
    pub fn definition(&self) -> Value {
        let a = &self.annotations;
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "outputSchema": self.output_schema,
            "annotations": {
                "title": a.title,
                "readOnlyHint": a.read_only_hint,
                "destructiveHint": a.destructive_hint,
                "idempotentHint": a.idempotent_hint,
                "openWorldHint": a.open_world_hint,
            },
        })
    }

    /// [`definition_hash`] of this tool.
    pub fn hash(&self) -> String {
        definition_hash(self)
    }
}

/// MCP tool annotations; `None` where the server did not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    /// Display title.
    pub title: Option<String>,
    /// The tool does not modify its environment.
    pub read_only_hint: Option<bool>,
    /// The tool may destroy data.
    pub destructive_hint: Option<bool>,
    /// Repeating a call has no further effect.
    pub idempotent_hint: Option<bool>,
    /// The tool talks to an open world (e.g. the internet).
    pub open_world_hint: Option<bool>,
}

/// A listed tool that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedTool {
    /// Position in the whole listing, from 0.
    pub index: usize,
    /// The name if it was a string, control characters replaced, at most
    /// 128 characters.
    pub name: Option<String>,
    /// Why it was left out.
    pub reason: String,
}

/// Why discovery failed. `Display` texts are for the admin.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The guard refused the target, or the network failed.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// HTTP 401 or 403.
    #[error("{}", unauthorized_message(*status, *credential_sent))]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// Whether a credential was sent.
        credential_sent: bool,
    },
    /// The credential cannot be sent in an HTTP header.
    #[error("the credential contains characters that cannot be sent in an HTTP header")]
    InvalidCredential,
    /// Any other non-success HTTP status.
    #[error("the MCP server answered HTTP {status} to {method}")]
    HttpStatus {
        /// The status.
        status: u16,
        /// The JSON-RPC method sent.
        method: String,
    },
    /// A JSON-RPC error response.
    #[error("the MCP server returned an error for {method}: {message} (code {code})")]
    JsonRpc {
        /// The JSON-RPC method sent.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// The server's message (sanitised, at most 256 characters).
        message: String,
    },
    /// The answer is not MCP streamable HTTP as expected.
    #[error("the server does not answer like an MCP server: {0}")]
    Protocol(String),
    /// `initialize` settled on a version we do not speak.
    #[error("the MCP server wants protocol version {0:?}, which Portcullis does not support")]
    UnsupportedProtocolVersion(String),
    /// More `tools/list` pages than allowed.
    #[error("the MCP server returned more than {limit} pages of tools")]
    TooManyPages {
        /// The limit.
        limit: usize,
    },
    /// More tools than allowed.
    #[error("the MCP server lists more than {limit} tools")]
    TooManyTools {
        /// The limit.
        limit: usize,
    },
    /// A pagination cursor came back a second time.
    #[error("the MCP server's tool list loops (a pagination cursor repeated)")]
    CursorCycle,
}

fn unauthorized_message(status: u16, credential_sent: bool) -> String {
    if credential_sent {
        format!("the MCP server rejected the credential (HTTP {status}); check the credential configured for this server")
    } else {
        format!("the MCP server requires a credential (HTTP {status}); add one for this server")
    }
}

/// Discovers the server's tools with the default [`DiscoveryLimits`].
/// `credential` is sent as `Authorization: Bearer <credential>`.
pub async fn discover(
    guard: &Guard,
    url: &str,
    credential: Option<&str>,
) -> Result<Discovery, DiscoveryError> {
    discover_with(guard, url, credential, &DiscoveryLimits::default()).await
}

/// [`discover`] with explicit limits.
pub async fn discover_with(
    guard: &Guard,
    url: &str,
    credential: Option<&str>,
    limits: &DiscoveryLimits,
) -> Result<Discovery, DiscoveryError> {
    let url = guard.check_url(url)?.to_string();
    let authorization = credential
        .map(|c| {
            let mut v = HeaderValue::from_str(&format!("Bearer {c}"))
                .map_err(|_| DiscoveryError::InvalidCredential)?;
            v.set_sensitive(true);
            Ok::<_, DiscoveryError>(v)
        })
        .transpose()?;
    let mut client = Client {
        guard,
        url,
        authorization,
        session_id: None,
        protocol_version: None,
        next_id: 1,
    };
    let result = client.run(limits).await;
    let transport_failed = matches!(
        result,
        Err(DiscoveryError::Guard(
            GuardError::Timeout { .. } | GuardError::Connect(_)
        ))
    );
    if !transport_failed {
        client.close().await;
    }
    result
}

struct Client<'a> {
    guard: &'a Guard,
    url: String,
    authorization: Option<HeaderValue>,
    session_id: Option<HeaderValue>,
    protocol_version: Option<HeaderValue>,
    next_id: i64,
}

enum Body {
    Json,
    EventStream,
}

impl Client<'_> {
    async fn run(&mut self, limits: &DiscoveryLimits) -> Result<Discovery, DiscoveryError> {
        let (init, headers) = self
            .call(
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "portcullis", "version": env!("CARGO_PKG_VERSION")},
                }),
            )
            .await?;
        if let Some(id) = headers.get(SESSION_HEADER) {
            let visible = id.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b));
            if !visible || id.is_empty() || id.len() > 1024 {
                return Err(DiscoveryError::Protocol(
                    "the Mcp-Session-Id header is not visible ASCII".to_owned(),
                ));
            }
            self.session_id = Some(id.clone());
        }
        let version = init
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                DiscoveryError::Protocol("initialize result has no protocolVersion".to_owned())
            })?;
        if !SUPPORTED_PROTOCOL_VERSIONS.contains(&version) {
            return Err(DiscoveryError::UnsupportedProtocolVersion(sanitise(
                version,
                MAX_INFO_CHARS,
            )));
        }
        let protocol_version = version.to_owned();
        self.protocol_version = Some(HeaderValue::from_static(
            SUPPORTED_PROTOCOL_VERSIONS
                .iter()
                .find(|v| **v == version)
                .copied()
                .unwrap_or(PROTOCOL_VERSION),
        ));
        let info = init.get("serverInfo");
        let info_str = |key: &str| {
            info.and_then(|i| i.get(key))
                .and_then(Value::as_str)
                .map(|s| sanitise(s, MAX_INFO_CHARS))
                .unwrap_or_default()
        };
        let server_name = info_str("name");
        let server_version = info_str("version");

        self.notify("notifications/initialized").await?;
        let (tools, rejected) = self.list_tools(limits).await?;
        Ok(Discovery {
            server_name,
            server_version,
            protocol_version,
            tools,
            rejected,
        })
    }

    async fn list_tools(
        &mut self,
        limits: &DiscoveryLimits,
    ) -> Result<(Vec<DiscoveredTool>, Vec<RejectedTool>), DiscoveryError> {
        let mut tools = Vec::new();
        let mut rejected = Vec::new();
        let mut names = HashSet::new();
        let mut seen_cursors = HashSet::new();
        let mut cursor: Option<String> = None;
        let mut index = 0usize;
        for page in 0.. {
            if page >= limits.max_pages {
                return Err(DiscoveryError::TooManyPages {
                    limit: limits.max_pages,
                });
            }
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let result = match self.call("tools/list", params).await {
                Ok((result, _)) => result,
                // A server without the tools capability: no tools.
                Err(DiscoveryError::JsonRpc { code, .. })
                    if code == METHOD_NOT_FOUND && page == 0 =>
                {
                    break;
                }
                Err(e) => return Err(e),
            };
            let listed = result
                .get("tools")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    DiscoveryError::Protocol("tools/list result has no tools array".to_owned())
                })?;
            for raw in listed {
                if index >= limits.max_tools {
                    return Err(DiscoveryError::TooManyTools {
                        limit: limits.max_tools,
                    });
                }
                match validate_tool(raw, limits) {
                    Ok(tool) if !names.insert(tool.name.clone()) => rejected.push(RejectedTool {
                        index,
                        name: Some(tool.name),
                        reason: "duplicate name".to_owned(),
                    }),
                    Ok(tool) => tools.push(tool),
                    Err(reason) => rejected.push(RejectedTool {
                        index,
                        name: raw
                            .get("name")
                            .and_then(Value::as_str)
                            .map(|n| sanitise(n, 128)),
                        reason,
                    }),
                }
                index += 1;
            }
            cursor = match result.get("nextCursor") {
                None | Some(Value::Null) => None,
                Some(Value::String(c)) if c.is_empty() => None,
                Some(Value::String(c)) => {
                    if c.len() > limits.max_cursor_bytes {
                        return Err(DiscoveryError::Protocol(
                            "tools/list cursor is too long".to_owned(),
                        ));
                    }
                    if !seen_cursors.insert(c.clone()) {
                        return Err(DiscoveryError::CursorCycle);
                    }
                    Some(c.clone())
                }
                Some(_) => {
                    return Err(DiscoveryError::Protocol(
                        "tools/list nextCursor is not a string".to_owned(),
                    ))
                }
            };
            if cursor.is_none() {
                break;
            }
        }
        Ok((tools, rejected))
    }

    fn request(&self, method: Method) -> FetchRequest {
        let mut request = FetchRequest::new(method, self.url.clone());
        let headers = &mut request.headers;
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(v) = &self.authorization {
            headers.insert(header::AUTHORIZATION, v.clone());
        }
        if let Some(v) = &self.session_id {
            headers.insert(SESSION_HEADER, v.clone());
        }
        if let Some(v) = &self.protocol_version {
            headers.insert(VERSION_HEADER, v.clone());
        }
        request
    }

    fn post(&self, message: &Value) -> FetchRequest {
        let mut request = self.request(Method::POST).body(message.to_string());
        request.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        request
    }

    fn check_status(&self, status: StatusCode, method: &str) -> Result<(), DiscoveryError> {
        match status.as_u16() {
            s @ (401 | 403) => Err(DiscoveryError::Unauthorized {
                status: s,
                credential_sent: self.authorization.is_some(),
            }),
            _ if status.is_success() => Ok(()),
            s => Err(DiscoveryError::HttpStatus {
                status: s,
                method: method.to_owned(),
            }),
        }
    }

    /// A JSON-RPC request; returns its `result` and the response headers.
    async fn call(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<(Value, HeaderMap), DiscoveryError> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut response = self.guard.send(self.post(&message)).await?;
        let status = response.status();
        if !status.is_success() && !matches!(status.as_u16(), 401 | 403) {
            // Servers often put a JSON-RPC error in a 4xx body; prefer it.
            if let Ok(body) = response.bytes().await {
                if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                    if let Some(Err(e)) = pick_response(value, id).map(|r| into_result(r, method)) {
                        return Err(e);
                    }
                }
            }
            return Err(DiscoveryError::HttpStatus {
                status: status.as_u16(),
                method: method.to_owned(),
            });
        }
        self.check_status(status, method)?;
        let headers = response.headers().clone();
        let kind = match content_type(&headers).as_deref() {
            Some("application/json") => Body::Json,
            Some("text/event-stream") => Body::EventStream,
            other => {
                return Err(DiscoveryError::Protocol(format!(
                    "{method} answered with content type {:?}",
                    other.unwrap_or("(none)")
                )))
            }
        };
        let reply = match kind {
            Body::Json => {
                let body = response.bytes().await?;
                let value: Value = serde_json::from_slice(&body).map_err(|e| {
                    DiscoveryError::Protocol(format!("{method} answered with invalid JSON: {e}"))
                })?;
                pick_response(value, id)
            }
            Body::EventStream => read_event_stream(&mut response, id).await?,
        };
        let reply = reply.ok_or_else(|| {
            DiscoveryError::Protocol(format!("no response to {method} in the answer"))
        })?;
        Ok((into_result(reply, method)?, headers))
    }

    async fn notify(&mut self, method: &str) -> Result<(), DiscoveryError> {
        let message = json!({"jsonrpc": "2.0", "method": method});
        let response = self.guard.send(self.post(&message)).await?;
        // Expected: 202 Accepted with no body; the body is not read.
        self.check_status(response.status(), method)
    }

    /// Ends the session, if the server opened one; failures are ignored (the
    /// server may not support DELETE, which it answers with 405).
    async fn close(&mut self) {
        if self.session_id.is_none() {
            return;
        }
        if let Err(e) = self.guard.send(self.request(Method::DELETE)).await {
            tracing::debug!(error = %e, "MCP session DELETE failed");
        }
        self.session_id = None;
    }
}

/// Reads events until the JSON-RPC response with `id` arrives; the rest of
/// the stream is not read (the response is dropped, closing it).
async fn read_event_stream(
    response: &mut FetchResponse,
    id: i64,
) -> Result<Option<Value>, DiscoveryError> {
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    let mut done = false;
    while !done {
        match response.chunk().await? {
            Some(chunk) => parser.feed(&chunk, &mut events),
            None => {
                parser.finish(&mut events);
                done = true;
            }
        }
        for data in events.drain(..) {
            // Other events (keep-alives, priming events, notifications,
            // server requests) are skipped.
            let Ok(value) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            if let Some(reply) = pick_response(value, id) {
                return Ok(Some(reply));
            }
        }
    }
    Ok(None)
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    Some(essence)
}

/// The response to request `id` in a message or batch.
fn pick_response(value: Value, id: i64) -> Option<Value> {
    let is_reply = |v: &Value| {
        v.get("id").and_then(Value::as_i64) == Some(id)
            && v.get("method").is_none()
            && (v.get("result").is_some() || v.get("error").is_some())
    };
    match value {
        Value::Array(items) => items.into_iter().find(is_reply),
        v if is_reply(&v) => Some(v),
        _ => None,
    }
}

fn into_result(mut reply: Value, method: &str) -> Result<Value, DiscoveryError> {
    if let Some(error) = reply.get("error") {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map(|m| sanitise(m, MAX_INFO_CHARS))
            .unwrap_or_default();
        return Err(DiscoveryError::JsonRpc {
            method: method.to_owned(),
            code,
            message,
        });
    }
    match reply.get_mut("result").map(Value::take) {
        Some(result @ Value::Object(_)) => Ok(result),
        _ => Err(DiscoveryError::Protocol(format!(
            "{method} result is not an object"
        ))),
    }
}

/// Control characters replaced by U+FFFD, cut to `max_chars` characters.
fn sanitise(s: &str, max_chars: usize) -> String {
    s.chars()
        .take(max_chars)
        .map(|c| if is_hidden(c) { '\u{fffd}' } else { c })
        .collect()
}

/// Control characters and invisible formatting characters that can make a
/// name look like another one (bidi overrides, zero-width characters, BOM).
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{061c}'
            | '\u{feff}')
}

fn opt_string(
    object: &Map<String, Value>,
    key: &str,
    max_bytes: usize,
    single_line: bool,
) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            if s.len() > max_bytes {
                Err(format!(
                    "{key} is {} bytes, more than the {max_bytes}-byte limit",
                    s.len()
                ))
            } else if single_line && s.chars().any(is_hidden) {
                Err(format!("{key} contains control or invisible characters"))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(_) => Err(format!("{key} is not a string")),
    }
}

fn opt_bool(object: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("annotations.{key} is not a boolean")),
    }
}

fn schema(
    object: &Map<String, Value>,
    key: &str,
    max_bytes: usize,
) -> Result<Option<Value>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => {
            let size = canonical_json(v).len();
            if size > max_bytes {
                Err(format!(
                    "{key} is {size} bytes, more than the {max_bytes}-byte limit"
                ))
            } else {
                Ok(Some(v.clone()))
            }
        }
        Some(_) => Err(format!("{key} is not a JSON object")),
    }
}

/// Reads one tool as a server lists it (an MCP `Tool` object) with the
/// default limits, as discovery does: how a gateway hashes the live
/// definitions it relays, and how the console reads a tool a gateway
/// reports. The error says why it is not a valid tool.
pub fn parse_tool(raw: &Value) -> Result<DiscoveredTool, String> {
    validate_tool(raw, &DiscoveryLimits::default())
}

/// Checks one listed tool; the error is the reason it is rejected.
fn validate_tool(raw: &Value, limits: &DiscoveryLimits) -> Result<DiscoveredTool, String> {
    let object = raw.as_object().ok_or("not a JSON object")?;
    let name = match object.get("name") {
        Some(Value::String(n)) => n.clone(),
        Some(_) => return Err("name is not a string".to_owned()),
        None => return Err("no name".to_owned()),
    };
    if name.is_empty() {
        return Err("empty name".to_owned());
    }
    if name.chars().count() > limits.max_name_chars {
        return Err(format!(
            "name is longer than {} characters",
            limits.max_name_chars
        ));
    }
    if name.chars().any(is_hidden) {
        return Err("name contains control or invisible characters".to_owned());
    }
    let title = opt_string(object, "title", limits.max_title_bytes, true)?;
    let description = opt_string(object, "description", limits.max_description_bytes, false)?;
    let input_schema =
        schema(object, "inputSchema", limits.max_schema_bytes)?.ok_or("no inputSchema object")?;
    let output_schema = schema(object, "outputSchema", limits.max_schema_bytes)?;
    let annotations = match object.get("annotations") {
        None | Some(Value::Null) => ToolAnnotations::default(),
        Some(Value::Object(a)) => ToolAnnotations {
            title: opt_string(a, "title", limits.max_title_bytes, true)
                .map_err(|e| format!("annotations.{e}"))?,
            read_only_hint: opt_bool(a, "readOnlyHint")?,
            destructive_hint: opt_bool(a, "destructiveHint")?,
            idempotent_hint: opt_bool(a, "idempotentHint")?,
            open_world_hint: opt_bool(a, "openWorldHint")?,
        },
        Some(_) => return Err("annotations is not a JSON object".to_owned()),
    };
    Ok(DiscoveredTool {
        name,
        title,
        description,
        input_schema,
        output_schema,
        annotations,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn check(raw: Value) -> Result<DiscoveredTool, String> {
        validate_tool(&raw, &DiscoveryLimits::default())
    }

    #[test]
    fn validates_tools() {
        let ok = check(json!({
            "name": "search",
            "description": "Search.\nLine two.",
            "inputSchema": {"type": "object"},
            "annotations": {"readOnlyHint": true, "openWorldHint": null},
            "icons": [],
        }))
        .unwrap();
        assert_eq!(ok.annotations.read_only_hint, Some(true));
        assert_eq!(ok.annotations.open_world_hint, None);

        let schema = json!({"type": "object"});
        for (raw, why) in [
            (json!({"inputSchema": schema}), "no name"),
            (json!({"name": "", "inputSchema": schema}), "empty name"),
            (
                json!({"name": "x".repeat(129), "inputSchema": schema}),
                "longer",
            ),
            (json!({"name": "a\u{7}b", "inputSchema": schema}), "control"),
            (
                json!({"name": "a\u{202e}b", "inputSchema": schema}),
                "control",
            ),
            (json!({"name": "a"}), "no inputSchema"),
            (
                json!({"name": "a", "inputSchema": "x"}),
                "not a JSON object",
            ),
            (
                json!({"name": "a", "inputSchema": schema, "description": "d".repeat(8193)}),
                "8192-byte",
            ),
            (
                json!({"name": "a", "inputSchema": schema, "annotations": {"readOnlyHint": "yes"}}),
                "not a boolean",
            ),
            (
                json!({"name": "a", "inputSchema": {"x": "y".repeat(70_000)}}),
                "inputSchema is",
            ),
        ] {
            let err = check(raw).unwrap_err();
            assert!(err.contains(why), "{err:?} should mention {why:?}");
        }
        assert!(check(json!({"name": "x".repeat(128), "inputSchema": schema})).is_ok());
        assert!(check(json!({"name": "é".repeat(128), "inputSchema": schema})).is_ok());
    }

    #[test]
    fn picks_the_matching_response() {
        let batch = json!([
            {"jsonrpc": "2.0", "id": 7, "method": "ping"},
            {"jsonrpc": "2.0", "id": 6, "result": {}},
            {"jsonrpc": "2.0", "id": 7, "result": {"ok": true}},
        ]);
        assert_eq!(
            pick_response(batch, 7),
            Some(json!({"jsonrpc": "2.0", "id": 7, "result": {"ok": true}}))
        );
        let err = into_result(
            json!({"id": 1, "error": {"code": -32000, "message": "nope\u{1b}[31m"}}),
            "tools/list",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the MCP server returned an error for tools/list: nope\u{fffd}[31m (code -32000)"
        );
    }
}
