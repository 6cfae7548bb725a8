//! Catalog pages: MCP servers (register, discover, tools with annotations and
//! who can call them, access matrix) and tools (quarantine review with the
//! definition diff, annotation overrides). Tool names, descriptions and
//! schemas come from the MCP server: untrusted, always rendered as text.

use crate::components::PageHeader;
use leptos::prelude::*;

/// `/catalog/servers`.
#[component]
pub fn ServersPage() -> impl IntoView {
    view! { <PageHeader title="Servers" description="MCP servers people and agents may reach through your gateways."/> }
}

/// `/catalog/servers/:id`.
#[component]
pub fn ServerPage() -> impl IntoView {
    view! { <PageHeader title="Server" description=""/> }
}

/// `/catalog/tools`.
#[component]
pub fn ToolsPage() -> impl IntoView {
    view! { <PageHeader title="Tools" description=""/> }
}

/// `/catalog/tools/:id`.
#[component]
pub fn ToolPage() -> impl IntoView {
    view! { <PageHeader title="Tool" description=""/> }
}
