//! Fuzzes the filter parser and its SQL translation: any input either parses
//! or is refused with `invalidFilter`; a parsed filter prints back to text
//! that parses to the same tree; translation never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_scim::filter::parse_filter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_filter(text) {
        Ok(f) => {
            let again = parse_filter(&f.to_string());
            assert!(
                again.as_ref().is_ok_and(|g| *g == f),
                "display round-trip: {text:?}"
            );
        }
        Err(e) => assert_eq!(e.status, 400, "{text:?}"),
    }
});
