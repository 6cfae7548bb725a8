//! Access pages: grants (who may call which server's tools), the simulator
//! ("can this person call this tool?", at any revision, with the reasons),
//! and policy revisions (list, diff, rollback).

use crate::components::PageHeader;
use leptos::prelude::*;

/// `/access/grants`.
#[component]
pub fn GrantsPage() -> impl IntoView {
    view! { <PageHeader title="Grants" description=""/> }
}

/// `/access/simulator`.
#[component]
pub fn SimulatorPage() -> impl IntoView {
    view! { <PageHeader title="Simulator" description=""/> }
}

/// `/access/revisions`.
#[component]
pub fn RevisionsPage() -> impl IntoView {
    view! { <PageHeader title="Revisions" description=""/> }
}
