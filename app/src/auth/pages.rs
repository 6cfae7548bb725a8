//! The sign-in and set-up pages. Both are plain forms (`ActionForm` or a
//! plain `<form>`), so they work before the page has hydrated.

use crate::auth::api::{get_link, AcceptLink, SignIn};
use crate::components::layout::Logo;
use crate::components::misc::url_encode;
use crate::components::RoleBadge;
use crate::error::AppError;
use crate::sso::api::sign_in_options;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::SsoRefusal;

const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm placeholder:text-zinc-400 focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";

#[component]
fn AuthCard(
    #[prop(into)] heading: String,
    #[prop(into)] sub: String,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="flex min-h-screen flex-col items-center justify-center px-4 py-12">
            <div class="mb-6 flex items-center gap-2.5">
                <Logo/>
                <span class="text-lg font-semibold tracking-tight">"Portcullis"</span>
            </div>
            <div class="w-full max-w-sm rounded-xl border border-zinc-200 bg-white p-8 shadow-sm dark:border-zinc-800 dark:bg-zinc-900">
                <h1 class="text-xl font-semibold tracking-tight">{heading}</h1>
                <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">{sub}</p>
                <div class="mt-6">{children()}</div>
            </div>
            <p class="mt-6 text-xs text-zinc-400">"Access control for MCP servers and tools"</p>
        </div>
    }
}

fn form_error(err: &AppError) -> impl IntoView {
    let message = err.message.clone();
    view! {
        <div role="alert" data-testid="form-error" class="mb-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">
            {message}
        </div>
    }
}

/// `/login`. With an SSO connection enabled, the first step asks only for
/// the email (a plain form to `POST /sso/start`, which sends the admin to the
/// IdP of the email's domain or back here for the password); the password
/// form is the break-glass way in for local accounts. `?sso_error=code`
/// shows why an SSO sign-in was refused.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let options = Resource::new(|| (), |_| sign_in_options());
    let password_step = move || query.read().get("method").as_deref() == Some("password");
    let refusal = move || {
        query
            .read()
            .get("sso_error")
            .and_then(|c| SsoRefusal::from_code(&c))
    };
    view! {
        <Title text="Sign in · Portcullis"/>
        <AuthCard heading="Sign in" sub="Use your company account or your Portcullis console account.">
            {move || refusal().map(|r| view! {
                <div role="alert" data-testid="sso-error" class="mb-4 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950/40 dark:text-amber-200">
                    <p class="font-medium">"You were not signed in"</p>
                    <p class="mt-0.5">{r.message()}</p>
                </div>
            })}
            <Suspense fallback=|| view! { <div class="h-40 animate-pulse rounded-md bg-zinc-100 dark:bg-zinc-800"></div> }>
                {move || Suspend::new(async move {
                    let sso = options.await.unwrap_or(false);
                    if sso && !password_step() {
                        view! { <EmailStep/> }.into_any()
                    } else {
                        view! { <PasswordForm sso/> }.into_any()
                    }
                })}
            </Suspense>
            <p class="mt-6 text-xs leading-relaxed text-zinc-500">
                "No account yet? An owner invites you from Settings → Admins, or gives your group a role in Settings → Single sign-on. Lost access? An operator can run "
                <code class="font-mono">"portcullis admin create-owner"</code> " on the server."
            </p>
        </AuthCard>
    }
}

/// The email step: the server picks the IdP by the email's domain.
#[component]
fn EmailStep() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_owned());
    let email = move || query.read().get("email").unwrap_or_default();
    let password_href = move || format!("/login?method=password&next={}", url_encode(&next()));
    view! {
        <form method="post" action="/sso/start" data-testid="email-step">
            <input type="hidden" name="next" value=next/>
            <div class="space-y-4">
                <div>
                    <label for="email" class="mb-1.5 block text-sm font-medium">"Work email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required class=INPUT
                        placeholder="you@company.com" value=email/>
                    <p class="mt-1 text-xs text-zinc-500">"Your company's sign-in page opens next."</p>
                </div>
                <button type="submit" class="btn-primary w-full justify-center py-2.5">"Continue"</button>
            </div>
        </form>
        <div class="mt-5 border-t border-zinc-200 pt-4 text-center dark:border-zinc-800">
            <a href=password_href class="text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400">
                "Sign in with a password instead"
            </a>
        </div>
    }
}

/// Email and password (local accounts; the break-glass owner).
#[component]
fn PasswordForm(sso: bool) -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_owned());
    let email = move || query.read().get("email").unwrap_or_default();
    let pending = action.pending();
    view! {
        {move || action.value().get().and_then(|r| r.err()).map(|e| form_error(&e))}
        <ActionForm action=action>
            <input type="hidden" name="next" value=next/>
            <div class="space-y-4">
                <div>
                    <label for="email" class="mb-1.5 block text-sm font-medium">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required class=INPUT placeholder="you@company.com" value=email/>
                </div>
                <div>
                    <label for="password" class="mb-1.5 block text-sm font-medium">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required class=INPUT/>
                </div>
                <button type="submit" class="btn-primary w-full justify-center py-2.5" disabled=move || pending.get()>
                    {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </div>
        </ActionForm>
        {sso.then(|| view! {
            <div class="mt-5 border-t border-zinc-200 pt-4 text-center dark:border-zinc-800">
                <a href="/login" class="text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400">
                    "Use single sign-on instead"
                </a>
            </div>
        })}
    }
}

/// `/setup?token=…`: choose a password for an invited account.
#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let link = Resource::new(token, get_link);
    let action = ServerAction::<AcceptLink>::new();
    let pending = action.pending();
    view! {
        <Title text="Set up your account · Portcullis"/>
        <AuthCard heading="Set up your account" sub="Choose how you are shown and a password.">
            <Suspense fallback=|| view! { <p class="text-sm text-zinc-500">"Checking your link…"</p> }>
                {move || Suspend::new(async move {
                    match link.await {
                        Err(e) => view! {
                            <div role="alert" class="rounded-md border border-amber-200 bg-amber-50 px-3 py-3 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950/40 dark:text-amber-200">
                                <p class="font-medium">"This link cannot be used"</p>
                                <p class="mt-1">{e.message.clone()}</p>
                            </div>
                            <a href="/login" class="mt-4 inline-block text-sm font-medium text-indigo-600 hover:underline">"Go to sign-in"</a>
                        }.into_any(),
                        Ok(info) => {
                            let err = move || action.value().get().and_then(|r| r.err());
                            view! {
                                {move || err().map(|e| form_error(&e))}
                                <dl class="mb-5 flex items-center justify-between rounded-md bg-zinc-50 px-3 py-2 text-sm dark:bg-zinc-800/60">
                                    <dt class="sr-only">"Account"</dt>
                                    <dd class="font-medium" data-testid="setup-email">{info.email.clone()}</dd>
                                    <dd><RoleBadge role=info.role/></dd>
                                </dl>
                                <ActionForm action=action>
                                    <input type="hidden" name="token" value=token/>
                                    <div class="space-y-4">
                                        <div>
                                            <label for="display_name" class="mb-1.5 block text-sm font-medium">"Your name"</label>
                                            <input id="display_name" name="display_name" type="text" autocomplete="name" class=INPUT
                                                value=info.display_name.clone()/>
                                        </div>
                                        <div>
                                            <label for="password" class="mb-1.5 block text-sm font-medium">"Password"</label>
                                            <input id="password" name="password" type="password" autocomplete="new-password" required minlength="12" class=INPUT/>
                                            <p class="mt-1 text-xs text-zinc-500">"At least 12 characters. A passphrase is easiest."</p>
                                            {move || err().and_then(|e| e.field("password")).map(|m| view! { <p class="mt-1 text-xs text-red-600">{m}</p> })}
                                        </div>
                                        <button type="submit" class="btn-primary w-full justify-center py-2.5" disabled=move || pending.get()>
                                            {move || if pending.get() { "Setting up…" } else { "Set password and continue" }}
                                        </button>
                                    </div>
                                </ActionForm>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </AuthCard>
    }
}
