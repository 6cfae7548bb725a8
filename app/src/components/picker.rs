//! A search-as-you-type picker (an ARIA combobox) for lists too long for a
//! `<select>`: a directory's thousands of groups, its people. The page
//! passes the search (a server function taking the typed text, searching
//! on the server); the picker lists the first matches with how many there
//! are in all, moves with the arrow keys, picks with Enter or a click,
//! closes with Escape, and posts the picked option's id in a hidden field
//! named `name`.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// One choice: what is posted (`id`), what the input shows once picked
/// (`label`), and a line under it in the list (`detail`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickOption {
    pub id: String,
    pub label: String,
    pub detail: String,
}

/// The first matches of a search and how many match in all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickPage {
    pub options: Vec<PickOption>,
    pub total: i64,
}

const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm placeholder:text-zinc-400 focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";

/// A search-as-you-type picker; see the module docs.
#[component]
pub fn Picker<F, Fut>(
    /// The text input's id (its `<label for>`).
    #[prop(into)]
    id: String,
    /// The posted field's name.
    #[prop(into)]
    name: String,
    #[prop(into)] placeholder: String,
    /// The search: the typed text in, the first matches out.
    search: F,
    /// What the list says when nothing matches.
    #[prop(into)]
    none: String,
    /// Post the typed text when nothing was picked (an email typed in full).
    #[prop(optional)]
    free_text: bool,
    /// The text to start from (the value of a form shown again).
    #[prop(optional, into)]
    initial: String,
) -> impl IntoView
where
    F: Fn(String) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<PickPage, AppError>> + Send + 'static,
{
    let text = RwSignal::new(initial);
    let picked = RwSignal::new(None::<PickOption>);
    let open = RwSignal::new(false);
    let active = RwSignal::new(0usize);
    // None until the input is first focused: nothing is searched on the
    // server's render or for a form never used.
    let query = RwSignal::new(None::<String>);
    let results = Resource::new(
        move || query.get(),
        move |q| async move {
            match q {
                None => Ok(PickPage::default()),
                Some(q) => search(q).await,
            }
        },
    );
    let list_id = format!("{id}-list");
    let prefix = id.clone();
    let choose = move |o: PickOption| {
        text.set(o.label.clone());
        picked.set(Some(o));
        open.set(false);
    };
    let shown = move || {
        results
            .get_untracked()
            .and_then(Result::ok)
            .map(|p| p.options)
            .unwrap_or_default()
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "ArrowDown" => {
            ev.prevent_default();
            if !open.get_untracked() {
                open.set(true);
                return;
            }
            let n = shown().len();
            if n > 0 {
                active.update(|a| *a = (*a + 1).min(n - 1));
            }
        }
        "ArrowUp" => {
            ev.prevent_default();
            active.update(|a| *a = a.saturating_sub(1));
        }
        // Enter picks the highlighted option; with the list closed it
        // submits the form as usual.
        "Enter" if open.get_untracked() => {
            if let Some(o) = shown().get(active.get_untracked()).cloned() {
                ev.prevent_default();
                choose(o);
            }
        }
        "Escape" => open.set(false),
        _ => {}
    };
    let posted = move || match picked.get() {
        Some(o) => o.id,
        None if free_text => text.get().trim().to_owned(),
        None => String::new(),
    };
    let list_for_aria = list_id.clone();
    let prefix_for_aria = prefix.clone();
    view! {
        <div class="relative" data-testid="picker">
            <input type="hidden" name=name prop:value=posted/>
            <input id=id type="text" role="combobox" autocomplete="off" spellcheck="false"
                aria-autocomplete="list" aria-controls=list_for_aria
                aria-expanded=move || open.get().to_string()
                aria-activedescendant=move || open.get().then(|| format!("{prefix_for_aria}-opt-{}", active.get()))
                class=INPUT placeholder=placeholder
                prop:value=move || text.get()
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    text.set(v.clone());
                    picked.set(None);
                    active.set(0);
                    query.set(Some(v));
                    open.set(true);
                }
                on:focus=move |_| {
                    if query.get_untracked().is_none() {
                        query.set(Some(if picked.get_untracked().is_some() { String::new() } else { text.get_untracked() }));
                    }
                    open.set(true);
                }
                on:blur=move |_| open.set(false)
                on:keydown=on_keydown/>
            <ul id=list_id role="listbox" data-testid="picker-options"
                class="absolute z-30 mt-1 max-h-72 w-full overflow-y-auto rounded-md border border-zinc-200 bg-white py-1 text-sm shadow-lg dark:border-zinc-700 dark:bg-zinc-900"
                class:hidden=move || !open.get()>
                <Transition fallback=|| view! { <li class="px-3 py-2 text-zinc-500">"Searching…"</li> }>
                    {move || {
                        let none = none.clone();
                        let prefix = prefix.clone();
                        Suspend::new(async move {
                            match results.await {
                                Err(e) => view! {
                                    <li role="alert" class="px-3 py-2 text-red-700 dark:text-red-300">{e.message}</li>
                                }.into_any(),
                                Ok(page) if page.options.is_empty() => view! {
                                    <li class="px-3 py-2 text-zinc-500">{none}</li>
                                }.into_any(),
                                Ok(page) => {
                                    let more = page.total - page.options.len() as i64;
                                    view! {
                                        {page.options.into_iter().enumerate().map(|(i, o)| {
                                            let chosen = o.clone();
                                            view! {
                                                <li id=format!("{prefix}-opt-{i}") role="option"
                                                    aria-selected=move || (active.get() == i).to_string()
                                                    class="cursor-pointer px-3 py-1.5 aria-selected:bg-indigo-50 aria-selected:text-indigo-900 dark:aria-selected:bg-indigo-500/15 dark:aria-selected:text-indigo-100"
                                                    on:mouseenter=move |_| active.set(i)
                                                    on:mousedown=move |ev| {
                                                        // Before the input's blur closes the list.
                                                        ev.prevent_default();
                                                        choose(chosen.clone());
                                                    }>
                                                    <span class="block truncate font-medium">{o.label}</span>
                                                    {(!o.detail.is_empty()).then(|| view! {
                                                        <span class="block truncate text-xs text-zinc-500 dark:text-zinc-400">{o.detail}</span>
                                                    })}
                                                </li>
                                            }
                                        }).collect_view()}
                                        {(more > 0).then(|| view! {
                                            <li role="presentation" class="border-t border-zinc-100 px-3 py-1.5 text-xs text-zinc-500 dark:border-zinc-800">
                                                {format!("{} more — type to narrow the list", super::misc::format_count(more))}
                                            </li>
                                        })}
                                    }.into_any()
                                }
                            }
                        })
                    }}
                </Transition>
            </ul>
        </div>
    }
}
