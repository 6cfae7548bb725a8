//! Portcullis access policy: the bundle format v1 ([`bundle`]) and its
//! evaluator ([`eval`]). Pure and allocation-free on the decision path; the
//! console's simulator and the gateways use the same code, so `tools/list`
//! filtering always equals `tools/call` enforcement.
//!
//! The format and the decision semantics are specified for gateway authors in
//! `docs/policy-bundle.md`; the semantics are also in the [`eval`] docs.
//!
//! ```
//! use portcullis_policy::{Bundle, Policy, Reason};
//!
//! let json = r#"{"format":"portcullis.policy/v1","revision":1,
//!   "issued_at":"2025-06-15T09:30:00Z",
//!   "servers":[{"id":"srv_gh","slug":"github","resource":"https://mcp.example/github",
//!     "enabled":true,"tools":[
//!       {"name":"list_issues","approved":true,"definition_hash":"sha256:00",
//!        "annotations":{"read_only":true,"destructive":false,"idempotent":true,"open_world":true}},
//!       {"name":"delete_repo","approved":true,"definition_hash":"sha256:01",
//!        "annotations":{"read_only":false,"destructive":true,"idempotent":true,"open_world":true}}]}],
//!   "groups":[{"id":"grp_eng","name":"Engineering"}],
//!   "principals":[{"id":"usr_alice","email":"alice@example.com","active":true,"groups":["grp_eng"]}],
//!   "rules":[{"id":"grt_1","effect":"allow","subject":{"kind":"group","id":"grp_eng"},
//!     "server":"srv_gh","target":{"kind":"server"},"include_destructive":false}]}"#;
//! let policy = Policy::compile(&Bundle::from_json(json)?)?;
//!
//! let d = policy.decide("usr_alice", "srv_gh", "list_issues", 1_750_000_000);
//! assert!(d.allowed);
//! assert_eq!(d.reason.rule().map(|r| policy.rule_id(r)), Some("grt_1"));
//! // A whole-server grant leaves destructive tools out.
//! let d = policy.decide("usr_alice", "srv_gh", "delete_repo", 1_750_000_000);
//! assert_eq!(d.reason, Reason::NoGrant);
//! let listed: Vec<&str> = policy.allowed_tools("usr_alice", "srv_gh", 1_750_000_000).collect();
//! assert_eq!(listed, ["list_issues"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
pub mod bundle;
pub mod canonical;
pub mod delta;
pub mod eval;
pub mod signed;
pub mod token;

pub use bundle::{
    Agent, AnnotationFlag, Annotations, BlockedClient, Bundle, Delegation, Effect, Group,
    Principal, Rule, Server, Subject, Target, Tool, FORMAT_V1,
};
pub use eval::{
    rule_covers, AllowedTools, CompileError, Decision, DelegatedDecision, DelegationDenial,
    Explanation, MatchedBy, Policy, Reason, RuleMatch, RuleRef, MAX_DELEGATION_DEPTH,
};
