//! Tool pinning's pure parts: the form a definition is pinned in
//! (canonical JSON and its hash) and the line diff a reviewer sees between
//! the approved and the pending definition.

use portcullis_discovery::{canonical_json, definition_hash, DiscoveredTool};
use portcullis_types::{DiffLine, ToolHints};
use serde_json::Value;

/// A tool definition in the form the catalog pins: canonical JSON, its hash,
/// and the fields the console lists.
pub(super) struct Pinned {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    pub hints: ToolHints,
    pub definition: String,
    pub hash: String,
}

pub(super) fn pin(tool: &DiscoveredTool) -> Pinned {
    let a = &tool.annotations;
    // The pinned hash is over exactly the stored canonical definition, so a
    // reviewer sees what was hashed.
    let definition = canonical_json(&tool.definition());
    Pinned {
        name: tool.name.clone(),
        title: tool.title.clone().or_else(|| a.title.clone()),
        description: tool.description.clone().unwrap_or_default(),
        hints: ToolHints {
            read_only: a.read_only_hint,
            destructive: a.destructive_hint,
            idempotent: a.idempotent_hint,
            open_world: a.open_world_hint,
        },
        hash: definition_hash(tool),
        definition,
    }
}

/// A stored canonical definition indented for reading (as stored when it
/// does not parse).
pub(super) fn pretty(canonical: &str) -> String {
    serde_json::from_str::<Value>(canonical)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| canonical.to_owned())
}

/// A line diff (longest common subsequence) of two short texts.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Tool definitions are a few hundred lines at most (size-capped by
    // discovery), so the quadratic table stays small.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    let line = |op: char, t: &str| DiffLine {
        op,
        text: t.to_owned(),
    };
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(line(' ', a[i]));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(line('-', a[i]));
            i += 1;
        } else {
            out.push(line('+', b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|t| line('-', t)));
    out.extend(b[j..].iter().map(|t| line('+', t)));
    out
}
