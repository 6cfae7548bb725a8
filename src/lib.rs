//! The Portcullis server: CLI, configuration, start-up, the axum router and
//! its middleware (request ids, metrics, security headers, CSRF, sessions),
//! operational endpoints, and background jobs.
//!
//! Pages and the console's server functions come from the `app` crate;
//! business rules and storage from `portcullis-domain`. This crate wires them
//! together and owns everything HTTP-specific. See ARCHITECTURE.md beside
//! the repository for the whole picture.

#![recursion_limit = "512"]

pub mod admin_api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod oauth;
pub mod policy_api;
pub mod scim;
pub mod secret_key;
pub mod server;
pub mod sso;
pub mod telemetry;
