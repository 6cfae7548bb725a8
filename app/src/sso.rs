//! Settings → Single sign-on (issue #4): the OIDC and SAML connections that
//! admins sign in through, each serving a list of email domains, with the
//! group → role mappings that decide who gets in; the URLs to give the IdP
//! (redirect URI, SP entity id, ACS, SP metadata) with copy buttons; "Test
//! connection", which runs a sign-in and shows what the IdP sent without
//! signing anyone in; and the delete with a confirmation.
//!
//! Everyone can look; owners and admins change connections, and only owners
//! map a group to the owner role (the service refuses the rest, and the page
//! says so). IdP claims and attributes shown after a test are untrusted and
//! rendered as text.

pub mod api;
mod page;

pub use page::{SsoConnectionPage, SsoNewPage, SsoPage};
