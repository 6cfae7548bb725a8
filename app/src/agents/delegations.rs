//! The delegations panel of the Agents page: whom an agent may act for, on
//! which server (it then exchanges their tokens for delegated ones, which
//! gateways allow only where the person and the agent both may). Admins
//! add and remove them; removing asks first.

use super::api::{list_delegations, DelegateAgent, UndelegateAgent};
use super::{INPUT, PILL, RADIO};
use crate::access::{HELP, LABEL};
use crate::components::{ConfirmDialog, EmptyState, ErrorPanel, Picker, RelTime, Skeleton};
use leptos::prelude::*;
use portcullis_types::{AgentSummary, DelegationSummary};

/// The panel for `agent`; `admin` may change it; `on_close` hides it.
#[component]
pub fn DelegationsPanel(agent: AgentSummary, admin: bool, on_close: Callback<()>) -> impl IntoView {
    let add = ServerAction::<DelegateAgent>::new();
    let remove = ServerAction::<UndelegateAgent>::new();
    let id = agent.id.clone();
    let list = Resource::new(
        move || (id.clone(), add.version().get(), remove.version().get()),
        |(id, ..)| list_delegations(id),
    );
    let servers = Resource::new(|| (), |_| crate::access::api::list_access_servers());
    let kind = RwSignal::new("user".to_owned());
    let removing = RwSignal::new(None::<DelegationSummary>);
    let confirm_open = RwSignal::new(false);
    Effect::new(move |_| {
        if remove.value().get().is_some() {
            confirm_open.set(false);
        }
    });
    let field_error = move |name: &'static str| {
        move || {
            add.value()
                .get()
                .and_then(|r| r.err())
                .and_then(|e| e.field(name))
                .map(|m| view! { <p class="mt-1 text-xs text-red-600" role="alert">{m}</p> })
        }
    };
    let name = agent.name.clone();
    let title = Signal::derive(move || {
        removing
            .get()
            .map(|d| format!("Stop {name} acting for {}?", d.subject_display))
            .unwrap_or_default()
    });
    let agent_id = agent.id.clone();
    view! {
        <section class="mb-6 rounded-lg border border-zinc-200 bg-white p-5 shadow-sm dark:border-zinc-800 dark:bg-zinc-900"
            aria-labelledby="delegations-title" data-testid="delegations-panel">
            <div class="flex items-start justify-between gap-4">
                <div>
                    <h2 id="delegations-title" class="text-sm font-semibold">{format!("Whom {} may act for", agent.name)}</h2>
                    <p class="mt-1 text-sm text-zinc-500">
                        "With a person's token, the agent may get a delegated one (RFC 8693 token exchange) for the servers listed here. A delegated call is allowed only when the person may make it, the agent may make it by its own grants, and a delegation covers the person."
                    </p>
                </div>
                <button type="button" class="btn-secondary text-xs" on:click=move |_| on_close.run(())>"Close"</button>
            </div>
            {move || remove.value().get().and_then(|r| r.err()).map(|e| crate::components::misc::action_alert(e.message))}
            <Transition fallback=|| view! { <Skeleton rows=2/> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(e) => view! { <div class="mt-4"><ErrorPanel error=e/></div> }.into_any(),
                        Ok(items) if items.is_empty() => view! {
                            <EmptyState title="It acts for nobody" hint="Add a delegation below to let it act for a person, a group's people or everyone on one server."/>
                        }.into_any(),
                        Ok(items) => view! {
                            <div class="mt-4 overflow-x-auto">
                                <table class="min-w-full text-sm" data-testid="delegations-table">
                                    <caption class="sr-only">"Delegations"</caption>
                                    <thead class="bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800">
                                        <tr>
                                            <th scope="col" class="px-4 py-2">"For"</th>
                                            <th scope="col" class="px-4 py-2">"Server"</th>
                                            <th scope="col" class="hidden px-4 py-2 md:table-cell">"Why"</th>
                                            <th scope="col" class="hidden px-4 py-2 lg:table-cell">"Added"</th>
                                            <th scope="col" class="px-4 py-2"><span class="sr-only">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                        {items.into_iter().map(|d| {
                                            let kind = match d.subject_kind.as_str() {
                                                "group" => "Group",
                                                "everyone" => "Everyone in the directories",
                                                _ => "Person",
                                            };
                                            let for_remove = d.clone();
                                            view! {
                                                <tr data-testid="delegation-row">
                                                    <td class="px-4 py-2">
                                                        <p class="font-medium">{d.subject_display.clone()}</p>
                                                        <p class="text-xs text-zinc-500">{kind}</p>
                                                    </td>
                                                    <td class="px-4 py-2">{d.server_name.clone()}</td>
                                                    <td class="hidden max-w-xs truncate px-4 py-2 text-zinc-600 dark:text-zinc-400 md:table-cell" title=d.reason.clone()>{d.reason.clone()}</td>
                                                    <td class="hidden whitespace-nowrap px-4 py-2 text-zinc-600 dark:text-zinc-400 lg:table-cell">
                                                        <RelTime at=d.created_at/>
                                                        <p class="text-xs text-zinc-500">{d.created_by.clone()}</p>
                                                    </td>
                                                    <td class="whitespace-nowrap px-4 py-2 text-right">
                                                        {admin.then(|| view! {
                                                            <button type="button" class="btn-danger-outline text-xs" data-testid="remove-delegation"
                                                                on:click=move |_| { removing.set(Some(for_remove.clone())); confirm_open.set(true); }>"Remove"</button>
                                                        })}
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Transition>
            {admin.then(|| view! {
                <ActionForm action=add>
                    <input type="hidden" name="id" value=agent_id.0.clone()/>
                    <h3 class="mt-6 text-sm font-semibold">"Add a delegation"</h3>
                    {move || add.value().get().and_then(|r| r.err()).filter(|e| e.fields.is_empty()).map(|e| view! {
                        <p role="alert" class="mt-2 text-sm text-red-600">{e.message}</p>
                    })}
                    <div class="mt-3 grid grid-cols-1 gap-4 md:grid-cols-2">
                        <fieldset class="md:col-span-2">
                            <legend class=LABEL>"For"</legend>
                            <div class="flex flex-wrap gap-2">
                                <label class=PILL>
                                    <input type="radio" name="subject_kind" value="user" class=RADIO checked on:change=move |_| kind.set("user".into())/>
                                    "A person"
                                </label>
                                <label class=PILL>
                                    <input type="radio" name="subject_kind" value="group" class=RADIO on:change=move |_| kind.set("group".into())/>
                                    "A group's people"
                                </label>
                                <label class=PILL>
                                    <input type="radio" name="subject_kind" value="everyone" class=RADIO on:change=move |_| kind.set("everyone".into())/>
                                    "Everyone"
                                </label>
                            </div>
                            <div class="mt-3 max-w-md" class:hidden=move || kind.get() != "user">
                                <label for="delegation-person" class="sr-only">"Person's email"</label>
                                <Picker id="delegation-person" name="person" placeholder="alice@company.com" free_text=true
                                    search=crate::access::api::pick_people none="No active person matches."/>
                            </div>
                            <div class="mt-3 max-w-md" class:hidden=move || kind.get() != "group">
                                <label for="delegation-group" class="sr-only">"Group"</label>
                                <Picker id="delegation-group" name="group" placeholder="Search groups by name…"
                                    search=crate::access::api::pick_groups none="No group matches."/>
                            </div>
                            {field_error("subject_id")}
                            {field_error("subject_kind")}
                        </fieldset>
                        <div>
                            <label for="delegation-server" class=LABEL>"Server"</label>
                            <Suspense fallback=|| view! { <select class=INPUT disabled><option>"Loading…"</option></select> }>
                                {move || Suspend::new(async move {
                                    let options = servers.await.unwrap_or_default();
                                    view! {
                                        <select id="delegation-server" name="server_id" class=INPUT required>
                                            <option value="">"Choose a server"</option>
                                            {options.into_iter().map(|s| view! { <option value=s.id.to_string()>{s.name}</option> }).collect_view()}
                                        </select>
                                    }
                                })}
                            </Suspense>
                            {field_error("server_id")}
                        </div>
                        <div>
                            <label for="delegation-reason" class=LABEL>"Why " <span class="font-normal text-zinc-400">"(optional)"</span></label>
                            <input id="delegation-reason" name="reason" type="text" maxlength="500" class=INPUT placeholder="Alice's inbox assistant"/>
                            {field_error("reason")}
                        </div>
                    </div>
                    <p class=HELP>"Takes effect at the next policy revision; gateways still check the person's and the agent's own grants at every call."</p>
                    <div class="mt-4 flex justify-end">
                        <button type="submit" class="btn-primary" disabled=move || add.pending().get() data-testid="add-delegation">
                            {move || if add.pending().get() { "Delegating…" } else { "Delegate" }}
                        </button>
                    </div>
                </ActionForm>
            })}
        </section>
        <ConfirmDialog open=confirm_open title
            body=Signal::derive(|| "Its delegated tokens for them are refused from the next policy revision, and it cannot get new ones.".to_owned())
            confirm_label=Signal::derive(|| "Remove delegation".to_owned())
            pending=Signal::derive(move || remove.pending().get())
            on_confirm=Callback::new(move |_| {
                if let Some(d) = removing.get_untracked() {
                    remove.dispatch(UndelegateAgent { id: d.agent_id, delegation: d.id });
                }
            })/>
    }
}
