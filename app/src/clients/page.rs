//! `/clients`: the inventory of OAuth clients, the client policy (dynamic
//! registration, approval), the approval queue, blocking with confirmation,
//! and pre-registering a client (its secret shown once).

use super::api::{
    list_clients, CreateClient, CreatedClientView, RevokeDuplicates, SetClientPolicy,
    SetClientStatus,
};
use crate::access::{field_error, HELP, INPUT, LABEL};
use crate::auth::api::get_me;
use crate::components::misc::action_alert;
use crate::components::{
    AuditEventsLink, Badge, ConfirmDialog, CopyButton, EmptyState, ErrorPanel, Notice, PageHeader,
    RelTime, SecretDialog, Skeleton, Tone,
};
use crate::directory::{CARD, TABLE_CARD};
use leptos::prelude::*;
use leptos_meta::Title;
use portcullis_types::{ClientPolicy, ClientSummary, ClientsView, DuplicateGroup, LimitHits, Role};

const HEAD: &str = "bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800/60";
const CLI: &str =
    "portcullis client create --name \"Claude Desktop\" --redirect-uri http://127.0.0.1/callback";
const PAGE: i64 = 50;

/// A block waiting for the admin's confirmation: (id, name, live grants).
type PendingBlock = (String, String, i64);
/// A bulk revoke waiting for confirmation: (group key, name, clients, live grants).
type PendingRevoke = (String, String, i64, i64);

/// `/clients`.
#[component]
pub fn ClientsPage() -> impl IntoView {
    let create = ServerAction::<CreateClient>::new();
    let set_status = ServerAction::<SetClientStatus>::new();
    let set_policy = ServerAction::<SetClientPolicy>::new();
    let revoke_dups = ServerAction::<RevokeDuplicates>::new();
    let q = RwSignal::new(String::new());
    let status = RwSignal::new(String::new());
    let offset = RwSignal::new(0i64);
    let data = Resource::new(
        move || {
            (
                q.get(),
                status.get(),
                offset.get(),
                create.version().get(),
                set_status.version().get(),
                set_policy.version().get(),
                revoke_dups.version().get(),
            )
        },
        |(q, status, offset, ..)| list_clients(q, status, offset),
    );
    let me = Resource::new(|| (), |_| get_me());
    let show_form = RwSignal::new(false);
    let secret = RwSignal::new(None::<CreatedClientView>);
    let notice = RwSignal::new(None::<String>);
    let confirm_open = RwSignal::new(false);
    let blocking = RwSignal::new(None::<PendingBlock>);
    let action_error = RwSignal::new(None::<String>);
    let revoke_open = RwSignal::new(false);
    let revoking = RwSignal::new(None::<PendingRevoke>);

    Effect::new(move |_| {
        if let Some(Ok(c)) = create.value().get() {
            show_form.set(false);
            secret.set(Some(c));
        }
    });
    Effect::new(move |_| {
        match set_status.value().get() {
            Some(Ok(revoked)) => notice.set(Some(if revoked > 0 {
                format!("Client blocked — {revoked} live authorizations revoked")
            } else {
                "Client updated".to_owned()
            })),
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });
    Effect::new(move |_| match set_policy.value().get() {
        Some(Ok(())) => notice.set(Some("Client policy saved".to_owned())),
        Some(Err(e)) => action_error.set(Some(e.message)),
        None => {}
    });
    Effect::new(move |_| {
        match revoke_dups.value().get() {
            Some(Ok(n)) => notice.set(Some(format!("{n} duplicate registrations revoked"))),
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        revoke_open.set(false);
    });
    let ask_revoke = Callback::new(move |r: PendingRevoke| {
        action_error.set(None);
        revoking.set(Some(r));
        revoke_open.set(true);
    });
    let revoke_title = Signal::derive(move || {
        revoking
            .get()
            .map(|(_, n, c, _)| format!("Revoke {c} registrations of {n}?"))
            .unwrap_or_default()
    });
    let revoke_body = Signal::derive(move || {
        revoking.get().map(|(_, _, c, live)| format!(
            "All {c} registrations are removed and their {live} live authorizations end at once. Each app that still runs must register again, and its people sign in again."
        )).unwrap_or_default()
    });
    let on_revoke = Callback::new(move |_| {
        if let Some((key, ..)) = revoking.get_untracked() {
            revoke_dups.dispatch(RevokeDuplicates { key });
        }
    });
    let ask_block = Callback::new(move |b: PendingBlock| {
        action_error.set(None);
        blocking.set(Some(b));
        confirm_open.set(true);
    });
    let title = Signal::derive(move || {
        blocking
            .get()
            .map(|(_, n, _)| format!("Block {n}?"))
            .unwrap_or_default()
    });
    let body = Signal::derive(move || {
        blocking.get().map(|(_, n, live)| format!(
            "{n} gets no new tokens, its {live} live authorizations are revoked at once, and gateways refuse its tokens. People using it must switch to another app. You can unblock it later; they then sign in again."
        )).unwrap_or_default()
    });
    let on_confirm = Callback::new(move |_| {
        if let Some((id, ..)) = blocking.get_untracked() {
            set_status.dispatch(SetClientStatus {
                id,
                status: "blocked".into(),
            });
        }
    });
    let approve = Callback::new(move |id: String| {
        action_error.set(None);
        set_status.dispatch(SetClientStatus {
            id,
            status: "active".into(),
        });
    });

    view! {
        <Title text="Clients · Portcullis"/>
        <PageHeader title="Clients"
            description="Every app that asked your people for access to MCP servers: review, approve, block.">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let can = me.await.map(|m| m.role >= Role::Admin).unwrap_or(false);
                    can.then(|| view! {
                        <button type="button" class="btn-primary" data-testid="open-new-client"
                            on:click=move |_| { create.value().set(None); show_form.set(true); }>
                            "Add client"
                        </button>
                    })
                })}
            </Suspense>
        </PageHeader>
        {move || action_error.get().map(action_alert)}
        <div class="mb-4 flex flex-wrap items-center gap-3">
            <input type="search" class=format!("{INPUT} max-w-xs") placeholder="Search by name or client ID"
                aria-label="Search clients" data-testid="client-search"
                on:input=move |ev| { offset.set(0); q.set(event_target_value(&ev)); }/>
            <div class="flex gap-1 rounded-lg border border-zinc-200 p-0.5 text-sm dark:border-zinc-700" role="group" aria-label="Status">
                {[("", "All"), ("pending", "Waiting"), ("active", "Active"), ("blocked", "Blocked")].into_iter().map(|(value, label)| {
                    view! {
                        <button type="button" data-testid=format!("status-{}", if value.is_empty() { "all" } else { value })
                            class=move || if status.get() == value {
                                "rounded-md bg-zinc-900 px-3 py-1 font-medium text-white dark:bg-zinc-100 dark:text-zinc-900"
                            } else {
                                "rounded-md px-3 py-1 text-zinc-600 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800"
                            }
                            aria-pressed=move || (status.get() == value).to_string()
                            on:click=move |_| { offset.set(0); status.set(value.to_owned()); }>
                            {label}
                        </button>
                    }
                }).collect_view()}
            </div>
        </div>
        <Transition fallback=|| view! { <div class=CARD><Skeleton rows=6/></div> }>
            {move || Suspend::new(async move {
                let can = me.await.map(|m| m.role >= Role::Admin).unwrap_or(false);
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(v) => content(v, can, Actions { set_policy, approve, ask_block, ask_revoke }, status, offset).into_any(),
                }
            })}
        </Transition>
        <Show when=move || show_form.get()>
            <AddClientDialog create on_cancel=Callback::new(move |_| show_form.set(false))/>
        </Show>
        <ConfirmDialog open=confirm_open title body confirm_label="Block client"
            pending=Signal::derive(move || set_status.pending().get()) on_confirm/>
        <ConfirmDialog open=revoke_open title=revoke_title body=revoke_body confirm_label="Revoke all"
            pending=Signal::derive(move || revoke_dups.pending().get()) on_confirm=on_revoke/>
        {move || secret.get().map(|c| {
            let title = format!("Client “{}” added", c.name);
            let mut fields = vec![
                ("Client ID".to_owned(), c.client_id.clone()),
                ("Issuer".to_owned(), c.issuer.clone()),
            ];
            match c.client_secret.clone() {
                Some(s) => view! {
                    <SecretDialog title note="A confidential client: give it this secret (client_secret_basic). It is shown once." secret=s
                        secret_label="Client secret" fields on_close=Callback::new(move |_| secret.set(None))/>
                }.into_any(),
                None => {
                    let id = fields.remove(0).1;
                    view! {
                        <SecretDialog title note="A public client (PKCE, no secret). Configure the app with this client ID and the issuer." secret=id
                            secret_label="Client ID" fields on_close=Callback::new(move |_| secret.set(None))/>
                    }.into_any()
                }
            }
        })}
        <Notice message=notice/>
    }
}

/// What the page's buttons do.
#[derive(Clone, Copy)]
struct Actions {
    set_policy: ServerAction<SetClientPolicy>,
    approve: Callback<String>,
    ask_block: Callback<PendingBlock>,
    ask_revoke: Callback<PendingRevoke>,
}

fn content(
    v: ClientsView,
    can: bool,
    actions: Actions,
    status: RwSignal<String>,
    offset: RwSignal<i64>,
) -> impl IntoView {
    let Actions {
        set_policy,
        approve,
        ask_block,
        ask_revoke,
    } = actions;
    let ClientsView {
        clients,
        total,
        pending,
        policy,
        duplicates,
        limit_hits,
    } = v;
    let shown = clients.len() as i64;
    let empty = clients.is_empty();
    view! {
        {policy_card(policy, pending, can, set_policy, status)}
        {limits_line(&limit_hits)}
        {(!duplicates.is_empty()).then(|| duplicates_card(duplicates, can, ask_revoke))}
        <section class=format!("{TABLE_CARD} mt-6") aria-labelledby="clients-title">
            <div class="flex items-baseline justify-between border-b border-zinc-200 px-5 py-3 dark:border-zinc-800">
                <h2 id="clients-title" class="text-sm font-semibold">"Clients"</h2>
                <p class="text-xs text-zinc-500 tabular-nums" data-testid="clients-total">{format!("{total} in all")}</p>
            </div>
            {if empty { empty_state().into_any() } else { table(clients, can, approve, ask_block).into_any() }}
            {(total > PAGE).then(|| {
                let at = offset.get_untracked();
                view! {
                    <div class="flex items-center justify-between border-t border-zinc-200 px-5 py-2 text-sm dark:border-zinc-800">
                        <span class="text-zinc-500 tabular-nums">{format!("{}–{} of {total}", at + 1, at + shown)}</span>
                        <div class="flex gap-2">
                            <button type="button" class="btn-secondary" disabled=at == 0
                                on:click=move |_| offset.set((at - PAGE).max(0))>"Previous"</button>
                            <button type="button" class="btn-secondary" disabled=at + PAGE >= total
                                on:click=move |_| offset.set(at + PAGE)>"Next"</button>
                        </div>
                    </div>
                }
            })}
        </section>
    }
}

/// Registration and approval, each with what it means and a switch.
fn policy_card(
    p: ClientPolicy,
    pending: i64,
    can: bool,
    set_policy: ServerAction<SetClientPolicy>,
    status: RwSignal<String>,
) -> impl IntoView {
    let flag = |b: bool| if b { "on".to_owned() } else { String::new() };
    let toggle_reg = {
        let p = p.clone();
        move |_| {
            set_policy.dispatch(SetClientPolicy {
                registration_enabled: flag(!p.registration_enabled),
                approval_required: flag(p.approval_required),
                reap_after_days: None,
            });
        }
    };
    let toggle_appr = {
        let p = p.clone();
        move |_| {
            set_policy.dispatch(SetClientPolicy {
                registration_enabled: flag(p.registration_enabled),
                approval_required: flag(!p.approval_required),
                reap_after_days: None,
            });
        }
    };
    let row = "flex flex-wrap items-start justify-between gap-3 py-3";
    view! {
        <section class=format!("{CARD} px-5 py-2") aria-label="Client policy" data-testid="client-policy">
            {(pending > 0).then(|| view! {
                <div class="my-2 flex flex-wrap items-center justify-between gap-2 rounded-md border border-amber-200 bg-amber-50 px-4 py-2 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950/40 dark:text-amber-200" data-testid="pending-banner">
                    <span>{format!("{pending} {} waiting for approval", if pending == 1 { "client is" } else { "clients are" })}</span>
                    <button type="button" class="font-medium underline" on:click=move |_| status.set("pending".into())>"Review"</button>
                </div>
            })}
            <div class=row>
                <div class="min-w-0 max-w-2xl">
                    <p class="text-sm font-medium">"Clients identified by a metadata document (CIMD)"</p>
                    <p class=HELP>"Always on: an app names itself by an https URL Portcullis fetches. This is how current MCP clients register."</p>
                </div>
                <Badge tone=Tone::Ok label="On"/>
            </div>
            <div class=format!("{row} border-t border-zinc-100 dark:border-zinc-800")>
                <div class="min-w-0 max-w-2xl">
                    <p class="text-sm font-medium">"Dynamic client registration"</p>
                    <p class=HELP>"Lets older MCP clients (2025-06-18) register themselves. Their names are self-asserted. Off unless you need it."</p>
                </div>
                <div class="flex items-center gap-2">
                    <span data-testid="registration-state"><Badge tone=if p.registration_enabled { Tone::Attention } else { Tone::Neutral } label=if p.registration_enabled { "On" } else { "Off" }/></span>
                    {can.then(|| view! {
                        <button type="button" class="btn-secondary px-2.5 py-1 text-xs" data-testid="toggle-registration" on:click=toggle_reg>
                            {if p.registration_enabled { "Turn off" } else { "Turn on" }}
                        </button>
                    })}
                </div>
            </div>
            <div class=format!("{row} border-t border-zinc-100 dark:border-zinc-800")>
                <div class="min-w-0 max-w-2xl">
                    <p class="text-sm font-medium">"Remove unused registrations"</p>
                    <p class=HELP>"Clients that registered themselves and were not used for this many days are removed; their people sign in again if the app comes back. 0 keeps them forever."</p>
                </div>
                {reap_control(p.clone(), can, set_policy)}
            </div>
            <div class=format!("{row} border-t border-zinc-100 dark:border-zinc-800")>
                <div class="min-w-0 max-w-2xl">
                    <p class="text-sm font-medium">"New clients wait for approval"</p>
                    <p class=HELP>"A client seen for the first time gets no token until an owner or admin approves it here."</p>
                </div>
                <div class="flex items-center gap-2">
                    <span data-testid="approval-state"><Badge tone=if p.approval_required { Tone::Ok } else { Tone::Neutral } label=if p.approval_required { "On" } else { "Off" }/></span>
                    {can.then(|| view! {
                        <button type="button" class="btn-secondary px-2.5 py-1 text-xs" data-testid="toggle-approval" on:click=toggle_appr>
                            {if p.approval_required { "Turn off" } else { "Turn on" }}
                        </button>
                    })}
                </div>
            </div>
        </section>
    }
}

/// The days setting: a number field and Save for admins, the value for others.
fn reap_control(
    p: ClientPolicy,
    can: bool,
    set_policy: ServerAction<SetClientPolicy>,
) -> impl IntoView {
    let days = RwSignal::new(p.reap_after_days.to_string());
    let label = if p.reap_after_days == 0 {
        "Never".to_owned()
    } else {
        format!("After {} days", p.reap_after_days)
    };
    let error = move || {
        set_policy
            .value()
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.field("reap_after_days"))
    };
    if !can {
        return view! { <span data-testid="reap-state"><Badge tone=Tone::Neutral label/></span> }
            .into_any();
    }
    let flag = |b: bool| if b { "on".to_owned() } else { String::new() };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_policy.dispatch(SetClientPolicy {
            registration_enabled: flag(p.registration_enabled),
            approval_required: flag(p.approval_required),
            reap_after_days: Some(days.get_untracked()),
        });
    };
    view! {
        <form class="flex flex-col items-end gap-1" on:submit=save data-testid="reap-form">
            <div class="flex items-center gap-2">
                <label class="sr-only" for="reap-days">"Days unused before removal"</label>
                <input id="reap-days" name="reap_after_days" type="number" min="0" max="3650" inputmode="numeric"
                    class="block w-20 rounded-md border border-zinc-300 bg-white px-2 py-1 text-sm tabular-nums shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950"
                    prop:value=move || days.get() on:input=move |ev| days.set(event_target_value(&ev))
                    aria-describedby="reap-days-error"/>
                <span class="text-sm text-zinc-500">"days"</span>
                <button type="submit" class="btn-secondary px-2.5 py-1 text-xs" data-testid="save-reap">"Save"</button>
            </div>
            <p id="reap-days-error" class="text-xs text-red-600 dark:text-red-400" role="alert">{error}</p>
        </form>
    }.into_any()
}

/// Requests the abuse limits refused (this replica, since it started).
fn limits_line(hits: &[LimitHits]) -> impl IntoView {
    let label = |l: &str| match l {
        "registration" => "registrations",
        "failed_token_requests" => "token requests after repeated failures",
        "client_issuance" => "tokens over a client's per-minute limit",
        _ => "other",
    };
    let any = hits.iter().any(|h| h.hits > 0);
    let parts = hits
        .iter()
        .map(|h| format!("{} {}", h.hits, label(&h.limit)))
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <p class=if any { "mt-3 text-xs text-amber-700 dark:text-amber-400" } else { "mt-3 text-xs text-zinc-500" }
            data-testid="limit-hits">
            {format!("Refused by abuse limits since this server started: {parts}.")}
        </p>
    }
}

/// Groups of registrations of the same app, each with "Revoke all".
fn duplicates_card(
    groups: Vec<DuplicateGroup>,
    can: bool,
    ask_revoke: Callback<PendingRevoke>,
) -> impl IntoView {
    view! {
        <section class=format!("{TABLE_CARD} mt-6") aria-labelledby="dups-title" data-testid="duplicates">
            <div class="border-b border-zinc-200 px-5 py-3 dark:border-zinc-800">
                <h2 id="dups-title" class="text-sm font-semibold">"Duplicate registrations"</h2>
                <p class=HELP>"The same app registered more than once (same name, redirect addresses and software ID). Revoke a group to clean up; apps still in use register again."</p>
            </div>
            <ul class="divide-y divide-zinc-100 dark:divide-zinc-800">
                {groups.into_iter().map(|g| {
                    let pending: PendingRevoke = (g.key.clone(), g.name.clone(), g.clients, g.live_grants);
                    view! {
                        <li class="flex flex-wrap items-center justify-between gap-3 px-5 py-3" data-testid="duplicate-group">
                            <div class="min-w-0">
                                <p class="flex items-center gap-2">
                                    <span class="truncate font-medium" title=g.name.clone()>{g.name.clone()}</span>
                                    <Badge tone=Tone::Attention label="Unverified"/>
                                </p>
                                <p class="mt-0.5 text-xs text-zinc-500 dark:text-zinc-400">
                                    {format!("{} registrations · {} live · sends codes to {}", g.clients, g.live_grants, g.redirect_hosts.join(", "))}
                                    {g.software_id.clone().map(|s| format!(" · software {s}"))}
                                </p>
                            </div>
                            {can.then(|| view! {
                                <button type="button" data-testid="revoke-duplicates"
                                    class="rounded-md px-2.5 py-1 text-xs font-medium text-red-700 hover:bg-red-50 dark:text-red-400 dark:hover:bg-red-500/10"
                                    on:click=move |_| ask_revoke.run(pending.clone())>
                                    {format!("Revoke all {}", g.clients)}
                                </button>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

fn empty_state() -> impl IntoView {
    view! {
        <div data-testid="clients-empty">
            <EmptyState title="No clients yet"
                hint="Apps such as Claude, VS Code or Cursor appear here the first time one of your people connects them to an MCP server through Portcullis. You can also register an app yourself.">
                <div class="flex items-center gap-2">
                    <code class="rounded-md border border-zinc-200 bg-zinc-50 px-3 py-1.5 font-mono text-xs text-zinc-700 dark:border-zinc-700 dark:bg-zinc-950 dark:text-zinc-300">{CLI}</code>
                    <CopyButton value=CLI label="Copy command" compact=true/>
                </div>
            </EmptyState>
        </div>
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "preregistered" => "Pre-registered",
        "dcr" => "Registered itself",
        "cimd" => "Metadata document",
        _ => "Unknown",
    }
}

fn status_badge(status: &str) -> impl IntoView {
    let (tone, label) = match status {
        "active" => (Tone::Ok, "Active"),
        "pending" => (Tone::Attention, "Waiting"),
        "blocked" => (Tone::Danger, "Blocked"),
        _ => (Tone::Neutral, "Removed"),
    };
    view! { <Badge tone label/> }
}

fn table(
    clients: Vec<ClientSummary>,
    can: bool,
    approve: Callback<String>,
    ask_block: Callback<PendingBlock>,
) -> impl IntoView {
    view! {
        <div class="overflow-x-auto">
            <table class="min-w-full text-sm" data-testid="clients-table">
                <caption class="sr-only">"OAuth clients"</caption>
                <thead class=HEAD>
                    <tr>
                        <th scope="col" class="sticky left-0 bg-zinc-50 px-3 py-3 pl-4 dark:bg-zinc-800">"Client"</th>
                        <th scope="col" class="px-3 py-3">"Status"</th>
                        <th scope="col" class="px-3 py-3">"Sends codes to"</th>
                        <th scope="col" class="px-3 py-3 text-right">"People"</th>
                        <th scope="col" class="px-3 py-3 text-right">"Live"</th>
                        <th scope="col" class="px-3 py-3">"First seen"</th>
                        <th scope="col" class="px-3 py-3 pr-4">"Last used"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                    {clients.into_iter().map(|c| row(c, can, approve, ask_block)).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

fn row(
    c: ClientSummary,
    can: bool,
    approve: Callback<String>,
    ask_block: Callback<PendingBlock>,
) -> impl IntoView {
    let verified = c.kind == "preregistered";
    let actions = can.then(|| {
        let (id, id2, name, live) = (c.id.clone(), c.id.clone(), c.name.clone(), c.live_grants);
        let status = c.status.clone();
        view! {
            <div class="mt-1.5 flex gap-1">
                {(status == "pending" || status == "blocked").then(|| view! {
                    <button type="button" class="btn-secondary px-2 py-0.5 text-xs" data-testid="approve-client"
                        on:click=move |_| approve.run(id.clone())>
                        {if status == "pending" { "Approve" } else { "Unblock" }}
                    </button>
                })}
                {(c.status == "active" || c.status == "pending").then(|| view! {
                    <button type="button" data-testid="block-client"
                        class="rounded-md px-2 py-0.5 text-xs font-medium text-red-700 hover:bg-red-50 dark:text-red-400 dark:hover:bg-red-500/10"
                        on:click=move |_| ask_block.run((id2.clone(), name.clone(), live))>
                        "Block"
                    </button>
                })}
            </div>
        }
    });
    view! {
        <tr class="group align-top hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="client-row" data-status=c.status.clone()>
            // The sticky cell has its own background (so scrolled cells do
            // not show through): it follows the row's hover colour (zinc-800/40 over zinc-900, opaque).
            <td class="sticky left-0 max-w-[18rem] bg-white py-3 pr-3 pl-4 group-hover:bg-zinc-50 dark:bg-zinc-900 dark:group-hover:bg-[#1e1e21]">
                <p class="flex items-center gap-1.5">
                    <span class="truncate font-medium" title=c.name.clone() data-testid="client-name">{c.name.clone()}</span>
                    {(!verified).then(|| view! { <span title="The app named itself; nobody verified it."><Badge tone=Tone::Attention label="Unverified"/></span> })}
                </p>
                <p class="mt-0.5 text-xs text-zinc-500 dark:text-zinc-400">
                    {kind_label(&c.kind)}
                    {c.publisher_domain.clone().map(|d| format!(" · {d}"))}
                    {c.confidential.then_some(" · confidential")}
                </p>
                <p class="mt-0.5 truncate font-mono text-xs text-zinc-400" title=c.id.clone()>{c.id.clone()}</p>
                <AuditEventsLink id=c.id.clone() compact=true/>
                {(c.limit_hits > 0).then(|| view! {
                    <p class="mt-0.5 text-xs text-amber-700 dark:text-amber-400" data-testid="client-limit-hits">
                        {format!("{} token requests refused (over its per-minute limit)", c.limit_hits)}
                    </p>
                })}
                {actions}
            </td>
            <td class="px-3 py-3">
                {status_badge(&c.status)}
                {c.status_reason.clone().map(|r| view! { <p class="mt-1 max-w-[12rem] break-words text-xs text-zinc-500">{r}</p> })}
            </td>
            <td class="max-w-[14rem] px-3 py-3 text-xs">
                {c.redirect_hosts.iter().map(|h| view! { <p class="truncate font-mono" title=h.clone()>{h.clone()}</p> }).collect_view()}
            </td>
            <td class="px-3 py-3 text-right tabular-nums">{c.consents.to_string()}</td>
            <td class="px-3 py-3 text-right tabular-nums">{c.live_grants.to_string()}</td>
            <td class="whitespace-nowrap px-3 py-3 text-xs text-zinc-500"><RelTime at=c.created_at/></td>
            <td class="whitespace-nowrap px-3 py-3 pr-4 text-xs text-zinc-500">
                {match c.last_used_at {
                    Some(at) => view! { <RelTime at/> }.into_any(),
                    None => view! { <span class="text-zinc-400">"Never"</span> }.into_any(),
                }}
            </td>
        </tr>
    }
}

#[component]
fn AddClientDialog(create: ServerAction<CreateClient>, on_cancel: Callback<()>) -> impl IntoView {
    let err = move || create.value().get().and_then(|r| r.err());
    view! {
        <div class="fixed inset-0 z-40 flex items-start justify-center overflow-y-auto bg-zinc-950/50 p-4 sm:items-center" role="presentation">
            <div role="dialog" aria-modal="true" aria-labelledby="new-client-title" data-testid="new-client-dialog"
                class="w-full max-w-lg rounded-xl border border-zinc-200 bg-white p-6 shadow-xl dark:border-zinc-700 dark:bg-zinc-900">
                <h2 id="new-client-title" class="text-base font-semibold">"Add a client"</h2>
                <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">
                    "Register an app yourself. Its consent screen shows it as approved by your IT team."
                </p>
                {move || err().filter(|e| e.fields.is_empty()).map(|e| view! { <div class="mt-4">{action_alert(e.message)}</div> })}
                <ActionForm action=create>
                    <div class="mt-4 space-y-4">
                        <div>
                            <label for="cl-name" class=LABEL>"Name"</label>
                            <input id="cl-name" name="name" type="text" required maxlength="100" autocomplete="off" class=INPUT placeholder="Claude Desktop"/>
                            {move || field_error("Name", err().and_then(|e| e.field("name")))}
                        </div>
                        <div>
                            <label for="cl-uris" class=LABEL>"Redirect URIs"</label>
                            <textarea id="cl-uris" name="redirect_uris" rows="3" required class=format!("{INPUT} font-mono text-sm")
                                placeholder="http://127.0.0.1/callback"></textarea>
                            <p class=HELP>"One per line. Compared exactly; a loopback one (127.0.0.1, localhost) may use any port."</p>
                            {move || {
                                let e = err();
                                let m = e.as_ref().and_then(|e| {
                                    e.fields.iter().find(|f| f.field.starts_with("redirect_uris")).map(|f| f.message.clone())
                                });
                                field_error("Redirect URIs", m)
                            }}
                        </div>
                        <label class="flex items-start gap-2.5 text-sm">
                            <input type="checkbox" name="confidential" value="on"
                                class="mt-0.5 h-4 w-4 rounded border-zinc-300 text-indigo-600 focus:ring-indigo-500 dark:border-zinc-600 dark:bg-zinc-900"/>
                            <span>"Confidential (a server-side app that can keep a secret)"</span>
                        </label>
                        <div>
                            <label for="cl-jwks" class=LABEL>"JWKS URL " <span class="font-normal text-zinc-500">"(optional)"</span></label>
                            <input id="cl-jwks" name="jwks_uri" type="url" autocomplete="off" class=format!("{INPUT} font-mono text-sm")
                                placeholder="https://agent.example.com/.well-known/jwks.json"/>
                            <p class=HELP>"For a server-side app that signs with its own key (private_key_jwt) instead of a secret. Leave Confidential unticked."</p>
                            {move || field_error("JWKS URL", err().and_then(|e| e.field("jwks_uri").or_else(|| e.field("keys"))))}
                        </div>
                    </div>
                    <div class="mt-6 flex justify-end gap-2">
                        <button type="button" class="btn-secondary" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                        <button type="submit" class="btn-primary" disabled=move || create.pending().get()>
                            {move || if create.pending().get() { "Adding…" } else { "Add client" }}
                        </button>
                    </div>
                </ActionForm>
            </div>
        </div>
    }
}
