//! A real MCP server for tests (feature `test-server`): the official Rust SDK
//! (`rmcp`) behind its streamable HTTP transport, served by axum on
//! `127.0.0.1` at a free port. It lists the tools it was given, `page_size`
//! per `tools/list` page (the cursor is the offset), the tool set can be
//! swapped while it runs ([`TestServer::set_tools`]), a call of a listed tool
//! answers `called <name> with <arguments>`, it can require a bearer
//! token, and it stops when the [`TestServer`] is dropped.
//!
//! This is test support: it panics when it cannot bind a port.
#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::mcp::ToolAnnotations;

/// A tool the test server lists.
#[derive(Debug, Clone, PartialEq)]
pub struct TestTool {
    /// Name.
    pub name: String,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Input schema; must be a JSON object.
    pub input_schema: Value,
    /// Output schema; a JSON object if set.
    pub output_schema: Option<Value>,
    /// Annotations; sent only when at least one is set.
    pub annotations: ToolAnnotations,
}

impl TestTool {
    /// A tool with `name`, a description and an object schema with one
    /// string property `q`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            description: Some(format!("The {name} tool.")),
            name,
            title: None,
            input_schema: json!({
                "type": "object",
                "properties": {"q": {"type": "string"}},
                "required": ["q"],
            }),
            output_schema: None,
            annotations: ToolAnnotations::default(),
        }
    }

    fn to_json(&self) -> Value {
        let mut tool = json!({
            "name": self.name,
            "inputSchema": self.input_schema,
        });
        let a = &self.annotations;
        let annotations: serde_json::Map<String, Value> = [
            ("title", a.title.clone().map(Value::from)),
            ("readOnlyHint", a.read_only_hint.map(Value::from)),
            ("destructiveHint", a.destructive_hint.map(Value::from)),
            ("idempotentHint", a.idempotent_hint.map(Value::from)),
            ("openWorldHint", a.open_world_hint.map(Value::from)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect();
        let optional = [
            ("title", self.title.clone().map(Value::from)),
            ("description", self.description.clone().map(Value::from)),
            ("outputSchema", self.output_schema.clone()),
            (
                "annotations",
                (!annotations.is_empty()).then_some(Value::Object(annotations)),
            ),
        ];
        if let Value::Object(map) = &mut tool {
            for (key, value) in optional {
                if let Some(value) = value {
                    map.insert(key.to_owned(), value);
                }
            }
        }
        tool
    }
}

/// Options for [`spawn_with`].
#[derive(Debug, Clone, Default)]
pub struct TestServerOptions {
    /// Tools listed.
    pub tools: Vec<TestTool>,
    /// Tools per `tools/list` page; 0 lists all on one page.
    pub page_size: usize,
    /// Bearer token every request must carry (else 401).
    pub token: Option<String>,
    /// Stateless mode answering with `application/json` instead of an event
    /// stream, and without `Mcp-Session-Id`.
    pub json_response: bool,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

/// A running test server; stops on drop.
#[derive(Debug)]
pub struct TestServer {
    /// The MCP endpoint, e.g. `http://127.0.0.1:41234/mcp`.
    pub url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    tools: Arc<RwLock<Vec<TestTool>>>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Replaces the tool set; the next `tools/list` sees the new one.
    pub fn set_tools(&self, tools: Vec<TestTool>) {
        *self.tools.write().unwrap_or_else(|e| e.into_inner()) = tools;
    }

    /// `host:port` of the server, for an allow list.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.task.abort();
    }
}

/// Starts a server listing `tools`, `page_size` per page.
pub async fn spawn(tools: Vec<TestTool>, page_size: usize) -> TestServer {
    spawn_with(TestServerOptions {
        tools,
        page_size,
        ..TestServerOptions::default()
    })
    .await
}

/// Like [`spawn`], but every request must carry `Authorization: Bearer <token>`.
pub async fn spawn_with_token(tools: Vec<TestTool>, page_size: usize, token: &str) -> TestServer {
    spawn_with(TestServerOptions {
        tools,
        page_size,
        token: Some(token.to_owned()),
        ..TestServerOptions::default()
    })
    .await
}

/// Starts a server with `options`.
pub async fn spawn_with(options: TestServerOptions) -> TestServer {
    let tools = Arc::new(RwLock::new(options.tools));
    let handler = Handler {
        tools: tools.clone(),
        page_size: options.page_size,
    };
    let shutdown = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        .with_sse_keep_alive(None);
    if options.json_response {
        config = config
            .with_legacy_session_mode(false)
            .with_json_response(true);
    }
    let service: StreamableHttpService<Handler, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(handler.clone()), Default::default(), config);
    let mut router = axum::Router::new().nest_service("/mcp", service);
    if let Some(token) = options.token {
        let expected: Arc<str> = format!("Bearer {token}").into();
        router = router.layer(middleware::from_fn_with_state(expected, require_bearer));
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .expect("bind the test MCP server");
    let addr = listener.local_addr().expect("test MCP server address");
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled_owned().await })
            .await;
    });
    TestServer {
        url: format!("http://{addr}/mcp"),
        addr,
        tools,
        shutdown,
        task,
    }
}

async fn require_bearer(
    State(expected): State<Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if presented == Some(&*expected) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "unauthorized",
        )
            .into_response()
    }
}

#[derive(Clone)]
struct Handler {
    tools: Arc<RwLock<Vec<TestTool>>>,
    page_size: usize,
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("portcullis-test-server", "1.2.3"))
    }

    /// Calls of a listed tool answer `called <name> with <arguments>`
    /// (arguments as compact JSON); other names are unknown.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let known = self
            .tools
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|t| t.name == request.name);
        if !known {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {}", request.name),
                None,
            ));
        }
        let args = Value::Object(request.arguments.unwrap_or_default());
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "called {} with {args}",
            request.name
        ))])
        .into())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.tools.read().unwrap_or_else(|e| e.into_inner()).clone();
        let start = match request.and_then(|r| r.cursor) {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .ok()
                .filter(|&s| s <= tools.len())
                .ok_or_else(|| ErrorData::invalid_params("invalid cursor", None))?,
        };
        let end = if self.page_size == 0 {
            tools.len()
        } else {
            (start + self.page_size).min(tools.len())
        };
        let page = tools[start..end]
            .iter()
            .map(|t| serde_json::from_value::<Tool>(t.to_json()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ErrorData::internal_error(format!("bad test tool: {e}"), None))?;
        let mut result = ListToolsResult::with_all_items(page);
        if end < tools.len() {
            result.next_cursor = Some(end.to_string());
        }
        Ok(result)
    }
}
