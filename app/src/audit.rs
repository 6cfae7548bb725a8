//! The Audit log page: events newest first, filtered by action, actor and
//! time range through the URL's query, paginated on the server.

pub mod api;
pub mod settings;
pub mod streaming;

use crate::components::misc::{format_count, url_encode};
use crate::components::time;
use crate::components::{
    EmptyState, ErrorPanel, OutcomeBadge, PageHeader, Pager, RelTime, Skeleton,
};
use api::list_audit_events;
use chrono::{NaiveDate, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::AuditQuery;

const PAGE: i64 = 50;
const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-1.5 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";

/// The start of day `s` (`2026-11-26`) in the admin's time zone.
fn day_start(s: &str, zone: &str) -> Option<chrono::DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let midnight = d.and_hms_opt(0, 0, 0)?;
    // A zone whose clocks skip midnight starts that day at 01:00.
    time::local_to_utc(midnight, zone)
        .or_else(|| time::local_to_utc(midnight + chrono::Duration::hours(1), zone))
}

/// `/audit`.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let q = move || AuditQuery {
        action: param("action"),
        actor: param("actor"),
        since: day_start(&param("since"), &time::zone()),
        until: NaiveDate::parse_from_str(&param("until"), "%Y-%m-%d")
            .ok()
            .and_then(|d| d.succ_opt())
            .and_then(|next| day_start(&next.to_string(), &time::zone())),
        offset: param("offset").parse().unwrap_or(0),
        limit: PAGE,
    };
    let events = Resource::new(q, list_audit_events);
    let expanded = RwSignal::new(None::<i64>);
    view! {
        <Title text="Audit log · Portcullis"/>
        <PageHeader title="Audit log" description="Every change and sign-in, newest first. Each event is chained to the one before it by a SHA-256 hash."/>
        <form method="get" action="/audit" class="mb-4 grid grid-cols-1 gap-3 rounded-lg border border-zinc-200 bg-white p-4 shadow-sm dark:border-zinc-800 dark:bg-zinc-900 sm:grid-cols-2 lg:grid-cols-5">
            <div>
                <label for="f-action" class="mb-1 block text-xs font-medium text-zinc-600 dark:text-zinc-400">"Action"</label>
                <input id="f-action" name="action" class=INPUT placeholder="console.signin" prop:value=move || param("action")/>
            </div>
            <div>
                <label for="f-actor" class="mb-1 block text-xs font-medium text-zinc-600 dark:text-zinc-400">"Actor"</label>
                <input id="f-actor" name="actor" class=INPUT placeholder="email or id" prop:value=move || param("actor")/>
            </div>
            <div>
                <label for="f-since" class="mb-1 block text-xs font-medium text-zinc-600 dark:text-zinc-400">"From"</label>
                <input id="f-since" name="since" type="date" class=INPUT prop:value=move || param("since")/>
            </div>
            <div>
                <label for="f-until" class="mb-1 block text-xs font-medium text-zinc-600 dark:text-zinc-400">"To (inclusive)"</label>
                <input id="f-until" name="until" type="date" class=INPUT prop:value=move || param("until")/>
            </div>
            <div class="flex items-end gap-2">
                <button type="submit" class="btn-primary">"Apply filters"</button>
                <a href="/audit" class="btn-secondary">"Clear"</a>
            </div>
        </form>
        <div class="overflow-hidden rounded-lg border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900">
            <Transition fallback=|| view! { <Skeleton rows=8/> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                        Ok(page) if page.items.is_empty() => view! {
                            <EmptyState title="No events match" hint="Widen the time range or clear the filters. Every sign-in and change is recorded here."/>
                        }.into_any(),
                        Ok(page) => {
                            let shown = page.items.len();
                            let href = Callback::new(move |offset: i64| {
                                let mut s = format!("/audit?offset={offset}");
                                for k in ["action", "actor", "since", "until"] {
                                    let v = param(k);
                                    if !v.is_empty() {
                                        s.push_str(&format!("&{k}={}", url_encode(&v)));
                                    }
                                }
                                s
                            });
                            view! {
                                <div class="overflow-x-auto">
                                <table class="min-w-full text-sm" data-testid="audit-table">
                                    <thead class="sticky top-0 bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800/60">
                                        <tr>
                                            <th scope="col" class="px-4 py-3 text-right">"#"</th>
                                            <th scope="col" class="px-4 py-3">"When"</th>
                                            <th scope="col" class="px-4 py-3">"Actor"</th>
                                            <th scope="col" class="px-4 py-3">"Action"</th>
                                            <th scope="col" class="px-4 py-3">"Target"</th>
                                            <th scope="col" class="px-4 py-3">"Outcome"</th>
                                            <th scope="col" class="px-4 py-3">"Source"</th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                        {page.items.into_iter().map(|e| {
                                            let seq = e.seq;
                                            let details = serde_json::to_string_pretty(&e.details).unwrap_or_default();
                                            let hash = e.hash.clone();
                                            let request_id = e.request_id.clone().unwrap_or_else(|| "—".into());
                                            let ua = e.user_agent.clone().unwrap_or_else(|| "—".into());
                                            view! {
                                                <tr class="cursor-pointer hover:bg-zinc-50 dark:hover:bg-zinc-800/40"
                                                    on:click=move |_| expanded.update(|x| *x = if *x == Some(seq) { None } else { Some(seq) })>
                                                    <td class="px-4 py-2.5 text-right tabular-nums text-zinc-400">{format_count(seq)}</td>
                                                    <td class="px-4 py-2.5 text-zinc-600 dark:text-zinc-400"><RelTime at=e.occurred_at/></td>
                                                    <td class="max-w-[14rem] px-4 py-2" title=e.actor_display.clone()>
                                                        <p class="truncate">{e.actor_display.clone()}</p>
                                                        <p class="text-xs text-zinc-400">{e.actor_type.as_str().replace('_', " ")}</p>
                                                    </td>
                                                    <td class="px-4 py-2.5 font-mono text-xs whitespace-nowrap">{e.action.clone()}</td>
                                                    <td class="max-w-[12rem] truncate px-4 py-2.5 text-zinc-600 dark:text-zinc-400">{e.target_display.clone().unwrap_or_else(|| "—".into())}</td>
                                                    <td class="px-4 py-2.5"><OutcomeBadge outcome=e.outcome/></td>
                                                    <td class="px-4 py-2.5 font-mono text-xs text-zinc-500">{e.source_ip.clone().unwrap_or_else(|| "—".into())}</td>
                                                </tr>
                                                <Show when=move || expanded.get() == Some(seq)>
                                                    <tr class="bg-zinc-50 dark:bg-zinc-950/40">
                                                        <td colspan="7" class="px-4 py-3">
                                                            <dl class="grid grid-cols-1 gap-x-6 gap-y-1 text-xs sm:grid-cols-[8rem_1fr]">
                                                                <dt class="text-zinc-500">"Request id"</dt><dd class="font-mono">{request_id.clone()}</dd>
                                                                <dt class="text-zinc-500">"User agent"</dt><dd class="break-all">{ua.clone()}</dd>
                                                                <dt class="text-zinc-500">"Hash"</dt><dd class="break-all font-mono">{hash.clone()}</dd>
                                                                <dt class="text-zinc-500">"Details"</dt>
                                                                <dd><pre class="overflow-x-auto rounded bg-white p-2 font-mono dark:bg-zinc-900">{details.clone()}</pre></dd>
                                                            </dl>
                                                        </td>
                                                    </tr>
                                                </Show>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <Pager offset=page.offset limit=page.limit shown total=page.total href/>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </div>
    }
}
