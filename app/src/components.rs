//! Shared UI pieces. They make no server calls; pages pass data in.

pub mod badge;
pub mod chart;
pub mod detail;
pub mod dialog;
pub mod layout;
pub mod misc;
pub mod notice;
pub mod table;

pub use badge::{
    ActiveBadge, AnnotationBadges, Badge, OutcomeBadge, RoleBadge, StatusBadge, Tone,
    ToolStatusBadge,
};
pub use chart::BarChart;
pub use detail::{Breadcrumbs, CopyValue, Field, Tab, Tabs};
pub use dialog::{ConfirmDialog, SecretDialog};
pub use layout::{ConsoleLayout, PageHeader};
pub use misc::{AbsTime, CopyButton, EmptyState, ErrorPanel, Pager, RelTime, Skeleton};
pub use notice::Notice;
pub use table::{query_href, Chip, SortHeader};
