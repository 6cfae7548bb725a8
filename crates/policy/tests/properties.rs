//! Property tests over random bundles, against a reference evaluator written
//! here as a plain linear scan over the rules, straight from the documented
//! semantics (it shares no code with the compiled evaluator).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_policy::{
    AnnotationFlag, Annotations, Bundle, Effect, Group, Policy, Principal, Reason, Rule, Server,
    Subject, Target, Tool, FORMAT_V1,
};
use proptest::prelude::*;
use proptest::sample::subsequence;

/// Tool names are drawn from this pool; `t7` is never given to a server, so
/// rules naming it name an unknown tool.
const TOOL_POOL: [&str; 8] = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"];
/// Groups in the bundle are `g0..g3`; `g4` is referenced but never defined.
const GROUP_POOL: [&str; 5] = ["g0", "g1", "g2", "g3", "g4"];
/// Times are small so expiries often fall on either side of `now`.
const T_MAX: i64 = 12;

fn annotations() -> impl Strategy<Value = Annotations> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(read_only, destructive, idempotent, open_world)| Annotations {
            read_only,
            destructive,
            idempotent,
            open_world,
        },
    )
}

fn tool(name: &'static str) -> impl Strategy<Value = Tool> {
    (annotations(), prop::bool::weighted(0.85)).prop_map(move |(annotations, approved)| Tool {
        name: name.into(),
        annotations,
        approved,
        definition_hash: "sha256:00".into(),
    })
}

fn server(i: usize) -> impl Strategy<Value = Server> {
    (
        prop::bool::weighted(0.85),
        subsequence(&TOOL_POOL[..7], 0..=6),
    )
        .prop_flat_map(move |(enabled, names)| {
            let tools: Vec<_> = names.into_iter().map(tool).collect();
            tools.prop_map(move |tools| Server {
                id: format!("s{i}"),
                slug: format!("slug-{i}"),
                resource: format!("https://mcp.example/s{i}"),
                enabled,
                tools,
            })
        })
}

fn principal(i: usize) -> impl Strategy<Value = Principal> {
    // Any order, possibly repeated: the evaluator must not rely on the
    // console having sorted and deduplicated the list.
    let groups = prop::collection::vec(prop::sample::select(&GROUP_POOL[..]), 0..=4);
    (prop::bool::weighted(0.85), groups).prop_map(move |(active, groups)| Principal {
        id: format!("u{i}"),
        email: format!("u{i}@example.com"),
        active,
        groups: groups.into_iter().map(String::from).collect(),
    })
}

fn subject(principals: usize) -> impl Strategy<Value = Subject> {
    prop_oneof![
        // One past the last principal: an unknown user.
        (0..=principals).prop_map(|u| Subject::User {
            id: format!("u{u}")
        }),
        prop::sample::select(&GROUP_POOL[..]).prop_map(|g| Subject::Group { id: g.into() }),
        Just(Subject::Everyone),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    let flag = prop_oneof![
        Just(AnnotationFlag::ReadOnly),
        Just(AnnotationFlag::Destructive),
        Just(AnnotationFlag::Idempotent),
        Just(AnnotationFlag::OpenWorld),
    ];
    prop_oneof![
        Just(Target::Server),
        subsequence(&TOOL_POOL[..], 0..=3).prop_map(|names| Target::Tools {
            names: names.into_iter().map(String::from).collect()
        }),
        flag.prop_map(|annotation| Target::Annotation { annotation }),
    ]
}

fn rule(servers: usize, principals: usize) -> impl Strategy<Value = Rule> {
    (
        prop_oneof![Just(Effect::Allow), Just(Effect::Deny)],
        subject(principals),
        0..servers,
        target(),
        any::<bool>(),
        prop::option::weighted(0.4, 0..=T_MAX),
    )
        .prop_map(
            |(effect, subject, server, target, include_destructive, expires_at)| Rule {
                id: String::new(),
                effect,
                subject,
                server: format!("s{server}"),
                target,
                include_destructive,
                expires_at,
            },
        )
}

fn bundle() -> impl Strategy<Value = Bundle> {
    (1usize..=3, 0usize..=4, 1usize..=5)
        .prop_flat_map(|(n_servers, n_groups, n_principals)| {
            let servers: Vec<_> = (0..n_servers).map(server).collect();
            let principals: Vec<_> = (0..n_principals).map(principal).collect();
            (
                servers,
                Just(n_groups),
                principals,
                prop::collection::vec(rule(n_servers, n_principals), 0..=12),
            )
        })
        .prop_map(|(servers, n_groups, principals, mut rules)| {
            for (i, r) in rules.iter_mut().enumerate() {
                r.id = format!("r{i:02}");
            }
            Bundle {
                format: FORMAT_V1.into(),
                revision: 1,
                issued_at: "2025-01-01T00:00:00Z".into(),
                servers,
                groups: GROUP_POOL[..n_groups]
                    .iter()
                    .map(|g| Group {
                        id: g.to_string(),
                        name: g.to_uppercase(),
                    })
                    .collect(),
                principals,
                rules,
                blocked_clients: Vec::new(),
                agents: Vec::new(),
                agent_rules: Vec::new(),
                delegations: Vec::new(),
            }
        })
}

// ---- The reference evaluator ------------------------------------------------

fn applies(rule: &Rule, now: i64) -> bool {
    match rule.expires_at {
        None => true,
        Some(e) => now < e,
    }
}

fn subject_matches(b: &Bundle, rule: &Rule, p: &Principal) -> bool {
    match &rule.subject {
        Subject::Everyone => true,
        Subject::User { id } => *id == p.id,
        // Both the rule's and the principal's group must be a real group.
        Subject::Group { id } => p.groups.contains(id) && b.groups.iter().any(|g| g.id == *id),
        // Only agents, never a person (agents have their own tests).
        Subject::Agent { .. } => false,
    }
}

fn covers(rule: &Rule, t: &Tool) -> bool {
    let a = &t.annotations;
    match &rule.target {
        Target::Tools { names } => names.contains(&t.name),
        Target::Server => !a.destructive || rule.effect == Effect::Deny || rule.include_destructive,
        Target::Annotation { annotation } => {
            let selected = match annotation {
                AnnotationFlag::ReadOnly => a.read_only,
                AnnotationFlag::Destructive => a.destructive,
                AnnotationFlag::Idempotent => a.idempotent,
                AnnotationFlag::OpenWorld => a.open_world,
            };
            let destructive_ok = !a.destructive
                || rule.effect == Effect::Deny
                || rule.include_destructive
                || *annotation == AnnotationFlag::Destructive;
            selected && destructive_ok
        }
    }
}

/// Rules matching (principal, server, tool), in bundle order, ignoring expiry.
fn matching<'a>(b: &'a Bundle, p: &Principal, s: &Server, t: &Tool) -> Vec<&'a Rule> {
    b.rules
        .iter()
        .filter(|r| r.server == s.id && subject_matches(b, r, p) && covers(r, t))
        .collect()
}

/// `(allowed, reason code, deciding rule id)`.
fn reference(b: &Bundle, p: &str, s: &str, t: &str, now: i64) -> (bool, &'static str, String) {
    let deny = |code| (false, code, String::new());
    let Some(p) = b.principals.iter().find(|x| x.id == p) else {
        return deny("unknown_principal");
    };
    let Some(s) = b.servers.iter().find(|x| x.id == s) else {
        return deny("unknown_server");
    };
    let Some(t) = s.tools.iter().find(|x| x.name == t) else {
        return deny("unknown_tool");
    };
    if !p.active {
        return deny("inactive_principal");
    }
    if !s.enabled {
        return deny("server_disabled");
    }
    if !t.approved {
        return deny("quarantined");
    }
    let live: Vec<_> = matching(b, p, s, t)
        .into_iter()
        .filter(|r| applies(r, now))
        .collect();
    if let Some(r) = live.iter().find(|r| r.effect == Effect::Deny) {
        return (false, "denied_by_rule", r.id.clone());
    }
    if let Some(r) = live.iter().find(|r| r.effect == Effect::Allow) {
        return (true, "allowed", r.id.clone());
    }
    deny("no_grant")
}

fn ours(policy: &Policy, p: &str, s: &str, t: &str, now: i64) -> (bool, &'static str, String) {
    let d = policy.decide(p, s, t, now);
    let rule = d.reason.rule().map_or("", |r| policy.rule_id(r));
    (d.allowed, d.reason.code(), rule.to_string())
}

/// Every (principal, server, tool) query worth asking of `b`, unknown names
/// included.
fn queries(b: &Bundle) -> Vec<(String, String, String)> {
    let mut principals: Vec<_> = b.principals.iter().map(|p| p.id.clone()).collect();
    principals.push("nobody".into());
    let mut out = Vec::new();
    for p in &principals {
        for s in &b.servers {
            for t in s.tools.iter().map(|t| t.name.as_str()).chain(["t7"]) {
                out.push((p.clone(), s.id.clone(), t.to_string()));
            }
        }
        out.push((p.clone(), "s9".into(), "t0".into()));
    }
    out
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// (d) The compiled evaluator equals the reference for every query.
    #[test]
    fn decide_equals_the_reference(b in bundle(), now in 0..=T_MAX) {
        let policy = Policy::compile(&b).unwrap();
        for (p, s, t) in queries(&b) {
            prop_assert_eq!(
                ours(&policy, &p, &s, &t, now),
                reference(&b, &p, &s, &t, now),
                "{} {} {} at {}", p, s, t, now
            );
        }
    }

    /// (a) list = call: `allowed_tools` is exactly the tools `decide` allows.
    #[test]
    fn allowed_tools_equals_decide(b in bundle(), now in 0..=T_MAX) {
        let policy = Policy::compile(&b).unwrap();
        for p in b.principals.iter().map(|p| p.id.as_str()).chain(["nobody"]) {
            for s in &b.servers {
                let listed: Vec<&str> = policy.allowed_tools(p, &s.id, now).collect();
                let called: Vec<&str> = s
                    .tools
                    .iter()
                    .map(|t| t.name.as_str())
                    .filter(|t| policy.decide(p, &s.id, t, now).allowed)
                    .collect();
                prop_assert_eq!(listed, called);
            }
        }
    }

    /// (b) Deny wins: whenever an applicable deny rule matches, the
    /// decision is a deny (by that rule or an earlier step).
    #[test]
    fn deny_wins(b in bundle(), now in 0..=T_MAX) {
        let policy = Policy::compile(&b).unwrap();
        for p in &b.principals {
            for s in &b.servers {
                for t in &s.tools {
                    let denied = matching(&b, p, s, t)
                        .iter()
                        .any(|r| r.effect == Effect::Deny && applies(r, now));
                    let d = policy.decide(&p.id, &s.id, &t.name, now);
                    if denied {
                        prop_assert!(!d.allowed);
                        if p.active && s.enabled && t.approved {
                            let is_deny_rule = matches!(d.reason, Reason::DeniedByRule { .. });
                            prop_assert!(is_deny_rule);
                        }
                    }
                }
            }
        }
    }

    /// A group grant applies to every member: each applicable allow rule for
    /// a group allows every active member on every tool it covers, unless
    /// the server is disabled, the tool quarantined or a deny matches.
    #[test]
    fn group_grant_applies_to_every_member(b in bundle(), now in 0..=T_MAX) {
        let policy = Policy::compile(&b).unwrap();
        for r in &b.rules {
            let Subject::Group { id } = &r.subject else { continue };
            if r.effect != Effect::Allow || !applies(r, now) || !b.groups.iter().any(|g| g.id == *id) {
                continue;
            }
            let s = b.servers.iter().find(|s| s.id == r.server).unwrap();
            for p in b.principals.iter().filter(|p| p.groups.contains(id)) {
                for t in s.tools.iter().filter(|t| covers(r, t)) {
                    let denied = matching(&b, p, s, t)
                        .iter()
                        .any(|d| d.effect == Effect::Deny && applies(d, now));
                    if p.active && s.enabled && t.approved && !denied {
                        prop_assert!(policy.decide(&p.id, &s.id, &t.name, now).allowed);
                    }
                }
            }
        }
    }

    /// (c) Expired rules never apply: the deciding rule is always live, and
    /// dropping every expired rule from the bundle changes no decision.
    #[test]
    fn expired_rules_never_apply(b in bundle(), now in 0..=T_MAX) {
        let policy = Policy::compile(&b).unwrap();
        let mut live = b.clone();
        live.rules.retain(|r| applies(r, now));
        let live_policy = Policy::compile(&live).unwrap();
        for (p, s, t) in queries(&b) {
            let d = policy.decide(&p, &s, &t, now);
            if let Some(rule) = d.reason.rule() {
                let rule = policy.rule_by_ref(rule).unwrap();
                prop_assert!(applies(rule, now), "{} decided at {}", rule.id, now);
            }
            prop_assert_eq!(ours(&policy, &p, &s, &t, now), ours(&live_policy, &p, &s, &t, now));
        }
    }

    /// `explain` lists exactly the reference's matching rules, flags the
    /// expired ones, and agrees with `decide`.
    #[test]
    fn explain_lists_the_matching_rules(b in bundle(), now in 0..=T_MAX) {
        let policy = Policy::compile(&b).unwrap();
        for p in &b.principals {
            for s in &b.servers {
                for t in &s.tools {
                    let x = policy.explain(&p.id, &s.id, &t.name, now);
                    prop_assert_eq!(x.decision, policy.decide(&p.id, &s.id, &t.name, now));
                    let got: Vec<(&str, bool)> =
                        x.matches.iter().map(|m| (m.rule_id, m.expired)).collect();
                    let want: Vec<(&str, bool)> = matching(&b, p, s, t)
                        .iter()
                        .map(|r| (r.id.as_str(), !applies(r, now)))
                        .collect();
                    prop_assert_eq!(got, want);
                }
            }
        }
    }

    /// `who_can_call` is `decide` over the principals.
    #[test]
    fn who_can_call_equals_decide(b in bundle(), now in 0..=T_MAX) {
        let policy = Policy::compile(&b).unwrap();
        for s in &b.servers {
            for t in &s.tools {
                let want: Vec<&str> = b
                    .principals
                    .iter()
                    .map(|p| p.id.as_str())
                    .filter(|p| policy.decide(p, &s.id, &t.name, now).allowed)
                    .collect();
                prop_assert_eq!(policy.who_can_call(&s.id, &t.name, now), want);
            }
        }
    }

    /// The wire form round-trips.
    #[test]
    fn json_round_trips(b in bundle()) {
        let json = b.to_canonical_json().unwrap();
        let back = Bundle::from_json(&json).unwrap();
        prop_assert_eq!(back.to_canonical_json().unwrap(), json);
        prop_assert_eq!(back, b);
    }

    /// A delta between any two bundles turns the first into the second,
    /// byte for byte, and survives its own wire form.
    #[test]
    fn delta_between_then_apply_gives_the_next_bundle(base in bundle(), next in bundle()) {
        use portcullis_policy::delta::{content_sha256, Delta};
        let mut next = next;
        next.revision = 2;
        next.issued_at = "2025-01-02T00:00:00Z".into();
        let delta = Delta::between(&base, &next).unwrap();
        let wire: Delta = serde_json::from_str(&delta.to_json().unwrap()).unwrap();
        prop_assert_eq!(&wire, &delta);
        let applied = wire.apply(&base).unwrap();
        // Moving the base in gives the same bundle as cloning from it.
        prop_assert_eq!(&wire.apply_owned(base.clone()).unwrap(), &applied);
        prop_assert_eq!(content_sha256(&applied).unwrap(), delta.sha256.clone());
        prop_assert_eq!(applied.to_canonical_json().unwrap(), next.to_canonical_json().unwrap());
        // Nothing is sent for what did not change.
        let same = Delta::between(&base, &Bundle { revision: 2, ..base.clone() }).unwrap();
        prop_assert!(same.servers.is_empty() && same.groups.is_empty());
        prop_assert!(same.principals.is_empty() && same.rules.is_empty());
    }
    /// The canonical JSON in pieces (`CanonicalJson`), made from the base's
    /// pieces and the delta, is the next bundle's JSON byte for byte, and
    /// hashes as `content_sha256` does, in chunks of 1 to 3 entries so
    /// that small bundles span many chunks; so is a third revision made
    /// from those pieces.
    #[test]
    fn canonical_json_pieces_follow_deltas_byte_for_byte(
        base in bundle(), next in bundle(), third in bundle(), chunk in 1usize..4,
    ) {
        use portcullis_policy::canonical::CanonicalJson;
        use portcullis_policy::delta::{content_sha256, Delta};
        let (mut next, mut third) = (next, third);
        next.revision = 2;
        third.revision = 3;
        let mut pieces = CanonicalJson::with_chunk(&base, chunk).unwrap();
        prop_assert_eq!(pieces.to_vec(), base.to_canonical_json().unwrap().into_bytes());
        let mut prev = base;
        for b in [next, third] {
            let delta = Delta::between(&prev, &b).unwrap();
            pieces = CanonicalJson::next(&pieces, &b, &delta).unwrap();
            prop_assert_eq!(pieces.to_vec(), b.to_canonical_json().unwrap().into_bytes());
            prop_assert_eq!(pieces.sha256(), content_sha256(&b).unwrap());
            prev = b;
        }
    }
}
