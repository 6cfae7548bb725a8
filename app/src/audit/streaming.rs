//! Settings → Audit, the streaming section: the SIEM destinations the log
//! is sent to (webhook, syslog, Splunk HEC), each with its health, lag and
//! last error; owners add, pause, resume and remove them (removal after a
//! confirmation).

use super::api::{list_audit_sinks, CreateAuditSink, DeleteAuditSink, SetAuditSinkEnabled};
use crate::components::misc::format_count;
use crate::components::{Badge, ConfirmDialog, EmptyState, ErrorPanel, RelTime, Skeleton, Tone};
use leptos::prelude::*;
use portcullis_types::{AuditSinkHealth, AuditSinkSummary};

const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";

/// The streaming section; `owner` may change it.
#[component]
pub fn StreamingSection(owner: bool) -> impl IntoView {
    let create = ServerAction::<CreateAuditSink>::new();
    let toggle = ServerAction::<SetAuditSinkEnabled>::new();
    let delete = ServerAction::<DeleteAuditSink>::new();
    let refresh = RwSignal::new(0u32);
    let sinks = Resource::new(
        move || {
            (
                create.version().get(),
                toggle.version().get(),
                delete.version().get(),
                refresh.get(),
            )
        },
        |_| list_audit_sinks(),
    );
    let show_form = RwSignal::new(false);
    let kind = RwSignal::new("webhook".to_owned());
    let pending = RwSignal::new(None::<AuditSinkSummary>);
    let confirm_open = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            show_form.set(false);
        }
    });
    Effect::new(move |_| {
        match delete.value().get() {
            Some(Ok(())) => action_error.set(None),
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });
    Effect::new(move |_| {
        if let Some(Err(e)) = toggle.value().get() {
            action_error.set(Some(e.message));
        }
    });
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
    let url_placeholder = move || match kind.get().as_str() {
        "syslog" => "tls://siem.example.com:6514",
        "splunk_hec" => "https://splunk.example.com:8088/services/collector/event",
        _ => "https://siem.example.com/portcullis",
    };
    let remove_body = Signal::derive(move || {
        pending
            .get()
            .map(|s| format!("Nothing more is sent to {}. Events stay in the audit log; adding the destination again starts from the newest event.", s.url))
            .unwrap_or_default()
    });
    let remove_title = Signal::derive(move || {
        pending
            .get()
            .map(|s| format!("Remove {}?", s.name))
            .unwrap_or_default()
    });
    let ask = move |s: AuditSinkSummary| {
        pending.set(Some(s));
        confirm_open.set(true);
    };

    view! {
        <section class="rounded-lg border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900 lg:col-span-2"
            aria-labelledby="streaming-title" data-testid="streaming">
            <div class="flex flex-wrap items-start justify-between gap-3 p-5">
                <div>
                    <h2 id="streaming-title" class="text-sm font-semibold">"Streaming to a SIEM"</h2>
                    <p class="mt-1 max-w-2xl text-sm text-zinc-500">
                        "Every event is sent, in order and at least once, to each destination: a signed webhook, syslog (RFC 5424 over TCP or TLS) or Splunk HEC. While a destination is down its events wait in the log and are retried with backoff; deduplicate on the event id."
                    </p>
                </div>
                <div class="flex gap-2">
                    <button type="button" class="btn-secondary" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
                    {owner.then(|| view! {
                        <button type="button" class="btn-primary" data-testid="open-add-sink" on:click=move |_| show_form.set(true)>"Add destination"</button>
                    })}
                </div>
            </div>
            <Show when=move || show_form.get()>
                <div class="border-t border-zinc-200 p-5 dark:border-zinc-800">
                    {move || create.value().get().and_then(|r| r.err()).filter(|e| e.fields.is_empty()).map(|e| view! {
                        <p role="alert" class="mb-3 text-sm text-red-600">{e.message}</p>
                    })}
                    <ActionForm action=create>
                        <div class="grid grid-cols-1 gap-4 md:grid-cols-2">
                            <div>
                                <label for="sink-name" class="mb-1.5 block text-sm font-medium">"Name"</label>
                                <input id="sink-name" name="name" type="text" required maxlength="100" class=INPUT placeholder="Security data lake"/>
                                {field_error("name")}
                            </div>
                            <div>
                                <label for="sink-kind" class="mb-1.5 block text-sm font-medium">"Kind"</label>
                                <select id="sink-kind" name="kind" class=INPUT on:change=move |ev| kind.set(event_target_value(&ev))>
                                    <option value="webhook" selected>"Webhook — JSON batches, HMAC-signed"</option>
                                    <option value="syslog">"Syslog — RFC 5424 over TCP or TLS"</option>
                                    <option value="splunk_hec">"Splunk HTTP Event Collector"</option>
                                </select>
                                {field_error("kind")}
                            </div>
                            <div class="md:col-span-2">
                                <label for="sink-url" class="mb-1.5 block text-sm font-medium">"URL"</label>
                                <input id="sink-url" name="url" type="text" required class=INPUT placeholder=url_placeholder/>
                                {field_error("url")}
                            </div>
                            <Show when=move || kind.get() != "syslog">
                                <div class="md:col-span-2">
                                    <label for="sink-secret" class="mb-1.5 block text-sm font-medium">
                                        {move || if kind.get() == "splunk_hec" { "HEC token" } else { "Signing key" }}
                                    </label>
                                    <input id="sink-secret" name="secret" type="password" autocomplete="off" class=INPUT
                                        placeholder=move || if kind.get() == "splunk_hec" { "the token Splunk shows for the collector" } else { "at least 16 characters, shared with the receiver" }/>
                                    <p class="mt-1 text-xs text-zinc-500">"Stored sealed; never shown again."</p>
                                    {field_error("secret")}
                                </div>
                            </Show>
                        </div>
                        <div class="mt-4 flex justify-end gap-2">
                            <button type="button" class="btn-secondary" on:click=move |_| show_form.set(false)>"Cancel"</button>
                            <button type="submit" class="btn-primary" disabled=move || create.pending().get()>
                                {move || if create.pending().get() { "Adding…" } else { "Add destination" }}
                            </button>
                        </div>
                    </ActionForm>
                </div>
            </Show>
            {move || action_error.get().map(|m| view! { <div class="px-5">{crate::components::misc::action_alert(m)}</div> })}
            <div class="overflow-x-auto border-t border-zinc-200 dark:border-zinc-800">
                <Transition fallback=|| view! { <Skeleton rows=3/> }>
                    {move || Suspend::new(async move {
                        match sinks.await {
                            Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                            Ok(list) if list.is_empty() => view! {
                                <EmptyState title="No destinations yet"
                                    hint="Add a webhook, a syslog collector or Splunk HEC: new events are sent from then on."/>
                            }.into_any(),
                            Ok(list) => view! {
                                <table class="min-w-full text-sm" data-testid="sinks-table">
                                    <thead class="bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800/60">
                                        <tr>
                                            <th scope="col" class="px-4 py-3">"Destination"</th>
                                            <th scope="col" class="px-4 py-3">"Health"</th>
                                            <th scope="col" class="px-4 py-3 text-right">"Lag"</th>
                                            <th scope="col" class="hidden px-4 py-3 md:table-cell">"Delivered"</th>
                                            <th scope="col" class="px-4 py-3"><span class="sr-only">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                        {list.into_iter().map(|s| sink_row(s, owner, toggle, ask)).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </div>
        </section>
        <ConfirmDialog open=confirm_open title=remove_title body=remove_body confirm_label="Remove destination"
            pending=delete.pending()
            on_confirm=Callback::new(move |_| {
                if let Some(s) = pending.get_untracked() {
                    delete.dispatch(DeleteAuditSink { id: s.id });
                }
            })/>
    }
}

fn sink_row(
    s: AuditSinkSummary,
    owner: bool,
    toggle: ServerAction<SetAuditSinkEnabled>,
    ask: impl Fn(AuditSinkSummary) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let (tone, label) = match s.health {
        AuditSinkHealth::Healthy => (Tone::Ok, "Healthy"),
        AuditSinkHealth::Pending => (Tone::Neutral, "Waiting"),
        AuditSinkHealth::Failing => (Tone::Danger, "Failing"),
        AuditSinkHealth::Paused => (Tone::Attention, "Paused"),
    };
    let for_remove = s.clone();
    let id = s.id.clone();
    let enabled = s.enabled;
    view! {
        <tr data-testid="sink-row" data-name=s.name.clone() class="align-top">
            <td class="max-w-[22rem] px-4 py-3">
                <p class="font-medium">{s.name.clone()} <span class="ml-1 text-xs font-normal text-zinc-500">{s.kind.label()}</span></p>
                <p class="truncate font-mono text-xs text-zinc-500" title=s.url.clone()>{s.url.clone()}</p>
            </td>
            <td class="px-4 py-3">
                <Badge tone label/>
                {s.last_error.clone().map(|e| view! {
                    <p class="mt-1 max-w-[18rem] break-words text-xs text-red-600 dark:text-red-400" data-testid="sink-error">{e}</p>
                })}
                {s.next_attempt_at.filter(|_| s.failures > 0).map(|t| view! {
                    <p class="mt-0.5 text-xs text-zinc-500">{format!("{} failed attempts · retry ", s.failures)}<RelTime at=t/></p>
                })}
            </td>
            <td class="px-4 py-3 text-right tabular-nums" data-testid="sink-lag">
                {if s.lag_events == 1 { "1 event".to_owned() } else { format!("{} events", format_count(s.lag_events)) }}
                {s.oldest_pending_at.map(|t| view! { <p class="text-xs text-zinc-500">"oldest " <RelTime at=t/></p> })}
            </td>
            <td class="hidden px-4 py-3 md:table-cell">
                <p class="tabular-nums">{format_count(s.delivered)}</p>
                {match s.last_success_at {
                    Some(t) => view! { <p class="text-xs text-zinc-500">"last " <RelTime at=t/></p> }.into_any(),
                    None => view! { <p class="text-xs text-zinc-500">"nothing yet"</p> }.into_any(),
                }}
            </td>
            <td class="whitespace-nowrap px-4 py-3 text-right">
                {owner.then(|| view! {
                    <button type="button" class="btn-secondary text-xs"
                        on:click=move |_| { toggle.dispatch(SetAuditSinkEnabled { id: id.clone(), enabled: !enabled }); }>
                        {if enabled { "Pause" } else { "Resume" }}
                    </button>
                    <button type="button" class="btn-danger-outline ml-2 text-xs" on:click=move |_| ask(for_remove.clone())>"Remove"</button>
                })}
            </td>
        </tr>
    }
}
