//! Catalog → Servers: the MCP servers people and agents may reach, with
//! their tool counts, quarantined tools, grants and discovery state.

use super::api::{list_servers, CreateServer};
use super::{field_error, HELP, INPUT, LABEL};
use crate::components::misc::format_count;
use crate::components::{
    query_href, Badge, EmptyState, ErrorPanel, PageHeader, Pager, RelTime, Skeleton, Tone,
};
use crate::directory::{CARD, ROW_LINK, SEARCH, TABLE_CARD, THEAD};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use portcullis_types::ServerSummary;

const PATH: &str = "/catalog/servers";

/// `/catalog/servers`.
#[component]
pub fn ServersPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k).unwrap_or_default();
    let create = ServerAction::<CreateServer>::new();
    let servers = Resource::new(
        move || (param("q"), param("offset").parse::<i64>().unwrap_or(0)),
        |(q, offset)| list_servers(q, offset),
    );
    let show_form = RwSignal::new(false);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/catalog/servers/{id}"), Default::default());
        }
    });
    let err = move || create.value().get().and_then(|r| r.err());
    view! {
        <Title text="Servers · Portcullis"/>
        <PageHeader title="Servers" description="MCP servers your gateways front. Register a server by its URL, discover its tools, then grant people and groups access.">
            <button type="button" class="btn-primary" on:click=move |_| show_form.set(true) data-testid="open-new-server">
                "Register server"
            </button>
        </PageHeader>

        <Show when=move || show_form.get()>
            <section class=format!("{CARD} mb-6 p-5") aria-labelledby="new-server-title">
                <h2 id="new-server-title" class="text-sm font-semibold">"Register an MCP server"</h2>
                <p class="mt-1 text-sm text-zinc-500">"The resource URL is the server's canonical URL: OAuth tokens for it are bound to it, and gateways recognise the server by it."</p>
                {move || err().filter(|e| e.fields.is_empty()).map(|e| crate::components::misc::action_alert(e.message))}
                <ActionForm action=create>
                    <div class="mt-4 grid grid-cols-1 gap-4 md:grid-cols-2">
                        <div>
                            <label for="srv-name" class=LABEL>"Name"</label>
                            <input id="srv-name" name="name" type="text" required maxlength="100" class=INPUT placeholder="GitHub"/>
                            {move || field_error("name", "Name", err())}
                        </div>
                        <div>
                            <label for="srv-slug" class=LABEL>"Slug"</label>
                            <input id="srv-slug" name="slug" type="text" required maxlength="48" pattern="[a-z0-9][a-z0-9\\-]*" class=INPUT placeholder="github"/>
                            <p class=HELP>"Short unique name for logs and URLs: lower-case letters, digits and dashes."</p>
                            {move || field_error("slug", "Slug", err())}
                        </div>
                        <div class="md:col-span-2">
                            <label for="srv-url" class=LABEL>"Resource URL"</label>
                            <input id="srv-url" name="resource_url" type="url" required class=INPUT placeholder="https://mcp.example.com/github/mcp"/>
                            <p class=HELP>"Discovery connects here (streamable HTTP) unless you give another address when you run it."</p>
                            {move || field_error("resource_url", "Resource URL", err())}
                        </div>
                        <div>
                            <label for="srv-owner" class=LABEL>"Owner " <span class="font-normal text-zinc-500">"(optional)"</span></label>
                            <input id="srv-owner" name="owner" type="text" maxlength="200" class=INPUT placeholder="platform-team@example.com"/>
                            {move || field_error("owner", "Owner", err())}
                        </div>
                        <div>
                            <label for="srv-tags" class=LABEL>"Tags " <span class="font-normal text-zinc-500">"(optional)"</span></label>
                            <input id="srv-tags" name="tags" type="text" class=INPUT placeholder="dev, scm"/>
                            <p class=HELP>"Comma-separated."</p>
                            {move || field_error("tags", "Tags", err())}
                        </div>
                        <div class="md:col-span-2">
                            <label for="srv-desc" class=LABEL>"Description " <span class="font-normal text-zinc-500">"(optional)"</span></label>
                            <textarea id="srv-desc" name="description" rows="2" maxlength="2000" class=INPUT></textarea>
                            {move || field_error("description", "Description", err())}
                        </div>
                    </div>
                    <div class="mt-4 flex justify-end gap-2">
                        <button type="button" class="btn-secondary" on:click=move |_| show_form.set(false)>"Cancel"</button>
                        <button type="submit" class="btn-primary" disabled=move || create.pending().get()>
                            {move || if create.pending().get() { "Registering…" } else { "Register server" }}
                        </button>
                    </div>
                </ActionForm>
            </section>
        </Show>

        <div class=TABLE_CARD>
            <div class="border-b border-zinc-200 p-3 dark:border-zinc-800">
                <form method="get" action=PATH class="flex gap-2" role="search">
                    <label for="server-search" class="sr-only">"Search servers"</label>
                    <input id="server-search" name="q" type="search" class=SEARCH
                        placeholder="Search by name, slug, URL or tag" prop:value=move || param("q")/>
                    <button type="submit" class="btn-secondary">"Search"</button>
                </form>
            </div>
            <Transition fallback=|| view! { <Skeleton rows=6/> }>
                {move || {
                    let q = param("q");
                    Suspend::new(async move {
                        match servers.await {
                            Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                            Ok(page) if page.total == 0 && q.is_empty() => view! {
                                <EmptyState title="No MCP servers yet"
                                    hint="Register a server with its URL, then discover its tools. Until someone is granted access, everyone is denied everything."/>
                            }.into_any(),
                            Ok(page) if page.items.is_empty() => view! {
                                <EmptyState title="No server matches" hint="Try part of the name, slug, URL or a tag.">
                                    <a href=PATH class="btn-secondary">"Clear search"</a>
                                </EmptyState>
                            }.into_any(),
                            Ok(page) => {
                                let shown = page.items.len();
                                let href = Callback::new(move |o: i64| query_href(PATH, &[("q", q.clone()), ("offset", o.to_string())]));
                                view! {
                                    <table class="min-w-full text-sm" data-testid="servers-table">
                                        <caption class="sr-only">{format!("{} servers", format_count(page.total))}</caption>
                                        <thead class=THEAD>
                                            <tr>
                                                <th scope="col" class="px-4 py-3">"Server"</th>
                                                <th scope="col" class="hidden px-4 py-3 lg:table-cell">"Resource URL"</th>
                                                <th scope="col" class="px-4 py-3 text-right">"Tools"</th>
                                                <th scope="col" class="px-4 py-3 text-right">"Grants"</th>
                                                <th scope="col" class="px-4 py-3">"Status"</th>
                                                <th scope="col" class="hidden px-4 py-3 md:table-cell">"Discovered"</th>
                                            </tr>
                                        </thead>
                                        <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                            {page.items.into_iter().map(server_row).collect_view()}
                                        </tbody>
                                    </table>
                                    <Pager offset=page.offset limit=page.limit shown total=page.total href/>
                                }.into_any()
                            }
                        }
                    })
                }}
            </Transition>
        </div>
    }
}

fn server_row(s: ServerSummary) -> impl IntoView {
    view! {
        <tr class="relative hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="server-row" data-slug=s.slug.clone()>
            <td class="max-w-[20rem] px-4 py-3">
                <a href=format!("/catalog/servers/{}", s.id) class=format!("block truncate {ROW_LINK}")>{s.name.clone()}</a>
                <p class="truncate text-xs text-zinc-500">
                    <span class="font-mono">{s.slug.clone()}</span>
                    {(!s.tags.is_empty()).then(|| format!(" · {}", s.tags.join(", ")))}
                </p>
            </td>
            <td class="hidden max-w-[22rem] px-4 py-3 lg:table-cell">
                <span class="block truncate font-mono text-xs text-zinc-600 dark:text-zinc-400" title=s.resource_url.clone()>{s.resource_url.clone()}</span>
            </td>
            <td class="px-4 py-3 text-right tabular-nums">
                {format_count(s.tools)}
                {(s.quarantined > 0).then(|| view! {
                    <span class="ml-2"><Badge tone=Tone::Attention label=format!("{} quarantined", format_count(s.quarantined))/></span>
                })}
            </td>
            <td class="px-4 py-3 text-right tabular-nums">{format_count(s.grants)}</td>
            <td class="px-4 py-3">
                {if s.enabled {
                    view! { <Badge tone=Tone::Ok label="Enabled"/> }.into_any()
                } else {
                    view! { <Badge tone=Tone::Neutral label="Disabled"/> }.into_any()
                }}
            </td>
            <td class="hidden px-4 py-3 text-zinc-600 md:table-cell dark:text-zinc-400">
                {match (s.discovery_error.is_some(), s.discovered_at) {
                    (true, _) => view! { <Badge tone=Tone::Danger label="Discovery failed"/> }.into_any(),
                    (false, Some(at)) => view! { <RelTime at/> }.into_any(),
                    (false, None) => view! { <span class="text-zinc-400">"Never"</span> }.into_any(),
                }}
            </td>
        </tr>
    }
}
