//! The decision path never touches the heap: under `assert_no_alloc`'s
//! allocator any allocation inside `assert_no_alloc(..)` aborts this test
//! binary (debug builds, which is what `cargo test` runs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use portcullis_policy::{Agent, Bundle, Delegation, Effect, Policy, Rule, Subject, Target};

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

#[test]
fn decide_allowed_tools_and_delegated_decisions_do_not_allocate() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/bundle_v1.json");
    let mut bundle = Bundle::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    // An agent with a grant and a delegation from everyone on every server,
    // so delegated decisions run every check.
    bundle.agents.push(Agent {
        id: "agt_bot".into(),
        name: "bot".into(),
        active: true,
    });
    for s in bundle.servers.clone() {
        bundle.agent_rules.push(Rule {
            id: format!("zz_{}", s.id),
            effect: Effect::Allow,
            subject: Subject::Agent {
                id: "agt_bot".into(),
            },
            server: s.id.clone(),
            target: Target::Server,
            include_destructive: true,
            expires_at: None,
        });
        bundle.delegations.push(Delegation {
            id: format!("dlg_{}", s.id),
            agent: "agt_bot".into(),
            subject: Subject::Everyone,
            server: s.id,
        });
    }
    let policy = Policy::compile(&bundle).unwrap();

    // Every query of the golden decision table, unknown names included,
    // prepared outside the checked region.
    let mut queries: Vec<(&str, &str, &str)> = Vec::new();
    for p in policy
        .principals()
        .iter()
        .map(|p| p.id.as_str())
        .chain(["usr_nobody"])
    {
        for s in policy.servers() {
            for t in s.tools.iter().map(|t| t.name.as_str()).chain(["nope"]) {
                queries.push((p, &s.id, t));
            }
            queries.push((p, "srv_nope", "nope"));
        }
    }

    let (allowed, listed, delegated) = assert_no_alloc(|| {
        let mut allowed = 0usize;
        let mut listed = 0usize;
        let mut delegated = 0usize;
        for now in [1_750_000_000, 1_767_225_600] {
            for &(p, s, t) in &queries {
                let d = policy.decide(p, s, t, now);
                allowed += usize::from(d.allowed);
                if let Some(rule) = d.reason.rule() {
                    std::hint::black_box(policy.rule_id(rule));
                }
                listed += policy.allowed_tools(p, s, now).count();
                let d = policy.decide_delegated(p, &["agt_bot"], s, t, now);
                delegated += usize::from(d.allowed);
            }
        }
        (allowed, listed, delegated)
    });
    assert!(allowed > 0);
    assert!(listed > 0);
    assert!(delegated > 0);
}
