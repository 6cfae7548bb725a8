//! Agents: headless workloads (a nightly triage bot, a CI job) that are
//! principals of their own. Admins register one with an owner, a
//! description, an optional expiry and a credential (a client secret shown
//! once, or `private_key_jwt` keys inline or at a JWKS URL); it then gets
//! tokens with the `client_credentials` grant. The kill switch (Disable)
//! stops its tokens at once and denies it in the next policy revision.
//! Grants name agents on the Grants page; the simulator and a server's
//! access matrix show them. Delegations (the panel of each agent) let an
//! agent act for people by token exchange.

pub mod api;
mod delegations;

use crate::access::{HELP, LABEL, LINK};
use crate::auth::api::get_me;
use crate::components::{
    query_href, AbsTime, AuditEventsLink, Badge, ConfirmDialog, EmptyState, ErrorPanel, PageHeader,
    Pager, Picker, RelTime, SecretDialog, Skeleton, Tone,
};
use crate::directory::{SEARCH, TABLE_CARD};
use api::{
    list_agents, CreateAgent, RotateAgentSecret, SetAgentEnabled, SetAgentKeys, AGENTS_PAGE,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::{AgentCredentialKind, AgentStatus, AgentSummary, Role};

const PATH: &str = "/agents";
const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";
const RADIO: &str =
    "h-4 w-4 border-zinc-300 text-indigo-600 focus:ring-indigo-500 dark:border-zinc-600";
const PILL: &str = "inline-flex cursor-pointer items-center gap-2 rounded-md border border-zinc-300 px-3 py-1.5 text-sm has-[:checked]:border-indigo-500 has-[:checked]:bg-indigo-50 dark:border-zinc-700 dark:has-[:checked]:bg-indigo-500/10";

/// A kill-switch or rotation the admin is asked to confirm.
#[derive(Clone)]
enum Pending {
    Disable(AgentSummary),
    Enable(AgentSummary),
    Rotate(AgentSummary),
}

/// `/agents`.
#[component]
pub fn AgentsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let create = ServerAction::<CreateAgent>::new();
    let switch = ServerAction::<SetAgentEnabled>::new();
    let rotate = ServerAction::<RotateAgentSecret>::new();
    let keys = ServerAction::<SetAgentKeys>::new();
    // The key agent whose keys are being replaced.
    let keys_for = RwSignal::new(None::<AgentSummary>);
    // The agent whose delegations are shown.
    let delegations_for = RwSignal::new(None::<AgentSummary>);
    let keys_kind = RwSignal::new("jwks".to_owned());
    Effect::new(move |_| {
        if let Some(Ok(_)) = keys.value().get() {
            keys_for.set(None);
        }
    });
    let agents = Resource::new(
        move || {
            (
                param("q"),
                param("offset").parse::<i64>().unwrap_or(0),
                create.version().get(),
                switch.version().get(),
                rotate.version().get(),
                keys.version().get(),
            )
        },
        |(q, offset, ..)| list_agents(q, offset),
    );
    let me = Resource::new(|| (), |_| get_me());
    let show_form = RwSignal::new(false);
    let owner_kind = RwSignal::new("user".to_owned());
    let credential = RwSignal::new("client_secret".to_owned());
    // (title, client id, secret or None for a key agent)
    let made = RwSignal::new(None::<(String, String, Option<String>)>);
    Effect::new(move |_| {
        if let Some(Ok(a)) = create.value().get() {
            show_form.set(false);
            made.set(Some((
                format!("Agent “{}” registered", a.agent.name),
                a.agent.id.0,
                a.client_secret,
            )));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(a)) = rotate.value().get() {
            made.set(Some((
                format!("New secret for “{}”", a.agent.name),
                a.agent.id.0,
                a.client_secret,
            )));
        }
    });
    let pending = RwSignal::new(None::<Pending>);
    let confirm_open = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let outcome = match (switch.value().get(), rotate.value().get()) {
            (Some(Err(e)), _) | (_, Some(Err(e))) => Some(Some(e.message)),
            (Some(Ok(_)), _) | (_, Some(Ok(_))) => Some(None),
            _ => None,
        };
        if let Some(err) = outcome {
            action_error.set(err);
            confirm_open.set(false);
        }
    });
    let title = Signal::derive(move || match pending.get() {
        Some(Pending::Disable(a)) => format!("Disable {}?", a.name),
        Some(Pending::Enable(a)) => format!("Enable {}?", a.name),
        Some(Pending::Rotate(a)) => format!("Rotate the secret of {}?", a.name),
        None => String::new(),
    });
    let body = Signal::derive(move || {
        match pending.get() {
        Some(Pending::Disable(_)) => "It gets no more tokens from now on, the tokens it holds stop at introspection, and gateways deny it at the next policy revision. You can enable it again.".to_owned(),
        Some(Pending::Enable(_)) => "It can get tokens again and call what its grants allow from the next policy revision.".to_owned(),
        Some(Pending::Rotate(_)) => "A new secret is shown once; the current one stops working at once, so update the agent's configuration right away.".to_owned(),
        None => String::new(),
    }
    });
    let confirm_label = Signal::derive(move || match pending.get() {
        Some(Pending::Disable(_)) => "Disable agent".to_owned(),
        Some(Pending::Enable(_)) => "Enable agent".to_owned(),
        _ => "Rotate secret".to_owned(),
    });
    let ask = move |p: Pending| {
        pending.set(Some(p));
        confirm_open.set(true);
    };
    let field_error = move |name: &'static str| {
        move || {
            create
                .value()
                .get()
                .and_then(|r| r.err())
                .and_then(|e| e.field(name))
                .map(|m| view! { <p class="mt-1 text-xs text-red-600" role="alert">{m}</p> })
        }
    };

    view! {
        <Title text="Agents · Portcullis"/>
        <PageHeader title="Agents" description="Headless workloads that call MCP servers with nobody at the keyboard. Each has an owner, credentials of its own, and only the grants that name it.">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let admin = me.await.is_ok_and(|m| m.role >= Role::Admin);
                    admin.then(|| view! {
                        <button type="button" class="btn-primary" on:click=move |_| show_form.set(true) data-testid="open-register-agent">
                            "Register agent"
                        </button>
                    })
                })}
            </Suspense>
        </PageHeader>

        <Show when=move || show_form.get()>
            <section class="mb-6 rounded-lg border border-zinc-200 bg-white p-5 shadow-sm dark:border-zinc-800 dark:bg-zinc-900" aria-labelledby="register-agent-title">
                <h2 id="register-agent-title" class="text-sm font-semibold">"Register an agent"</h2>
                <p class="mt-1 text-sm text-zinc-500">"It gets tokens with the client credentials grant, as itself. Grant it tools on the Grants page: Everyone and group grants never reach an agent."</p>
                {move || create.value().get().and_then(|r| r.err()).filter(|e| e.fields.is_empty()).map(|e| view! {
                    <p role="alert" class="mt-3 text-sm text-red-600">{e.message}</p>
                })}
                <ActionForm action=create>
                    <div class="mt-4 grid grid-cols-1 gap-4 md:grid-cols-2">
                        <div>
                            <label for="agent-name" class=LABEL>"Name"</label>
                            <input id="agent-name" name="name" type="text" required maxlength="100" class=INPUT placeholder="Nightly triage bot"/>
                            {field_error("name")}
                        </div>
                        <div>
                            <label for="agent-expiry" class=LABEL>"Expires after " <span class="font-normal text-zinc-400">"(days, optional)"</span></label>
                            <input id="agent-expiry" name="expires_days" type="number" min="1" max="3650" class=INPUT placeholder="365"/>
                            {field_error("expires_days")}
                        </div>
                        <div class="md:col-span-2">
                            <label for="agent-description" class=LABEL>"Description " <span class="font-normal text-zinc-400">"(optional)"</span></label>
                            <input id="agent-description" name="description" type="text" maxlength="500" class=INPUT placeholder="Labels new GitHub issues every night"/>
                            {field_error("description")}
                        </div>
                        <fieldset class="md:col-span-2">
                            <legend class=LABEL>"Owner"</legend>
                            <div class="flex flex-wrap gap-2">
                                <label class=PILL>
                                    <input type="radio" name="owner_kind" value="user" class=RADIO checked
                                        on:change=move |_| owner_kind.set("user".into())/>
                                    "A person"
                                </label>
                                <label class=PILL>
                                    <input type="radio" name="owner_kind" value="group" class=RADIO
                                        on:change=move |_| owner_kind.set("group".into())/>
                                    "A group"
                                </label>
                            </div>
                            <div class="mt-3 max-w-md" class:hidden=move || owner_kind.get() != "user">
                                <label for="agent-owner-person" class="sr-only">"Owner's email"</label>
                                <Picker id="agent-owner-person" name="owner_person" placeholder="alice@company.com" free_text=true
                                    search=crate::access::api::pick_people none="No active person matches."/>
                            </div>
                            <div class="mt-3 max-w-md" class:hidden=move || owner_kind.get() != "group">
                                <label for="agent-owner-group" class="sr-only">"Owning group"</label>
                                <Picker id="agent-owner-group" name="owner_group" placeholder="Search groups by name…"
                                    search=crate::access::api::pick_groups none="No group matches."/>
                            </div>
                            <p class=HELP>"Who answers for what the agent does; shown with it everywhere."</p>
                            {field_error("owner_id")}
                            {field_error("owner_kind")}
                        </fieldset>
                        <fieldset class="md:col-span-2">
                            <legend class=LABEL>"Credential"</legend>
                            <div class="flex flex-wrap gap-2">
                                <label class=PILL>
                                    <input type="radio" name="credential" value="client_secret" class=RADIO checked
                                        on:change=move |_| credential.set("client_secret".into())/>
                                    "Client secret"
                                </label>
                                <label class=PILL>
                                    <input type="radio" name="credential" value="jwks" class=RADIO
                                        on:change=move |_| credential.set("jwks".into())/>
                                    "Public keys (JWKS)"
                                </label>
                                <label class=PILL>
                                    <input type="radio" name="credential" value="jwks_uri" class=RADIO
                                        on:change=move |_| credential.set("jwks_uri".into())/>
                                    "JWKS URL"
                                </label>
                            </div>
                            <p class=HELP class:hidden=move || credential.get() != "client_secret">
                                "A secret is made and shown once. The agent sends it with its id (HTTP Basic)."
                            </p>
                            <div class="mt-3" class:hidden=move || credential.get() != "jwks">
                                <label for="agent-jwks" class="sr-only">"JWKS"</label>
                                <textarea id="agent-jwks" name="jwks" rows="4" class=format!("{INPUT} font-mono text-xs")
                                    placeholder="{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"…\", \"kid\": \"k1\"}]}"></textarea>
                                <p class=HELP>"Public keys only. The agent signs a client assertion (private_key_jwt, RFC 7523) with its private key."</p>
                                {field_error("jwks")}
                            </div>
                            <div class="mt-3 max-w-xl" class:hidden=move || credential.get() != "jwks_uri">
                                <label for="agent-jwks-uri" class="sr-only">"JWKS URL"</label>
                                <input id="agent-jwks-uri" name="jwks_uri" type="url" class=INPUT placeholder="https://ci.example.com/.well-known/jwks.json"/>
                                <p class=HELP>"Fetched over https through the outbound guard and cached; rotate keys there."</p>
                                {field_error("jwks_uri")}
                            </div>
                            {field_error("credential")}
                        </fieldset>
                    </div>
                    <div class="mt-4 flex justify-end gap-2">
                        <button type="button" class="btn-secondary" on:click=move |_| show_form.set(false)>"Cancel"</button>
                        <button type="submit" class="btn-primary" disabled=move || create.pending().get() data-testid="register-agent">
                            {move || if create.pending().get() { "Registering…" } else { "Register agent" }}
                        </button>
                    </div>
                </ActionForm>
            </section>
        </Show>

        {move || action_error.get().map(crate::components::misc::action_alert)}

        {move || keys_for.get().map(|a| {
            let key_error = move |name: &'static str| {
                move || keys.value().get().and_then(|r| r.err()).and_then(|e| e.field(name))
                    .map(|m| view! { <p class="mt-1 text-xs text-red-600" role="alert">{m}</p> })
            };
            view! {
                <section class="mb-6 rounded-lg border border-zinc-200 bg-white p-5 shadow-sm dark:border-zinc-800 dark:bg-zinc-900"
                    aria-labelledby="agent-keys-title" data-testid="agent-keys-form">
                    <h2 id="agent-keys-title" class="text-sm font-semibold">{format!("Replace the keys of {}", a.name)}</h2>
                    <p class="mt-1 text-sm text-zinc-500">"Assertions signed with the current keys stop working at once. Public keys only."</p>
                    <ActionForm action=keys>
                        <input type="hidden" name="id" value=a.id.0.clone()/>
                        <div class="mt-4 flex flex-wrap gap-2">
                            <label class=PILL>
                                <input type="radio" name="credential" value="jwks" class=RADIO checked
                                    on:change=move |_| keys_kind.set("jwks".into())/>
                                "Public keys (JWKS)"
                            </label>
                            <label class=PILL>
                                <input type="radio" name="credential" value="jwks_uri" class=RADIO
                                    on:change=move |_| keys_kind.set("jwks_uri".into())/>
                                "JWKS URL"
                            </label>
                        </div>
                        <div class="mt-3" class:hidden=move || keys_kind.get() != "jwks">
                            <label for="agent-new-jwks" class="sr-only">"New JWKS"</label>
                            <textarea id="agent-new-jwks" name="jwks" rows="4" class=format!("{INPUT} font-mono text-xs")
                                placeholder="{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"…\", \"kid\": \"k2\"}]}"></textarea>
                            {key_error("jwks")}
                        </div>
                        <div class="mt-3 max-w-xl" class:hidden=move || keys_kind.get() != "jwks_uri">
                            <label for="agent-new-jwks-uri" class="sr-only">"New JWKS URL"</label>
                            <input id="agent-new-jwks-uri" name="jwks_uri" type="url" class=INPUT placeholder="https://ci.example.com/.well-known/jwks.json"/>
                            {key_error("jwks_uri")}
                        </div>
                        {key_error("credential")}
                        <div class="mt-4 flex justify-end gap-2">
                            <button type="button" class="btn-secondary" on:click=move |_| keys_for.set(None)>"Cancel"</button>
                            <button type="submit" class="btn-primary" disabled=move || keys.pending().get() data-testid="save-agent-keys">
                                {move || if keys.pending().get() { "Saving…" } else { "Replace keys" }}
                            </button>
                        </div>
                    </ActionForm>
                </section>
            }
        })}

        <Suspense fallback=|| ()>
            {move || delegations_for.get().map(|a| Suspend::new(async move {
                let admin = me.await.is_ok_and(|m| m.role >= Role::Admin);
                view! {
                    <delegations::DelegationsPanel agent=a admin
                        on_close=Callback::new(move |_| delegations_for.set(None))/>
                }
            }))}
        </Suspense>

        <div class=TABLE_CARD>
            <div class="border-b border-zinc-200 p-3 dark:border-zinc-800">
                <form method="get" action=PATH class="flex gap-2" role="search">
                    <label for="agent-search" class="sr-only">"Search agents"</label>
                    <input id="agent-search" name="q" type="search" class=SEARCH
                        placeholder="Search by name, id or description" prop:value=move || param("q")/>
                    <button type="submit" class="btn-secondary">"Search"</button>
                </form>
            </div>
            <Transition fallback=|| view! { <Skeleton rows=4/> }>
                {move || {
                    let q = param("q");
                    Suspend::new(async move {
                        let admin = me.await.is_ok_and(|m| m.role >= Role::Admin);
                        match agents.await {
                            Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                            Ok(page) if page.items.is_empty() && !q.is_empty() => view! {
                                <EmptyState title="No agent matches" hint="Search by the agent's name, its id (agt_…) or a word of its description."/>
                            }.into_any(),
                            Ok(page) if page.items.is_empty() => view! {
                                <EmptyState title="No agents yet"
                                    hint="Register a headless workload here (or with POST /api/v1/admin/agents), then grant it the tools it needs."/>
                            }.into_any(),
                            Ok(page) => {
                                let shown = page.items.len();
                                let href = Callback::new(move |offset: i64| {
                                    query_href(PATH, &[("q", q.clone()), ("offset", offset.to_string())])
                                });
                                view! {
                                    <div class="overflow-x-auto">
                                        <table class="min-w-full text-sm" data-testid="agents-table">
                                            <caption class="sr-only">"Agents"</caption>
                                            <thead class="bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800">
                                                <tr>
                                                    <th scope="col" class="sticky left-0 bg-zinc-50 px-4 py-3 dark:bg-zinc-800">"Agent"</th>
                                                    <th scope="col" class="hidden px-4 py-3 md:table-cell">"Owner"</th>
                                                    <th scope="col" class="hidden px-4 py-3 2xl:table-cell">"Credential"</th>
                                                    <th scope="col" class="px-4 py-3">"Status"</th>
                                                    <th scope="col" class="hidden whitespace-nowrap px-4 py-3 lg:table-cell">"Last token"</th>
                                                    <th scope="col" class="px-4 py-3"><span class="sr-only">"Actions"</span></th>
                                                </tr>
                                            </thead>
                                            <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                                {page.items.into_iter().map(|a| agent_row(a, admin, ask, keys_for, delegations_for)).collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                    <Pager offset=page.offset limit=AGENTS_PAGE shown total=page.total href/>
                                }.into_any()
                            }
                        }
                    })
                }}
            </Transition>
        </div>
        <p class="mt-3 text-xs text-zinc-500">
            "Agents get tokens at " <code class="font-mono">"/oauth/token"</code> " with " <code class="font-mono">"grant_type=client_credentials"</code>
            " and the server's resource URL. " <a class=LINK href="/access/grants">"Grant them tools"</a> "."
        </p>

        <ConfirmDialog open=confirm_open title body confirm_label
            pending=Signal::derive(move || switch.pending().get() || rotate.pending().get())
            on_confirm=Callback::new(move |_| {
                match pending.get_untracked() {
                    Some(Pending::Disable(a)) => {
                        switch.dispatch(SetAgentEnabled { id: a.id, enabled: false, reason: String::new() });
                    }
                    Some(Pending::Enable(a)) => {
                        switch.dispatch(SetAgentEnabled { id: a.id, enabled: true, reason: String::new() });
                    }
                    Some(Pending::Rotate(a)) => {
                        rotate.dispatch(RotateAgentSecret { id: a.id });
                    }
                    None => {}
                }
            })/>
        {move || made.get().map(|(title, id, secret)| match secret {
            Some(secret) => view! {
                <SecretDialog title secret secret_label="Client secret"
                    fields=vec![("Client id".to_owned(), id)]
                    note="Copy the secret now: it is not shown again. The agent sends its id and this secret (HTTP Basic) to /oauth/token with grant_type=client_credentials and resource=<the server's URL>."
                    on_close=Callback::new(move |_| made.set(None))/>
            }.into_any(),
            None => view! {
                <SecretDialog title secret=id secret_label="Client id"
                    note="The agent signs a client assertion (private_key_jwt) with its private key, iss and sub set to this id, and sends it to /oauth/token with grant_type=client_credentials and resource=<the server's URL>."
                    on_close=Callback::new(move |_| made.set(None))/>
            }.into_any(),
        })}
    }
}

fn agent_row(
    a: AgentSummary,
    admin: bool,
    ask: impl Fn(Pending) + Copy + Send + Sync + 'static,
    keys_for: RwSignal<Option<AgentSummary>>,
    delegations_for: RwSignal<Option<AgentSummary>>,
) -> impl IntoView {
    let (tone, label) = match a.status {
        AgentStatus::Active => (Tone::Ok, "Active"),
        AgentStatus::Disabled => (Tone::Danger, "Disabled"),
        AgentStatus::Expired => (Tone::Attention, "Expired"),
    };
    let credential = match a.credential {
        AgentCredentialKind::ClientSecret => "Client secret",
        AgentCredentialKind::Jwks => "Public keys",
        AgentCredentialKind::JwksUri => "JWKS URL",
    };
    let owner_href = if a.owner.kind == "group" {
        format!("/directory/groups/{}", a.owner.id)
    } else {
        format!("/directory/users/{}", a.owner.id)
    };
    let disabled = a.status == AgentStatus::Disabled;
    let secret = a.credential == AgentCredentialKind::ClientSecret;
    let (for_switch, for_rotate, for_keys, for_delegations) =
        (a.clone(), a.clone(), a.clone(), a.clone());
    view! {
        <tr class="group hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="agent-row" data-name=a.name.clone()>
            // The sticky cell has its own background (so scrolled cells do
            // not show through it), following the row's hover.
            <td class="sticky left-0 max-w-[14rem] bg-white px-4 py-3 group-hover:bg-zinc-50 dark:bg-zinc-900 dark:group-hover:bg-[#1e1e21] sm:max-w-xs">
                <p class="truncate font-medium">{a.name.clone()}</p>
                <p class="truncate font-mono text-xs text-zinc-500" title=a.id.0.clone()>{a.id.0.clone()}</p>
                {(!a.description.is_empty()).then(|| view! {
                    <p class="mt-0.5 line-clamp-2 text-xs text-zinc-600 dark:text-zinc-400">{a.description.clone()}</p>
                })}
                <p class="mt-1 text-xs text-zinc-500 md:hidden">{format!("Owner: {}", a.owner.display)}</p>
                <p class="mt-0.5 text-xs text-zinc-500 2xl:hidden">{format!("Signs in with: {}", credential.to_lowercase())}</p>
                <AuditEventsLink id=a.id.0.clone() compact=true/>
            </td>
            <td class="hidden px-4 py-3 md:table-cell">
                <a href=owner_href class="font-medium text-zinc-900 hover:underline dark:text-zinc-100">{a.owner.display.clone()}</a>
                <p class="text-xs text-zinc-500">{if a.owner.kind == "group" { "Group" } else { "Person" }}</p>
            </td>
            <td class="hidden px-4 py-3 text-zinc-600 dark:text-zinc-400 2xl:table-cell">
                {credential}
                {a.jwks_uri.clone().map(|u| view! { <p class="max-w-[16rem] truncate font-mono text-xs text-zinc-500" title=u.clone()>{u.clone()}</p> })}
            </td>
            <td class="px-4 py-3">
                <Badge tone label/>
                {a.status_reason.clone().filter(|_| disabled).map(|r| view! {
                    <p class="mt-1 max-w-[14rem] truncate text-xs text-zinc-500" title=r.clone()>{r.clone()}</p>
                })}
                {a.expires_at.filter(|_| a.status == AgentStatus::Active).map(|t| view! {
                    <p class="mt-1 hidden text-xs text-zinc-500 sm:block">"Expires " <AbsTime at=t/></p>
                })}
            </td>
            <td class="hidden whitespace-nowrap px-4 py-3 text-zinc-600 dark:text-zinc-400 lg:table-cell">
                {match a.last_token_at {
                    Some(t) => view! { <RelTime at=t/> }.into_any(),
                    None => view! { <span class="text-zinc-400">"Never"</span> }.into_any(),
                }}
            </td>
            <td class="whitespace-nowrap px-4 py-3 text-right">
                <div class="flex flex-col items-end gap-1.5 2xl:flex-row 2xl:justify-end 2xl:gap-2">
                    <button type="button" class="btn-secondary text-xs" data-testid="agent-delegations"
                        on:click=move |_| delegations_for.set(Some(for_delegations.clone()))>"Delegations"</button>
                {admin.then(|| view! {
                    <div class="contents">
                        {(secret && !disabled).then(|| view! {
                            <button type="button" class="btn-secondary text-xs" on:click=move |_| ask(Pending::Rotate(for_rotate.clone()))>"Rotate secret"</button>
                        })}
                        {(!secret && !disabled).then(|| view! {
                            <button type="button" class="btn-secondary text-xs" data-testid="replace-agent-keys"
                                on:click=move |_| keys_for.set(Some(for_keys.clone()))>"Replace keys"</button>
                        })}
                        {if disabled {
                            view! { <button type="button" class="btn-secondary text-xs" on:click=move |_| ask(Pending::Enable(for_switch.clone()))>"Enable"</button> }.into_any()
                        } else {
                            view! { <button type="button" class="btn-danger-outline text-xs" data-testid="disable-agent" on:click=move |_| ask(Pending::Disable(for_switch.clone()))>"Disable"</button> }.into_any()
                        }}
                    </div>
                })}
                </div>
            </td>
        </tr>
    }
}
