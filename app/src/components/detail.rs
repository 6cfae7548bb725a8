//! Detail-page pieces: breadcrumbs, tabs, copyable ids and a label/value
//! grid. Values are rendered as text (they are often IdP-supplied).

use crate::components::misc::CopyButton;
use leptos::prelude::*;

/// "Directory / Users / Ann" above a detail page's title. The last crumb is
/// the page itself and is never a link; others link when they have a path.
#[component]
pub fn Breadcrumbs(crumbs: Vec<(String, Option<String>)>) -> impl IntoView {
    let n = crumbs.len();
    view! {
        <nav aria-label="Breadcrumb" class="mb-3">
            <ol class="flex flex-wrap items-center gap-1.5 text-sm text-zinc-500 dark:text-zinc-400">
                {crumbs.into_iter().enumerate().map(|(i, (label, href))| view! {
                    <li class="flex min-w-0 items-center gap-1.5">
                        {match (href, i + 1 == n) {
                            (_, true) => view! { <span aria-current="page" class="max-w-[24rem] truncate font-medium text-zinc-700 dark:text-zinc-200">{label}</span> }.into_any(),
                            (Some(h), false) => view! { <a href=h class="hover:text-zinc-900 hover:underline dark:hover:text-zinc-100">{label}</a> }.into_any(),
                            (None, false) => view! { <span>{label}</span> }.into_any(),
                        }}
                        {(i + 1 < n).then(|| view! { <span aria-hidden="true" class="text-zinc-300 dark:text-zinc-600">"/"</span> })}
                    </li>
                }).collect_view()}
            </ol>
        </nav>
    }
}

/// One tab of [`Tabs`]: label, link, optional count.
#[derive(Clone, Debug, PartialEq)]
pub struct Tab {
    pub label: &'static str,
    pub href: String,
    pub count: Option<i64>,
    pub active: bool,
}

/// Tabs as links (the facets of one object); the current one is marked.
#[component]
pub fn Tabs(tabs: Vec<Tab>) -> impl IntoView {
    view! {
        <nav class="mb-4 border-b border-zinc-200 dark:border-zinc-800" aria-label="Sections">
            <ul class="-mb-px flex gap-6">
                {tabs.into_iter().map(|t| view! {
                    <li>
                        <a href=t.href aria-current=t.active.then_some("page")
                            class=if t.active {
                                "inline-flex items-center gap-2 border-b-2 border-indigo-600 px-1 pb-2.5 text-sm font-medium text-indigo-700 dark:border-indigo-400 dark:text-indigo-300"
                            } else {
                                "inline-flex items-center gap-2 border-b-2 border-transparent px-1 pb-2.5 text-sm font-medium text-zinc-500 hover:border-zinc-300 hover:text-zinc-800 dark:text-zinc-400 dark:hover:text-zinc-200"
                            }>
                            {t.label}
                            {t.count.map(|n| view! {
                                <span class="rounded-full bg-zinc-100 px-2 py-0.5 text-xs tabular-nums text-zinc-600 dark:bg-zinc-800 dark:text-zinc-300">
                                    {crate::components::misc::format_count(n)}
                                </span>
                            })}
                        </a>
                    </li>
                }).collect_view()}
            </ul>
        </nav>
    }
}

/// An id or other value to copy: monospace, selectable, with a copy button.
#[component]
pub fn CopyValue(#[prop(into)] value: String, #[prop(into)] label: String) -> impl IntoView {
    view! {
        <span class="inline-flex max-w-full items-center gap-1.5">
            <code class="min-w-0 break-all rounded bg-zinc-100 px-1.5 py-0.5 font-mono text-xs text-zinc-700 select-all dark:bg-zinc-800 dark:text-zinc-300">
                {value.clone()}
            </code>
            <CopyButton value label compact=true/>
        </span>
    }
}

/// A label/value row of a summary or attribute list (`<dt>`/`<dd>`); an
/// empty value shows a dash.
#[component]
pub fn Field(#[prop(into)] label: String, children: Children) -> impl IntoView {
    view! {
        <div class="py-2 sm:grid sm:grid-cols-[11rem_1fr] sm:gap-4">
            <dt class="text-sm text-zinc-500 dark:text-zinc-400">{label}</dt>
            <dd class="mt-0.5 min-w-0 break-words text-sm sm:mt-0">{children()}</dd>
        </div>
    }
}

/// A text value or a grey dash when absent.
pub fn text_or_dash(v: Option<String>) -> AnyView {
    match v.filter(|s| !s.trim().is_empty()) {
        Some(s) => view! { <span>{s}</span> }.into_any(),
        None => view! { <span class="text-zinc-400">"—"</span> }.into_any(),
    }
}
