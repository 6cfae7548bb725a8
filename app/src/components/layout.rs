//! The console frame: sidebar, top bar and page header.
//!
//! The sidebar shows only areas that exist (Overview, Directory, Catalog,
//! Access, Gateways, Audit log, Settings: Directories, Single sign-on,
//! Admins); the Settings → Admins link only
//! for owners. The server sends signed-out visitors of console pages to the
//! sign-in page before this renders.

use crate::auth::api::{get_me, SignOut};
use crate::components::RoleBadge;
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};
use portcullis_types::Role;

const NAV_LINK: &str = "group flex items-center gap-3 rounded-md px-3 py-1.5 text-sm font-medium text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800 dark:hover:text-zinc-100 aria-[current=page]:bg-indigo-50 aria-[current=page]:text-indigo-700 dark:aria-[current=page]:bg-indigo-500/10 dark:aria-[current=page]:text-indigo-300";

const SECTION: &str = "px-3 pb-1.5 text-xs font-semibold uppercase tracking-wider text-zinc-400";

/// The shield mark.
#[component]
pub fn Logo() -> impl IntoView {
    view! {
        <svg viewBox="0 0 32 32" class="h-7 w-7" aria-hidden="true">
            <rect width="32" height="32" rx="7" class="fill-indigo-600"/>
            <path d="M8 9h16v4H8zM8 15h16M8 19h16M11 13v12M16 13v12M21 13v12" class="stroke-white" stroke-width="2" fill="none"/>
        </svg>
    }
}

#[component]
fn NavIcon(d: &'static str) -> impl IntoView {
    view! {
        <svg viewBox="0 0 20 20" class="h-4 w-4 shrink-0 text-zinc-400 group-aria-[current=page]:text-indigo-600" fill="none"
            stroke="currentColor" stroke-width="1.6" aria-hidden="true"><path d=d stroke-linecap="round" stroke-linejoin="round"/></svg>
    }
}

/// The signed-in frame around every console page.
#[component]
pub fn ConsoleLayout() -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    let sign_out = ServerAction::<SignOut>::new();
    let menu_open = RwSignal::new(false);
    view! {
        <div class="min-h-screen lg:flex">
            <a href="#main" class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2">
                "Skip to content"
            </a>
            <aside class=move || format!(
                    "fixed inset-y-0 left-0 z-30 w-64 shrink-0 flex-col border-r border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-900 lg:sticky lg:top-0 lg:h-screen lg:flex {}",
                    if menu_open.get() { "flex" } else { "hidden" },
                )
                aria-label="Main navigation">
                <div class="flex h-14 items-center gap-2.5 border-b border-zinc-200 px-5 dark:border-zinc-800">
                    <Logo/>
                    <span class="text-[15px] font-semibold tracking-tight">"Portcullis"</span>
                </div>
                <nav class="flex-1 space-y-3 overflow-y-auto px-3 py-3">
                    <div class="space-y-1">
                        <A href="/" exact=true attr:class=NAV_LINK>
                            <NavIcon d="M3 10.5L10 4l7 6.5M5 9v7h4v-4h2v4h4V9"/>
                            "Overview"
                        </A>
                    </div>
                    <div>
                        <p class=SECTION>"Directory"</p>
                        <div class="space-y-1">
                            <A href="/directory/users" attr:class=NAV_LINK>
                                <NavIcon d="M10 9a3 3 0 100-6 3 3 0 000 6zM4 17c0-3 2.7-5 6-5s6 2 6 5"/>
                                "Users"
                            </A>
                            <A href="/directory/groups" attr:class=NAV_LINK>
                                <NavIcon d="M10 8a2.2 2.2 0 100-4.4A2.2 2.2 0 0010 8zM4.5 10a1.8 1.8 0 100-3.6 1.8 1.8 0 000 3.6zM15.5 10a1.8 1.8 0 100-3.6 1.8 1.8 0 000 3.6zM6.5 16c0-2.2 1.6-4 3.5-4s3.5 1.8 3.5 4M1.5 16c0-1.8 1.3-3.2 3-3.2M18.5 16c0-1.8-1.3-3.2-3-3.2"/>
                                "Groups"
                            </A>
                        </div>
                    </div>
                    <div>
                        <p class=SECTION>"Catalog"</p>
                        <div class="space-y-1">
                            <A href="/catalog/servers" attr:class=NAV_LINK>
                                <NavIcon d="M4 4h12v5H4zM4 11h12v5H4zM7 6.5h.01M7 13.5h.01"/>
                                "Servers"
                            </A>
                            <A href="/catalog/tools" attr:class=NAV_LINK>
                                <NavIcon d="M12.5 3.5a3.5 3.5 0 00-3.3 4.7L3.5 13.9 6.1 16.5l5.7-5.7a3.5 3.5 0 004.5-4.5l-2 2-2.1-.6-.6-2.1 2-2z"/>
                                "Tools"
                            </A>
                        </div>
                    </div>
                    <div>
                        <p class=SECTION>"Access"</p>
                        <div class="space-y-1">
                            <A href="/access/grants" attr:class=NAV_LINK>
                                <NavIcon d="M10 2.5l6 2.5v4.5c0 3.8-2.6 6.7-6 8-3.4-1.3-6-4.2-6-8V5zM7.5 10l2 2 3.5-4"/>
                                "Grants"
                            </A>
                            <A href="/access/simulator" attr:class=NAV_LINK>
                                <NavIcon d="M10 17a7 7 0 100-14 7 7 0 000 14zM10 6v4l2.5 2.5"/>
                                "Simulator"
                            </A>
                            <A href="/access/revisions" attr:class=NAV_LINK>
                                <NavIcon d="M6 4v12M6 7a2 2 0 100-4 2 2 0 000 4zM6 17a2 2 0 100-4 2 2 0 000 4zM14 11a2 2 0 100-4 2 2 0 000 4zM14 11c0 3-4 2.5-8 3"/>
                                "Revisions"
                            </A>
                        </div>
                    </div>
                    <div class="space-y-1">
                        <A href="/clients" attr:class=NAV_LINK>
                            <NavIcon d="M4 5h12v8H4zM8 16h4M10 13v3M7 9h.01M10 9h3"/>
                            "Clients"
                        </A>
                        <A href="/agents" attr:class=NAV_LINK>
                            <NavIcon d="M6 7h8a2 2 0 012 2v5a2 2 0 01-2 2H6a2 2 0 01-2-2V9a2 2 0 012-2zM10 7V4M8 11h.01M12 11h.01M8 14h4"/>
                            "Agents"
                        </A>
                        <A href="/gateways" attr:class=NAV_LINK>
                            <NavIcon d="M3 5.5h14v3H3zM3 11.5h14v3H3zM6 7h.01M6 13h.01M10 8.5v3"/>
                            "Gateways"
                        </A>
                        <A href="/audit" attr:class=NAV_LINK>
                            <NavIcon d="M6 3h6l4 4v10H6zM12 3v4h4M8.5 11h5M8.5 14h5"/>
                            "Audit log"
                        </A>
                    </div>
                    <div>
                        <p class=SECTION>"Settings"</p>
                        <div class="space-y-1">
                            <A href="/settings/directories" attr:class=NAV_LINK>
                                <NavIcon d="M4 4h12v4H4zM4 12h12v4H4zM7 6h.01M7 14h.01"/>
                                "Directories"
                            </A>
                            <A href="/settings/sso" attr:class=NAV_LINK>
                                <NavIcon d="M7 9V6.5a3 3 0 016 0V9M5 9h10v8H5zM10 12v2"/>
                                "Single sign-on"
                            </A>
                            <A href="/settings/api-keys" attr:class=NAV_LINK>
                                <NavIcon d="M4 10a3 3 0 106 0 3 3 0 00-6 0zM10 10h7M14 10v3M16.5 10v2"/>
                                "API keys"
                            </A>
                            <A href="/settings/audit" attr:class=NAV_LINK>
                                <NavIcon d="M10 2.5l6 2.5v4.5c0 3.8-2.6 6.7-6 8-3.4-1.3-6-4.2-6-8V5zM10 7v3.5l2 1.5"/>
                                "Audit settings"
                            </A>
                            // Read inside Suspense: a resource read outside one renders
                            // differently on the server (not loaded) and in the browser
                            // (loaded), which breaks hydration.
                            <Suspense fallback=|| ()>
                                {move || Suspend::new(async move {
                                    let owner = me.await.is_ok_and(|m| m.role == Role::Owner);
                                    owner.then(|| view! {
                                        <A href="/settings/admins" attr:class=NAV_LINK>
                                            <NavIcon d="M7.5 9a2.5 2.5 0 100-5 2.5 2.5 0 000 5zM3 16c0-2.5 2-4 4.5-4s4.5 1.5 4.5 4M13 8.5a2 2 0 100-4M14.5 12c1.5.4 2.5 1.6 2.5 3.5"/>
                                            "Admins"
                                        </A>
                                    })
                                })}
                            </Suspense>
                        </div>
                    </div>
                </nav>
                <div class="border-t border-zinc-200 px-5 py-3 text-xs text-zinc-400 dark:border-zinc-800">
                    "Portcullis " {env!("CARGO_PKG_VERSION")}
                </div>
            </aside>
            <div class="flex min-w-0 flex-1 flex-col">
                <header class="sticky top-0 z-20 flex h-14 items-center gap-4 border-b border-zinc-200 bg-white/90 px-4 backdrop-blur dark:border-zinc-800 dark:bg-zinc-900/90 lg:px-8">
                    <button type="button" class="rounded-md p-2 text-zinc-500 hover:bg-zinc-100 dark:hover:bg-zinc-800 lg:hidden"
                        aria-label="Toggle navigation" on:click=move |_| menu_open.update(|o| *o = !*o)>
                        <svg viewBox="0 0 20 20" class="h-5 w-5" fill="none" stroke="currentColor" stroke-width="1.6" aria-hidden="true"><path d="M3 5h14M3 10h14M3 15h14"/></svg>
                    </button>
                    <div class="flex-1"></div>
                    <Suspense fallback=|| view! { <div class="h-6 w-40 animate-pulse rounded bg-zinc-100 dark:bg-zinc-800"></div> }>
                        {move || Suspend::new(async move {
                            match me.await {
                                Ok(m) => view! {
                                    <div class="flex items-center gap-3">
                                        <div class="hidden text-right sm:block">
                                            <p class="text-sm font-medium leading-tight" data-testid="me-name">{m.display_name.clone()}</p>
                                            <p class="text-xs text-zinc-500">{m.email.clone()}</p>
                                        </div>
                                        <RoleBadge role=m.role/>
                                        <div class="flex h-8 w-8 items-center justify-center rounded-full bg-indigo-100 text-xs font-semibold text-indigo-700 dark:bg-indigo-500/20 dark:text-indigo-300" aria-hidden="true">
                                            {initials(&m.display_name)}
                                        </div>
                                    </div>
                                }.into_any(),
                                Err(_) => view! { <a href="/login" class="text-sm font-medium text-indigo-600">"Sign in"</a> }.into_any(),
                            }
                        })}
                    </Suspense>
                    <ActionForm action=sign_out>
                        <button type="submit" class="rounded-md px-3 py-1.5 text-sm font-medium text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800">
                            "Sign out"
                        </button>
                    </ActionForm>
                </header>
                <main id="main" class="flex-1 px-4 py-8 lg:px-8">
                    <div class="mx-auto max-w-6xl">
                        <Outlet/>
                    </div>
                </main>
            </div>
        </div>
    }
}

/// Up to two initials of a name, for the avatar.
pub fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

/// Title, one-line description and the primary action of a page.
#[component]
pub fn PageHeader(
    #[prop(into)] title: String,
    #[prop(into)] description: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="mb-6 flex flex-wrap items-start justify-between gap-4">
            <div>
                <h1 class="text-2xl font-semibold tracking-tight">{title}</h1>
                <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">{description}</p>
            </div>
            {children.map(|c| view! { <div class="flex items-center gap-2">{c()}</div> })}
        </div>
    }
}
