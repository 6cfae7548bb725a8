//! Directory → Groups → one group: summary card, then its members (a page
//! at a time; ids the IdP listed that are not users of the directory are
//! shown as "not provisioned" — they grant nothing) and its activity.

use super::api::get_directory_group;
use super::user::activity_tab;
use super::{person_name, CARD, ROW_LINK, TABLE_CARD, THEAD};
use crate::components::misc::format_count;
use crate::components::{
    AbsTime, ActiveBadge, AuditEventsLink, Badge, Breadcrumbs, CopyValue, EmptyState, ErrorPanel,
    Pager, RelTime, Skeleton, Tab, Tabs, Tone,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use portcullis_types::{DirectoryGroupDetail, DirectoryGroupMember};

const MEMBERS_PAGE: i64 = 50;

fn crumbs(name: Option<String>) -> Vec<(String, Option<String>)> {
    vec![
        ("Directory".into(), None),
        ("Groups".into(), Some("/directory/groups".into())),
        (name.unwrap_or_else(|| "Group".into()), None),
    ]
}

/// `/directory/groups/{id}`; `moffset` pages through the members.
#[component]
pub fn GroupPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let moffset = move || {
        query
            .read()
            .get("moffset")
            .and_then(|o| o.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let group = Resource::new(
        move || (id(), moffset()),
        |(id, o)| get_directory_group(id, o, MEMBERS_PAGE),
    );
    view! {
        <Title text="Group · Portcullis"/>
        <Transition fallback=|| view! { <Skeleton rows=8/> }>
            {move || Suspend::new(async move {
                let tab = query.read().get("tab").unwrap_or_default();
                match group.await {
                    Err(e) => view! {
                        <Breadcrumbs crumbs=crumbs(None)/>
                        <ErrorPanel error=e/>
                    }.into_any(),
                    Ok(g) => group_view(g, &tab).into_any(),
                }
            })}
        </Transition>
    }
}

fn group_view(g: DirectoryGroupDetail, tab: &str) -> impl IntoView {
    let base = format!("/directory/groups/{}", g.id);
    let not_provisioned = g.members.total - g.provisioned_members;
    let tabs = vec![
        Tab {
            label: "Members",
            href: base.clone(),
            count: Some(g.members.total),
            active: tab != "activity",
        },
        Tab {
            label: "Activity",
            href: format!("{base}?tab=activity"),
            count: Some(g.history.len() as i64),
            active: tab == "activity",
        },
    ];
    let body = if tab == "activity" {
        activity_tab(g.history.clone()).into_any()
    } else {
        members_view(&g, &base).into_any()
    };
    view! {
        <Breadcrumbs crumbs=crumbs(Some(g.display_name.clone()))/>
        <section class=format!("{CARD} mb-6 p-5") data-testid="group-summary">
            <div class="flex flex-wrap items-center gap-2">
                <h1 class="truncate text-xl font-semibold tracking-tight" title=g.display_name.clone()>{g.display_name.clone()}</h1>
                <Badge tone=Tone::Neutral label=match g.provisioned_members {
                    1 => "1 member".to_owned(),
                    n => format!("{} members", format_count(n)),
                }/>
                {(not_provisioned > 0).then(|| view! {
                    <Badge tone=Tone::Attention label=format!("{} not provisioned", format_count(not_provisioned))/>
                })}
                <span class="ml-auto"><AuditEventsLink id=g.id.clone()/></span>
            </div>
            <dl class="mt-5 grid grid-cols-1 gap-x-8 gap-y-4 border-t border-zinc-100 pt-4 text-sm dark:border-zinc-800 sm:grid-cols-2 lg:grid-cols-3">
                <div class="min-w-0">
                    <dt class="text-xs text-zinc-500">"Group id"</dt>
                    <dd class="mt-1"><CopyValue value=g.id.clone() label="Copy group id"/></dd>
                </div>
                <div class="min-w-0">
                    <dt class="text-xs text-zinc-500">"External id (from the IdP)"</dt>
                    <dd class="mt-1">{match g.external_id.clone() {
                        Some(x) => view! { <CopyValue value=x label="Copy external id"/> }.into_any(),
                        None => view! { <span class="text-zinc-400">"—"</span> }.into_any(),
                    }}</dd>
                </div>
                <div class="min-w-0">
                    <dt class="text-xs text-zinc-500">"Source directory"</dt>
                    <dd class="mt-1 truncate">
                        <a class="font-medium text-indigo-600 hover:underline dark:text-indigo-400" href=format!("/settings/directories/{}", g.directory_id)>{g.directory_name.clone()}</a>
                    </dd>
                </div>
                <div>
                    <dt class="text-xs text-zinc-500">"Created"</dt>
                    <dd class="mt-1"><AbsTime at=g.created_at/>" · "<span class="text-zinc-500"><RelTime at=g.created_at/></span></dd>
                </div>
                <div>
                    <dt class="text-xs text-zinc-500">"Updated"</dt>
                    <dd class="mt-1"><AbsTime at=g.updated_at/>" · "<span class="text-zinc-500"><RelTime at=g.updated_at/></span></dd>
                </div>
            </dl>
        </section>
        <Tabs tabs/>
        {body}
    }
}

fn members_view(g: &DirectoryGroupDetail, base: &str) -> impl IntoView {
    if g.members.total == 0 {
        return view! {
            <section class=CARD>
                <EmptyState title="No members"
                    hint="The IdP has not put anyone in this group yet. Add people to the group in Okta or Entra ID; they appear here at the next sync."/>
            </section>
        }
        .into_any();
    }
    let shown = g.members.items.len();
    let base = base.to_owned();
    let href = Callback::new(move |o: i64| format!("{base}?moffset={o}"));
    view! {
        <div class=TABLE_CARD>
            <table class="min-w-full text-sm" data-testid="members-table">
                <thead class=THEAD>
                    <tr>
                        <th scope="col" class="px-4 py-3">"Name"</th>
                        <th scope="col" class="px-4 py-3">"User name"</th>
                        <th scope="col" class="hidden px-4 py-3 lg:table-cell">"Email"</th>
                        <th scope="col" class="px-4 py-3">"Status"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                    {g.members.items.iter().cloned().map(member_row).collect_view()}
                </tbody>
            </table>
            <Pager offset=g.members.offset limit=g.members.limit shown total=g.members.total href/>
        </div>
    }
    .into_any()
}

fn member_row(m: DirectoryGroupMember) -> impl IntoView {
    if m.provisioned {
        let user_name = m.user_name.clone().unwrap_or_default();
        let name = person_name(m.display_name.as_deref(), &user_name);
        let title = name.clone();
        view! {
            <tr class="relative hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="member-row">
                <td class="max-w-[16rem] px-4 py-2.5">
                    <a href=format!("/directory/users/{}", m.id) class=format!("block truncate {ROW_LINK}") title=title>{name}</a>
                </td>
                <td class="max-w-[16rem] truncate px-4 py-2.5 text-zinc-600 dark:text-zinc-400">{user_name}</td>
                <td class="hidden max-w-[16rem] truncate px-4 py-2.5 text-zinc-600 dark:text-zinc-400 lg:table-cell">{m.email.unwrap_or_else(|| "—".into())}</td>
                <td class="px-4 py-2.5"><ActiveBadge active=m.active.unwrap_or(false)/></td>
            </tr>
        }
        .into_any()
    } else {
        view! {
            <tr data-testid="member-row" class="bg-amber-50/40 dark:bg-amber-500/5">
                <td class="max-w-[16rem] px-4 py-2.5">
                    <p class="truncate text-zinc-600 dark:text-zinc-400">{m.display_name.unwrap_or_else(|| "Unknown member".into())}</p>
                    <code class="font-mono text-xs text-zinc-500" title="The member id the IdP sent">{m.id.clone()}</code>
                </td>
                <td class="px-4 py-2.5 text-zinc-400">"—"</td>
                <td class="hidden px-4 py-2.5 text-zinc-400 lg:table-cell">"—"</td>
                <td class="px-4 py-2.5">
                    <span title="The IdP listed this id as a member, but no user with it was provisioned in this directory. It grants nothing.">
                        <Badge tone=Tone::Attention label="Not provisioned"/>
                    </span>
                </td>
            </tr>
        }
        .into_any()
    }
}
