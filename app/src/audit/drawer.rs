//! The explorer's event drawer: every field of one event, its details as
//! text, the chain hash, and links to the other events of its actor and of
//! its target. Opened by a row, or by a link (`/audit?event=<id>`).
//!
//! Owners also get two audited actions here: revealing the event's masked
//! details, and erasing the personal data of the person it is by or about
//! (after a confirmation that names the consequence).

use super::api::{EraseAuditPerson, RevealAuditEvent};
use crate::components::detail::CopyValue;
use crate::components::misc::url_encode;
use crate::components::time::AbsTime;
use crate::components::ConfirmDialog;
use crate::components::{OutcomeBadge, RelTime};
use leptos::prelude::*;
use portcullis_types::{ActorType, AuditEventSummary};

const DT: &str = "text-xs font-medium uppercase tracking-wide text-zinc-500";
const DD: &str = "mt-0.5 mb-3 text-sm break-words";

/// The drawer for `event` (nothing while `None`); closing sets it to
/// `None`. `owner`: the reader may reveal and erase.
#[component]
pub fn EventDrawer(
    event: RwSignal<Option<AuditEventSummary>>,
    owner: Signal<bool>,
) -> impl IntoView {
    let close = move || event.set(None);
    view! {
        <Show when=move || event.with(Option::is_some)>
            <div class="fixed inset-0 z-30 bg-zinc-950/30" role="presentation" on:click=move |_| close()></div>
            <aside class="fixed inset-y-0 right-0 z-40 flex w-full max-w-xl flex-col border-l border-zinc-200 bg-white shadow-2xl dark:border-zinc-800 dark:bg-zinc-900"
                role="dialog" aria-modal="true" aria-labelledby="drawer-title" data-testid="event-drawer"
                on:keydown=move |ev| if ev.key() == "Escape" { close() }>
                {move || event.get().map(|e| view! { <DrawerBody e owner close=Callback::new(move |_| close())/> })}
            </aside>
        </Show>
    }
}

/// The person an event is by or about, if any: (id, name).
fn person_of(e: &AuditEventSummary) -> Option<(String, String)> {
    if matches!(e.actor_type, ActorType::Person | ActorType::ConsoleUser) {
        if let Some(id) = &e.actor_id {
            return Some((id.clone(), e.actor_display.clone()));
        }
    }
    match (e.target_type.as_deref(), &e.target_id) {
        (Some("directory_user" | "console_user"), Some(id)) => Some((
            id.clone(),
            e.target_display.clone().unwrap_or_else(|| id.clone()),
        )),
        _ => None,
    }
}

#[component]
fn DrawerBody(e: AuditEventSummary, owner: Signal<bool>, close: Callback<()>) -> impl IntoView {
    let reveal = ServerAction::<RevealAuditEvent>::new();
    let erase = ServerAction::<EraseAuditPerson>::new();
    let confirm_open = RwSignal::new(false);
    Effect::new(move |_| {
        if erase.value().with(Option::is_some) {
            confirm_open.set(false);
        }
    });
    let plain = serde_json::to_string_pretty(&e.details).unwrap_or_default();
    let details = move || match reveal.value().get() {
        Some(Ok(r)) => serde_json::to_string_pretty(&r.details).unwrap_or_default(),
        _ => plain.clone(),
    };
    let event_id = e.id.clone();
    let recorded_actor = e.actor_display.clone();
    let actor_name = move || match reveal.value().get() {
        Some(Ok(r)) => r.actor_display,
        _ => recorded_actor.clone(),
    };
    let masked = (!e.masked.is_empty()).then(|| {
        let keys = e
            .masked
            .iter()
            .map(|k| if k == "actor" { "actor name" } else { k.as_str() })
            .collect::<Vec<_>>()
            .join(", ");
        view! {
            <div class="mb-4 rounded-md border border-zinc-200 bg-zinc-50 px-3 py-2 text-sm dark:border-zinc-800 dark:bg-zinc-950" data-testid="masked-note">
                {move || match reveal.value().get() {
                    Some(Ok(_)) => view! {
                        <p>"Revealed: " <span class="font-mono">{keys.clone()}</span> ". Your reveal is recorded in the audit log."</p>
                    }.into_any(),
                    Some(Err(err)) => view! { <p class="text-red-600" role="alert">{err.message}</p> }.into_any(),
                    None => {
                        let id = event_id.clone();
                        view! {
                            <div class="flex flex-wrap items-center justify-between gap-2">
                                <p class="text-zinc-600 dark:text-zinc-400">"Personal details are masked: " <span class="font-mono">{keys.clone()}</span></p>
                                <Show when=move || owner.get() fallback=|| view! { <p class="text-xs text-zinc-500">"Only an owner can reveal them."</p> }>
                                    <button type="button" class="btn-secondary" data-testid="reveal-details"
                                        disabled=move || reveal.pending().get()
                                        on:click={
                                            let id = id.clone();
                                            move |_| { reveal.dispatch(RevealAuditEvent { id: id.clone() }); }
                                        }>
                                        {move || if reveal.pending().get() { "Revealing…" } else { "Reveal (recorded)" }}
                                    </button>
                                </Show>
                            </div>
                        }.into_any()
                    }
                }}
            </div>
        }
    });
    let erasure_note = e.erasure_id.clone().map(|id| view! {
        <p class="mb-4 rounded-md bg-sky-50 px-3 py-2 text-sm text-sky-800 dark:bg-sky-950/40 dark:text-sky-300" data-testid="erased-note">
            "A person's personal data in this event was erased (" <span class="font-mono">{id}</span> "): their name, email address and source address read as a pseudonym."
        </p>
    });
    let person = person_of(&e).filter(|_| e.redacted_at.is_none());
    let erase_section = person.map(|(id, name)| {
        let title = format!("Erase {name}'s personal data from the audit log?");
        let body = "Every event that names this person will show a pseudonym instead of their name, email address and source address. Their id stays, so their events still read as one person's, and the chain still verifies. This cannot be undone, and events already streamed to a SIEM are not changed.".to_owned();
        let on_confirm = Callback::new({
            let id = id.clone();
            move |_| { erase.dispatch(EraseAuditPerson { person: id.clone() }); }
        });
        view! {
            <Show when=move || owner.get()>
                <div class="mt-2 border-t border-zinc-200 pt-4 dark:border-zinc-800" data-testid="erase-section">
                    <h3 class="text-sm font-semibold">"Personal data"</h3>
                    {move || match erase.value().get() {
                        Some(Ok(done)) => view! {
                            <p class="mt-1 rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-800 dark:bg-emerald-950/40 dark:text-emerald-300" role="status" data-testid="erase-done">
                                {format!("Erased: {} events now read “{}”. Reopen the event to see it.", done.events, done.pseudonym)}
                            </p>
                        }.into_any(),
                        other => {
                            let error = other.and_then(|r| r.err()).map(|err| view! { <p class="mt-1 text-sm text-red-600" role="alert">{err.message}</p> });
                            view! {
                                <p class="mt-1 text-sm text-zinc-500">"For a request to erase this person's data: their names, email addresses and source addresses in every event become a pseudonym."</p>
                                {error}
                                <button type="button" class="btn-danger-outline mt-2" data-testid="erase-person"
                                    on:click=move |_| confirm_open.set(true)>"Erase this person's personal data…"</button>
                            }.into_any()
                        }
                    }}
                </div>
                <ConfirmDialog open=confirm_open title=title.clone() body=body.clone()
                    confirm_label="Erase personal data".to_owned() pending=erase.pending() on_confirm/>
            </Show>
        }
    });
    let actor_link = e
        .actor_id
        .clone()
        .map(|id| format!("/audit?actor={}", url_encode(&id)));
    let target_link = e
        .target_id
        .clone()
        .map(|id| format!("/audit?target={}", url_encode(&id)));
    let permalink = format!("/audit?event={}", url_encode(&e.id));
    let dash = || view! { <span class="text-zinc-400">"—"</span> }.into_any();
    let text = move |v: Option<String>| match v.filter(|s| !s.is_empty()) {
        Some(s) => view! { <span>{s}</span> }.into_any(),
        None => dash(),
    };
    view! {
        <header class="flex items-start justify-between gap-4 border-b border-zinc-200 px-6 py-4 dark:border-zinc-800">
            <div class="min-w-0">
                <p class="text-xs text-zinc-500 tabular-nums">{format!("Event #{}", e.seq)}</p>
                <h2 id="drawer-title" class="mt-0.5 break-all font-mono text-base font-semibold">{e.action.clone()}</h2>
                <div class="mt-1.5 flex items-center gap-2 text-sm text-zinc-600 dark:text-zinc-400">
                    <OutcomeBadge outcome=e.outcome/>
                    <AbsTime at=e.occurred_at/>
                    <span class="text-zinc-400">"·"</span>
                    <RelTime at=e.occurred_at/>
                </div>
            </div>
            <button type="button" class="rounded-md p-1.5 text-zinc-500 hover:bg-zinc-100 hover:text-zinc-800 dark:hover:bg-zinc-800 dark:hover:text-zinc-200"
                aria-label="Close details" autofocus on:click=move |_| close.run(())>
                <svg viewBox="0 0 20 20" class="h-5 w-5" fill="currentColor" aria-hidden="true"><path d="M6.28 5.22a.75.75 0 0 0-1.06 1.06L8.94 10l-3.72 3.72a.75.75 0 1 0 1.06 1.06L10 11.06l3.72 3.72a.75.75 0 1 0 1.06-1.06L11.06 10l3.72-3.72a.75.75 0 0 0-1.06-1.06L10 8.94 6.28 5.22Z"/></svg>
            </button>
        </header>
        <div class="flex-1 overflow-y-auto px-6 py-4">
            {erasure_note}
            {masked}
            {e.redacted_at.map(|at| view! {
                <p class="mb-4 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-800 dark:bg-amber-950/40 dark:text-amber-300">
                    "Retention blanked this gateway decision on " <AbsTime at/> ": only its number, time, action and hashes remain."
                </p>
            })}
            <dl>
                <dt class=DT>"Actor"</dt>
                <dd class=DD>
                    <span data-testid="event-actor">{actor_name}</span>
                    <span class="ml-2 text-xs text-zinc-500">{e.actor_type.as_str().replace('_', " ")}</span>
                    {e.actor_id.clone().map(|id| view! { <div class="mt-1"><CopyValue value=id label="actor id"/></div> })}
                    {actor_link.map(|h| view! { <a href=h class="mt-1 block text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Events by this actor →"</a> })}
                </dd>
                <dt class=DT>"Target"</dt>
                <dd class=DD>
                    {text(e.target_display.clone())}
                    {e.target_type.clone().map(|t| view! { <span class="ml-2 text-xs text-zinc-500">{t.replace('_', " ")}</span> })}
                    {e.target_id.clone().map(|id| view! { <div class="mt-1"><CopyValue value=id label="target id"/></div> })}
                    {target_link.map(|h| view! { <a href=h class="mt-1 block text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Events about this target →"</a> })}
                </dd>
                <dt class=DT>"Source address"</dt>
                <dd class=format!("{DD} font-mono")>{text(e.source_ip.clone())}</dd>
                <dt class=DT>"User agent"</dt>
                <dd class=DD>{text(e.user_agent.clone())}</dd>
                <dt class=DT>"Request id"</dt>
                <dd class=format!("{DD} font-mono")>{text(e.request_id.clone())}</dd>
                <dt class=DT>"Event id"</dt>
                <dd class=DD><CopyValue value=e.id.clone() label="event id"/></dd>
                <dt class=DT>"Chain hash"</dt>
                <dd class=format!("{DD} break-all font-mono text-xs")>{e.hash.clone()}</dd>
                <dt class=DT>"Details"</dt>
                <dd class="mt-1">
                    <pre class="max-h-96 overflow-auto rounded-md bg-zinc-50 p-3 font-mono text-xs dark:bg-zinc-950" data-testid="event-details">{details}</pre>
                </dd>
            </dl>
            {erase_section}
        </div>
        <footer class="flex items-center justify-between border-t border-zinc-200 px-6 py-3 text-sm dark:border-zinc-800">
            <a href=permalink class="font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Link to this event"</a>
            <button type="button" class="btn-secondary" on:click=move |_| close.run(())>"Close"</button>
        </footer>
    }
}
