//! The Gateways page (issue #6, point 5): the enforcement points that poll
//! the signed policy (`GET /api/v1/policy`) and report which revision they
//! enforce (`POST /api/v1/gateway/status`), against the current policy
//! revision, so an admin sees at a glance whether a change has reached every
//! gateway; registering a gateway (its credential shown once, with the policy
//! and JWKS URLs), rotating or revoking its credential; and the policy
//! signing keys with their rotation.
//!
//! Gateway names, descriptions, errors and software strings are untrusted
//! (a gateway reports the last two) and always rendered as text. Auditors
//! see the page without the buttons; the service refuses them anyway.

pub mod api;
mod page;

pub use page::GatewaysPage;
