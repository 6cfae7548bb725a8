//! The whole policy body of a 100,000-person company (issue #21): what its
//! three steps cost (canonical JSON, signing, gzip), each beside the way it
//! was done before, in the same run:
//! - signing: `SigningKey::sign` (the JWS assembled in one buffer) against
//!   `jsonwebtoken::encode` of the payload as a `RawValue` (a parse of the
//!   payload and copies of its parts), the way it was signed until then;
//! - gzip: flate2 on zlib-rs (the backend the workspace selects) against
//!   miniz_oxide (flate2's default backend, used until then), both at
//!   level 6, and zlib-rs at level 1 for scale.
//!
//! The bundle has the shape `benches/scale.rs` makes: `SCALE_BENCH_USERS`
//! people (default 100,000) in groups of 100, 50 servers of 100 tools,
//! ten whole-server grants per group and a two-tool grant for every tenth
//! person. Five rounds; medians printed.
//!
//! Run: `cargo bench --bench body_build`.

use portcullis_policy::bundle::{
    Annotations, Bundle, Effect, Group, Principal, Rule, Server, Subject, Target, Tool, FORMAT_V1,
};
use portcullis_policy::signed::SigningKey;
use std::io::Write;
use std::time::{Duration, Instant};

fn bundle(people: usize) -> Bundle {
    let groups = people.div_ceil(100);
    // Ids as random as the console's (a ULID's 26 characters), so gzip
    // finds what it finds in a real bundle.
    let id = |prefix: &str, i: usize| {
        use sha2::Digest as _;
        let h = hex::encode(sha2::Sha256::digest(format!("{prefix}{i}")));
        format!("{prefix}_{}", &h[..26])
    };
    let servers = (0..50)
        .map(|s| Server {
            id: id("srv", s),
            slug: format!("s{s:02}"),
            resource: format!("https://mcp.scale.example/s{s:02}/mcp"),
            enabled: true,
            tools: (0..100)
                .map(|t| Tool {
                    name: format!("t{t:03}"),
                    annotations: Annotations {
                        read_only: t % 3 == 0,
                        destructive: t % 7 == 0,
                        ..Annotations::default()
                    },
                    approved: true,
                    definition_hash: format!("sha256:{:064x}", s * 1000 + t),
                })
                .collect(),
        })
        .collect();
    let mut rules = Vec::new();
    for g in 0..groups {
        for k in 0..10 {
            rules.push(Rule {
                id: id("grt", rules.len()),
                effect: Effect::Allow,
                subject: Subject::Group { id: id("grp", g) },
                server: id("srv", (g + k * 5) % 50),
                target: Target::Server,
                include_destructive: false,
                expires_at: None,
            });
        }
    }
    for i in (0..people).step_by(10) {
        rules.push(Rule {
            id: id("grt", rules.len()),
            effect: Effect::Allow,
            subject: Subject::User { id: id("usr", i) },
            server: id("srv", (i / 10 * 7) % 50),
            target: Target::Tools {
                names: vec![format!("t{:03}", i % 100), format!("t{:03}", (i + 1) % 100)],
            },
            include_destructive: false,
            expires_at: None,
        });
    }
    Bundle {
        format: FORMAT_V1.to_owned(),
        revision: 123_456,
        issued_at: "2026-12-07T00:00:00Z".to_owned(),
        servers,
        groups: (0..groups)
            .map(|g| Group {
                id: id("grp", g),
                name: format!("Team {g:04}"),
            })
            .collect(),
        principals: (0..people)
            .map(|i| Principal {
                id: id("usr", i),
                email: format!("user{i:06}@scale.example"),
                active: true,
                groups: vec![id("grp", i / 100)],
            })
            .collect(),
        rules,
        blocked_clients: Vec::new(),
        agents: Vec::new(),
        agent_rules: Vec::new(),
        delegations: Vec::new(),
    }
}

/// The median of five runs of `f`, in ms, and its last result.
fn median<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    times.sort();
    let out = last.unwrap_or_else(|| unreachable!("five rounds ran"));
    (times[2].as_secs_f64() * 1e3, out)
}

fn gzip_flate2(data: &[u8], level: u32) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::new(level),
    );
    gz.write_all(data).unwrap_or_else(|e| panic!("gzip: {e}"));
    gz.finish().unwrap_or_else(|e| panic!("gzip: {e}"))
}

fn main() {
    let people = std::env::var("SCALE_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let b = bundle(people);
    let key = SigningKey::from_seed("bench", &[7; 32]);
    let (json_ms, json) = median(|| b.to_canonical_json().unwrap_or_default());
    println!(
        "whole body of {people} people, {} rules, 5,000 tools: canonical JSON {:.1} MB in {json_ms:.1} ms (median of 5)",
        b.rules.len(),
        json.len() as f64 / 1e6
    );

    let (sign_ms, signed) = median(|| key.sign(&json).unwrap_or_default());
    // The peer: jsonwebtoken::encode of the payload as a RawValue.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[7; 32]);
    let reference = jsonwebtoken::EncodingKey::from_ed_der(&der);
    let (encode_ms, encoded) = median(|| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some(portcullis_policy::signed::JWS_TYPE.to_owned());
        header.kid = Some("bench".to_owned());
        let raw = serde_json::value::RawValue::from_string(json.clone())
            .unwrap_or_else(|e| panic!("raw: {e}"));
        jsonwebtoken::encode(&header, &raw, &reference).unwrap_or_default()
    });
    assert_eq!(signed, encoded, "the two signings must give the same JWS");
    println!(
        "  sign ({:.1} MB JWS)        SigningKey::sign {sign_ms:>7.1} ms   jsonwebtoken::encode(RawValue) {encode_ms:>7.1} ms",
        signed.len() as f64 / 1e6
    );

    let data = signed.as_bytes();
    let (zlib_rs_ms, zlib_rs) = median(|| gzip_flate2(data, 6));
    let (zlib_rs_1_ms, zlib_rs_1) = median(|| gzip_flate2(data, 1));
    let (miniz_ms, miniz) = median(|| miniz_oxide::deflate::compress_to_vec(data, 6));
    println!(
        "  gzip level 6               zlib-rs {zlib_rs_ms:>7.1} ms ({:.2} MB)   miniz_oxide {miniz_ms:>7.1} ms ({:.2} MB)",
        zlib_rs.len() as f64 / 1e6,
        miniz.len() as f64 / 1e6
    );
    println!(
        "  gzip level 1               zlib-rs {zlib_rs_1_ms:>7.1} ms ({:.2} MB)",
        zlib_rs_1.len() as f64 / 1e6
    );
    let total = Duration::from_secs_f64((json_ms + sign_ms + zlib_rs_ms) / 1e3);
    let before = Duration::from_secs_f64((json_ms + encode_ms + miniz_ms) / 1e3);
    println!(
        "  whole body                 now {:.0} ms   before {:.0} ms",
        total.as_secs_f64() * 1e3,
        before.as_secs_f64() * 1e3
    );
}
