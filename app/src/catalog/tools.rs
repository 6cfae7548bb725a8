//! Catalog → Tools: every tool of every server, quarantined ones first, with
//! a status filter and search.

use super::api::list_tools;
use super::clip;
use crate::components::misc::format_count;
use crate::components::{
    query_href, AnnotationBadges, Chip, EmptyState, ErrorPanel, PageHeader, Pager, RelTime,
    Skeleton, ToolStatusBadge,
};
use crate::directory::{ROW_LINK, SEARCH, TABLE_CARD, THEAD};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::ToolSummary;

const PATH: &str = "/catalog/tools";

/// `/catalog/tools`.
#[component]
pub fn ToolsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let tools = Resource::new(
        move || {
            (
                param("q"),
                param("status"),
                param("offset").parse::<i64>().unwrap_or(0),
            )
        },
        |(q, status, offset)| list_tools(q, status, offset),
    );
    view! {
        <Title text="Tools · Portcullis"/>
        <PageHeader title="Tools" description="Every tool of every registered server. Quarantined tools (new, or changed since approval) are denied to everyone until reviewed."/>
        <div class=TABLE_CARD>
            <div class="flex flex-col gap-3 border-b border-zinc-200 p-3 dark:border-zinc-800">
                <form method="get" action=PATH class="flex gap-2" role="search">
                    <label for="tool-search" class="sr-only">"Search tools"</label>
                    <input id="tool-search" name="q" type="search" class=SEARCH
                        placeholder="Search by tool name, description or server" prop:value=move || param("q")/>
                    {move || { let s = param("status"); (!s.is_empty()).then(|| view! { <input type="hidden" name="status" value=s/> }) }}
                    <button type="submit" class="btn-secondary">"Search"</button>
                </form>
                <div class="flex flex-wrap items-center gap-2" role="group" aria-label="Status">
                    <span class="text-xs font-medium text-zinc-500">"Status"</span>
                    {move || {
                        let q = param("q");
                        let current = param("status");
                        [("All", ""), ("Quarantined", "quarantined"), ("Approved", "active"), ("Removed", "removed")]
                            .into_iter()
                            .map(|(label, s)| view! {
                                <Chip label href=query_href(PATH, &[("q", q.clone()), ("status", s.to_owned())]) active=current == s/>
                            })
                            .collect_view()
                    }}
                </div>
            </div>
            <Transition fallback=|| view! { <Skeleton rows=8/> }>
                {move || {
                    let q = param("q");
                    let status = param("status");
                    Suspend::new(async move {
                        match tools.await {
                            Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                            Ok(page) if page.total == 0 && q.is_empty() && status.is_empty() => view! {
                                <EmptyState title="No tools yet"
                                    hint="Tools appear when you run discovery on a registered server, or add them by hand.">
                                    <a href="/catalog/servers" class="btn-primary">"Go to Servers"</a>
                                </EmptyState>
                            }.into_any(),
                            Ok(page) if page.items.is_empty() => view! {
                                <EmptyState title="No tool matches" hint=if status == "quarantined" { "Nothing is waiting for review." } else { "Try another word or status." }>
                                    <a href=PATH class="btn-secondary">"Clear filters"</a>
                                </EmptyState>
                            }.into_any(),
                            Ok(page) => {
                                let shown = page.items.len();
                                let href = Callback::new(move |o: i64| query_href(PATH, &[("q", q.clone()), ("status", status.clone()), ("offset", o.to_string())]));
                                view! {
                                    <table class="min-w-full text-sm" data-testid="all-tools-table">
                                        <caption class="sr-only">{format!("{} tools", format_count(page.total))}</caption>
                                        <thead class=THEAD>
                                            <tr>
                                                <th scope="col" class="px-4 py-3">"Tool"</th>
                                                <th scope="col" class="px-4 py-3">"Server"</th>
                                                <th scope="col" class="px-4 py-3">"Annotations"</th>
                                                <th scope="col" class="px-4 py-3">"Status"</th>
                                                <th scope="col" class="hidden px-4 py-3 md:table-cell">"Last seen"</th>
                                            </tr>
                                        </thead>
                                        <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                            {page.items.into_iter().map(row).collect_view()}
                                        </tbody>
                                    </table>
                                    <Pager offset=page.offset limit=page.limit shown total=page.total href/>
                                }.into_any()
                            }
                        }
                    })
                }}
            </Transition>
        </div>
    }
}

fn row(t: ToolSummary) -> impl IntoView {
    let (short, clipped) = clip(&t.description, 110);
    view! {
        <tr class="relative align-top hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="tool-row" data-name=t.name.clone()>
            <td class="max-w-[30rem] px-4 py-3">
                <a href=format!("/catalog/tools/{}", t.id) class=format!("font-mono text-[13px] {ROW_LINK}")>{t.name.clone()}</a>
                <p class="mt-0.5 text-xs text-zinc-500 dark:text-zinc-400">{if clipped { format!("{short}…") } else { short }}</p>
            </td>
            <td class="px-4 py-3 text-zinc-700 dark:text-zinc-300">{t.server_name.clone()}</td>
            <td class="px-4 py-3"><AnnotationBadges annotations=t.effective/></td>
            <td class="px-4 py-3 whitespace-nowrap"><ToolStatusBadge status=t.status/></td>
            <td class="hidden px-4 py-3 text-zinc-600 md:table-cell dark:text-zinc-400"><RelTime at=t.last_seen_at/></td>
        </tr>
    }
}
