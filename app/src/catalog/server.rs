//! Catalog → a server: its summary, tools (annotations, review status, how
//! many people may call each now), discovery, tools entered by hand, and
//! the access matrix (groups × tools) as a heatmap.

use super::api::{
    get_server, get_server_oauth, server_matrix, AddTool, DeleteServer, DiscoverServer, ServerView,
    SetServerEnabled, SetServerScopes,
};
use super::{clip, field_error, notice, HELP, INPUT, LABEL};
use crate::components::misc::action_alert;
use crate::components::misc::format_count;
use crate::components::{
    AnnotationBadges, AuditEventsLink, Badge, Breadcrumbs, ConfirmDialog, CopyButton, EmptyState,
    ErrorPanel, Field, RelTime, Skeleton, Tab, Tabs, Tone, ToolStatusBadge,
};
use crate::directory::{CARD, ROW_LINK, TABLE_CARD, THEAD};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use portcullis_types::{AccessMatrix, DiscoveryReport, ToolStatus, ToolSummary};

/// A dangerous action waiting for confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Disable,
    Delete,
}

/// `/catalog/servers/{id}`.
#[component]
pub fn ServerPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let tab = move || query.read().get("tab").unwrap_or_default();
    let discover = ServerAction::<DiscoverServer>::new();
    let add = ServerAction::<AddTool>::new();
    let enable = ServerAction::<SetServerEnabled>::new();
    let delete = ServerAction::<DeleteServer>::new();
    let view_data = Resource::new(
        move || {
            (
                id(),
                discover.version().get(),
                add.version().get(),
                enable.version().get(),
            )
        },
        |(id, ..)| get_server(id),
    );
    let matrix = Resource::new(
        move || (id(), tab(), enable.version().get()),
        |(id, tab, _)| async move {
            if tab == "matrix" {
                server_matrix(id).await.map(Some)
            } else {
                Ok(None)
            }
        },
    );
    let show_discover = RwSignal::new(false);
    let show_add = RwSignal::new(false);
    let pending = RwSignal::new(None::<(Pending, String, i64, i64)>);
    let confirm_open = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(_)) = discover.value().get() {
            show_discover.set(false);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get() {
            show_add.set(false);
        }
    });
    Effect::new(move |_| {
        if enable.value().get().is_some() || delete.value().get().is_some() {
            confirm_open.set(false);
        }
    });
    let busy = Signal::derive(move || enable.pending().get() || delete.pending().get());
    let title = Signal::derive(move || match pending.get() {
        Some((Pending::Disable, name, ..)) => format!("Disable {name}?"),
        Some((Pending::Delete, name, ..)) => format!("Delete {name}?"),
        None => String::new(),
    });
    let body = Signal::derive(move || {
        match pending.get() {
        Some((Pending::Disable, name, ..)) => format!(
            "Every call to {name}'s tools is denied from the next policy revision, whatever the grants say. You can enable it again."
        ),
        Some((Pending::Delete, name, tools, grants)) => format!(
            "{name} leaves the catalog with its {tools} tools and {grants} grants. Everyone loses access to it at the next policy revision. This cannot be undone (a rollback cannot bring a deleted server's grants back)."
        ),
        None => String::new(),
    }
    });
    let confirm_label = Signal::derive(move || match pending.get() {
        Some((Pending::Disable, ..)) => "Disable server".to_owned(),
        Some((Pending::Delete, ..)) => "Delete server".to_owned(),
        None => String::new(),
    });
    let on_confirm = Callback::new(move |_| match pending.get_untracked() {
        Some((Pending::Disable, ..)) => {
            enable.dispatch(SetServerEnabled {
                id: id(),
                enabled: false,
            });
        }
        Some((Pending::Delete, ..)) => {
            delete.dispatch(DeleteServer { id: id() });
        }
        None => {}
    });
    let action_error = move || {
        [
            enable.value().get().and_then(|r| r.err()),
            delete.value().get().and_then(|r| r.err()),
        ]
        .into_iter()
        .flatten()
        .next()
        .map(|e| action_alert(e.message))
    };

    view! {
        <Title text="Server · Portcullis"/>
        <Transition fallback=|| view! { <Skeleton rows=10/> }>
            {move || {
                let tab = tab();
                Suspend::new(async move {
                    match view_data.await {
                        Err(e) => view! {
                            <Breadcrumbs crumbs=crumbs(None)/>
                            <ErrorPanel error=e/>
                        }.into_any(),
                        Ok(v) => {
                            let m = matrix.await;
                            let ServerView { server, tools } = v;
                            let sid = server.id.clone();
                            let (sid_discover, sid_add) = (sid.clone(), sid.clone());
                            let sid_oauth = sid.clone();
                            let name = server.name.clone();
                            let (n_tools, n_grants) = (server.tools, server.grants);
                            let ask_disable = {
                                let name = name.clone();
                                move |_| { pending.set(Some((Pending::Disable, name.clone(), n_tools, n_grants))); confirm_open.set(true); }
                            };
                            let ask_delete = {
                                let name = name.clone();
                                move |_| { pending.set(Some((Pending::Delete, name.clone(), n_tools, n_grants))); confirm_open.set(true); }
                            };
                            let enabled = server.enabled;
                            let base = format!("/catalog/servers/{}", server.id);
                            let tabs = vec![
                                Tab { label: "Tools", href: base.clone(), count: Some(server.tools), active: tab != "matrix" },
                                Tab { label: "Access matrix", href: format!("{base}?tab=matrix"), count: None, active: tab == "matrix" },
                            ];
                            view! {
                                <Breadcrumbs crumbs=crumbs(Some(name.clone()))/>
                                <div class="mb-6 flex flex-wrap items-start justify-between gap-4">
                                    <div class="min-w-0">
                                        <h1 class="flex items-center gap-3 truncate text-2xl font-semibold tracking-tight">
                                            {name.clone()}
                                            {if enabled {
                                                view! { <Badge tone=Tone::Ok label="Enabled"/> }.into_any()
                                            } else {
                                                view! { <Badge tone=Tone::Neutral label="Disabled"/> }.into_any()
                                            }}
                                        </h1>
                                        <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">
                                            <span class="font-mono">{server.slug.clone()}</span>
                                            " · MCP server · updated " <RelTime at=server.updated_at/>
                                        </p>
                                    </div>
                                    <div class="flex flex-wrap gap-2">
                                        <button type="button" class="btn-primary" data-testid="open-discover" on:click=move |_| show_discover.set(true)>"Discover tools"</button>
                                        <button type="button" class="btn-secondary" data-testid="open-add-tool" on:click=move |_| show_add.set(true)>"Add tool by hand"</button>
                                        {if enabled {
                                            view! { <button type="button" class="btn-secondary" on:click=ask_disable>"Disable"</button> }.into_any()
                                        } else {
                                            let sid = sid.clone();
                                            view! { <button type="button" class="btn-secondary" on:click=move |_| { enable.dispatch(SetServerEnabled { id: sid.clone(), enabled: true }); }>"Enable"</button> }.into_any()
                                        }}
                                        <AuditEventsLink id=server.id.clone()/>
                                        <button type="button" class="btn-danger-outline" on:click=ask_delete>"Delete"</button>
                                    </div>
                                </div>
                                {action_error}
                                {move || discover.value().get().map(|r| match r {
                                    Ok(rep) => notice(report_text(&rep)).into_any(),
                                    Err(e) => action_alert(format!("Discovery failed: {}", e.message)).into_any(),
                                })}
                                {(server.quarantined > 0).then(|| view! {
                                    <div role="status" data-testid="quarantine-banner"
                                        class="mb-4 flex items-start gap-3 rounded-md border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950/40 dark:text-amber-200">
                                        <svg viewBox="0 0 20 20" class="mt-0.5 h-4 w-4 shrink-0" fill="currentColor" aria-hidden="true"><path d="M10 2l8.5 15h-17L10 2zm-1 6v4h2V8H9zm0 5v2h2v-2H9z"/></svg>
                                        <p>
                                            <strong>{format!("{} quarantined ", format_count(server.quarantined))}</strong>
                                            {if server.quarantined == 1 { "tool is" } else { "tools are" }}
                                            " denied to everyone: new, or changed since approval. Review each definition and approve it to let grants apply again."
                                        </p>
                                    </div>
                                })}
                                <Show when=move || show_discover.get()>
                                    {discover_form(discover, sid_discover.clone(), show_discover)}
                                </Show>
                                <Show when=move || show_add.get()>
                                    {add_tool_form(add, sid_add.clone(), show_add)}
                                </Show>
                                <section class=format!("{CARD} mb-6 px-5 py-3") data-testid="server-summary">
                                    <dl class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                        <Field label="Resource URL">
                                            <span class="inline-flex max-w-full items-center gap-2">
                                                <code class="min-w-0 break-all font-mono text-xs">{server.resource_url.clone()}</code>
                                                <CopyButton value=server.resource_url.clone() label="Copy resource URL" compact=true/>
                                            </span>
                                        </Field>
                                        <Field label="Description">{crate::components::detail::text_or_dash(Some(server.description.clone()))}</Field>
                                        <Field label="Owner">{crate::components::detail::text_or_dash(Some(server.owner.clone()))}</Field>
                                        <Field label="Tags">{crate::components::detail::text_or_dash(Some(server.tags.join(", ")))}</Field>
                                        <Field label="Last discovery">
                                            {match (server.discovery_error.clone(), server.discovered_at) {
                                                (Some(e), _) => view! { <span class="text-red-700 dark:text-red-400">{e}</span> }.into_any(),
                                                (None, Some(at)) => view! { <RelTime at/> }.into_any(),
                                                (None, None) => view! { <span class="text-zinc-400">"Never — run discovery, or add tools by hand"</span> }.into_any(),
                                            }}
                                        </Field>
                                        <Field label="Grants">
                                            <a class="text-indigo-600 hover:underline dark:text-indigo-400" href=format!("/access/grants?server={}", server.id)>
                                                {format!("{} grants", format_count(server.grants))}
                                            </a>
                                        </Field>
                                    </dl>
                                </section>
                                <ServerOAuthCard id=sid_oauth/>
                                <Tabs tabs/>
                                {if tab == "matrix" {
                                    match m {
                                        Ok(Some(m)) => matrix_view(m).into_any(),
                                        Ok(None) => ().into_any(),
                                        Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                                    }
                                } else {
                                    tools_table(tools).into_any()
                                }}
                            }.into_any()
                        }
                    }
                })
            }}
        </Transition>
        <ConfirmDialog open=confirm_open title body confirm_label pending=busy on_confirm/>
    }
}

fn crumbs(name: Option<String>) -> Vec<(String, Option<String>)> {
    vec![
        ("Catalog".into(), None),
        ("Servers".into(), Some("/catalog/servers".into())),
        (name.unwrap_or_else(|| "Server".into()), None),
    ]
}

fn report_text(r: &DiscoveryReport) -> String {
    let mut s = format!(
        "Discovery found {} tools: {} new, {} unchanged.",
        r.found, r.added, r.unchanged
    );
    if !r.quarantined.is_empty() {
        s.push_str(&format!(
            " Quarantined until reviewed: {}.",
            r.quarantined.join(", ")
        ));
    }
    if !r.removed.is_empty() {
        s.push_str(&format!(" No longer offered: {}.", r.removed.join(", ")));
    }
    match r.revision {
        Some(n) => s.push_str(&format!(" Policy revision {n}.")),
        None => s.push_str(" The policy did not change."),
    }
    s
}

fn discover_form(
    action: ServerAction<DiscoverServer>,
    id: String,
    open: RwSignal<bool>,
) -> impl IntoView {
    view! {
        <section class=format!("{CARD} mb-6 p-5") aria-labelledby="discover-title">
            <h2 id="discover-title" class="text-sm font-semibold">"Discover tools"</h2>
            <p class="mt-1 text-sm text-zinc-500">"Portcullis connects as an MCP client (initialize, then tools/list with every page) through its SSRF guard. Tools that are new or changed since approval are quarantined until you review them."</p>
            <ActionForm action>
                <input type="hidden" name="id" value=id/>
                <div class="mt-4 grid grid-cols-1 gap-4 md:grid-cols-2">
                    <div>
                        <label for="disc-url" class=LABEL>"Connect to " <span class="font-normal text-zinc-500">"(optional)"</span></label>
                        <input id="disc-url" name="url" type="url" class=INPUT placeholder="Defaults to the resource URL"/>
                        <p class=HELP>"Another address of the same server, e.g. an internal one. Private addresses need PORTCULLIS_FETCH_ALLOWED_HOSTS."</p>
                    </div>
                    <div>
                        <label for="disc-cred" class=LABEL>"Bearer credential " <span class="font-normal text-zinc-500">"(optional)"</span></label>
                        <input id="disc-cred" name="credential" type="password" autocomplete="off" class=INPUT/>
                        <p class=HELP>"Sent as Authorization: Bearer for this discovery only; never stored."</p>
                    </div>
                </div>
                <div class="mt-4 flex justify-end gap-2">
                    <button type="button" class="btn-secondary" on:click=move |_| open.set(false)>"Cancel"</button>
                    <button type="submit" class="btn-primary" data-testid="run-discovery" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Discovering…" } else { "Run discovery" }}
                    </button>
                </div>
            </ActionForm>
        </section>
    }
}

fn add_tool_form(action: ServerAction<AddTool>, id: String, open: RwSignal<bool>) -> impl IntoView {
    let err = move || action.value().get().and_then(|r| r.err());
    let flag = |name: &'static str, label: &'static str, help: &'static str| {
        view! {
            <label class="flex items-start gap-2 text-sm">
                <input type="checkbox" name=name class="mt-0.5 h-4 w-4 rounded border-zinc-300"/>
                <span><span class="font-medium">{label}</span><span class="block text-xs text-zinc-500">{help}</span></span>
            </label>
        }
    };
    view! {
        <section class=format!("{CARD} mb-6 p-5") aria-labelledby="add-tool-title">
            <h2 id="add-tool-title" class="text-sm font-semibold">"Add a tool by hand"</h2>
            <p class="mt-1 text-sm text-zinc-500">"For servers Portcullis cannot reach. Enter the tool as the server reports it; it is approved as you add it."</p>
            {move || err().filter(|e| e.fields.is_empty()).map(|e| action_alert(e.message))}
            <ActionForm action>
                <input type="hidden" name="server_id" value=id/>
                <div class="mt-4 grid grid-cols-1 gap-4 md:grid-cols-2">
                    <div>
                        <label for="tool-name" class=LABEL>"Name"</label>
                        <input id="tool-name" name="name" type="text" required maxlength="128" class=INPUT placeholder="create_issue"/>
                        {move || field_error("name", "Name", err())}
                    </div>
                    <div>
                        <label for="tool-title" class=LABEL>"Title " <span class="font-normal text-zinc-500">"(optional)"</span></label>
                        <input id="tool-title" name="title" type="text" maxlength="200" class=INPUT placeholder="Create issue"/>
                    </div>
                    <div class="md:col-span-2">
                        <label for="tool-desc" class=LABEL>"Description " <span class="font-normal text-zinc-500">"(optional)"</span></label>
                        <textarea id="tool-desc" name="description" rows="2" class=INPUT></textarea>
                        {move || field_error("description", "Description", err())}
                    </div>
                    <div class="md:col-span-2">
                        <label for="tool-schema" class=LABEL>"Input schema " <span class="font-normal text-zinc-500">"(JSON, optional)"</span></label>
                        <textarea id="tool-schema" name="input_schema" rows="3" class=format!("{INPUT} font-mono text-sm") placeholder=r#"{"type":"object","properties":{"title":{"type":"string"}}}"#></textarea>
                        {move || field_error("input_schema", "Input schema", err())}
                    </div>
                    <fieldset class="md:col-span-2">
                        <legend class=LABEL>"Annotations"</legend>
                        <div class="grid grid-cols-1 gap-3 sm:grid-cols-2">
                            {flag("read_only", "Read-only", "Does not change anything.")}
                            {flag("destructive", "Destructive", "May delete or overwrite data; needs an explicit grant.")}
                            {flag("idempotent", "Idempotent", "Repeating a call has no further effect.")}
                            {flag("open_world", "Open world", "Talks to systems outside (e.g. the internet).")}
                        </div>
                    </fieldset>
                </div>
                <div class="mt-4 flex justify-end gap-2">
                    <button type="button" class="btn-secondary" on:click=move |_| open.set(false)>"Cancel"</button>
                    <button type="submit" class="btn-primary" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Adding…" } else { "Add tool" }}
                    </button>
                </div>
            </ActionForm>
        </section>
    }
}

fn tools_table(tools: Vec<ToolSummary>) -> impl IntoView {
    if tools.is_empty() {
        return view! {
            <div class=TABLE_CARD>
                <EmptyState title="No tools yet"
                    hint="Run discovery to list the server's tools, or add them by hand. A server without tools grants nothing."/>
            </div>
        }
        .into_any();
    }
    view! {
        <div class=TABLE_CARD>
            <table class="min-w-full text-sm" data-testid="tools-table">
                <thead class=THEAD>
                    <tr>
                        <th scope="col" class="px-4 py-3">"Tool"</th>
                        <th scope="col" class="px-4 py-3">"Annotations"</th>
                        <th scope="col" class="px-4 py-3">"Status"</th>
                        <th scope="col" class="px-4 py-3 text-right">"Can call"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                    {tools.into_iter().map(tool_row).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

fn tool_row(t: ToolSummary) -> impl IntoView {
    let (short, clipped) = clip(&t.description, 140);
    let overridden = t.overrides != Default::default();
    let muted = t.status == ToolStatus::Removed;
    view! {
        <tr class=if muted { "relative align-top opacity-60 hover:bg-zinc-50 dark:hover:bg-zinc-800/40" } else { "relative align-top hover:bg-zinc-50 dark:hover:bg-zinc-800/40" }
            data-testid="tool-row" data-name=t.name.clone()>
            <td class="max-w-[34rem] px-4 py-3">
                <a href=format!("/catalog/tools/{}", t.id) class=format!("font-mono text-[13px] {ROW_LINK}")>{t.name.clone()}</a>
                {t.title.clone().map(|title| view! { <span class="ml-2 text-zinc-500">{title}</span> })}
                <p class="mt-0.5 text-xs text-zinc-500 dark:text-zinc-400">{if clipped { format!("{short}…") } else { short }}</p>
            </td>
            <td class="px-4 py-3">
                <AnnotationBadges annotations=t.effective/>
                {overridden.then(|| view! { <span class="ml-1 text-xs text-zinc-500" title="An admin overrode the server's hints">"(overridden)"</span> })}
            </td>
            <td class="px-4 py-3 whitespace-nowrap">
                <ToolStatusBadge status=t.status/>
                {t.quarantine_reason.clone().map(|r| view! { <span class="ml-1 text-xs text-zinc-500">{if r == "changed" { "changed" } else { "new" }}</span> })}
            </td>
            <td class="px-4 py-3 text-right tabular-nums">
                {match t.callers {
                    Some(0) | None => view! { <span class="text-zinc-400">"Nobody"</span> }.into_any(),
                    Some(n) => view! { <span>{format!("{} {}", format_count(n), if n == 1 { "person" } else { "people" })}</span> }.into_any(),
                }}
            </td>
        </tr>
    }
}

/// The access matrix as a server-rendered SVG heatmap: rows are groups,
/// then agents, columns tools, each cell shaded by the share of the group's
/// active members (or the agent) allowed to call the tool (the number is
/// written in the cell, so colour is not the only signal).
fn matrix_view(mut m: AccessMatrix) -> impl IntoView {
    if (m.groups.is_empty() && m.agents.is_empty()) || m.tools.is_empty() {
        return view! {
            <div class=TABLE_CARD>
                <EmptyState title="No group or agent can call any tool of this server"
                    hint="Grant a group or an agent access to this server (Access → Grants) and it appears here."/>
            </div>
        }
        .into_any();
    }
    // Agents follow the groups, marked as such.
    let first_agent = m.groups.len();
    let agents = std::mem::take(&mut m.agents);
    m.groups.extend(agents);
    const CELL: usize = 34;
    const LEFT: usize = 200;
    const TOP: usize = 130;
    // Room on the right for the last rotated column labels.
    let w = LEFT + CELL * m.tools.len() + 150;
    let h = TOP + CELL * m.groups.len() + 10;
    let tools = &m.tools;
    let cells = m.groups.iter().enumerate().flat_map(|(r, g)| {
        let members = g.members.max(1);
        g.allowed.iter().enumerate().map(move |(c, &n)| {
            let share = n as f64 / members as f64;
            let x = LEFT + c * CELL;
            let y = TOP + r * CELL;
            let (fill, text) = if n == 0 {
                ("fill-zinc-100 dark:fill-zinc-800", "fill-zinc-400")
            } else if share >= 0.999 {
                ("fill-indigo-600 dark:fill-indigo-500", "fill-white")
            } else if share >= 0.5 {
                ("fill-indigo-400 dark:fill-indigo-600", "fill-white")
            } else {
                ("fill-indigo-200 dark:fill-indigo-800", "fill-indigo-900 dark:fill-indigo-100")
            };
            let label = if r >= first_agent {
                format!("the agent {} {} call {}", g.group_name, if n > 0 { "may" } else { "may not" }, tools[c])
            } else {
                format!("{} of {} members of {} may call {}", n, g.members, g.group_name, tools[c])
            };
            view! {
                <g>
                    <title>{label}</title>
                    <rect x=x + 1 y=y + 1 width=CELL - 2 height=CELL - 2 rx="3" class=fill/>
                    <text x=x + CELL / 2 y=y + CELL / 2 + 4 text-anchor="middle" class=format!("text-[10px] tabular-nums {text}")>{n.to_string()}</text>
                </g>
            }
        }).collect::<Vec<_>>()
    }).collect_view();
    let col_labels = m.tools.iter().enumerate().map(|(c, t)| {
        let x = LEFT + c * CELL + CELL / 2;
        view! {
            <text transform=format!("translate({x},{}) rotate(-50)", TOP - 6) class="fill-zinc-600 text-[11px] font-mono dark:fill-zinc-300">{super::clip(t, 22).0}</text>
        }
    }).collect_view();
    let row_labels = m.groups.iter().enumerate().map(|(r, g)| {
        let y = TOP + r * CELL + CELL / 2 + 4;
        view! {
            <text x=LEFT - 8 y=y text-anchor="end" class="fill-zinc-700 text-[12px] dark:fill-zinc-200">
                {if r >= first_agent {
                    format!("{} (agent)", super::clip(&g.group_name, 22).0)
                } else {
                    format!("{} ({})", super::clip(&g.group_name, 22).0, g.members)
                }}
            </text>
        }
    }).collect_view();
    view! {
        <div class=format!("{CARD} p-4")>
            <p class="mb-3 text-sm text-zinc-500">
                {format!("Revision {}. Each cell: how many of the group's active members may call the tool now (through any grant), or 1 when the agent may. Darker is more.", m.revision)}
            </p>
            <div class="overflow-x-auto">
                <svg viewBox=format!("0 0 {w} {h}") width=w height=h role="img" aria-label="Access matrix: groups by tools" data-testid="access-matrix">
                    {col_labels}
                    {row_labels}
                    {cells}
                </svg>
            </div>
            <div class="mt-3 flex flex-wrap items-center gap-4 text-xs text-zinc-500" aria-hidden="true">
                <span class="inline-flex items-center gap-1.5"><span class="h-3 w-3 rounded-sm bg-zinc-100 dark:bg-zinc-800"></span>"nobody"</span>
                <span class="inline-flex items-center gap-1.5"><span class="h-3 w-3 rounded-sm bg-indigo-200 dark:bg-indigo-800"></span>"under half"</span>
                <span class="inline-flex items-center gap-1.5"><span class="h-3 w-3 rounded-sm bg-indigo-400 dark:bg-indigo-600"></span>"half or more"</span>
                <span class="inline-flex items-center gap-1.5"><span class="h-3 w-3 rounded-sm bg-indigo-600 dark:bg-indigo-500"></span>"everyone"</span>
            </div>
        </div>
    }
    .into_any()
}

/// The server as OAuth clients meet it: the authorization server, where its
/// protected-resource metadata (RFC 9728) is served for its gateway, and
/// the scopes it declares (editable by owners and admins).
#[component]
fn ServerOAuthCard(id: String) -> impl IntoView {
    let save = ServerAction::<SetServerScopes>::new();
    let sid = id.clone();
    let data = Resource::new(
        move || (sid.clone(), save.version().get()),
        |(id, _)| get_server_oauth(id),
    );
    let me = Resource::new(|| (), |_| crate::auth::api::get_me());
    let err = move || save.value().get().and_then(|r| r.err());
    view! {
        <section class=format!("{CARD} mb-6 px-5 py-3") aria-labelledby="oauth-title" data-testid="server-oauth">
            <h2 id="oauth-title" class="py-2 text-sm font-semibold">"OAuth"</h2>
            <Suspense fallback=|| view! { <Skeleton rows=2/> }>
                {move || {
                    let id = id.clone();
                    Suspend::new(async move {
                        let can = me.await.map(|m| m.role >= portcullis_types::Role::Admin).unwrap_or(false);
                        match data.await {
                            Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                            Ok(o) => {
                                let scopes = o.scopes.join(" ");
                                view! {
                                    <dl class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                        <Field label="Authorization server">
                                            <code class="break-all font-mono text-xs">{o.issuer.clone()}</code>
                                        </Field>
                                        <Field label="Resource metadata">
                                            <span class="inline-flex max-w-full items-center gap-2">
                                                <code class="min-w-0 break-all font-mono text-xs" data-testid="resource-metadata-url">{o.metadata_url.clone()}</code>
                                                <CopyButton value=o.metadata_url.clone() label="Copy metadata URL" compact=true/>
                                            </span>
                                        </Field>
                                        <Field label="Scopes">
                                            {if can {
                                                view! {
                                                    <ActionForm action=save attr:class="flex flex-wrap items-start gap-2">
                                                        <input type="hidden" name="id" value=id.clone()/>
                                                        <div class="min-w-[14rem] flex-1">
                                                            <input name="scopes" type="text" value=scopes aria-label="Scopes" class=format!("{INPUT} font-mono text-sm")
                                                                placeholder="repo:read repo:write" data-testid="scopes-input"/>
                                                            <p class=HELP>"Space-separated. Clients may ask for these and offline_access; a token carries what the person agreed to."</p>
                                                            {move || field_error("scopes", "Scopes", err())}
                                                        </div>
                                                        <button type="submit" class="btn-secondary" disabled=move || save.pending().get()>"Save scopes"</button>
                                                    </ActionForm>
                                                }.into_any()
                                            } else if o.scopes.is_empty() {
                                                view! { <span class="text-zinc-400">"None declared"</span> }.into_any()
                                            } else {
                                                view! { <code class="font-mono text-xs">{scopes}</code> }.into_any()
                                            }}
                                        </Field>
                                    </dl>
                                }.into_any()
                            }
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}
