//! The whole policy body of a 100,000-person company (issue #21): what its
//! three steps cost (canonical JSON, signing, gzip), each beside the way it
//! was done before, in the same run:
//! - signing: `SigningKey::sign` (the JWS assembled in one buffer) against
//!   `jsonwebtoken::encode` of the payload as a `RawValue` (a parse of the
//!   payload and copies of its parts), the way it was signed until then;
//! - gzip: flate2 on zlib-rs (the backend the workspace selects) against
//!   miniz_oxide (flate2's default backend, used until then), both at
//!   level 6, and zlib-rs at level 1 for scale;
//! - the console's step, `FullBody::build` (signing on a second thread while
//!   the signing input is compressed), against the same two one after the
//!   other;
//! - and, before the body, the announcement's content hash when one person
//!   changed: `CanonicalJson::next` (the JSON of the chunk that person is
//!   in, the rest kept from the previous revision) and its SHA-256, against
//!   `content_sha256` (all of the JSON written into the hash), the way each
//!   revision was hashed until then; and the whole body's text joined from
//!   those pieces against `to_canonical_json`; and the next bundle made by
//!   moving the previous one's entries (`Delta::apply_owned`) against
//!   cloning them (`Delta::apply`).
//!
//! The bundle has the shape `benches/scale.rs` makes
//! (the repository's `benches/support/layout.rs`): `SCALE_BENCH_USERS` people (default
//! 100,000) in groups of 100, 50 servers of 100 tools, ten whole-server
//! grants per group and a two-tool grant for every tenth person. Five
//! rounds; medians printed.
//!
//! Run: `cargo bench -p portcullis-domain --bench body_build` (it builds
//! the domain crate, not the console, in release).

use portcullis_policy::bundle::{
    Annotations, Bundle, Effect, Group, Principal, Rule, Server, Subject, Target, Tool, FORMAT_V1,
};
#[path = "../../../benches/support/layout.rs"]
mod layout;

use layout::{tool_name, Grantee, GROUP_SIZE, SERVERS, TOOLS_PER_SERVER};
use portcullis_domain::publish::FullBody;
use portcullis_policy::canonical::CanonicalJson;
use portcullis_policy::delta::{content_sha256, Delta};
use portcullis_policy::signed::SigningKey;
use std::io::Write;
use std::time::{Duration, Instant};

fn bundle(people: usize) -> Bundle {
    let groups = people.div_ceil(GROUP_SIZE);
    // Ids shaped like the console's ULIDs (26 characters): in creation
    // order (a ULID starts with its time), the rest random, so gzip finds
    // what it finds in a real bundle.
    let id = |prefix: &str, i: usize| {
        use sha2::Digest as _;
        let h = hex::encode(sha2::Sha256::digest(format!("{prefix}{i}")));
        format!("{prefix}_{i:010}{}", &h[..16])
    };
    let servers = (0..SERVERS)
        .map(|s| Server {
            id: id("srv", s),
            slug: format!("s{s:02}"),
            resource: format!("https://mcp.scale.example/s{s:02}/mcp"),
            enabled: true,
            tools: (0..TOOLS_PER_SERVER)
                .map(|t| Tool {
                    name: tool_name(t),
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
    let rules = layout::grants(people, groups)
        .enumerate()
        .map(|(n, g)| Rule {
            id: id("grt", n),
            effect: Effect::Allow,
            subject: match g.grantee {
                Grantee::Group(i) => Subject::Group { id: id("grp", i) },
                Grantee::User(i) => Subject::User { id: id("usr", i) },
            },
            server: id("srv", g.server),
            target: match g.tools {
                None => Target::Server,
                Some(names) => Target::Tools {
                    names: names.to_vec(),
                },
            },
            include_destructive: false,
            expires_at: None,
        })
        .collect();
    let mut b = Bundle {
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
                groups: vec![id("grp", i / GROUP_SIZE)],
            })
            .collect(),
        rules,
        blocked_clients: Vec::new(),
        agents: Vec::new(),
        agent_rules: Vec::new(),
        delegations: Vec::new(),
    };
    // Every list sorted by id, as the console makes them (the pieces of
    // the canonical JSON rely on it).
    b.servers.sort_by(|x, y| x.id.cmp(&y.id));
    b.groups.sort_by(|x, y| x.id.cmp(&y.id));
    b.principals.sort_by(|x, y| x.id.cmp(&y.id));
    b.rules.sort_by(|x, y| x.id.cmp(&y.id));
    b
}

/// The median of five runs of `f`, in ms, and its last result.
fn median<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed());
        // The previous round's result is dropped here, outside the timing.
        last = Some(out);
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
    let join_ms = announcement(&b);
    let key = SigningKey::from_seed("bench", &[7; 32]);
    let (json_ms, json) = median(|| b.to_canonical_json().unwrap_or_default());
    println!(
        "whole body of {people} people, {} rules, 5,000 tools: canonical JSON {:.1} MB in {json_ms:.1} ms (median of 5)",
        b.rules.len(),
        json.len() as f64 / 1e6
    );

    let (sign_ms, signed) = median(|| key.sign(&json).unwrap_or_default());
    // The peer: jsonwebtoken::encode of the payload as a RawValue.
    let mut der = portcullis_policy::signed::ED25519_PKCS8_PREFIX.to_vec();
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
    // The console's own step: sign and gzip side by side
    // (`FullBody::build`), against the two one after the other above.
    let (both_ms, body) =
        median(|| FullBody::build(&key, json.clone()).unwrap_or_else(|e| panic!("body: {e}")));
    let (clone_ms, _) = median(|| json.clone());
    let both_ms = both_ms - clone_ms;
    assert_eq!(
        body.body().unwrap_or_else(|e| panic!("gunzip: {e}")),
        signed.as_bytes(),
        "FullBody::build must give the JWS SigningKey::sign gives"
    );
    println!(
        "  sign and gzip              side by side (FullBody::build) {both_ms:>7.1} ms ({:.2} MB)   one after the other {:>7.1} ms",
        body.gzip.len() as f64 / 1e6,
        sign_ms + zlib_rs_ms
    );
    let now = Duration::from_secs_f64((join_ms + both_ms) / 1e3);
    let total = Duration::from_secs_f64((json_ms + both_ms) / 1e3);
    let sequential = Duration::from_secs_f64((json_ms + sign_ms + zlib_rs_ms) / 1e3);
    let before = Duration::from_secs_f64((json_ms + encode_ms + miniz_ms) / 1e3);
    println!(
        "  whole body                 now (joined text) {:.0} ms   run 5 (JSON written) {:.0} ms   one after the other {:.0} ms   before (encode, miniz) {:.0} ms",
        now.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        sequential.as_secs_f64() * 1e3,
        before.as_secs_f64() * 1e3
    );
}

/// The announcement's content hash after a one-person change (a group
/// moved), and the whole body's text, each against the way it was made
/// before, in the same run.
/// Returns the time to join the pieces into the body's text, in ms.
fn announcement(b: &Bundle) -> f64 {
    let base = CanonicalJson::new(b).unwrap_or_else(|e| panic!("pieces: {e}"));
    let mut next = b.clone();
    next.revision += 1;
    let who = next.principals.len() / 2;
    next.principals[who].groups = vec![next.groups[0].id.clone()];
    // The console has this delta from reassembling the bundle; here it is
    // diffed once, outside the timing.
    let delta = Delta::between_hashed(b, "", &next, "").unwrap_or_else(|e| panic!("delta: {e}"));
    let (peer_ms, peer) = median(|| content_sha256(&next).unwrap_or_default());
    let (pieces_ms, json) = median(|| {
        CanonicalJson::next(&base, &next, &delta).unwrap_or_else(|e| panic!("pieces: {e}"))
    });
    let (hash_ms, hash) = median(|| json.sha256());
    assert_eq!(hash, peer, "the pieces must hash as the bundle's JSON");
    println!(
        "announcement after a one-person change ({} of {} chunks kept): content hash {:.1} ms (pieces {pieces_ms:.2} + SHA-256 {hash_ms:.1})   content_sha256 {peer_ms:.1} ms",
        json.shared_chunks(&base),
        json.chunks(),
        pieces_ms + hash_ms
    );
    // What else the announcement spends per revision at this size: the
    // next bundle made from the previous one and the delta (reassemble
    // does this; every entry is cloned).
    let (apply_ms, applied) = median(|| delta.apply(b).unwrap_or_else(|e| panic!("apply: {e}")));
    assert!(applied == next, "the delta gives the next bundle");
    // Since run 6 the publisher gives the previous bundle up instead
    // (`Delta::apply_owned`: unchanged entries moved, not cloned). Its
    // bases are copied before the timing.
    let mut bases: Vec<Bundle> = (0..5).map(|_| b.clone()).collect();
    let (owned_ms, moved) = median(|| {
        let base = bases.pop().unwrap_or_else(|| unreachable!("five bases"));
        delta
            .apply_owned(base)
            .unwrap_or_else(|e| panic!("apply: {e}"))
    });
    assert!(
        moved == next,
        "the delta moved into the base gives the next bundle"
    );
    println!(
        "  the next bundle            Delta::apply_owned {owned_ms:>7.1} ms   Delta::apply (cloning) {apply_ms:>7.1} ms"
    );
    let (join_ms, joined) = median(|| json.to_vec());
    let (write_ms, written) = median(|| next.to_canonical_json().unwrap_or_default());
    assert_eq!(joined, written.as_bytes(), "the joined pieces are the JSON");
    println!(
        "  whole body's text          joined from the pieces {join_ms:>7.1} ms   to_canonical_json {write_ms:>7.1} ms"
    );
    join_ms
}
