//! Settings → API keys: the service accounts of the admin REST API. Owners
//! create keys (admin or auditor role, optional expiry; the secret is shown
//! once) and revoke them; everyone sees which keys exist, their last use
//! and where from. Links to the API reference.

pub mod api;
pub mod reference;

use crate::auth::api::get_me;
use crate::components::{
    AbsTime, Badge, ConfirmDialog, EmptyState, ErrorPanel, PageHeader, RelTime, RoleBadge,
    SecretDialog, Skeleton, Tone,
};
use api::{list_api_keys, CreateApiKey, RevokeApiKey};
use leptos::prelude::*;
use leptos_meta::Title;
use portcullis_types::{ApiKeyStatus, ApiKeySummary, Role};

const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";

/// `/settings/api-keys`.
#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let me = Resource::new(|| (), |_| get_me());
    let show_form = RwSignal::new(false);
    let secret = RwSignal::new(None::<(String, String)>);
    Effect::new(move |_| {
        if let Some(Ok(k)) = create.value().get() {
            show_form.set(false);
            secret.set(Some((k.key.name, k.secret)));
        }
    });
    let pending = RwSignal::new(None::<ApiKeySummary>);
    let confirm_open = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        match revoke.value().get() {
            Some(Ok(())) => action_error.set(None),
            Some(Err(e)) => action_error.set(Some(e.message)),
            None => return,
        }
        confirm_open.set(false);
    });
    let title = Signal::derive(move || {
        pending
            .get()
            .map(|k| format!("Revoke {}?", k.name))
            .unwrap_or_default()
    });
    let body = Signal::derive(move || {
        pending
            .get()
            .map(|k| {
                format!(
                    "Scripts using the key ending in {} get 401 from their next call. This cannot be undone: create a new key to restore access.",
                    k.hint
                )
            })
            .unwrap_or_default()
    });
    let ask = move |k: ApiKeySummary| {
        pending.set(Some(k));
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
        <Title text="API keys · Portcullis"/>
        <PageHeader title="API keys" description="Keys for the admin REST API: scripts, Terraform, SOAR playbooks. A key acts with its role; every call is in the audit log.">
            <a href="/settings/api-reference" class="btn-secondary">"API reference"</a>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let owner = me.await.is_ok_and(|m| m.role == Role::Owner);
                    owner.then(|| view! {
                        <button type="button" class="btn-primary" on:click=move |_| show_form.set(true) data-testid="open-create-key">
                            "Create API key"
                        </button>
                    })
                })}
            </Suspense>
        </PageHeader>

        <Show when=move || show_form.get()>
            <section class="mb-6 rounded-lg border border-zinc-200 bg-white p-5 shadow-sm dark:border-zinc-800 dark:bg-zinc-900" aria-labelledby="create-key-title">
                <h2 id="create-key-title" class="text-sm font-semibold">"Create an API key"</h2>
                <p class="mt-1 text-sm text-zinc-500">"The key is shown once. Keys can be admins or auditors, never owners, and cannot manage admins or other keys."</p>
                {move || create.value().get().and_then(|r| r.err()).filter(|e| e.fields.is_empty()).map(|e| view! {
                    <p role="alert" class="mt-3 text-sm text-red-600">{e.message}</p>
                })}
                <ActionForm action=create>
                    <div class="mt-4 grid grid-cols-1 gap-4 sm:grid-cols-3">
                        <div>
                            <label for="key-name" class="mb-1.5 block text-sm font-medium">"Name"</label>
                            <input id="key-name" name="name" type="text" required maxlength="100" class=INPUT placeholder="terraform"/>
                            {field_error("name")}
                        </div>
                        <div>
                            <label for="key-role" class="mb-1.5 block text-sm font-medium">"Role"</label>
                            <select id="key-role" name="role" class=INPUT>
                                <option value="auditor" selected>"Auditor — read-only"</option>
                                <option value="admin">"Admin — reads and changes"</option>
                            </select>
                            {field_error("role")}
                        </div>
                        <div>
                            <label for="key-expiry" class="mb-1.5 block text-sm font-medium">"Expires after " <span class="font-normal text-zinc-400">"(days, optional)"</span></label>
                            <input id="key-expiry" name="expires_days" type="number" min="1" max="3650" class=INPUT placeholder="90"/>
                            {field_error("expires_days")}
                        </div>
                    </div>
                    <div class="mt-4 flex justify-end gap-2">
                        <button type="button" class="btn-secondary" on:click=move |_| show_form.set(false)>"Cancel"</button>
                        <button type="submit" class="btn-primary" disabled=move || create.pending().get()>
                            {move || if create.pending().get() { "Creating…" } else { "Create key" }}
                        </button>
                    </div>
                </ActionForm>
            </section>
        </Show>

        {move || action_error.get().map(crate::components::misc::action_alert)}

        <div class="overflow-x-auto rounded-lg border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900">
            <Transition fallback=|| view! { <Skeleton rows=4/> }>
                {move || Suspend::new(async move {
                    let owner = me.await.is_ok_and(|m| m.role == Role::Owner);
                    match keys.await {
                        Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No API keys yet"
                                hint="An owner creates one here, or on the host with `portcullis api-key create --name terraform --role admin`."/>
                        }.into_any(),
                        Ok(list) => view! {
                            <table class="min-w-full text-sm" data-testid="api-keys-table">
                                <thead class="bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800/60">
                                    <tr>
                                        <th scope="col" class="px-4 py-3">"Key"</th>
                                        <th scope="col" class="hidden px-4 py-3 sm:table-cell">"Role"</th>
                                        <th scope="col" class="px-4 py-3">"Status"</th>
                                        <th scope="col" class="hidden px-4 py-3 md:table-cell">"Last used"</th>
                                        <th scope="col" class="hidden px-4 py-3 lg:table-cell">"Created"</th>
                                        <th scope="col" class="px-4 py-3"><span class="sr-only">"Actions"</span></th>
                                    </tr>
                                </thead>
                                <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                    {list.into_iter().map(|k| key_row(k, owner, ask)).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Transition>
        </div>

        <ConfirmDialog open=confirm_open title body confirm_label="Revoke key" pending=revoke.pending()
            on_confirm=Callback::new(move |_| {
                if let Some(k) = pending.get_untracked() {
                    revoke.dispatch(RevokeApiKey { id: k.id });
                }
            })/>
        {move || secret.get().map(|(name, value)| view! {
            <SecretDialog title=format!("API key “{name}” created") secret=value secret_label="API key"
                note="Copy it now: it is not shown again. Send it as Authorization: Bearer <key> to /api/v1/admin/."
                on_close=Callback::new(move |_| secret.set(None))/>
        })}
    }
}

fn key_row(
    k: ApiKeySummary,
    owner: bool,
    ask: impl Fn(ApiKeySummary) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let (tone, label) = match k.status {
        ApiKeyStatus::Active => (Tone::Ok, "Active"),
        ApiKeyStatus::Expired => (Tone::Attention, "Expired"),
        ApiKeyStatus::Revoked => (Tone::Danger, "Revoked"),
    };
    let active = k.status == ApiKeyStatus::Active;
    let for_revoke = k.clone();
    view! {
        <tr class="hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="api-key-row" data-name=k.name.clone()>
            <td class="px-4 py-3">
                <p class="font-medium">{k.name.clone()}</p>
                <p class="font-mono text-xs text-zinc-500">{format!("pck_…{}", k.hint)}</p>
                <p class="mt-1 sm:hidden"><RoleBadge role=k.role/></p>
                <p class="mt-1 text-xs text-zinc-500 md:hidden">
                    {match k.last_used_at {
                        Some(t) => view! { "Used " <RelTime at=t/> }.into_any(),
                        None => view! { "Never used" }.into_any(),
                    }}
                </p>
            </td>
            <td class="hidden px-4 py-3 sm:table-cell"><RoleBadge role=k.role/></td>
            <td class="px-4 py-3">
                <Badge tone label/>
                {k.expires_at.filter(|_| active).map(|t| view! {
                    <p class="mt-1 hidden text-xs text-zinc-500 sm:block">"Expires " <AbsTime at=t/></p>
                })}
            </td>
            <td class="hidden px-4 py-3 text-zinc-600 dark:text-zinc-400 md:table-cell">
                {match k.last_used_at {
                    Some(t) => view! {
                        <RelTime at=t/>
                        <p class="text-xs text-zinc-500">{k.last_used_ip.clone().unwrap_or_default()}</p>
                    }.into_any(),
                    None => view! { <span class="text-zinc-400">"Never"</span> }.into_any(),
                }}
            </td>
            <td class="hidden px-4 py-3 text-zinc-600 dark:text-zinc-400 lg:table-cell">
                <RelTime at=k.created_at/>
                <p class="text-xs text-zinc-500">{format!("by {}", k.created_by)}</p>
            </td>
            <td class="px-4 py-3 text-right">
                {(owner && active).then(|| view! {
                    <button type="button" class="btn-danger-outline text-xs" on:click=move |_| ask(for_revoke.clone())>"Revoke"</button>
                })}
            </td>
        </tr>
    }
}
