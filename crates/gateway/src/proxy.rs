//! The MCP reverse proxy: streamable HTTP (MCP 2025-06-18 and 2026-07-28)
//! in front of the configured upstreams, one per resource URL.
//!
//! For each request, in order:
//! 1. the path picks the upstream; a browser `Origin` other than the
//!    upstream's own (or one configured) → `403` (DNS rebinding); no policy
//!    yet → `503` (deny everything before the first bundle);
//! 2. the access token is checked ([`crate::auth`]; verified tokens are
//!    remembered until they expire, the bundle's checks run every time); an
//!    `Mcp-Session-Id` opened by another person → `403` ([`Sessions`]);
//! 3. a `POST` body must be one JSON-RPC message (batches are refused: they
//!    were removed from MCP in 2025-06-18, and a batch would need every
//!    member decided); `Mcp-Method` / `Mcp-Name` headers must say what the
//!    body says, and must be there when the request declares 2026-07-28
//!    (`400`, `-32020` HeaderMismatch);
//! 4. `tools/call` is decided by the console's evaluator for the token's
//!    person — and refused when the tool's live definition no longer
//!    matches the approved one ([`Pins`]; when the gateway's view of the
//!    server's tools is older than `pin_max_age`, it lists them itself
//!    first) — and every decision goes to the decision log; a refusal is a
//!    JSON-RPC error naming only the tool asked for and why;
//! 5. the request goes upstream with the upstream's own headers (the
//!    client's token never does); the answer is relayed (small answers of
//!    known length whole, others as they stream), JSON or SSE, except that
//!    every `tools/list` result in it is filtered to the caller's allowed
//!    tools, whose definitions are hashed on the way.
//!
//! `Mcp-Session-Id`, `MCP-Protocol-Version`, `Last-Event-ID` and
//! `Mcp-Param-*` pass through, so sessions, stream resumption and the
//! upstream's own header checks work as with the upstream itself.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use portcullis_policy::signed::Active;
use portcullis_policy::token::AccessClaims;
use portcullis_policy::MAX_DELEGATION_DEPTH;
use portcullis_types::gateway_api::{mask_arguments, DecisionReport};
use serde_json::{json, Value};

use crate::auth;
use crate::config::Upstream;
use crate::Gateway;

/// JSON-RPC error code of a call refused by policy (in the range JSON-RPC
/// leaves to implementations).
pub const POLICY_DENIED: i64 = -32003;
/// JSON-RPC "Invalid Request".
const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC "Invalid params".
const INVALID_PARAMS: i64 = -32602;
/// MCP 2026-07-28 `HeaderMismatch`: a standard header missing or not
/// repeating the body.
const HEADER_MISMATCH: i64 = -32020;
/// The first protocol version whose clients must send `Mcp-Method` /
/// `Mcp-Name` (SEP-2243).
const STANDARD_HEADERS_SINCE: &str = "2026-07-28";

/// Request headers passed upstream; everything else stays here (the
/// client's `Authorization` and cookies above all).
const FORWARDED_REQUEST: [&str; 8] = [
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "mcp-method",
    "mcp-name",
    "user-agent",
];

/// Response headers passed back.
const FORWARDED_RESPONSE: [&str; 4] = [
    "content-type",
    "mcp-session-id",
    "cache-control",
    "mcp-protocol-version",
];

/// What the gateway learnt of each tool's live definition.
#[derive(Default)]
pub struct Pins {
    /// Server id → tool name → `sha256:…` of the definition last listed
    /// (nested so a call's lookup borrows its strings).
    live: Mutex<HashMap<String, HashMap<String, String>>>,
    /// (server id, tool name, hash) already reported to the console.
    reported: Mutex<HashSet<(String, String, String)>>,
    /// Server id → when its whole tool list was last seen.
    listed: Mutex<HashMap<String, Instant>>,
    /// One refresh of the live definitions at a time.
    refreshing: tokio::sync::Mutex<()>,
}

/// The most sessions remembered (their owners); past it the oldest half is
/// forgotten.
const MAX_SESSIONS: usize = 100_000;

/// Which person each MCP session belongs to: a session id seen with one
/// person's token is refused with another's, so a leaked session id does
/// not let anyone ride on someone else's session.
#[derive(Default)]
pub struct Sessions {
    owners: Mutex<HashMap<String, (String, u64)>>,
    counter: std::sync::atomic::AtomicU64,
}

impl Sessions {
    /// Whether `sub` may use `session` (unknown sessions pass: the
    /// upstream decides whether they exist).
    fn allows(&self, session: &str, sub: &str) -> bool {
        self.owners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(session)
            .is_none_or(|(owner, _)| owner == sub)
    }

    fn bind(&self, session: &str, sub: &str) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        if owners.contains_key(session) {
            return;
        }
        let n = self.counter.fetch_add(1, Relaxed);
        if owners.len() >= MAX_SESSIONS {
            let mut ages: Vec<u64> = owners.values().map(|(_, n)| *n).collect();
            ages.sort_unstable();
            let cut = ages.get(ages.len() / 2).copied().unwrap_or(0);
            owners.retain(|_, (_, n)| *n > cut);
        }
        owners.insert(session.to_owned(), (sub.to_owned(), n));
    }

    fn forget(&self, session: &str) {
        self.owners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(session);
    }
}

impl Pins {
    /// The live hash of a tool when it differs from the approved one.
    fn changed(&self, server: &str, tool: &str, approved: &str) -> bool {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(server)
            .and_then(|tools| tools.get(tool))
            .is_some_and(|live| live != approved)
    }

    /// Notes one listed tool (raw MCP `Tool`): its live hash, and a report
    /// to the console the first time it differs from the approved one.
    /// `Some(true)` when it may be shown (its definition is the approved
    /// one, or it is not in the bundle at all: the evaluator then refuses
    /// it), `None` when it is not a valid tool.
    fn learn(
        &self,
        server: &str,
        policy: &portcullis_policy::Policy,
        raw: &Value,
        report: &tokio::sync::mpsc::UnboundedSender<ChangedTool>,
    ) -> Option<bool> {
        let name = raw.get("name").and_then(Value::as_str)?;
        let live = portcullis_discovery::mcp::parse_tool(raw).ok()?.hash();
        let approved = policy
            .tool(server, name)
            .map(|t| t.definition_hash.as_str());
        if self.observe(server, name, &live, approved) {
            let _ = report.send(ChangedTool {
                server: server.to_owned(),
                definition: raw.clone(),
            });
        }
        Some(approved.is_none_or(|a| a == live))
    }

    /// Whether the live definitions of `server` were listed within `max_age`.
    fn fresh(&self, server: &str, max_age: std::time::Duration) -> bool {
        self.listed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(server)
            .is_some_and(|at| at.elapsed() <= max_age)
    }

    fn mark_listed(&self, server: &str) {
        self.listed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(server.to_owned(), Instant::now());
    }

    /// Notes a listed tool's live hash; true (and a report due) when it
    /// differs from the approved one for the first time.
    fn observe(&self, server: &str, tool: &str, live: &str, approved: Option<&str>) -> bool {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(server.to_owned())
            .or_default()
            .insert(tool.to_owned(), live.to_owned());
        match approved {
            Some(a) if a != live => self
                .reported
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((server.to_owned(), tool.to_owned(), live.to_owned())),
            _ => false,
        }
    }
}

/// Who is calling, for filtering and decisions, and the serving worker's
/// upstream client.
struct Caller<'a> {
    http: &'a reqwest::Client,
    claims: Arc<AccessClaims>,
    active: Arc<Active>,
    server: String,
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A JSON-RPC error answer for request `id`.
fn rpc_error(
    status: StatusCode,
    id: Value,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Response {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    (
        status,
        axum::Json(json!({"jsonrpc": "2.0", "id": id, "error": error})),
    )
        .into_response()
}

/// Why a tool call was refused, for the caller: names only the tool asked for.
fn refusal_message(tool: &str, reason: &str) -> String {
    let why = match reason {
        "no_grant" => "you have no grant for it",
        "denied_by_rule" => "a rule denies it to you",
        "quarantined" => "it is quarantined until an administrator reviews it",
        "definition_changed" => "its definition changed since it was approved; it is quarantined until an administrator reviews it",
        "server_disabled" => "an administrator disabled this server",
        "inactive_principal" => "your account is deactivated",
        "unknown_principal" => "your account is not known to the access policy",
        "unknown_tool" => "no such tool is approved on this server",
        "unknown_server" => "this server is not in the access policy",
        _ => "the access policy denies it",
    };
    format!("Tool call refused: {tool}: {why}.")
}

impl Gateway {
    /// Entry point for every request to an upstream's path.
    pub(crate) async fn handle(
        &self,
        http: &reqwest::Client,
        index: usize,
        request: Request,
    ) -> Response {
        let Some(upstream) = self.config.upstreams.get(index) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            if !self.origin_allowed(upstream, origin) {
                return rpc_error(
                    StatusCode::FORBIDDEN,
                    Value::Null,
                    INVALID_REQUEST,
                    "Requests from this origin are not accepted.",
                    None,
                );
            }
        }
        let Some(active) = self.policy.active() else {
            let mut res = rpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                Value::Null,
                POLICY_DENIED,
                "The gateway has no access policy yet; every call is refused until it has one.",
                None,
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return res;
        };
        let claims = match auth::check(
            &self.policy,
            &self.tokens,
            &active,
            &self.config.console.issuer,
            (index, upstream),
            request.headers(),
        )
        .await
        {
            Ok(c) => c,
            Err(refusal) => {
                self.metrics.unauthorized.fetch_add(1, Relaxed);
                return auth::refuse(&refusal, upstream);
            }
        };
        let Some(server) = active
            .policy
            .server_id_by_resource(&upstream.resource)
            .map(str::to_owned)
        else {
            return rpc_error(
                StatusCode::FORBIDDEN,
                Value::Null,
                POLICY_DENIED,
                "This server is not in the access policy (its resource URL is not in the console's catalog).",
                None,
            );
        };
        let session = request
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(session) = &session {
            if !self.sessions.allows(session, &claims.sub) {
                return rpc_error(
                    StatusCode::FORBIDDEN,
                    Value::Null,
                    INVALID_REQUEST,
                    "This session belongs to another user; start a new session.",
                    None,
                );
            }
        }
        let caller = Caller {
            http,
            claims,
            active,
            server,
        };
        match *request.method() {
            Method::POST => self.post(upstream, caller, request).await,
            Method::GET | Method::DELETE => {
                let (parts, _) = request.into_parts();
                self.forward(
                    upstream,
                    &caller,
                    parts.method,
                    &parts.headers,
                    Bytes::new(),
                    false,
                )
                .await
            }
            _ => (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "GET, POST, DELETE")],
            )
                .into_response(),
        }
    }

    async fn post(&self, upstream: &Upstream, caller: Caller<'_>, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let limit = self.config.limits.max_request_bytes;
        // The listener's body timeout: a body that stops arriving ends the
        // request (and frees its connection) instead of holding it.
        let timeout = self.config.limits.listener.body_timeout;
        let read = http_body_util::Limited::new(body, limit).collect();
        let body = match tokio::time::timeout(timeout, read).await {
            Ok(Ok(b)) => b.to_bytes(),
            Err(_) => {
                return rpc_error(
                    StatusCode::REQUEST_TIMEOUT,
                    Value::Null,
                    INVALID_REQUEST,
                    &format!(
                        "The request body did not arrive within {} s.",
                        timeout.as_secs()
                    ),
                    None,
                )
            }
            Ok(Err(e))
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_none() =>
            {
                // The client went away or sent a malformed body.
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    Value::Null,
                    INVALID_REQUEST,
                    "The request body could not be read.",
                    None,
                );
            }
            Ok(Err(_)) => {
                return rpc_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Value::Null,
                    INVALID_REQUEST,
                    &format!("The request body is over {limit} bytes."),
                    None,
                )
            }
        };
        let message: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    Value::Null,
                    -32700,
                    "Parse error: the body is not JSON.",
                    None,
                )
            }
        };
        let Value::Object(object) = &message else {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                INVALID_REQUEST,
                "Send one JSON-RPC message per request (batches are not supported).",
                None,
            );
        };
        let id = object.get("id").cloned().unwrap_or(Value::Null);
        let method = object.get("method").and_then(Value::as_str);
        if let Some(mismatch) = header_mismatch(&parts.headers, method, object.get("params")) {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                id,
                HEADER_MISMATCH,
                &mismatch,
                None,
            );
        }
        let list = method == Some("tools/list");
        if method == Some("tools/call") {
            let params = object.get("params");
            let Some(tool) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
                return rpc_error(
                    StatusCode::OK,
                    id,
                    INVALID_PARAMS,
                    "tools/call needs params.name.",
                    None,
                );
            };
            let arguments = params.and_then(|p| p.get("arguments"));
            self.ensure_pins(upstream, &caller, &parts.headers).await;
            if let Err(reason) = self.decide(&caller, tool, arguments) {
                return rpc_error(
                    StatusCode::OK,
                    id,
                    POLICY_DENIED,
                    &refusal_message(tool, reason),
                    Some(json!({"reason": reason})),
                );
            }
        }
        self.forward(upstream, &caller, parts.method, &parts.headers, body, list)
            .await
    }

    /// A browser origin may call only an upstream's own origin, or one the
    /// configuration allows (MCP: servers validate `Origin` against DNS
    /// rebinding).
    fn origin_allowed(&self, upstream: &Upstream, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let own = url::Url::parse(&upstream.resource)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        origin == own || self.config.allowed_origins.iter().any(|o| o == origin)
    }

    /// Before a `tools/call` is decided, makes sure the live definitions of
    /// the caller's server are at most `pin_max_age` old: if not, lists the
    /// upstream's tools itself (in the caller's session, with the
    /// upstream's credential), so a definition changed upstream is caught
    /// at the first call even if no client listed the tools since. A failed
    /// listing keeps what was known (the call itself then meets the same
    /// upstream).
    async fn ensure_pins(&self, upstream: &Upstream, caller: &Caller<'_>, headers: &HeaderMap) {
        let max_age = self.config.pin_max_age;
        if self.pins.fresh(&caller.server, max_age) {
            return;
        }
        let _one = self.pins.refreshing.lock().await;
        if self.pins.fresh(&caller.server, max_age) {
            return;
        }
        let mut cursor: Option<String> = None;
        for page in 0..MAX_PIN_PAGES {
            let id = format!("portcullis-gateway-pins-{page}");
            let mut params = json!({});
            if let Some(c) = &cursor {
                params["cursor"] = json!(c);
            }
            let body =
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params});
            let mut req = caller
                .http
                .post(upstream.url.clone())
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream")
                .header("mcp-method", "tools/list")
                .timeout(self.config.limits.upstream_timeout);
            for name in ["mcp-session-id", "mcp-protocol-version"] {
                if let Some(v) = headers.get(name) {
                    req = req.header(name, v);
                }
            }
            for (name, value) in &upstream.headers {
                req = req.header(name, value);
            }
            let Ok(res) = req.body(body.to_string()).send().await else {
                tracing::warn!(upstream = %upstream.resource, "cannot list the upstream's tools to check their definitions");
                return;
            };
            let sse = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            let Some(bytes) = read_limited(res, self.config.limits.max_list_bytes).await else {
                return;
            };
            let Some(message) = response_with_id(&bytes, sse, &id) else {
                tracing::warn!(upstream = %upstream.resource, "the upstream's tool list could not be read");
                return;
            };
            let Some(tools) = message.pointer("/result/tools").and_then(Value::as_array) else {
                return;
            };
            for raw in tools {
                self.pins
                    .learn(&caller.server, &caller.active.policy, raw, &self.reports);
            }
            cursor = message
                .pointer("/result/nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() {
                self.pins.mark_listed(&caller.server);
                return;
            }
        }
    }

    /// Decides a tool call and logs the decision.
    fn decide(
        &self,
        caller: &Caller<'_>,
        tool: &str,
        arguments: Option<&Value>,
    ) -> Result<(), &'static str> {
        let policy = &caller.active.policy;
        let chain = caller.claims.actor_chain(MAX_DELEGATION_DEPTH);
        let (decision, mut reason, mut allowed) = if chain.is_empty() {
            let d = policy.decide(&caller.claims.sub, &caller.server, tool, now_secs());
            (d, d.reason.code(), d.allowed)
        } else {
            // A delegated token: the person, every agent of the chain and
            // the delegation policy decide together.
            let d = policy.decide_delegated(
                &caller.claims.sub,
                &chain,
                &caller.server,
                tool,
                now_secs(),
            );
            let code = d.denial.map_or("allowed", |x| x.code());
            (d.person, code, d.allowed)
        };
        if allowed {
            if let Some(t) = policy.tool(&caller.server, tool) {
                if self.pins.changed(&caller.server, tool, &t.definition_hash) {
                    allowed = false;
                    reason = "definition_changed";
                    self.metrics.pin_mismatches.fetch_add(1, Relaxed);
                }
            }
        }
        let rule = decision
            .reason
            .rule()
            .map(|r| policy.rule_id(r).to_owned())
            .filter(|r| !r.is_empty());
        if allowed {
            self.metrics.allowed.fetch_add(1, Relaxed);
        } else {
            self.metrics.denied.fetch_add(1, Relaxed);
        }
        self.decisions.record(DecisionReport {
            id: Some(uuid::Uuid::now_v7().to_string()),
            at: chrono::Utc::now(),
            user: caller.claims.sub.clone(),
            client: Some(caller.claims.client_id.chars().take(200).collect()),
            server: caller.server.clone(),
            tool: tool.chars().take(200).collect(),
            allowed,
            reason: Some(reason.to_owned()),
            rule,
            revision: caller.active.revision as i64,
            arguments: arguments.map(mask_arguments),
            act: (!chain.is_empty()).then(|| chain.iter().map(|a| (*a).to_owned()).collect()),
        });
        if allowed {
            Ok(())
        } else {
            Err(reason)
        }
    }

    /// Sends the request upstream and relays the answer, filtering
    /// `tools/list` results.
    async fn forward(
        &self,
        upstream: &Upstream,
        caller: &Caller<'_>,
        method: Method,
        headers: &HeaderMap,
        body: Bytes,
        list: bool,
    ) -> Response {
        let method_was_delete = method == Method::DELETE;
        let mut req = caller.http.request(method, upstream.url.clone());
        for name in FORWARDED_REQUEST {
            for value in headers.get_all(name) {
                req = req.header(name, value);
            }
        }
        // MCP 2026-07-28 `Mcp-Param-*` headers mirror tool arguments the
        // upstream declared (`x-mcp-header`); the upstream validates them.
        for (name, value) in headers {
            if name.as_str().starts_with("mcp-param-") {
                req = req.header(name, value);
            }
        }
        for (name, value) in &upstream.headers {
            req = req.header(name, value);
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        let started = Instant::now();
        let res = match tokio::time::timeout(self.config.limits.upstream_timeout, req.send()).await
        {
            Ok(Ok(res)) => res,
            Ok(Err(e)) => {
                self.metrics.upstream_errors.fetch_add(1, Relaxed);
                tracing::warn!(upstream = %upstream.resource, error = %crate::sync::without_url(&e), "upstream request failed");
                return rpc_error(
                    StatusCode::BAD_GATEWAY,
                    Value::Null,
                    -32603,
                    "The MCP server cannot be reached.",
                    None,
                );
            }
            Err(_) => {
                self.metrics.upstream_errors.fetch_add(1, Relaxed);
                return rpc_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    Value::Null,
                    -32603,
                    "The MCP server did not answer in time.",
                    None,
                );
            }
        };
        self.metrics.upstream_latency(started.elapsed());
        let status = res.status();
        if let Some(session) = res
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            self.sessions.bind(session, &caller.claims.sub);
        }
        if method_was_delete && status.is_success() {
            if let Some(session) = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()) {
                self.sessions.forget(session);
            }
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            // The upstream refused the gateway's own credential: the caller's
            // token was fine, so a 401 would send its client into a useless
            // authorization loop.
            tracing::error!(upstream = %upstream.resource, status = status.as_u16(), "the upstream refused the gateway's credentials");
            return rpc_error(
                StatusCode::BAD_GATEWAY,
                Value::Null,
                -32603,
                "The MCP server refused the gateway's credentials.",
                None,
            );
        }
        let mut out = Response::builder().status(status);
        for name in FORWARDED_RESPONSE {
            for value in res.headers().get_all(name) {
                out = out.header(name, value);
            }
        }
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let sse = starts_with_ignore_case(content_type, "text/event-stream");
        let json = starts_with_ignore_case(content_type, "application/json");
        let filter = || ListFilter {
            pins: self.pins.clone(),
            caller_sub: caller.claims.sub.clone(),
            caller_act: caller
                .claims
                .actor_chain(MAX_DELEGATION_DEPTH)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            server: caller.server.clone(),
            active: caller.active.clone(),
            report: self.reports.clone(),
        };
        let body = if sse {
            Body::from_stream(sse_filter(
                res.bytes_stream(),
                filter(),
                self.config.limits.max_list_bytes,
            ))
        } else if list && json {
            let limit = self.config.limits.max_list_bytes;
            match read_limited(res, limit).await {
                Some(bytes) => Body::from(filter().rewrite_json(&bytes).unwrap_or(bytes)),
                None => {
                    return rpc_error(
                        StatusCode::BAD_GATEWAY,
                        Value::Null,
                        -32603,
                        "The MCP server's tool list is too large to check.",
                        None,
                    );
                }
            }
        } else if res.content_length().is_some_and(|n| n <= SMALL_BODY_BYTES) {
            // A small answer of known length goes back whole, with its
            // length, rather than as a chunked stream.
            match res.bytes().await {
                Ok(bytes) => Body::from(bytes),
                Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
            }
        } else {
            Body::from_stream(res.bytes_stream())
        };
        out.body(body)
            .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
    }
}

/// Answers up to this size with a known length are relayed whole.
const SMALL_BODY_BYTES: u64 = 256 << 10;

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|t| t.eq_ignore_ascii_case(prefix))
}

async fn read_limited(res: reqwest::Response, limit: usize) -> Option<Bytes> {
    let mut out = Vec::new();
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        if out.len() + chunk.len() > limit {
            return None;
        }
        out.extend_from_slice(&chunk);
    }
    Some(Bytes::from(out))
}

/// Pages of `tools/list` the gateway follows when it lists tools itself.
const MAX_PIN_PAGES: usize = 50;

/// The JSON-RPC response with `id` in a JSON body or an SSE stream.
fn response_with_id(bytes: &[u8], sse: bool, id: &str) -> Option<Value> {
    let matches = |m: &Value| m.get("id").and_then(Value::as_str) == Some(id);
    if !sse {
        return serde_json::from_slice::<Value>(bytes).ok().filter(matches);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    text.replace("\r\n", "\n").split("\n\n").find_map(|event| {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        serde_json::from_str::<Value>(&data.join("\n"))
            .ok()
            .filter(matches)
    })
}

/// The `Mcp-Method` / `Mcp-Name` headers (MCP 2026-07-28, SEP-2243) must
/// repeat the body, so that what an intermediary routed or logged on is
/// what the server runs. Present, they are checked whatever the version
/// (values trimmed of surrounding whitespace; `=?base64?…?=` decoded);
/// absent, they are refused when the request says 2026-07-28 or later and
/// the body has what they mirror: `method`, and `params.name` of
/// `tools/call` and `prompts/get` or `params.uri` of `resources/read`.
fn header_mismatch(
    headers: &HeaderMap,
    method: Option<&str>,
    params: Option<&Value>,
) -> Option<String> {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| header_text(v).unwrap_or_else(|| "\u{fffd}".to_owned()))
    };
    let required = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() >= STANDARD_HEADERS_SINCE);
    match (text("mcp-method"), method) {
        (Some(h), m) if Some(h.as_str()) != m => {
            return Some(format!(
                "The Mcp-Method header ({h:?}) does not match the request's method ({}).",
                m.map_or("none".to_owned(), |m| format!("{m:?}"))
            ));
        }
        (None, Some(m)) if required => {
            return Some(format!(
                "The Mcp-Method header is missing; MCP {STANDARD_HEADERS_SINCE} requests repeat the method ({m:?}) in it."
            ));
        }
        _ => {}
    }
    let (key, mirrored) = match method {
        Some("tools/call" | "prompts/get") => ("name", true),
        Some("resources/read") => ("uri", true),
        Some("resources/subscribe" | "resources/unsubscribe") => ("uri", false),
        _ => ("name", false),
    };
    let body = params.and_then(|p| p.get(key)).and_then(Value::as_str);
    match text("mcp-name") {
        Some(h) if Some(h.as_str()) != body => Some(format!(
            "The Mcp-Name header ({h:?}) does not match params.{key} of the request."
        )),
        None if required && mirrored && body.is_some() => Some(format!(
            "The Mcp-Name header is missing; MCP {STANDARD_HEADERS_SINCE} requests repeat params.{key} in it."
        )),
        _ => None,
    }
}

/// A standard header's value as text: surrounding whitespace dropped
/// (RFC 9110 §5.5), the `=?base64?…?=` form (SEP-2243, for values that are
/// not plain ASCII) decoded; `None` when it is neither valid text nor
/// valid Base64 of UTF-8.
fn header_text(value: &HeaderValue) -> Option<String> {
    use base64::Engine as _;
    let v = value.to_str().ok()?.trim();
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(v.to_owned()),
    }
}

/// A changed tool to report to the console.
pub struct ChangedTool {
    pub server: String,
    pub definition: Value,
}

/// Filters `tools/list` results for one caller.
struct ListFilter {
    pins: Arc<Pins>,
    caller_sub: String,
    /// The token's `act` chain (empty unless delegated).
    caller_act: Vec<String>,
    server: String,
    active: Arc<Active>,
    report: tokio::sync::mpsc::UnboundedSender<ChangedTool>,
}

impl ListFilter {
    /// Rewrites a JSON-RPC response whose result lists tools; `None` when
    /// the message is something else (relayed unchanged).
    fn rewrite_json(&self, bytes: &[u8]) -> Option<Bytes> {
        let mut message: Value = serde_json::from_slice(bytes).ok()?;
        self.filter(&mut message)
            .then(|| Bytes::from(message.to_string()))
    }

    /// Keeps only the tools the caller may call whose live definition is
    /// the approved one; true when `message` was a tool list.
    fn filter(&self, message: &mut Value) -> bool {
        let Some(tools) = message
            .get_mut("result")
            .and_then(|r| r.get_mut("tools"))
            .and_then(Value::as_array_mut)
        else {
            return false;
        };
        let policy = &self.active.policy;
        let now = now_secs();
        let chain: Vec<&str> = self.caller_act.iter().map(String::as_str).collect();
        tools.retain(|raw| {
            if self.pins.learn(&self.server, policy, raw, &self.report) != Some(true) {
                return false;
            }
            raw.get("name").and_then(Value::as_str).is_some_and(|name| {
                if chain.is_empty() {
                    policy
                        .decide(&self.caller_sub, &self.server, name, now)
                        .allowed
                } else {
                    policy
                        .decide_delegated(&self.caller_sub, &chain, &self.server, name, now)
                        .allowed
                }
            })
        });
        true
    }
}

/// Relays an SSE stream event by event, rewriting the events whose data is
/// a tool list. An event larger than `limit` ends the stream (it cannot be
/// checked, and relaying it unchecked could show tools the caller may not
/// see).
fn sse_filter(
    upstream: impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    filter: ListFilter,
    limit: usize,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let upstream = Box::pin(upstream);
    futures_util::stream::unfold(
        (upstream, filter, Vec::<u8>::new(), false),
        move |(mut upstream, filter, mut buf, done)| async move {
            if done {
                return None;
            }
            loop {
                if let Some(end) = event_end(&buf) {
                    let rest = buf.split_off(end);
                    let event = std::mem::replace(&mut buf, rest);
                    let out = rewrite_event(&filter, &event);
                    return Some((Ok(out), (upstream, filter, buf, false)));
                }
                match upstream.next().await {
                    Some(Ok(chunk)) => {
                        buf.extend_from_slice(&chunk);
                        if buf.len() > limit && event_end(&buf).is_none() {
                            tracing::warn!("an SSE event from the upstream is too large to check; stream ended");
                            return Some((
                                Err(std::io::Error::other("event too large")),
                                (upstream, filter, Vec::new(), true),
                            ));
                        }
                    }
                    Some(Err(e)) => {
                        return Some((
                            Err(std::io::Error::other(e)),
                            (upstream, filter, Vec::new(), true),
                        ));
                    }
                    None => {
                        if buf.is_empty() {
                            return None;
                        }
                        let event = std::mem::take(&mut buf);
                        let out = rewrite_event(&filter, &event);
                        return Some((Ok(out), (upstream, filter, Vec::new(), true)));
                    }
                }
            }
        },
    )
}

/// The end (exclusive, after the blank line) of the first complete event.
fn event_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some(i + 2);
        }
        if buf[i] == b'\r' && buf.get(i + 1..i + 4) == Some(b"\n\r\n") {
            return Some(i + 4);
        }
        i += 1;
    }
    None
}

/// One SSE event, its data rewritten when it is a tool list.
fn rewrite_event(filter: &ListFilter, event: &[u8]) -> Bytes {
    // Only events that can hold a tool list are parsed.
    if !event.windows(7).any(|w| w == b"\"tools\"") {
        return Bytes::copy_from_slice(event);
    }
    let Ok(text) = std::str::from_utf8(event) else {
        return Bytes::copy_from_slice(event);
    };
    let mut other = Vec::new();
    let mut data = Vec::new();
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("data:") {
            data.push(d.strip_prefix(' ').unwrap_or(d));
        } else if !line.is_empty() {
            other.push(line);
        }
    }
    let Ok(mut message) = serde_json::from_str::<Value>(&data.join("\n")) else {
        return Bytes::copy_from_slice(event);
    };
    if !filter.filter(&mut message) {
        return Bytes::copy_from_slice(event);
    }
    let mut out = String::with_capacity(event.len());
    for line in other {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&message.to_string());
    out.push_str("\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines() {
        assert_eq!(event_end(b"data: x\n\nrest"), Some(9));
        assert_eq!(event_end(b"data: x\r\n\r\nrest"), Some(11));
        assert_eq!(event_end(b"data: x\n"), None);
    }

    #[test]
    fn mcp_headers_must_repeat_the_body() {
        let mut h = HeaderMap::new();
        h.insert("mcp-method", HeaderValue::from_static("tools/call"));
        h.insert("mcp-name", HeaderValue::from_static("search"));
        let params = json!({"name": "search"});
        assert_eq!(header_mismatch(&h, Some("tools/call"), Some(&params)), None);
        assert!(header_mismatch(&h, Some("tools/list"), Some(&params)).is_some());
        let other = json!({"name": "delete_repo"});
        assert!(header_mismatch(&h, Some("tools/call"), Some(&other))
            .is_some_and(|m| m.contains("Mcp-Name")));
        let mut r = HeaderMap::new();
        r.insert("mcp-method", HeaderValue::from_static("resources/read"));
        r.insert("mcp-name", HeaderValue::from_static("file:///a"));
        assert_eq!(
            header_mismatch(
                &r,
                Some("resources/read"),
                Some(&json!({"uri": "file:///a"}))
            ),
            None
        );
        assert_eq!(
            header_mismatch(&HeaderMap::new(), Some("tools/call"), None),
            None
        );
    }

    #[test]
    fn mcp_2026_requests_must_carry_the_standard_headers() {
        let call = json!({"name": "search"});
        let mut h = HeaderMap::new();
        // A 2025-06-18 client sends none: fine.
        h.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2025-06-18"),
        );
        assert_eq!(header_mismatch(&h, Some("tools/call"), Some(&call)), None);
        // 2026-07-28: Mcp-Method and, for tools/call, Mcp-Name are required.
        h.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2026-07-28"),
        );
        assert!(header_mismatch(&h, Some("tools/list"), None)
            .is_some_and(|m| m.contains("Mcp-Method header is missing")));
        h.insert("mcp-method", HeaderValue::from_static("tools/call"));
        assert!(header_mismatch(&h, Some("tools/call"), Some(&call))
            .is_some_and(|m| m.contains("Mcp-Name header is missing")));
        // Surrounding whitespace is not part of the value; Base64 is decoded.
        h.insert("mcp-name", HeaderValue::from_static("  search "));
        assert_eq!(header_mismatch(&h, Some("tools/call"), Some(&call)), None);
        h.insert("mcp-name", HeaderValue::from_static("=?base64?c2VhcmNo?="));
        assert_eq!(header_mismatch(&h, Some("tools/call"), Some(&call)), None);
        h.insert("mcp-name", HeaderValue::from_static("=?base64?c2VhcmNo?"));
        assert!(header_mismatch(&h, Some("tools/call"), Some(&call)).is_some());
        h.insert("mcp-name", HeaderValue::from_static("=?base64?c2VhcmN!?="));
        assert!(header_mismatch(&h, Some("tools/call"), Some(&call)).is_some());
        // Case matters in the value.
        h.insert("mcp-method", HeaderValue::from_static("TOOLS/CALL"));
        assert!(header_mismatch(&h, Some("tools/call"), Some(&call)).is_some());
        // prompts/get mirrors params.name; a response (no method) needs nothing.
        let mut p = HeaderMap::new();
        p.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2026-07-28"),
        );
        p.insert("mcp-method", HeaderValue::from_static("prompts/get"));
        assert!(header_mismatch(&p, Some("prompts/get"), Some(&json!({"name": "x"}))).is_some());
        let mut r = HeaderMap::new();
        r.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2026-07-28"),
        );
        assert_eq!(header_mismatch(&r, None, None), None);
    }

    #[test]
    fn refusals_name_only_the_tool_asked_for() {
        let m = refusal_message("delete_repo", "no_grant");
        assert_eq!(
            m,
            "Tool call refused: delete_repo: you have no grant for it."
        );
    }

    #[test]
    fn a_session_belongs_to_the_person_who_opened_it() {
        let s = Sessions::default();
        assert!(
            s.allows("sess-1", "alice"),
            "unknown sessions pass to the upstream"
        );
        s.bind("sess-1", "alice");
        assert!(s.allows("sess-1", "alice"));
        assert!(
            !s.allows("sess-1", "bob"),
            "someone else's token on Alice's session"
        );
        // A second binding does not hand the session over.
        s.bind("sess-1", "bob");
        assert!(!s.allows("sess-1", "bob"));
        s.forget("sess-1");
        assert!(s.allows("sess-1", "bob"));
    }

    #[test]
    fn sessions_stay_bounded_forgetting_the_oldest() {
        let s = Sessions::default();
        for i in 0..MAX_SESSIONS {
            s.bind(&format!("s{i}"), "alice");
        }
        s.bind("newest", "bob");
        let owners = s.owners.lock().unwrap_or_else(|e| e.into_inner());
        assert!(owners.len() <= MAX_SESSIONS / 2 + 1, "{}", owners.len());
        assert!(owners.contains_key("newest"));
        assert!(owners.contains_key(&format!("s{}", MAX_SESSIONS - 1)));
        assert!(!owners.contains_key("s0"));
    }
}
