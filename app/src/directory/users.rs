//! Directory → Users: every provisioned (not deleted) person, searchable,
//! filtered by directory and status, sortable, paginated on the server.

use super::api::{list_directories, list_directory_users};
use super::{person_name, ROW_LINK, SEARCH, TABLE_CARD, THEAD};
use crate::components::misc::format_count;
use crate::components::{
    query_href, ActiveBadge, Chip, EmptyState, ErrorPanel, PageHeader, Pager, RelTime, Skeleton,
    SortHeader,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::{DirectoryUserQuery, DirectoryUserSort, DirectoryUserStatus, SortDir};

const PAGE: i64 = 50;
const PATH: &str = "/directory/users";
/// The query parameters a link keeps (the offset resets on every change).
const KEYS: [&str; 5] = ["q", "directory", "status", "sort", "dir"];

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

/// `/directory/users`.
#[component]
pub fn UsersPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let sort = move || {
        param("sort")
            .parse::<DirectoryUserSort>()
            .unwrap_or_default()
    };
    let dir = move || param("dir").parse::<SortDir>().unwrap_or_default();
    let q = move || DirectoryUserQuery {
        search: param("q"),
        directory_id: param("directory"),
        status: param("status").parse::<DirectoryUserStatus>().ok(),
        sort: sort(),
        dir: dir(),
        offset: param("offset").parse().unwrap_or(0),
        limit: PAGE,
    };
    let users = Resource::new(q, list_directory_users);
    let directories = Resource::new(|| (), |_| list_directories());
    // The current view with some parameters replaced.
    // Parameters are read before any `.await` in a Suspend (a snapshot), so
    // no reactive value is touched after the request's owner may be gone.
    let snapshot =
        move || -> Vec<(&'static str, String)> { KEYS.iter().map(|k| (*k, param(k))).collect() };
    let href_with = move |over: &[(&'static str, String)]| href_from(&snapshot(), over);
    let filtered = move || {
        !(param("q").is_empty() && param("directory").is_empty() && param("status").is_empty())
    };

    view! {
        <Title text="Users · Portcullis"/>
        <PageHeader title="Users" description="People your identity providers provision over SCIM. Change them in the IdP; Portcullis follows."/>
        <div class=TABLE_CARD>
            <div class="flex flex-col gap-3 border-b border-zinc-200 p-3 dark:border-zinc-800">
                <form method="get" action=PATH class="flex gap-2" role="search">
                    <label for="user-search" class="sr-only">"Search users"</label>
                    <input id="user-search" name="q" type="search" class=SEARCH
                        placeholder="Search by name, user name, email or id" prop:value=move || param("q")/>
                    // Searching keeps the filters and the order.
                    {move || ["directory", "status", "sort", "dir"].into_iter().filter_map(|k| {
                        let v = param(k);
                        (!v.is_empty()).then(|| view! { <input type="hidden" name=k value=v/> })
                    }).collect_view()}
                    <button type="submit" class="btn-secondary">"Search"</button>
                </form>
                <div class="flex flex-wrap items-center gap-x-6 gap-y-2">
                    <div class="flex flex-wrap items-center gap-2" role="group" aria-label="Status">
                        <span class="text-xs font-medium text-zinc-500">"Status"</span>
                        {move || {
                            let current = param("status");
                            [("All", ""), ("Active", "active"), ("Inactive", "inactive")].into_iter().map(|(label, v)| view! {
                                <Chip label href=href_with(&[("status", v.to_owned())]) active=current == v/>
                            }).collect_view()
                        }}
                    </div>
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
                                            active=current == d.id count=d.users/>
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
                    match users.await {
                        Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                        Ok(page) if page.items.is_empty() && page.total == 0 && !is_filtered => view! {
                            <EmptyState title="No people yet"
                                hint="Create a SCIM directory in Settings → Directories and paste its URL and token into Okta or Entra ID. The people it provisions show up here.">
                                <a href="/settings/directories" class="btn-primary">"Go to Settings → Directories"</a>
                            </EmptyState>
                        }.into_any(),
                        Ok(page) if page.items.is_empty() => view! {
                            <EmptyState title="No one matches"
                                hint="Try part of a name, user name or email, or clear the filters. Deleted users are not listed.">
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
                                <table class="min-w-full text-sm" data-testid="users-table">
                                    <caption class="sr-only">{format!("{} users", format_count(page.total))}</caption>
                                    <thead class=THEAD>
                                        <tr>
                                            <SortHeader label="Name" key="displayName" current dir=d href=sort_href/>
                                            <SortHeader label="User name" key="userName" current dir=d href=sort_href/>
                                            <SortHeader label="Email" key="email" current dir=d href=sort_href class="hidden lg:table-cell"/>
                                            <th scope="col" class="hidden px-4 py-3 md:table-cell">"Directory"</th>
                                            <th scope="col" class="px-4 py-3">"Status"</th>
                                            <SortHeader label="Created" key="created" current dir=d href=sort_href desc_first=true class="hidden xl:table-cell"/>
                                            <SortHeader label="Updated" key="updated" current dir=d href=sort_href desc_first=true/>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                        {page.items.into_iter().map(|u| {
                                            let name = person_name(u.display_name.as_deref(), &u.user_name);
                                            view! {
                                                <tr class="relative hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="user-row" data-user-name=u.user_name.clone()>
                                                    <td class="max-w-[16rem] px-4 py-2.5">
                                                        <a href=format!("/directory/users/{}", u.id) class=format!("block truncate {ROW_LINK}") title=name.clone()>{name.clone()}</a>
                                                    </td>
                                                    <td class="max-w-[16rem] truncate px-4 py-2.5 text-zinc-600 dark:text-zinc-400" title=u.user_name.clone()>{u.user_name.clone()}</td>
                                                    <td class="hidden max-w-[16rem] truncate px-4 py-2.5 text-zinc-600 dark:text-zinc-400 lg:table-cell">
                                                        {u.email.clone().unwrap_or_else(|| "—".into())}
                                                    </td>
                                                    <td class="hidden max-w-[10rem] truncate px-4 py-2.5 text-zinc-600 dark:text-zinc-400 md:table-cell">{u.directory_name.clone()}</td>
                                                    <td class="px-4 py-2.5"><ActiveBadge active=u.active/></td>
                                                    <td class="hidden px-4 py-2.5 text-zinc-500 xl:table-cell"><RelTime at=u.created_at/></td>
                                                    <td class="px-4 py-2.5 text-zinc-500"><RelTime at=u.updated_at/></td>
                                                </tr>
                                            }
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
