//! Dialogs: confirmation of dangerous actions, and secrets shown once.

use leptos::prelude::*;

/// A modal that names the object and the consequence before a dangerous
/// action. Renders nothing while `open` is false.
#[component]
pub fn ConfirmDialog(
    open: RwSignal<bool>,
    #[prop(into)] title: Signal<String>,
    #[prop(into)] body: Signal<String>,
    #[prop(into)] confirm_label: Signal<String>,
    #[prop(into)] pending: Signal<bool>,
    on_confirm: Callback<()>,
    /// Runs when the admin cancels (e.g. to reset a picker they changed).
    #[prop(optional)]
    on_cancel: Option<Callback<()>>,
) -> impl IntoView {
    let cancel = move |_| {
        open.set(false);
        if let Some(cb) = on_cancel {
            cb.run(());
        }
    };
    view! {
        <Show when=move || open.get()>
            <div class="fixed inset-0 z-40 flex items-center justify-center bg-zinc-950/50 p-4" role="presentation">
                <div role="alertdialog" aria-modal="true" aria-labelledby="confirm-title"
                    class="w-full max-w-md rounded-xl border border-zinc-200 bg-white p-6 shadow-xl dark:border-zinc-700 dark:bg-zinc-900">
                    <h2 id="confirm-title" class="text-base font-semibold">{move || title.get()}</h2>
                    <p class="mt-2 text-sm text-zinc-600 dark:text-zinc-400">{move || body.get()}</p>
                    <div class="mt-6 flex justify-end gap-3">
                        <button type="button" class="btn-secondary" on:click=cancel>"Cancel"</button>
                        <button type="button" class="btn-danger" disabled=move || pending.get()
                            on:click=move |_| on_confirm.run(())>
                            {move || if pending.get() { "Working…".to_owned() } else { confirm_label.get() }}
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

/// Shows a secret (a link or token) once, with a copy button and a warning.
#[component]
pub fn SecretDialog(
    #[prop(into)] title: String,
    #[prop(into)] secret: String,
    #[prop(into)] note: String,
    on_close: Callback<()>,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let value = secret.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            if let Some(w) = web_sys::window() {
                let _ = w.navigator().clipboard().write_text(&value);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &value;
        copied.set(true);
    };
    view! {
        <div class="fixed inset-0 z-40 flex items-center justify-center bg-zinc-950/50 p-4" role="presentation">
            <div role="dialog" aria-modal="true" aria-labelledby="secret-title"
                class="w-full max-w-lg rounded-xl border border-zinc-200 bg-white p-6 shadow-xl dark:border-zinc-700 dark:bg-zinc-900">
                <h2 id="secret-title" class="text-base font-semibold">{title}</h2>
                <p class="mt-2 text-sm text-zinc-600 dark:text-zinc-400">{note}</p>
                <div class="mt-4 flex items-stretch gap-2">
                    <code data-testid="secret-value"
                        class="block min-w-0 flex-1 overflow-x-auto whitespace-nowrap rounded-md border border-zinc-200 bg-zinc-50 px-3 py-2 font-mono text-xs dark:border-zinc-700 dark:bg-zinc-950">
                        {secret}
                    </code>
                    <button type="button" class="btn-secondary" on:click=copy>
                        {move || if copied.get() { "Copied" } else { "Copy" }}
                    </button>
                </div>
                <p class="mt-3 flex items-center gap-2 text-xs font-medium text-amber-700 dark:text-amber-400">
                    "⚠ This will not be shown again."
                </p>
                <div class="mt-6 flex justify-end">
                    <button type="button" class="btn-primary" on:click=move |_| on_close.run(())>"Done"</button>
                </div>
            </div>
        </div>
    }
}
