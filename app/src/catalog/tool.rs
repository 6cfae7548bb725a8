//! Catalog → a tool: its pinned definition, the changed definition awaiting
//! review with a line diff, approval, annotation overrides, and who may call
//! it now.

use super::api::{get_tool, tool_callers, ApproveTool, SetToolOverrides, ToolView};
use super::notice;
use crate::access::via_view;
use crate::components::misc::action_alert;
use crate::components::misc::format_count;
use crate::components::misc::url_encode;
use crate::components::{
    AnnotationBadges, AuditEventsLink, Badge, Breadcrumbs, ConfirmDialog, CopyButton, CopyValue,
    ErrorPanel, Pager, RelTime, Skeleton, Tone, ToolStatusBadge,
};
use crate::directory::{CARD, SEARCH};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use portcullis_types::{DiffLine, ToolHints, ToolStatus};

/// `/catalog/tools/{id}`.
#[component]
pub fn ToolPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let approve = ServerAction::<ApproveTool>::new();
    let overrides = ServerAction::<SetToolOverrides>::new();
    let data = Resource::new(
        move || (id(), approve.version().get(), overrides.version().get()),
        |(id, ..)| get_tool(id),
    );
    let confirm_open = RwSignal::new(false);
    let tool_name = RwSignal::new(String::new());
    Effect::new(move |_| {
        if approve.value().get().is_some() {
            confirm_open.set(false);
        }
    });
    let title = Signal::derive(move || format!("Approve {}?", tool_name.get()));
    let body = Signal::derive(move || {
        format!(
            "The definition shown becomes the pinned one and grants apply to {} again from the next policy revision. Approve only if its description and schema are what you expect.",
            tool_name.get()
        )
    });
    let on_confirm = Callback::new(move |_| {
        approve.dispatch(ApproveTool { id: id() });
    });
    view! {
        <Title text="Tool · Portcullis"/>
        {move || approve.value().get().map(|r| match r {
            Ok(()) => notice("Approved. Grants apply to this tool again from the new policy revision.".to_owned()).into_any(),
            Err(e) => action_alert(e.message).into_any(),
        })}
        {move || overrides.value().get().map(|r| match r {
            Ok(()) => notice("Annotations saved.".to_owned()).into_any(),
            Err(e) => action_alert(e.message).into_any(),
        })}
        <Transition fallback=|| view! { <Skeleton rows=10/> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <Breadcrumbs crumbs=crumbs(None, None)/><ErrorPanel error=e/> }.into_any(),
                    Ok(v) => {
                        tool_name.set(v.detail.tool.name.clone());
                        tool_view(v, confirm_open, overrides).into_any()
                    }
                }
            })}
        </Transition>
        <ConfirmDialog open=confirm_open title body confirm_label="Approve tool".to_owned() pending=approve.pending() on_confirm/>
    }
}

fn crumbs(server: Option<(String, String)>, tool: Option<String>) -> Vec<(String, Option<String>)> {
    let mut c = vec![
        ("Catalog".into(), None),
        ("Servers".into(), Some("/catalog/servers".into())),
    ];
    if let Some((id, name)) = server {
        c.push((name, Some(format!("/catalog/servers/{id}"))));
    }
    c.push((tool.unwrap_or_else(|| "Tool".into()), None));
    c
}

fn tool_view(
    v: ToolView,
    confirm_open: RwSignal<bool>,
    overrides: ServerAction<SetToolOverrides>,
) -> impl IntoView {
    let ToolView { detail, callers } = v;
    let t = detail.tool.clone();
    let quarantined = t.status == ToolStatus::Quarantined;
    view! {
        <Breadcrumbs crumbs=crumbs(Some((t.server_id.clone(), t.server_name.clone())), Some(t.name.clone()))/>
        <div class="mb-6 flex flex-wrap items-start justify-between gap-4">
            <div class="min-w-0">
                <h1 class="flex flex-wrap items-center gap-3 text-2xl font-semibold tracking-tight">
                    <span class="font-mono">{t.name.clone()}</span>
                    <ToolStatusBadge status=t.status/>
                </h1>
                <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">
                    {t.title.clone().map(|x| format!("{x} · "))}
                    {format!("Tool of {} · ", t.server_name)}
                    {if t.source == "manual" { "entered by hand" } else { "discovered" }}
                    " · last seen " <RelTime at=t.last_seen_at/>
                </p>
            </div>
            <div class="flex flex-wrap gap-2">
                <AuditEventsLink id=t.id.clone()/>
                {quarantined.then(|| view! {
                    <button type="button" class="btn-primary" data-testid="approve-tool" on:click=move |_| confirm_open.set(true)>"Approve"</button>
                })}
            </div>
        </div>
        {quarantined.then(|| {
            let why = if t.quarantine_reason.as_deref() == Some("changed") {
                "The server changed this tool's definition since it was approved. Until you approve the change it is denied to everyone. Compare the two below: a changed description can carry instructions to the model (a \"rug pull\")."
            } else {
                "The server started offering this tool after its first discovery. Until you approve it, it is denied to everyone."
            };
            view! {
                <div role="status" data-testid="quarantine-banner"
                    class="mb-4 rounded-md border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950/40 dark:text-amber-200">
                    <strong>"Quarantined. "</strong>{why}
                </div>
            }
        })}
        <div class="grid grid-cols-1 gap-6 xl:grid-cols-3">
            <div class="min-w-0 space-y-6 xl:col-span-2">
                {(!detail.diff.is_empty()).then(|| diff_view(detail.diff.clone(), detail.pending_hash.clone()))}
                <section class=format!("{CARD} p-5")>
                    <div class="mb-2 flex items-center justify-between gap-2">
                        <h2 class="text-sm font-semibold">{if detail.pending_definition.is_some() { "Approved definition" } else { "Definition" }}</h2>
                        <CopyButton value=detail.definition.clone() label="Copy definition" compact=true/>
                    </div>
                    <p class="mb-3 text-xs text-zinc-500">"As the server reported it (canonical JSON). Untrusted: shown as text."</p>
                    <pre class="max-h-[28rem] overflow-auto whitespace-pre-wrap break-all rounded-md border border-zinc-200 bg-zinc-50 p-3 font-mono text-xs leading-relaxed dark:border-zinc-800 dark:bg-zinc-950" data-testid="definition">{detail.definition.clone()}</pre>
                    <div class="mt-3 text-xs text-zinc-500">"Pinned hash " <CopyValue value=t.definition_hash.clone() label="Copy hash"/></div>
                </section>
            </div>
            <div class="space-y-6">
                <section class=format!("{CARD} p-5")>
                    <h2 class="text-sm font-semibold">"Annotations"</h2>
                    <p class="mt-1 text-xs text-zinc-500">"Hints from the server, which you may override. They only decide which tools a read-only or destructive grant covers; they never grant anything."</p>
                    <div class="mt-3"><AnnotationBadges annotations=t.effective/></div>
                    {overrides_form(overrides, t.id.clone(), t.hints, t.overrides)}
                </section>
                <Callers server_id=t.server_id.clone() tool=t.name.clone() tool_id=t.id.clone() total=callers quarantined/>
                <section class=format!("{CARD} p-5")>
                    <dl class="space-y-3 text-sm">
                        <div>
                            <dt class="text-xs text-zinc-500">"Tool id"</dt>
                            <dd class="mt-1"><CopyValue value=t.id.clone() label="Copy tool id"/></dd>
                        </div>
                        <div>
                            <dt class="text-xs text-zinc-500">"Last review"</dt>
                            <dd class="mt-1">{match (detail.reviewed_at, detail.reviewed_by.clone()) {
                                (Some(at), Some(by)) => view! { <span>{by} " · " <RelTime at/></span> }.into_any(),
                                _ => view! { <span class="text-zinc-400">"Never reviewed (approved by the first discovery)"</span> }.into_any(),
                            }}</dd>
                        </div>
                    </dl>
                </section>
            </div>
        </div>
    }
}

fn diff_view(diff: Vec<DiffLine>, hash: Option<String>) -> impl IntoView {
    view! {
        <section class=format!("{CARD} p-5") data-testid="definition-diff">
            <div class="mb-2 flex flex-wrap items-center justify-between gap-2">
                <h2 class="text-sm font-semibold">"Changes awaiting review"</h2>
                <span class="text-xs text-zinc-500">
                    <Badge tone=Tone::Danger label="− approved"/> " " <Badge tone=Tone::Ok label="+ new"/>
                </span>
            </div>
            <pre class="max-h-[32rem] overflow-auto rounded-md border border-zinc-200 py-1 font-mono text-xs leading-relaxed dark:border-zinc-800">
                {diff.into_iter().map(|l| {
                    let class = match l.op {
                        '+' => "block whitespace-pre-wrap break-all bg-emerald-50 px-3 text-emerald-900 dark:bg-emerald-950/40 dark:text-emerald-200",
                        '-' => "block whitespace-pre-wrap break-all bg-red-50 px-3 text-red-900 line-through decoration-red-400/60 dark:bg-red-950/40 dark:text-red-200",
                        _ => "block whitespace-pre-wrap break-all px-3 text-zinc-600 dark:text-zinc-400",
                    };
                    view! { <span class=class>{format!("{} {}", l.op, l.text)}</span> }
                }).collect_view()}
            </pre>
            {hash.map(|h| view! { <div class="mt-3 text-xs text-zinc-500">"New hash " <CopyValue value=h label="Copy new hash"/></div> })}
        </section>
    }
}

fn overrides_form(
    action: ServerAction<SetToolOverrides>,
    id: String,
    hints: ToolHints,
    over: ToolHints,
) -> impl IntoView {
    let said = |v: Option<bool>| match v {
        Some(true) => "server says yes",
        Some(false) => "server says no",
        None => "server says nothing",
    };
    let row = move |name: &'static str,
                    label: &'static str,
                    hint: Option<bool>,
                    cur: Option<bool>| {
        let sel = match cur {
            Some(true) => "yes",
            Some(false) => "no",
            None => "",
        };
        view! {
            <div class="flex items-center justify-between gap-3 py-1.5">
                <label for=format!("ov-{name}") class="text-sm">{label}
                    <span class="block text-xs text-zinc-500">{said(hint)}</span>
                </label>
                <select id=format!("ov-{name}") name=name class="rounded-md border border-zinc-300 bg-white px-2 py-1 text-sm dark:border-zinc-700 dark:bg-zinc-950">
                    <option value="" selected=sel.is_empty()>"Use hint"</option>
                    <option value="yes" selected=sel == "yes">"Yes"</option>
                    <option value="no" selected=sel == "no">"No"</option>
                </select>
            </div>
        }
    };
    view! {
        <ActionForm action>
            <input type="hidden" name="id" value=id/>
            <div class="mt-3 divide-y divide-zinc-100 dark:divide-zinc-800">
                {row("read_only", "Read-only", hints.read_only, over.read_only)}
                {row("destructive", "Destructive", hints.destructive, over.destructive)}
                {row("idempotent", "Idempotent", hints.idempotent, over.idempotent)}
                {row("open_world", "Open world", hints.open_world, over.open_world)}
            </div>
            <div class="mt-3 flex justify-end">
                <button type="submit" class="btn-secondary" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Saving…" } else { "Save annotations" }}
                </button>
            </div>
        </ActionForm>
    }
}

/// Who can call the tool now: a page of people by email, searchable, each
/// with how the deciding grant reached them (the URL's `who` and `from`).
#[component]
fn Callers(
    server_id: String,
    tool: String,
    tool_id: String,
    total: i64,
    quarantined: bool,
) -> impl IntoView {
    let query = use_query_map();
    let who = move || query.read().get("who").unwrap_or_default();
    let from = move || {
        query
            .read()
            .get("from")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let link = format!(
        "/access/simulator?server={}&tool={}",
        server_id,
        url_encode(&tool)
    );
    let page = Resource::new(
        move || (who(), from()),
        move |(q, offset)| tool_callers(server_id.clone(), tool.clone(), q, offset),
    );
    let action = format!("/catalog/tools/{tool_id}");
    let href = Callback::new(move |o: i64| {
        format!(
            "/catalog/tools/{tool_id}?who={}&from={o}",
            url_encode(&who())
        )
    });
    view! {
        <section class=format!("{CARD} p-5") data-testid="tool-callers">
            <h2 class="text-sm font-semibold">"Who can call it now"</h2>
            {if total == 0 {
                view! { <p class="mt-2 text-sm text-zinc-500">{if quarantined { "Nobody: quarantined tools are denied to everyone." } else { "Nobody. Grant a group or a person access to this server or tool." }}</p> }.into_any()
            } else {
                view! {
                    <p class="mt-2 text-sm">{format!("{} {}", format_count(total), if total == 1 { "person" } else { "people" })}</p>
                    <form method="get" action=action role="search" class="mt-3">
                        <label for="callers-search" class="sr-only">"Search people who can call it"</label>
                        <input id="callers-search" type="search" name="who" placeholder="Search by email…" autocomplete="off"
                            class=SEARCH prop:value=who/>
                    </form>
                    <Transition fallback=|| view! { <Skeleton rows=4/> }>
                        {move || Suspend::new(async move {
                            match page.await {
                                Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                                Ok(p) if p.items.is_empty() => view! {
                                    <p class="mt-3 text-sm text-zinc-500">{format!("No one whose email contains “{}” can call it.", who())}</p>
                                }.into_any(),
                                Ok(p) => {
                                    let shown = p.items.len();
                                    view! {
                                        <ul class="mt-3 divide-y divide-zinc-100 text-sm dark:divide-zinc-800" data-testid="callers">
                                            {p.items.into_iter().map(|c| {
                                                let email = c.email.clone();
                                                view! {
                                                <li class="py-1.5" data-testid="caller" data-email=email>
                                                    <a class="block truncate font-medium text-indigo-600 hover:underline dark:text-indigo-400" href=format!("/directory/users/{}", c.id)>{c.email}</a>
                                                    <span class="block text-xs text-zinc-500 dark:text-zinc-400">{via_view(&c.via)}</span>
                                                </li>
                                            }}).collect_view()}
                                        </ul>
                                        {(p.total > p.limit || p.offset > 0).then(|| view! {
                                            <div class="-mx-5 mt-2"><Pager offset=p.offset limit=p.limit shown total=p.total href/></div>
                                        })}
                                    }.into_any()
                                }
                            }
                        })}
                    </Transition>
                }.into_any()
            }}
            <a class="mt-3 inline-block text-xs font-medium text-indigo-600 hover:underline dark:text-indigo-400" href=link>
                "Check a person in the simulator →"
            </a>
        </section>
    }
}
