//! The success toast: says what happened in a sentence, with an optional
//! link to the result, announced politely to screen readers. It stays until
//! dismissed or replaced, so a slow reader does not miss it.

use leptos::prelude::*;

/// A floating success notice at the bottom right. Renders nothing while
/// `message` is `None`; the close button sets it back to `None`.
#[component]
pub fn Notice(
    message: RwSignal<Option<String>>,
    /// A link next to the message: (label, href).
    #[prop(optional, into)]
    link: Signal<Option<(String, String)>>,
) -> impl IntoView {
    view! {
        <div class="pointer-events-none fixed inset-x-4 bottom-4 z-50 flex justify-end sm:inset-x-auto sm:right-6 sm:bottom-6"
            role="status" aria-live="polite">
            {move || message.get().map(|m| view! {
                <div data-testid="notice"
                    class="pointer-events-auto flex max-w-md items-start gap-3 rounded-lg border border-zinc-200 bg-white px-4 py-3 text-sm shadow-lg dark:border-zinc-700 dark:bg-zinc-900">
                    <svg viewBox="0 0 20 20" class="mt-0.5 h-5 w-5 shrink-0 text-emerald-600 dark:text-emerald-400" fill="none"
                        stroke="currentColor" stroke-width="1.8" aria-hidden="true">
                        <circle cx="10" cy="10" r="7.5"/>
                        <path d="M6.5 10.2l2.4 2.4 4.6-5" stroke-linecap="round" stroke-linejoin="round"/>
                    </svg>
                    <div class="min-w-0 flex-1">
                        <p class="font-medium text-zinc-900 dark:text-zinc-100">{m}</p>
                        {move || link.get().map(|(label, href)| view! {
                            <a href=href class="mt-0.5 inline-block text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400">{label}</a>
                        })}
                    </div>
                    <button type="button" aria-label="Dismiss" title="Dismiss"
                        class="-mr-1 rounded p-1 text-zinc-400 hover:bg-zinc-100 hover:text-zinc-700 dark:hover:bg-zinc-800 dark:hover:text-zinc-200"
                        on:click=move |_| message.set(None)>
                        <svg viewBox="0 0 20 20" class="h-4 w-4" fill="none" stroke="currentColor" stroke-width="1.8" aria-hidden="true">
                            <path d="M6 6l8 8M14 6l-8 8" stroke-linecap="round"/>
                        </svg>
                    </button>
                </div>
            })}
        </div>
    }
}
