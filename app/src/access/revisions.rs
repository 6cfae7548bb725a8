//! Access → Revisions: every policy revision, newest first (who, when,
//! which area changed it, a summary); the diff of any two (grants added and
//! removed, and the effective access people gained and lost); and rollback
//! of the grants to an earlier revision, which makes a new revision and
//! leaves the catalog and the directory as they are.
//!
//! `offset` pages the list; `from` and `to` choose the diff.

use super::api::{diff_revisions, list_revisions, RollbackRevision, REVISIONS_PAGE};
use super::grants::{grant_row, grant_table_head};
use super::{HELP, LINK};
use crate::auth::api::get_me;
use crate::components::misc::format_count;
use crate::components::{
    query_href, Badge, ConfirmDialog, EmptyState, ErrorPanel, Notice, PageHeader, Pager, RelTime,
    Skeleton, Tone,
};
use crate::directory::{CARD, TABLE_CARD, THEAD};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::{AccessChange, GrantSummary, RevisionDiff, RevisionSummary, Role};

const PATH: &str = "/access/revisions";
/// The header row of a table inside the diff card (not sticky).
const DIFF_HEAD: &str = "bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800";
const NUMBER: &str = "block w-24 rounded-md border border-zinc-300 bg-white px-2.5 py-2 text-sm tabular-nums shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";

/// The badge of the area that made a revision.
fn source_badge(source: &str) -> impl IntoView {
    let (tone, label) = match source {
        "grants" => (Tone::Accent, "Grants"),
        "catalog" => (Tone::Neutral, "Catalog"),
        "directory" => (Tone::Neutral, "Directory"),
        "rollback" => (Tone::Attention, "Rollback"),
        "clients" => (Tone::Attention, "OAuth clients"),
        "agents" => (Tone::Attention, "Agents"),
        _ => (Tone::Neutral, "Other"),
    };
    view! { <Badge tone label/> }
}

/// `/access/revisions`.
#[component]
pub fn RevisionsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let rollback = ServerAction::<RollbackRevision>::new();
    let list = Resource::new(
        move || {
            (
                param("offset").parse::<i64>().unwrap_or(0),
                rollback.version().get(),
            )
        },
        |(offset, _)| list_revisions(offset),
    );
    let pair = move || (param("from"), param("to"));
    let diff = Resource::new(
        move || (pair(), rollback.version().get()),
        |((from, to), _)| async move {
            if from.is_empty() && to.is_empty() {
                return None;
            }
            Some(
                match (from.trim().parse::<i64>(), to.trim().parse::<i64>()) {
                    (Ok(f), Ok(t)) => diff_revisions(f, t).await.map_err(|e| e.message),
                    _ => Err("Enter two revision numbers to compare.".to_owned()),
                },
            )
        },
    );
    let me = Resource::new(|| (), |_| get_me());

    let notice = RwSignal::new(None::<String>);
    let notice_link = RwSignal::new(None::<(String, String)>);
    let target = RwSignal::new(None::<(i64, i64)>);
    let confirm_open = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        match rollback.value().get() {
            Some(Ok(rev)) => {
                let to = target.get_untracked().map(|(to, _)| to).unwrap_or_default();
                notice.set(Some(format!(
                    "Grants rolled back to revision {to} — revision {rev} created"
                )));
                notice_link.set(Some((
                    "See what changed".to_owned(),
                    format!("{PATH}?from={}&to={rev}", rev - 1),
                )));
            }
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });
    let ask = move |to: i64, head: i64| {
        action_error.set(None);
        target.set(Some((to, head)));
        confirm_open.set(true);
    };
    let title = Signal::derive(move || {
        target
            .get()
            .map(|(to, _)| format!("Roll back the grants to revision {to}?"))
            .unwrap_or_default()
    });
    let body = Signal::derive(move || {
        target
            .get()
            .map(|(to, head)| {
                format!(
                    "Make the grants what they were at revision {to}? This creates revision {}. The catalog and the directory stay as they are: servers, tools, people and groups are not rolled back.",
                    head + 1
                )
            })
            .unwrap_or_default()
    });
    let on_confirm = Callback::new(move |_| {
        if let Some((to, _)) = target.get_untracked() {
            rollback.dispatch(RollbackRevision { to });
        }
    });

    view! {
        <Title text="Revisions · Portcullis"/>
        <PageHeader title="Revisions"
            description="Every change to who may call what makes a policy revision. Compare any two, or roll the grants back to an earlier one."/>

        {move || action_error.get().map(crate::components::misc::action_alert)}

        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                diff.await.map(|d| match d {
                    Err(m) => view! {
                        <div role="alert" class="mb-6 rounded-lg border border-red-200 bg-red-50 p-4 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">
                            <p class="font-medium">"These revisions could not be compared"</p>
                            <p class="mt-1">{m}</p>
                        </div>
                    }.into_any(),
                    Ok(d) => diff_view(d).into_any(),
                })
            })}
        </Transition>

        <div class=TABLE_CARD>
            <form method="get" action=PATH aria-label="Compare revisions"
                class="flex flex-wrap items-end gap-3 border-b border-zinc-200 p-3 dark:border-zinc-800">
                <div>
                    <label for="rev-from" class="mb-1 block text-xs font-medium text-zinc-500">"From revision"</label>
                    <input id="rev-from" name="from" type="number" min="0" step="1" required class=NUMBER prop:value=move || param("from")/>
                </div>
                <div>
                    <label for="rev-to" class="mb-1 block text-xs font-medium text-zinc-500">"To revision"</label>
                    <input id="rev-to" name="to" type="number" min="0" step="1" required class=NUMBER prop:value=move || param("to")/>
                </div>
                <button type="submit" class="btn-secondary">"Compare"</button>
                <p class=format!("{HELP} pb-2")>"Or use “Changes” on a row to compare a revision with the one before it."</p>
            </form>
            <Transition fallback=|| view! { <Skeleton rows=8/> }>
                {move || Suspend::new(async move {
                    let can = me.await.map(|m| m.role >= Role::Admin).unwrap_or(false);
                    match list.await {
                        Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                        Ok(l) if l.page.items.is_empty() => view! {
                            <EmptyState title="No revisions yet"
                                hint="The first revision is made when a server, a person, a group or a grant first changes the policy."/>
                        }.into_any(),
                        Ok(l) => {
                            let head = l.head;
                            let page = l.page;
                            let shown = page.items.len();
                            let href = Callback::new(move |o: i64| query_href(PATH, &[("offset", o.to_string())]));
                            view! {
                                <table class="w-full table-fixed text-sm" data-testid="revisions-table">
                                    <caption class="sr-only">{format!("{} revisions", format_count(page.total))}</caption>
                                    <colgroup>
                                        <col class="w-[8.5rem]"/>
                                        <col class="w-[22%]"/>
                                        <col class="w-[6.5rem]"/>
                                        <col/>
                                        <col class="w-[12rem]"/>
                                    </colgroup>
                                    <thead class=THEAD>
                                        <tr>
                                            <th scope="col" class="py-3 pr-3 pl-4">"Revision"</th>
                                            <th scope="col" class="px-3 py-3">"When"</th>
                                            <th scope="col" class="px-3 py-3">"Source"</th>
                                            <th scope="col" class="px-3 py-3">"Change"</th>
                                            <th scope="col" class="py-3 pr-4 pl-3"><span class="sr-only">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                        {page.items.into_iter().map(|r| revision_row(r, head, can.then_some(ask))).collect_view()}
                                    </tbody>
                                </table>
                                <Pager offset=page.offset limit=REVISIONS_PAGE shown total=page.total href/>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </div>

        <ConfirmDialog open=confirm_open title body confirm_label="Roll back grants".to_owned()
            pending=rollback.pending() on_confirm/>
        <Notice message=notice link=notice_link/>
    }
}

fn revision_row(
    r: RevisionSummary,
    head: i64,
    ask: Option<impl Fn(i64, i64) + Copy + Send + Sync + 'static>,
) -> impl IntoView {
    let n = r.number;
    let current = n == head;
    view! {
        <tr class="align-top hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="revision-row" data-revision=n.to_string()>
            <td class="py-3 pr-3 pl-4 whitespace-nowrap">
                <span class="font-mono font-medium tabular-nums">{format!("#{n}")}</span>
                {current.then(|| view! { <span class="ml-2"><Badge tone=Tone::Ok label="Current"/></span> })}
            </td>
            <td class="px-3 py-3">
                <span class="text-zinc-700 dark:text-zinc-300"><RelTime at=r.created_at/></span>
                <p class="truncate text-xs text-zinc-500" title=r.actor_display.clone()>{format!("by {}", r.actor_display)}</p>
            </td>
            <td class="px-3 py-3">{source_badge(&r.source)}</td>
            <td class="px-3 py-3">
                <p class="line-clamp-2 break-words" title=r.summary.clone()>{r.summary.clone()}</p>
            </td>
            <td class="py-3 pr-4 pl-3">
                <div class="flex items-center justify-end gap-1 whitespace-nowrap">
                    {(!current).then_some(()).and(ask).map(|ask| view! {
                        <button type="button" class="btn-secondary px-2.5 py-1 text-xs" data-testid="rollback"
                            aria-label=format!("Roll back the grants to revision {n}")
                            on:click=move |_| ask(n, head)>"Roll back to here"</button>
                    })}
                    <a href=query_href(PATH, &[("from", (n - 1).to_string()), ("to", n.to_string())])
                        class="rounded-md px-2 py-1 text-xs font-medium text-indigo-600 hover:bg-indigo-50 dark:text-indigo-400 dark:hover:bg-indigo-500/10"
                        title=format!("Compare revision {n} with revision {}", n - 1)>"Changes"</a>
                </div>
            </td>
        </tr>
    }
}

/// The difference between two revisions.
fn diff_view(d: RevisionDiff) -> impl IntoView {
    let nothing = d.grants_added.is_empty()
        && d.grants_removed.is_empty()
        && d.access_added.is_empty()
        && d.access_removed.is_empty();
    let heading = format!("Changes from revision {} to revision {}", d.from, d.to);
    view! {
        <section class=format!("{CARD} mb-6") aria-labelledby="diff-title" data-testid="revision-diff">
            <div class="flex flex-wrap items-start justify-between gap-3 border-b border-zinc-200 px-5 py-4 dark:border-zinc-800">
                <div>
                    <h2 id="diff-title" class="text-base font-semibold">{heading}</h2>
                    <p class="mt-0.5 text-sm text-zinc-500 dark:text-zinc-400">
                        "Effective access is evaluated at the current time, so grants that have expired since count as gone."
                    </p>
                </div>
                <a href=PATH class="btn-secondary px-2.5 py-1 text-xs">"Close"</a>
            </div>
            {if nothing {
                view! {
                    <EmptyState title="No difference in grants or access"
                        hint="The revisions differ only in inputs that change no one's access (for example a tool's description, or a person outside every grant)."/>
                }.into_any()
            } else {
                view! {
                    <div class="space-y-6 p-5">
                        {d.truncated.then(|| view! {
                            <p role="note" class="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-800 dark:border-amber-900 dark:bg-amber-500/10 dark:text-amber-300">
                                "Many people's access changed: only the first 500 changes each way are listed."
                            </p>
                        })}
                        <div class="grid gap-4 sm:grid-cols-4">
                            {stat("Grants added", d.grants_added.len(), "text-emerald-700 dark:text-emerald-300")}
                            {stat("Grants removed", d.grants_removed.len(), "text-red-700 dark:text-red-300")}
                            {stat("Access gained", d.access_added.len(), "text-emerald-700 dark:text-emerald-300")}
                            {stat("Access lost", d.access_removed.len(), "text-red-700 dark:text-red-300")}
                        </div>
                        {grants_block("Grants added", "+", d.grants_added, "diff-grants-added")}
                        {grants_block("Grants removed", "−", d.grants_removed, "diff-grants-removed")}
                        {access_block("Access gained", "People who can now call these tools.", d.access_added, "diff-access-added")}
                        {access_block("Access lost", "People who can no longer call these tools.", d.access_removed, "diff-access-removed")}
                    </div>
                }.into_any()
            }}
        </section>
    }
}

fn stat(label: &'static str, n: usize, tone: &'static str) -> impl IntoView {
    view! {
        <div class="rounded-md border border-zinc-200 px-4 py-3 dark:border-zinc-800">
            <p class="text-xs text-zinc-500">{label}</p>
            <p class=format!("mt-1 text-xl font-semibold tabular-nums {}", if n > 0 { tone } else { "text-zinc-400" })>
                {format_count(n as i64)}
            </p>
        </div>
    }
}

fn grants_block(
    title: &'static str,
    sign: &'static str,
    list: Vec<GrantSummary>,
    testid: &'static str,
) -> impl IntoView {
    (!list.is_empty()).then(|| {
        view! {
            <div data-testid=testid>
                <h3 class="mb-2 text-sm font-semibold">
                    <span aria-hidden="true" class="mr-1 font-mono">{sign}</span>{title}
                </h3>
                <div class="overflow-clip rounded-md border border-zinc-200 dark:border-zinc-800">
                    <table class="w-full table-fixed text-sm">
                        {grant_table_head(DIFF_HEAD)}
                        <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                            {list.into_iter().map(|g| grant_row(g, None::<(fn(GrantSummary), fn(GrantSummary))>)).collect_view()}
                        </tbody>
                    </table>
                </div>
            </div>
        }
    })
}

fn access_block(
    title: &'static str,
    hint: &'static str,
    list: Vec<AccessChange>,
    testid: &'static str,
) -> impl IntoView {
    (!list.is_empty()).then(|| {
        view! {
            <div data-testid=testid>
                <h3 class="text-sm font-semibold">{title}</h3>
                <p class="mb-2 text-xs text-zinc-500">{hint}</p>
                <div class="max-h-96 overflow-auto rounded-md border border-zinc-200 dark:border-zinc-800">
                    <table class="min-w-full text-sm">
                        <thead class="sticky top-0 bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800">
                            <tr>
                                <th scope="col" class="px-4 py-2">"Person"</th>
                                <th scope="col" class="px-4 py-2">"Server"</th>
                                <th scope="col" class="px-4 py-2">"Tool"</th>
                            </tr>
                        </thead>
                        <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                            {list.into_iter().map(|c| view! {
                                <tr data-testid="access-change">
                                    <td class="max-w-[18rem] truncate px-4 py-2">
                                        <a class=LINK href=format!("/directory/users/{}?tab=access", c.principal_id)>
                                            {if c.email.is_empty() { c.principal_id.clone() } else { c.email.clone() }}
                                        </a>
                                    </td>
                                    <td class="px-4 py-2 text-zinc-600 dark:text-zinc-400">{c.server.clone()}</td>
                                    <td class="px-4 py-2"><code class="font-mono text-xs">{c.tool.clone()}</code></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </div>
        }
    })
}
