//! The audit explorer (`/audit`): events newest first, filtered through
//! the URL's query (time range in the admin's own zone, actor, action
//! prefix, target, outcome, source address, free text), paged by keyset
//! (`before`/`after` a sequence number, as fast deep in millions of rows as
//! at the top), a chart of the matching events over the range, a drawer
//! with every field of an event (`event=<id>` opens one from a link), and
//! the export of what the filters match with progress. A search's first
//! page is audited (`audit.searched`), and so is an export.

pub mod api;
mod drawer;
mod export;
pub mod settings;
pub mod streaming;

use crate::components::misc::{format_count, url_encode};
use crate::components::time;
use crate::components::{
    Bar, BarChart, EmptyState, ErrorPanel, OutcomeBadge, PageHeader, RelTime, Skeleton,
};
use api::{explore_audit_events, get_audit_event, load_audit_timeline};
use chrono::{NaiveDate, Utc};
use drawer::EventDrawer;
use export::ExportButtons;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::{AuditEventSummary, AuditQuery, AuditTimeline};

const PAGE: i64 = 50;
const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-1.5 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";
const LABEL: &str = "mb-1 block text-xs font-medium text-zinc-600 dark:text-zinc-400";
/// The URL's filter parameters (`q` is the free text).
const FILTERS: [&str; 8] = [
    "q", "action", "actor", "target", "outcome", "source", "since", "until",
];

/// The start of day `s` (`2026-11-26`) in the admin's time zone.
fn day_start(s: &str, zone: &str) -> Option<chrono::DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let midnight = d.and_hms_opt(0, 0, 0)?;
    // A zone whose clocks skip midnight starts that day at 01:00.
    time::local_to_utc(midnight, zone)
        .or_else(|| time::local_to_utc(midnight + chrono::Duration::hours(1), zone))
}

/// The query for the URL's filters (read by `param`), in `zone`.
fn filters(param: &dyn Fn(&str) -> String, zone: &str) -> AuditQuery {
    AuditQuery {
        text: param("q"),
        action: param("action"),
        actor: param("actor"),
        target: param("target"),
        outcome: param("outcome").parse().ok(),
        source: param("source"),
        since: day_start(&param("since"), zone),
        until: NaiveDate::parse_from_str(&param("until"), "%Y-%m-%d")
            .ok()
            .and_then(|d| d.succ_opt())
            .and_then(|next| day_start(&next.to_string(), zone)),
        limit: PAGE,
        ..Default::default()
    }
}

/// The export route's query for the filters `q`: its own field names, the
/// time range as RFC 3339 instants (the days already read in the admin's
/// zone).
fn export_query(q: &AuditQuery) -> String {
    q.filters()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", url_encode(&v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `/audit`.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let base = Memo::new(move |_| filters(&param, &time::zone()));
    let page_q = move || AuditQuery {
        before: param("before").parse().ok(),
        after: param("after").parse().ok(),
        ..base.get()
    };
    let events = Resource::new(page_q, explore_audit_events);
    let timeline = Resource::new(move || base.get(), load_audit_timeline);
    // Whether the reader is an owner (the drawer's reveal and erase), read
    // once for the page rather than at every opening of the drawer.
    let me = Resource::new(|| (), |_| crate::auth::api::get_me());
    let owner = Signal::derive(move || {
        me.get()
            .is_some_and(|m| m.is_ok_and(|m| m.role == portcullis_types::Role::Owner))
    });
    let selected = RwSignal::new(None::<AuditEventSummary>);
    let linked = Resource::new(
        move || param("event"),
        |id| async move {
            if id.is_empty() {
                Ok(None)
            } else {
                get_audit_event(id).await.map(Some)
            }
        },
    );
    Effect::new(move |_| {
        if let Some(Ok(Some(e))) = linked.get() {
            selected.set(Some(e));
        }
    });
    // The URL's filters as a query string (for the pager and the export).
    let filter_qs = Signal::derive(move || {
        FILTERS
            .iter()
            .filter_map(|k| {
                let v = param(k);
                (!v.is_empty()).then(|| format!("{k}={}", url_encode(&v)))
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    let is_search = move || base.with(AuditQuery::is_search);
    let export_qs = Signal::derive(move || base.with(export_query));
    view! {
        <Title text="Audit log · Portcullis"/>
        <PageHeader title="Audit log" description="Every change, sign-in and gateway decision, newest first, each chained to the one before it by a SHA-256 hash. Searches and exports are recorded too.">
            <ExportButtons query=export_qs/>
        </PageHeader>
        <FilterForm param=Callback::new(move |k: String| param(&k))/>
        <section class="mb-4 rounded-lg border border-zinc-200 bg-white p-4 shadow-sm dark:border-zinc-800 dark:bg-zinc-900" aria-label="Events over time">
            <Transition fallback=|| view! { <Skeleton rows=3/> }>
                {move || Suspend::new(async move {
                    match timeline.await {
                        Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                        Ok(t) => view! { <Timeline t/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <div class="overflow-hidden rounded-lg border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900">
            <Transition fallback=|| view! { <Skeleton rows=8/> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                        Ok(page) if page.items.is_empty() => view! {
                            {if is_search() {
                                view! { <EmptyState title="No events match" hint="Widen the time range or clear some filters."/> }.into_any()
                            } else {
                                view! { <EmptyState title="No events yet" hint="Every sign-in, change and gateway decision will be recorded here."/> }.into_any()
                            }}
                            <KeysetPager older=page.older newer=page.newer filters=filter_qs.get_untracked()/>
                        }.into_any(),
                        Ok(page) => view! {
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
                                    {page.items.into_iter().map(|e| view! { <EventRow e selected/> }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                            <KeysetPager older=page.older newer=page.newer filters=filter_qs.get_untracked()/>
                        }.into_any(),
                    }
                })}
            </Transition>
        </div>
        <EventDrawer event=selected owner/>
    }
}

/// One row; a click (or Enter) opens the drawer.
#[component]
fn EventRow(e: AuditEventSummary, selected: RwSignal<Option<AuditEventSummary>>) -> impl IntoView {
    let open = {
        let e = e.clone();
        move || selected.set(Some(e.clone()))
    };
    let open_key = open.clone();
    view! {
        <tr class="cursor-pointer hover:bg-zinc-50 focus:bg-zinc-50 focus:outline-none dark:hover:bg-zinc-800/40 dark:focus:bg-zinc-800/40"
            tabindex="0" data-testid="audit-row"
            on:click=move |_| open()
            on:keydown=move |ev| if ev.key() == "Enter" { open_key() }>
            <td class="px-4 py-2.5 text-right tabular-nums text-zinc-400">{format_count(e.seq)}</td>
            <td class="px-4 py-2.5 text-zinc-600 dark:text-zinc-400"><RelTime at=e.occurred_at/></td>
            <td class="max-w-[14rem] px-4 py-2" title=e.actor_display.clone()>
                <p class="truncate">{e.actor_display.clone()}</p>
                <p class="text-xs text-zinc-400">{e.actor_type.as_str().replace('_', " ")}</p>
            </td>
            <td class="px-4 py-2.5 font-mono text-xs whitespace-nowrap">{e.action.clone()}</td>
            <td class="max-w-[12rem] truncate px-4 py-2.5 text-zinc-600 dark:text-zinc-400" title=e.target_display.clone().unwrap_or_default()>
                {e.target_display.clone().unwrap_or_else(|| "—".into())}
            </td>
            <td class="px-4 py-2.5"><OutcomeBadge outcome=e.outcome/></td>
            <td class="px-4 py-2.5 font-mono text-xs text-zinc-500">{e.source_ip.clone().unwrap_or_else(|| "—".into())}</td>
        </tr>
    }
}

/// The filters, submitted as the page's query (GET), so a search is a
/// link.
#[component]
fn FilterForm(param: Callback<String, String>) -> impl IntoView {
    let p = move |k: &'static str| param.run(k.to_owned());
    let zone = move || time::zone_phrase(&time::zone());
    view! {
        <form method="get" action="/audit" class="mb-4 rounded-lg border border-zinc-200 bg-white p-4 shadow-sm dark:border-zinc-800 dark:bg-zinc-900" role="search">
            <div class="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-4">
                <div class="sm:col-span-2">
                    <label for="f-q" class=LABEL>"Search"</label>
                    <input id="f-q" name="q" type="search" class=INPUT placeholder="Any text in the action, actor, target or details" prop:value=move || p("q")/>
                </div>
                <div>
                    <label for="f-since" class=LABEL>"From"</label>
                    <input id="f-since" name="since" type="date" class=INPUT prop:value=move || p("since")/>
                </div>
                <div>
                    <label for="f-until" class=LABEL>"To (inclusive)"</label>
                    <input id="f-until" name="until" type="date" class=INPUT prop:value=move || p("until")/>
                </div>
                <div>
                    <label for="f-action" class=LABEL>"Action"</label>
                    <input id="f-action" name="action" class=INPUT placeholder="access.grant" prop:value=move || p("action")/>
                </div>
                <div>
                    <label for="f-actor" class=LABEL>"Actor"</label>
                    <input id="f-actor" name="actor" class=INPUT placeholder="name, email or id" prop:value=move || p("actor")/>
                </div>
                <div>
                    <label for="f-target" class=LABEL>"Target"</label>
                    <input id="f-target" name="target" class=INPUT placeholder="name or id" prop:value=move || p("target")/>
                </div>
                <div class="grid grid-cols-2 gap-3">
                    <div>
                        <label for="f-outcome" class=LABEL>"Outcome"</label>
                        <select id="f-outcome" name="outcome" class=INPUT>
                            {[("", "Any"), ("success", "Success"), ("failure", "Failure"), ("denied", "Denied")]
                                .into_iter()
                                .map(|(v, label)| view! { <option value=v selected=move || p("outcome") == v>{label}</option> })
                                .collect_view()}
                        </select>
                    </div>
                    <div>
                        <label for="f-source" class=LABEL>"Source"</label>
                        <input id="f-source" name="source" class=INPUT placeholder="10.1." prop:value=move || p("source")/>
                    </div>
                </div>
            </div>
            <div class="mt-3 flex flex-wrap items-center justify-between gap-2">
                <p class="text-xs text-zinc-500">
                    "Dates are days in " {zone} ". An action matches its dotted prefix; actor and target match an exact id or part of a name."
                </p>
                <div class="flex gap-2">
                    <a href="/audit" class="btn-secondary">"Clear"</a>
                    <button type="submit" class="btn-primary">"Apply filters"</button>
                </div>
            </div>
        </form>
    }
}

/// The events over the range as bars, labelled in the admin's zone.
#[component]
fn Timeline(t: AuditTimeline) -> impl IntoView {
    let zone = time::zone();
    let width = t.bucket_seconds;
    let n = t.counts.len();
    let fmt = if width < 86_400 {
        "%m-%d %H:%M"
    } else {
        "%m-%d"
    };
    let bars: Vec<Bar> = t
        .counts
        .iter()
        .enumerate()
        .map(|(i, count)| {
            let start = t.since + chrono::Duration::seconds(width * i as i64);
            let local = time::local(start, &zone);
            Bar {
                count: *count,
                label: local.format(fmt).to_string(),
                title: format!(
                    "{}: {} events",
                    local.format("%Y-%m-%d %H:%M"),
                    format_count(*count)
                ),
            }
        })
        .collect();
    let step = match width {
        w if w < 3600 => format!("{} min", w / 60),
        w if w < 86_400 => format!("{} h", w / 3600),
        w => format!("{} days", w / 86_400).replace("1 days", "1 day"),
    };
    view! {
        <div class="mb-2 flex flex-wrap items-baseline justify-between gap-2">
            <h2 class="text-sm font-semibold">"Events over time"</h2>
            <p class="text-xs text-zinc-500 tabular-nums" data-testid="timeline-summary">
                {format!("{} events from {} to {} · one bar per {step}",
                    format_count(t.total), time::format_local(t.since, &zone), time::format_local(t.until, &zone))}
            </p>
        </div>
        <BarChart data=bars label="Audit events over time" label_every=(n / 6).max(1)/>
    }
}

/// "Newer" and "Older" by keyset, keeping the filters.
#[component]
fn KeysetPager(older: Option<i64>, newer: Option<i64>, filters: String) -> impl IntoView {
    let link = "rounded-md border border-zinc-200 px-3 py-1.5 text-sm font-medium hover:bg-zinc-50 dark:border-zinc-700 dark:hover:bg-zinc-800";
    let off = "rounded-md border border-zinc-100 px-3 py-1.5 text-sm text-zinc-400 dark:border-zinc-800 dark:text-zinc-600";
    let href = |cursor: &str, seq: i64| {
        if filters.is_empty() {
            format!("/audit?{cursor}={seq}")
        } else {
            format!("/audit?{filters}&{cursor}={seq}")
        }
    };
    let newest = if filters.is_empty() {
        "/audit".to_owned()
    } else {
        format!("/audit?{filters}")
    };
    view! {
        <nav class="flex items-center justify-between border-t border-zinc-200 px-4 py-3 dark:border-zinc-800" aria-label="Pagination">
            {match newer {
                Some(_) => view! { <a class="text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400" href=newest>"Back to newest"</a> }.into_any(),
                None => view! { <p class="text-sm text-zinc-500">"Newest first"</p> }.into_any(),
            }}
            <div class="flex gap-2">
                {match newer {
                    Some(s) => view! { <a class=link href=href("after", s) rel="prev">"Newer"</a> }.into_any(),
                    None => view! { <span class=off aria-disabled="true">"Newer"</span> }.into_any(),
                }}
                {match older {
                    Some(s) => view! { <a class=link href=href("before", s) rel="next">"Older"</a> }.into_any(),
                    None => view! { <span class=off aria-disabled="true">"Older"</span> }.into_any(),
                }}
            </div>
        </nav>
    }
}
