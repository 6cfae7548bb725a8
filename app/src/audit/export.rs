//! The explorer's export buttons: CSV or JSONL of the events the filters
//! match, with progress.
//!
//! Each button is a link to `/console/audit/export` (a plain download
//! without script). With the app running, a click fetches the same URL and
//! reads it chunk by chunk: the answer's `X-Audit-Events` header says how
//! many events are coming, the newlines read say how many have come, and
//! the bar shows it; when the stream ends the file is handed to the browser
//! to save. A transfer the server cut off (it failed part way) is reported
//! as failed, never saved as if whole.

use crate::components::misc::format_count;
use leptos::prelude::*;

/// Where an export stands (only the browser runs one).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq)]
pub enum ExportState {
    Idle,
    Running {
        format: &'static str,
        done: i64,
        total: i64,
    },
    Done {
        format: &'static str,
        events: i64,
    },
    Failed(String),
}

/// "Export CSV" and "Export JSONL" for the filters in `query` (a query
/// string without the leading `?`), and the progress of the running one.
#[component]
pub fn ExportButtons(#[prop(into)] query: Signal<String>) -> impl IntoView {
    let state = RwSignal::new(ExportState::Idle);
    let href = move |format: &str| {
        let q = query.get();
        if q.is_empty() {
            format!("/console/audit/export?format={format}")
        } else {
            format!("/console/audit/export?format={format}&{q}")
        }
    };
    let busy = move || matches!(state.get(), ExportState::Running { .. });
    let start = move |ev: leptos::ev::MouseEvent, format: &'static str| {
        #[cfg(feature = "hydrate")]
        {
            ev.prevent_default();
            if busy() {
                return;
            }
            let url = href(format);
            state.set(ExportState::Running {
                format,
                done: 0,
                total: 0,
            });
            leptos::task::spawn_local(async move {
                let end = match download(&url, format, state).await {
                    Ok(events) => ExportState::Done { format, events },
                    Err(e) => ExportState::Failed(e),
                };
                state.set(end);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, format);
    };
    view! {
        <div class="flex flex-col items-end gap-2">
            <div class="flex gap-2">
                <a class="btn-secondary" href=move || href("csv") data-testid="export-csv"
                    aria-disabled=move || busy().to_string()
                    on:click=move |ev| start(ev, "csv")>"Export CSV"</a>
                <a class="btn-secondary" href=move || href("jsonl") data-testid="export-jsonl"
                    aria-disabled=move || busy().to_string()
                    on:click=move |ev| start(ev, "jsonl")>"Export JSONL"</a>
            </div>
            {move || match state.get() {
                ExportState::Idle => ().into_any(),
                ExportState::Running { format, done, total } => {
                    let pct = if total > 0 { (done * 100 / total).clamp(0, 100) } else { 0 };
                    view! {
                        <div class="w-64" role="status" data-testid="export-progress">
                            <p class="mb-1 text-xs text-zinc-600 dark:text-zinc-400 tabular-nums">
                                {format!("Exporting {}… {} of {} events", format.to_uppercase(), format_count(done.min(total)), format_count(total))}
                            </p>
                            <div class="h-1.5 overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-800">
                                <div class="h-full rounded-full bg-indigo-500 transition-all" style=format!("width: {pct}%")></div>
                            </div>
                        </div>
                    }.into_any()
                }
                ExportState::Done { format, events } => view! {
                    <p class="text-xs text-emerald-700 dark:text-emerald-400" role="status" data-testid="export-done">
                        {format!("Exported {} events as {}.", format_count(events), format.to_uppercase())}
                    </p>
                }.into_any(),
                ExportState::Failed(e) => view! {
                    <p class="max-w-xs text-right text-xs text-red-700 dark:text-red-400" role="alert">
                        {format!("The export failed: {e}. Nothing was saved; try again.")}
                    </p>
                }.into_any(),
            }}
        </div>
    }
}

/// Fetches `url`, counting events as they arrive into `state`, then saves
/// the whole file. Returns how many events it held.
#[cfg(feature = "hydrate")]
async fn download(
    url: &str,
    format: &'static str,
    state: RwSignal<ExportState>,
) -> Result<i64, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    fn js(e: wasm_bindgen::JsValue) -> String {
        e.as_string()
            .or_else(|| js_sys::Error::from(e).message().as_string())
            .unwrap_or_else(|| "the connection failed".into())
    }
    let window = web_sys::window().ok_or("no window")?;
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    if !resp.ok() {
        return Err(format!("the console answered {}", resp.status()));
    }
    let total: i64 = resp
        .headers()
        .get("x-audit-events")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let reader: web_sys::ReadableStreamDefaultReader = resp
        .body()
        .ok_or("an empty answer")?
        .get_reader()
        .dyn_into()
        .map_err(|_| "the answer cannot be read".to_owned())?;
    let parts = js_sys::Array::new();
    let mut lines = 0i64;
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(js)?;
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .map_err(js)?
            .as_bool()
            .unwrap_or(true);
        if done {
            break;
        }
        let value: js_sys::Uint8Array = js_sys::Reflect::get(&chunk, &"value".into())
            .map_err(js)?
            .dyn_into()
            .map_err(js)?;
        lines += value.to_vec().iter().filter(|b| **b == b'\n').count() as i64;
        parts.push(&value);
        // A CSV's first line is its header.
        let events = if format == "csv" {
            (lines - 1).max(0)
        } else {
            lines
        };
        state.set(ExportState::Running {
            format,
            done: events,
            total,
        });
    }
    let events = if format == "csv" {
        (lines - 1).max(0)
    } else {
        lines
    };
    let kind = if format == "csv" {
        "text/csv"
    } else {
        "application/x-ndjson"
    };
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(kind);
    let blob =
        web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(js)?;
    let href = web_sys::Url::create_object_url_with_blob(&blob).map_err(js)?;
    let a: web_sys::HtmlAnchorElement = window
        .document()
        .ok_or("no document")?
        .create_element("a")
        .map_err(js)?
        .dyn_into()
        .map_err(|_| "no link element".to_owned())?;
    a.set_href(&href);
    a.set_download(&format!("portcullis-audit.{format}"));
    a.click();
    // Freed once the browser has taken the file.
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&href);
        },
        std::time::Duration::from_secs(60),
    );
    Ok(events)
}
