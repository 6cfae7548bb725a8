//! The Access tab of a person: every tool of every server, whether they
//! may call it at the current revision, and why — the group, direct grant
//! or everyone-grant that decided, or the reason for a deny ("no grant",
//! "quarantined", …) — with a link to ask the simulator.

use super::api::{list_access_servers, user_access};
use super::{reason_words, simulator_href, Decision, LINK};
use crate::components::misc::format_count;
use crate::components::{AnnotationBadges, EmptyState, ErrorPanel, Skeleton};
use crate::directory::{CARD, TABLE_CARD, THEAD};
use leptos::prelude::*;
use portcullis_types::{MatchedVia, UserToolAccess};

/// Why the person may or may not call a tool, in words, with links.
fn why_view(a: &UserToolAccess) -> AnyView {
    let grant_link = a.grant_id.clone().map(|g| {
        let href = format!("/access/grants?server={}#grant-{g}", a.server_id);
        view! { <a class="ml-1 text-xs text-zinc-500 hover:text-indigo-600 hover:underline dark:hover:text-indigo-400" href=href title="Show the grant in the list">"view grant"</a> }
    });
    let via = match &a.via {
        Some(MatchedVia::Group { id, name }) => Some(
            view! { "group " <a class=LINK href=format!("/directory/groups/{id}")>{name.clone()}</a> }
                .into_any(),
        ),
        Some(MatchedVia::Direct) => Some(view! { "a direct grant" }.into_any()),
        Some(MatchedVia::Everyone) => Some(view! { "a grant to everyone" }.into_any()),
        None => None,
    };
    match (a.reason.as_str(), via) {
        ("allowed", Some(v)) => view! { <span>"Via " {v} {grant_link}</span> }.into_any(),
        ("denied_by_rule", Some(v)) => {
            view! { <span>"Denied by a deny grant to " {v} {grant_link}</span> }.into_any()
        }
        (code, _) => view! { <span>{reason_words(code)}</span> }.into_any(),
    }
}

/// Every tool this person can or cannot call, grouped by server.
/// `who` is what the simulator link fills in (their email, else the id).
#[component]
pub fn UserAccess(#[prop(into)] user_id: String, #[prop(into)] who: String) -> impl IntoView {
    // With the catalog's server names (the policy knows servers by slug).
    let access = Resource::new(
        move || user_id.clone(),
        |id| async move {
            let list = user_access(id).await?;
            let names = list_access_servers()
                .await?
                .into_iter()
                .map(|s| (s.id, s.name))
                .collect::<std::collections::HashMap<_, _>>();
            Ok::<_, crate::error::AppError>((list, names))
        },
    );
    view! {
        <Suspense fallback=|| view! { <section class=CARD><Skeleton rows=6/></section> }>
            {move || {
                let who = who.clone();
                Suspend::new(async move {
                    match access.await {
                        Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                        Ok((list, _)) if list.is_empty() => view! {
                            <section class=CARD>
                                <EmptyState title="No servers in the catalog yet"
                                    hint="Once MCP servers are registered in Catalog → Servers, this shows which of their tools this person may call, and why."/>
                            </section>
                        }.into_any(),
                        Ok((list, names)) => access_view(list, &names, &who).into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

fn access_view(
    list: Vec<UserToolAccess>,
    names: &std::collections::HashMap<String, String>,
    who: &str,
) -> impl IntoView {
    let allowed = list.iter().filter(|a| a.allowed).count();
    let total = list.len();
    // (id, name, slug, tools): servers by name, tools as they come.
    let mut servers: Vec<(String, String, String, Vec<UserToolAccess>)> = Vec::new();
    for a in list {
        match servers.iter_mut().find(|(id, ..)| *id == a.server_id) {
            Some((.., v)) => v.push(a),
            None => servers.push((
                a.server_id.clone(),
                names
                    .get(&a.server_id)
                    .cloned()
                    .unwrap_or_else(|| a.server_name.clone()),
                a.server_name.clone(),
                vec![a],
            )),
        }
    }
    servers.sort_by_key(|(_, name, ..)| name.to_lowercase());
    let banner = servers
        .iter()
        .flat_map(|(.., v)| v.first())
        .map(|a| a.reason.clone())
        .find(|r| r == "inactive_principal" || r == "unknown_principal");
    let who = who.to_owned();
    view! {
        <div class="space-y-4" data-testid="user-access">
            <div class=format!("{CARD} flex flex-wrap items-center justify-between gap-3 px-5 py-4")>
                <p class="text-sm">
                    <span class="font-semibold tabular-nums">{format!("{} of {}", format_count(allowed as i64), format_count(total as i64))}</span>
                    {format!(" tools on {} {} can be called now, at the current policy revision.",
                        servers.len(), if servers.len() == 1 { "server" } else { "servers" })}
                </p>
                <a class="btn-secondary px-2.5 py-1 text-xs" href=simulator_href(&who, "", "")>"Open the simulator"</a>
            </div>
            {banner.map(|r| view! {
                <p role="note" class="rounded-md border border-amber-200 bg-amber-50 px-4 py-3 text-sm text-amber-800 dark:border-amber-900 dark:bg-amber-500/10 dark:text-amber-300">
                    {if r == "inactive_principal" {
                        "This person is deactivated in the directory, so every call is denied whatever the grants say."
                    } else {
                        "This person is not in the current policy revision (deleted by the directory, or provisioned after it), so every call is denied."
                    }}
                </p>
            })}
            {servers.into_iter().map(|(server_id, server_name, slug, tools)| {
                let n_allowed = tools.iter().filter(|a| a.allowed).count();
                let n = tools.len();
                let who = who.clone();
                view! {
                    <section class=TABLE_CARD aria-label=format!("Server {server_name}") data-testid="user-access-server">
                        <div class="flex flex-wrap items-center justify-between gap-2 border-b border-zinc-200 px-4 py-3 dark:border-zinc-800">
                            <p class="min-w-0 truncate">
                                <a class="font-semibold text-zinc-900 hover:underline dark:text-zinc-100" href=format!("/catalog/servers/{server_id}")>{server_name.clone()}</a>
                                <code class="ml-2 font-mono text-xs text-zinc-500">{slug}</code>
                            </p>
                            <span class="text-xs text-zinc-500 tabular-nums">{format!("{n_allowed} of {n} tools allowed")}</span>
                        </div>
                        <table class="w-full table-fixed text-sm">
                            <colgroup>
                                <col class="w-[28%]"/>
                                <col class="w-[7.5rem]"/>
                                <col/>
                                <col class="hidden w-[13rem] md:table-column"/>
                                <col class="w-[6.5rem]"/>
                            </colgroup>
                            <thead class=THEAD>
                                <tr>
                                    <th scope="col" class="px-4 py-2.5">"Tool"</th>
                                    <th scope="col" class="px-4 py-2.5">"Access"</th>
                                    <th scope="col" class="px-4 py-2.5">"Why"</th>
                                    <th scope="col" class="hidden px-4 py-2.5 md:table-cell">"Annotations"</th>
                                    <th scope="col" class="px-4 py-2.5"><span class="sr-only">"Simulate"</span></th>
                                </tr>
                            </thead>
                            <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                {tools.into_iter().map(|a| {
                                    let sim = simulator_href(&who, &a.server_id, &a.tool);
                                    view! {
                                        <tr data-testid="user-access-tool" data-tool=a.tool.clone() data-allowed=a.allowed.to_string()>
                                            <td class="px-4 py-2.5">
                                                <code class="block truncate font-mono text-sm" title=a.tool.clone()>{a.tool.clone()}</code>
                                            </td>
                                            <td class="px-4 py-2.5"><Decision allowed=a.allowed/></td>
                                            <td class="px-4 py-2.5 text-zinc-700 dark:text-zinc-300">{why_view(&a)}</td>
                                            <td class="hidden px-4 py-2.5 md:table-cell"><AnnotationBadges annotations=a.effective/></td>
                                            <td class="px-4 py-2.5 text-right">
                                                <a href=sim class="whitespace-nowrap text-xs font-medium text-indigo-600 hover:underline dark:text-indigo-400"
                                                    aria-label=format!("Simulate {} on {}", a.tool, server_name)>"Simulate"</a>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </section>
                }
            }).collect_view()}
        </div>
    }
}
