//! Settings → Admins (owners only): invite console users, change roles,
//! disable and re-enable, end sessions. Dangerous actions ask first and say
//! what will happen.

pub mod api;

use crate::components::misc::url_encode;
use crate::components::{
    ConfirmDialog, EmptyState, ErrorPanel, PageHeader, Pager, RelTime, RoleBadge, SecretDialog,
    Skeleton, StatusBadge,
};
use api::{list_admins, DisableAdmin, EnableAdmin, InviteAdmin, RevokeAdminSessions, SetAdminRole};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::{AdminSummary, ConsoleUserId, ConsoleUserStatus, Role};

const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";

/// A pending dangerous action, described for the confirm dialog.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    Disable(AdminSummary),
    Revoke(AdminSummary),
    Role(AdminSummary, Role),
}

/// `/settings/admins`.
#[component]
pub fn AdminsPage() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("q").unwrap_or_default();
    let offset = move || {
        query
            .read()
            .get("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0i64)
    };

    let invite = ServerAction::<InviteAdmin>::new();
    let set_role = ServerAction::<SetAdminRole>::new();
    let disable = ServerAction::<DisableAdmin>::new();
    let enable = ServerAction::<EnableAdmin>::new();
    let revoke = ServerAction::<RevokeAdminSessions>::new();
    // Bumped when a confirmation is cancelled, so rows re-render with their
    // real role (the picker the admin changed snaps back).
    let cancelled = RwSignal::new(0u32);
    let admins = Resource::new(
        move || {
            (
                search(),
                offset(),
                invite.version().get(),
                set_role.version().get(),
                disable.version().get(),
                enable.version().get(),
                revoke.version().get(),
                cancelled.get(),
            )
        },
        |(s, o, ..)| list_admins(s, o),
    );

    let show_invite = RwSignal::new(false);
    let link_shown = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(link)) = invite.value().get() {
            show_invite.set(false);
            link_shown.set(Some(link.path));
        }
    });

    let pending = RwSignal::new(None::<Pending>);
    let confirm_open = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);
    let busy = Signal::derive(move || {
        set_role.pending().get() || disable.pending().get() || revoke.pending().get()
    });
    // Close the dialog when the confirmed action finishes; keep its error.
    Effect::new(move |_| {
        let results = [
            set_role.value().get().map(|r| r.err()),
            disable.value().get().map(|r| r.err()),
            revoke.value().get().map(|r| r.err().map(|e| e.to_owned())),
        ];
        if let Some(err) = results.into_iter().flatten().flatten().next() {
            action_error.set(Some(err.message));
        }
        confirm_open.set(false);
    });
    let title = Signal::derive(move || match pending.get() {
        Some(Pending::Disable(a)) => format!("Disable {}?", a.display_name),
        Some(Pending::Revoke(a)) => format!("Sign {} out everywhere?", a.display_name),
        // Every role name starts with a vowel: "an owner", "an admin", "an auditor".
        Some(Pending::Role(a, r)) => {
            format!("Make {} an {}?", a.display_name, r.label().to_lowercase())
        }
        None => String::new(),
    });
    let body = Signal::derive(move || {
        match pending.get() {
        Some(Pending::Disable(a)) => format!(
            "{} ({}) loses console access immediately{}. You can re-enable the account later.",
            a.display_name,
            a.email,
            match a.active_sessions {
                0 => String::new(),
                1 => "; their active session ends".to_owned(),
                n => format!("; their {n} active sessions end"),
            }
        ),
        Some(Pending::Revoke(a)) => match a.active_sessions {
            1 => format!("The active session of {} ends now. They can sign in again.", a.email),
            n => format!("All {n} active sessions of {} end now. They can sign in again.", a.email),
        },
        Some(Pending::Role(a, r)) => format!(
            "{} changes from {} to {}. Their sessions end so the new role applies at their next sign-in.",
            a.email,
            a.role.label(),
            r.label()
        ),
        None => String::new(),
    }
    });
    let confirm_label = Signal::derive(move || match pending.get() {
        Some(Pending::Disable(_)) => "Disable account".to_owned(),
        Some(Pending::Revoke(_)) => "End sessions".to_owned(),
        Some(Pending::Role(..)) => "Change role".to_owned(),
        None => String::new(),
    });
    let on_confirm = Callback::new(move |_| {
        action_error.set(None);
        match pending.get_untracked() {
            Some(Pending::Disable(a)) => {
                disable.dispatch(DisableAdmin { user_id: a.id });
            }
            Some(Pending::Revoke(a)) => {
                revoke.dispatch(RevokeAdminSessions { user_id: a.id });
            }
            Some(Pending::Role(a, role)) => {
                set_role.dispatch(SetAdminRole {
                    user_id: a.id,
                    role,
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
        <Title text="Admins · Portcullis"/>
        <PageHeader title="Admins" description="People who can sign in to this console, and what they may do.">
            <button type="button" class="btn-primary" on:click=move |_| show_invite.set(true) data-testid="open-invite">
                "Invite admin"
            </button>
        </PageHeader>

        <Show when=move || show_invite.get()>
            <section class="mb-6 rounded-lg border border-zinc-200 bg-white p-5 shadow-sm dark:border-zinc-800 dark:bg-zinc-900" aria-labelledby="invite-title">
                <h2 id="invite-title" class="text-sm font-semibold">"Invite a console user"</h2>
                <p class="mt-1 text-sm text-zinc-500">"They get a one-time link, valid for 7 days, to choose a password."</p>
                {move || invite.value().get().and_then(|r| r.err()).filter(|e| e.fields.is_empty()).map(|e| view! {
                    <p role="alert" class="mt-3 text-sm text-red-600">{e.message}</p>
                })}
                <ActionForm action=invite>
                    <div class="mt-4 grid grid-cols-1 gap-4 sm:grid-cols-3">
                        <div>
                            <label for="invite-email" class="mb-1.5 block text-sm font-medium">"Email"</label>
                            <input id="invite-email" name="email" type="email" required class=INPUT placeholder="alice@company.com"/>
                            {move || invite.value().get().and_then(|r| r.err()).and_then(|e| e.field("email")).map(|m| view! {
                                <p class="mt-1 text-xs text-red-600" role="alert">{m}</p>
                            })}
                        </div>
                        <div>
                            <label for="invite-name" class="mb-1.5 block text-sm font-medium">"Name " <span class="font-normal text-zinc-400">"(optional)"</span></label>
                            <input id="invite-name" name="display_name" type="text" class=INPUT placeholder="Alice Martin"/>
                        </div>
                        <div>
                            <label for="invite-role" class="mb-1.5 block text-sm font-medium">"Role"</label>
                            <select id="invite-role" name="role" class=INPUT>
                                <option value="admin" selected>"Admin — manages access"</option>
                                <option value="auditor">"Auditor — read-only"</option>
                                <option value="owner">"Owner — also manages admins"</option>
                            </select>
                        </div>
                    </div>
                    <div class="mt-4 flex justify-end gap-2">
                        <button type="button" class="btn-secondary" on:click=move |_| show_invite.set(false)>"Cancel"</button>
                        <button type="submit" class="btn-primary" disabled=move || invite.pending().get()>
                            {move || if invite.pending().get() { "Inviting…" } else { "Send invitation" }}
                        </button>
                    </div>
                </ActionForm>
            </section>
        </Show>

        {move || action_error.get().map(crate::components::misc::action_alert)}

        <div class="overflow-hidden rounded-lg border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900">
            <form method="get" action="/settings/admins" class="flex gap-2 border-b border-zinc-200 p-3 dark:border-zinc-800">
                <label for="admin-search" class="sr-only">"Search admins"</label>
                <input id="admin-search" name="q" type="search" placeholder="Search by name or email" prop:value=search
                    class="block w-full max-w-sm rounded-md border border-zinc-300 bg-white px-3 py-1.5 text-sm dark:border-zinc-700 dark:bg-zinc-950"/>
                <button type="submit" class="btn-secondary">"Search"</button>
            </form>
            <Transition fallback=|| view! { <Skeleton rows=5/> }>
                {move || Suspend::new(async move {
                    match admins.await {
                        Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                        Ok(page) if page.items.is_empty() => view! {
                            <EmptyState title="No one matches" hint="Try another name or email, or invite someone."/>
                        }.into_any(),
                        Ok(page) => {
                            let shown = page.items.len();
                            let href = Callback::new(move |o: i64| format!("/settings/admins?offset={o}&q={}", url_encode(&search())));
                            view! {
                                <table class="min-w-full text-sm" data-testid="admins-table">
                                    <thead class="bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 dark:bg-zinc-800/60">
                                        <tr>
                                            <th scope="col" class="px-4 py-3">"Person"</th>
                                            <th scope="col" class="px-4 py-3">"Role"</th>
                                            <th scope="col" class="px-4 py-3">"Status"</th>
                                            <th scope="col" class="px-4 py-3">"Last sign-in"</th>
                                            <th scope="col" class="px-4 py-3 text-right">"Sessions"</th>
                                            <th scope="col" class="px-4 py-3"><span class="sr-only">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                        {page.items.into_iter().map(|a| admin_row(a, ask, enable)).collect_view()}
                                    </tbody>
                                </table>
                                <Pager offset=page.offset limit=page.limit shown total=page.total href/>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </div>

        <ConfirmDialog open=confirm_open title body confirm_label pending=busy on_confirm
            on_cancel=Callback::new(move |_| cancelled.update(|n| *n += 1))/>
        {move || link_shown.get().map(|link| view! {
            <SecretDialog title="Invitation created" secret=link
                note="Send this link to the person you invited. It works once and expires in 7 days."
                on_close=Callback::new(move |_| link_shown.set(None))/>
        })}
    }
}

fn admin_row(
    a: AdminSummary,
    ask: impl Fn(Pending) + Copy + Send + Sync + 'static,
    enable: ServerAction<EnableAdmin>,
) -> impl IntoView {
    let disabled = a.status == ConsoleUserStatus::Disabled;
    let id: ConsoleUserId = a.id.clone();
    let for_role = a.clone();
    let for_disable = a.clone();
    let for_revoke = a.clone();
    let current = a.role;
    view! {
        <tr class="hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="admin-row" data-email=a.email.clone()>
            <td class="px-4 py-3">
                <p class="font-medium">{a.display_name.clone()}</p>
                <p class="text-xs text-zinc-500">{a.email.clone()}</p>
            </td>
            <td class="px-4 py-3"><RoleBadge role=a.role/></td>
            <td class="px-4 py-3"><StatusBadge status=a.status/></td>
            <td class="px-4 py-3 text-zinc-600 dark:text-zinc-400">
                {match a.last_signin_at {
                    Some(t) => view! { <RelTime at=t/> }.into_any(),
                    None => view! { <span class="text-zinc-400">"Never"</span> }.into_any(),
                }}
            </td>
            <td class="px-4 py-3 text-right tabular-nums">{a.active_sessions}</td>
            <td class="px-4 py-3">
                <div class="flex items-center justify-end gap-2">
                    <label class="sr-only" for=format!("role-{}", a.id)>"Role of " {a.email.clone()}</label>
                    <select id=format!("role-{}", a.id) disabled=disabled
                        class="rounded-md border border-zinc-300 bg-white py-1 pl-2 pr-7 text-xs dark:border-zinc-700 dark:bg-zinc-950"
                        on:change=move |ev| {
                            if let Ok(role) = event_target_value(&ev).parse::<Role>() {
                                if role != current {
                                    ask(Pending::Role(for_role.clone(), role));
                                }
                            }
                        }>
                        {Role::ALL.into_iter().map(|r| view! {
                            <option value=r.as_str() selected=r == current>{r.label()}</option>
                        }).collect_view()}
                    </select>
                    {if disabled {
                        view! {
                            <button type="button" class="btn-secondary text-xs"
                                on:click=move |_| { enable.dispatch(EnableAdmin { user_id: id.clone() }); }>"Enable"</button>
                        }.into_any()
                    } else {
                        view! {
                            <button type="button" class="btn-secondary text-xs" disabled=a.active_sessions == 0
                                on:click=move |_| ask(Pending::Revoke(for_revoke.clone()))>"End sessions"</button>
                            <button type="button" class="btn-danger-outline text-xs"
                                on:click=move |_| ask(Pending::Disable(for_disable.clone()))>"Disable"</button>
                        }.into_any()
                    }}
                </div>
            </td>
        </tr>
    }
}
