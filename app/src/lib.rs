//! The Portcullis console UI (Leptos 0.8, server-rendered and hydrated).
//!
//! Built twice: with feature `ssr` into the server (pages render there and
//! server functions run there) and with feature `hydrate` into wasm for the
//! browser. Server-only code sits behind `#[cfg(feature = "ssr")]`.
//!
//! Areas: [`auth`] (sign-in: email step, password, set-up links), [`overview`], [`directory`]
//! (Directory → Users and Groups, Settings → Directories), [`audit`],
//! [`admins`] (Settings → Admins), [`sso`] (Settings → Single sign-on),
//! [`catalog`], [`access`], [`gateways`].
//! Shared pieces are in [`components`] and make no server calls. Server
//! functions are thin: they take the services and the caller from the
//! request context and make one service call; the service checks the role.

#![recursion_limit = "512"]

pub mod access;
pub mod admins;
pub mod agents;
pub mod apikeys;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod clients;
pub mod components;
pub mod directory;
pub mod error;
pub mod gateways;
pub mod overview;
pub mod sso;
#[cfg(feature = "ssr")]
pub mod ssr;

use components::ConsoleLayout;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

/// The stylesheet's URL (content-hashed name), provided by the server as a
/// context of every page render; without it the shell links the plain
/// `/pkg/<output name>.css`.
#[derive(Clone, Debug)]
pub struct StylesheetHref(pub String);

/// The HTML document around the app (server side).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let stylesheet = use_context::<StylesheetHref>()
        .map(|h| h.0)
        .unwrap_or_else(|| format!("/{}/{}.css", options.site_pkg_dir, options.output_name));
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <link rel="stylesheet" id="leptos" href=stylesheet/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body class="bg-zinc-50 text-zinc-900 antialiased dark:bg-zinc-950 dark:text-zinc-100">
                <App/>
            </body>
        </html>
    }
}

/// The router: public sign-in pages, and the console pages inside the frame.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    components::time::provide_zone();
    view! {
        <Title text="Portcullis"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=auth::pages::LoginPage/>
                <Route path=path!("/setup") view=auth::pages::SetupPage/>
                <ParentRoute path=path!("") view=ConsoleLayout>
                    <Route path=path!("") view=overview::OverviewPage/>
                    <Route path=path!("directory/users") view=directory::UsersPage/>
                    <Route path=path!("directory/users/:id") view=directory::UserPage/>
                    <Route path=path!("directory/groups") view=directory::GroupsPage/>
                    <Route path=path!("directory/groups/:id") view=directory::GroupPage/>
                    <Route path=path!("catalog/servers") view=catalog::ServersPage/>
                    <Route path=path!("catalog/servers/:id") view=catalog::ServerPage/>
                    <Route path=path!("catalog/tools") view=catalog::ToolsPage/>
                    <Route path=path!("catalog/tools/:id") view=catalog::ToolPage/>
                    <Route path=path!("access/grants") view=access::GrantsPage/>
                    <Route path=path!("access/simulator") view=access::SimulatorPage/>
                    <Route path=path!("access/revisions") view=access::RevisionsPage/>
                    <Route path=path!("gateways") view=gateways::GatewaysPage/>
                    <Route path=path!("clients") view=clients::ClientsPage/>
                    <Route path=path!("agents") view=agents::AgentsPage/>
                    <Route path=path!("audit") view=audit::AuditPage/>
                    <Route path=path!("settings/directories") view=directory::DirectoriesPage/>
                    <Route path=path!("settings/directories/:id") view=directory::DirectoryPage/>
                    <Route path=path!("settings/admins") view=admins::AdminsPage/>
                    <Route path=path!("settings/api-keys") view=apikeys::ApiKeysPage/>
                    <Route path=path!("settings/api-reference") view=apikeys::reference::ApiReferencePage/>
                    <Route path=path!("settings/audit") view=audit::settings::AuditSettingsPage/>
                    <Route path=path!("settings/sso") view=sso::SsoPage/>
                    <Route path=path!("settings/sso/new") view=sso::SsoNewPage/>
                    <Route path=path!("settings/sso/:id") view=sso::SsoConnectionPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The page for unknown paths.
#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::set_status(http::StatusCode::NOT_FOUND);
    view! {
        <Title text="Not found · Portcullis"/>
        <div class="flex min-h-screen flex-col items-center justify-center px-4 text-center">
            <p class="text-sm font-semibold text-indigo-600">"404"</p>
            <h1 class="mt-2 text-2xl font-semibold tracking-tight">"There is nothing here"</h1>
            <p class="mt-2 text-sm text-zinc-500">"The page may have moved, or the link is mistyped."</p>
            <a href="/" class="btn-primary mt-6">"Go to Overview"</a>
        </div>
    }
}

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    // The page is interactive from here on (end-to-end tests wait for it).
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "");
    }
}
