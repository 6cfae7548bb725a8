//! The Access pages: grants (who may call which server's tools), the
//! simulator ("can this person call this tool?", at any revision, with the
//! rules that matched), and policy revisions (list, diff, rollback); and the
//! Access tab of a person (`directory/user.rs` renders [`UserAccess`]).
//!
//! Lists, filters, the simulator's question and the compared revisions live
//! in the URL's query, so every view can be linked and works before
//! hydration. Mutations are server actions; the service checks the role and
//! names the field of every invalid input. Group names, emails and tool
//! names are untrusted and always rendered as text.

pub mod api;
mod grants;
mod revisions;
mod simulator;
mod user_access;

pub use grants::GrantsPage;
pub use revisions::RevisionsPage;
pub use simulator::SimulatorPage;
pub use user_access::UserAccess;

use crate::components::misc::url_encode;
use crate::components::time::{hover, local, zone};
use crate::components::{Badge, RelTime, Tone};
use leptos::prelude::*;
use portcullis_types::{GrantSubject, GrantSummary, GrantTarget, MatchedVia};

/// A form field's input (16 px in forms).
pub(crate) const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 disabled:opacity-60 dark:border-zinc-700 dark:bg-zinc-950";
/// A form field's label.
pub(crate) const LABEL: &str = "mb-1.5 block text-sm font-medium";
/// Help text under a field.
pub(crate) const HELP: &str = "mt-1 text-xs text-zinc-500 dark:text-zinc-400";
/// A text link.
pub(crate) const LINK: &str = "font-medium text-indigo-600 hover:underline dark:text-indigo-400";

/// The human name of an annotation flag, in a sentence ("read-only").
pub(crate) fn annotation_word(a: &str) -> &'static str {
    match a {
        "read_only" => "read-only",
        "destructive" => "destructive",
        "idempotent" => "idempotent",
        "open_world" => "open-world",
        _ => "annotated",
    }
}

/// What a grant covers, in words: "All tools", "Read-only tools", or the
/// tool names.
pub(crate) fn target_words(t: &GrantTarget) -> String {
    match t {
        GrantTarget::Server => "All tools".to_owned(),
        GrantTarget::Tools { names } => names.join(", "),
        GrantTarget::Annotation { annotation } => {
            let w = annotation_word(annotation);
            let mut c = w.chars();
            match c.next() {
                Some(f) => format!("{}{} tools", f.to_uppercase(), c.as_str()),
                None => "Tools".to_owned(),
            }
        }
    }
}

/// "Allow" (green) or "Deny" (red): the word and an icon, not colour alone.
#[component]
pub(crate) fn EffectBadge(#[prop(into)] effect: String) -> impl IntoView {
    let (class, label, icon) = if effect == "deny" {
        (
            "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-500/10 dark:text-red-300 dark:ring-red-400/30",
            "Deny",
            "M6 6l8 8M14 6l-8 8",
        )
    } else {
        (
            "bg-emerald-50 text-emerald-700 ring-emerald-600/20 dark:bg-emerald-500/10 dark:text-emerald-300 dark:ring-emerald-400/30",
            "Allow",
            "M5 10.5l3.5 3.5L15 6.5",
        )
    };
    view! {
        <span data-testid="effect-badge" data-effect=effect
            class=format!("inline-flex items-center gap-1 rounded-md px-2 py-0.5 text-xs font-medium ring-1 ring-inset whitespace-nowrap {class}")>
            <svg viewBox="0 0 20 20" class="h-3.5 w-3.5" fill="none" stroke="currentColor" stroke-width="2.2" aria-hidden="true">
                <path d=icon stroke-linecap="round" stroke-linejoin="round"/>
            </svg>
            {label}
        </span>
    }
}

/// "Allowed" (green, a check) or "Denied" (red, a cross) for a decision.
#[component]
pub(crate) fn Decision(allowed: bool) -> impl IntoView {
    let (class, label, icon) = if allowed {
        (
            "bg-emerald-50 text-emerald-700 ring-emerald-600/20 dark:bg-emerald-500/10 dark:text-emerald-300 dark:ring-emerald-400/30",
            "Allowed",
            "M5 10.5l3.5 3.5L15 6.5",
        )
    } else {
        (
            "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-500/10 dark:text-red-300 dark:ring-red-400/30",
            "Denied",
            "M6 6l8 8M14 6l-8 8",
        )
    };
    view! {
        <span data-testid="decision" data-allowed=allowed.to_string()
            class=format!("inline-flex items-center gap-1 rounded-md px-2 py-0.5 text-xs font-medium ring-1 ring-inset whitespace-nowrap {class}")>
            <svg viewBox="0 0 20 20" class="h-3.5 w-3.5" fill="none" stroke="currentColor" stroke-width="2.2" aria-hidden="true">
                <path d=icon stroke-linecap="round" stroke-linejoin="round"/>
            </svg>
            {label}
        </span>
    }
}

/// The subject of a grant: a link to the person or group, an agent's
/// name, or "Everyone".
pub(crate) fn subject_view(subject: &GrantSubject, display: &str) -> AnyView {
    let icon = |d: &'static str| {
        view! {
            <svg viewBox="0 0 20 20" class="h-4 w-4 shrink-0 text-zinc-400" fill="none" stroke="currentColor"
                stroke-width="1.6" aria-hidden="true"><path d=d stroke-linecap="round" stroke-linejoin="round"/></svg>
        }
    };
    const PERSON: &str = "M10 9a3 3 0 100-6 3 3 0 000 6zM4 17c0-3 2.7-5 6-5s6 2 6 5";
    const GROUP: &str = "M7 8a2.5 2.5 0 100-5 2.5 2.5 0 000 5zM14 9a2 2 0 100-4 2 2 0 000 4zM2 16c0-2.8 2.2-4.5 5-4.5s5 1.7 5 4.5M13 11.5c2.5 0 4.5 1.5 4.5 4";
    const AGENT: &str = "M6 7h8a2 2 0 012 2v5a2 2 0 01-2 2H6a2 2 0 01-2-2V9a2 2 0 012-2zM10 7V4M8 11h.01M12 11h.01M8 14h4";
    const EVERYONE: &str = "M10 17a7 7 0 100-14 7 7 0 000 14zM3 10h14M10 3c2 2 2.8 4.5 2.8 7S12 15 10 17M10 3C8 5 7.2 7.5 7.2 10S8 15 10 17";
    let (href, d, kind) = match subject {
        GrantSubject::User { id } => (Some(format!("/directory/users/{id}")), PERSON, "Person"),
        GrantSubject::Group { id } => (Some(format!("/directory/groups/{id}")), GROUP, "Group"),
        GrantSubject::Everyone => (None, EVERYONE, "Everyone"),
        GrantSubject::Agent { .. } => (None, AGENT, "Agent"),
    };
    let label = display.to_owned();
    match href {
        Some(h) => view! {
            <span class="flex min-w-0 items-center gap-2" title=format!("{kind}: {label}")>
                {icon(d)}
                <span class="sr-only">{format!("{kind}: ")}</span>
                <a href=h class="truncate font-medium text-zinc-900 hover:underline dark:text-zinc-100">{label.clone()}</a>
            </span>
        }
        .into_any(),
        None => view! {
            <span class="flex min-w-0 items-center gap-2" title=format!("{kind}: {label}")>
                {icon(d)}
                <span class="sr-only">{(kind != "Everyone").then(|| format!("{kind}: "))}</span>
                <span class="truncate font-medium">{label.clone()}</span>
            </span>
        }
        .into_any(),
    }
}

/// What a grant covers, with the destructive rule spelled out for allows.
pub(crate) fn target_view(g: &GrantSummary) -> AnyView {
    // Which allows leave destructive tools out unless they opt in: the whole
    // server, and annotations other than read-only (never destructive) and
    // destructive (selects them on purpose).
    let broad = match &g.target {
        GrantTarget::Server => true,
        GrantTarget::Annotation { annotation } => {
            !matches!(annotation.as_str(), "read_only" | "destructive")
        }
        GrantTarget::Tools { .. } => false,
    };
    let allow = g.effect != "deny";
    let note = if allow && broad && !g.include_destructive {
        Some(view! { <span class="text-xs text-zinc-500">"except destructive"</span> }.into_any())
    } else if allow && broad && g.include_destructive {
        Some(view! { <Badge tone=Tone::Danger label="incl. destructive"/> }.into_any())
    } else {
        None
    };
    let main = match &g.target {
        GrantTarget::Tools { names } => {
            let shown: Vec<String> = names.iter().take(3).cloned().collect();
            let more = names.len().saturating_sub(shown.len());
            let all = names.join(", ");
            view! {
                <span class="flex min-w-0 flex-wrap items-center gap-1" title=all>
                    {shown.into_iter().map(|n| view! {
                        <code class="max-w-full truncate rounded bg-zinc-100 px-1.5 py-0.5 font-mono text-xs text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300">{n}</code>
                    }).collect_view()}
                    {(more > 0).then(|| view! { <span class="text-xs text-zinc-500">{format!("+{more} more")}</span> })}
                </span>
            }
            .into_any()
        }
        t => view! { <span>{target_words(t)}</span> }.into_any(),
    };
    view! {
        <span class="flex flex-wrap items-center gap-x-2 gap-y-1">{main}{note}</span>
    }
    .into_any()
}

/// When a grant ends: "Never", a relative time, or an "Expired" badge.
pub(crate) fn expiry_view(g: &GrantSummary) -> AnyView {
    match (g.expires_at, g.expired) {
        (None, _) => view! { <span class="text-zinc-400">"Never"</span> }.into_any(),
        (Some(at), true) => view! {
            <span class="flex flex-wrap items-center gap-2">
                <Badge tone=Tone::Neutral label="Expired"/>
                <span class="text-xs text-zinc-500"><RelTime at/></span>
            </span>
        }
        .into_any(),
        (Some(at), false) => view! {
            <span title=move || hover(at, &zone()) class="whitespace-nowrap tabular-nums">
                {move || expires_phrase(at, chrono::Utc::now(), &zone())}
            </span>
        }
        .into_any(),
    }
}

/// "in 3 h" while near, the date when far away ("Jun 30, 2030").
pub(crate) fn expires_phrase(
    at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    zone: &str,
) -> String {
    if at - now < chrono::Duration::days(60) {
        format!("in {}", until(at, now, zone))
    } else {
        until(at, now, zone)
    }
}

/// "3 h", "2 days", "5 min" until `at`; a date in `zone` when far away.
pub(crate) fn until(
    at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    zone: &str,
) -> String {
    let secs = (at - now).num_seconds().max(0);
    match secs {
        s if s < 90 => "a minute".to_owned(),
        s if s < 3600 => format!("{} min", (s + 30) / 60),
        s if s < 48 * 3600 => format!("{} h", s / 3600),
        s if s < 60 * 86_400 => format!("{} days", s / 86_400),
        _ => local(at, zone).format("%b %-d, %Y").to_string(),
    }
}

/// How a rule reached the person: direct, a link to the group, everyone.
pub(crate) fn via_view(v: &MatchedVia) -> AnyView {
    match v {
        MatchedVia::Direct => view! { <span>"Direct grant"</span> }.into_any(),
        MatchedVia::Everyone => view! { <span>"Everyone"</span> }.into_any(),
        MatchedVia::Group { id, name } => view! {
            <span>"Group " <a class=LINK href=format!("/directory/groups/{id}")>{name.clone()}</a></span>
        }
        .into_any(),
    }
}

/// A decision's reason code in a few words.
pub(crate) fn reason_words(code: &str) -> &'static str {
    match code {
        "allowed" => "Allowed by a grant",
        "denied_by_rule" => "Denied by a deny grant",
        "no_grant" => "No grant",
        "unknown_principal" => "Not in the policy",
        "inactive_principal" => "Person deactivated",
        "unknown_server" => "Server not in the policy",
        "server_disabled" => "Server disabled",
        "unknown_tool" => "No such tool",
        "quarantined" => "Quarantined (awaiting review)",
        _ => "Denied",
    }
}

/// A link to the simulator with the question filled in.
pub(crate) fn simulator_href(user: &str, server: &str, tool: &str) -> String {
    format!(
        "/access/simulator?user={}&server={}&tool={}",
        url_encode(user),
        url_encode(server),
        url_encode(tool)
    )
}

/// A small inline error under a field, naming it.
pub(crate) fn field_error(label: &'static str, message: Option<String>) -> impl IntoView {
    message.map(|m| {
        view! {
            <p class="mt-1 text-xs text-red-600 dark:text-red-400" role="alert" data-testid="field-error">
                {format!("{label}: {m}")}
            </p>
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Targets read as plain words.
    #[test]
    fn access_target_words_read_naturally() {
        assert_eq!(target_words(&GrantTarget::Server), "All tools");
        assert_eq!(
            target_words(&GrantTarget::Annotation {
                annotation: "read_only".into()
            }),
            "Read-only tools"
        );
        assert_eq!(
            target_words(&GrantTarget::Tools {
                names: vec!["a".into(), "b".into()]
            }),
            "a, b"
        );
    }

    /// Expiry reads as a duration from now.
    #[test]
    fn access_until_reads_naturally() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .map(|d| d.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        assert_eq!(
            until(now + chrono::Duration::minutes(10), now, ""),
            "10 min"
        );
        assert_eq!(until(now + chrono::Duration::hours(5), now, ""), "5 h");
        assert_eq!(until(now + chrono::Duration::days(3), now, ""), "3 days");
        assert_eq!(
            expires_phrase(now + chrono::Duration::days(3), now, ""),
            "in 3 days"
        );
        let far = now + chrono::Duration::days(400);
        assert_eq!(
            expires_phrase(far, now, ""),
            far.format("%b %-d, %Y").to_string()
        );
    }
}
