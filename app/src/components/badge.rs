//! Status, role and outcome badges with consistent colours. Colour is never
//! the only signal: every badge carries its word.

use leptos::prelude::*;
use portcullis_types::{ConsoleUserStatus, Outcome, Role};

/// The colour family of a badge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Neutral,
    Accent,
    Ok,
    Attention,
    Danger,
}

impl Tone {
    fn classes(self) -> &'static str {
        match self {
            Tone::Neutral => "bg-zinc-100 text-zinc-700 ring-zinc-500/20 dark:bg-zinc-800 dark:text-zinc-300 dark:ring-zinc-400/20",
            Tone::Accent => "bg-indigo-50 text-indigo-700 ring-indigo-600/20 dark:bg-indigo-500/10 dark:text-indigo-300 dark:ring-indigo-400/30",
            Tone::Ok => "bg-emerald-50 text-emerald-700 ring-emerald-600/20 dark:bg-emerald-500/10 dark:text-emerald-300 dark:ring-emerald-400/30",
            Tone::Attention => "bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-500/10 dark:text-amber-300 dark:ring-amber-400/30",
            Tone::Danger => "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-500/10 dark:text-red-300 dark:ring-red-400/30",
        }
    }
}

/// A small labelled pill.
#[component]
pub fn Badge(tone: Tone, #[prop(into)] label: String) -> impl IntoView {
    view! {
        <span class=format!(
            "inline-flex items-center rounded-md px-2 py-0.5 text-xs font-medium ring-1 ring-inset whitespace-nowrap {}",
            tone.classes(),
        )>{label}</span>
    }
}

/// A console role.
#[component]
pub fn RoleBadge(role: Role) -> impl IntoView {
    let tone = match role {
        Role::Owner => Tone::Accent,
        Role::Admin => Tone::Neutral,
        Role::Auditor => Tone::Neutral,
    };
    view! { <Badge tone label=role.label()/> }
}

/// A console user's status.
#[component]
pub fn StatusBadge(status: ConsoleUserStatus) -> impl IntoView {
    let (tone, label) = match status {
        ConsoleUserStatus::Active => (Tone::Ok, "Active"),
        ConsoleUserStatus::Invited => (Tone::Attention, "Invited"),
        ConsoleUserStatus::Disabled => (Tone::Neutral, "Disabled"),
    };
    view! { <Badge tone label/> }
}

/// An audit outcome.
#[component]
pub fn OutcomeBadge(outcome: Outcome) -> impl IntoView {
    let (tone, label) = match outcome {
        Outcome::Success => (Tone::Ok, "Success"),
        Outcome::Failure => (Tone::Danger, "Failure"),
        Outcome::Denied => (Tone::Attention, "Denied"),
    };
    view! { <Badge tone label/> }
}

/// Whether a directory user is active (SCIM `active`): green or grey.
#[component]
pub fn ActiveBadge(active: bool) -> impl IntoView {
    let (tone, label) = if active {
        (Tone::Ok, "Active")
    } else {
        (Tone::Neutral, "Inactive")
    };
    view! { <Badge tone label/> }
}

/// A tool's effective annotations as badges: read-only, destructive, or
/// "writes" (neither), then idempotent and open-world. Annotations
/// are the server's hints (possibly overridden by an admin): shown, never
/// trusted to grant anything.
#[component]
pub fn AnnotationBadges(annotations: portcullis_types::EffectiveAnnotations) -> impl IntoView {
    let a = annotations;
    let mut items: Vec<(Tone, &'static str)> = Vec::new();
    if a.read_only {
        items.push((Tone::Ok, "read-only"));
    }
    if a.destructive {
        items.push((Tone::Danger, "destructive"));
    } else if !a.read_only {
        items.push((Tone::Neutral, "writes"));
    }
    if a.idempotent {
        items.push((Tone::Neutral, "idempotent"));
    }
    if a.open_world {
        items.push((Tone::Accent, "open-world"));
    }
    view! {
        <span class="inline-flex flex-wrap gap-1">
            {items.into_iter().map(|(tone, label)| view! { <Badge tone label/> }).collect_view()}
        </span>
    }
}

/// A tool's review status.
#[component]
pub fn ToolStatusBadge(status: portcullis_types::ToolStatus) -> impl IntoView {
    use portcullis_types::ToolStatus;
    let (tone, label) = match status {
        ToolStatus::Active => (Tone::Ok, "Approved"),
        ToolStatus::Quarantined => (Tone::Attention, "Quarantined"),
        ToolStatus::Removed => (Tone::Neutral, "Removed"),
    };
    view! { <Badge tone label/> }
}
