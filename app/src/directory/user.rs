//! Directory → Users → one person: summary card, then Attributes, Access
//! (what they may call and why, from [`crate::access`]), Groups and
//! Activity (the status history from the audit log).

use super::api::get_directory_user;
use super::{action_label, initials_of, person_name, CARD};
use crate::access::UserAccess;
use crate::components::detail::text_or_dash;
use crate::components::{
    AbsTime, ActiveBadge, AuditEventsLink, Badge, Breadcrumbs, CopyValue, EmptyState, ErrorPanel,
    Field, OutcomeBadge, RelTime, Skeleton, Tab, Tabs, Tone,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use portcullis_types::{AuditEventSummary, DirectoryUserDetail};

fn crumbs(name: Option<String>) -> Vec<(String, Option<String>)> {
    vec![
        ("Directory".into(), None),
        ("Users".into(), Some("/directory/users".into())),
        (name.unwrap_or_else(|| "User".into()), None),
    ]
}

/// `/directory/users/{id}`.
#[component]
pub fn UserPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let user = Resource::new(id, get_directory_user);
    view! {
        <Title text="User · Portcullis"/>
        <Suspense fallback=|| view! { <Skeleton rows=8/> }>
            {move || Suspend::new(async move {
                let tab = query.read().get("tab").unwrap_or_default();
                match user.await {
                    Err(e) => view! {
                        <Breadcrumbs crumbs=crumbs(None)/>
                        <ErrorPanel error=e/>
                    }.into_any(),
                    Ok(u) => user_view(u, &tab).into_any(),
                }
            })}
        </Suspense>
    }
}

fn user_view(u: DirectoryUserDetail, tab: &str) -> impl IntoView {
    let name = person_name(u.display_name.as_deref(), &u.user_name);
    let base = format!("/directory/users/{}", u.id);
    let tabs = vec![
        Tab {
            label: "Attributes",
            href: base.clone(),
            count: None,
            active: !matches!(tab, "access" | "groups" | "activity"),
        },
        Tab {
            label: "Access",
            href: format!("{base}?tab=access"),
            count: None,
            active: tab == "access",
        },
        Tab {
            label: "Groups",
            href: format!("{base}?tab=groups"),
            count: Some(u.groups.len() as i64),
            active: tab == "groups",
        },
        Tab {
            label: "Activity",
            href: format!("{base}?tab=activity"),
            count: Some(u.history.len() as i64),
            active: tab == "activity",
        },
    ];
    let primary_email = u
        .emails
        .iter()
        .find(|e| e.primary)
        .or(u.emails.first())
        .map(|e| e.value.clone());
    let body = match tab {
        "access" => view! {
            <UserAccess user_id=u.id.clone()
                who=primary_email.clone().unwrap_or_else(|| u.id.clone())/>
        }
        .into_any(),
        "groups" => groups_tab(&u).into_any(),
        "activity" => activity_tab(u.history.clone()).into_any(),
        _ => attributes_tab(u.clone()).into_any(),
    };
    view! {
        <Breadcrumbs crumbs=crumbs(Some(name.clone()))/>
        <section class=format!("{CARD} mb-6 p-5") data-testid="user-summary">
            <div class="flex items-start gap-4">
                <div class="flex h-12 w-12 shrink-0 items-center justify-center rounded-full bg-indigo-100 text-base font-semibold text-indigo-700 dark:bg-indigo-500/20 dark:text-indigo-300" aria-hidden="true">
                    {initials_of(&name)}
                </div>
                <div class="min-w-0 flex-1">
                    <div class="flex flex-wrap items-center gap-2">
                        <h1 class="truncate text-xl font-semibold tracking-tight" title=name.clone()>{name.clone()}</h1>
                        <ActiveBadge active=u.active/>
                        {u.deleted_at.map(|_| view! { <Badge tone=Tone::Danger label="Deleted by the directory"/> })}
                        <span class="ml-auto"><AuditEventsLink id=u.id.clone()/></span>
                    </div>
                    <p class="mt-0.5 truncate text-sm text-zinc-500 dark:text-zinc-400">
                        {u.user_name.clone()}
                        {primary_email.filter(|e| *e != u.user_name.to_lowercase()).map(|e| format!(" · {e}"))}
                    </p>
                </div>
            </div>
            <dl class="mt-5 grid grid-cols-1 gap-x-8 gap-y-4 border-t border-zinc-100 pt-4 text-sm dark:border-zinc-800 sm:grid-cols-2 lg:grid-cols-3">
                <div class="min-w-0">
                    <dt class="text-xs text-zinc-500">"User id"</dt>
                    <dd class="mt-1"><CopyValue value=u.id.clone() label="Copy user id"/></dd>
                </div>
                <div class="min-w-0">
                    <dt class="text-xs text-zinc-500">"External id (from the IdP)"</dt>
                    <dd class="mt-1">{match u.external_id.clone() {
                        Some(x) => view! { <CopyValue value=x label="Copy external id"/> }.into_any(),
                        None => view! { <span class="text-zinc-400">"—"</span> }.into_any(),
                    }}</dd>
                </div>
                <div class="min-w-0">
                    <dt class="text-xs text-zinc-500">"Source directory"</dt>
                    <dd class="mt-1 truncate">
                        <a class="font-medium text-indigo-600 hover:underline dark:text-indigo-400" href=format!("/settings/directories/{}", u.directory_id)>{u.directory_name.clone()}</a>
                    </dd>
                </div>
                <div>
                    <dt class="text-xs text-zinc-500">"Created"</dt>
                    <dd class="mt-1"><AbsTime at=u.created_at/>" · "<span class="text-zinc-500"><RelTime at=u.created_at/></span></dd>
                </div>
                <div>
                    <dt class="text-xs text-zinc-500">"Updated"</dt>
                    <dd class="mt-1"><AbsTime at=u.updated_at/>" · "<span class="text-zinc-500"><RelTime at=u.updated_at/></span></dd>
                </div>
                {u.deleted_at.map(|t| view! {
                    <div>
                        <dt class="text-xs text-zinc-500">"Deleted"</dt>
                        <dd class="mt-1"><AbsTime at=t/></dd>
                    </div>
                })}
            </dl>
        </section>
        <Tabs tabs/>
        {body}
    }
}

fn attributes_tab(u: DirectoryUserDetail) -> impl IntoView {
    let raw = serde_json::to_string_pretty(&u.resource).unwrap_or_default();
    let manager = u.manager.clone().map(|m| {
        let label = m.display_name.clone().unwrap_or_else(|| m.value.clone());
        match m.user_id {
            Some(id) => view! {
                <a class="font-medium text-indigo-600 hover:underline dark:text-indigo-400" href=format!("/directory/users/{id}")>{label}</a>
            }.into_any(),
            None => view! {
                <span>{label}</span>
                <span class="ml-2 text-xs text-zinc-500">"(not a user of this directory: " <code class="font-mono">{m.value}</code> ")"</span>
            }.into_any(),
        }
    });
    view! {
        <section class=format!("{CARD} px-5 py-3") aria-label="Attributes" data-testid="user-attributes">
            <dl class="divide-y divide-zinc-100 dark:divide-zinc-800">
                <Field label="Display name">{text_or_dash(u.display_name.clone())}</Field>
                <Field label="Given name">{text_or_dash(u.given_name.clone())}</Field>
                <Field label="Family name">{text_or_dash(u.family_name.clone())}</Field>
                <Field label="User name">{u.user_name.clone()}</Field>
                <Field label="Emails">
                    {if u.emails.is_empty() {
                        view! { <span class="text-zinc-400">"—"</span> }.into_any()
                    } else {
                        view! {
                            <ul class="space-y-1">
                                {u.emails.into_iter().map(|e| view! {
                                    <li class="flex flex-wrap items-center gap-2">
                                        <span class="break-all">{e.value}</span>
                                        {e.kind.map(|k| view! { <span class="text-xs text-zinc-500">{k}</span> })}
                                        {e.primary.then(|| view! { <Badge tone=Tone::Accent label="Primary"/> })}
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                </Field>
                <Field label="Title">{text_or_dash(u.title.clone())}</Field>
                <Field label="Department">{text_or_dash(u.department.clone())}</Field>
                <Field label="Organization">{text_or_dash(u.organization.clone())}</Field>
                <Field label="Employee number">{text_or_dash(u.employee_number.clone())}</Field>
                <Field label="Manager">
                    {match manager {
                        Some(v) => v,
                        None => view! { <span class="text-zinc-400">"—"</span> }.into_any(),
                    }}
                </Field>
            </dl>
            <details class="border-t border-zinc-100 py-3 dark:border-zinc-800">
                <summary class="cursor-pointer text-sm font-medium text-zinc-600 hover:text-zinc-900 dark:text-zinc-400 dark:hover:text-zinc-100">
                    "SCIM resource as the directory sent it"
                </summary>
                <pre class="mt-3 max-h-96 overflow-auto rounded-md bg-zinc-50 p-3 font-mono text-xs dark:bg-zinc-950">{raw}</pre>
            </details>
        </section>
    }
}

fn groups_tab(u: &DirectoryUserDetail) -> impl IntoView {
    if u.groups.is_empty() {
        return view! {
            <section class=CARD>
                <EmptyState title="Not in any group"
                    hint="Groups come from the IdP: push a group to this app in Okta or Entra ID and add the person there."/>
            </section>
        }
        .into_any();
    }
    view! {
        <section class=CARD aria-label="Groups">
            <ul class="divide-y divide-zinc-100 dark:divide-zinc-800" data-testid="user-groups">
                {u.groups.iter().map(|g| view! {
                    <li class="relative flex items-center justify-between px-5 py-3 hover:bg-zinc-50 dark:hover:bg-zinc-800/40">
                        <a href=format!("/directory/groups/{}", g.id) class=format!("truncate {}", super::ROW_LINK)>{g.display_name.clone()}</a>
                        <span aria-hidden="true" class="text-zinc-400">"›"</span>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
    .into_any()
}

/// The dot colour of an event in the status history.
fn dot_class(action: &str) -> &'static str {
    match action {
        "scim.user.created" | "scim.user.reactivated" => "bg-emerald-500",
        "scim.user.deactivated" => "bg-zinc-400",
        "scim.user.deleted" => "bg-red-500",
        _ => "bg-indigo-400",
    }
}

/// The audit history of a user or group, newest first.
pub(crate) fn activity_tab(events: Vec<AuditEventSummary>) -> impl IntoView {
    if events.is_empty() {
        return view! {
            <section class=CARD>
                <EmptyState title="No activity recorded" hint="Changes the directory makes show up here and in the Audit log."/>
            </section>
        }
        .into_any();
    }
    view! {
        <section class=format!("{CARD} px-5 py-4") aria-label="Activity">
            <ol class="relative space-y-5 border-l border-zinc-200 pl-6 dark:border-zinc-700" data-testid="history">
                {events.into_iter().map(|e| {
                    let via = e.details.get("via").and_then(|v| v.as_str()).map(|v| format!("via {v}"));
                    view! {
                        <li class="relative">
                            <span class=format!("absolute -left-[1.95rem] top-1.5 h-3 w-3 rounded-full ring-4 ring-white dark:ring-zinc-900 {}", dot_class(&e.action)) aria-hidden="true"></span>
                            <div class="flex flex-wrap items-center gap-x-3 gap-y-1">
                                <p class="text-sm font-medium">{action_label(&e.action)}</p>
                                <code class="font-mono text-xs text-zinc-500">{e.action.clone()}</code>
                                <OutcomeBadge outcome=e.outcome/>
                            </div>
                            <p class="mt-1 text-xs text-zinc-500">
                                <RelTime at=e.occurred_at/>
                                " · " {e.actor_display.clone()}
                                {via.map(|v| format!(" · {v}"))}
                                {e.request_id.clone().map(|r| view! { " · request " <code class="font-mono">{r}</code> })}
                            </p>
                        </li>
                    }
                }).collect_view()}
            </ol>
        </section>
    }
    .into_any()
}
