//! Directory → Groups: provisioned groups with their member counts,
//! searchable, filtered by directory, sortable, paginated on the server.

use super::api::{list_directories, list_directory_groups};
use super::{ROW_LINK, SEARCH, TABLE_CARD, THEAD};
use crate::components::misc::format_count;
use crate::components::{
    query_href, Chip, EmptyState, ErrorPanel, PageHeader, Pager, RelTime, Skeleton, SortHeader,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::{DirectoryGroupQuery, DirectoryGroupSort, SortDir};

const PAGE: i64 = 50;
const PATH: &str = "/directory/groups";
const KEYS: [&str; 4] = ["q", "directory", "sort", "dir"];

/// `PATH` with the query `snap`, some parameters replaced by `over`.
fn href_from(snap: &[(&'static str, String)], over: &[(&'static str, String)]) -> String {
    let params: Vec<(&str, String)> = snap
        .iter()
        .map(|(k, v)| {
            let v = over
                .iter()
                .find(|(o, _)| o == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| v.clone());
            (*k, v)
        })
        .collect();
    query_href(PATH, &params)
}

/// `/directory/groups`.
#[component]
pub fn GroupsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let sort = move || {
        param("sort")
            .parse::<DirectoryGroupSort>()
            .unwrap_or_default()
    };
    let dir = move || param("dir").parse::<SortDir>().unwrap_or_default();
    let q = move || DirectoryGroupQuery {
        search: param("q"),
        directory_id: param("directory"),
        sort: sort(),
        dir: dir(),
        offset: param("offset").parse().unwrap_or(0),
        limit: PAGE,
    };
    let groups = Resource::new(q, list_directory_groups);
    let directories = Resource::new(|| (), |_| list_directories());
    // Parameters are read before any `.await` in a Suspend (a snapshot), so
    // no reactive value is touched after the request's owner may be gone.
    let snapshot =
        move || -> Vec<(&'static str, String)> { KEYS.iter().map(|k| (*k, param(k))).collect() };
    let filtered = move || !(param("q").is_empty() && param("directory").is_empty());

    view! {
        <Title text="Groups · Portcullis"/>
        <PageHeader title="Groups" description="Groups your identity providers push over SCIM, with the people in them. Access is granted to groups."/>
        <div class=TABLE_CARD>
            <div class="flex flex-col gap-3 border-b border-zinc-200 p-3 dark:border-zinc-800">
                <form method="get" action=PATH class="flex gap-2" role="search">
                    <label for="group-search" class="sr-only">"Search groups"</label>
                    <input id="group-search" name="q" type="search" class=SEARCH
                        placeholder="Search by group name or id" prop:value=move || param("q")/>
                    {move || ["directory", "sort", "dir"].into_iter().filter_map(|k| {
                        let v = param(k);
                        (!v.is_empty()).then(|| view! { <input type="hidden" name=k value=v/> })
                    }).collect_view()}
                    <button type="submit" class="btn-secondary">"Search"</button>
                </form>
                <div class="flex flex-wrap items-center gap-x-6 gap-y-2">
                    <Suspense fallback=|| ()>
                        {move || {
                            let snap = snapshot();
                            let current = param("directory");
                            Suspend::new(async move {
                            let dirs = directories.await.unwrap_or_default();
                            (!dirs.is_empty()).then(|| view! {
                                <div class="flex flex-wrap items-center gap-2" role="group" aria-label="Directory">
                                    <span class="text-xs font-medium text-zinc-500">"Directory"</span>
                                    <Chip label="All" href=href_from(&snap, &[("directory", String::new())]) active=current.is_empty()/>
                                    {dirs.into_iter().map(|d| view! {
                                        <Chip label=d.name.clone() href=href_from(&snap, &[("directory", d.id.clone())])
                                            active=current == d.id count=d.groups/>
                                    }).collect_view()}
                                </div>
                            })
                        })
                        }}
                    </Suspense>
                    {move || filtered().then(|| view! {
                        <a href=PATH class="text-xs font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Clear filters"</a>
                    })}
                </div>
            </div>
            <div>
            <Transition fallback=|| view! { <Skeleton rows=8/> }>
                {move || {
                    let snap = snapshot();
                    let is_filtered = filtered();
                    let current = sort().as_str();
                    let d = dir();
                    let sort_href = {
                        let snap = snap.clone();
                        Callback::new(move |(key, d): (&'static str, SortDir)| {
                            href_from(&snap, &[("sort", key.to_owned()), ("dir", d.as_str().to_owned())])
                        })
                    };
                    Suspend::new(async move {
                    match groups.await {
                        Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                        Ok(page) if page.items.is_empty() && page.total == 0 && !is_filtered => view! {
                            <EmptyState title="No groups yet"
                                hint="Groups arrive when an IdP pushes them: in Okta use Push Groups, in Entra ID assign groups to the provisioning app. Connect an IdP in Settings → Directories.">
                                <a href="/settings/directories" class="btn-primary">"Go to Settings → Directories"</a>
                            </EmptyState>
                        }.into_any(),
                        Ok(page) if page.items.is_empty() => view! {
                            <EmptyState title="No group matches" hint="Try part of the group's name, or clear the filters.">
                                <a href=PATH class="btn-secondary">"Clear filters"</a>
                            </EmptyState>
                        }.into_any(),
                        Ok(page) => {
                            let shown = page.items.len();
                            let href = Callback::new(move |o: i64| {
                                let mut h = href_from(&snap, &[]);
                                h.push_str(if h.contains('?') { "&" } else { "?" });
                                h.push_str(&format!("offset={o}"));
                                h
                            });
                            view! {
                                <table class="min-w-full text-sm" data-testid="groups-table">
                                    <caption class="sr-only">{format!("{} groups", format_count(page.total))}</caption>
                                    <thead class=THEAD>
                                        <tr>
                                            <SortHeader label="Name" key="name" current dir=d href=sort_href/>
                                            <th scope="col" class="hidden px-4 py-3 md:table-cell">"Directory"</th>
                                            <SortHeader label="Members" key="members" current dir=d href=sort_href desc_first=true class="text-right"/>
                                            <SortHeader label="Updated" key="updated" current dir=d href=sort_href desc_first=true/>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                        {page.items.into_iter().map(|g| view! {
                                            <tr class="relative hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="group-row">
                                                <td class="max-w-[24rem] px-4 py-2.5">
                                                    <a href=format!("/directory/groups/{}", g.id) class=format!("block truncate {ROW_LINK}") title=g.display_name.clone()>{g.display_name.clone()}</a>
                                                </td>
                                                <td class="hidden max-w-[12rem] truncate px-4 py-2.5 text-zinc-600 dark:text-zinc-400 md:table-cell">{g.directory_name.clone()}</td>
                                                <td class="px-4 py-2.5 text-right tabular-nums">{format_count(g.members)}</td>
                                                <td class="px-4 py-2.5 text-zinc-500"><RelTime at=g.updated_at/></td>
                                            </tr>
                                        }).collect_view()}
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
        </div>
    }
}
