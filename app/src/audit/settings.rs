//! Settings → Audit: how long the audit log keeps events and gateway
//! decisions, what retention has purged, the legal hold (owners place and
//! lift it, with a confirmation before lifting), the newest signed
//! checkpoint to download and keep outside the database, and the SIEM
//! destinations the log streams to (`streaming`).

use super::api::{get_audit_retention, latest_audit_checkpoint, LiftLegalHold, PlaceLegalHold};
use super::streaming::StreamingSection;
use crate::auth::api::get_me;
use crate::components::misc::{format_count, url_encode};
use crate::components::{
    AbsTime, Badge, ConfirmDialog, ErrorPanel, PageHeader, RelTime, Skeleton, Tone,
};
use leptos::prelude::*;
use leptos_meta::Title;
use portcullis_types::{AuditCheckpoint, AuditRetention, Role};

const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";
const CARD: &str = "rounded-lg border border-zinc-200 bg-white p-5 shadow-sm dark:border-zinc-800 dark:bg-zinc-900";

/// `/settings/audit`.
#[component]
pub fn AuditSettingsPage() -> impl IntoView {
    let place = ServerAction::<PlaceLegalHold>::new();
    let lift = ServerAction::<LiftLegalHold>::new();
    let retention = Resource::new(
        move || (place.version().get(), lift.version().get()),
        |_| get_audit_retention(),
    );
    let checkpoint = Resource::new(|| (), |_| latest_audit_checkpoint());
    let me = Resource::new(|| (), |_| get_me());
    let show_form = RwSignal::new(false);
    let confirm_open = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(_)) = place.value().get() {
            show_form.set(false);
        }
    });
    Effect::new(move |_| {
        match lift.value().get() {
            Some(Ok(_)) => action_error.set(None),
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });
    let reason_error = move || {
        place
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.field("reason").unwrap_or(e.message))
            .map(|m| view! { <p class="mt-1 text-xs text-red-600" role="alert">{m}</p> })
    };
    let lift_body = Signal::derive(move || {
        let days = retention
            .get()
            .and_then(|r| r.ok())
            .map_or(0, |r| r.retention_days);
        format!("Retention deletes events older than {days} days at its next run, within the hour. Events it deletes cannot be restored.")
    });

    view! {
        <Title text="Audit settings · Portcullis"/>
        <PageHeader title="Audit settings" description="How long the audit log keeps evidence, the legal hold that stops deletion, the signed checkpoint that proves the log is whole, and the SIEMs it streams to."/>
        {move || action_error.get().map(crate::components::misc::action_alert)}
        <Transition fallback=|| view! { <Skeleton rows=6/> }>
            {move || Suspend::new(async move {
                let owner = me.await.is_ok_and(|m| m.role == Role::Owner);
                match retention.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(r) => view! {
                        <div class="grid grid-cols-1 gap-6 lg:grid-cols-2">
                            {retention_card(&r)}
                            <section class=CARD aria-labelledby="hold-title" data-testid="legal-hold">
                                <div class="flex items-start justify-between gap-3">
                                    <div>
                                        <h2 id="hold-title" class="text-sm font-semibold">"Legal hold"</h2>
                                        <p class="mt-1 text-sm text-zinc-500">"While a hold is in place, retention deletes and blanks nothing."</p>
                                    </div>
                                    {match &r.legal_hold {
                                        Some(_) => view! { <Badge tone=Tone::Attention label="In place"/> }.into_any(),
                                        None => view! { <Badge tone=Tone::Neutral label="None"/> }.into_any(),
                                    }}
                                </div>
                                {match r.legal_hold.clone() {
                                    Some(h) => view! {
                                        <dl class="mt-4 grid grid-cols-[auto_1fr] gap-x-6 gap-y-2 text-sm">
                                            <dt class="text-zinc-500">"Reason"</dt>
                                            <dd class="break-words" data-testid="hold-reason">{h.reason}</dd>
                                            <dt class="text-zinc-500">"Placed"</dt>
                                            <dd><AbsTime at=h.placed_at/></dd>
                                            <dt class="text-zinc-500">"By"</dt>
                                            <dd class="break-words">{h.placed_by}</dd>
                                        </dl>
                                        {owner.then(|| view! {
                                            <div class="mt-4 flex justify-end">
                                                <button type="button" class="btn-danger-outline" data-testid="lift-hold"
                                                    on:click=move |_| confirm_open.set(true)>"Lift legal hold"</button>
                                            </div>
                                        })}
                                    }.into_any(),
                                    None if owner => view! {
                                        <Show when=move || show_form.get()
                                            fallback=move || view! {
                                                <div class="mt-4 flex justify-end">
                                                    <button type="button" class="btn-secondary" data-testid="open-hold"
                                                        on:click=move |_| show_form.set(true)>"Place legal hold"</button>
                                                </div>
                                            }>
                                            <ActionForm action=place>
                                                <div class="mt-4">
                                                    <label for="hold-reason" class="mb-1.5 block text-sm font-medium">"Reason"</label>
                                                    <input id="hold-reason" name="reason" type="text" required maxlength="500" class=INPUT
                                                        placeholder="Matter 2026-114, litigation hold"/>
                                                    {reason_error}
                                                </div>
                                                <div class="mt-4 flex justify-end gap-2">
                                                    <button type="button" class="btn-secondary" on:click=move |_| show_form.set(false)>"Cancel"</button>
                                                    <button type="submit" class="btn-primary" disabled=move || place.pending().get()>
                                                        {move || if place.pending().get() { "Placing…" } else { "Place hold" }}
                                                    </button>
                                                </div>
                                            </ActionForm>
                                        </Show>
                                    }.into_any(),
                                    None => view! {
                                        <p class="mt-4 text-sm text-zinc-500">"Only owners place a legal hold."</p>
                                    }.into_any(),
                                }}
                            </section>
                            <Transition fallback=|| ()>
                                {move || Suspend::new(async move {
                                    checkpoint_card(checkpoint.await)
                                })}
                            </Transition>
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
        // Its own suspense: placing or lifting a hold reloads the retention
        // figures, not the destinations (or an open form there).
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let owner = me.await.is_ok_and(|m| m.role == Role::Owner);
                view! { <div class="mt-6 grid grid-cols-1"><StreamingSection owner/></div> }
            })}
        </Transition>
        <ConfirmDialog open=confirm_open title="Lift the legal hold?" body=lift_body confirm_label="Lift hold"
            pending=lift.pending()
            on_confirm=Callback::new(move |_| {
                lift.dispatch(LiftLegalHold {});
            })/>
    }
}

fn retention_card(r: &AuditRetention) -> impl IntoView {
    let seq = |s: Option<i64>| {
        s.map_or("None yet".to_owned(), |s| {
            format!("Through event {}", format_count(s))
        })
    };
    view! {
        <section class=CARD aria-labelledby="retention-title" data-testid="retention">
            <h2 id="retention-title" class="text-sm font-semibold">"Retention"</h2>
            <p class="mt-1 text-sm text-zinc-500">
                "Set on the host with " <code class="font-mono text-xs">"PORTCULLIS_AUDIT_RETENTION_DAYS"</code> " and "
                <code class="font-mono text-xs">"PORTCULLIS_AUDIT_DECISION_RETENTION_DAYS"</code>
                ". What is purged stays verifiable from a signed purge record."
            </p>
            <dl class="mt-4 grid grid-cols-[auto_1fr] gap-x-6 gap-y-2 text-sm">
                <dt class="text-zinc-500">"Events kept"</dt>
                <dd class="tabular-nums" data-testid="retention-days">{format!("{} days", r.retention_days)}</dd>
                <dt class="text-zinc-500">"Gateway decisions kept"</dt>
                <dd class="tabular-nums">{format!("{} days", r.decision_retention_days)}</dd>
                <dt class="text-zinc-500">"Oldest event"</dt>
                <dd>{match r.oldest_event_at {
                    Some(t) => view! { <AbsTime at=t/> }.into_any(),
                    None => view! { "—" }.into_any(),
                }}</dd>
                <dt class="text-zinc-500">"Purged"</dt>
                <dd>{seq(r.purged_through_seq)}</dd>
                <dt class="text-zinc-500">"Decisions blanked"</dt>
                <dd>{seq(r.redacted_through_seq)}</dd>
                <dt class="text-zinc-500">"Last purge"</dt>
                <dd>{match r.last_purge_at {
                    Some(t) => view! { <RelTime at=t/> }.into_any(),
                    None => view! { "Never" }.into_any(),
                }}</dd>
            </dl>
        </section>
    }
}

fn checkpoint_card(c: Result<Option<AuditCheckpoint>, crate::error::AppError>) -> impl IntoView {
    view! {
        <section class=format!("{CARD} lg:col-span-2") aria-labelledby="checkpoint-title" data-testid="checkpoint">
            <h2 id="checkpoint-title" class="text-sm font-semibold">"Signed checkpoint"</h2>
            <p class="mt-1 text-sm text-zinc-500">
                "The console signs the chain's head every 1,000 events or 10 minutes. Keep a copy outside the database: "
                <code class="font-mono text-xs">"portcullis audit verify --checkpoint FILE"</code>
                " then catches a truncated or rewritten log."
            </p>
            {match c {
                Err(e) => view! { <div class="mt-4"><ErrorPanel error=e/></div> }.into_any(),
                Ok(None) => view! { <p class="mt-4 text-sm text-zinc-500">"No checkpoint yet: the first is signed within 10 minutes of the first event."</p> }.into_any(),
                Ok(Some(c)) => {
                    let json = serde_json::to_string_pretty(&c).unwrap_or_default();
                    let href = format!("data:application/json;charset=utf-8,{}", url_encode(&json));
                    let file = format!("portcullis-checkpoint-{}.json", c.seq);
                    view! {
                        <div class="mt-4 flex flex-wrap items-center justify-between gap-3">
                            <dl class="grid grid-cols-[auto_1fr] gap-x-6 gap-y-2 text-sm">
                                <dt class="text-zinc-500">"Event"</dt>
                                <dd class="tabular-nums">{format_count(c.seq)}</dd>
                                <dt class="text-zinc-500">"Signed"</dt>
                                <dd><AbsTime at=c.signed_at/></dd>
                                <dt class="text-zinc-500">"Key"</dt>
                                <dd class="break-all font-mono text-xs">{c.kid.clone()}</dd>
                            </dl>
                            <a class="btn-secondary" href=href download=file data-testid="download-checkpoint">"Download checkpoint"</a>
                        </div>
                    }.into_any()
                }
            }}
        </section>
    }
}
