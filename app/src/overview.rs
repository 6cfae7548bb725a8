//! The Overview page: the set-up checklist until every step is done,
//! counts, activity over two weeks, latest events.

pub mod api;

use crate::components::misc::format_count;
use crate::components::time::{is_utc, zone};
use crate::components::{Bar, BarChart, ErrorPanel, OutcomeBadge, PageHeader, RelTime, Skeleton};
use api::get_overview;
use leptos::prelude::*;
use leptos_meta::Title;
use portcullis_types::OverviewStats;

/// One step of getting a new console working: done when its figure is
/// non-zero.
struct Step {
    title: &'static str,
    hint: &'static str,
    href: &'static str,
    action: &'static str,
    done: bool,
}

fn setup_steps(s: &OverviewStats) -> [Step; 5] {
    [
        Step {
            title: "Connect single sign-on",
            hint: "Admins and employees sign in through your identity provider (OIDC or SAML).",
            href: "/settings/sso/new",
            action: "Connect SSO",
            done: s.sso_connections > 0,
        },
        Step {
            title: "Add a SCIM directory",
            hint: "Okta, Entra ID and others provision people and groups, and remove them when they leave.",
            href: "/settings/directories",
            action: "Add directory",
            done: s.directories > 0,
        },
        Step {
            title: "Register an MCP server",
            hint: "Add a server to the catalog; its tools are discovered for review.",
            href: "/catalog/servers",
            action: "Register server",
            done: s.servers > 0,
        },
        Step {
            title: "Grant access",
            hint: "Allow people or groups to call a server or some of its tools. No grant means no access.",
            href: "/access/grants",
            action: "Create grant",
            done: s.grants > 0,
        },
        Step {
            title: "Add a gateway",
            hint: "A gateway in front of your MCP servers enforces the signed policy on every call.",
            href: "/gateways",
            action: "Add gateway",
            done: s.gateways > 0,
        },
    ]
}

/// The set-up checklist of a console not fully set up; each step ticks
/// itself when done (nothing is shown once all are).
#[component]
fn SetupChecklist(stats: OverviewStats) -> impl IntoView {
    let steps = setup_steps(&stats);
    let done = steps.iter().filter(|s| s.done).count();
    let total = steps.len();
    (done < total).then(|| view! {
        <section class="mb-6 rounded-lg border border-indigo-200 bg-white shadow-sm dark:border-indigo-900 dark:bg-zinc-900"
            aria-labelledby="setup-title" data-testid="setup-checklist">
            <div class="flex flex-wrap items-center justify-between gap-3 border-b border-zinc-200 px-5 py-4 dark:border-zinc-800">
                <div>
                    <h2 id="setup-title" class="text-sm font-semibold">"Set up Portcullis"</h2>
                    <p class="mt-0.5 text-xs text-zinc-500">"Five steps from an empty console to governed MCP calls."</p>
                </div>
                <div class="flex items-center gap-3">
                    <span class="text-xs font-medium tabular-nums text-zinc-600 dark:text-zinc-300" data-testid="setup-progress">
                        {format!("{done} of {total} done")}
                    </span>
                    <div class="h-1.5 w-28 overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-800" role="progressbar"
                        aria-label="Set-up progress" aria-valuemin="0" aria-valuemax=total aria-valuenow=done>
                        <div class="h-full rounded-full bg-indigo-600" style=format!("width: {}%", done * 100 / total)></div>
                    </div>
                </div>
            </div>
            <ol class="divide-y divide-zinc-100 dark:divide-zinc-800">
                {steps.into_iter().enumerate().map(|(i, step)| view! {
                    <li class="flex items-start gap-4 px-5 py-4" data-testid="setup-step" data-done=step.done.to_string()>
                        {if step.done {
                            view! {
                                <span class="flex h-6 w-6 shrink-0 items-center justify-center rounded-full bg-emerald-600 text-white" aria-hidden="true">
                                    <svg viewBox="0 0 20 20" class="h-4 w-4" fill="none" stroke="currentColor" stroke-width="2.2"><path d="M5 10.5l3.2 3L15 7"/></svg>
                                </span>
                            }.into_any()
                        } else {
                            view! {
                                <span class="flex h-6 w-6 shrink-0 items-center justify-center rounded-full border border-zinc-300 text-xs font-medium tabular-nums text-zinc-500 dark:border-zinc-700" aria-hidden="true">
                                    {i + 1}
                                </span>
                            }.into_any()
                        }}
                        <div class="min-w-0 flex-1">
                            <p class=if step.done { "text-sm font-medium text-zinc-500 line-through decoration-zinc-400" } else { "text-sm font-medium" }>
                                {step.title}
                                <span class="sr-only">{if step.done { " (done)" } else { " (to do)" }}</span>
                            </p>
                            <p class="mt-0.5 text-xs text-zinc-500 dark:text-zinc-400">{step.hint}</p>
                        </div>
                        {(!step.done).then(|| view! {
                            <a href=step.href class="btn-secondary shrink-0 text-xs">{step.action}</a>
                        })}
                    </li>
                }).collect_view()}
            </ol>
        </section>
    })
}

#[component]
fn Stat(
    #[prop(into)] label: String,
    value: i64,
    #[prop(into)] hint: String,
    #[prop(optional)] alert: bool,
    /// Where the label links to (the list behind the figure).
    #[prop(optional, into)]
    href: Option<String>,
) -> impl IntoView {
    view! {
        <div class="rounded-lg border border-zinc-200 bg-white p-5 shadow-sm dark:border-zinc-800 dark:bg-zinc-900">
            <p class="text-sm font-medium text-zinc-500 dark:text-zinc-400">
                {match href {
                    Some(h) => view! { <a href=h class="hover:text-zinc-900 hover:underline dark:hover:text-zinc-100">{label}</a> }.into_any(),
                    None => view! { <span>{label}</span> }.into_any(),
                }}
            </p>
            <p class=format!("mt-2 text-3xl font-semibold tabular-nums tracking-tight {}",
                if alert && value > 0 { "text-amber-600 dark:text-amber-400" } else { "" })>
                {format_count(value)}
            </p>
            <p class="mt-1 text-xs text-zinc-500">{hint}</p>
        </div>
    }
}

/// `/`: the console's front page.
#[component]
pub fn OverviewPage() -> impl IntoView {
    // Fetched again when the page learns the browser's zone (a first
    // visit renders in UTC): the chart's days are the admin's days.
    let stats = Resource::new(zone, |_| get_overview());
    view! {
        <Title text="Overview · Portcullis"/>
        <PageHeader title="Overview" description="What is happening in your Portcullis console."/>
        <Suspense fallback=|| view! { <Skeleton rows=6/> }>
            {move || Suspend::new(async move {
                match stats.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(s) => view! {
                        <SetupChecklist stats=s.clone()/>
                        <div class="grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-4">
                            <Stat label="Console admins" value=s.admins hint="Owners, admins and auditors (not disabled)"/>
                            <Stat label="Active sessions" value=s.active_sessions hint="Signed-in browsers right now"/>
                            <Stat label="Audit events (24 h)" value=s.audit_events_24h hint=format!("{} in total", format_count(s.audit_events))/>
                            <Stat label="Failed sign-ins (24 h)" value=s.failed_signins_24h hint="Wrong passwords and throttled attempts" alert=true/>
                        </div>
                        <div class="mt-4 grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-4" data-testid="access-stats">
                            <Stat label="MCP servers" value=s.servers hint="Registered in the catalog" href="/catalog/servers"/>
                            <Stat label="Tools awaiting review" value=s.tools_awaiting_review
                                hint="New or changed tools, denied to everyone until approved" alert=true href="/catalog/tools?status=quarantined"/>
                            <Stat label="Grants" value=s.grants hint="Allow and deny rules; no grant means no access" href="/access/grants"/>
                            <Stat label="Policy revision" value=s.policy_revision
                                hint=if s.gateways == 0 {
                                    "No gateway enforces it yet".to_owned()
                                } else {
                                    format!("Enforced by {} of {} gateways", format_count(s.gateways_current), format_count(s.gateways))
                                }
                                href="/access/revisions"/>
                        </div>
                        <div class="mt-6 grid grid-cols-1 gap-6 lg:grid-cols-5">
                            <section class="rounded-lg border border-zinc-200 bg-white p-5 shadow-sm dark:border-zinc-800 dark:bg-zinc-900 lg:col-span-3">
                                <h2 class="text-sm font-semibold">"Audit events per day"</h2>
                                <p class="mb-4 text-xs text-zinc-500" data-testid="chart-zone">{move || {
                                    let z = zone();
                                    if is_utc(&z) { "Last 14 days, UTC".to_owned() } else { format!("Last 14 days, {z}") }
                                }}</p>
                                <BarChart data=s.events_per_day.iter().cloned().map(Bar::from).collect() label="Audit events per day"/>
                            </section>
                            <section class="rounded-lg border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900 lg:col-span-2">
                                <div class="flex items-center justify-between border-b border-zinc-200 px-5 py-4 dark:border-zinc-800">
                                    <h2 class="text-sm font-semibold">"Latest activity"</h2>
                                    <a href="/audit" class="text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400">"View all"</a>
                                </div>
                                <ul class="divide-y divide-zinc-100 dark:divide-zinc-800" data-testid="latest-events">
                                    {s.latest_events.into_iter().map(|e| view! {
                                        <li class="flex items-start justify-between gap-3 px-5 py-3">
                                            <div class="min-w-0">
                                                <p class="truncate font-mono text-xs text-zinc-800 dark:text-zinc-200">{e.action.clone()}</p>
                                                <p class="truncate text-xs text-zinc-500">{e.actor_display.clone()}
                                                    {e.target_display.clone().map(|t| format!(" → {t}"))}</p>
                                            </div>
                                            <div class="flex shrink-0 flex-col items-end gap-1 text-xs text-zinc-500">
                                                <RelTime at=e.occurred_at/>
                                                <OutcomeBadge outcome=e.outcome/>
                                            </div>
                                        </li>
                                    }).collect_view()}
                                </ul>
                            </section>
                        </div>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
