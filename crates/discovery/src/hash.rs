//! Canonical JSON and the tool definition hash.
//!
//! The console pins each approved tool to the hash of its definition; when an
//! upstream server later changes a description, schema or annotation (a "rug
//! pull"), the hash changes and the tool needs approval again. Key order on
//! the wire must not matter, so hashing goes through [`canonical_json`],
//! which sorts object keys itself instead of trusting `serde_json::Map`'s
//! order (that order depends on the `preserve_order` feature, which any crate
//! in the build can switch on).

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::mcp::DiscoveredTool;

/// Serialises `value` canonically: no whitespace, object keys sorted by
/// Unicode code point (byte order of their UTF-8) at every depth, strings
/// escaped minimally (`"`, `\`, and control characters, the common ones as
/// `\n`-style escapes, the rest as `\u00XX`), numbers as `serde_json` prints
/// them (so `1` and `1.0` differ).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

/// `sha256:<hex>` over the canonical JSON of the tool's definition
/// ([`DiscoveredTool::definition`]): name, title, description, input schema,
/// output schema and annotations.
pub fn definition_hash(tool: &DiscoveredTool) -> String {
    let digest = Sha256::digest(canonical_json(&tool.definition()).as_bytes());
    format!("sha256:{}", hex::encode(digest))
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_recursively_and_escapes() {
        let v: Value = serde_json::from_str(
            r#"{"b":1,"a":{"z":[{"y":2,"x":"q\"\n\u0001é"}],"c":null},"A":true}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"A":true,"a":{"c":null,"z":[{"x":"q\"\n\u0001é","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn canonical_json_round_trips() {
        let v = json!({"k": ["\u{7f}", "\u{2028}", 1.5, -3, u64::MAX, {"b": {}, "a": []}]});
        let back: Value = serde_json::from_str(&canonical_json(&v)).unwrap();
        assert_eq!(back, v);
    }
}
