//! Catalog pages: MCP servers (register, discover, tools with annotations and
//! who can call them, access matrix) and tools (quarantine review with the
//! definition diff, annotation overrides).
//!
//! Tool names, descriptions and schemas come from the MCP server: untrusted,
//! always rendered as text, long text clipped with a way to expand.

pub mod api;
mod server;
mod servers;
mod tool;
mod tools;

pub use server::ServerPage;
pub use servers::ServersPage;
pub use tool::ToolPage;
pub use tools::ToolsPage;

/// Form input styling (as on the other settings forms).
pub(crate) const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";
/// A form label.
pub(crate) const LABEL: &str = "mb-1.5 block text-sm font-medium";
/// A field's help text.
pub(crate) const HELP: &str = "mt-1 text-xs text-zinc-500";

/// An inline error under a field, naming it.
pub(crate) fn field_error(
    field: &'static str,
    label: &'static str,
    error: Option<crate::error::AppError>,
) -> impl leptos::IntoView {
    use leptos::prelude::*;
    error.and_then(|e| e.field(field)).map(|m| {
        view! { <p class="mt-1 text-xs text-red-600 dark:text-red-400" role="alert">{format!("{label}: {m}")}</p> }
    })
}

/// A success notice.
pub(crate) fn notice(message: String) -> impl leptos::IntoView {
    use leptos::prelude::*;
    view! {
        <div role="status" data-testid="action-notice"
            class="mb-4 rounded-md border border-emerald-200 bg-emerald-50 px-4 py-3 text-sm text-emerald-800 dark:border-emerald-900 dark:bg-emerald-950/40 dark:text-emerald-300">
            {message}
        </div>
    }
}

/// At most `max` characters of untrusted text, and whether it was clipped.
pub(crate) fn clip(s: &str, max: usize) -> (String, bool) {
    let mut it = s.chars();
    let short: String = it.by_ref().take(max).collect();
    let clipped = it.next().is_some();
    (short, clipped)
}
