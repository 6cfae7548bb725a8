//! `/gateways`: a summary of how many gateways enforce the current policy
//! revision, the table of gateways (revoked ones last, dimmed), the Add
//! gateway dialog, the confirmations for rotating and revoking a credential,
//! and the signing keys with their rotation.

use super::api::{
    get_gateways, CreateGateway, GatewayCredential, GatewaysPageData, RevokeGateway,
    RotateGatewayCredential, RotateSigningKey,
};
use crate::access::api::list_access_servers;
use crate::auth::api::get_me;
use crate::catalog::{clip, field_error, HELP, INPUT, LABEL};
use crate::components::misc::action_alert;
use crate::components::time::{relative, zone};
use crate::components::{
    AuditEventsLink, Badge, ConfirmDialog, CopyButton, EmptyState, ErrorPanel, Notice, PageHeader,
    RelTime, SecretDialog, Skeleton, Tone,
};
use crate::directory::{CARD, TABLE_CARD};
use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;
use portcullis_types::{GatewayState, GatewaySummary, GatewaysView, Role, SigningKeySummary};

/// A table's header row (not sticky: the gateways table scrolls sideways
/// on narrow screens).
const HEAD: &str = "bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800/60";
/// A small text link.
const LINK: &str = "font-medium text-indigo-600 hover:underline dark:text-indigo-400";
/// The command that registers a gateway without the console.
const CLI: &str = "portcullis gateway create --name edge-1";
/// How much of a reported error a row shows before "Show all".
const ERROR_CLIP: usize = 140;

/// A change waiting for the admin's confirmation.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    RotateCredential { id: String, name: String },
    Revoke { id: String, name: String },
    RotateKey,
}

impl Pending {
    fn title(&self) -> String {
        match self {
            Pending::RotateCredential { name, .. } => format!("Rotate the credential of {name}?"),
            Pending::Revoke { name, .. } => format!("Revoke {name}?"),
            Pending::RotateKey => "Rotate the policy signing key?".to_owned(),
        }
    }

    fn body(&self) -> String {
        match self {
            Pending::RotateCredential { name, .. } => format!(
                "{name}'s current credential stops working at once: its next policy fetch is refused until you configure it with the new credential, which is shown once."
            ),
            Pending::Revoke { name, .. } => format!(
                "{name}'s credential stops working at once and cannot be restored. It can no longer fetch the policy or report its status; register it again to reconnect it."
            ),
            Pending::RotateKey => "The current policy revision is re-signed with a new key, and every gateway fetches the re-signed bundle at its next poll. Gateways must fetch the new key from the JWKS URL to verify it; the old key stays published for 7 days.".to_owned(),
        }
    }

    fn confirm_label(&self) -> String {
        match self {
            Pending::RotateCredential { .. } => "Rotate credential",
            Pending::Revoke { .. } => "Revoke gateway",
            Pending::RotateKey => "Rotate signing key",
        }
        .to_owned()
    }
}

/// `/gateways`.
#[component]
pub fn GatewaysPage() -> impl IntoView {
    let create = ServerAction::<CreateGateway>::new();
    let rotate = ServerAction::<RotateGatewayCredential>::new();
    let revoke = ServerAction::<RevokeGateway>::new();
    let rotate_key = ServerAction::<RotateSigningKey>::new();
    let data = Resource::new(
        move || {
            (
                create.version().get(),
                rotate.version().get(),
                revoke.version().get(),
                rotate_key.version().get(),
            )
        },
        |_| get_gateways(),
    );
    let me = Resource::new(|| (), |_| get_me());

    let show_form = RwSignal::new(false);
    let secret = RwSignal::new(None::<(String, String, GatewayCredential)>);
    let notice = RwSignal::new(None::<String>);
    let pending = RwSignal::new(None::<Pending>);
    let confirm_open = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);

    Effect::new(move |_| {
        if let Some(Ok(c)) = create.value().get() {
            show_form.set(false);
            let title = format!("Gateway “{}” added", c.name);
            let note = format!(
                "Configure {} with the policy URL and this credential (sent as Authorization: Bearer). It verifies the signed policy with the keys at the JWKS URL.",
                c.name
            );
            secret.set(Some((title, note, c)));
        }
    });
    // One effect per action, so an old result of one never reappears when
    // another finishes.
    Effect::new(move |_| {
        match rotate.value().get() {
            Some(Ok(c)) => {
                let title = format!("New credential for {}", c.name);
                let note = format!(
                    "The old credential no longer works. Give {} this one; the policy and JWKS URLs are unchanged.",
                    c.name
                );
                secret.set(Some((title, note, c)));
            }
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });
    Effect::new(move |_| {
        match revoke.value().get() {
            Some(Ok(())) => {
                let name = match pending.get_untracked() {
                    Some(Pending::Revoke { name, .. }) => name,
                    _ => "The gateway".to_owned(),
                };
                notice.set(Some(format!(
                    "{name} revoked — its credential no longer works"
                )));
            }
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });
    Effect::new(move |_| {
        match rotate_key.value().get() {
            Some(Ok(kid)) => notice.set(Some(format!(
                "Signing key rotated — new key {kid}. Gateways get the re-signed policy at their next poll."
            ))),
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });

    let ask = Callback::new(move |p: Pending| {
        action_error.set(None);
        pending.set(Some(p));
        confirm_open.set(true);
    });
    let title = Signal::derive(move || pending.get().map(|p| p.title()).unwrap_or_default());
    let body = Signal::derive(move || pending.get().map(|p| p.body()).unwrap_or_default());
    let confirm_label =
        Signal::derive(move || pending.get().map(|p| p.confirm_label()).unwrap_or_default());
    let busy = Signal::derive(move || {
        rotate.pending().get() || revoke.pending().get() || rotate_key.pending().get()
    });
    let on_confirm = Callback::new(move |_| match pending.get_untracked() {
        Some(Pending::RotateCredential { id, .. }) => {
            rotate.dispatch(RotateGatewayCredential { id });
        }
        Some(Pending::Revoke { id, .. }) => {
            revoke.dispatch(RevokeGateway { id });
        }
        Some(Pending::RotateKey) => {
            rotate_key.dispatch(RotateSigningKey {});
        }
        None => {}
    });
    let open_form = Callback::new(move |_: ()| {
        create.value().set(None);
        show_form.set(true);
    });

    view! {
        <Title text="Gateways · Portcullis"/>
        <PageHeader title="Gateways"
            description="Enforcement points in front of your MCP servers, and the policy each enforces.">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let can = me.await.map(|m| m.role >= Role::Admin).unwrap_or(false);
                    if can {
                        view! {
                            <button type="button" class="btn-primary" data-testid="open-new-gateway"
                                on:click=move |_| open_form.run(())>
                                <svg viewBox="0 0 20 20" class="h-4 w-4" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M10 4v12M4 10h12" stroke-linecap="round"/></svg>
                                "Add gateway"
                            </button>
                        }.into_any()
                    } else {
                        view_only().into_any()
                    }
                })}
            </Suspense>
        </PageHeader>

        {move || action_error.get().map(action_alert)}

        <Transition fallback=|| view! { <div class=CARD><Skeleton rows=6/></div> }>
            {move || Suspend::new(async move {
                let can = me.await.map(|m| m.role >= Role::Admin).unwrap_or(false);
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(d) => content(d, can, ask, open_form).into_any(),
                }
            })}
        </Transition>

        <Show when=move || show_form.get()>
            <AddGatewayDialog create on_cancel=Callback::new(move |_| show_form.set(false))/>
        </Show>
        <ConfirmDialog open=confirm_open title body confirm_label pending=busy on_confirm/>
        {move || secret.get().map(|(title, note, c)| view! {
            <SecretDialog title note secret=c.token secret_label="Gateway credential"
                fields=vec![
                    ("Policy URL".to_owned(), c.policy_url),
                    ("JWKS URL".to_owned(), c.jwks_url),
                ]
                on_close=Callback::new(move |_| secret.set(None))/>
        })}
        <Notice message=notice/>
    }
}

/// The badge that replaces the primary action for auditors.
fn view_only() -> impl IntoView {
    view! {
        <span class="inline-flex items-center gap-1.5 rounded-md border border-zinc-200 px-2.5 py-1 text-xs font-medium text-zinc-600 dark:border-zinc-700 dark:text-zinc-400"
            title="Owners and admins add gateways and rotate credentials and keys.">
            <svg viewBox="0 0 20 20" class="h-3.5 w-3.5" fill="none" stroke="currentColor" stroke-width="1.8" aria-hidden="true">
                <rect x="4.5" y="9" width="11" height="8" rx="1.5"/><path d="M7 9V6.5a3 3 0 016 0V9"/>
            </svg>
            "View only"
        </span>
    }
}

/// The summary, the gateways and the signing keys.
fn content(
    d: GatewaysPageData,
    can: bool,
    ask: Callback<Pending>,
    open_form: Callback<()>,
) -> impl IntoView {
    let GatewaysPageData {
        view,
        policy_url,
        jwks_url,
    } = d;
    let GatewaysView {
        current_revision,
        current_revision_at,
        gateways,
        up_to_date,
        active,
        keys,
    } = view;
    let ask = can.then_some(ask);
    let empty = gateways.is_empty();
    view! {
        {summary(current_revision, current_revision_at, &gateways, up_to_date, active)}
        <section class=format!("{TABLE_CARD} mt-6") aria-labelledby="gateways-title">
            <div class="flex flex-wrap items-baseline justify-between gap-2 border-b border-zinc-200 px-5 py-3 dark:border-zinc-800">
                <h2 id="gateways-title" class="text-sm font-semibold">"Gateways"</h2>
                <p class="text-xs text-zinc-500 dark:text-zinc-400">
                    "Policy URL " <code class="font-mono text-zinc-700 dark:text-zinc-300">{policy_url}</code>
                </p>
            </div>
            {if empty {
                empty_state(can, open_form).into_any()
            } else {
                gateways_table(gateways, ask).into_any()
            }}
        </section>
        {signing_keys(keys, jwks_url, ask)}
    }
}

/// "2 of 3 gateways enforce the current policy", with the revision, when it
/// was made, what the others are doing, and a bar of the states.
fn summary(
    current: i64,
    at: Option<chrono::DateTime<Utc>>,
    gateways: &[GatewaySummary],
    up_to_date: i64,
    active: i64,
) -> impl IntoView {
    let count = |s: GatewayState| gateways.iter().filter(|g| g.state == s).count() as i64;
    let (behind, error, stale, never) = (
        count(GatewayState::Behind),
        count(GatewayState::Error),
        count(GatewayState::Stale),
        count(GatewayState::Never),
    );
    let all = active > 0 && up_to_date == active;
    let headline = match active {
        0 => "No gateway enforces the policy yet".to_owned(),
        _ => format!(
            "{up_to_date} of {active} {} {} the current policy",
            if active == 1 { "gateway" } else { "gateways" },
            if up_to_date == 1 || active == 1 {
                "enforces"
            } else {
                "enforce"
            }
        ),
    };
    let mut others: Vec<String> = Vec::new();
    for (n, what) in [
        (behind, "behind"),
        (error, "reporting an error"),
        (stale, "not polling"),
        (never, "never connected"),
    ] {
        if n > 0 {
            others.push(format!("{n} {what}"));
        }
    }
    let (icon_class, icon_path) = if all {
        (
            "bg-emerald-50 text-emerald-600 dark:bg-emerald-500/10 dark:text-emerald-400",
            "M6.5 10.2l2.4 2.4 4.6-5",
        )
    } else if active == 0 {
        (
            "bg-zinc-100 text-zinc-500 dark:bg-zinc-800 dark:text-zinc-400",
            "M10 6.5v4M10 13.5h.01",
        )
    } else if error > 0 {
        (
            "bg-red-50 text-red-600 dark:bg-red-500/10 dark:text-red-400",
            "M10 6.5v4M10 13.5h.01",
        )
    } else {
        (
            "bg-amber-50 text-amber-600 dark:bg-amber-500/10 dark:text-amber-400",
            "M10 6.5v4M10 13.5h.01",
        )
    };
    let segments: Vec<(i64, &'static str, &'static str)> = [
        (up_to_date, "bg-emerald-500", "up to date"),
        (behind + stale, "bg-amber-400", "behind or not polling"),
        (error, "bg-red-500", "error"),
        (never, "bg-zinc-300 dark:bg-zinc-600", "never connected"),
    ]
    .into_iter()
    .filter(|(n, ..)| *n > 0)
    .collect();
    view! {
        <section class=format!("{CARD} p-5") aria-labelledby="rollout-title" data-testid="gateways-summary">
            <div class="flex items-start gap-4">
                <div class=format!("flex h-10 w-10 shrink-0 items-center justify-center rounded-full {icon_class}") aria-hidden="true">
                    <svg viewBox="0 0 20 20" class="h-5 w-5" fill="none" stroke="currentColor" stroke-width="1.8">
                        <circle cx="10" cy="10" r="7.5"/>
                        <path d=icon_path stroke-linecap="round" stroke-linejoin="round"/>
                    </svg>
                </div>
                <div class="min-w-0 flex-1">
                    <h2 id="rollout-title" class="text-base font-semibold" data-testid="rollout-headline">{headline}</h2>
                    <p class="mt-0.5 text-sm text-zinc-600 dark:text-zinc-400">
                        "Current policy revision "
                        <a href="/access/revisions" class=format!("{LINK} tabular-nums") data-testid="current-revision">{current.to_string()}</a>
                        {at.map(|at| view! { ", made " <RelTime at/> })}
                        {(!others.is_empty()).then(|| format!(" · {}", others.join(" · ")))}
                    </p>
                    {(active > 0).then(|| view! {
                        <div class="mt-3 flex h-2 w-full max-w-xl overflow-hidden rounded-full bg-zinc-100 dark:bg-zinc-800"
                            role="img" aria-label=format!("{up_to_date} of {active} gateways up to date")>
                            {segments.into_iter().map(|(n, colour, what)| view! {
                                <div class=colour style=format!("width: {}%", n as f64 * 100.0 / active as f64)
                                    title=format!("{n} {what}")></div>
                            }).collect_view()}
                        </div>
                    })}
                </div>
            </div>
        </section>
    }
}

/// No gateway yet: what one is, and the two ways to add one.
fn empty_state(can: bool, open_form: Callback<()>) -> impl IntoView {
    view! {
        <div data-testid="gateways-empty">
            <EmptyState title="No gateways yet"
                hint="A gateway sits between your people's MCP clients and your MCP servers. It fetches the signed policy from Portcullis, allows or denies every tool call, and reports which revision it enforces. Add one here or from the command line; you get a credential to configure it with.">
                <div class="flex flex-col items-center gap-3">
                    {can.then(|| view! {
                        <button type="button" class="btn-primary" on:click=move |_| open_form.run(())>"Add gateway"</button>
                    })}
                    <div class="flex items-center gap-2">
                        <code class="rounded-md border border-zinc-200 bg-zinc-50 px-3 py-1.5 font-mono text-xs text-zinc-700 dark:border-zinc-700 dark:bg-zinc-950 dark:text-zinc-300">{CLI}</code>
                        <CopyButton value=CLI label="Copy command" compact=true/>
                    </div>
                </div>
            </EmptyState>
        </div>
    }
}

fn gateways_table(gateways: Vec<GatewaySummary>, ask: Option<Callback<Pending>>) -> impl IntoView {
    view! {
        <div class="overflow-x-auto">
            <table class="min-w-full text-sm" data-testid="gateways-table">
                <caption class="sr-only">"Gateways and the policy revision each enforces"</caption>
                <thead class=HEAD>
                    <tr>
                        <th scope="col" class="px-3 py-3 pl-4">"Gateway"</th>
                        <th scope="col" class="px-3 py-3">"Status"</th>
                        <th scope="col" class="px-3 py-3">"Enforces"</th>
                        <th scope="col" class="px-3 py-3">"Last contact"</th>
                        <th scope="col" class="px-3 py-3">"Software"</th>
                        <th scope="col" class="px-3 py-3 pr-4">"Credential"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                    {gateways.into_iter().map(|g| gateway_row(g, ask)).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The badge of a gateway's state.
fn state_badge(state: GatewayState) -> impl IntoView {
    let tone = match state {
        GatewayState::Current => Tone::Ok,
        GatewayState::Behind | GatewayState::Stale => Tone::Attention,
        GatewayState::Error => Tone::Danger,
        GatewayState::Never | GatewayState::Revoked => Tone::Neutral,
    };
    view! { <Badge tone label=state.label()/> }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The line under the state badge: how far behind, the error, or since when.
fn state_detail(g: &GatewaySummary) -> Option<AnyView> {
    let behind = g
        .lag
        .filter(|n| *n > 0)
        .map(|n| plural(n, "revision behind", "revisions behind"));
    let line = "mt-1 text-xs text-zinc-500 dark:text-zinc-400";
    match g.state {
        GatewayState::Current => None,
        GatewayState::Behind => behind.map(|b| view! { <p class=line>{b}</p> }.into_any()),
        GatewayState::Error => {
            let full = g.last_error.clone().unwrap_or_default();
            let (short, clipped) = clip(&full, ERROR_CLIP);
            Some(
                view! {
                    <div class="mt-1 max-w-[18rem] text-xs" data-testid="gateway-error">
                        {if clipped {
                            view! {
                                <details>
                                    <summary class="cursor-pointer break-words text-red-700 dark:text-red-300">{format!("{short}…")}</summary>
                                    <p class="mt-1 whitespace-pre-wrap break-words text-red-700 dark:text-red-300">{full}</p>
                                </details>
                            }.into_any()
                        } else {
                            view! { <p class="whitespace-pre-wrap break-words text-red-700 dark:text-red-300">{full}</p> }.into_any()
                        }}
                        {g.last_error_at.map(|at| view! { <p class="mt-0.5 text-zinc-500 dark:text-zinc-400">"Reported " <RelTime at/></p> })}
                        {behind.map(|b| view! { <p class="text-zinc-500 dark:text-zinc-400">{b}</p> })}
                    </div>
                }
                .into_any(),
            )
        }
        GatewayState::Stale => {
            let seen = g.last_poll_at.max(g.reported_at);
            Some(
                view! {
                    <p class=line>
                        {move || seen.map(|at| format!("Last contact {}", relative(at, Utc::now(), &zone())))}
                        {behind.map(|b| format!(" · {b}"))}
                    </p>
                }
                .into_any(),
            )
        }
        GatewayState::Never => {
            Some(view! { <p class=line>"Waiting for its first poll"</p> }.into_any())
        }
        GatewayState::Revoked => g
            .revoked_at
            .map(|at| view! { <p class=line>"Revoked " <RelTime at/></p> }.into_any()),
    }
}

/// "Polled 3 min ago", or what to say when it never happened.
fn contact(label: &'static str, at: Option<chrono::DateTime<Utc>>, never: &'static str) -> AnyView {
    match at {
        Some(at) => view! { {label} " " <RelTime at/> }.into_any(),
        None => view! { <span class="text-zinc-400">{never}</span> }.into_any(),
    }
}

fn gateway_row(g: GatewaySummary, ask: Option<Callback<Pending>>) -> impl IntoView {
    let revoked = g.state == GatewayState::Revoked;
    let detail = state_detail(&g);
    let (description, desc_clipped) = clip(&g.description, 120);
    let servers = g
        .servers
        .iter()
        .map(|s| s.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let enforced = match (g.active_revision, g.served_revision) {
        (Some(r), _) => Some((r, "reported")),
        (None, Some(r)) => Some((r, "sent, unconfirmed")),
        (None, None) => None,
    };
    let actions = ask.filter(|_| !revoked).map(|ask| {
        let (id, name) = (g.id.clone(), g.name.clone());
        let (id2, name2) = (g.id.clone(), g.name.clone());
        view! {
            <div class="mt-1.5 flex items-center gap-1 whitespace-nowrap">
                <button type="button" class="btn-secondary px-2 py-0.5 text-xs" data-testid="rotate-credential"
                    aria-label=format!("Rotate the credential of {}", g.name) title="Issue a new credential; the old one stops working"
                    on:click=move |_| ask.run(Pending::RotateCredential { id: id.clone(), name: name.clone() })>
                    "Rotate"
                </button>
                <button type="button" class="rounded-md px-2 py-0.5 text-xs font-medium text-red-700 hover:bg-red-50 dark:text-red-400 dark:hover:bg-red-500/10"
                    data-testid="revoke-gateway" aria-label=format!("Revoke {}", g.name)
                    on:click=move |_| ask.run(Pending::Revoke { id: id2.clone(), name: name2.clone() })>
                    "Revoke"
                </button>
            </div>
        }
    });
    view! {
        <tr class=if revoked { "align-top opacity-60" } else { "align-top hover:bg-zinc-50 dark:hover:bg-zinc-800/40" }
            data-testid="gateway-row" data-name=g.name.clone() data-state=format!("{:?}", g.state).to_lowercase()>
            <td class="max-w-[14rem] py-3 pr-3 pl-4">
                <p class="truncate font-medium" title=g.name.clone()>{g.name.clone()}</p>
                {(!description.is_empty()).then(|| {
                    let title = g.description.clone();
                    view! {
                        <p class="text-xs text-zinc-500 dark:text-zinc-400 break-words" title=title>
                            {if desc_clipped { format!("{description}…") } else { description }}
                        </p>
                    }
                })}
                <p class="mt-0.5 truncate text-xs text-zinc-500 dark:text-zinc-400" title=servers.clone()>
                    {if servers.is_empty() {
                        "Fronts: not specified".to_owned()
                    } else {
                        format!("Fronts: {servers}")
                    }}
                </p>
                <AuditEventsLink id=g.id.clone() compact=true/>
            </td>
            <td class="px-3 py-3">
                {state_badge(g.state)}
                {detail}
            </td>
            <td class="px-3 py-3 whitespace-nowrap">
                {match enforced {
                    Some((r, how)) => view! {
                        <span class="font-mono font-medium tabular-nums" title=format!("Revision {r}, {how} by the gateway")>{format!("#{r}")}</span>
                        <p class="text-xs text-zinc-500 dark:text-zinc-400">{how}</p>
                    }.into_any(),
                    None => view! { <span class="text-zinc-400">"—"</span> }.into_any(),
                }}
            </td>
            <td class="px-3 py-3 whitespace-nowrap text-zinc-600 dark:text-zinc-400">
                <p>{contact("Polled", g.last_poll_at, "Never polled")}</p>
                <p class="text-xs">{contact("Reported", g.reported_at, "No status report")}</p>
            </td>
            <td class="max-w-[9rem] px-3 py-3">
                {match g.software.clone() {
                    Some(s) => {
                        let title = s.clone();
                        view! { <span class="block truncate font-mono text-xs" title=title data-testid="gateway-software">{s}</span> }.into_any()
                    }
                    None => view! { <span class="text-zinc-400">"—"</span> }.into_any(),
                }}
            </td>
            <td class="py-3 pr-4 pl-3 whitespace-nowrap">
                <code class="font-mono text-xs text-zinc-600 dark:text-zinc-400" title="Last four characters of the credential">
                    {format!("…{}", g.token_hint)}
                </code>
                {actions}
            </td>
        </tr>
    }
}

/// The policy signing keys, the JWKS link and the rotation.
fn signing_keys(
    keys: Vec<SigningKeySummary>,
    jwks_url: String,
    ask: Option<Callback<Pending>>,
) -> impl IntoView {
    view! {
        <section class=format!("{TABLE_CARD} mt-6") aria-labelledby="keys-title" data-testid="signing-keys">
            <div class="flex items-start justify-between gap-4 border-b border-zinc-200 px-5 py-4 dark:border-zinc-800">
                <div class="min-w-0 flex-1">
                    <h2 id="keys-title" class="text-sm font-semibold">"Signing keys"</h2>
                    <p class="mt-0.5 text-sm text-zinc-500 dark:text-zinc-400">
                        "Every policy bundle is signed (EdDSA); gateways verify it with the public keys at "
                        <a href="/.well-known/jwks.json" class=format!("{LINK} font-mono text-xs") target="_blank" rel="noopener">{jwks_url}</a>
                        "."
                    </p>
                </div>
                {ask.map(|ask| view! {
                    <button type="button" class="btn-secondary shrink-0" data-testid="rotate-signing-key"
                        on:click=move |_| ask.run(Pending::RotateKey)>"Rotate signing key"</button>
                })}
            </div>
            {if keys.is_empty() {
                view! {
                    <p class="px-5 py-4 text-sm text-zinc-500 dark:text-zinc-400">
                        "No key yet: the first one is made when the policy is first published."
                    </p>
                }.into_any()
            } else {
                view! {
                    <div class="overflow-x-auto">
                        <table class="min-w-full text-sm" data-testid="keys-table">
                            <thead class=HEAD>
                                <tr>
                                    <th scope="col" class="px-4 py-3">"Key id"</th>
                                    <th scope="col" class="px-4 py-3">"Status"</th>
                                    <th scope="col" class="px-4 py-3">"Created"</th>
                                    <th scope="col" class="px-4 py-3">"Retired"</th>
                                    <th scope="col" class="px-4 py-3">"In the JWKS"</th>
                                </tr>
                            </thead>
                            <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                {keys.into_iter().map(key_row).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

fn key_row(k: SigningKeySummary) -> impl IntoView {
    let active = k.status == "active";
    view! {
        <tr data-testid="key-row" data-status=k.status.clone()>
            <td class="px-4 py-3">
                <code class="font-mono text-xs">{k.kid.clone()}</code>
                <span class="ml-2 text-xs text-zinc-500">{k.alg.clone()}</span>
            </td>
            <td class="px-4 py-3">
                {if active {
                    view! { <Badge tone=Tone::Ok label="Active"/> }.into_any()
                } else {
                    view! { <Badge tone=Tone::Neutral label="Retired"/> }.into_any()
                }}
            </td>
            <td class="px-4 py-3 text-zinc-600 dark:text-zinc-400"><RelTime at=k.created_at/></td>
            <td class="px-4 py-3 text-zinc-600 dark:text-zinc-400">
                {match k.retired_at {
                    Some(at) => view! { <RelTime at/> }.into_any(),
                    None => view! { <span class="text-zinc-400">"—"</span> }.into_any(),
                }}
            </td>
            <td class="px-4 py-3">
                {if k.published {
                    view! { <span>"Published"</span> }.into_any()
                } else {
                    view! { <span class="text-zinc-400">"No longer published"</span> }.into_any()
                }}
            </td>
        </tr>
    }
}

/// The Add gateway dialog: name, description and the servers it fronts.
/// Field errors appear next to their fields; the dialog stays open until
/// the gateway is created.
#[component]
fn AddGatewayDialog(create: ServerAction<CreateGateway>, on_cancel: Callback<()>) -> impl IntoView {
    let servers = Resource::new(|| (), |_| list_access_servers());
    let err = move || create.value().get().and_then(|r| r.err());
    view! {
        <div class="fixed inset-0 z-40 flex items-start justify-center overflow-y-auto bg-zinc-950/50 p-4 sm:items-center" role="presentation">
            <div role="dialog" aria-modal="true" aria-labelledby="new-gateway-title" data-testid="new-gateway-dialog"
                class="w-full max-w-lg rounded-xl border border-zinc-200 bg-white p-6 shadow-xl dark:border-zinc-700 dark:bg-zinc-900">
                <h2 id="new-gateway-title" class="text-base font-semibold">"Add a gateway"</h2>
                <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">
                    "You get a credential for it (shown once) and the URLs to configure it with."
                </p>
                {move || err().filter(|e| e.fields.is_empty()).map(|e| view! { <div class="mt-4">{action_alert(e.message)}</div> })}
                <ActionForm action=create>
                    <div class="mt-4 space-y-4">
                        <div>
                            <label for="gw-name" class=LABEL>"Name"</label>
                            <input id="gw-name" name="name" type="text" required maxlength="100" autocomplete="off" class=INPUT placeholder="edge-eu-1"/>
                            <p class=HELP>"How the gateway appears here and in the audit log. Must be unique."</p>
                            {move || field_error("name", "Name", err())}
                        </div>
                        <div>
                            <label for="gw-desc" class=LABEL>"Description " <span class="font-normal text-zinc-500">"(optional)"</span></label>
                            <input id="gw-desc" name="description" type="text" maxlength="500" class=INPUT placeholder="Envoy in front of the EU MCP servers"/>
                            {move || field_error("description", "Description", err())}
                        </div>
                        <fieldset>
                            <legend class=LABEL>"Servers it fronts " <span class="font-normal text-zinc-500">"(optional)"</span></legend>
                            <Suspense fallback=|| view! { <Skeleton rows=2/> }>
                                {move || Suspend::new(async move {
                                    match servers.await {
                                        Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                                        Ok(list) if list.is_empty() => view! {
                                            <p class="text-sm text-zinc-500">"No servers in the catalog yet. You can add the gateway now and say later."</p>
                                        }.into_any(),
                                        Ok(list) => view! {
                                            <div class="grid max-h-48 gap-1 overflow-y-auto rounded-lg border border-zinc-200 p-2 dark:border-zinc-700 sm:grid-cols-2" data-testid="server-choices">
                                                {list.into_iter().map(|s| {
                                                    let id = format!("gw-server-{}", s.id);
                                                    let for_id = id.clone();
                                                    view! {
                                                        <label for=for_id class="flex cursor-pointer items-center gap-2.5 rounded-md px-2 py-1.5 hover:bg-zinc-50 dark:hover:bg-zinc-800/60">
                                                            <input id=id type="checkbox" name="server_ids[]" value=s.id.clone()
                                                                class="h-4 w-4 rounded border-zinc-300 text-indigo-600 focus:ring-indigo-500 dark:border-zinc-600 dark:bg-zinc-900"/>
                                                            <span class="min-w-0 truncate text-sm" title=s.slug.clone()>{s.name.clone()}</span>
                                                        </label>
                                                    }
                                                }).collect_view()}
                                            </div>
                                        }.into_any(),
                                    }
                                })}
                            </Suspense>
                            <p class=HELP>"For your overview only: the gateway receives the whole policy either way."</p>
                            {move || field_error("server_ids", "Servers", err())}
                        </fieldset>
                    </div>
                    <div class="mt-6 flex justify-end gap-2">
                        <button type="button" class="btn-secondary" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                        <button type="submit" class="btn-primary" disabled=move || create.pending().get()>
                            {move || if create.pending().get() { "Adding…" } else { "Add gateway" }}
                        </button>
                    </div>
                </ActionForm>
            </div>
        </div>
    }
}
