//! One test per rule of the decision semantics (see `src/eval.rs`), plus
//! compile-time validation and the console's accessors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_policy::{
    Agent, AnnotationFlag, Annotations, Bundle, CompileError, Decision, Delegation,
    DelegationDenial, Effect, Group, MatchedBy, Policy, Principal, Reason, Rule, Server, Subject,
    Target, Tool, FORMAT_V1, MAX_DELEGATION_DEPTH,
};

const NOW: i64 = 1_750_000_000;

fn tool(name: &str, annotations: Annotations) -> Tool {
    Tool {
        name: name.into(),
        annotations,
        approved: true,
        definition_hash: format!("sha256:{:064x}", name.len()),
    }
}

fn ro() -> Annotations {
    Annotations {
        read_only: true,
        idempotent: true,
        ..Annotations::default()
    }
}

fn destructive() -> Annotations {
    Annotations {
        destructive: true,
        open_world: true,
        ..Annotations::default()
    }
}

fn principal(id: &str, active: bool, groups: &[&str]) -> Principal {
    Principal {
        id: id.into(),
        email: format!("{}@acme.example", id.trim_start_matches("usr_")),
        active,
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

/// The catalog and people every test shares; tests add rules.
///
/// * `srv_gh`: `create_issue` (open world), `delete_repo` (destructive,
///   open world), `list_issues` (read-only), `new_tool` (read-only,
///   quarantined).
/// * `srv_off`: disabled, `ping` (read-only).
/// * alice ∈ eng; bob ∈ eng, contractors; carol ∈ nothing; dave ∈ eng but
///   inactive; erin ∈ a group that isn't in the bundle.
/// * agents: `agt_bot` (active), `agt_off` (its kill switch on).
///
/// Rules naming an agent go in `agent_rules`, the others in `rules`.
fn bundle(rules: Vec<Rule>) -> Bundle {
    let (agent_rules, rules): (Vec<Rule>, Vec<Rule>) = rules
        .into_iter()
        .partition(|r| matches!(r.subject, Subject::Agent { .. }));
    let mut new_tool = tool("new_tool", ro());
    new_tool.approved = false;
    Bundle {
        format: FORMAT_V1.into(),
        revision: 7,
        issued_at: "2025-06-15T09:30:00Z".into(),
        servers: vec![
            Server {
                id: "srv_gh".into(),
                slug: "github".into(),
                resource: "https://mcp.acme.example/github".into(),
                enabled: true,
                tools: vec![
                    tool(
                        "create_issue",
                        Annotations {
                            open_world: true,
                            ..Annotations::default()
                        },
                    ),
                    tool("delete_repo", destructive()),
                    tool("list_issues", ro()),
                    new_tool,
                ],
            },
            Server {
                id: "srv_off".into(),
                slug: "off".into(),
                resource: "https://mcp.acme.example/off".into(),
                enabled: false,
                tools: vec![tool("ping", ro())],
            },
        ],
        groups: vec![
            Group {
                id: "grp_contractors".into(),
                name: "Contractors".into(),
            },
            Group {
                id: "grp_eng".into(),
                name: "Engineering".into(),
            },
        ],
        principals: vec![
            principal("usr_alice", true, &["grp_eng"]),
            principal("usr_bob", true, &["grp_contractors", "grp_eng"]),
            principal("usr_carol", true, &[]),
            principal("usr_dave", false, &["grp_eng"]),
            principal("usr_erin", true, &["grp_gone"]),
        ],
        rules,
        blocked_clients: Vec::new(),
        agents: vec![
            Agent {
                id: "agt_bot".into(),
                name: "Triage bot".into(),
                active: true,
            },
            Agent {
                id: "agt_off".into(),
                name: "Killed bot".into(),
                active: false,
            },
        ],
        agent_rules,
        delegations: Vec::new(),
    }
}

fn rule(id: &str, effect: Effect, subject: Subject, server: &str, target: Target) -> Rule {
    Rule {
        id: id.into(),
        effect,
        subject,
        server: server.into(),
        target,
        include_destructive: false,
        expires_at: None,
    }
}

fn allow(id: &str, subject: Subject, target: Target) -> Rule {
    rule(id, Effect::Allow, subject, "srv_gh", target)
}

fn deny(id: &str, subject: Subject, target: Target) -> Rule {
    rule(id, Effect::Deny, subject, "srv_gh", target)
}

fn user(id: &str) -> Subject {
    Subject::User { id: id.into() }
}

fn group(id: &str) -> Subject {
    Subject::Group { id: id.into() }
}

fn tools(names: &[&str]) -> Target {
    Target::Tools {
        names: names.iter().map(|n| n.to_string()).collect(),
    }
}

fn annotation(annotation: AnnotationFlag) -> Target {
    Target::Annotation { annotation }
}

fn compile(rules: Vec<Rule>) -> Policy {
    Policy::compile(&bundle(rules)).unwrap()
}

/// `allow <rule id>` / `deny <reason code> [rule id]`, for compact asserts.
fn verdict(policy: &Policy, principal: &str, server: &str, tool: &str, now: i64) -> String {
    let d = policy.decide(principal, server, tool, now);
    assert_eq!(d.allowed, matches!(d.reason, Reason::Allowed { .. }));
    match d.reason {
        Reason::Allowed { rule } => format!("allow {}", policy.rule_id(rule)),
        Reason::DeniedByRule { rule } => format!("deny denied_by_rule {}", policy.rule_id(rule)),
        other => format!("deny {}", other.code()),
    }
}

fn gh(policy: &Policy, principal: &str, tool: &str) -> String {
    verdict(policy, principal, "srv_gh", tool, NOW)
}

#[test]
fn default_deny_without_rules() {
    let p = compile(vec![]);
    assert_eq!(gh(&p, "usr_alice", "create_issue"), "deny no_grant");
    assert_eq!(
        p.decide("usr_alice", "srv_gh", "create_issue", NOW),
        Decision {
            allowed: false,
            reason: Reason::NoGrant
        }
    );
}

#[test]
fn direct_user_grant_allows_only_that_user() {
    let p = compile(vec![allow(
        "r1",
        user("usr_alice"),
        tools(&["create_issue"]),
    )]);
    assert_eq!(gh(&p, "usr_alice", "create_issue"), "allow r1");
    assert_eq!(gh(&p, "usr_alice", "list_issues"), "deny no_grant");
    assert_eq!(gh(&p, "usr_bob", "create_issue"), "deny no_grant");
}

#[test]
fn group_grant_applies_through_membership() {
    let p = compile(vec![allow("r1", group("grp_eng"), Target::Server)]);
    assert_eq!(gh(&p, "usr_alice", "create_issue"), "allow r1");
    assert_eq!(gh(&p, "usr_bob", "list_issues"), "allow r1");
    assert_eq!(gh(&p, "usr_carol", "create_issue"), "deny no_grant");
}

#[test]
fn everyone_grant_applies_to_every_active_principal() {
    let p = compile(vec![allow(
        "r1",
        Subject::Everyone,
        tools(&["list_issues"]),
    )]);
    for u in ["usr_alice", "usr_bob", "usr_carol", "usr_erin"] {
        assert_eq!(gh(&p, u, "list_issues"), "allow r1", "{u}");
        assert_eq!(gh(&p, u, "create_issue"), "deny no_grant", "{u}");
    }
    assert_eq!(gh(&p, "usr_dave", "list_issues"), "deny inactive_principal");
}

fn agent(id: &str) -> Subject {
    Subject::Agent { id: id.into() }
}

#[test]
fn agents_are_reached_only_by_rules_naming_them() {
    let p = compile(vec![
        allow("r1", Subject::Everyone, Target::Server),
        allow("r2", group("grp_eng"), Target::Server),
        // A `user` subject with an agent's id and an `agent` subject with a
        // person's id match nobody.
        allow("r3", user("agt_bot"), tools(&["delete_repo"])),
        allow("r4", agent("usr_carol"), tools(&["delete_repo"])),
        allow("r5", agent("agt_bot"), tools(&["list_issues"])),
        allow("r6", agent("agt_off"), tools(&["list_issues"])),
    ]);
    assert_eq!(gh(&p, "agt_bot", "list_issues"), "allow r5");
    assert_eq!(gh(&p, "agt_bot", "create_issue"), "deny no_grant");
    assert_eq!(gh(&p, "agt_bot", "delete_repo"), "deny no_grant");
    assert_eq!(gh(&p, "usr_carol", "delete_repo"), "deny no_grant");
    assert_eq!(gh(&p, "usr_carol", "create_issue"), "allow r1");
    // The kill switch: an inactive agent is denied whatever names it.
    assert_eq!(gh(&p, "agt_off", "list_issues"), "deny inactive_principal");
    // A deny naming the agent wins over its allow.
    let p = compile(vec![
        allow("r1", agent("agt_bot"), Target::Server),
        deny("r2", agent("agt_bot"), tools(&["create_issue"])),
        deny("r3", Subject::Everyone, tools(&["list_issues"])),
    ]);
    assert_eq!(gh(&p, "agt_bot", "create_issue"), "deny denied_by_rule r2");
    assert_eq!(gh(&p, "agt_bot", "list_issues"), "allow r1");
    // Agents are found by id, listed apart from people.
    assert_eq!(
        p.agent("agt_bot").map(|a| a.name.as_str()),
        Some("Triage bot")
    );
    assert!(p.agent("usr_alice").is_none() && p.principal("agt_bot").is_none());
    assert_eq!(p.agents().len(), 2);
    assert_eq!(
        p.who_can_call("srv_gh", "create_issue", NOW),
        Vec::<&str>::new()
    );
    let ex = p.explain("agt_bot", "srv_gh", "list_issues", NOW);
    assert_eq!(ex.matches.len(), 1);
    assert_eq!(ex.matches[0].matched_by, MatchedBy::Direct);
}

#[test]
fn agent_rules_and_people_rules_stay_in_their_lists() {
    let mut b = bundle(vec![allow("r1", agent("agt_bot"), Target::Server)]);
    assert_eq!(b.agent_rules.len(), 1);
    let ok = Policy::compile(&b).unwrap();
    // Reported by id like any rule, after the people's rules.
    assert_eq!(ok.rule("r1").map(|r| r.id.as_str()), Some("r1"));
    assert_eq!(ok.rules().count(), 1);
    b.rules = std::mem::take(&mut b.agent_rules);
    assert_eq!(
        Policy::compile(&b).err(),
        Some(CompileError::MisplacedRule { rule: "r1".into() }),
        "an agent rule among the people's rules would break older readers"
    );
    let mut b = bundle(vec![]);
    b.agent_rules = vec![allow("r2", user("usr_alice"), Target::Server)];
    assert_eq!(
        Policy::compile(&b).err(),
        Some(CompileError::MisplacedRule { rule: "r2".into() })
    );
}

#[test]
fn an_agent_id_that_is_also_a_person_id_is_refused() {
    let mut b = bundle(vec![]);
    b.agents[0].id = "usr_alice".into();
    assert_eq!(
        Policy::compile(&b).err(),
        Some(CompileError::DuplicatePrincipal {
            id: "usr_alice".into()
        })
    );
}

#[test]
fn deny_beats_allow_whatever_the_subjects() {
    // User allow vs group deny.
    let p = compile(vec![
        allow("r1", user("usr_bob"), Target::Server),
        deny("r2", group("grp_contractors"), tools(&["create_issue"])),
    ]);
    assert_eq!(gh(&p, "usr_bob", "create_issue"), "deny denied_by_rule r2");
    assert_eq!(gh(&p, "usr_bob", "list_issues"), "allow r1");

    // Group allow vs user deny, everyone deny vs user allow.
    let p = compile(vec![
        allow("r1", group("grp_eng"), Target::Server),
        deny("r2", user("usr_alice"), tools(&["list_issues"])),
        allow("r3", user("usr_carol"), Target::Server),
        deny("r4", Subject::Everyone, tools(&["create_issue"])),
    ]);
    assert_eq!(gh(&p, "usr_alice", "list_issues"), "deny denied_by_rule r2");
    assert_eq!(gh(&p, "usr_bob", "list_issues"), "allow r1");
    assert_eq!(
        gh(&p, "usr_carol", "create_issue"),
        "deny denied_by_rule r4"
    );
    assert_eq!(
        gh(&p, "usr_alice", "create_issue"),
        "deny denied_by_rule r4"
    );
    assert_eq!(gh(&p, "usr_carol", "list_issues"), "allow r3");
}

#[test]
fn the_first_rule_in_bundle_order_is_reported() {
    let p = compile(vec![
        allow("r1", group("grp_eng"), tools(&["list_issues"])),
        allow("r2", user("usr_alice"), tools(&["list_issues"])),
        deny("r3", user("usr_bob"), tools(&["list_issues"])),
        deny("r4", Subject::Everyone, tools(&["list_issues"])),
    ]);
    assert_eq!(gh(&p, "usr_alice", "list_issues"), "deny denied_by_rule r4");
    assert_eq!(gh(&p, "usr_bob", "list_issues"), "deny denied_by_rule r3");

    let p = compile(vec![
        allow("r1", Subject::Everyone, tools(&["create_issue"])),
        allow("r2", user("usr_alice"), tools(&["list_issues"])),
        allow("r3", group("grp_eng"), Target::Server),
    ]);
    assert_eq!(gh(&p, "usr_alice", "list_issues"), "allow r2");
    assert_eq!(gh(&p, "usr_alice", "create_issue"), "allow r1");
}

#[test]
fn expiry_ends_a_grant_at_exactly_expires_at() {
    let e = NOW + 3600;
    let mut r1 = allow("r1", user("usr_alice"), tools(&["create_issue"]));
    r1.expires_at = Some(e);
    let p = compile(vec![r1]);
    let at = |now| verdict(&p, "usr_alice", "srv_gh", "create_issue", now);
    assert_eq!(at(i64::MIN), "allow r1");
    assert_eq!(at(e - 1), "allow r1");
    assert_eq!(at(e), "deny no_grant");
    assert_eq!(at(e + 1), "deny no_grant");
}

#[test]
fn expiry_ends_a_deny_at_exactly_expires_at() {
    let e = NOW + 60;
    let mut r2 = deny("r2", user("usr_alice"), Target::Server);
    r2.expires_at = Some(e);
    let p = compile(vec![allow("r1", group("grp_eng"), Target::Server), r2]);
    let at = |now| verdict(&p, "usr_alice", "srv_gh", "list_issues", now);
    assert_eq!(at(e - 1), "deny denied_by_rule r2");
    assert_eq!(at(e), "allow r1");
}

#[test]
fn rules_without_expiry_apply_at_any_time() {
    let p = compile(vec![allow("r1", user("usr_alice"), Target::Server)]);
    for now in [i64::MIN, 0, NOW, i64::MAX] {
        assert_eq!(
            verdict(&p, "usr_alice", "srv_gh", "list_issues", now),
            "allow r1"
        );
    }
}

#[test]
fn inactive_principal_is_denied_everything() {
    let mut broad = allow("r1", Subject::Everyone, Target::Server);
    broad.include_destructive = true;
    let p = compile(vec![
        broad,
        allow("r2", user("usr_dave"), tools(&["list_issues"])),
    ]);
    for t in ["create_issue", "delete_repo", "list_issues"] {
        assert_eq!(gh(&p, "usr_dave", t), "deny inactive_principal");
        assert_eq!(gh(&p, "usr_alice", t), "allow r1");
    }
    assert_eq!(p.allowed_tools("usr_dave", "srv_gh", NOW).count(), 0);
}

#[test]
fn quarantined_tool_is_denied_even_with_an_explicit_grant() {
    let mut broad = allow("r1", Subject::Everyone, Target::Server);
    broad.include_destructive = true;
    let p = compile(vec![
        broad,
        allow("r2", user("usr_alice"), tools(&["new_tool"])),
    ]);
    assert_eq!(gh(&p, "usr_alice", "new_tool"), "deny quarantined");
    assert_eq!(gh(&p, "usr_bob", "new_tool"), "deny quarantined");
    assert!(!p
        .allowed_tools("usr_alice", "srv_gh", NOW)
        .any(|t| t == "new_tool"));
}

#[test]
fn whole_server_allow_skips_destructive_tools_unless_opted_in() {
    let p = compile(vec![allow("r1", user("usr_alice"), Target::Server)]);
    assert_eq!(gh(&p, "usr_alice", "create_issue"), "allow r1");
    assert_eq!(gh(&p, "usr_alice", "delete_repo"), "deny no_grant");

    let mut r1 = allow("r1", user("usr_alice"), Target::Server);
    r1.include_destructive = true;
    let p = compile(vec![r1]);
    assert_eq!(gh(&p, "usr_alice", "delete_repo"), "allow r1");
}

#[test]
fn naming_a_destructive_tool_covers_it() {
    let p = compile(vec![allow(
        "r1",
        user("usr_alice"),
        tools(&["delete_repo"]),
    )]);
    assert_eq!(gh(&p, "usr_alice", "delete_repo"), "allow r1");
}

#[test]
fn whole_server_deny_covers_destructive_tools() {
    let mut r1 = allow("r1", group("grp_eng"), Target::Server);
    r1.include_destructive = true;
    let p = compile(vec![r1, deny("r2", user("usr_bob"), Target::Server)]);
    assert_eq!(gh(&p, "usr_alice", "delete_repo"), "allow r1");
    assert_eq!(gh(&p, "usr_bob", "delete_repo"), "deny denied_by_rule r2");
    assert_eq!(gh(&p, "usr_bob", "create_issue"), "deny denied_by_rule r2");
}

#[test]
fn annotation_target_selects_by_effective_annotation() {
    let p = compile(vec![allow(
        "r1",
        group("grp_eng"),
        annotation(AnnotationFlag::ReadOnly),
    )]);
    assert_eq!(gh(&p, "usr_alice", "list_issues"), "allow r1");
    assert_eq!(gh(&p, "usr_alice", "create_issue"), "deny no_grant");
    assert_eq!(gh(&p, "usr_alice", "delete_repo"), "deny no_grant");
    assert_eq!(
        p.allowed_tools("usr_alice", "srv_gh", NOW)
            .collect::<Vec<_>>(),
        ["list_issues"]
    );
}

#[test]
fn annotation_allow_skips_destructive_tools_unless_opted_in_or_selected_as_such() {
    // delete_repo is open world and destructive; create_issue open world only.
    let p = compile(vec![allow(
        "r1",
        user("usr_alice"),
        annotation(AnnotationFlag::OpenWorld),
    )]);
    assert_eq!(gh(&p, "usr_alice", "create_issue"), "allow r1");
    assert_eq!(gh(&p, "usr_alice", "delete_repo"), "deny no_grant");

    let mut r1 = allow(
        "r1",
        user("usr_alice"),
        annotation(AnnotationFlag::OpenWorld),
    );
    r1.include_destructive = true;
    let p = compile(vec![r1]);
    assert_eq!(gh(&p, "usr_alice", "delete_repo"), "allow r1");

    // Selecting destructive tools by their annotation is explicit.
    let p = compile(vec![allow(
        "r1",
        user("usr_alice"),
        annotation(AnnotationFlag::Destructive),
    )]);
    assert_eq!(gh(&p, "usr_alice", "delete_repo"), "allow r1");
    assert_eq!(gh(&p, "usr_alice", "create_issue"), "deny no_grant");
}

#[test]
fn annotation_deny_covers_destructive_tools() {
    let mut r1 = allow("r1", user("usr_alice"), Target::Server);
    r1.include_destructive = true;
    let p = compile(vec![
        r1,
        deny(
            "r2",
            user("usr_alice"),
            annotation(AnnotationFlag::OpenWorld),
        ),
    ]);
    assert_eq!(gh(&p, "usr_alice", "delete_repo"), "deny denied_by_rule r2");
    assert_eq!(
        gh(&p, "usr_alice", "create_issue"),
        "deny denied_by_rule r2"
    );
    assert_eq!(gh(&p, "usr_alice", "list_issues"), "allow r1");
}

#[test]
fn rules_only_cover_their_own_server() {
    let p = compile(vec![
        allow("r1", Subject::Everyone, Target::Server),
        rule(
            "r2",
            Effect::Deny,
            Subject::Everyone,
            "srv_off",
            Target::Server,
        ),
    ]);
    assert_eq!(gh(&p, "usr_alice", "list_issues"), "allow r1");
}

#[test]
fn unknown_principal_server_and_tool_are_denied() {
    let p = compile(vec![allow("r1", Subject::Everyone, Target::Server)]);
    assert_eq!(
        gh(&p, "usr_nobody", "list_issues"),
        "deny unknown_principal"
    );
    assert_eq!(
        verdict(&p, "usr_alice", "srv_nope", "list_issues", NOW),
        "deny unknown_server"
    );
    assert_eq!(gh(&p, "usr_alice", "nope"), "deny unknown_tool");
    // A tool of another server is unknown on this one.
    assert_eq!(gh(&p, "usr_alice", "ping"), "deny unknown_tool");
    // Lookups fail in order: principal, server, tool.
    assert_eq!(
        verdict(&p, "usr_nobody", "srv_nope", "nope", NOW),
        "deny unknown_principal"
    );
    assert_eq!(
        verdict(&p, "usr_alice", "srv_nope", "nope", NOW),
        "deny unknown_server"
    );
    assert_eq!(p.allowed_tools("usr_nobody", "srv_gh", NOW).count(), 0);
    assert_eq!(p.allowed_tools("usr_alice", "srv_nope", NOW).count(), 0);
}

#[test]
fn disabled_server_is_denied_even_with_a_grant() {
    let p = compile(vec![rule(
        "r1",
        Effect::Allow,
        user("usr_alice"),
        "srv_off",
        tools(&["ping"]),
    )]);
    assert_eq!(
        verdict(&p, "usr_alice", "srv_off", "ping", NOW),
        "deny server_disabled"
    );
    assert_eq!(p.allowed_tools("usr_alice", "srv_off", NOW).count(), 0);
}

#[test]
fn checks_after_lookup_run_in_order_inactive_disabled_quarantined() {
    let p = compile(vec![]);
    assert_eq!(
        verdict(&p, "usr_dave", "srv_off", "ping", NOW),
        "deny inactive_principal"
    );
    assert_eq!(
        verdict(&p, "usr_alice", "srv_off", "ping", NOW),
        "deny server_disabled"
    );
    assert_eq!(gh(&p, "usr_dave", "new_tool"), "deny inactive_principal");
}

#[test]
fn unknown_subjects_groups_and_tool_names_are_tolerated_and_match_nothing() {
    let p = compile(vec![
        allow("r1", user("usr_ghost"), Target::Server),
        allow("r2", group("grp_gone"), Target::Server),
        allow("r3", user("usr_alice"), tools(&["no_such_tool"])),
    ]);
    assert_eq!(gh(&p, "usr_erin", "list_issues"), "deny no_grant");
    assert_eq!(gh(&p, "usr_alice", "list_issues"), "deny no_grant");
    assert_eq!(p.covered_tools(p.rule_ref("r3").unwrap()).count(), 0);
}

#[test]
fn allowed_tools_lists_what_decide_allows() {
    let mut r2 = allow("r2", user("usr_bob"), annotation(AnnotationFlag::ReadOnly));
    r2.expires_at = Some(NOW + 10);
    let p = compile(vec![
        allow(
            "r1",
            group("grp_eng"),
            tools(&["create_issue", "delete_repo"]),
        ),
        r2,
        deny("r3", group("grp_contractors"), tools(&["create_issue"])),
    ]);
    let list = |u, now| p.allowed_tools(u, "srv_gh", now).collect::<Vec<_>>();
    assert_eq!(list("usr_alice", NOW), ["create_issue", "delete_repo"]);
    assert_eq!(list("usr_bob", NOW), ["delete_repo", "list_issues"]);
    assert_eq!(list("usr_bob", NOW + 10), ["delete_repo"]);
    assert!(list("usr_carol", NOW).is_empty());
}

#[test]
fn who_can_call_lists_allowed_principals() {
    let p = compile(vec![
        allow("r1", group("grp_eng"), tools(&["list_issues"])),
        allow("r2", user("usr_carol"), tools(&["list_issues"])),
        deny("r3", user("usr_bob"), Target::Server),
    ]);
    assert_eq!(
        p.who_can_call("srv_gh", "list_issues", NOW),
        ["usr_alice", "usr_carol"]
    );
    assert!(p.who_can_call("srv_gh", "nope", NOW).is_empty());
    assert!(p.who_can_call("srv_nope", "list_issues", NOW).is_empty());
}

#[test]
fn explain_lists_every_matching_rule_and_how_it_matched() {
    let mut r4 = allow("r4", user("usr_bob"), tools(&["create_issue"]));
    r4.expires_at = Some(NOW);
    let p = compile(vec![
        allow("r1", group("grp_eng"), Target::Server),
        deny("r2", group("grp_contractors"), tools(&["create_issue"])),
        allow(
            "r3",
            Subject::Everyone,
            annotation(AnnotationFlag::OpenWorld),
        ),
        r4,
        // Not matching bob, or not covering create_issue:
        allow("r5", user("usr_alice"), Target::Server),
        allow("r6", user("usr_bob"), tools(&["list_issues"])),
    ]);
    let x = p.explain("usr_bob", "srv_gh", "create_issue", NOW);
    assert_eq!(
        x.decision,
        p.decide("usr_bob", "srv_gh", "create_issue", NOW)
    );
    assert_eq!(
        x.decision.reason,
        Reason::DeniedByRule {
            rule: p.rule_ref("r2").unwrap()
        }
    );
    let got: Vec<_> = x
        .matches
        .iter()
        .map(|m| (m.rule_id, m.effect, m.matched_by, m.expired))
        .collect();
    assert_eq!(
        got,
        [
            ("r1", Effect::Allow, MatchedBy::ViaGroup("grp_eng"), false),
            (
                "r2",
                Effect::Deny,
                MatchedBy::ViaGroup("grp_contractors"),
                false
            ),
            ("r3", Effect::Allow, MatchedBy::Everyone, false),
            ("r4", Effect::Allow, MatchedBy::Direct, true),
        ]
    );
    assert_eq!(x.matches[3].expires_at, Some(NOW));
    assert_eq!(x.matches[3].rule, p.rule_ref("r4").unwrap());

    // Serialises for the console.
    let json = serde_json::to_string(&x.matches[1]).unwrap();
    assert_eq!(
        json,
        r#"{"rule_id":"r2","effect":"deny","matched_by":{"kind":"via_group","group":"grp_contractors"},"expired":false}"#
    );

    // Rules are still listed when an earlier step decides.
    let x = p.explain("usr_dave", "srv_gh", "create_issue", NOW);
    assert_eq!(x.decision.reason, Reason::InactivePrincipal);
    assert_eq!(x.matches.len(), 2);
    // Nothing for unknown names.
    assert!(p
        .explain("usr_nobody", "srv_gh", "create_issue", NOW)
        .matches
        .is_empty());
    assert!(p
        .explain("usr_bob", "srv_gh", "nope", NOW)
        .matches
        .is_empty());
}

#[test]
fn accessors_render_the_compiled_policy() {
    let p = compile(vec![
        allow("r1", group("grp_eng"), Target::Server),
        deny(
            "r2",
            user("usr_bob"),
            annotation(AnnotationFlag::Destructive),
        ),
    ]);
    assert_eq!(p.revision(), 7);
    assert_eq!(p.issued_at(), "2025-06-15T09:30:00Z");
    assert_eq!(p.servers().len(), 2);
    assert_eq!(p.server("srv_off").map(|s| s.enabled), Some(false));
    assert_eq!(p.tools("srv_gh").map(<[Tool]>::len), Some(4));
    assert_eq!(
        p.tool("srv_gh", "new_tool").map(|t| t.approved),
        Some(false)
    );
    assert!(p.tool("srv_off", "new_tool").is_none());
    assert_eq!(p.principals().len(), 5);
    assert_eq!(p.principal("usr_bob").map(|u| u.groups.len()), Some(2));
    assert_eq!(p.groups().len(), 2);
    assert_eq!(
        p.group("grp_eng").map(|g| g.name.as_str()),
        Some("Engineering")
    );
    assert_eq!(p.rules().count(), 2);
    assert_eq!(p.rule("r2").map(|r| r.effect), Some(Effect::Deny));
    let r1 = p.rule_ref("r1").unwrap();
    assert_eq!(p.rule_id(r1), "r1");
    assert_eq!(p.rule_by_ref(r1).map(|r| r.id.as_str()), Some("r1"));
    assert_eq!(
        p.covered_tools(r1).collect::<Vec<_>>(),
        ["create_issue", "list_issues", "new_tool"]
    );
    assert_eq!(
        p.covered_tools(p.rule_ref("r2").unwrap())
            .collect::<Vec<_>>(),
        ["delete_repo"]
    );
    assert_eq!(
        p.server_id_by_resource("https://mcp.acme.example/github"),
        Some("srv_gh")
    );
    assert_eq!(p.server_id_by_resource("https://elsewhere.example"), None);
    assert_eq!(p.bundle(), &bundle(p.rules().cloned().collect()));
}

#[test]
fn reason_codes_are_stable() {
    let p = compile(vec![allow("r1", user("usr_alice"), Target::Server)]);
    let d = p.decide("usr_alice", "srv_gh", "list_issues", NOW);
    assert!(d.allowed);
    assert_eq!(d.reason.code(), "allowed");
    assert_eq!(d.reason.to_string(), "allowed");
    assert_eq!(d.reason.rule().map(|r| p.rule_id(r)), Some("r1"));
    let codes: Vec<_> = [
        Reason::NoGrant,
        Reason::UnknownPrincipal,
        Reason::InactivePrincipal,
        Reason::UnknownServer,
        Reason::ServerDisabled,
        Reason::UnknownTool,
        Reason::Quarantined,
    ]
    .iter()
    .map(|r| r.code())
    .collect();
    assert_eq!(
        codes,
        [
            "no_grant",
            "unknown_principal",
            "inactive_principal",
            "unknown_server",
            "server_disabled",
            "unknown_tool",
            "quarantined"
        ]
    );
}

#[test]
fn policy_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<Decision>();
}

#[test]
fn compile_rejects_other_formats() {
    let mut b = bundle(vec![]);
    b.format = "portcullis.policy/v2".into();
    assert_eq!(
        Policy::compile(&b).unwrap_err(),
        CompileError::UnsupportedFormat {
            found: "portcullis.policy/v2".into()
        }
    );
}

#[test]
fn compile_rejects_duplicates() {
    let check = |edit: &dyn Fn(&mut Bundle), want: CompileError| {
        let mut b = bundle(vec![allow("r1", Subject::Everyone, Target::Server)]);
        edit(&mut b);
        assert_eq!(Policy::compile(&b).unwrap_err(), want);
    };
    check(
        &|b| {
            let mut s = b.servers[1].clone();
            s.id = "srv_gh".into();
            s.slug = "other".into();
            s.resource = "https://other".into();
            b.servers.push(s);
        },
        CompileError::DuplicateServer {
            id: "srv_gh".into(),
        },
    );
    check(
        &|b| b.servers[1].slug = "github".into(),
        CompileError::DuplicateServerSlug {
            slug: "github".into(),
        },
    );
    check(
        &|b| b.servers[1].resource = "https://mcp.acme.example/github".into(),
        CompileError::DuplicateResource {
            resource: "https://mcp.acme.example/github".into(),
        },
    );
    check(
        &|b| {
            let t = b.servers[0].tools[0].clone();
            b.servers[0].tools.push(t);
        },
        CompileError::DuplicateTool {
            server: "srv_gh".into(),
            tool: "create_issue".into(),
        },
    );
    check(
        &|b| {
            let g = b.groups[0].clone();
            b.groups.push(g);
        },
        CompileError::DuplicateGroup {
            id: "grp_contractors".into(),
        },
    );
    check(
        &|b| {
            let u = b.principals[0].clone();
            b.principals.push(u);
        },
        CompileError::DuplicatePrincipal {
            id: "usr_alice".into(),
        },
    );
    check(
        &|b| {
            let r = b.rules[0].clone();
            b.rules.push(r);
        },
        CompileError::DuplicateRule { id: "r1".into() },
    );
}

#[test]
fn compile_rejects_rules_about_unknown_servers() {
    let b = bundle(vec![rule(
        "r1",
        Effect::Allow,
        Subject::Everyone,
        "srv_gone",
        Target::Server,
    )]);
    let err = Policy::compile(&b).unwrap_err();
    assert_eq!(
        err,
        CompileError::UnknownServer {
            rule: "r1".into(),
            server: "srv_gone".into()
        }
    );
    assert_eq!(
        err.to_string(),
        r#"rule "r1" refers to unknown server "srv_gone""#
    );
}

#[test]
fn duplicate_groups_in_a_principal_are_harmless() {
    let mut b = bundle(vec![allow("r1", group("grp_eng"), Target::Server)]);
    b.principals[2].groups = vec!["grp_eng".into(), "grp_eng".into(), "grp_gone".into()];
    let p = Policy::compile(&b).unwrap();
    assert_eq!(gh(&p, "usr_carol", "list_issues"), "allow r1");
}

fn delegation(id: &str, agent: &str, subject: Subject, server: &str) -> Delegation {
    Delegation {
        id: id.into(),
        agent: agent.into(),
        subject,
        server: server.into(),
    }
}

fn two_agents(rules: Vec<Rule>, delegations: Vec<Delegation>) -> Policy {
    let mut b = bundle(rules);
    b.agents.push(Agent {
        id: "agt_two".into(),
        name: "Second bot".into(),
        active: true,
    });
    b.delegations = delegations;
    Policy::compile(&b).unwrap()
}

#[test]
fn a_delegated_call_needs_the_person_the_agent_and_the_delegation() {
    // Every combination of the three: allowed only when all three allow.
    for person_ok in [false, true] {
        for agent_ok in [false, true] {
            for delegated in [false, true] {
                let mut rules = vec![allow("r0", user("usr_bob"), Target::Server)];
                if person_ok {
                    rules.push(allow("r1", user("usr_alice"), tools(&["list_issues"])));
                }
                if agent_ok {
                    rules.push(allow("r2", agent("agt_bot"), tools(&["list_issues"])));
                }
                let mut delegations = vec![delegation("d0", "agt_bot", user("usr_bob"), "srv_gh")];
                if delegated {
                    delegations.push(delegation("d1", "agt_bot", user("usr_alice"), "srv_gh"));
                }
                let p = two_agents(rules, delegations);
                let d = p.decide_delegated("usr_alice", &["agt_bot"], "srv_gh", "list_issues", NOW);
                let want = if !person_ok {
                    Some(DelegationDenial::Person(Reason::NoGrant))
                } else if !agent_ok {
                    Some(DelegationDenial::Agent {
                        index: 0,
                        reason: Reason::NoGrant,
                    })
                } else if !delegated {
                    Some(DelegationDenial::NotDelegated { index: 0 })
                } else {
                    None
                };
                let case = format!("person {person_ok}, agent {agent_ok}, delegation {delegated}");
                assert_eq!(d.denial, want, "{case}");
                assert_eq!(d.allowed, person_ok && agent_ok && delegated, "{case}");
                assert_eq!(d.person.allowed, person_ok, "{case}");
                // The same agent calling on its own is decided by its own grants.
                assert_eq!(
                    p.decide("agt_bot", "srv_gh", "list_issues", NOW).allowed,
                    agent_ok
                );
            }
        }
    }
}

#[test]
fn delegations_match_people_by_user_group_or_everyone_on_their_server_only() {
    let rules = vec![
        allow("r1", Subject::Everyone, Target::Server),
        allow("r2", agent("agt_bot"), Target::Server),
    ];
    let call = |p: &Policy, who: &str| {
        p.decide_delegated(who, &["agt_bot"], "srv_gh", "create_issue", NOW)
            .allowed
    };
    let p = two_agents(
        rules.clone(),
        vec![delegation("d1", "agt_bot", group("grp_eng"), "srv_gh")],
    );
    assert!(call(&p, "usr_alice") && call(&p, "usr_bob"));
    assert!(!call(&p, "usr_carol"), "carol is not in eng");
    let p = two_agents(
        rules.clone(),
        vec![delegation("d1", "agt_bot", Subject::Everyone, "srv_gh")],
    );
    assert!(call(&p, "usr_carol"));
    // A delegation for another server does not reach this one; unknown
    // people and groups match nobody.
    let p = two_agents(
        rules.clone(),
        vec![
            delegation("d1", "agt_bot", Subject::Everyone, "srv_off"),
            delegation("d2", "agt_bot", user("usr_gone"), "srv_gh"),
            delegation("d3", "agt_bot", group("grp_gone"), "srv_gh"),
            delegation("d4", "agt_gone", Subject::Everyone, "srv_gh"),
        ],
    );
    assert!(!call(&p, "usr_carol") && !call(&p, "usr_erin"));
    assert_eq!(p.delegations().len(), 4);
}

#[test]
fn delegation_chains_check_every_agent_and_have_a_depth_limit() {
    let rules = vec![
        allow("r1", user("usr_alice"), Target::Server),
        allow("r2", agent("agt_bot"), Target::Server),
        allow("r3", agent("agt_two"), tools(&["list_issues"])),
        allow("r4", agent("agt_off"), Target::Server),
    ];
    let all = vec![
        delegation("d1", "agt_bot", user("usr_alice"), "srv_gh"),
        delegation("d2", "agt_two", user("usr_alice"), "srv_gh"),
        delegation("d3", "agt_off", user("usr_alice"), "srv_gh"),
    ];
    let p = two_agents(rules.clone(), all.clone());
    let chain = |actors: &[&str], tool: &str| {
        p.decide_delegated("usr_alice", actors, "srv_gh", tool, NOW)
            .denial
    };
    // agt_two acting for agt_bot acting for Alice: both must be allowed and delegated.
    assert_eq!(chain(&["agt_two", "agt_bot"], "list_issues"), None);
    assert_eq!(
        chain(&["agt_two", "agt_bot"], "create_issue"),
        Some(DelegationDenial::Agent {
            index: 0,
            reason: Reason::NoGrant
        })
    );
    // The kill switch of any agent in the chain.
    assert_eq!(
        chain(&["agt_bot", "agt_off"], "list_issues"),
        Some(DelegationDenial::Agent {
            index: 1,
            reason: Reason::InactivePrincipal
        })
    );
    // A person is no actor, an agent is no person, and the chain has 1 to
    // MAX_DELEGATION_DEPTH agents.
    assert_eq!(
        chain(&["usr_bob"], "list_issues"),
        Some(DelegationDenial::Agent {
            index: 0,
            reason: Reason::UnknownPrincipal
        })
    );
    assert_eq!(
        p.decide_delegated("agt_bot", &["agt_two"], "srv_gh", "list_issues", NOW)
            .denial,
        Some(DelegationDenial::Person(Reason::UnknownPrincipal))
    );
    assert_eq!(
        chain(&[], "list_issues"),
        Some(DelegationDenial::ChainLength)
    );
    let deep = ["agt_bot", "agt_two", "agt_bot", "agt_two"];
    assert_eq!(deep.len(), MAX_DELEGATION_DEPTH + 1);
    assert_eq!(
        chain(&deep[..MAX_DELEGATION_DEPTH], "list_issues"),
        None,
        "at the limit"
    );
    assert_eq!(
        chain(&deep, "list_issues"),
        Some(DelegationDenial::ChainLength)
    );
    // Without agt_two's delegation, the chain stops at it.
    let p = two_agents(rules, vec![all[0].clone()]);
    assert_eq!(
        p.decide_delegated(
            "usr_alice",
            &["agt_two", "agt_bot"],
            "srv_gh",
            "list_issues",
            NOW
        )
        .denial,
        Some(DelegationDenial::NotDelegated { index: 0 })
    );
}

#[test]
fn delegations_are_checked_at_compile_time_and_travel_in_deltas() {
    let mut b = bundle(vec![]);
    b.delegations = vec![delegation("d1", "agt_bot", agent("agt_off"), "srv_gh")];
    assert_eq!(
        Policy::compile(&b).err(),
        Some(CompileError::AgentDelegator {
            delegation: "d1".into()
        })
    );
    b.delegations = vec![delegation("d1", "agt_bot", Subject::Everyone, "srv_nope")];
    assert_eq!(
        Policy::compile(&b).err(),
        Some(CompileError::DelegationUnknownServer {
            delegation: "d1".into(),
            server: "srv_nope".into()
        })
    );
    let d = delegation("d1", "agt_bot", Subject::Everyone, "srv_gh");
    b.delegations = vec![d.clone(), d.clone()];
    assert_eq!(
        Policy::compile(&b).err(),
        Some(CompileError::DuplicateDelegation { id: "d1".into() })
    );
    // Absent from the JSON when empty; carried by deltas when they change.
    let base = bundle(vec![]);
    assert!(!base.to_canonical_json().unwrap().contains("delegations"));
    let mut next = base.clone();
    next.revision += 1;
    next.delegations = vec![d];
    let delta = portcullis_policy::delta::Delta::between(&base, &next).unwrap();
    assert_eq!(delta.delegations.upsert, next.delegations);
    assert_eq!(delta.apply(&base).unwrap(), next);
}
