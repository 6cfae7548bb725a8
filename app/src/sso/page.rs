//! The Single sign-on pages: the list, a new connection, one connection.

use super::api::{
    get_sso, get_sso_connection, get_sso_test, CreateSsoConnection, DeleteSsoConnection,
    UpdateSsoConnection,
};
use crate::components::{
    AbsTime, Badge, Breadcrumbs, ConfirmDialog, CopyValue, EmptyState, ErrorPanel, Field,
    PageHeader, RelTime, RoleBadge, Skeleton, Tone,
};
use crate::directory::{CARD, ROW_LINK, TABLE_CARD, THEAD};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use portcullis_types::{Role, SsoConnectionDetail, SsoConnectionSummary, SsoKind, SsoTestResult};

const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";
const LABEL: &str = "mb-1.5 block text-sm font-medium";
const HINT: &str = "mt-1 text-xs text-zinc-500 dark:text-zinc-400";

fn kind_badge(kind: SsoKind) -> impl IntoView {
    view! { <Badge tone=Tone::Neutral label=kind.label()/> }
}

fn enabled_badge(enabled: bool) -> impl IntoView {
    if enabled {
        view! { <Badge tone=Tone::Ok label="Enabled"/> }
    } else {
        view! { <Badge tone=Tone::Neutral label="Disabled"/> }
    }
}

/// `/settings/sso`.
#[component]
pub fn SsoPage() -> impl IntoView {
    let view_res = Resource::new(|| (), |_| get_sso());
    view! {
        <Title text="Single sign-on · Portcullis"/>
        <PageHeader title="Single sign-on" description="Admins sign in through your identity provider; group mappings decide their role.">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    view_res.await.ok().filter(|v| v.can_manage).map(|_| view! {
                        <a href="/settings/sso/new" class="btn-primary" data-testid="new-sso-connection">"New connection"</a>
                    })
                })}
            </Suspense>
        </PageHeader>
        <div class=TABLE_CARD>
            <Transition fallback=|| view! { <Skeleton rows=3/> }>
                {move || Suspend::new(async move {
                    match view_res.await {
                        Err(e) => view! { <div class="p-4"><ErrorPanel error=e/></div> }.into_any(),
                        Ok(v) if v.connections.is_empty() => view! {
                            <EmptyState title="No SSO connection yet"
                                hint="Connect Okta, Entra ID, Google or any OpenID Connect or SAML 2.0 provider. Until then, admins sign in with a password.">
                                {v.can_manage.then(|| view! { <a href="/settings/sso/new" class="btn-primary">"New connection"</a> })}
                            </EmptyState>
                        }.into_any(),
                        Ok(v) => view! {
                            <table class="min-w-full text-sm" data-testid="sso-table">
                                <thead class=THEAD>
                                    <tr>
                                        <th scope="col" class="px-4 py-3">"Connection"</th>
                                        <th scope="col" class="px-4 py-3">"Email domains"</th>
                                        <th scope="col" class="px-4 py-3">"Status"</th>
                                        <th scope="col" class="px-4 py-3 text-right">"Role mappings"</th>
                                        <th scope="col" class="px-4 py-3 text-right">"People"</th>
                                        <th scope="col" class="px-4 py-3">"Last sign-in"</th>
                                    </tr>
                                </thead>
                                <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                    {v.connections.into_iter().map(connection_row).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

fn connection_row(c: SsoConnectionSummary) -> impl IntoView {
    let domains = if c.domains.is_empty() {
        "None".to_owned()
    } else {
        c.domains.join(", ")
    };
    view! {
        <tr class="relative hover:bg-zinc-50 dark:hover:bg-zinc-800/40" data-testid="sso-row" data-name=c.name.clone()>
            <td class="max-w-[18rem] px-4 py-3">
                <a href=format!("/settings/sso/{}", c.id) class=format!("block truncate {ROW_LINK}")>{c.name.clone()}</a>
                <p class="text-xs text-zinc-500">{c.kind.label()}</p>
            </td>
            <td class="max-w-[16rem] truncate px-4 py-3 text-zinc-600 dark:text-zinc-400">{domains}</td>
            <td class="px-4 py-3">{enabled_badge(c.enabled)}</td>
            <td class="px-4 py-3 text-right tabular-nums">{c.mappings}</td>
            <td class="px-4 py-3 text-right tabular-nums">{c.identities}</td>
            <td class="px-4 py-3 text-zinc-600 dark:text-zinc-400">
                {match c.last_signin_at {
                    Some(t) => view! { <RelTime at=t/> }.into_any(),
                    None => view! { <span class="text-zinc-400">"Never"</span> }.into_any(),
                }}
            </td>
        </tr>
    }
}

/// The message of `field`'s error, under its input.
fn field_error(err: Signal<Option<AppError>>, field: &'static str) -> impl IntoView {
    move || {
        err.get().and_then(|e| e.field(field)).map(|m| {
            view! { <p class="mt-1 text-xs text-red-600 dark:text-red-400" role="alert" data-field=field>{m}</p> }
        })
    }
}

/// An alert for errors not tied to one field (or naming several).
fn form_alert(err: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        err.get().map(|e| {
            let fields: Vec<String> = e.fields.iter().map(|f| f.field.clone()).collect();
            let text = if fields.is_empty() {
                e.message.clone()
            } else {
                format!("Check the highlighted fields: {}.", fields.join(", "))
            };
            view! {
                <div role="alert" data-testid="form-error" class="mb-5 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">{text}</div>
            }
        })
    }
}

/// One row of the group → role mappings editor.
#[derive(Clone, Debug, PartialEq)]
struct MappingRow {
    key: u32,
    group: String,
    role: Role,
}

/// The fields of the connection form (create and edit share them).
#[component]
fn ConnectionFields(
    kind: SsoKind,
    detail: Option<SsoConnectionDetail>,
    directories: Vec<(String, String)>,
    can_map_owner: bool,
    err: Signal<Option<AppError>>,
) -> impl IntoView {
    let d = detail.clone();
    let s = d.as_ref().map(|d| d.summary.clone());
    let name = s.as_ref().map(|s| s.name.clone()).unwrap_or_default();
    let slug = s.as_ref().map(|s| s.slug.clone()).unwrap_or_default();
    let domains = s.as_ref().map(|s| s.domains.join(", ")).unwrap_or_default();
    let enabled = s.as_ref().is_none_or(|s| s.enabled);
    let jit_people = d.as_ref().is_some_and(|d| d.jit_people);
    let directory_id = d
        .as_ref()
        .and_then(|d| d.directory_id.clone())
        .unwrap_or_default();
    let initial: Vec<MappingRow> = d
        .as_ref()
        .map(|d| d.role_mappings.clone())
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, m)| MappingRow {
            key: i as u32,
            group: m.group,
            role: m.role,
        })
        .collect();
    let next_key = StoredValue::new(initial.len() as u32 + 1);
    let rows = RwSignal::new(if initial.is_empty() {
        vec![MappingRow {
            key: 0,
            group: String::new(),
            role: Role::Admin,
        }]
    } else {
        initial
    });
    let add_row = move |_| {
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        rows.update(|r| {
            r.push(MappingRow {
                key,
                group: String::new(),
                role: Role::Auditor,
            })
        });
    };
    let protocol_fields = match kind {
        SsoKind::Oidc => {
            let o = d.as_ref().map(|d| d.oidc.clone()).unwrap_or_default();
            let has_secret = d.as_ref().is_some_and(|d| d.has_client_secret);
            let accept_id_jag = d.as_ref().is_some_and(|d| d.accept_id_jag);
            view! {
                <fieldset class="grid gap-5 sm:grid-cols-2">
                    <legend class="mb-3 text-sm font-semibold">"OpenID Connect"</legend>
                    <div class="sm:col-span-2">
                        <label for="sso-issuer" class=LABEL>"Issuer URL"</label>
                        <input id="sso-issuer" name="issuer" type="url" required class=INPUT value=o.issuer placeholder="https://acme.okta.com"/>
                        <p class=HINT>"Portcullis reads " <code>"/.well-known/openid-configuration"</code> " under it when you save; the issuer it names must match."</p>
                        {field_error(err, "issuer")}
                    </div>
                    <div>
                        <label for="sso-client-id" class=LABEL>"Client ID"</label>
                        <input id="sso-client-id" name="client_id" type="text" required class=INPUT value=o.client_id autocomplete="off"/>
                        {field_error(err, "client_id")}
                    </div>
                    <div>
                        <label for="sso-client-secret" class=LABEL>"Client secret"</label>
                        <input id="sso-client-secret" name="client_secret" type="password" class=INPUT autocomplete="new-password"
                            required=!has_secret placeholder=if has_secret { "Stored — leave empty to keep" } else { "" }/>
                        <p class=HINT>"Encrypted at rest; never shown again."</p>
                        {field_error(err, "client_secret")}
                    </div>
                    <div class="sm:col-span-2">
                        <label for="sso-scopes" class=LABEL>"Scopes"</label>
                        <input id="sso-scopes" name="scopes" type="text" class=INPUT value=if o.scopes.is_empty() { "openid email profile groups".to_owned() } else { o.scopes }/>
                        <p class=HINT>"Space-separated. Must include openid; add the scope your IdP needs to send groups."</p>
                        {field_error(err, "scopes")}
                    </div>
                    <div>
                        <label for="sso-email-claim" class=LABEL>"Email claim"</label>
                        <input id="sso-email-claim" name="email_claim" type="text" class=INPUT value=o.email_claim placeholder="email"/>
                        {field_error(err, "email_claim")}
                    </div>
                    <div>
                        <label for="sso-name-claim" class=LABEL>"Name claim"</label>
                        <input id="sso-name-claim" name="name_claim" type="text" class=INPUT value=o.name_claim placeholder="name"/>
                        {field_error(err, "name_claim")}
                    </div>
                    <div>
                        <label for="sso-groups-claim" class=LABEL>"Groups claim"</label>
                        <input id="sso-groups-claim" name="groups_claim" type="text" class=INPUT value=o.groups_claim placeholder="groups"/>
                        {field_error(err, "groups_claim")}
                    </div>
                    <div class="sm:col-span-2">
                        <div class="flex items-start gap-2">
                            <input id="sso-id-jag" name="accept_id_jag" type="checkbox" class="mt-0.5 h-4 w-4 rounded border-zinc-300" checked=accept_id_jag/>
                            <label for="sso-id-jag" class="text-sm">
                                "Accept ID-JAGs from this IdP (enterprise-managed authorization)"
                                <span class="block text-xs text-zinc-500">"MCP apps the IdP allows get tokens for people of the linked directory without a consent screen (Okta Cross App Access, MCP's enterprise-managed authorization). Checked with this issuer and its published keys; people still get only the tools the access policy grants them."</span>
                            </label>
                        </div>
                        {field_error(err, "accept_id_jag")}
                    </div>
                </fieldset>
            }
            .into_any()
        }
        SsoKind::Saml => {
            let sm = d.as_ref().map(|d| d.saml.clone()).unwrap_or_default();
            let idp_initiated = d.as_ref().is_some_and(|d| d.allow_idp_initiated);
            let has_metadata = d.is_some();
            view! {
                <fieldset class="grid gap-5 sm:grid-cols-2">
                    <legend class="mb-3 text-sm font-semibold">"SAML 2.0"</legend>
                    <div class="sm:col-span-2">
                        <label for="sso-metadata-url" class=LABEL>"IdP metadata URL"</label>
                        <input id="sso-metadata-url" name="metadata_url" type="url" class=INPUT value=sm.metadata_url placeholder="https://acme.okta.com/app/…/sso/saml/metadata"/>
                        <p class=HINT>"Fetched when you save (public addresses only, unless an operator allowed the host). Or paste the XML below."</p>
                        {field_error(err, "metadata_url")}
                    </div>
                    <div class="sm:col-span-2">
                        <label for="sso-metadata-xml" class=LABEL>"IdP metadata XML"</label>
                        <textarea id="sso-metadata-xml" name="idp_metadata_xml" rows="4" class=format!("{INPUT} font-mono text-xs")
                            placeholder=if has_metadata { "Stored — paste new metadata to replace it" } else { "<EntityDescriptor …>" }></textarea>
                        <p class=HINT>"Must carry the IdP's signing certificate; SHA-1 signatures are refused."</p>
                        {field_error(err, "idp_metadata_xml")}
                    </div>
                    <div>
                        <label for="sso-email-attr" class=LABEL>"Email attribute"</label>
                        <input id="sso-email-attr" name="email_attribute" type="text" class=INPUT value=sm.email_attribute placeholder="email"/>
                        <p class=HINT>"Falls back to the NameID when it is an email address."</p>
                    </div>
                    <div>
                        <label for="sso-name-attr" class=LABEL>"Name attribute"</label>
                        <input id="sso-name-attr" name="name_attribute" type="text" class=INPUT value=sm.name_attribute placeholder="name"/>
                    </div>
                    <div>
                        <label for="sso-groups-attr" class=LABEL>"Groups attribute"</label>
                        <input id="sso-groups-attr" name="groups_attribute" type="text" class=INPUT value=sm.groups_attribute placeholder="groups"/>
                    </div>
                    <div class="flex items-start gap-2 sm:col-span-2">
                        <input id="sso-idp-initiated" name="allow_idp_initiated" type="checkbox" class="mt-0.5 h-4 w-4 rounded border-zinc-300" checked=idp_initiated/>
                        <label for="sso-idp-initiated" class="text-sm">
                            "Allow sign-in started at the IdP (IdP-initiated)"
                            <span class="block text-xs text-zinc-500">"Off by default: such responses answer no request of this browser, so they are easier to replay or inject."</span>
                        </label>
                    </div>
                </fieldset>
            }
            .into_any()
        }
    };
    view! {
        <input type="hidden" name="kind" value=kind.as_str()/>
        <div class="grid gap-5 sm:grid-cols-2">
            <div>
                <label for="sso-name" class=LABEL>"Name"</label>
                <input id="sso-name" name="name" type="text" required maxlength="100" class=INPUT value=name placeholder="Okta"/>
                {field_error(err, "name")}
            </div>
            <div>
                <label for="sso-slug" class=LABEL>"URL name"</label>
                <input id="sso-slug" name="slug" type="text" required maxlength="63" pattern="[a-z0-9][a-z0-9\\-]*" class=INPUT value=slug placeholder="okta"/>
                <p class=HINT>"Lowercase letters, digits, hyphens. Part of the URLs below; changing it means updating the IdP."</p>
                {field_error(err, "slug")}
            </div>
            <div class="sm:col-span-2">
                <label for="sso-domains" class=LABEL>"Email domains"</label>
                <input id="sso-domains" name="domains" type="text" class=INPUT value=domains placeholder="acme.com, acme.co.uk"/>
                <p class=HINT>"People whose email is in these domains sign in here. Only these domains' emails link to console accounts."</p>
                {field_error(err, "domains")}
            </div>
            <div>
                <label for="sso-directory" class=LABEL>"SCIM directory (optional)"</label>
                <select id="sso-directory" name="directory_id" class=INPUT>
                    <option value="" selected=directory_id.is_empty()>"None"</option>
                    {directories.into_iter().map(|(id, name)| {
                        let selected = id == directory_id;
                        view! { <option value=id selected=selected>{name}</option> }
                    }).collect_view()}
                </select>
                <p class=HINT>"People provisioned there are linked by externalId, and their SCIM groups count for the mappings; deactivated people are refused."</p>
                {field_error(err, "directory_id")}
            </div>
            <div class="flex items-start gap-2 pt-7">
                <input id="sso-enabled" name="enabled" type="checkbox" class="mt-0.5 h-4 w-4 rounded border-zinc-300" checked=enabled/>
                <label for="sso-enabled" class="text-sm">
                    "Enabled"
                    <span class="block text-xs text-zinc-500">"The sign-in page sends these domains here."</span>
                </label>
            </div>
            <div class="flex items-start gap-2 sm:col-span-2">
                <input id="sso-jit" name="jit_people" type="checkbox" class="mt-0.5 h-4 w-4 rounded border-zinc-300" checked=jit_people/>
                <label for="sso-jit" class="text-sm">
                    "Create people on their first sign-in (just in time)"
                    <span class="block text-xs text-zinc-500">"For an IdP that does not push SCIM: someone of these domains who signs in for an MCP app and is not in the directory is added to it (a directory is made for this connection if it has none), with the IdP's groups as groups. Never gives console access."</span>
                </label>
            </div>
        </div>

        <div class="mt-8">{protocol_fields}</div>

        <fieldset class="mt-8">
            <legend class="text-sm font-semibold">"Who gets in"</legend>
            <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">
                "A person gets the highest role any of their groups maps to. Without a mapped role (or a role an owner gave them on the Admins page) they are refused."
            </p>
            {field_error(err, "role_mappings")}
            <div class="mt-3 space-y-2" data-testid="mappings">
                <For each=move || rows.get() key=|r| r.key let:row>
                    {
                        let key = row.key;
                        let idx = move || rows.get().iter().position(|r| r.key == key).unwrap_or(0);
                        let group_err = move || err.get().and_then(|e| e.field(&format!("role_mappings[{}].group", idx())).or_else(|| e.field(&format!("role_mappings[{}].role", idx()))));
                        view! {
                            <div class="grid grid-cols-[minmax(0,1fr)_10rem_auto] items-start gap-2" data-testid="mapping-row">
                                <div>
                                    <input name="mapping_groups[]" type="text" class=INPUT value=row.group.clone()
                                        aria-label="IdP group" placeholder="IdP group, e.g. portcullis-admins"/>
                                    {move || group_err().map(|m| view! { <p class="mt-1 text-xs text-red-600 dark:text-red-400" role="alert">{m}</p> })}
                                </div>
                                <select name="mapping_roles[]" class=INPUT aria-label="Console role">
                                    {Role::ALL.into_iter().map(|r| {
                                        let selected = r == row.role;
                                        let disabled = r == Role::Owner && !can_map_owner && !selected;
                                        view! { <option value=r.as_str() selected=selected disabled=disabled>{r.label()}</option> }
                                    }).collect_view()}
                                </select>
                                <button type="button" class="btn-secondary" aria-label="Remove mapping"
                                    on:click=move |_| rows.update(|r| r.retain(|x| x.key != key))>"Remove"</button>
                            </div>
                        }
                    }
                </For>
            </div>
            <button type="button" class="btn-secondary mt-3" on:click=add_row data-testid="add-mapping">"Add mapping"</button>
            {(!can_map_owner).then(|| view! { <p class=HINT>"Only an owner can map a group to the owner role."</p> })}
        </fieldset>
    }
}

/// `/settings/sso/new?kind=oidc|saml`.
#[component]
pub fn SsoNewPage() -> impl IntoView {
    let query = use_query_map();
    let kind = move || {
        query
            .read()
            .get("kind")
            .and_then(|k| k.parse::<SsoKind>().ok())
    };
    let view_res = Resource::new(|| (), |_| get_sso());
    let create = ServerAction::<CreateSsoConnection>::new();
    let err = Signal::derive(move || create.value().get().and_then(|r| r.err()));
    view! {
        <Title text="New SSO connection · Portcullis"/>
        <Breadcrumbs crumbs=vec![("Single sign-on".to_owned(), Some("/settings/sso".to_owned())), ("New connection".to_owned(), None)]/>
        <PageHeader title="New SSO connection" description="Connect an identity provider admins sign in through."/>
        {move || match kind() {
            None => view! {
                <div class="grid gap-4 sm:grid-cols-2" data-testid="kind-choice">
                    <a href="/settings/sso/new?kind=oidc" class=format!("{CARD} block p-5 hover:border-indigo-400")>
                        <p class="font-semibold">"OpenID Connect"</p>
                        <p class="mt-1 text-sm text-zinc-500">"Okta, Entra ID, Google, Auth0, Keycloak… You need the issuer URL, a client ID and a client secret."</p>
                    </a>
                    <a href="/settings/sso/new?kind=saml" class=format!("{CARD} block p-5 hover:border-indigo-400")>
                        <p class="font-semibold">"SAML 2.0"</p>
                        <p class="mt-1 text-sm text-zinc-500">"ADFS, Okta, Entra ID, PingFederate… You need the IdP's metadata (URL or XML)."</p>
                    </a>
                </div>
            }.into_any(),
            Some(k) => view! {
                <section class=format!("{CARD} p-6")>
                    <Suspense fallback=|| view! { <Skeleton rows=6/> }>
                        {move || Suspend::new(async move {
                            match view_res.await {
                                Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                                Ok(v) if !v.can_manage => view! {
                                    <p class="text-sm text-zinc-600">"Your role can look at SSO connections but not create them."</p>
                                }.into_any(),
                                Ok(v) => view! {
                                    {form_alert(err)}
                                    <ActionForm action=create>
                                        <ConnectionFields kind=k detail=None directories=v.directories can_map_owner=v.can_map_owner err/>
                                        <div class="mt-8 flex justify-end gap-2 border-t border-zinc-200 pt-5 dark:border-zinc-800">
                                            <a href="/settings/sso" class="btn-secondary">"Cancel"</a>
                                            <button type="submit" class="btn-primary" disabled=move || create.pending().get()>
                                                {move || if create.pending().get() { "Checking the IdP…" } else { "Create connection" }}
                                            </button>
                                        </div>
                                    </ActionForm>
                                }.into_any(),
                            }
                        })}
                    </Suspense>
                </section>
            }.into_any(),
        }}
    }
}

/// `/settings/sso/{id}` (`?test=…` shows a test result, `?saved=created`
/// says the connection was created).
#[component]
pub fn SsoConnectionPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let update = ServerAction::<UpdateSsoConnection>::new();
    let delete = ServerAction::<DeleteSsoConnection>::new();
    let detail = Resource::new(
        move || (id(), update.version().get()),
        |(id, _)| get_sso_connection(id),
    );
    let view_res = Resource::new(|| (), |_| get_sso());
    let test_id = move || query.read().get("test");
    let test = Resource::new(test_id, |t| async move {
        match t {
            Some(t) => get_sso_test(t).await.map(Some),
            None => Ok(None),
        }
    });
    let err = Signal::derive(move || update.value().get().and_then(|r| r.err()));
    let saved = move || {
        update.value().get().is_some_and(|r| r.is_ok())
            || query.read().get("saved").as_deref() == Some("created")
    };
    let confirm_open = RwSignal::new(false);
    view! {
        <Title text="SSO connection · Portcullis"/>
        <Suspense fallback=|| view! { <Skeleton rows=8/> }>
            {move || Suspend::new(async move {
                let (d, v) = match (detail.await, view_res.await) {
                    (Ok(d), Ok(v)) => (d, v),
                    (Err(e), _) | (_, Err(e)) => return view! { <ErrorPanel error=e/> }.into_any(),
                };
                let s = d.summary.clone();
                let kind = s.kind;
                let test_action = format!("/sso/test/{}", s.slug);
                let conn_id = s.id.clone();
                let delete_id = s.id.clone();
                let certs = d.idp_certificates.clone();
                let (redirect_uri, sp_entity_id, acs_url, sp_metadata_url) = (
                    d.redirect_uri.clone(),
                    d.sp_entity_id.clone(),
                    d.acs_url.clone(),
                    d.sp_metadata_url.clone(),
                );
                let delete_body = format!(
                    "“{}” and its role mappings go away; people who signed in through it keep their console accounts but cannot sign in through it any more.",
                    s.name
                );
                view! {
                    <Breadcrumbs crumbs=vec![("Single sign-on".to_owned(), Some("/settings/sso".to_owned())), (s.name.clone(), None)]/>
                    <div class="mb-6 flex flex-wrap items-start justify-between gap-4">
                        <div>
                            <h1 class="flex items-center gap-3 text-2xl font-semibold tracking-tight">
                                <span data-testid="sso-name">{s.name.clone()}</span>
                                {kind_badge(kind)}
                                {enabled_badge(s.enabled)}
                            </h1>
                            <p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">
                                {match s.identities {
                                    0 => "Nobody has signed in through it yet".to_owned(),
                                    1 => "1 person signed in through it".to_owned(),
                                    n => format!("{n} people signed in through it"),
                                }}
                                {s.last_signin_at.map(|t| view! { " · last " <RelTime at=t/> })}
                                " · changed " <AbsTime at=s.updated_at/>
                            </p>
                        </div>
                        {v.can_manage.then(|| view! {
                            <form method="post" action=test_action.clone()>
                                <button type="submit" class="btn-secondary" data-testid="test-connection">"Test connection"</button>
                            </form>
                        })}
                    </div>

                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            match test.await {
                                Ok(Some(t)) => test_panel(t).into_any(),
                                Ok(None) => ().into_any(),
                                Err(e) => view! { <div class="mb-6"><ErrorPanel error=e/></div> }.into_any(),
                            }
                        })}
                    </Suspense>

                    <section class=format!("{CARD} mb-6 p-5") aria-labelledby="idp-setup">
                        <h2 id="idp-setup" class="text-sm font-semibold">"Give these to your identity provider"</h2>
                        <dl class="mt-3 divide-y divide-zinc-100 dark:divide-zinc-800">
                            {match kind {
                                SsoKind::Oidc => view! {
                                    <Field label="Redirect URI"><CopyValue value=redirect_uri label="Copy redirect URI"/></Field>
                                    <Field label="Grant type">"Authorization code with PKCE (S256)"</Field>
                                }.into_any(),
                                SsoKind::Saml => view! {
                                    <Field label="SP entity ID"><CopyValue value=sp_entity_id label="Copy SP entity ID"/></Field>
                                    <Field label="ACS URL"><CopyValue value=acs_url label="Copy ACS URL"/></Field>
                                    <Field label="SP metadata"><a class="text-indigo-600 hover:underline dark:text-indigo-400" href=sp_metadata_url.clone()>{sp_metadata_url.clone()}</a></Field>
                                    <Field label="IdP certificates">
                                        {if certs.is_empty() {
                                            view! { <span class="text-red-600">"None"</span> }.into_any()
                                        } else {
                                            view! { <ul class="space-y-0.5 font-mono text-xs">{certs.iter().map(|c| view! { <li>{c.clone()}</li> }).collect_view()}</ul> }.into_any()
                                        }}
                                    </Field>
                                }.into_any(),
                            }}
                        </dl>
                    </section>

                    <section class=format!("{CARD} p-6") aria-labelledby="edit-title">
                        <h2 id="edit-title" class="mb-5 text-sm font-semibold">"Settings"</h2>
                        {move || saved().then(|| view! {
                            <div role="status" data-testid="saved" class="mb-5 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-800 dark:border-emerald-900 dark:bg-emerald-950/40 dark:text-emerald-300">"Saved."</div>
                        })}
                        {form_alert(err)}
                        {if v.can_manage {
                            view! {
                                <ActionForm action=update>
                                    <input type="hidden" name="id" value=conn_id.clone()/>
                                    <ConnectionFields kind detail=Some(d.clone()) directories=v.directories.clone() can_map_owner=v.can_map_owner err/>
                                    <div class="mt-8 flex items-center justify-between gap-2 border-t border-zinc-200 pt-5 dark:border-zinc-800">
                                        <button type="button" class="btn-danger" on:click=move |_| confirm_open.set(true) data-testid="delete-connection">"Delete connection"</button>
                                        <button type="submit" class="btn-primary" disabled=move || update.pending().get()>
                                            {move || if update.pending().get() { "Saving…" } else { "Save changes" }}
                                        </button>
                                    </div>
                                </ActionForm>
                            }.into_any()
                        } else {
                            read_only(d.clone()).into_any()
                        }}
                    </section>
                    <ConfirmDialog open=confirm_open title="Delete this connection?" body=delete_body
                        confirm_label="Delete connection" pending=delete.pending()
                        on_confirm=Callback::new(move |_| { delete.dispatch(DeleteSsoConnection { id: delete_id.clone() }); })/>
                }.into_any()
            })}
        </Suspense>
    }
}

/// The settings as text, for roles that cannot change them.
fn read_only(d: SsoConnectionDetail) -> impl IntoView {
    let s = d.summary.clone();
    let oidc = d.oidc.clone();
    let idp_entity_id = d.saml.idp_entity_id.clone();
    view! {
        <dl class="divide-y divide-zinc-100 dark:divide-zinc-800">
            <Field label="Email domains">{s.domains.join(", ")}</Field>
            {(s.kind == SsoKind::Oidc).then(move || view! {
                <Field label="Issuer">{oidc.issuer}</Field>
                <Field label="Client ID">{oidc.client_id}</Field>
                <Field label="Scopes">{oidc.scopes}</Field>
            })}
            {(s.kind == SsoKind::Saml).then(move || view! {
                <Field label="IdP entity ID">{idp_entity_id}</Field>
            })}
            <Field label="SCIM directory">{d.directory_name.clone().unwrap_or_else(|| "None".into())}</Field>
            <Field label="Role mappings">
                <ul class="space-y-1">
                    {d.role_mappings.iter().map(|m| view! { <li class="flex items-center gap-2"><code class="text-xs">{m.group.clone()}</code> "→" <RoleBadge role=m.role/></li> }).collect_view()}
                </ul>
            </Field>
        </dl>
    }
}

/// What a test sign-in saw. Claims are untrusted text.
fn test_panel(t: SsoTestResult) -> impl IntoView {
    let (tone, border) = if t.ok {
        (
            "text-emerald-800 dark:text-emerald-300",
            "border-emerald-200 bg-emerald-50/60 dark:border-emerald-900 dark:bg-emerald-950/30",
        )
    } else {
        (
            "text-amber-900 dark:text-amber-200",
            "border-amber-200 bg-amber-50/60 dark:border-amber-900 dark:bg-amber-950/30",
        )
    };
    view! {
        <section class=format!("mb-6 rounded-lg border p-5 {border}") data-testid="test-result" aria-labelledby="test-title">
            <h2 id="test-title" class=format!("text-sm font-semibold {tone}")>
                {if t.ok { "Test sign-in succeeded" } else { "Test sign-in would be refused" }}
            </h2>
            <p class=format!("mt-1 text-sm {tone}") data-testid="test-summary">{t.summary.clone()}</p>
            <dl class="mt-4 grid gap-x-6 gap-y-1 text-sm sm:grid-cols-2">
                <Field label="Subject">{t.subject.clone().unwrap_or_default()}</Field>
                <Field label="Email">
                    {t.email.clone().unwrap_or_else(|| "—".into())}
                    {match t.email_verified {
                        Some(true) => " (verified)",
                        Some(false) => " (not verified)",
                        None => "",
                    }}
                </Field>
                <Field label="Name">{t.name.clone().unwrap_or_else(|| "—".into())}</Field>
                <Field label="Role">
                    {match t.role {
                        Some(r) => view! { <RoleBadge role=r/> }.into_any(),
                        None => view! { <span>"None"</span> }.into_any(),
                    }}
                </Field>
                <div class="sm:col-span-2">
                    <Field label="Groups">{if t.groups.is_empty() { "None".to_owned() } else { t.groups.join(", ") }}</Field>
                </div>
            </dl>
            <details class="mt-3">
                <summary class="cursor-pointer text-sm font-medium">{format!("Everything the IdP sent ({})", t.claims.len())}</summary>
                <table class="mt-2 min-w-full text-xs">
                    <tbody class="divide-y divide-zinc-200/60 dark:divide-zinc-800">
                        {t.claims.iter().map(|(k, v)| view! {
                            <tr><td class="py-1 pr-4 align-top font-mono font-medium">{k.clone()}</td><td class="break-all py-1 font-mono">{v.clone()}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </details>
        </section>
    }
}
