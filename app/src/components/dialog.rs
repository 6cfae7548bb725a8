//! Dialogs: confirmation of dangerous actions, and secrets shown once.

use crate::components::misc::CopyButton;
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
/// `fields` are shown above it, each with a label and a copy button (e.g.
/// the SCIM base URL to paste next to the token).
#[component]
pub fn SecretDialog(
    #[prop(into)] title: String,
    #[prop(into)] secret: String,
    #[prop(into)] note: String,
    on_close: Callback<()>,
    /// A label above the secret ("Bearer token"); none for a lone secret.
    #[prop(optional, into)]
    secret_label: Option<String>,
    /// Values that are not secret but belong with it: (label, value).
    #[prop(optional)]
    fields: Vec<(String, String)>,
) -> impl IntoView {
    let copy_label = format!(
        "Copy {}",
        secret_label.as_deref().unwrap_or("secret").to_lowercase()
    );
    let top = if secret_label.is_some() {
        "mt-1"
    } else {
        "mt-4"
    };
    view! {
        <div class="fixed inset-0 z-40 flex items-center justify-center bg-zinc-950/50 p-4" role="presentation">
            <div role="dialog" aria-modal="true" aria-labelledby="secret-title"
                class="w-full max-w-lg rounded-xl border border-zinc-200 bg-white p-6 shadow-xl dark:border-zinc-700 dark:bg-zinc-900">
                <h2 id="secret-title" class="text-base font-semibold">{title}</h2>
                <p class="mt-2 text-sm text-zinc-600 dark:text-zinc-400">{note}</p>
                {fields.into_iter().map(|(label, value)| {
                    let copy = format!("Copy {}", label.to_lowercase());
                    view! {
                        <p class="mt-4 mb-1 text-xs font-medium text-zinc-600 dark:text-zinc-400">{label}</p>
                        <div class="flex items-stretch gap-2">
                            <code data-testid="secret-field"
                                class="block min-w-0 flex-1 overflow-x-auto whitespace-nowrap rounded-md border border-zinc-200 bg-zinc-50 px-3 py-2 font-mono text-xs dark:border-zinc-700 dark:bg-zinc-950">
                                {value.clone()}
                            </code>
                            <CopyButton value label=copy/>
                        </div>
                    }
                }).collect_view()}
                {secret_label.map(|l| view! { <p class="mt-4 mb-1 text-xs font-medium text-zinc-600 dark:text-zinc-400">{l}</p> })}
                <div class=format!("{top} flex items-stretch gap-2")>
                    <code data-testid="secret-value"
                        class="block min-w-0 flex-1 overflow-x-auto whitespace-nowrap rounded-md border border-zinc-200 bg-zinc-50 px-3 py-2 font-mono text-xs dark:border-zinc-700 dark:bg-zinc-950">
                        {secret.clone()}
                    </code>
                    <CopyButton value=secret label=copy_label/>
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
