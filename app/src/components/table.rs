//! Data-table pieces: sortable column headers and filter chips. Both are
//! plain links that set query parameters, so a table sorts and filters on
//! the server and works before hydration.

use crate::components::misc::url_encode;
use leptos::prelude::*;
use portcullis_types::SortDir;

/// `path?k=v&…` with the non-empty values, percent-encoded, in order.
pub fn query_href(path: &str, params: &[(&str, String)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// A column header that sorts by `key`: a link to `href(key, dir)`, where
/// `dir` flips when the column is already the sort column. Says the current
/// order with `aria-sort` and an arrow.
#[component]
pub fn SortHeader(
    #[prop(into)] label: String,
    key: &'static str,
    /// The key the list is sorted by now.
    #[prop(into)]
    current: String,
    dir: SortDir,
    href: Callback<(&'static str, SortDir), String>,
    /// Sort descending at the first click (times, counts).
    #[prop(optional)]
    desc_first: bool,
    /// Extra classes for the cell (alignment, responsive hiding).
    #[prop(optional, into)]
    class: String,
) -> impl IntoView {
    let active = current == key;
    let next = match (active, desc_first) {
        (true, _) => dir.flip(),
        (false, true) => SortDir::Desc,
        (false, false) => SortDir::Asc,
    };
    let aria = match (active, dir) {
        (false, _) => "none",
        (true, SortDir::Asc) => "ascending",
        (true, SortDir::Desc) => "descending",
    };
    let arrow = match (active, dir) {
        (false, _) => "↕",
        (true, SortDir::Asc) => "↑",
        (true, SortDir::Desc) => "↓",
    };
    let title = format!(
        "Sort by {} ({})",
        label.to_lowercase(),
        if next == SortDir::Asc {
            "ascending"
        } else {
            "descending"
        }
    );
    view! {
        <th scope="col" aria-sort=aria class=format!("px-4 py-3 {class}")>
            <a href=href.run((key, next)) title=title
                class=format!("group inline-flex items-center gap-1 rounded hover:text-zinc-900 dark:hover:text-zinc-100 {}",
                    if active { "text-zinc-900 dark:text-zinc-100" } else { "" })>
                {label}
                <span aria-hidden="true" class=if active { "text-indigo-600 dark:text-indigo-400" } else { "text-zinc-300 group-hover:text-zinc-400 dark:text-zinc-600" }>{arrow}</span>
            </a>
        </th>
    }
}

/// A filter chip: a link that is marked current when its filter applies.
#[component]
pub fn Chip(
    #[prop(into)] label: String,
    #[prop(into)] href: String,
    active: bool,
    #[prop(optional)] count: Option<i64>,
) -> impl IntoView {
    let class = if active {
        "inline-flex items-center gap-1.5 rounded-full border border-indigo-600 bg-indigo-50 px-3 py-1 text-xs font-medium text-indigo-700 dark:border-indigo-400 dark:bg-indigo-500/10 dark:text-indigo-300"
    } else {
        "inline-flex items-center gap-1.5 rounded-full border border-zinc-300 bg-white px-3 py-1 text-xs font-medium text-zinc-700 hover:bg-zinc-50 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-300 dark:hover:bg-zinc-800"
    };
    view! {
        <a href=href class=class aria-current=active.then_some("true") data-testid="filter-chip">
            {label}
            {count.map(|n| view! { <span class="tabular-nums text-zinc-400">{crate::components::misc::format_count(n)}</span> })}
        </a>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Empty values are left out; values are percent-encoded.
    #[test]
    fn query_href_skips_empty_and_encodes() {
        assert_eq!(query_href("/x", &[("q", String::new())]), "/x");
        assert_eq!(
            query_href(
                "/directory/users",
                &[
                    ("q", "ann b&c".into()),
                    ("status", String::new()),
                    ("sort", "email".into())
                ]
            ),
            "/directory/users?q=ann%20b%26c&sort=email"
        );
    }
}
