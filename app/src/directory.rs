//! The Directory pages (people and groups provisioned over SCIM, read-only
//! here: the IdP owns them) and Settings → Directories (the SCIM connections
//! and their bearer tokens).
//!
//! Lists search, filter, sort and page on the server through the URL's
//! query (`q`, `directory`, `status`, `sort`, `dir`, `offset`), so every
//! view can be linked and works before hydration. SCIM attributes are
//! untrusted and always rendered as text.

pub mod api;
mod group;
mod groups;
mod settings;
mod user;
mod users;

pub use group::GroupPage;
pub use groups::GroupsPage;
pub use settings::{DirectoriesPage, DirectoryPage};
pub use user::UserPage;
pub use users::UsersPage;

/// The card around a data table. `overflow-clip` (not `hidden`) keeps the
/// rounded corners without making a scroll container, so sticky headers
/// stick to the viewport.
pub(crate) const TABLE_CARD: &str = "overflow-clip rounded-lg border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900";
/// A table's header row.
pub(crate) const THEAD: &str = "sticky top-14 z-10 bg-zinc-50 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 shadow-[0_1px_0_0_rgb(228_228_231)] dark:bg-zinc-800 dark:shadow-[0_1px_0_0_rgb(39_39_42)]";
/// A summary or section card.
pub(crate) const CARD: &str =
    "rounded-lg border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900";
/// A search box in a table toolbar.
pub(crate) const SEARCH: &str = "block w-full max-w-md rounded-md border border-zinc-300 bg-white px-3 py-1.5 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";
/// A link that covers its whole table row (row click → detail without
/// script; the row needs `relative`).
pub(crate) const ROW_LINK: &str = "font-medium text-zinc-900 hover:underline focus-visible:outline-none after:absolute after:inset-0 focus-visible:after:rounded focus-visible:after:ring-2 focus-visible:after:ring-indigo-500 dark:text-zinc-100";

/// The name to show for a person: displayName, else userName.
pub(crate) fn person_name(display_name: Option<&str>, user_name: &str) -> String {
    display_name
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or(user_name)
        .to_owned()
}

/// Up to two initials for an avatar.
pub(crate) fn initials_of(name: &str) -> String {
    let i = crate::components::layout::initials(name);
    if i.is_empty() {
        "?".to_owned()
    } else {
        i
    }
}

/// A plain-words label for an audit action about a directory user or group.
pub(crate) fn action_label(action: &str) -> &'static str {
    match action {
        "scim.user.created" => "Provisioned",
        "scim.user.updated" => "Attributes updated",
        "scim.user.deactivated" => "Deactivated",
        "scim.user.reactivated" => "Reactivated",
        "scim.user.deleted" => "Deleted by the directory",
        "scim.group.created" => "Group created",
        "scim.group.updated" => "Group or members updated",
        "scim.group.deleted" => "Group deleted",
        _ => "Changed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blank displayName falls back to the userName.
    #[test]
    fn directory_person_name_falls_back_to_user_name() {
        assert_eq!(person_name(Some("Ann Lee"), "ann"), "Ann Lee");
        assert_eq!(person_name(Some("  "), "ann"), "ann");
        assert_eq!(person_name(None, "ann"), "ann");
        assert_eq!(initials_of(""), "?");
    }
}
