//! Outbound fetches for Portcullis.
//!
//! * [`guard`]: the SSRF guard every server-side fetch goes through
//!   ([`Guard`], [`GuardConfig`], [`GuardError`]), and the raw TCP/TLS
//!   connections under the same rules (`Guard::connect`: syslog to a SIEM).
//! * [`mcp`]: MCP tool discovery over streamable HTTP ([`discover`]).
//! * [`canonical_json`] and [`definition_hash`]: the pinned definition of a
//!   tool, so a changed description or schema is noticed.
//! * `test_server` (feature `test-server`): a real rmcp MCP server for tests.

pub mod guard;
mod hash;
pub mod mcp;
#[cfg(feature = "test-server")]
pub mod test_server;

pub use guard::{
    AddressKind, BlockReason, FetchRequest, FetchResponse, Fetched, Guard, GuardConfig, GuardError,
    GuardedStream,
};
pub use hash::{canonical_json, definition_hash};
pub use mcp::{
    discover, discover_with, DiscoveredTool, Discovery, DiscoveryError, DiscoveryLimits,
    RejectedTool, ToolAnnotations,
};
