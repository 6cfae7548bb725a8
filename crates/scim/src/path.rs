//! PATCH operation paths (RFC 7644 §3.5.2, the `PATH` rule of Figure 1;
//! attribute notation per RFC 7644 §3.10).
//!
//! Owns [`PatchPath`]: `attrPath`, `attrPath[valFilter]` and
//! `attrPath[valFilter].subAttr`, each optionally URN-qualified
//! (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`).
//! Parsing reuses the filter lexer and value-filter parser, so the same
//! limits (length, depth, comparisons) and the same never-panic guarantee
//! hold.
//!
//! Invariants:
//! - A malformed path is 400 `invalidPath` (not `invalidFilter`), with the
//!   filter parser's detail (position and token).
//! - `attr.sub_attr` is the targeted sub-attribute in both forms: `name.sub`
//!   without a filter, or the `.sub` after `]` with one. A filter never sits
//!   on a sub-attribute (`name.sub[…]` is refused).
//! - `PatchPath::parse(&p.to_string()) == Ok(p)`.

use std::fmt;
use std::str::FromStr;

use crate::error::{ScimError, ScimType};
use crate::filter::{parse_path_parts, AttrPath, Filter};

/// A parsed PATCH `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, with the targeted sub-attribute (if any) in `sub_attr`.
    pub attr: AttrPath,
    /// The value filter selecting elements of a multi-valued attribute.
    pub filter: Option<Filter>,
}

impl PatchPath {
    /// Parses a PATCH path; every failure is 400 `invalidPath`.
    pub fn parse(input: &str) -> Result<Self, ScimError> {
        let (mut attr, filter, sub) = parse_path_parts(input).map_err(|e| match e.scim_type {
            Some(ScimType::InvalidFilter) => {
                ScimError::invalid_path(format!("invalid path: {}", e.detail))
            }
            _ => e,
        })?;
        if filter.is_some() {
            attr.sub_attr = sub;
        }
        Ok(PatchPath { attr, filter })
    }

    /// True when the path names `name` (case-insensitively) in a core schema,
    /// e.g. `members`, `urn:ietf:params:scim:schemas:core:2.0:Group:members`.
    pub fn is_core_attr(&self, name: &str) -> bool {
        self.attr.is_core() && self.attr.name.eq_ignore_ascii_case(name)
    }
}

impl FromStr for PatchPath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PatchPath::parse(s)
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.filter {
            None => write!(f, "{}", self.attr),
            Some(filter) => {
                if let Some(urn) = &self.attr.urn {
                    write!(f, "{urn}:")?;
                }
                write!(f, "{}[{filter}]", self.attr.name)?;
                if let Some(sub) = &self.attr.sub_attr {
                    write!(f, ".{sub}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{CompValue, CompareOp};

    type TestResult = Result<(), ScimError>;

    /// A plain attribute parses with no filter.
    #[test]
    fn path_parse_simple_attribute() -> TestResult {
        let p = PatchPath::parse("displayName")?;
        assert_eq!(p.attr, AttrPath::simple("displayName"));
        assert!(p.filter.is_none());
        Ok(())
    }

    /// A dotted path keeps the sub-attribute.
    #[test]
    fn path_parse_sub_attribute() -> TestResult {
        let p = PatchPath::parse("name.givenName")?;
        assert_eq!(p.attr.name, "name");
        assert_eq!(p.attr.sub_attr.as_deref(), Some("givenName"));
        Ok(())
    }

    /// A filtered path with a trailing sub-attribute puts it in `sub_attr`.
    #[test]
    fn path_parse_filter_with_sub_attribute() -> TestResult {
        let p = PatchPath::parse(r#"emails[type eq "work"].value"#)?;
        assert_eq!(p.attr.name, "emails");
        assert_eq!(p.attr.sub_attr.as_deref(), Some("value"));
        assert_eq!(
            p.filter,
            Some(Filter::compare(
                "type",
                CompareOp::Eq,
                CompValue::Str("work".into())
            ))
        );
        Ok(())
    }

    /// Members filters as Okta and Entra send them parse.
    #[test]
    fn path_parse_members_filter() -> TestResult {
        let p = PatchPath::parse(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#)?;
        assert!(p.is_core_attr("members"));
        assert!(p.attr.sub_attr.is_none());
        assert!(p.filter.is_some());
        Ok(())
    }

    /// Enterprise-extension paths keep their URN.
    #[test]
    fn path_parse_enterprise_urn() -> TestResult {
        let p = PatchPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )?;
        assert_eq!(
            p.attr.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.attr.name, "manager");
        assert_eq!(p.attr.sub_attr.as_deref(), Some("value"));
        assert!(!p.is_core_attr("manager"));
        let p = PatchPath::parse("urn:ietf:params:scim:schemas:core:2.0:Group:members")?;
        assert!(p.is_core_attr("MEMBERS"));
        Ok(())
    }

    /// Malformed paths are invalidPath with the parser's detail.
    #[test]
    fn path_parse_malformed_invalid_path() {
        for bad in [
            "",
            "emails[",
            "emails[type eq]",
            "emails[type eq \"work\"].",
            "emails[type eq \"work\"]x",
            "name.givenName[x eq 1]",
            "a b",
            "emails[type eq \"work\"].value.x",
            "urn:bad",
        ] {
            let r = PatchPath::parse(bad);
            assert!(
                matches!(&r, Err(e) if e.scim_type == Some(ScimType::InvalidPath) && e.status == 400),
                "{bad}: {r:?}"
            );
        }
    }

    /// Display is canonical and reads back to the same path.
    #[test]
    fn path_display_round_trips() -> TestResult {
        for text in [
            "displayName",
            "name.givenName",
            "emails[type eq \"work\"]",
            "emails[type eq \"work\" and primary eq true].value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:x:y:addresses[type eq \"home\"].postalCode",
        ] {
            let p = PatchPath::parse(text)?;
            assert_eq!(p.to_string(), text);
            assert_eq!(PatchPath::parse(&p.to_string())?, p);
        }
        Ok(())
    }
}
