//! Small pieces: copy buttons, empty states, errors, pagination, skeletons.

use crate::error::AppError;
use leptos::prelude::*;

/// A button that copies `value` to the clipboard and says so. `label` names
/// what is copied for screen readers ("Copy token").
#[component]
pub fn CopyButton(
    #[prop(into)] value: String,
    #[prop(into)] label: String,
    /// A small icon-sized button (next to ids) instead of a full button.
    #[prop(optional)]
    compact: bool,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            if let Some(w) = web_sys::window() {
                let _ = w.navigator().clipboard().write_text(&value);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &value;
        copied.set(true);
    };
    let class = if compact {
        "shrink-0 rounded px-1.5 py-0.5 text-xs font-medium text-zinc-500 hover:bg-zinc-100 hover:text-zinc-800 dark:hover:bg-zinc-800 dark:hover:text-zinc-200"
    } else {
        "btn-secondary shrink-0"
    };
    view! {
        <button type="button" class=class on:click=copy aria-label=label.clone() title=label>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

/// A button to the audit explorer filtered to the events about `id` (a
/// person, group, server, tool, gateway, client or agent).
#[component]
pub fn AuditEventsLink(
    #[prop(into)] id: String,
    /// A small text link (in a table row) instead of a button.
    #[prop(optional)]
    compact: bool,
) -> impl IntoView {
    let class = if compact {
        "mt-1 inline-block text-xs font-medium text-indigo-600 hover:underline dark:text-indigo-400"
    } else {
        "btn-secondary"
    };
    view! {
        <a class=class href=format!("/audit?target={}", url_encode(&id)) data-testid="audit-events-link">
            {if compact { "Audit events →" } else { "Audit events" }}
        </a>
    }
}

/// What to show when a list is empty: what it is and what to do next.
#[component]
pub fn EmptyState(
    #[prop(into)] title: String,
    #[prop(into)] hint: String,
    /// The next step, e.g. a link to where the list gets its first item.
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="flex flex-col items-center justify-center px-6 py-14 text-center">
            <div class="mb-3 flex h-10 w-10 items-center justify-center rounded-full bg-zinc-100 text-zinc-400 dark:bg-zinc-800" aria-hidden="true">
                <svg viewBox="0 0 20 20" class="h-5 w-5" fill="currentColor"><path d="M3 4a1 1 0 011-1h12a1 1 0 011 1v3H3V4zm0 5h14v7a1 1 0 01-1 1H4a1 1 0 01-1-1V9zm5 2a1 1 0 100 2h4a1 1 0 100-2H8z"/></svg>
            </div>
            <p class="text-sm font-medium">{title}</p>
            <p class="mt-1 max-w-md text-sm text-zinc-500 dark:text-zinc-400">{hint}</p>
            {children.map(|c| view! { <div class="mt-4">{c()}</div> })}
        </div>
    }
}

/// An error box with the message, and the request id when there is one.
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    let title = if error.is_forbidden() {
        "You don't have access to this"
    } else if error.is_unauthenticated() {
        "Your session has ended"
    } else {
        "This could not be loaded"
    };
    view! {
        <div role="alert" class="rounded-lg border border-red-200 bg-red-50 p-4 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">
            <p class="font-medium">{title}</p>
            <p class="mt-1">{error.message.clone()}</p>
            {error.is_unauthenticated().then(|| view! { <a class="mt-2 inline-block font-medium underline" href="/login">"Sign in again"</a> })}
            {error.request_id.clone().map(|id| view! { <p class="mt-2 font-mono text-xs opacity-70">"Request id: " {id}</p> })}
        </div>
    }
}

/// "Showing 1–50 of 1,234" with previous/next links built by `href(offset)`.
#[component]
pub fn Pager(
    offset: i64,
    limit: i64,
    shown: usize,
    total: i64,
    href: Callback<i64, String>,
) -> impl IntoView {
    let first = if total == 0 { 0 } else { offset + 1 };
    let last = offset + shown as i64;
    let prev = (offset > 0).then(|| href.run((offset - limit).max(0)));
    let next = (last < total).then(|| href.run(offset + limit));
    let link = "rounded-md border border-zinc-200 px-3 py-1.5 text-sm font-medium hover:bg-zinc-50 dark:border-zinc-700 dark:hover:bg-zinc-800";
    let off = "rounded-md border border-zinc-100 px-3 py-1.5 text-sm text-zinc-400 dark:border-zinc-800 dark:text-zinc-600";
    view! {
        <nav class="flex items-center justify-between border-t border-zinc-200 px-4 py-3 dark:border-zinc-800" aria-label="Pagination">
            <p class="text-sm text-zinc-500 tabular-nums">
                "Showing " {format_count(first)} "–" {format_count(last)} " of " {format_count(total)}
            </p>
            <div class="flex gap-2">
                {match prev {
                    Some(h) => view! { <a class=link href=h rel="prev">"Previous"</a> }.into_any(),
                    None => view! { <span class=off aria-disabled="true">"Previous"</span> }.into_any(),
                }}
                {match next {
                    Some(h) => view! { <a class=link href=h rel="next">"Next"</a> }.into_any(),
                    None => view! { <span class=off aria-disabled="true">"Next"</span> }.into_any(),
                }}
            </div>
        </nav>
    }
}

/// 12345 → "12,345".
pub fn format_count(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters stay).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Grey placeholder rows while a table loads.
#[component]
pub fn Skeleton(#[prop(default = 5)] rows: usize) -> impl IntoView {
    view! {
        <div class="animate-pulse space-y-3 p-4" aria-busy="true" aria-label="Loading">
            {(0..rows).map(|_| view! { <div class="h-4 rounded bg-zinc-100 dark:bg-zinc-800"></div> }).collect_view()}
        </div>
    }
}

/// The banner for a refused or failed action (what the server said, e.g.
/// "The auditor role cannot …"), above the content it concerns.
pub fn action_alert(message: String) -> impl IntoView {
    view! {
        <div role="alert" data-testid="action-error"
            class="mb-4 rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">
            {message}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts get thousands separators.
    #[test]
    fn format_count_groups_thousands() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1,000");
        assert_eq!(format_count(1234567), "1,234,567");
    }

    /// Query values are percent-encoded; unreserved characters stay.
    #[test]
    fn url_encode_escapes_reserved() {
        assert_eq!(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(url_encode("console.signin-x_y~"), "console.signin-x_y~");
    }
}
