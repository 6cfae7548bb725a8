//! The Clients page (issue #15, point 8): one inventory of every OAuth
//! client that asked for tokens — pre-registered by an admin, registered
//! itself (RFC 7591), or known by its metadata document URL (CIMD) — with
//! the client policy (registration on/off, approval), the approval queue,
//! blocking (which revokes the client's tokens) and pre-registering a
//! client (its secret shown once).
//!
//! Client names, URLs and software ids come from the clients themselves and
//! are untrusted: always rendered as text, marked "Unverified" unless an
//! admin registered the client. Auditors see the page without the buttons;
//! the service refuses them anyway.

pub mod api;
mod page;

pub use page::ClientsPage;
