//! A real MCP server on the official Rust SDK (`rmcp`) for end-to-end tests
//! (`end2end/tests/gateway.spec.ts`): the `test-server` feature's server as a
//! process. Tools `search`, `list_issues` (read-only) and `delete_repo`
//! (destructive); a call answers `called <name> with <arguments>`.
//!
//! ```text
//! cargo run -p portcullis-discovery --features test-server --example rmcp_server -- [--port N] [--json]
//! ```
//! Prints one line once ready: `mcp server listening on http://127.0.0.1:PORT/mcp`;
//! stops on SIGTERM or Ctrl-C. `--json` answers with `application/json`
//! (stateless) instead of SSE.
#![allow(clippy::expect_used)]

use portcullis_discovery::test_server::{spawn_with, TestServerOptions, TestTool};
use portcullis_discovery::ToolAnnotations;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut port = 0u16;
    let mut json_response = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).expect("--port N"),
            "--json" => json_response = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let tools = [
        ("search", true),
        ("list_issues", true),
        ("delete_repo", false),
    ]
    .into_iter()
    .map(|(name, read_only)| {
        let mut t = TestTool::new(name);
        t.annotations = ToolAnnotations {
            read_only_hint: Some(read_only),
            destructive_hint: Some(!read_only),
            ..ToolAnnotations::default()
        };
        t
    })
    .collect();
    let server = spawn_with(TestServerOptions {
        tools,
        json_response,
        port,
        ..TestServerOptions::default()
    })
    .await;
    println!("mcp server listening on {}", server.url);
    let _ = tokio::signal::ctrl_c().await;
}
