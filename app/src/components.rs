//! Shared UI pieces. They make no server calls; pages pass data in.

pub mod badge;
pub mod chart;
pub mod dialog;
pub mod layout;
pub mod misc;

pub use badge::{Badge, OutcomeBadge, RoleBadge, StatusBadge, Tone};
pub use chart::BarChart;
pub use dialog::{ConfirmDialog, SecretDialog};
pub use layout::{ConsoleLayout, PageHeader};
pub use misc::{EmptyState, ErrorPanel, Pager, RelTime, Skeleton};
