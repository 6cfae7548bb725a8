//! Fuzzes PATCH paths and bodies: parsing never panics, and applying a parsed
//! PATCH to a user either succeeds or leaves the resource unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_scim::patch::{apply, parse_patch, PatchRules};
use portcullis_scim::path::PatchPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = PatchPath::parse(text);
    let Ok(body) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let Ok(ops) = parse_patch(&body, &PatchRules::USER) else {
        return;
    };
    let original = serde_json::json!({
        "id": "u1",
        "userName": "a@b.c",
        "emails": [{ "value": "a@b.c", "type": "work", "primary": true }],
        "name": { "givenName": "A" }
    });
    let mut resource = original.clone();
    if apply(&mut resource, &ops, &PatchRules::USER).is_err() {
        assert_eq!(resource, original, "a failed PATCH changed the resource");
    }
});
