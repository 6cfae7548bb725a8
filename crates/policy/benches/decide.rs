//! Decision throughput and latency on a company-sized bundle, side by side
//! with the same model in Cedar (`cedar-policy`).
//!
//! Run: `cargo bench -p portcullis-policy` (release profile). Deterministic:
//! the bundle and the queries come from a seeded generator, so two runs
//! differ only by timing noise. Env knobs: `POLICY_BENCH_QUERIES` (distinct
//! queries for our evaluator, default 1,048,576), `POLICY_BENCH_CEDAR`
//! (queries sent to Cedar with per-server policy sets, default 10,000),
//! `POLICY_BENCH_CEDAR_FULL` (queries sent to Cedar with the whole policy
//! set, default 200; each takes tens of milliseconds).
//!
//! The bundle: 10,000 users (3–8 of 500 groups each, 3 % inactive),
//! 200 servers (2 % disabled) of 25 tools (≈20 % destructive, ≈40 %
//! read-only, 2 % quarantined), 20,000 rules: group allows on whole servers,
//! by tool list and by annotation, user allows, denies, `everyone` allows;
//! 12 % of rules expire within ±30 days of the query time.
//!
//! Targets: ≥ 10× Cedar's throughput, p99 < 1 µs per decision.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use portcullis_policy::{
    AnnotationFlag, Annotations, Bundle, Effect, Group, Policy, Principal, Reason, Rule, Server,
    Subject, Target, Tool, FORMAT_V1,
};

const USERS: usize = 10_000;
const GROUPS: usize = 500;
const SERVERS: usize = 200;
const TOOLS_PER_SERVER: usize = 25;
const RULES: usize = 20_000;
/// Query time; rule expiries are spread ±30 days around it.
const NOW: i64 = 1_750_000_000;
const DAY: i64 = 86_400;

type Res<T> = Result<T, Box<dyn Error>>;

/// SplitMix64: tiny, seeded, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below(hi_inclusive - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn group_id(g: usize) -> String {
    format!("grp_{g:04}")
}
fn user_id(u: usize) -> String {
    format!("usr_{u:05}")
}
fn server_id(s: usize) -> String {
    format!("srv_{s:03}")
}
fn tool_name(t: usize) -> String {
    format!("tool_{t:02}")
}

/// Between `lo` and `hi` distinct tool names (of any server: all have the
/// same names).
fn tool_names(rng: &mut Rng, lo: usize, hi: usize) -> Vec<String> {
    let n = rng.range(lo, hi);
    let mut names: Vec<String> = (0..n)
        .map(|_| tool_name(rng.below(TOOLS_PER_SERVER)))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn generate() -> Bundle {
    let mut rng = Rng(0x5eed_0fc0_ffee);
    let servers = (0..SERVERS)
        .map(|s| Server {
            id: server_id(s),
            slug: format!("server-{s}"),
            resource: format!("https://mcp.acme.example/server-{s}"),
            enabled: !rng.chance(0.02),
            tools: (0..TOOLS_PER_SERVER)
                .map(|t| {
                    let kind = rng.next() % 100;
                    let destructive = kind < 20;
                    let read_only = (20..60).contains(&kind);
                    Tool {
                        name: tool_name(t),
                        annotations: Annotations {
                            read_only,
                            destructive,
                            idempotent: read_only || rng.chance(0.3),
                            open_world: rng.chance(0.5),
                        },
                        approved: !rng.chance(0.02),
                        definition_hash: format!("sha256:{:016x}{:016x}", rng.next(), rng.next()),
                    }
                })
                .collect(),
        })
        .collect();
    let groups = (0..GROUPS)
        .map(|g| Group {
            id: group_id(g),
            name: format!("Team {g}"),
        })
        .collect();
    let principals = (0..USERS)
        .map(|u| {
            let mut gs: Vec<usize> = Vec::new();
            let n = rng.range(3, 8);
            while gs.len() < n {
                let g = rng.below(GROUPS);
                if !gs.contains(&g) {
                    gs.push(g);
                }
            }
            gs.sort_unstable();
            Principal {
                id: user_id(u),
                email: format!("user{u}@acme.example"),
                active: !rng.chance(0.03),
                groups: gs.into_iter().map(group_id).collect(),
            }
        })
        .collect();
    let rules = (0..RULES)
        .map(|r| {
            let kind = rng.next() % 100;
            let group = Subject::Group {
                id: group_id(rng.below(GROUPS)),
            };
            let user = Subject::User {
                id: user_id(rng.below(USERS)),
            };
            let mut include_destructive = false;
            let (effect, subject, target) = match kind {
                // Group allows on whole servers, some including destructive tools.
                0..38 => {
                    include_destructive = rng.chance(0.15);
                    (Effect::Allow, group, Target::Server)
                }
                // Group allows by tool list.
                38..58 => {
                    let names = tool_names(&mut rng, 1, 5);
                    (Effect::Allow, group, Target::Tools { names })
                }
                // Read-only grants.
                58..72 => (
                    Effect::Allow,
                    group,
                    Target::Annotation {
                        annotation: AnnotationFlag::ReadOnly,
                    },
                ),
                // User allows.
                72..87 => {
                    let target = if rng.chance(0.5) {
                        Target::Tools {
                            names: tool_names(&mut rng, 1, 3),
                        }
                    } else {
                        Target::Server
                    };
                    (Effect::Allow, user, target)
                }
                // Denies.
                87..95 => {
                    let subject = if rng.chance(0.5) { group } else { user };
                    let target = match rng.below(10) {
                        0..4 => Target::Tools {
                            names: tool_names(&mut rng, 1, 2),
                        },
                        4..7 => Target::Annotation {
                            annotation: AnnotationFlag::Destructive,
                        },
                        _ => Target::Server,
                    };
                    (Effect::Deny, subject, target)
                }
                // Everyone may use a tool or two.
                95..97 => (
                    Effect::Allow,
                    Subject::Everyone,
                    Target::Tools {
                        names: tool_names(&mut rng, 1, 2),
                    },
                ),
                // Other annotation grants.
                _ => {
                    let annotation = match rng.below(3) {
                        0 => AnnotationFlag::Idempotent,
                        1 => AnnotationFlag::OpenWorld,
                        _ => AnnotationFlag::Destructive,
                    };
                    (Effect::Allow, group, Target::Annotation { annotation })
                }
            };
            let expires_at = rng
                .chance(0.12)
                .then(|| NOW + rng.below(60 * DAY as usize) as i64 - 30 * DAY);
            Rule {
                id: format!("grt_{r:05}"),
                effect,
                subject,
                server: server_id(rng.below(SERVERS)),
                target,
                include_destructive,
                expires_at,
            }
        })
        .collect();
    Bundle {
        format: FORMAT_V1.into(),
        revision: 1,
        issued_at: "2025-06-15T09:30:00Z".into(),
        servers,
        groups,
        principals,
        rules,
        blocked_clients: Vec::new(),
        agents: Vec::new(),
        agent_rules: Vec::new(),
        delegations: Vec::new(),
    }
}

/// `(principal, server, tool)` indexes. Half the queries go to a server one
/// of the user's groups has a rule on, so that allows and denies both occur.
fn queries(b: &Bundle, n: usize, seed: u64) -> Vec<(usize, usize, usize)> {
    let group_idx: HashMap<&str, usize> = b
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.id.as_str(), i))
        .collect();
    let server_idx: HashMap<&str, usize> = b
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut servers_of_group: Vec<Vec<usize>> = vec![Vec::new(); b.groups.len()];
    for r in &b.rules {
        if let Subject::Group { id } = &r.subject {
            servers_of_group[group_idx[id.as_str()]].push(server_idx[r.server.as_str()]);
        }
    }
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let p = rng.below(b.principals.len());
            let groups = &b.principals[p].groups;
            let g = group_idx[groups[rng.below(groups.len())].as_str()];
            let s = match &servers_of_group[g] {
                list if !list.is_empty() && rng.chance(0.5) => list[rng.below(list.len())],
                _ => rng.below(b.servers.len()),
            };
            (p, s, rng.below(b.servers[s].tools.len()))
        })
        .collect()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ns(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 10_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn mega(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.1}")
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---- Cedar -------------------------------------------------------------------

mod cedar {
    use super::*;
    use cedar_policy::{
        Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
        PolicyId, PolicySet, Request, RestrictedExpression,
    };

    pub struct Model {
        /// Every policy, as one set.
        pub full: PolicySet,
        /// Per server: the global forbids and that server's rules only.
        pub sliced: Vec<PolicySet>,
        pub entities: Entities,
        pub users: Vec<EntityUid>,
        /// Per server, its tools' uids.
        pub tools: Vec<Vec<EntityUid>>,
        pub action: EntityUid,
    }

    fn uid(ty: &str, id: &str) -> Res<EntityUid> {
        Ok(EntityUid::from_type_name_and_id(
            EntityTypeName::from_str(ty)?,
            EntityId::new(id),
        ))
    }

    fn tool_uid(server: &str, tool: &str) -> Res<EntityUid> {
        uid("Tool", &format!("{server}/{tool}"))
    }

    /// Cedar string literal (our ids are plain ASCII; `{:?}` escapes the rest
    /// compatibly).
    fn lit(s: &str) -> String {
        format!("{s:?}")
    }

    /// One bundle rule as one Cedar policy: allow → `permit`, deny →
    /// `forbid`; the subject and target in the scope or `when`, the
    /// destructive exclusion and the expiry as conditions.
    pub fn policy_text(r: &Rule) -> String {
        let head = match r.effect {
            Effect::Allow => "permit",
            Effect::Deny => "forbid",
        };
        let principal = match &r.subject {
            Subject::User { id } => format!("principal == User::{}", lit(id)),
            Subject::Group { id } => format!("principal in Group::{}", lit(id)),
            Subject::Everyone => "principal".into(),
            // The benchmark bundles name no agent.
            Subject::Agent { id } => format!("principal == Agent::{}", lit(id)),
        };
        let mut when = Vec::new();
        let resource = match &r.target {
            Target::Tools { names } => {
                let set: Vec<String> = names
                    .iter()
                    .map(|n| format!("Tool::{}", lit(&format!("{}/{n}", r.server))))
                    .collect();
                when.push(format!("resource in [{}]", set.join(", ")));
                "resource".to_string()
            }
            Target::Server | Target::Annotation { .. } => {
                format!("resource in Server::{}", lit(&r.server))
            }
        };
        let mut excludes_destructive = r.effect == Effect::Allow && !r.include_destructive;
        match &r.target {
            Target::Tools { .. } => excludes_destructive = false,
            Target::Server => {}
            Target::Annotation { annotation } => {
                let attr = match annotation {
                    AnnotationFlag::ReadOnly => "read_only",
                    AnnotationFlag::Destructive => {
                        excludes_destructive = false;
                        "destructive"
                    }
                    AnnotationFlag::Idempotent => "idempotent",
                    AnnotationFlag::OpenWorld => "open_world",
                };
                when.push(format!("resource.{attr}"));
            }
        }
        if excludes_destructive {
            when.push("!resource.destructive".into());
        }
        if let Some(e) = r.expires_at {
            when.push(format!("context.now < {e}"));
        }
        let when = if when.is_empty() {
            String::new()
        } else {
            format!(" when {{ {} }}", when.join(" && "))
        };
        format!("{head} ({principal}, action == Action::\"call\", {resource}){when};")
    }

    /// Steps 4–6 of the semantics as forbids.
    const GLOBAL_FORBIDS: [(&str, &str); 3] = [
        (
            "inactive_principal",
            "forbid (principal, action, resource) unless { principal.active };",
        ),
        (
            "server_disabled",
            "forbid (principal, action, resource) unless { resource.server.enabled };",
        ),
        (
            "quarantined",
            "forbid (principal, action, resource) unless { resource.approved };",
        ),
    ];

    pub fn translate(b: &Bundle) -> Res<Model> {
        let mut full = PolicySet::new();
        let mut globals = PolicySet::new();
        for (id, text) in GLOBAL_FORBIDS {
            let p = cedar_policy::Policy::parse(Some(PolicyId::new(id)), text)?;
            full.add(p.clone())?;
            globals.add(p)?;
        }
        let server_idx: HashMap<&str, usize> = b
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut sliced = vec![globals; b.servers.len()];
        for r in &b.rules {
            let p = cedar_policy::Policy::parse(Some(PolicyId::new(&r.id)), policy_text(r))?;
            full.add(p.clone())?;
            sliced[server_idx[r.server.as_str()]].add(p)?;
        }

        let mut entities = Vec::new();
        for g in &b.groups {
            entities.push(Entity::new_no_attrs(uid("Group", &g.id)?, HashSet::new()));
        }
        let mut users = Vec::new();
        for p in &b.principals {
            let u = uid("User", &p.id)?;
            let parents = p
                .groups
                .iter()
                .map(|g| uid("Group", g))
                .collect::<Res<HashSet<_>>>()?;
            let attrs = HashMap::from([(
                "active".to_string(),
                RestrictedExpression::new_bool(p.active),
            )]);
            entities.push(Entity::new(u.clone(), attrs, parents)?);
            users.push(u);
        }
        let mut tools = Vec::new();
        for s in &b.servers {
            let su = uid("Server", &s.id)?;
            let attrs = HashMap::from([(
                "enabled".to_string(),
                RestrictedExpression::new_bool(s.enabled),
            )]);
            entities.push(Entity::new(su.clone(), attrs, HashSet::new())?);
            let mut uids = Vec::new();
            for t in &s.tools {
                let tu = tool_uid(&s.id, &t.name)?;
                let a = t.annotations;
                let attrs = HashMap::from([
                    (
                        "server".to_string(),
                        RestrictedExpression::new_entity_uid(su.clone()),
                    ),
                    (
                        "read_only".into(),
                        RestrictedExpression::new_bool(a.read_only),
                    ),
                    (
                        "destructive".into(),
                        RestrictedExpression::new_bool(a.destructive),
                    ),
                    (
                        "idempotent".into(),
                        RestrictedExpression::new_bool(a.idempotent),
                    ),
                    (
                        "open_world".into(),
                        RestrictedExpression::new_bool(a.open_world),
                    ),
                    (
                        "approved".into(),
                        RestrictedExpression::new_bool(t.approved),
                    ),
                ]);
                entities.push(Entity::new(tu.clone(), attrs, HashSet::from([su.clone()]))?);
                uids.push(tu);
            }
            tools.push(uids);
        }
        Ok(Model {
            full,
            sliced,
            entities: Entities::from_entities(entities, None)?,
            users,
            tools,
            action: uid("Action", "call")?,
        })
    }

    pub fn request(m: &Model, (p, s, t): (usize, usize, usize), now: i64) -> Res<Request> {
        let context =
            Context::from_pairs([("now".to_string(), RestrictedExpression::new_long(now))])?;
        Ok(Request::new(
            m.users[p].clone(),
            m.action.clone(),
            m.tools[s][t].clone(),
            context,
            None,
        )?)
    }

    pub struct Run {
        pub requests: usize,
        pub rate: f64,
        pub total: Duration,
        pub lat: Vec<Duration>,
        pub agree: usize,
        pub rule_decided: usize,
        pub reason_agree: usize,
        pub errors: usize,
        pub mismatches: Vec<String>,
    }

    /// Sends the first `n` queries to Cedar, each call timed alone (request
    /// construction outside the timing), and compares every answer with our
    /// evaluator's: the decision, and our deciding rule being among Cedar's
    /// determining policies.
    pub fn run(
        m: &Model,
        sliced: bool,
        ours: &Policy,
        queries: &[(usize, usize, usize)],
        names: &[(&str, &str, &str)],
    ) -> Res<Run> {
        let authorizer = Authorizer::new();
        let requests = queries
            .iter()
            .map(|&qi| request(m, qi, NOW))
            .collect::<Res<Vec<_>>>()?;
        let set = |s: usize| if sliced { &m.sliced[s] } else { &m.full };
        for (r, &(_, s, _)) in requests.iter().zip(queries).take(20) {
            black_box(authorizer.is_authorized(r, set(s), &m.entities));
        }
        let mut run = Run {
            requests: requests.len(),
            rate: 0.0,
            total: Duration::ZERO,
            lat: Vec::with_capacity(requests.len()),
            agree: 0,
            rule_decided: 0,
            reason_agree: 0,
            errors: 0,
            mismatches: Vec::new(),
        };
        for ((r, &(_, s, _)), &(p, sv, t)) in requests.iter().zip(queries).zip(names) {
            let start = Instant::now();
            let response = authorizer.is_authorized(r, set(s), &m.entities);
            run.lat.push(start.elapsed());
            let allowed = response.decision() == Decision::Allow;
            run.errors += response.diagnostics().errors().count();
            let d = ours.decide(p, sv, t, NOW);
            if d.allowed == allowed {
                run.agree += 1;
            } else if run.mismatches.len() < 5 {
                let reasons: Vec<String> = response
                    .diagnostics()
                    .reason()
                    .map(|id| id.to_string())
                    .collect();
                run.mismatches.push(format!(
                    "{p} {sv} {t}: ours {:?}, cedar {reasons:?}",
                    d.reason
                ));
            }
            // What decided for us must be among Cedar's determining
            // policies: the rule, or the global forbid of steps 4-6 (named
            // after our reason codes).
            let decided_by = match d.reason {
                Reason::Allowed { rule } | Reason::DeniedByRule { rule } => {
                    Some(ours.rule_id(rule))
                }
                Reason::InactivePrincipal | Reason::ServerDisabled | Reason::Quarantined => {
                    Some(d.reason.code())
                }
                _ => None,
            };
            if let Some(id) = decided_by {
                run.rule_decided += 1;
                if response.diagnostics().reason().any(|p| p.to_string() == id) {
                    run.reason_agree += 1;
                }
            }
        }
        run.total = run.lat.iter().sum();
        run.lat.sort_unstable();
        run.rate = per_sec(run.lat.len(), run.total);
        Ok(run)
    }

    impl Run {
        pub fn ok(&self) -> bool {
            self.agree == self.requests
                && self.reason_agree == self.rule_decided
                && self.errors == 0
        }

        pub fn print(&self, label: &str) {
            if self.lat.is_empty() {
                println!("cedar {label}: skipped");
                return;
            }
            println!(
                "cedar {label}: {} requests in {:.2?} = {} decisions/s; each call timed alone: \
                 p50 {} p99 {} max {}",
                self.requests,
                self.total,
                mega(self.rate),
                ns(pct(&self.lat, 0.50)),
                ns(pct(&self.lat, 0.99)),
                ns(self.lat[self.lat.len() - 1])
            );
            println!(
                "  agreement with ours: {}/{} decisions; what decided ours (rule or global \
                 forbid) among cedar's determining policies: {}/{}; cedar evaluation errors: {}",
                self.agree, self.requests, self.reason_agree, self.rule_decided, self.errors
            );
            for m in &self.mismatches {
                println!("  MISMATCH {m}");
            }
        }
    }
}

fn main() -> Res<()> {
    let n_queries = env_usize("POLICY_BENCH_QUERIES", 1 << 20);
    let n_cedar = env_usize("POLICY_BENCH_CEDAR", 10_000);
    let n_cedar_full = env_usize("POLICY_BENCH_CEDAR_FULL", 200);

    println!("== portcullis-policy decide benchmark (release, single thread) ==");
    let t = Instant::now();
    let bundle = generate();
    let json = bundle.to_canonical_json()?;
    println!(
        "bundle: {USERS} users, {GROUPS} groups, {SERVERS} servers, {} tools, {} rules; \
         generated in {:.2?}",
        SERVERS * TOOLS_PER_SERVER,
        bundle.rules.len(),
        t.elapsed()
    );
    println!(
        "bundle JSON (canonical, compact): {} bytes ({:.2} MiB)",
        json.len(),
        json.len() as f64 / (1024.0 * 1024.0)
    );

    let t = Instant::now();
    let parsed = Bundle::from_json(&json)?;
    let parse_time = t.elapsed();
    let t = Instant::now();
    let policy = Policy::compile(&parsed)?;
    let compile_time = t.elapsed();
    println!("parse JSON: {parse_time:.2?}; Policy::compile: {compile_time:.2?}");

    // Queries as string triples, as a gateway would see them.
    let qidx = queries(&bundle, n_queries, 0xbe_ef);
    let q: Vec<(&str, &str, &str)> = qidx
        .iter()
        .map(|&(p, s, t)| {
            let server = &bundle.servers[s];
            (
                bundle.principals[p].id.as_str(),
                server.id.as_str(),
                server.tools[t].name.as_str(),
            )
        })
        .collect();

    // Outcome mix.
    let mut mix: HashMap<&'static str, usize> = HashMap::new();
    for &(p, s, t) in &q {
        *mix.entry(policy.decide(p, s, t, NOW).reason.code())
            .or_default() += 1;
    }
    let mut mix: Vec<_> = mix.into_iter().collect();
    mix.sort_by_key(|&(code, n)| (std::cmp::Reverse(n), code));
    let mix: Vec<String> = mix
        .iter()
        .map(|(code, n)| format!("{code} {:.1}%", 100.0 * *n as f64 / q.len() as f64))
        .collect();
    println!(
        "query mix ({} distinct queries): {}",
        q.len(),
        mix.join(", ")
    );

    // Throughput: a tight loop over the queries, 4 passes.
    const PASSES: usize = 4;
    let mut allowed = 0usize;
    for &(p, s, t) in q.iter().take(100_000) {
        allowed += usize::from(policy.decide(p, s, t, NOW).allowed);
    }
    black_box(allowed);
    let t = Instant::now();
    let mut allowed = 0usize;
    for _ in 0..PASSES {
        for &(p, s, t) in &q {
            allowed += usize::from(black_box(policy.decide(p, s, t, NOW)).allowed);
        }
    }
    let elapsed = t.elapsed();
    black_box(allowed);
    let ours_rate = per_sec(PASSES * q.len(), elapsed);
    println!(
        "ours decide: {} decisions in {elapsed:.2?} = {} decisions/s ({:.0} ns mean)",
        PASSES * q.len(),
        mega(ours_rate),
        elapsed.as_secs_f64() * 1e9 / (PASSES * q.len()) as f64
    );

    // The same with a hot cache: 1,024 distinct queries, over and over (a
    // gateway's traffic is skewed towards few people and tools; the run
    // above is the pessimistic, uniformly random case).
    let hot = &q[..1024.min(q.len())];
    let reps = (PASSES * q.len()) / hot.len();
    let t = Instant::now();
    let mut allowed = 0usize;
    for _ in 0..reps {
        for &(p, s, t) in hot {
            allowed += usize::from(black_box(policy.decide(p, s, t, NOW)).allowed);
        }
    }
    let elapsed = t.elapsed();
    black_box(allowed);
    println!(
        "ours decide, hot cache ({} distinct queries repeated): {} decisions/s ({:.0} ns mean)",
        hot.len(),
        mega(per_sec(reps * hot.len(), elapsed)),
        elapsed.as_secs_f64() * 1e9 / (reps * hot.len()) as f64
    );

    // Latency, per call: Instant::now() before and after each call.
    let mut overhead: Vec<Duration> = (0..q.len())
        .map(|_| {
            let t = Instant::now();
            t.elapsed()
        })
        .collect();
    overhead.sort_unstable();
    let mut lat: Vec<Duration> = q
        .iter()
        .map(|&(p, s, t)| {
            let start = Instant::now();
            black_box(policy.decide(p, s, t, NOW));
            start.elapsed()
        })
        .collect();
    lat.sort_unstable();
    let ours_p50 = pct(&lat, 0.50);
    let ours_p99 = pct(&lat, 0.99);
    println!(
        "ours latency, each of {} calls timed alone (includes the timer's own cost, \
         p50 {} for an empty timing, not subtracted): p50 {} p99 {} p99.9 {} max {}",
        lat.len(),
        ns(pct(&overhead, 0.5)),
        ns(ours_p50),
        ns(ours_p99),
        ns(pct(&lat, 0.999)),
        ns(lat[lat.len() - 1])
    );
    // Latency, batched: time 64 consecutive calls, divide by 64 (amortises
    // the timer; smooths single-call outliers within a batch).
    const BATCH: usize = 64;
    let mut batches: Vec<Duration> = q
        .chunks_exact(BATCH)
        .map(|chunk| {
            let start = Instant::now();
            for &(p, s, t) in chunk {
                black_box(policy.decide(p, s, t, NOW));
            }
            start.elapsed() / BATCH as u32
        })
        .collect();
    batches.sort_unstable();
    println!(
        "ours latency, mean per call within batches of {BATCH} ({} batches): \
         p50 {} p99 {} p99.9 {}",
        batches.len(),
        ns(pct(&batches, 0.50)),
        ns(pct(&batches, 0.99)),
        ns(pct(&batches, 0.999))
    );

    // allowed_tools: (principal, server) pairs from the same queries.
    let pairs: Vec<(&str, &str)> = q.iter().take(200_000).map(|&(p, s, _)| (p, s)).collect();
    let t = Instant::now();
    let mut listed = 0usize;
    for &(p, s) in &pairs {
        listed += black_box(policy.allowed_tools(p, s, NOW)).count();
    }
    let elapsed = t.elapsed();
    let mut lat_list: Vec<Duration> = pairs
        .iter()
        .map(|&(p, s)| {
            let start = Instant::now();
            black_box(policy.allowed_tools(p, s, NOW).count());
            start.elapsed()
        })
        .collect();
    lat_list.sort_unstable();
    println!(
        "ours allowed_tools: {} calls ({TOOLS_PER_SERVER} tools each, {:.1} allowed on \
         average) in {elapsed:.2?} = {} calls/s, {} tool checks/s; per call p50 {} p99 {}",
        pairs.len(),
        listed as f64 / pairs.len() as f64,
        mega(per_sec(pairs.len(), elapsed)),
        mega(per_sec(pairs.len() * TOOLS_PER_SERVER, elapsed)),
        ns(pct(&lat_list, 0.50)),
        ns(pct(&lat_list, 0.99))
    );

    // ---- Cedar, same model, same queries ----
    println!("-- cedar-policy 4 (same model, schema-less, same queries) --");
    let t = Instant::now();
    let model = cedar::translate(&bundle)?;
    println!(
        "cedar translate + parse {} policies + build entities: {:.2?}",
        model.full.policies().count(),
        t.elapsed()
    );
    // Cedar evaluates every policy of the set it is given, so it is run two
    // ways: with the policies of the requested server only (what a gateway
    // fronting one server would load; the stronger baseline) on many
    // queries, and with the whole set on a few.
    let n_sliced = n_cedar.min(qidx.len());
    let sliced = cedar::run(&model, true, &policy, &qidx[..n_sliced], &q[..n_sliced])?;
    let per_server = model.full.policies().count() as f64 / SERVERS as f64;
    sliced.print(&format!(
        "is_authorized, per-server policy set (≈{per_server:.0} policies each)"
    ));
    let n_full = n_cedar_full.min(qidx.len());
    let full = cedar::run(&model, false, &policy, &qidx[..n_full], &q[..n_full])?;
    full.print(&format!(
        "is_authorized, whole policy set ({} policies; fewer queries: it is slow)",
        model.full.policies().count()
    ));

    let ratio = |run: &cedar::Run| {
        if run.lat.is_empty() {
            "n/a".to_string()
        } else {
            format!(
                "{:.0}x throughput (cedar {} decisions/s, p50 {}, p99 {})",
                ours_rate / run.rate,
                mega(run.rate),
                ns(pct(&run.lat, 0.50)),
                ns(pct(&run.lat, 0.99))
            )
        }
    };
    println!(
        "== comparison: ours {} decisions/s, p50 {}, p99 {}; vs cedar per-server set: {}; \
         vs cedar whole set: {} ==",
        mega(ours_rate),
        ns(ours_p50),
        ns(ours_p99),
        ratio(&sliced),
        ratio(&full)
    );
    if !sliced.ok() || !full.ok() {
        return Err("ours and cedar disagree".into());
    }
    Ok(())
}
