//! Signing in: the sign-in page, the set-up page of one-time links, and
//! their server functions. SSO connections (a later area) slot into the
//! sign-in card above the password form.

pub mod api;
pub mod pages;
