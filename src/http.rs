//! HTTP adapters and middleware of the console.
//!
//! | module | what |
//! |---|---|
//! | [`ops`] | `/healthz`, `/readyz`, `/metrics` |
//! | [`security`] | security headers with a CSP nonce, CSRF refusal of cross-site writes, request metrics |
//! | [`session`] | session cookie → caller, and the sign-in redirect for console pages |

pub mod ops;
pub mod security;
pub mod session;
