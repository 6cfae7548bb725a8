//! Settings → Directories: the SCIM connections of identity providers.
//! Everyone can look; owners and admins create directories and rotate or
//! revoke their bearer tokens (the service refuses auditors, and the page
//! says so). A token is shown once, next to the SCIM base URL, in a dialog.
//! The detail view lists the directory's tokens and its recent failed SCIM
//! requests, so an admin can see why an IdP's changes do not arrive.

use super::api::{
    get_directory, list_directories, CreateDirectory, RevokeScimToken, RotateScimToken,
};
use super::{CARD, ROW_LINK, TABLE_CARD, THEAD};
use crate::components::misc::{action_alert, format_count};
use crate::components::time;
use crate::components::{
    AbsTime, Badge, Breadcrumbs, ConfirmDialog, CopyButton, CopyValue, EmptyState, ErrorPanel,
    PageHeader, RelTime, SecretDialog, Skeleton, Tone,
};
use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use portcullis_types::{
    DirectoryDetail, DirectorySummary, NewScimToken, ScimRequestSummary, ScimTokenSummary,
};

const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";
/// Hours a rotated-out token keeps working (matches the service default).
const OVERLAP_HOURS: i64 = 24;

/// The dialog that shows a new token once, with the URL to paste next to it.
fn token_dialog(t: NewScimToken, title: String, on_close: Callback<()>) -> impl IntoView {
    let note = format!(
        "Paste both into {}: in Okta, Provisioning → Integration (SCIM connector base URL, and the token as an HTTP Header / Bearer); in Entra ID, Provisioning → Admin credentials (Tenant URL and Secret token).",
        t.directory_name
    );
    view! {
        <SecretDialog title note secret=t.token secret_label="Bearer token"
            fields=vec![("SCIM base URL".to_owned(), t.base_url)] on_close/>
    }
}

/// `/settings/directories`.
#[component]
pub fn DirectoriesPage() -> impl IntoView {
    let create = ServerAction::<CreateDirectory>::new();
    let directories = Resource::new(move || create.version().get(), |_| list_directories());
    let show_form = RwSignal::new(false);
    let created = RwSignal::new(None::<NewScimToken>);
    Effect::new(move |_| {
        if let Some(Ok(t)) = create.value().get() {
            show_form.set(false);
            created.set(Some(t));
        }
    });
    view! {
        <Title text="Directories · Portcullis"/>
        <PageHeader title="Directories" description="SCIM connections from your identity providers, each with its own bearer token.">
            <button type="button" class="btn-primary" on:click=move |_| show_form.set(true) data-testid="open-new-directory">
                "New directory"
            </button>
        </PageHeader>

        <Show when=move || show_form.get()>
            <section class=format!("{CARD} mb-6 p-5") aria-labelledby="new-dir-title">
                <h2 id="new-dir-title" class="text-sm font-semibold">"Connect an identity provider"</h2>
                <p class="mt-1 text-sm text-zinc-500">"You get the SCIM base URL and a bearer token to paste into the IdP. The token is shown once."</p>
                {move || create.value().get().and_then(|r| r.err()).filter(|e| e.field("name").is_none()).map(|e| view! {
                    <p role="alert" data-testid="action-error" class="mt-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">{e.message}</p>
                })}
                <ActionForm action=create>
                    <div class="mt-4 max-w-md">
                        <label for="dir-name" class="mb-1.5 block text-sm font-medium">"Name"</label>
                        <input id="dir-name" name="name" type="text" required maxlength="80" class=INPUT placeholder="Okta"/>
                        <p class="mt-1 text-xs text-zinc-500">"Usually the IdP's name: Okta, Entra ID, Google Workspace. Shown in lists and the audit log."</p>
                        {move || create.value().get().and_then(|r| r.err()).and_then(|e| e.field("name")).map(|m| view! {
                            <p class="mt-1 text-xs text-red-600" role="alert">"Name: " {m}</p>
                        })}
                    </div>
                    <div class="mt-4 flex justify-end gap-2">
                        <button type="button" class="btn-secondary" on:click=move |_| show_form.set(false)>"Cancel"</button>
                        <button type="submit" class="btn-primary" disabled=move || create.pending().get()>
                            {move || if create.pending().get() { "Creating…" } else { "Create directory" }}
                        </button>
                    </div>
                </ActionForm>
            </section>
        </Show>

        <div class=TABLE_CARD>
            <Transition fallback=|| view! { <Skeleton rows=4/> }>
                {move || Suspend::new(async move {
                    match directories.await {
                        Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No SCIM directory yet"
                                hint="Create one and paste its URL and token into Okta or Entra ID. The people and groups it pushes show up under Directory."/>
                        }.into_any(),
                        Ok(list) => view! {
                            <table class="min-w-full text-sm" data-testid="directories-table">
                                <thead class=THEAD>
                                    <tr>
                                        <th scope="col" class="px-4 py-3">"Directory"</th>
                                        <th scope="col" class="px-4 py-3 text-right">"Users"</th>
                                        <th scope="col" class="px-4 py-3 text-right">"Groups"</th>
                                        <th scope="col" class="px-4 py-3">"Last request"</th>
                                        <th scope="col" class="px-4 py-3">"Tokens"</th>
                                        <th scope="col" class="px-4 py-3">"Errors (24 h)"</th>
                                    </tr>
                                </thead>
                                <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                    {list.into_iter().map(directory_row).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Transition>
        </div>

        {move || created.get().map(|t| {
            let title = format!("Directory “{}” created", t.directory_name);
            token_dialog(t, title, Callback::new(move |_| created.set(None)))
        })}
    }
}

/// A badge for a count of failed requests: amber when there are any.
fn errors_badge(n: i64) -> AnyView {
    if n > 0 {
        view! { <Badge tone=Tone::Attention label=format!("{} failed", format_count(n))/> }
            .into_any()
    } else {
        view! { <span class="text-zinc-400">"None"</span> }.into_any()
    }
}

fn directory_row(d: DirectorySummary) -> impl IntoView {
    view! {
        <tr class="relative hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="directory-row" data-name=d.name.clone()>
            <td class="max-w-[18rem] px-4 py-3">
                <a href=format!("/settings/directories/{}", d.id) class=format!("block truncate {ROW_LINK}")>{d.name.clone()}</a>
                <p class="text-xs text-zinc-500">"Created " <RelTime at=d.created_at/></p>
            </td>
            <td class="px-4 py-3 text-right tabular-nums">
                {format_count(d.users)}
                <span class="text-zinc-500">{format!(" · {} active", format_count(d.active_users))}</span>
            </td>
            <td class="px-4 py-3 text-right tabular-nums">{format_count(d.groups)}</td>
            <td class="px-4 py-3 text-zinc-600 dark:text-zinc-400">
                {match d.last_request_at {
                    Some(t) => view! { <RelTime at=t/> }.into_any(),
                    None => view! { <span class="text-zinc-400">"Never"</span> }.into_any(),
                }}
            </td>
            <td class="px-4 py-3">
                {match d.active_tokens {
                    0 => view! { <Badge tone=Tone::Danger label="No active token"/> }.into_any(),
                    1 => view! { <span>"1 active"</span> }.into_any(),
                    n => view! { <span>{format!("{n} active")}</span> }.into_any(),
                }}
            </td>
            <td class="px-4 py-3">{errors_badge(d.errors_24h)}</td>
        </tr>
    }
}

/// A dangerous action waiting for confirmation.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    Rotate {
        directory: String,
    },
    Revoke {
        directory: String,
        token: ScimTokenSummary,
    },
}

/// `/settings/directories/{id}`.
#[component]
pub fn DirectoryPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let rotate = ServerAction::<RotateScimToken>::new();
    let revoke = ServerAction::<RevokeScimToken>::new();
    let detail = Resource::new(
        move || (id(), rotate.version().get(), revoke.version().get()),
        |(id, ..)| get_directory(id),
    );
    let pending = RwSignal::new(None::<Pending>);
    let confirm_open = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);
    let new_token = RwSignal::new(None::<NewScimToken>);
    // One effect per action, so an old result of one never reappears when
    // the other finishes.
    Effect::new(move |_| {
        match rotate.value().get() {
            Some(Ok(t)) => new_token.set(Some(t)),
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });
    Effect::new(move |_| {
        match revoke.value().get() {
            Some(Ok(())) => {}
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });
    let busy = Signal::derive(move || rotate.pending().get() || revoke.pending().get());
    let title = Signal::derive(move || match pending.get() {
        Some(Pending::Rotate { directory }) => format!("Rotate the SCIM token of {directory}?"),
        Some(Pending::Revoke { directory, token }) => {
            format!("Revoke token …{} of {directory}?", token.hint)
        }
        None => String::new(),
    });
    let body = Signal::derive(move || {
        match pending.get() {
        Some(Pending::Rotate { directory }) => format!(
            "A new token is created and shown once. {directory}'s current token keeps working for {OVERLAP_HOURS} hours, so you can paste the new one into {directory} without failed requests; after that the old token stops working."
        ),
        Some(Pending::Revoke { directory, .. }) => format!(
            "{directory}'s requests with this token will fail immediately (401). Provisioning stops until {directory} uses another active token: rotate first if it has none."
        ),
        None => String::new(),
    }
    });
    let confirm_label = Signal::derive(move || match pending.get() {
        Some(Pending::Rotate { .. }) => "Rotate token".to_owned(),
        Some(Pending::Revoke { .. }) => "Revoke token".to_owned(),
        None => String::new(),
    });
    let on_confirm = Callback::new(move |_| {
        action_error.set(None);
        match pending.get_untracked() {
            Some(Pending::Rotate { .. }) => {
                rotate.dispatch(RotateScimToken {
                    directory_id: id(),
                    overlap_hours: OVERLAP_HOURS,
                });
            }
            Some(Pending::Revoke { token, .. }) => {
                revoke.dispatch(RevokeScimToken {
                    directory_id: id(),
                    token_id: token.id,
                });
            }
            None => {}
        }
    });
    let ask = move |p: Pending| {
        pending.set(Some(p));
        confirm_open.set(true);
    };

    view! {
        <Title text="Directory · Portcullis"/>
        <Transition fallback=|| view! { <Skeleton rows=8/> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => view! {
                        <Breadcrumbs crumbs=crumbs(None)/>
                        <ErrorPanel error=e/>
                    }.into_any(),
                    Ok(d) => directory_view(d, ask, action_error).into_any(),
                }
            })}
        </Transition>
        <ConfirmDialog open=confirm_open title body confirm_label pending=busy on_confirm/>
        {move || new_token.get().map(|t| {
            let title = format!("New token for {}", t.directory_name);
            token_dialog(t, title, Callback::new(move |_| new_token.set(None)))
        })}
    }
}

fn crumbs(name: Option<String>) -> Vec<(String, Option<String>)> {
    vec![
        ("Settings".into(), None),
        ("Directories".into(), Some("/settings/directories".into())),
        (name.unwrap_or_else(|| "Directory".into()), None),
    ]
}

fn directory_view(
    d: DirectoryDetail,
    ask: impl Fn(Pending) + Copy + Send + Sync + 'static,
    action_error: RwSignal<Option<String>>,
) -> impl IntoView {
    let s = d.summary.clone();
    let name = s.name.clone();
    let rotate_name = name.clone();
    let now = Utc::now();
    view! {
        <Breadcrumbs crumbs=crumbs(Some(name.clone()))/>
        <div class="mb-6 flex flex-wrap items-start justify-between gap-4">
            <div class="min-w-0">
                <h1 class="truncate text-2xl font-semibold tracking-tight">{name.clone()}</h1>
                <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">"SCIM directory · created " <RelTime at=s.created_at/></p>
            </div>
            <button type="button" class="btn-secondary" data-testid="rotate-token"
                on:click=move |_| ask(Pending::Rotate { directory: rotate_name.clone() })>
                "Rotate token"
            </button>
        </div>
        {move || action_error.get().map(action_alert)}
        <section class=format!("{CARD} mb-6 p-5") data-testid="directory-summary">
            <dl class="grid grid-cols-2 gap-x-8 gap-y-4 text-sm lg:grid-cols-4">
                <div>
                    <dt class="text-xs text-zinc-500">"Users"</dt>
                    <dd class="mt-1 text-lg font-semibold tabular-nums">
                        <a class="hover:underline" href=format!("/directory/users?directory={}", s.id)>{format_count(s.users)}</a>
                        <span class="text-sm font-normal text-zinc-500">{format!(" ({} active)", format_count(s.active_users))}</span>
                    </dd>
                </div>
                <div>
                    <dt class="text-xs text-zinc-500">"Groups"</dt>
                    <dd class="mt-1 text-lg font-semibold tabular-nums">
                        <a class="hover:underline" href=format!("/directory/groups?directory={}", s.id)>{format_count(s.groups)}</a>
                    </dd>
                </div>
                <div>
                    <dt class="text-xs text-zinc-500">"Last request"</dt>
                    <dd class="mt-1">{match s.last_request_at {
                        Some(t) => view! { <RelTime at=t/> }.into_any(),
                        None => view! { <span class="text-zinc-400">"Never — the IdP has not called yet"</span> }.into_any(),
                    }}</dd>
                </div>
                <div>
                    <dt class="text-xs text-zinc-500">"Failed requests (24 h)"</dt>
                    <dd class="mt-1">{errors_badge(s.errors_24h)}</dd>
                </div>
            </dl>
            <div class="mt-5 grid grid-cols-1 gap-4 border-t border-zinc-100 pt-4 dark:border-zinc-800 lg:grid-cols-2">
                <div class="min-w-0">
                    <p class="text-xs text-zinc-500">"SCIM base URL (paste into the IdP)"</p>
                    <div class="mt-1 flex items-center gap-2">
                        <code class="min-w-0 flex-1 truncate rounded-md border border-zinc-200 bg-zinc-50 px-3 py-1.5 font-mono text-xs dark:border-zinc-700 dark:bg-zinc-950"
                            data-testid="scim-base-url">{d.base_url.clone()}</code>
                        <CopyButton value=d.base_url.clone() label="Copy SCIM base URL"/>
                    </div>
                </div>
                <div class="min-w-0">
                    <p class="text-xs text-zinc-500">"Directory id"</p>
                    <div class="mt-1"><CopyValue value=s.id.clone() label="Copy directory id"/></div>
                </div>
            </div>
        </section>

        <h2 class="mb-2 text-sm font-semibold">"Bearer tokens"</h2>
        <p class="mb-3 text-sm text-zinc-500">"Only a hash and the last four characters are stored. Rotate to get a new token; the current one keeps working for 24 hours."</p>
        <div class=format!("{TABLE_CARD} mb-8")>
            <table class="min-w-full text-sm" data-testid="tokens-table">
                <thead class=THEAD>
                    <tr>
                        <th scope="col" class="px-4 py-3">"Token"</th>
                        <th scope="col" class="px-4 py-3">"Created"</th>
                        <th scope="col" class="px-4 py-3">"Last used"</th>
                        <th scope="col" class="px-4 py-3">"Status"</th>
                        <th scope="col" class="px-4 py-3"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                    {d.tokens.into_iter().map(|t| token_row(t, name.clone(), now, ask)).collect_view()}
                </tbody>
            </table>
        </div>

        <h2 class="mb-2 text-sm font-semibold">"Recent failed SCIM requests"</h2>
        <p class="mb-3 text-sm text-zinc-500">"The last 200 requests from this directory that Portcullis refused, newest first, with the reason it gave the IdP."</p>
        <div class=TABLE_CARD>
            {if d.recent_errors.is_empty() {
                view! {
                    <EmptyState title="No failed requests"
                        hint="When an IdP's requests fail (a revoked token, an invalid attribute, a duplicate userName), they show up here with the reason."/>
                }.into_any()
            } else {
                view! {
                    <div class="overflow-x-auto">
                    <table class="min-w-full text-sm" data-testid="failed-requests">
                        <thead class="bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800">
                            <tr>
                                <th scope="col" class="px-4 py-3">"Time"</th>
                                <th scope="col" class="px-4 py-3">"Request"</th>
                                <th scope="col" class="px-4 py-3">"Status"</th>
                                <th scope="col" class="px-4 py-3">"scimType"</th>
                                <th scope="col" class="px-4 py-3">"Detail"</th>
                            </tr>
                        </thead>
                        <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                            {d.recent_errors.into_iter().map(request_row).collect_view()}
                        </tbody>
                    </table>
                    </div>
                }.into_any()
            }}
        </div>
    }
}

fn token_row(
    t: ScimTokenSummary,
    directory: String,
    now: chrono::DateTime<Utc>,
    ask: impl Fn(Pending) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let (status, usable) = match (t.revoked_at, t.expires_at) {
        (Some(at), _) => (
            view! {
                <Badge tone=Tone::Neutral label="Revoked"/>
                <span class="ml-2 text-xs text-zinc-500"><RelTime at/></span>
            }
            .into_any(),
            false,
        ),
        (None, Some(at)) if at > now => (
            view! {
                <span title=move || time::hover(at, &time::zone())>
                    {move || {
                        let zone = time::zone();
                        let when = time::local(at, &zone).format("%b %-d, %H:%M");
                        let utc = if time::is_utc(&zone) { " UTC" } else { "" };
                        view! { <Badge tone=Tone::Attention label=format!("Expiring {when}{utc}")/> }
                    }}
                </span>
            }
            .into_any(),
            true,
        ),
        (None, Some(at)) => (
            view! {
                <Badge tone=Tone::Neutral label="Expired"/>
                <span class="ml-2 text-xs text-zinc-500"><RelTime at/></span>
            }
            .into_any(),
            false,
        ),
        (None, None) => (view! { <Badge tone=Tone::Ok label="Active"/> }.into_any(), true),
    };
    let hint = t.hint.clone();
    let for_revoke = t.clone();
    view! {
        <tr data-testid="token-row" data-hint=hint.clone()>
            <td class="px-4 py-3 font-mono text-xs">{format!("…{hint}")}</td>
            <td class="px-4 py-3"><AbsTime at=t.created_at/></td>
            <td class="px-4 py-3 text-zinc-600 dark:text-zinc-400">{match t.last_used_at {
                Some(at) => view! { <RelTime at/> }.into_any(),
                None => view! { <span class="text-zinc-400">"Never"</span> }.into_any(),
            }}</td>
            <td class="px-4 py-3 whitespace-nowrap">{status}</td>
            <td class="px-4 py-3 text-right">
                {usable.then(|| view! {
                    <button type="button" class="btn-danger-outline text-xs"
                        on:click=move |_| ask(Pending::Revoke { directory: directory.clone(), token: for_revoke.clone() })>
                        "Revoke"
                    </button>
                })}
            </td>
        </tr>
    }
}

fn request_row(r: ScimRequestSummary) -> impl IntoView {
    let tone = if r.status >= 500 {
        Tone::Danger
    } else {
        Tone::Attention
    };
    let detail = r.detail.clone().unwrap_or_default();
    let short: String = detail.chars().take(90).collect();
    let clipped = short.len() < detail.len();
    view! {
        <tr class="align-top" data-testid="failed-request">
            <td class="px-4 py-2.5 text-zinc-600 dark:text-zinc-400"><RelTime at=r.at/></td>
            <td class="max-w-[20rem] px-4 py-2.5">
                <p class="truncate font-mono text-xs" title=r.path.clone()>
                    <span class="font-semibold">{r.method.clone()}</span> " " {r.path.clone()}
                </p>
            </td>
            <td class="px-4 py-2.5"><Badge tone label=r.status.to_string()/></td>
            <td class="px-4 py-2.5 font-mono text-xs text-zinc-600 dark:text-zinc-400">{r.scim_type.clone().unwrap_or_else(|| "—".into())}</td>
            <td class="max-w-[28rem] px-4 py-2.5 text-zinc-700 dark:text-zinc-300">
                {if clipped {
                    view! {
                        <details>
                            <summary class="cursor-pointer">{format!("{short}…")}</summary>
                            <p class="mt-1 break-words">{detail}</p>
                        </details>
                    }.into_any()
                } else {
                    view! { <span class="break-words">{detail}</span> }.into_any()
                }}
            </td>
        </tr>
    }
}
