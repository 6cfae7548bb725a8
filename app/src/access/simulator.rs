//! Access → Simulator: "can this person call this tool on this server?",
//! at the current revision or an earlier one, answered by the same
//! evaluator the gateways run, with every grant that matched and the one
//! that decided. The question is the URL's query (`user`, `server`, `tool`,
//! `rev`), so an answer can be linked and the form works without script.

use super::api::{list_access_servers, list_access_tools, list_grants, simulate, Simulation};
use super::{field_error, target_words, via_view, EffectBadge, HELP, INPUT, LABEL, LINK};
use crate::components::{Badge, EmptyState, ErrorPanel, PageHeader, Picker, Skeleton, Tone};
use crate::directory::{CARD, TABLE_CARD, THEAD};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use portcullis_types::{GrantSummary, ServerSummary, ToolStatus, ToolSummary};

const PATH: &str = "/access/simulator";

/// The fields the form shows errors for, next to the input.
const FORM_FIELDS: [&str; 5] = ["person", "server", "tool", "revision", "via"];

/// The asked server's grants (to describe matching rules) and the asked
/// tool, if the catalog has it.
type SimContext = (Vec<GrantSummary>, Option<ToolSummary>);

/// The question in the URL.
#[derive(Clone, Debug, Default, PartialEq)]
struct Question {
    user: String,
    server: String,
    tool: String,
    rev: String,
    /// An agent acting for the person (a delegated call), if asked.
    via: String,
}

impl Question {
    /// Nothing to ask yet: a link may fill in the server and tool only.
    fn is_empty(&self) -> bool {
        self.user.is_empty()
    }
}

/// `/access/simulator?user=…&server=…&tool=…&rev=…`.
#[component]
pub fn SimulatorPage() -> impl IntoView {
    let query = use_query_map();
    let question = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default().trim().to_owned();
        Question {
            user: get("user"),
            server: get("server"),
            tool: get("tool"),
            rev: get("rev"),
            via: get("via"),
        }
    };
    let answer = Resource::new(question, |q| async move {
        if q.is_empty() {
            None
        } else {
            Some(simulate(q.user, q.server, q.tool, q.rev, q.via).await)
        }
    });
    let servers = Resource::new(|| (), |_| list_access_servers());
    // The grants of the asked server, to describe the rules that matched,
    // and the asked tool, to explain a destructive tool's deny.
    let context: Resource<Result<SimContext, AppError>> = Resource::new(
        move || {
            let q = question();
            (q.server, q.tool)
        },
        |(server, tool)| async move {
            if server.is_empty() {
                return Ok((Vec::new(), None));
            }
            let list = list_access_servers().await?;
            let Some(s) = list
                .into_iter()
                .find(|s| s.id == server || s.slug == server)
            else {
                return Ok((Vec::new(), None));
            };
            let grants = list_grants(String::new(), s.id.clone(), 0).await?.items;
            let tool = list_access_tools(s.id)
                .await?
                .into_iter()
                .find(|t| t.name == tool);
            Ok((grants, tool))
        },
    );
    // The server picked in the form (before it is submitted), for its tools.
    let picked = RwSignal::new(query.with_untracked(|q| q.get("server").unwrap_or_default()));
    Effect::new(move |_| picked.set(question().server));
    // A server chosen before hydration fired no change event: pick it up
    // once the select is live.
    let server_select = NodeRef::<leptos::html::Select>::new();
    Effect::new(move |_| {
        if let Some(el) = server_select.get() {
            let v = el.value();
            if !v.is_empty() && v != picked.get_untracked() {
                picked.set(v);
            }
        }
    });
    let tools = Resource::new(
        move || picked.get(),
        |s| async move {
            if s.is_empty() {
                Ok(Vec::new())
            } else {
                list_access_tools(s).await
            }
        },
    );

    view! {
        <Title text="Simulator · Portcullis"/>
        <PageHeader title="Simulator"
            description="Ask whether a person or an agent can call a tool, now or at an earlier policy revision, and see which grants decided."/>
        <Transition fallback=|| view! { <Skeleton rows=6/> }>
            {move || {
                let q = question();
                Suspend::new(async move {
                    let server_list = servers.await.unwrap_or_default();
                    let answer = answer.await;
                    let (matched_grants, tool) = context.await.unwrap_or_default();
                    let error = match &answer {
                        Some(Err(e)) => Some(e.clone()),
                        _ => None,
                    };
                    let server = server_list.iter().find(|s| s.id == q.server || s.slug == q.server).cloned();
                    view! {
                        {question_form(&q, server_list, error.clone(), picked, tools, server_select)}
                        {match answer {
                            None => view! {
                                <section class=CARD>
                                    <EmptyState title="Ask a question"
                                        hint="Enter a person's email, a server and one of its tools. The simulator evaluates the same policy the gateways enforce — at the current revision or any earlier one — and lists every grant that matched and the one that decided."/>
                                </section>
                            }.into_any(),
                            Some(Err(e)) if e.fields.iter().any(|f| FORM_FIELDS.contains(&f.field.as_str())) => ().into_any(),
                            Some(Err(e)) => view! { <ErrorPanel error=e/> }.into_any(),
                            Some(Ok(sim)) => view! {
                                {sim.via.clone().map(|(id, name, d)| delegated_view(&name, &id, &sim.person, d))}
                                {answer_view(sim, &q, server, matched_grants, tool)}
                            }.into_any(),
                        }}
                    }
                })
            }}
        </Transition>
    }
}

/// The question form: a GET form, so the answer has a URL.
fn question_form(
    q: &Question,
    servers: Vec<ServerSummary>,
    error: Option<AppError>,
    picked: RwSignal<String>,
    tools: Resource<Result<Vec<ToolSummary>, AppError>>,
    server_select: NodeRef<leptos::html::Select>,
) -> impl IntoView {
    let err = |f: &str| error.as_ref().and_then(|e| e.field(f));
    let current_tool = q.tool.clone();
    let current_server = q.server.clone();
    view! {
        <form method="get" action=PATH class=format!("{CARD} mb-6 p-5") data-testid="simulator-form" aria-label="Question">
            <div class="grid gap-4 md:grid-cols-2 xl:grid-cols-[1.4fr_1fr_1fr_0.6fr]">
                <div>
                    <label for="sim-user" class=LABEL>"Person or agent"</label>
                    <Picker id="sim-user" name="user" placeholder="alice@company.com" free_text=true
                        initial=q.user.clone() search=super::api::pick_principals none="No active person or agent matches."/>
                    {field_error("Person", err("person"))}
                </div>
                <div>
                    <label for="sim-server" class=LABEL>"Server"</label>
                    <select id="sim-server" name="server" class=INPUT required node_ref=server_select
                        on:change=move |ev| picked.set(event_target_value(&ev))>
                        <option value="">{if servers.is_empty() { "No servers in the catalog" } else { "Choose a server…" }}</option>
                        {servers.into_iter().map(|s| {
                            let selected = s.id == current_server || s.slug == current_server;
                            let label = format!("{} ({})", s.name, s.slug);
                            view! { <option value=s.id selected=selected>{label}</option> }
                        }).collect_view()}
                    </select>
                    {field_error("Server", err("server"))}
                </div>
                <div>
                    <label for="sim-tool" class=LABEL>"Tool"</label>
                    <Transition fallback=move || view! { <input id="sim-tool" name="tool" type="text" class=INPUT/> }>
                        {
                            let current_tool = current_tool.clone();
                            move || {
                                let current = current_tool.clone();
                                Suspend::new(async move {
                                    let list = tools.await.unwrap_or_default();
                                    if list.is_empty() {
                                        view! {
                                            <input id="sim-tool" name="tool" type="text" required class=INPUT
                                                placeholder="search_code" value=current/>
                                        }.into_any()
                                    } else {
                                        let known = list.iter().any(|t| t.name == current);
                                        view! {
                                            <select id="sim-tool" name="tool" class=INPUT required>
                                                <option value="">"Choose a tool…"</option>
                                                {(!known && !current.is_empty()).then(|| view! {
                                                    <option value=current.clone() selected>{format!("{current} (not in the catalog now)")}</option>
                                                })}
                                                {list.into_iter().map(|t| {
                                                    let selected = t.name == current;
                                                    let label = match t.status {
                                                        ToolStatus::Active => t.name.clone(),
                                                        ToolStatus::Quarantined => format!("{} (quarantined)", t.name),
                                                        ToolStatus::Removed => format!("{} (removed)", t.name),
                                                    };
                                                    view! { <option value=t.name selected=selected>{label}</option> }
                                                }).collect_view()}
                                            </select>
                                        }.into_any()
                                    }
                                })
                            }
                        }
                    </Transition>
                    {field_error("Tool", err("tool"))}
                </div>
                <div>
                    <label for="sim-rev" class=LABEL>"Revision"</label>
                    <input id="sim-rev" name="rev" type="number" min="1" step="1" inputmode="numeric"
                        class=INPUT placeholder="Current" value=q.rev.clone()/>
                    {field_error("Revision", err("revision"))}
                </div>
            </div>
            <div class="mt-4 max-w-md">
                <label for="sim-via" class=LABEL>"Acting through an agent " <span class="font-normal text-zinc-400">"(optional)"</span></label>
                <Picker id="sim-via" name="via" placeholder="Search agents by name…" free_text=true
                    initial=q.via.clone() search=crate::agents::api::pick_agents none="No agent matches."/>
                <p class=HELP>"Asks about a delegated call: the agent acting for the person, as a gateway decides a token whose act names it."</p>
                {field_error("Agent", err("via"))}
            </div>
            <div class="mt-4 flex flex-wrap items-center justify-between gap-3">
                <p class=HELP>"Expiry is checked against the current time. Leave the revision empty for the policy in force now."</p>
                <button type="submit" class="btn-primary" data-testid="simulate">"Check access"</button>
            </div>
        </form>
    }
}

/// The verdict for a delegated call: all three checks, then (below it) the
/// person's own answer as usual.
fn delegated_view(
    agent: &str,
    agent_id: &str,
    person: &str,
    d: portcullis_types::DelegatedSimulation,
) -> impl IntoView {
    let (tone, word) = if d.allowed {
        (Tone::Ok, "Allowed")
    } else {
        (Tone::Danger, "Denied")
    };
    let check = |ok: bool, label: String| {
        let (tone, word) = if ok {
            (Tone::Ok, "Yes")
        } else {
            (Tone::Danger, "No")
        };
        view! {
            <li class="flex items-start justify-between gap-3 py-2">
                <span class="text-sm">{label}</span>
                <Badge tone label=word/>
            </li>
        }
    };
    let person_ok = d.reason != "person_denied";
    let agent_reason = d.agent.reason.clone();
    view! {
        <section class=format!("{CARD} mb-6 p-5") data-testid="sim-delegated" aria-label="Delegated call">
            <div class="flex flex-wrap items-center gap-3">
                <h2 class="text-base font-semibold">{format!("{agent} acting for {person}")}</h2>
                <Badge tone label=word/>
            </div>
            <p class="mt-2 text-sm text-zinc-600 dark:text-zinc-300" data-testid="sim-delegated-answer">{d.explanation.clone()}</p>
            <ul class="mt-3 divide-y divide-zinc-100 dark:divide-zinc-800">
                {check(person_ok, format!("{person} may call it (below)"))}
                {check(d.agent.allowed, format!("{agent}'s own grants allow it ({agent_reason})"))}
                {check(d.delegated, format!("A delegation lets {agent} act for {person} here"))}
            </ul>
            <p class=HELP>
                <a class=LINK href="/agents">"Delegations are on the Agents page"</a>
                {format!(" (agent {agent_id}).")}
            </p>
        </section>
    }
}

/// The answer: a big Allowed / Denied, the reason, and the matching rules.
fn answer_view(
    sim: Simulation,
    q: &Question,
    server: Option<ServerSummary>,
    grants: Vec<GrantSummary>,
    tool: Option<ToolSummary>,
) -> impl IntoView {
    let r = sim.result;
    let server_name = server
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_else(|| q.server.clone());
    let server_id = server.as_ref().map(|s| s.id.clone()).unwrap_or_default();
    let (ring, icon_bg, word_class, icon) = if r.allowed {
        (
            "border-emerald-200 dark:border-emerald-900",
            "bg-emerald-100 text-emerald-700 dark:bg-emerald-500/15 dark:text-emerald-300",
            "text-emerald-700 dark:text-emerald-300",
            "M5 10.5l3.5 3.5L15 6.5",
        )
    } else {
        (
            "border-red-200 dark:border-red-900",
            "bg-red-100 text-red-700 dark:bg-red-500/15 dark:text-red-300",
            "text-red-700 dark:text-red-300",
            "M6 6l8 8M14 6l-8 8",
        )
    };
    let sentence = format!(
        "{} {} call {} on {}.",
        sim.person,
        if r.allowed { "may" } else { "may not" },
        q.tool,
        server_name
    );
    let at = if q.rev.is_empty() {
        format!("Revision {} (current)", r.revision)
    } else {
        format!("Revision {}", r.revision)
    };
    // A whole-server or annotation allow does not cover a destructive tool:
    // say so when that is why no grant applied.
    let destructive_hint = (!r.allowed && r.reason == "no_grant")
        .then_some(())
        .and(tool.filter(|t| t.effective.destructive))
        .map(|t| {
            format!(
                "{} is marked destructive: allows for the whole server or by annotation cover it only when they include destructive tools. Grant it by name, or tick “Include destructive tools”.",
                t.name
            )
        });
    let expired_hint = (!r.allowed && r.rules.iter().any(|m| m.expired))
        .then_some("A grant that would cover this has expired: it no longer applies.");
    let n = r.rules.len();
    let rules = r.rules.clone();
    let grants_href = |id: &str| format!("/access/grants?server={server_id}#grant-{id}");
    view! {
        <section class=format!("rounded-lg border-2 bg-white p-6 shadow-sm dark:bg-zinc-900 {ring}")
            data-testid="sim-answer" data-allowed=r.allowed.to_string() aria-live="polite">
            <div class="flex items-start gap-4">
                <div class=format!("flex h-12 w-12 shrink-0 items-center justify-center rounded-full {icon_bg}") aria-hidden="true">
                    <svg viewBox="0 0 20 20" class="h-7 w-7" fill="none" stroke="currentColor" stroke-width="2.4">
                        <path d=icon stroke-linecap="round" stroke-linejoin="round"/>
                    </svg>
                </div>
                <div class="min-w-0 flex-1">
                    <p class=format!("text-2xl font-semibold tracking-tight {word_class}") data-testid="sim-verdict">
                        {if r.allowed { "Allowed" } else { "Denied" }}
                    </p>
                    <p class="mt-1 break-words text-base text-zinc-800 dark:text-zinc-200">{sentence}</p>
                    <p class="mt-2 text-sm text-zinc-600 dark:text-zinc-400" data-testid="sim-explanation">{r.explanation.clone()}</p>
                    {expired_hint.map(|h| view! {
                        <p class="mt-2 text-sm text-zinc-600 dark:text-zinc-400" data-testid="sim-expired">{h}</p>
                    })}
                    {destructive_hint.map(|h| view! {
                        <p class="mt-2 text-sm text-zinc-600 dark:text-zinc-400" data-testid="sim-destructive">{h}</p>
                    })}
                    <div class="mt-4 flex flex-wrap items-center gap-x-4 gap-y-2 text-xs text-zinc-500">
                        <span class="inline-flex items-center gap-1.5"><Badge tone=Tone::Neutral label=at/></span>
                        <span>"Reason code " <code class="font-mono text-zinc-700 dark:text-zinc-300">{r.reason.clone()}</code></span>
                        {if sim.person_id.starts_with("agt_") {
                            view! { <a class=LINK href=format!("/agents?q={}", sim.person_id)>"This agent on the Agents page"</a> }.into_any()
                        } else {
                            view! { <a class=LINK href=format!("/directory/users/{}?tab=access", sim.person_id)>"All of this person's access"</a> }.into_any()
                        }}
                        {(!server_id.is_empty()).then(|| view! {
                            <a class=LINK href=format!("/access/grants?server={server_id}")>"Grants on this server"</a>
                        })}
                    </div>
                </div>
            </div>
        </section>

        <h2 class="mt-8 mb-2 text-sm font-semibold">{format!("Grants that matched ({n})")}</h2>
        <div class=TABLE_CARD>
            {if rules.is_empty() {
                if r.reason == "no_grant" {
                    view! {
                        <p class="px-4 py-5 text-sm text-zinc-600 dark:text-zinc-400" data-testid="sim-no-rules">
                            "No grant covers this person and tool, so the answer is the default: deny. "
                            <a class=LINK href="/access/grants">"Grant the person or one of their groups access"</a>
                            " to change it."
                        </p>
                    }.into_any()
                } else {
                    view! {
                        <p class="px-4 py-5 text-sm text-zinc-600 dark:text-zinc-400" data-testid="sim-no-rules">
                            "No grant applies: the answer follows from the reason above, whatever the grants say."
                        </p>
                    }.into_any()
                }
            } else {
                view! {
                    <table class="w-full table-fixed text-sm" data-testid="sim-rules">
                        <colgroup>
                            <col class="w-[6.5rem]"/>
                            <col/>
                            <col class="w-[30%]"/>
                            <col class="w-[13rem]"/>
                        </colgroup>
                        <thead class=THEAD>
                            <tr>
                                <th scope="col" class="px-4 py-3">"Effect"</th>
                                <th scope="col" class="px-4 py-3">"Grant"</th>
                                <th scope="col" class="px-4 py-3">"Reaches them via"</th>
                                <th scope="col" class="px-4 py-3">"Outcome"</th>
                            </tr>
                        </thead>
                        <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                            {rules.into_iter().map(|m| {
                                let g = grants.iter().find(|g| g.id == m.grant_id);
                                let desc = g.map(|g| format!("{} → {}", g.subject_display, target_words(&g.target)));
                                view! {
                                    <tr data-testid="sim-rule" data-deciding=m.deciding.to_string()
                                        class=if m.deciding { "bg-indigo-50/50 dark:bg-indigo-500/5" } else { "" }>
                                        <td class="px-4 py-3"><EffectBadge effect=m.effect.clone()/></td>
                                        <td class="px-4 py-3">
                                            {desc.map(|d| view! { <p class="truncate font-medium" title=d.clone()>{d.clone()}</p> })}
                                            <a class="font-mono text-xs text-zinc-500 hover:text-indigo-600 hover:underline dark:hover:text-indigo-400"
                                                href=grants_href(&m.grant_id) title="Show in the grants list">{m.grant_id.clone()}</a>
                                        </td>
                                        <td class="px-4 py-3">{via_view(&m.via)}</td>
                                        <td class="px-4 py-3">
                                            {match (m.deciding, m.expired) {
                                                (_, true) => view! { <Badge tone=Tone::Neutral label="Expired — did not apply"/> }.into_any(),
                                                (true, false) => view! { <Badge tone=Tone::Accent label="Decided the answer"/> }.into_any(),
                                                (false, false) => view! { <span class="text-zinc-500">"Applied, not deciding"</span> }.into_any(),
                                            }}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </div>
        <p class="mt-3 text-xs text-zinc-500">
            "A deny grant wins over any allow; with no grant that applies, the answer is deny."
        </p>
    }
}
