//! Settings → API reference: the admin REST API's operations, rendered from
//! the same OpenAPI document served at `/api/openapi.json` (grouped by tag:
//! method, path, what it does, parameters, body and answers).

use crate::components::{ErrorPanel, PageHeader, Skeleton};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

/// One parameter of an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamDoc {
    pub name: String,
    /// `path`, `query` or `header`.
    pub location: String,
    pub required: bool,
    pub schema: String,
    pub description: String,
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationDoc {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub params: Vec<ParamDoc>,
    /// The request body's schema name.
    pub body: Option<String>,
    /// `(status, schema name)`.
    pub responses: Vec<(String, String)>,
}

/// A tag and its operations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagDoc {
    pub name: String,
    pub description: String,
    pub operations: Vec<OperationDoc>,
}

/// The reference as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceView {
    pub title: String,
    pub version: String,
    pub description: String,
    pub tags: Vec<TagDoc>,
}

/// The API reference. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/api_reference")]
pub async fn api_reference() -> Result<ReferenceView, AppError> {
    let (_, actor) = crate::ssr::ctx_and_actor()?;
    actor.require(portcullis_domain::Permission::ConsoleRead)?;
    let doc = use_context::<crate::ssr::ApiReferenceDoc>().ok_or_else(|| {
        AppError::from(portcullis_domain::Error::Internal(
            "no OpenAPI document".into(),
        ))
    })?;
    let doc: serde_json::Value = serde_json::from_str(doc.0)
        .map_err(|e| AppError::from(portcullis_domain::Error::Internal(e.to_string())))?;
    Ok(ssr::reference(&doc))
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use serde_json::Value;

    /// A schema's short name: `ServerSummary`, `ServerSummary[]`, `string`.
    pub fn schema_name(s: &Value) -> String {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            return r.rsplit('/').next().unwrap_or(r).to_owned();
        }
        if let Some(all) = s
            .get("oneOf")
            .or_else(|| s.get("allOf"))
            .and_then(Value::as_array)
        {
            let names: Vec<String> = all
                .iter()
                .map(schema_name)
                .filter(|n| n != "null")
                .collect();
            return names.join(" | ");
        }
        let ty = match s.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("any")
                .to_owned(),
            _ => "any".to_owned(),
        };
        match ty.as_str() {
            "array" => format!("{}[]", s.get("items").map(schema_name).unwrap_or_default()),
            "object" => match s.pointer("/properties/items/items") {
                Some(items) => format!("page of {}", schema_name(items)),
                None => "object".to_owned(),
            },
            _ => match s.get("format").and_then(Value::as_str) {
                Some(f) => format!("{ty} ({f})"),
                None => ty,
            },
        }
    }

    /// A text of the document; Markdown code spans (`x`) are shown plain.
    fn text(v: &Value, key: &str) -> String {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .replace('`', "")
    }

    pub fn reference(doc: &Value) -> ReferenceView {
        let mut tags: Vec<TagDoc> = doc
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| TagDoc {
                name: text(t, "name"),
                description: text(t, "description"),
                operations: Vec::new(),
            })
            .collect();
        let empty = serde_json::Map::new();
        let paths = doc
            .get("paths")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(op) = item.get(method) else { continue };
                let params = op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| ParamDoc {
                        name: text(p, "name"),
                        location: text(p, "in"),
                        required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                        schema: p.get("schema").map(schema_name).unwrap_or_default(),
                        description: text(p, "description"),
                    })
                    .collect();
                let body = op
                    .pointer("/requestBody/content/application~1json/schema")
                    .map(schema_name);
                let responses = op
                    .get("responses")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| {
                        let schema = r
                            .get("content")
                            .and_then(Value::as_object)
                            .and_then(|c| c.values().next())
                            .and_then(|c| c.get("schema"))
                            .map(schema_name)
                            .unwrap_or_else(|| text(r, "description"));
                        (status.clone(), schema)
                    })
                    .collect();
                let operation = OperationDoc {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: text(op, "summary"),
                    description: text(op, "description"),
                    params,
                    body,
                    responses,
                };
                let tag = op
                    .pointer("/tags/0")
                    .and_then(Value::as_str)
                    .unwrap_or("other")
                    .to_owned();
                match tags.iter_mut().find(|t| t.name == tag) {
                    Some(t) => t.operations.push(operation),
                    None => tags.push(TagDoc {
                        name: tag,
                        description: String::new(),
                        operations: vec![operation],
                    }),
                }
            }
        }
        tags.retain(|t| !t.operations.is_empty());
        ReferenceView {
            title: doc
                .pointer("/info/title")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            version: doc
                .pointer("/info/version")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            description: doc
                .pointer("/info/description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .replace('`', ""),
            tags,
        }
    }
}

fn method_classes(method: &str) -> &'static str {
    match method {
        "GET" => "bg-sky-50 text-sky-700 ring-sky-600/20 dark:bg-sky-500/10 dark:text-sky-300",
        "POST" => "bg-emerald-50 text-emerald-700 ring-emerald-600/20 dark:bg-emerald-500/10 dark:text-emerald-300",
        "DELETE" => "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-500/10 dark:text-red-300",
        _ => "bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-500/10 dark:text-amber-300",
    }
}

/// `/settings/api-reference`.
#[component]
pub fn ApiReferencePage() -> impl IntoView {
    let reference = Resource::new(|| (), |_| api_reference());
    view! {
        <Title text="API reference · Portcullis"/>
        <PageHeader title="API reference" description="Every operation of the admin REST API under /api/v1/admin/, from its OpenAPI document.">
            <a href="/api/openapi.json" class="btn-secondary" rel="external">"OpenAPI document"</a>
            <a href="/settings/api-keys" class="btn-secondary">"API keys"</a>
        </PageHeader>
        <Transition fallback=|| view! { <Skeleton rows=8/> }>
            {move || Suspend::new(async move {
                match reference.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(r) => view! {
                        <p class="mb-6 max-w-3xl text-sm text-zinc-600 dark:text-zinc-400">{r.description.clone()} " Version " {r.version.clone()} "."</p>
                        <nav aria-label="Sections" class="mb-6 flex flex-wrap gap-2">
                            {r.tags.iter().map(|t| view! {
                                <a href=format!("#tag-{}", t.name) class="rounded-md border border-zinc-200 px-2.5 py-1 text-xs font-medium text-zinc-700 hover:bg-zinc-50 dark:border-zinc-700 dark:text-zinc-300 dark:hover:bg-zinc-800">{tag_title(&t.name)}</a>
                            }).collect_view()}
                        </nav>
                        <div class="space-y-8">
                            {r.tags.into_iter().map(tag_section).collect_view()}
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A tag's heading: `api-keys` → "API keys".
fn tag_title(tag: &str) -> String {
    match tag {
        "api-keys" => "API keys".to_owned(),
        "sso" => "Single sign-on".to_owned(),
        "clients" => "OAuth clients".to_owned(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
    }
}

fn tag_section(t: TagDoc) -> impl IntoView {
    view! {
        <section id=format!("tag-{}", t.name) aria-labelledby=format!("tag-title-{}", t.name)>
            <h2 id=format!("tag-title-{}", t.name) class="text-lg font-semibold">{tag_title(&t.name)}</h2>
            <p class="mb-3 text-sm text-zinc-500">{t.description.clone()}</p>
            <div class="space-y-3">
                {t.operations.into_iter().map(operation_card).collect_view()}
            </div>
        </section>
    }
}

fn operation_card(op: OperationDoc) -> impl IntoView {
    let has_params = !op.params.is_empty();
    view! {
        <details class="group rounded-lg border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900" data-testid="api-operation">
            <summary class="flex cursor-pointer flex-wrap items-center gap-3 px-4 py-3">
                <span class=format!("inline-flex w-16 justify-center rounded-md px-2 py-0.5 font-mono text-xs font-semibold ring-1 ring-inset {}", method_classes(&op.method))>{op.method.clone()}</span>
                <code class="break-all font-mono text-sm">{op.path.clone()}</code>
                <span class="text-sm text-zinc-500">{op.summary.clone()}</span>
            </summary>
            <div class="space-y-4 border-t border-zinc-100 px-4 py-4 text-sm dark:border-zinc-800">
                {(!op.description.is_empty()).then(|| view! { <p class="text-zinc-600 dark:text-zinc-400">{op.description.clone()}</p> })}
                {has_params.then(|| view! {
                    <div class="overflow-x-auto">
                        <table class="min-w-full text-sm">
                            <thead class="text-left text-xs uppercase tracking-wide text-zinc-500">
                                <tr><th class="py-1 pr-4">"Parameter"</th><th class="py-1 pr-4">"In"</th><th class="py-1 pr-4">"Type"</th><th class="py-1">"Description"</th></tr>
                            </thead>
                            <tbody class="divide-y divide-zinc-100 dark:divide-zinc-800">
                                {op.params.clone().into_iter().map(|p| view! {
                                    <tr>
                                        <td class="py-1.5 pr-4 font-mono text-xs">{p.name}{p.required.then_some(" *")}</td>
                                        <td class="py-1.5 pr-4 text-zinc-500">{p.location}</td>
                                        <td class="py-1.5 pr-4 font-mono text-xs text-zinc-600 dark:text-zinc-400">{p.schema}</td>
                                        <td class="py-1.5 text-zinc-600 dark:text-zinc-400">{p.description}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })}
                {op.body.clone().map(|b| view! {
                    <p><span class="font-medium">"Body: "</span><code class="font-mono text-xs">{b}</code>" (application/json)"</p>
                })}
                <div>
                    <p class="font-medium">"Answers"</p>
                    <ul class="mt-1 flex flex-wrap gap-2">
                        {op.responses.into_iter().map(|(status, schema)| view! {
                            <li class="rounded-md bg-zinc-50 px-2 py-1 font-mono text-xs dark:bg-zinc-800">{status}" "<span class="text-zinc-500">{schema}</span></li>
                        }).collect_view()}
                    </ul>
                </div>
            </div>
        </details>
    }
}
