//! Access → Grants: every grant, newest first, searchable and filtered by
//! server on the server side; the New grant form; revoke with a
//! confirmation that says who loses what.

use super::api::{
    list_access_servers, list_access_tools, list_grants, pick_groups, pick_people, CreateGrant,
    RevokeGrant, UpdateGrant,
};
use super::{
    expiry_view, field_error, subject_view, target_view, EffectBadge, HELP, INPUT, LABEL, LINK,
};
use crate::auth::api::get_me;
use crate::components::misc::format_count;
use crate::components::time;
use crate::components::{
    query_href, AnnotationBadges, Badge, Chip, ConfirmDialog, EmptyState, ErrorPanel, Notice,
    PageHeader, Pager, Picker, RelTime, Skeleton, Tone,
};
use crate::directory::{CARD, SEARCH, TABLE_CARD, THEAD};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::{GrantSummary, GrantTarget, Role, ServerSummary, ToolStatus};

const PATH: &str = "/access/grants";

/// The fields the New grant form shows errors for, next to the input.
const FORM_FIELDS: [&str; 9] = [
    "effect",
    "subject",
    "person",
    "agent",
    "server_id",
    "tools",
    "annotation",
    "expires_at",
    "reason",
];

/// What a grant covers, inside a sentence ("all tools", "read-only tools").
fn what_phrase(t: &GrantTarget) -> String {
    match t {
        GrantTarget::Server => "all tools".to_owned(),
        GrantTarget::Annotation { annotation } => {
            format!("{} tools", super::annotation_word(annotation))
        }
        GrantTarget::Tools { names } => match names.as_slice() {
            [one] => one.clone(),
            [first, rest @ ..] => format!(
                "{first} and {} more tool{}",
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ),
            [] => "no tools".to_owned(),
        },
    }
}

/// The confirmation text for revoking `g`.
fn revoke_body(g: &GrantSummary) -> String {
    let what = what_phrase(&g.target);
    if g.effect == "deny" {
        format!(
            "The deny on {what} of {} for {} is lifted at the next policy revision, which this creates. Any allow grant they have then applies.",
            g.server_name, g.subject_display
        )
    } else {
        format!(
            "{} loses this grant ({what} on {}) at the next policy revision, which this creates. Other grants still apply.",
            g.subject_display, g.server_name
        )
    }
}

/// `/access/grants`: `q` searches, `server` filters, `offset` pages.
#[component]
pub fn GrantsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let create = ServerAction::<CreateGrant>::new();
    let revoke = ServerAction::<RevokeGrant>::new();
    let update = ServerAction::<UpdateGrant>::new();
    let grants = Resource::new(
        move || {
            (
                param("q"),
                param("server"),
                param("offset").parse::<i64>().unwrap_or(0),
                create.version().get(),
                revoke.version().get(),
                update.version().get(),
            )
        },
        |(q, server, offset, ..)| list_grants(q, server, offset),
    );
    let servers = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_access_servers(),
    );
    let me = Resource::new(|| (), |_| get_me());

    let show_form = RwSignal::new(false);
    let notice = RwSignal::new(None::<String>);
    let notice_link = RwSignal::new(None::<(String, String)>);
    let pending = RwSignal::new(None::<GrantSummary>);
    let confirm_open = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);

    Effect::new(move |_| {
        if let Some(Ok(c)) = create.value().get() {
            show_form.set(false);
            notice.set(Some(format!("Grant added — revision {}", c.revision)));
            notice_link.set(Some((
                "See what changed".to_owned(),
                format!(
                    "/access/revisions?from={}&to={}",
                    c.revision - 1,
                    c.revision
                ),
            )));
        }
    });
    Effect::new(move |_| {
        match revoke.value().get() {
            Some(Ok(rev)) => {
                notice.set(Some(format!("Grant revoked — revision {rev}")));
                notice_link.set(Some((
                    "See what changed".to_owned(),
                    format!("/access/revisions?from={}&to={rev}", rev - 1),
                )));
            }
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });
    let editing = RwSignal::new(None::<GrantSummary>);
    Effect::new(move |_| {
        if let Some(Ok(rev)) = update.value().get() {
            editing.set(None);
            match rev {
                Some(rev) => {
                    notice.set(Some(format!("Grant updated — revision {rev}")));
                    notice_link.set(Some((
                        "See what changed".to_owned(),
                        format!("/access/revisions?from={}&to={rev}", rev - 1),
                    )));
                }
                None => {
                    notice.set(Some("Grant updated — the policy is unchanged".to_owned()));
                    notice_link.set(None);
                }
            }
        }
    });
    let ask_edit = move |g: GrantSummary| {
        update.clear();
        editing.set(Some(g));
    };
    let ask_revoke = move |g: GrantSummary| {
        action_error.set(None);
        pending.set(Some(g));
        confirm_open.set(true);
    };
    let title = Signal::derive(move || {
        pending
            .get()
            .map(|g| format!("Revoke {}'s grant on {}?", g.subject_display, g.server_name))
            .unwrap_or_default()
    });
    let body = Signal::derive(move || pending.get().map(|g| revoke_body(&g)).unwrap_or_default());
    let on_confirm = Callback::new(move |_| {
        if let Some(g) = pending.get_untracked() {
            revoke.dispatch(RevokeGrant { id: g.id });
        }
    });

    // The current view as (key, value) pairs, read before any `.await`.
    let snapshot = move || -> Vec<(&'static str, String)> {
        ["q", "server"].into_iter().map(|k| (k, param(k))).collect()
    };

    view! {
        <Title text="Grants · Portcullis"/>
        <PageHeader title="Grants" description="Who may call which tools. With no grant, a person is denied; a deny grant always wins over an allow.">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let can = me.await.map(|m| m.role >= Role::Admin).unwrap_or(false);
                    if can {
                        view! {
                            <button type="button" class="btn-primary" data-testid="open-new-grant"
                                on:click=move |_| {
                                    create.value().set(None);
                                    show_form.set(true);
                                }>
                                <svg viewBox="0 0 20 20" class="h-4 w-4" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M10 4v12M4 10h12" stroke-linecap="round"/></svg>
                                "New grant"
                            </button>
                        }.into_any()
                    } else {
                        view! {
                            <span class="inline-flex items-center gap-1.5 rounded-md border border-zinc-200 px-2.5 py-1 text-xs font-medium text-zinc-600 dark:border-zinc-700 dark:text-zinc-400"
                                title="Owners and admins create and revoke grants.">
                                <svg viewBox="0 0 20 20" class="h-3.5 w-3.5" fill="none" stroke="currentColor" stroke-width="1.8" aria-hidden="true">
                                    <rect x="4.5" y="9" width="11" height="8" rx="1.5"/><path d="M7 9V6.5a3 3 0 016 0V9"/>
                                </svg>
                                "View only"
                            </span>
                        }.into_any()
                    }
                })}
            </Suspense>
        </PageHeader>

        <Show when=move || show_form.get()>
            <GrantForm create on_cancel=Callback::new(move |_| show_form.set(false))/>
        </Show>

        {move || action_error.get().map(crate::components::misc::action_alert)}

        <div class=TABLE_CARD>
            <div class="flex flex-col gap-3 border-b border-zinc-200 p-3 dark:border-zinc-800">
                <form method="get" action=PATH class="flex gap-2" role="search">
                    <label for="grant-search" class="sr-only">"Search grants"</label>
                    <input id="grant-search" name="q" type="search" class=SEARCH
                        placeholder="Search by person, group, server, tool or reason" prop:value=move || param("q")/>
                    {move || {
                        let s = param("server");
                        (!s.is_empty()).then(|| view! { <input type="hidden" name="server" value=s/> })
                    }}
                    <button type="submit" class="btn-secondary">"Search"</button>
                </form>
                <Suspense fallback=|| ()>
                    {move || {
                        let snap = snapshot();
                        let current = param("server");
                        Suspend::new(async move {
                            let list: Vec<ServerSummary> = servers.await.unwrap_or_default()
                                .into_iter()
                                .filter(|s| s.grants > 0 || s.id == current)
                                .collect();
                            let q = snap.iter().find(|(k, _)| *k == "q").map(|(_, v)| v.clone()).unwrap_or_default();
                            (!list.is_empty()).then(|| view! {
                                <div class="flex flex-wrap items-center gap-2" role="group" aria-label="Server">
                                    <span class="text-xs font-medium text-zinc-500">"Server"</span>
                                    <Chip label="All" href=query_href(PATH, &[("q", q.clone())]) active=current.is_empty()/>
                                    {list.into_iter().map(|s| view! {
                                        <Chip label=s.name.clone()
                                            href=query_href(PATH, &[("q", q.clone()), ("server", s.id.clone())])
                                            active=current == s.id count=s.grants/>
                                    }).collect_view()}
                                    {(!current.is_empty() || !q.is_empty()).then(|| view! {
                                        <a href=PATH class="ml-2 text-xs font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Clear filters"</a>
                                    })}
                                </div>
                            })
                        })
                    }}
                </Suspense>
            </div>
            <Transition fallback=|| view! { <Skeleton rows=6/> }>
                {move || {
                    let snap = snapshot();
                    let filtered = snap.iter().any(|(_, v)| !v.is_empty());
                    Suspend::new(async move {
                        let can = me.await.map(|m| m.role >= Role::Admin).unwrap_or(false);
                        match grants.await {
                            Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                            Ok(page) if page.items.is_empty() && page.total == 0 && !filtered => view! {
                                <EmptyState title="No grants yet"
                                    hint="Everyone is denied everything. Grant a group access to a server.">
                                    {can.then(|| view! {
                                        <button type="button" class="btn-primary" on:click=move |_| show_form.set(true)>"New grant"</button>
                                    })}
                                </EmptyState>
                            }.into_any(),
                            Ok(page) if page.items.is_empty() => view! {
                                <EmptyState title="No grants match"
                                    hint="Search matches people's emails, group and server names, tool names and reasons.">
                                    <a href=PATH class="btn-secondary">"Clear filters"</a>
                                </EmptyState>
                            }.into_any(),
                            Ok(page) => {
                                let shown = page.items.len();
                                let href = Callback::new(move |o: i64| {
                                    let mut params = snap.clone();
                                    params.push(("offset", o.to_string()));
                                    query_href(PATH, &params)
                                });
                                view! {
                                    <table class="w-full table-fixed text-sm" data-testid="grants-table">
                                        <caption class="sr-only">{format!("{} grants", format_count(page.total))}</caption>
                                        {grant_table_head(THEAD)}
                                        <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                            {page.items.into_iter().map(|g| grant_row(g, can.then_some((ask_edit, ask_revoke)))).collect_view()}
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

        <EditGrantDialog editing update/>
        <ConfirmDialog open=confirm_open title body confirm_label="Revoke grant".to_owned()
            pending=revoke.pending() on_confirm/>
        <Notice message=notice link=notice_link/>
    }
}

/// The column widths and header of a grants table (`head` styles the
/// header row: sticky in the list, plain in a diff). The table is
/// `table-fixed`, so long names truncate instead of widening the page.
pub(crate) fn grant_table_head(head: &'static str) -> impl IntoView {
    view! {
        <colgroup>
            <col class="w-[6rem]"/>
            <col class="w-[20%]"/>
            <col class="w-[11%]"/>
            <col/>
            <col class="w-[7rem]"/>
            <col class="hidden w-[8.5rem] md:table-column"/>
            <col class="w-[5.75rem]"/>
        </colgroup>
        <thead class=head>
            <tr>
                <th scope="col" class="py-3 pr-3 pl-4">"Effect"</th>
                <th scope="col" class="px-3 py-3">"Who"</th>
                <th scope="col" class="px-3 py-3">"Server"</th>
                <th scope="col" class="px-3 py-3">"What"</th>
                <th scope="col" class="px-3 py-3">"Expires"</th>
                <th scope="col" class="hidden px-3 py-3 md:table-cell">"Created"</th>
                <th scope="col" class="py-3 pr-4 pl-3"><span class="sr-only">"Actions"</span></th>
            </tr>
        </thead>
    }
}

/// One row of the grants table (also used, without actions, in diffs):
/// `actions` are what Edit and Revoke call.
pub(crate) fn grant_row<E, R>(g: GrantSummary, actions: Option<(E, R)>) -> impl IntoView
where
    E: Fn(GrantSummary) + Copy + Send + Sync + 'static,
    R: Fn(GrantSummary) + Copy + Send + Sync + 'static,
{
    let dim = if g.expired { "opacity-60" } else { "" };
    let (for_edit, for_revoke) = (g.clone(), g.clone());
    view! {
        <tr id=format!("grant-{}", g.id) data-testid="grant-row" data-grant-id=g.id.clone()
            data-subject=g.subject_display.clone() data-expired=g.expired.to_string()
            class=if g.expired {
                "bg-zinc-50/70 align-top target:bg-amber-50 dark:bg-zinc-950/40 dark:target:bg-amber-500/10"
            } else {
                "align-top hover:bg-zinc-50 target:bg-amber-50 dark:hover:bg-zinc-800/40 dark:target:bg-amber-500/10"
            }>
            <td class=format!("py-3 pr-3 pl-4 {dim}")><EffectBadge effect=g.effect.clone()/></td>
            <td class=format!("px-3 py-3 {dim}")>{subject_view(&g.subject, &g.subject_display)}</td>
            <td class=format!("px-3 py-3 {dim}")>
                <a href=format!("/catalog/servers/{}", g.server_id) class=format!("block truncate {LINK}") title=g.server_name.clone()>{g.server_name.clone()}</a>
            </td>
            <td class=format!("px-3 py-3 {dim}")>
                {target_view(&g)}
                {(!g.reason.is_empty()).then(|| view! {
                    <p class="mt-1 line-clamp-2 break-words text-xs text-zinc-500 dark:text-zinc-400" title=g.reason.clone()>{g.reason.clone()}</p>
                })}
            </td>
            <td class="px-3 py-3">{expiry_view(&g)}</td>
            <td class=format!("hidden px-3 py-3 text-zinc-500 md:table-cell {dim}")>
                <RelTime at=g.created_at/>
                <p class="truncate text-xs" title=g.created_by.clone()>{format!("by {}", g.created_by)}</p>
            </td>
            <td class="py-3 pr-4 pl-3 text-right">
                {actions.map(|(edit, revoke)| view! {
                    <div class="flex flex-col items-end gap-1.5">
                        <button type="button" class="btn-secondary px-2.5 py-1 text-xs" data-testid="edit-grant"
                            aria-label=format!("Edit {}'s grant on {}", g.subject_display, g.server_name)
                            on:click=move |_| edit(for_edit.clone())>
                            "Edit"
                        </button>
                        <button type="button" class="btn-danger-outline px-2.5 py-1 text-xs" data-testid="revoke-grant"
                            aria-label=format!("Revoke {}'s grant on {}", g.subject_display, g.server_name)
                            on:click=move |_| revoke(for_revoke.clone())>
                            "Revoke"
                        </button>
                    </div>
                })}
            </td>
        </tr>
    }
}

/// A grant's Expires and Reason fields (the new-grant form's and the edit
/// dialog's), ids prefixed with `id`, starting from `expires` (a
/// `datetime-local` value) and `reason`.
fn expiry_and_reason(
    id: &'static str,
    expires: String,
    reason: String,
    err: impl Fn(&'static str) -> Option<String> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div>
            <label for=format!("{id}-expires") class=LABEL>
                "Expires " <span class="font-normal text-zinc-400">"(optional)"</span>
            </label>
            <input id=format!("{id}-expires") name="expires_at" type="datetime-local" class=INPUT value=expires/>
            <input type="hidden" name="tz" value=time::zone/>
            <p class=HELP>{move || format!("In {}. Leave empty for a grant that does not expire.", time::zone_phrase(&time::zone()))}</p>
            {move || field_error("Expires", err("expires_at"))}
        </div>
        <div>
            <label for=format!("{id}-reason") class=LABEL>
                "Reason " <span class="font-normal text-zinc-400">"(optional)"</span>
            </label>
            <input id=format!("{id}-reason") name="reason" type="text" maxlength="500" class=INPUT
                value=reason placeholder="Ticket SEC-142: incident response"/>
            <p class=HELP>"Shown in the grant list and the audit log."</p>
            {move || field_error("Reason", err("reason"))}
        </div>
    }
}

/// The Edit grant dialog's tools: the server's tools, those the grant
/// names ticked (a grant that names tools keeps naming tools).
fn edit_tools(
    server_id: String,
    named: Vec<String>,
    err: impl Fn(&'static str) -> Option<String> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let tools = Resource::new(move || server_id.clone(), list_access_tools);
    view! {
        <fieldset data-testid="edit-grant-tools">
            <input type="hidden" name="edit_tools" value="on"/>
            <legend class=LABEL>"Tools"</legend>
            <Transition fallback=|| view! { <Skeleton rows=3/> }>
                {move || {
                    let named = named.clone();
                    Suspend::new(async move {
                        match tools.await {
                            Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                            Ok(list) => view! {
                                <div class="grid max-h-56 gap-1 overflow-y-auto rounded-lg border border-zinc-200 p-2 dark:border-zinc-700 sm:grid-cols-2">
                                    {list.into_iter().filter(|t| t.status != ToolStatus::Removed || named.contains(&t.name)).map(|t| {
                                        let id = format!("edit-tool-{}", t.id);
                                        let for_id = id.clone();
                                        let checked = named.contains(&t.name);
                                        view! {
                                            <label for=for_id class="flex cursor-pointer items-center gap-2.5 rounded-md px-2 py-1.5 hover:bg-zinc-50 dark:hover:bg-zinc-800/60">
                                                <input id=id type="checkbox" name="tools[]" value=t.name.clone() checked=checked
                                                    class="h-4 w-4 rounded border-zinc-300 text-indigo-600 focus:ring-indigo-500 dark:border-zinc-600 dark:bg-zinc-900"/>
                                                <code class="truncate font-mono text-sm" title=t.name.clone()>{t.name.clone()}</code>
                                            </label>
                                        }
                                    }).collect_view()}
                                </div>
                            }.into_any(),
                        }
                    })
                }}
            </Transition>
            {move || field_error("Tools", err("tools"))}
        </fieldset>
    }
}

/// The Edit grant dialog: the expiry, reason and (for a grant that names
/// tools) the tools of the grant in `editing`. Who, server, effect and a
/// whole-server or annotation target stay; revoke and re-create to change
/// those.
#[component]
fn EditGrantDialog(
    editing: RwSignal<Option<GrantSummary>>,
    update: ServerAction<UpdateGrant>,
) -> impl IntoView {
    let error = move || update.value().get().and_then(|r| r.err());
    let err = move |f: &'static str| error().and_then(|e| e.field(f));
    let general = move || {
        error().filter(|e| {
            e.fields.is_empty()
                || e.fields
                    .iter()
                    .all(|f| !["expires_at", "reason", "tools"].contains(&f.field.as_str()))
        })
    };
    move || {
        editing.get().map(|g| {
            let expires = g
                .expires_at
                .map(|t| time::input_value(t, &time::zone()))
                .unwrap_or_default();
            view! {
                <div class="fixed inset-0 z-40 flex items-center justify-center bg-zinc-950/50 p-4" role="presentation">
                    <div role="dialog" aria-modal="true" aria-labelledby="edit-grant-title" data-testid="edit-grant-dialog"
                        class="max-h-[90vh] w-full max-w-lg overflow-y-auto rounded-xl border border-zinc-200 bg-white p-6 shadow-xl dark:border-zinc-700 dark:bg-zinc-900">
                        <h2 id="edit-grant-title" class="text-base font-semibold">
                            {format!("Edit {}'s grant on {}", g.subject_display, g.server_name)}
                        </h2>
                        <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">
                            {format!("{} {}. A new expiry or new tools take effect at the policy revision the change creates.",
                                if g.effect == "deny" { "Denies" } else { "Allows" }, what_phrase(&g.target))}
                        </p>
                        {move || general().map(|e| view! {
                            <p role="alert" class="mt-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">{e.message}</p>
                        })}
                        <ActionForm action=update>
                            <input type="hidden" name="id" value=g.id.clone()/>
                            <div class="mt-5 space-y-5">
                                {match &g.target {
                                    GrantTarget::Tools { names } => Some(edit_tools(g.server_id.clone(), names.clone(), err)),
                                    _ => None,
                                }}
                                {expiry_and_reason("edit-grant", expires, g.reason.clone(), err)}
                            </div>
                            <div class="mt-6 flex justify-end gap-3">
                                <button type="button" class="btn-secondary" on:click=move |_| editing.set(None)>"Cancel"</button>
                                <button type="submit" class="btn-primary" disabled=move || update.pending().get()>
                                    {move || if update.pending().get() { "Saving…" } else { "Save changes" }}
                                </button>
                            </div>
                        </ActionForm>
                    </div>
                </div>
            }
        })
    }
}

/// The New grant form. Every field is posted (hidden ones too); the server
/// reads the ones the choices call for.
#[component]
fn GrantForm(create: ServerAction<CreateGrant>, on_cancel: Callback<()>) -> impl IntoView {
    let servers = Resource::new(|| (), |_| list_access_servers());
    let effect = RwSignal::new("allow".to_owned());
    let subject_kind = RwSignal::new("group".to_owned());
    let server_id = RwSignal::new(String::new());
    let target = RwSignal::new("server".to_owned());
    let tool_filter = RwSignal::new(String::new());
    let tools = Resource::new(
        move || server_id.get(),
        |id| async move {
            if id.is_empty() {
                Ok(Vec::new())
            } else {
                list_access_tools(id).await
            }
        },
    );
    let error = move || create.value().get().and_then(|r| r.err());
    let err = move |f: &'static str| error().and_then(|e| e.field(f));
    // An error that names no field of the form (a refused role, a fault).
    let general = move || {
        error().filter(|e| {
            e.fields.is_empty()
                || e.fields
                    .iter()
                    .all(|f| !FORM_FIELDS.contains(&f.field.as_str()))
        })
    };
    let radio = "h-4 w-4 border-zinc-300 text-indigo-600 focus:ring-indigo-500 dark:border-zinc-600 dark:bg-zinc-900";
    let option_card = "flex cursor-pointer items-start gap-3 rounded-lg border border-zinc-200 p-3 has-[:checked]:border-indigo-500 has-[:checked]:bg-indigo-50/60 has-[:focus-visible]:ring-2 has-[:focus-visible]:ring-indigo-500 dark:border-zinc-700 dark:has-[:checked]:border-indigo-400 dark:has-[:checked]:bg-indigo-500/10";
    let pill = "inline-flex cursor-pointer items-center gap-2 rounded-md border border-zinc-300 px-3 py-1.5 text-sm has-[:checked]:border-indigo-500 has-[:checked]:bg-indigo-50 has-[:checked]:text-indigo-700 has-[:focus-visible]:ring-2 has-[:focus-visible]:ring-indigo-500 dark:border-zinc-700 dark:has-[:checked]:border-indigo-400 dark:has-[:checked]:bg-indigo-500/10 dark:has-[:checked]:text-indigo-300";

    view! {
        <section class=format!("{CARD} mb-6 p-5 sm:p-6") aria-labelledby="new-grant-title" data-testid="grant-form">
            <h2 id="new-grant-title" class="text-base font-semibold">"New grant"</h2>
            <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">
                "A grant applies from the policy revision it creates; gateways pick it up at their next sync."
            </p>
            {move || general().map(|e| view! {
                <p role="alert" data-testid="action-error" class="mt-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">{e.message}</p>
            })}
            <ActionForm action=create>
                <div class="mt-5 space-y-6">
                    <fieldset>
                        <legend class=LABEL>"Effect"</legend>
                        <div class="grid gap-3 sm:grid-cols-2">
                            <label class=option_card>
                                <input type="radio" name="effect" value="allow" class=format!("mt-0.5 {radio}") checked
                                    on:change=move |_| effect.set("allow".into())/>
                                <span>
                                    <span class="block text-sm font-medium">"Allow"</span>
                                    <span class="block text-xs text-zinc-500 dark:text-zinc-400">"They may call these tools."</span>
                                </span>
                            </label>
                            <label class=option_card>
                                <input type="radio" name="effect" value="deny" class=format!("mt-0.5 {radio}")
                                    on:change=move |_| effect.set("deny".into())/>
                                <span>
                                    <span class="block text-sm font-medium">"Deny"</span>
                                    <span class="block text-xs text-zinc-500 dark:text-zinc-400">"They may not, even if another grant allows it."</span>
                                </span>
                            </label>
                        </div>
                        {move || field_error("Effect", err("effect"))}
                    </fieldset>

                    <fieldset>
                        <legend class=LABEL>"Who"</legend>
                        <div class="flex flex-wrap gap-2">
                            <label class=pill>
                                <input type="radio" name="subject_kind" value="group" class=radio checked
                                    on:change=move |_| subject_kind.set("group".into())/>
                                "A group"
                            </label>
                            <label class=pill>
                                <input type="radio" name="subject_kind" value="person" class=radio
                                    on:change=move |_| subject_kind.set("person".into())/>
                                "One person"
                            </label>
                            <label class=pill>
                                <input type="radio" name="subject_kind" value="everyone" class=radio
                                    on:change=move |_| subject_kind.set("everyone".into())/>
                                "Everyone"
                            </label>
                            <label class=pill>
                                <input type="radio" name="subject_kind" value="agent" class=radio
                                    on:change=move |_| subject_kind.set("agent".into())/>
                                "An agent"
                            </label>
                        </div>
                        <div class="mt-3 max-w-md" class:hidden=move || subject_kind.get() != "group">
                            <label for="grant-group" class="sr-only">"Group"</label>
                            <Picker id="grant-group" name="group_id" placeholder="Search groups by name…"
                                search=pick_groups none="No group matches. Groups come from your directories (SCIM)."/>
                            <p class=HELP>"Members get the grant as the IdP adds them; people it removes lose it."</p>
                        </div>
                        <div class="mt-3 max-w-md" class:hidden=move || subject_kind.get() != "person">
                            <label for="grant-person" class="sr-only">"Person's email"</label>
                            <Picker id="grant-person" name="person" placeholder="alice@company.com" free_text=true
                                search=pick_people none="No active person matches."/>
                            <p class=HELP>"Search by name or email, or type their email or user name in full."</p>
                        </div>
                        <div class="mt-3 max-w-md" class:hidden=move || subject_kind.get() != "agent">
                            <label for="grant-agent" class="sr-only">"Agent"</label>
                            <Picker id="grant-agent" name="agent_id" placeholder="Search agents by name…"
                                search=crate::agents::api::pick_agents none="No agent matches. Register agents on the Agents page."/>
                            <p class=HELP>"Only grants naming an agent reach it: never Everyone, never a group."</p>
                        </div>
                        <p class="mt-3 text-sm text-zinc-600 dark:text-zinc-400" class:hidden=move || subject_kind.get() != "everyone">
                            "Every active person in every directory, including people provisioned later. Agents are not included."
                        </p>
                        {move || field_error("Who", err("subject").or_else(|| err("person")).or_else(|| err("agent")))}
                    </fieldset>

                    <div class="max-w-md">
                        <label for="grant-server" class=LABEL>"Server"</label>
                        <Suspense fallback=|| view! { <select class=INPUT disabled><option>"Loading servers…"</option></select> }>
                            {move || Suspend::new(async move {
                                let list = servers.await.unwrap_or_default();
                                let empty = list.is_empty();
                                view! {
                                    <select id="grant-server" name="server_id" class=INPUT
                                        on:change=move |ev| server_id.set(event_target_value(&ev))>
                                        <option value="">{if empty { "No servers in the catalog yet" } else { "Choose a server…" }}</option>
                                        {list.into_iter().map(|s| {
                                            let label = format!("{} ({})", s.name, s.slug);
                                            view! { <option value=s.id>{label}</option> }
                                        }).collect_view()}
                                    </select>
                                    {empty.then(|| view! {
                                        <p class=HELP>"Register a server in " <a class=LINK href="/catalog/servers">"Catalog → Servers"</a> " first."</p>
                                    })}
                                }
                            })}
                        </Suspense>
                        {move || field_error("Server", err("server_id"))}
                    </div>

                    <fieldset>
                        <legend class=LABEL>"Tools"</legend>
                        <div class="flex flex-wrap gap-2">
                            <label class=pill>
                                <input type="radio" name="target" value="server" class=radio checked
                                    on:change=move |_| target.set("server".into())/>
                                "Whole server"
                            </label>
                            <label class=pill>
                                <input type="radio" name="target" value="tools" class=radio
                                    on:change=move |_| target.set("tools".into())/>
                                "Specific tools"
                            </label>
                            <label class=pill>
                                <input type="radio" name="target" value="annotation" class=radio
                                    on:change=move |_| target.set("annotation".into())/>
                                "By annotation"
                            </label>
                        </div>
                        <div class="mt-3" class:hidden=move || target.get() != "tools">
                            <Transition fallback=|| view! { <Skeleton rows=3/> }>
                                {move || {
                                    let chosen = !server_id.get().is_empty();
                                    Suspend::new(async move {
                                        match tools.await {
                                            Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                                            Ok(_) if !chosen => view! {
                                                <p class="text-sm text-zinc-500">"Choose a server to see its tools."</p>
                                            }.into_any(),
                                            Ok(list) if list.is_empty() => view! {
                                                <p class="text-sm text-zinc-500">"This server has no tools yet. Run discovery on its catalog page."</p>
                                            }.into_any(),
                                            Ok(list) => view! {
                                                // Ticked tools stay posted while the filter hides them.
                                                <input type="search" aria-label="Filter tools" placeholder="Filter tools by name…" autocomplete="off"
                                                    class=format!("{INPUT} mb-2 max-w-md")
                                                    on:input=move |ev| tool_filter.set(event_target_value(&ev).to_lowercase())/>
                                                <div class="grid max-h-72 gap-1 overflow-y-auto rounded-lg border border-zinc-200 p-2 dark:border-zinc-700 sm:grid-cols-2" data-testid="tool-choices">
                                                    {list.into_iter().filter(|t| t.status != ToolStatus::Removed).map(|t| {
                                                        let id = format!("grant-tool-{}", t.id);
                                                        let for_id = id.clone();
                                                        let lower = t.name.to_lowercase();
                                                        view! {
                                                            <label for=for_id class="flex cursor-pointer items-start gap-2.5 rounded-md px-2 py-1.5 hover:bg-zinc-50 dark:hover:bg-zinc-800/60"
                                                                class:hidden=move || !lower.contains(&tool_filter.get())>
                                                                <input id=id type="checkbox" name="tools[]" value=t.name.clone()
                                                                    class="mt-0.5 h-4 w-4 rounded border-zinc-300 text-indigo-600 focus:ring-indigo-500 dark:border-zinc-600 dark:bg-zinc-900"/>
                                                                <span class="min-w-0">
                                                                    <code class="block truncate font-mono text-sm" title=t.name.clone()>{t.name.clone()}</code>
                                                                    <span class="mt-1 flex flex-wrap gap-1">
                                                                        <AnnotationBadges annotations=t.effective/>
                                                                        {(t.status == ToolStatus::Quarantined).then(|| view! {
                                                                            <Badge tone=Tone::Attention label="quarantined"/>
                                                                        })}
                                                                    </span>
                                                                </span>
                                                            </label>
                                                        }
                                                    }).collect_view()}
                                                </div>
                                                <p class=HELP>"Named tools are covered even when they are destructive. Quarantined tools stay denied until approved."</p>
                                            }.into_any(),
                                        }
                                    })
                                }}
                            </Transition>
                        </div>
                        <div class="mt-3 max-w-md" class:hidden=move || target.get() != "annotation">
                            <label for="grant-annotation" class="sr-only">"Annotation"</label>
                            <select id="grant-annotation" name="annotation" class=INPUT>
                                <option value="read_only">"Read-only tools"</option>
                                <option value="idempotent">"Idempotent tools"</option>
                                <option value="open_world">"Open-world tools"</option>
                                <option value="destructive">"Destructive tools"</option>
                            </select>
                            <p class=HELP>"Annotations come from the server (or an admin's override) and can change at the next discovery."</p>
                        </div>
                        {move || field_error("Tools", err("tools").or_else(|| err("annotation")))}
                    </fieldset>

                    <div class:hidden=move || effect.get() != "allow" || target.get() == "tools">
                        <label class="flex items-start gap-3">
                            <input type="checkbox" name="include_destructive" value="on"
                                class="mt-0.5 h-4 w-4 rounded border-zinc-300 text-indigo-600 focus:ring-indigo-500 dark:border-zinc-600 dark:bg-zinc-900"/>
                            <span>
                                <span class="block text-sm font-medium">"Include destructive tools"</span>
                                <span class="block text-xs text-zinc-500 dark:text-zinc-400">
                                    "Tools marked destructive are not covered by a whole-server or annotation allow unless you tick this."
                                </span>
                            </span>
                        </label>
                    </div>

                    <div class="grid gap-5 sm:grid-cols-2">
                        {expiry_and_reason("grant", String::new(), String::new(), err)}
                    </div>
                </div>
                <div class="mt-6 flex justify-end gap-2 border-t border-zinc-100 pt-4 dark:border-zinc-800">
                    <button type="button" class="btn-secondary" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                    <button type="submit" class="btn-primary" disabled=move || create.pending().get()>
                        {move || if create.pending().get() { "Adding…" } else { "Add grant" }}
                    </button>
                </div>
            </ActionForm>
        </section>
    }
}
