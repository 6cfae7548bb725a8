//! Shared UI pieces. They make no server calls of their own: pages pass
//! data in (the [`Picker`] calls the search its page passes). [`time`]
//! shows every time in the admin's time zone.

pub mod badge;
pub mod chart;
pub mod detail;
pub mod dialog;
pub mod layout;
pub mod misc;
pub mod notice;
pub mod picker;
pub mod table;
pub mod time;

pub use badge::{
    ActiveBadge, AnnotationBadges, Badge, OutcomeBadge, RoleBadge, StatusBadge, Tone,
    ToolStatusBadge,
};
pub use chart::{Bar, BarChart};
pub use detail::{Breadcrumbs, CopyValue, Field, Tab, Tabs};
pub use dialog::{ConfirmDialog, SecretDialog};
pub use layout::{ConsoleLayout, PageHeader};
pub use misc::{AuditEventsLink, CopyButton, EmptyState, ErrorPanel, Pager, Skeleton};
pub use notice::Notice;
pub use picker::{PickOption, PickPage, Picker};
pub use table::{query_href, Chip, SortHeader};
pub use time::{AbsTime, RelTime};
