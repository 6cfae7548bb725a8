//! The SCIM filter language: lexer, recursive-descent parser, AST and its
//! canonical text form (RFC 7644 §3.4.2.2; attribute paths per RFC 7644
//! §3.10 and RFC 7643 §2.1).
//!
//! Owns [`Filter`], [`AttrPath`], [`CompareOp`], [`CompValue`] and
//! [`parse_filter`]. The PATCH path grammar (RFC 7644 §3.5.2) reuses the same
//! lexer and value-filter parser through [`crate::path`].
//!
//! Grammar accepted (keywords and operators case-insensitive, whitespace
//! between tokens free-form):
//!
//! ```text
//! FILTER    = or
//! or        = and *("or" and)
//! and       = unary *("and" unary)
//! unary     = "(" FILTER ")" / "not" "(" FILTER ")" / valuePath / attrExp
//! valuePath = attrPath "[" valFilter "]"          ; attrPath without sub-attribute
//! valFilter = FILTER over simple sub-attribute names, no nested valuePath
//! attrExp   = attrPath "pr" / attrPath compareOp compValue
//! compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "ge" / "lt" / "le"
//! compValue = JSON string / JSON number / "true" / "false" / "null"
//! attrPath  = [URN ":"] ATTRNAME ["." ATTRNAME]
//! ATTRNAME  = (ALPHA / "$") *("-" / "_" / DIGIT / ALPHA)
//! ```
//!
//! Precedence is `not` > `and` > `or`; `and`/`or` associate to the left.
//! The URN prefix of a fully-qualified path is everything up to the last `:`
//! and must start with `urn:`. A leading `$` is accepted so `$ref`
//! (RFC 7643 §2.4) can be named.
//!
//! Invariants:
//! - Parsing never panics and is bounded: input ≤ [`MAX_FILTER_LEN`] bytes,
//!   nesting ≤ [`MAX_FILTER_DEPTH`] (each `( … )`, `not ( … )` and `[ … ]`
//!   opens one level), at most [`MAX_FILTER_COMPARISONS`] comparisons.
//!   Every failure is a 400 `invalidFilter` whose detail names the position
//!   (0-based byte offset) and the offending token.
//! - `parse_filter(&f.to_string()) == Ok(f)` for every AST the parser can
//!   produce: `Display` writes the canonical text (lower-case keywords,
//!   JSON-escaped strings, parentheses only where the tree needs them).
//! - Attribute names keep their original spelling for messages;
//!   [`AttrPath::key`] gives the lower-cased form for lookups.

use std::fmt;
use std::str::FromStr;

use crate::error::{echo, ScimError};

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// The deepest nesting accepted: parentheses, `not ( … )` and value paths each open a level.
pub const MAX_FILTER_DEPTH: usize = 16;
/// The most comparisons (including `pr`) one filter may hold.
pub const MAX_FILTER_COMPARISONS: usize = 64;

/// The prefix shared by the core schema URNs (`…:core:2.0:User`, `…:core:2.0:Group`).
pub(crate) const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:";

/// An attribute path: optional schema URN, attribute name, optional sub-attribute.
///
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`
/// has `urn = Some("urn:…:2.0:User")`, `name = "manager"`, `sub_attr = Some("value")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix as written, without the trailing `:`.
    pub urn: Option<String>,
    /// The attribute name as written.
    pub name: String,
    /// The sub-attribute name as written, for `name.sub`.
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// A path naming a core attribute with no URN and no sub-attribute.
    pub fn simple(name: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            name: name.into(),
            sub_attr: None,
        }
    }

    /// Parses `[URN ":"] ATTRNAME ["." ATTRNAME]`; a malformed path is `invalidPath`.
    pub fn parse(s: &str) -> Result<Self, ScimError> {
        parse_attr_path(s).map_err(|m| ScimError::invalid_path(format!("'{}': {m}", echo(s))))
    }

    /// The lower-cased full path used for lookups, e.g. `name.familyname` or
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department`.
    pub fn key(&self) -> String {
        let mut k = String::new();
        if let Some(urn) = &self.urn {
            k.push_str(&urn.to_ascii_lowercase());
            k.push(':');
        }
        k.push_str(&self.unqualified_key());
        k
    }

    /// The lower-cased path without the URN, e.g. `name.familyname`.
    pub fn unqualified_key(&self) -> String {
        let mut k = self.name.to_ascii_lowercase();
        if let Some(sub) = &self.sub_attr {
            k.push('.');
            k.push_str(&sub.to_ascii_lowercase());
        }
        k
    }

    /// True when there is no URN or the URN names a core schema
    /// (`urn:ietf:params:scim:schemas:core:…`), i.e. the attribute lives at
    /// the top level of the resource rather than inside an extension object.
    pub fn is_core(&self) -> bool {
        self.urn.as_deref().is_none_or(is_core_urn)
    }
}

/// True when `urn` names a core schema (`urn:ietf:params:scim:schemas:core:…`).
pub(crate) fn is_core_urn(urn: &str) -> bool {
    urn.len() >= CORE_SCHEMA_PREFIX.len()
        && urn
            .get(..CORE_SCHEMA_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(CORE_SCHEMA_PREFIX))
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A comparison operator (RFC 7644 §3.4.2.2, Table 3), `pr` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// The operator keyword in lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator for a keyword, case-insensitively; `pr` is not a comparison.
    pub fn from_keyword(word: &str) -> Option<Self> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A comparison value: a JSON literal.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// A JSON string, escapes decoded.
    Str(String),
    /// A JSON number without fraction or exponent that fits in `i64`.
    Int(i64),
    /// A JSON number with a fraction or exponent; always finite.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => {
                let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
                f.write_str(&quoted)
            }
            CompValue::Int(i) => write!(f, "{i}"),
            // Debug keeps a `.` or an exponent, so the text reads back as a float.
            CompValue::Float(x) => write!(f, "{x:?}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal compared against.
        value: CompValue,
    },
    /// `path pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// `left and right`.
    And(Box<Filter>, Box<Filter>),
    /// `left or right`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (inner)`.
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the (multi-valued or complex) attribute
    /// satisfies `filter`, whose paths name sub-attributes of `attr`.
    ValuePath {
        /// The attribute whose values are filtered; it has no `sub_attr`.
        attr: AttrPath,
        /// The filter over the sub-attributes of one value.
        filter: Box<Filter>,
    },
}

impl Filter {
    /// Parses filter text; see [`parse_filter`].
    pub fn parse(input: &str) -> Result<Self, ScimError> {
        parse_filter(input)
    }

    /// `Filter::And` of two filters.
    pub fn and(left: Filter, right: Filter) -> Self {
        Filter::And(Box::new(left), Box::new(right))
    }

    /// `Filter::Or` of two filters.
    pub fn or(left: Filter, right: Filter) -> Self {
        Filter::Or(Box::new(left), Box::new(right))
    }

    /// `Filter::Not` of a filter.
    pub fn negate(inner: Filter) -> Self {
        Filter::Not(Box::new(inner))
    }

    /// `Filter::Compare` of a simple (core, unqualified) attribute.
    pub fn compare(name: &str, op: CompareOp, value: CompValue) -> Self {
        Filter::Compare {
            path: AttrPath::simple(name),
            op,
            value,
        }
    }
}

impl FromStr for Filter {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_filter(s)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(l, r) => {
                // An `or` under `and` needs parentheses; so does a right-nested
                // `and`, to keep the tree's shape on a round trip.
                write_child(f, l, matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_child(f, r, matches!(**r, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(l, r) => {
                write_child(f, l, false)?;
                f.write_str(" or ")?;
                write_child(f, r, matches!(**r, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

fn write_child(f: &mut fmt::Formatter<'_>, child: &Filter, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({child})")
    } else {
        write!(f, "{child}")
    }
}

/// Parses a filter (RFC 7644 §3.4.2.2). Every failure is 400 `invalidFilter`.
pub fn parse_filter(input: &str) -> Result<Filter, ScimError> {
    let mut p = Parser::new(input)?;
    if p.toks.is_empty() {
        return Err(ScimError::invalid_filter("filter is empty"));
    }
    let f = p.parse_or(0)?;
    match p.peek() {
        None => Ok(f),
        Some(_) => Err(p.unexpected("'and', 'or' or the end of the filter")),
    }
}

/// The parts of a PATCH path (RFC 7644 §3.5.2): the attribute, the optional
/// value filter and the optional sub-attribute after `]`. Errors are
/// `invalidFilter`; [`crate::path`] re-types them as `invalidPath`.
pub(crate) fn parse_path_parts(
    input: &str,
) -> Result<(AttrPath, Option<Filter>, Option<String>), ScimError> {
    let mut p = Parser::new(input)?;
    let Some(first) = p.toks.first().cloned() else {
        return Err(ScimError::invalid_filter("path is empty"));
    };
    let Tok::Word(word) = &first.tok else {
        return Err(p.unexpected("an attribute name"));
    };
    let attr = p.attr_path(word, first.pos)?;
    p.i = 1;
    match p.peek().map(|t| &t.tok) {
        None => return Ok((attr, None, None)),
        Some(Tok::LBracket) => {}
        Some(_) => return Err(p.unexpected("'[' or the end of the path")),
    }
    if attr.sub_attr.is_some() {
        return Err(
            p.err_here("a value filter '[…]' must follow an attribute, not a sub-attribute")
        );
    }
    let filter = p.value_filter(0)?;
    let mut sub = None;
    if matches!(p.peek().map(|t| &t.tok), Some(Tok::Dot)) {
        p.i += 1;
        match p.peek().cloned() {
            Some(Token {
                tok: Tok::Word(w), ..
            }) if is_attr_name(&w) => {
                p.i += 1;
                sub = Some(w);
            }
            _ => return Err(p.unexpected("a sub-attribute name after '.'")),
        }
    }
    match p.peek() {
        None => Ok((attr, Some(filter), sub)),
        Some(_) => Err(p.unexpected("'.subAttribute' or the end of the path")),
    }
}

// ---------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Int(i64),
    Float(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    /// Byte offset of the token's first character.
    pos: usize,
    /// Byte offset just past the token.
    end: usize,
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'$'
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'-' | b'_' | b'$')
}

fn lex(input: &str) -> Result<Vec<Token>, ScimError> {
    let bytes = input.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b'[' => {
                i += 1;
                Tok::LBracket
            }
            b']' => {
                i += 1;
                Tok::RBracket
            }
            b'.' => {
                i += 1;
                Tok::Dot
            }
            b'"' => {
                let (s, next) = lex_string(input, start)?;
                i = next;
                Tok::Str(s)
            }
            b'-' | b'0'..=b'9' => {
                let (t, next) = lex_number(input, start)?;
                i = next;
                t
            }
            c if is_word_start(c) => {
                while i < bytes.len() && is_word_char(bytes[i]) {
                    i += 1;
                }
                Tok::Word(input[start..i].to_string())
            }
            _ => {
                let ch = input
                    .get(start..)
                    .and_then(|r| r.chars().next())
                    .unwrap_or('?');
                return Err(ScimError::invalid_filter(format!(
                    "unexpected character '{}' at position {start}",
                    ch.escape_debug()
                )));
            }
        };
        toks.push(Token {
            tok,
            pos: start,
            end: i,
        });
    }
    Ok(toks)
}

/// Lexes a JSON string literal starting at the `"` at `start`; decoding is
/// left to serde_json so every JSON escape (`\"`, `\\`, `\uXXXX`, …) works.
fn lex_string(input: &str, start: usize) -> Result<(String, usize), ScimError> {
    let bytes = input.as_bytes();
    let mut i = start + 1;
    loop {
        match bytes.get(i) {
            None => {
                return Err(ScimError::invalid_filter(format!(
                    "unterminated string starting at position {start}"
                )))
            }
            Some(b'"') => break,
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
        }
    }
    let literal = &input[start..=i];
    match serde_json::from_str::<String>(literal) {
        Ok(s) => Ok((s, i + 1)),
        Err(_) => Err(ScimError::invalid_filter(format!(
            "invalid string {} at position {start}: bad escape or unescaped control character",
            echo(literal)
        ))),
    }
}

/// Lexes a JSON number starting at `start`: integers become `Int` (if they
/// fit in `i64`), numbers with a fraction or exponent become finite `Float`.
fn lex_number(input: &str, start: usize) -> Result<(Tok, usize), ScimError> {
    let bytes = input.as_bytes();
    let mut i = start;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'-' | b'+' | b'.'))
    {
        // Stop a trailing `.` from swallowing a PATCH `].sub`-style dot: numbers
        // never end in `.`, and a `+`/`-` only follows an exponent marker.
        if matches!(bytes[i], b'+' | b'-') && i > start && !matches!(bytes[i - 1], b'e' | b'E') {
            break;
        }
        i += 1;
    }
    let text = &input[start..i];
    let bad = || {
        ScimError::invalid_filter(format!(
            "invalid number '{}' at position {start}",
            echo(text)
        ))
    };
    if !is_json_number(text) {
        return Err(bad());
    }
    let tok = if text.contains(['.', 'e', 'E']) {
        let x: f64 = text.parse().map_err(|_| bad())?;
        if !x.is_finite() {
            return Err(ScimError::invalid_filter(format!(
                "number '{}' at position {start} is out of range",
                echo(text)
            )));
        }
        Tok::Float(x)
    } else {
        let n: i64 = text.parse().map_err(|_| {
            ScimError::invalid_filter(format!(
                "integer '{}' at position {start} is out of range",
                echo(text)
            ))
        })?;
        Tok::Int(n)
    };
    Ok((tok, i))
}

/// True when `s` is exactly a JSON number (RFC 8259 §6): `-? int frac? exp?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(c) if c.is_ascii_digit() => {
            while digit(i) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let first = i;
        while digit(i) {
            i += 1;
        }
        if i == first {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let first = i;
        while digit(i) {
            i += 1;
        }
        if i == first {
            return false;
        }
    }
    i == b.len()
}

/// True for `ATTRNAME = (ALPHA / "$") *(nameChar)`.
fn is_attr_name(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(&c) if is_word_start(c) => b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        _ => false,
    }
}

/// Splits `[URN ":"] ATTRNAME ["." ATTRNAME]`; the error is a bare reason.
fn parse_attr_path(s: &str) -> Result<AttrPath, String> {
    let (urn, rest) = match s.rfind(':') {
        Some(idx) => {
            let urn = &s[..idx];
            let lower = urn.to_ascii_lowercase();
            if !lower.starts_with("urn:") || urn.len() <= 4 || urn.ends_with(':') {
                return Err("a schema prefix must be a URN such as 'urn:ietf:params:scim:schemas:core:2.0:User'".into());
            }
            if !urn.bytes().all(is_word_char) {
                return Err("the schema URN holds a character not allowed here".into());
            }
            (Some(urn.to_string()), &s[idx + 1..])
        }
        None => (None, s),
    };
    let mut parts = rest.split('.');
    let name = parts.next().unwrap_or_default();
    let sub = parts.next();
    if parts.next().is_some() {
        return Err("at most one sub-attribute ('name.sub') is allowed".into());
    }
    if !is_attr_name(name) {
        return Err(format!(
            "'{}' is not an attribute name (a letter, then letters, digits, '-' or '_')",
            echo(name)
        ));
    }
    if let Some(sub) = sub {
        if !is_attr_name(sub) {
            return Err(format!("'{}' is not a sub-attribute name", echo(sub)));
        }
    }
    Ok(AttrPath {
        urn,
        name: name.to_string(),
        sub_attr: sub.map(str::to_string),
    })
}

// ---------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    input: &'a str,
    toks: Vec<Token>,
    i: usize,
    comparisons: usize,
    in_value_filter: bool,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Result<Self, ScimError> {
        if input.len() > MAX_FILTER_LEN {
            return Err(ScimError::invalid_filter(format!(
                "filter is {} bytes long; at most {MAX_FILTER_LEN} are allowed",
                input.len()
            )));
        }
        Ok(Parser {
            input,
            toks: lex(input)?,
            i: 0,
            comparisons: 0,
            in_value_filter: false,
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.toks.get(self.i + offset)
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    fn describe(&self, t: &Token) -> String {
        let text = self.input.get(t.pos..t.end).unwrap_or("?");
        format!("'{}' at position {}", echo(text), t.pos)
    }

    /// An error about the current token (or the end of input).
    fn unexpected(&self, expected: &str) -> ScimError {
        match self.peek() {
            None => ScimError::invalid_filter(format!(
                "unexpected end of filter; expected {expected}"
            )),
            Some(t) if t.tok == Tok::Dot && !self.in_value_filter => {
                ScimError::invalid_filter(format!(
                    "unexpected {}; a sub-attribute after ']' ('emails[…].value') is only valid in a PATCH path",
                    self.describe(t)
                ))
            }
            Some(t) => ScimError::invalid_filter(format!(
                "unexpected {}; expected {expected}",
                self.describe(t)
            )),
        }
    }

    fn err_here(&self, msg: &str) -> ScimError {
        match self.peek() {
            Some(t) => ScimError::invalid_filter(format!("{msg} (at position {})", t.pos)),
            None => ScimError::invalid_filter(format!("{msg} (at the end of the filter)")),
        }
    }

    fn enter(&self, depth: usize) -> Result<usize, ScimError> {
        let next = depth + 1;
        if next > MAX_FILTER_DEPTH {
            return Err(self.err_here(&format!(
                "filter nests deeper than {MAX_FILTER_DEPTH} levels"
            )));
        }
        Ok(next)
    }

    fn count_comparison(&mut self) -> Result<(), ScimError> {
        self.comparisons += 1;
        if self.comparisons > MAX_FILTER_COMPARISONS {
            return Err(ScimError::invalid_filter(format!(
                "filter has more than {MAX_FILTER_COMPARISONS} comparisons"
            )));
        }
        Ok(())
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), ScimError> {
        match self.peek() {
            Some(t) if &t.tok == tok => {
                self.i += 1;
                Ok(())
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn parse_or(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.parse_and(depth)?;
        while self.peek_keyword("or") {
            self.i += 1;
            let right = self.parse_and(depth)?;
            left = Filter::or(left, right);
        }
        Ok(left)
    }

    fn parse_and(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.parse_unary(depth)?;
        while self.peek_keyword("and") {
            self.i += 1;
            let right = self.parse_unary(depth)?;
            left = Filter::and(left, right);
        }
        Ok(left)
    }

    fn parse_unary(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected("an attribute, 'not' or '('"));
        };
        match &t.tok {
            Tok::LParen => {
                let inner_depth = self.enter(depth)?;
                self.i += 1;
                let f = self.parse_or(inner_depth)?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(f)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                match self.peek_at(1).map(|t| &t.tok) {
                    Some(Tok::LParen) => {
                        let inner_depth = self.enter(depth)?;
                        self.i += 2;
                        let f = self.parse_or(inner_depth)?;
                        self.expect(&Tok::RParen, "')' closing 'not ('")?;
                        Ok(Filter::negate(f))
                    }
                    // An attribute that happens to be called `not`.
                    Some(Tok::Word(op))
                        if op.eq_ignore_ascii_case("pr") || CompareOp::from_keyword(op).is_some() =>
                    {
                        self.attr_exp(depth, &t)
                    }
                    _ => Err(ScimError::invalid_filter(format!(
                        "'not' at position {} must be followed by a parenthesised filter: not ( … )",
                        t.pos
                    ))),
                }
            }
            Tok::Word(_) => self.attr_exp(depth, &t),
            _ => Err(self.unexpected("an attribute, 'not' or '('")),
        }
    }

    fn attr_path(&self, word: &str, pos: usize) -> Result<AttrPath, ScimError> {
        parse_attr_path(word).map_err(|m| {
            ScimError::invalid_filter(format!(
                "invalid attribute path '{}' at position {pos}: {m}",
                echo(word)
            ))
        })
    }

    fn attr_exp(&mut self, depth: usize, t: &Token) -> Result<Filter, ScimError> {
        let Tok::Word(word) = &t.tok else {
            return Err(self.unexpected("an attribute"));
        };
        let path = self.attr_path(word, t.pos)?;
        if self.in_value_filter && (path.urn.is_some() || path.sub_attr.is_some()) {
            return Err(ScimError::invalid_filter(format!(
                "inside '[…]' name a sub-attribute without prefix or '.', found '{}' at position {}",
                echo(word),
                t.pos
            )));
        }
        self.i += 1;
        let Some(next) = self.peek().cloned() else {
            return Err(self.unexpected(&format!("an operator after '{}'", echo(word))));
        };
        match &next.tok {
            Tok::LBracket => {
                if self.in_value_filter {
                    return Err(self.err_here("value filters '[…]' cannot nest"));
                }
                if path.sub_attr.is_some() {
                    return Err(self.err_here(
                        "a value filter '[…]' must follow an attribute, not a sub-attribute",
                    ));
                }
                let filter = self.value_filter(depth)?;
                Ok(Filter::ValuePath {
                    attr: path,
                    filter: Box::new(filter),
                })
            }
            Tok::Word(op) if op.eq_ignore_ascii_case("pr") => {
                self.i += 1;
                self.count_comparison()?;
                Ok(Filter::Present(path))
            }
            Tok::Word(op) => {
                let Some(op) = CompareOp::from_keyword(op) else {
                    return Err(ScimError::invalid_filter(format!(
                        "unknown operator {}; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr",
                        self.describe(&next)
                    )));
                };
                self.i += 1;
                let value = self.comp_value()?;
                self.count_comparison()?;
                Ok(Filter::Compare { path, op, value })
            }
            _ => Err(self.unexpected(&format!("an operator after '{}'", echo(word)))),
        }
    }

    /// Parses `"[" valFilter "]"` at the current `[`.
    fn value_filter(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let inner_depth = self.enter(depth)?;
        self.expect(&Tok::LBracket, "'['")?;
        self.in_value_filter = true;
        let inner = self.parse_or(inner_depth);
        self.in_value_filter = false;
        let inner = inner?;
        self.expect(&Tok::RBracket, "']'")?;
        Ok(inner)
    }

    fn comp_value(&mut self) -> Result<CompValue, ScimError> {
        const EXPECTED: &str = "a value (JSON string, number, true, false or null)";
        let Some(t) = self.peek() else {
            return Err(self.unexpected(EXPECTED));
        };
        let v = match &t.tok {
            Tok::Str(s) => CompValue::Str(s.clone()),
            Tok::Int(n) => CompValue::Int(*n),
            Tok::Float(x) => CompValue::Float(*x),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            _ => return Err(self.unexpected(EXPECTED)),
        };
        self.i += 1;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScimType;

    type TestResult = Result<(), ScimError>;

    fn cmp(name: &str, op: CompareOp, v: CompValue) -> Filter {
        Filter::compare(name, op, v)
    }

    fn s(v: &str) -> CompValue {
        CompValue::Str(v.to_string())
    }

    fn assert_invalid(input: &str, needle: &str) {
        match parse_filter(input) {
            Err(e) => {
                assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{input}: {e}");
                assert_eq!(e.status, 400);
                assert!(
                    e.detail.contains(needle),
                    "{input}: detail {:?} lacks {needle:?}",
                    e.detail
                );
            }
            Ok(f) => panic!("{input} parsed as {f:?}"),
        }
    }

    /// Every comparison operator parses, case-insensitively.
    #[test]
    fn filter_parse_each_operator_builds_compare() -> TestResult {
        for (kw, op) in [
            ("eq", CompareOp::Eq),
            ("NE", CompareOp::Ne),
            ("Co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("GE", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            let f = parse_filter(&format!("userName {kw} \"bjensen\""))?;
            assert_eq!(f, cmp("userName", op, s("bjensen")));
        }
        Ok(())
    }

    /// `pr` has no value.
    #[test]
    fn filter_parse_present_builds_present() -> TestResult {
        assert_eq!(
            parse_filter("title PR")?,
            Filter::Present(AttrPath::simple("title"))
        );
        Ok(())
    }

    /// Each JSON literal kind becomes the matching value.
    #[test]
    fn filter_parse_literals_decode_each_kind() -> TestResult {
        let cases = [
            ("a eq 42", CompValue::Int(42)),
            ("a eq -7", CompValue::Int(-7)),
            ("a eq 1.5", CompValue::Float(1.5)),
            ("a eq -2.5e3", CompValue::Float(-2500.0)),
            ("a eq 1E2", CompValue::Float(100.0)),
            ("a eq true", CompValue::Bool(true)),
            ("a eq False", CompValue::Bool(false)),
            ("a eq null", CompValue::Null),
            (r#"a eq "q\"uote\\ \u00e9\n""#, s("q\"uote\\ é\n")),
            (r#"a eq """#, s("")),
        ];
        for (input, v) in cases {
            assert_eq!(parse_filter(input)?, cmp("a", CompareOp::Eq, v), "{input}");
        }
        Ok(())
    }

    /// Dotted and URN-qualified paths split at the last ':' and the '.'.
    #[test]
    fn filter_parse_attr_paths_split_urn_and_sub() -> TestResult {
        let f = parse_filter("name.familyName co \"O'Malley\"")?;
        let Filter::Compare { path, .. } = f else {
            panic!("not a comparison: {f:?}")
        };
        assert_eq!(path.name, "name");
        assert_eq!(path.sub_attr.as_deref(), Some("familyName"));
        assert_eq!(path.key(), "name.familyname");

        let f = parse_filter(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"R&D\"",
        )?;
        let Filter::Compare { path, .. } = f else {
            panic!("not a comparison: {f:?}")
        };
        assert_eq!(
            path.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(path.name, "department");
        assert!(!path.is_core());
        assert_eq!(
            path.key(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department"
        );

        let f = parse_filter("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"")?;
        let Filter::Compare { path, .. } = f else {
            panic!("not a comparison: {f:?}")
        };
        assert!(path.is_core());
        assert_eq!(path.unqualified_key(), "username");

        let f = parse_filter(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"m1\"",
        )?;
        let Filter::Compare { path, .. } = f else {
            panic!("not a comparison: {f:?}")
        };
        assert_eq!(path.name, "manager");
        assert_eq!(path.sub_attr.as_deref(), Some("value"));
        Ok(())
    }

    /// `and` binds tighter than `or`, and both associate to the left.
    #[test]
    fn filter_parse_precedence_and_over_or() -> TestResult {
        let a = || cmp("a", CompareOp::Eq, CompValue::Int(1));
        let b = || cmp("b", CompareOp::Eq, CompValue::Int(2));
        let c = || cmp("c", CompareOp::Eq, CompValue::Int(3));
        assert_eq!(
            parse_filter("a eq 1 or b eq 2 and c eq 3")?,
            Filter::or(a(), Filter::and(b(), c()))
        );
        assert_eq!(
            parse_filter("a eq 1 and b eq 2 or c eq 3")?,
            Filter::or(Filter::and(a(), b()), c())
        );
        assert_eq!(
            parse_filter("(a eq 1 or b eq 2) and c eq 3")?,
            Filter::and(Filter::or(a(), b()), c())
        );
        assert_eq!(
            parse_filter("a eq 1 AND b eq 2 And c eq 3")?,
            Filter::and(Filter::and(a(), b()), c())
        );
        Ok(())
    }

    /// `not` applies to its parenthesised group only.
    #[test]
    fn filter_parse_not_binds_tightest() -> TestResult {
        let a = || cmp("a", CompareOp::Eq, CompValue::Int(1));
        let b = || cmp("b", CompareOp::Eq, CompValue::Int(2));
        assert_eq!(
            parse_filter("not (a eq 1) and b eq 2")?,
            Filter::and(Filter::negate(a()), b())
        );
        assert_eq!(
            parse_filter("NOT(a eq 1 or b eq 2)")?,
            Filter::negate(Filter::or(a(), b()))
        );
        Ok(())
    }

    /// `not` without parentheses is rejected with a pointed message.
    #[test]
    fn filter_parse_not_without_parens_invalid() {
        assert_invalid("not a eq 1", "parenthesised");
    }

    /// An attribute literally called `not` still parses.
    #[test]
    fn filter_parse_attribute_named_not_is_attribute() -> TestResult {
        assert_eq!(
            parse_filter("not pr")?,
            Filter::Present(AttrPath::simple("not"))
        );
        Ok(())
    }

    /// A value path holds a filter over sub-attributes.
    #[test]
    fn filter_parse_value_path_builds_complex_filter() -> TestResult {
        let f = parse_filter(r#"emails[type eq "work" and value co "@example.com"]"#)?;
        assert_eq!(
            f,
            Filter::ValuePath {
                attr: AttrPath::simple("emails"),
                filter: Box::new(Filter::and(
                    cmp("type", CompareOp::Eq, s("work")),
                    cmp("value", CompareOp::Co, s("@example.com")),
                )),
            }
        );
        let f = parse_filter(r#"userType eq "Employee" and emails[type eq "work"] or not (x pr)"#)?;
        assert!(matches!(f, Filter::Or(..)));
        Ok(())
    }

    /// A sub-attribute after a value path is a PATCH-path form, not a filter.
    #[test]
    fn filter_parse_value_path_with_sub_attr_invalid() {
        assert_invalid(r#"emails[type eq "work"].value eq "x""#, "PATCH path");
    }

    /// Value filters cannot nest or use dotted/URN paths.
    #[test]
    fn filter_parse_nested_value_path_invalid() {
        assert_invalid(r#"emails[x[y eq 1]]"#, "cannot nest");
        assert_invalid(r#"emails[name.x eq 1]"#, "sub-attribute");
        assert_invalid(r#"name.x[y eq 1]"#, "not a sub-attribute");
    }

    /// Malformed inputs name the position and token.
    #[test]
    fn filter_parse_malformed_names_position() {
        assert_invalid("", "empty");
        assert_invalid("   ", "empty");
        assert_invalid("userName", "unexpected end of filter");
        assert_invalid("userName eq", "expected a value");
        assert_invalid("userName zz \"x\"", "unknown operator 'zz' at position 9");
        assert_invalid(
            "userName eq \"x",
            "unterminated string starting at position 12",
        );
        assert_invalid("userName eq \"\\q\"", "bad escape");
        assert_invalid("userName eq bjensen", "'bjensen' at position 12");
        assert_invalid("userName eq \"x\" and", "unexpected end");
        assert_invalid("userName eq \"x\" xor y pr", "'xor' at position 16");
        assert_invalid("(userName pr", "expected ')'");
        assert_invalid("userName pr)", "')' at position 11");
        assert_invalid("emails[type eq \"work\"", "expected ']'");
        assert_invalid("userName eq 01", "invalid number");
        assert_invalid("userName eq 1.", "invalid number");
        assert_invalid("a eq 99999999999999999999", "out of range");
        assert_invalid("a eq 1e999", "out of range");
        assert_invalid("a eq 12abc", "invalid number");
        assert_invalid("user#Name pr", "unexpected character '#' at position 4");
        assert_invalid("1abc pr", "invalid number '1abc' at position 0");
        assert_invalid("foo:bar pr", "URN");
        assert_invalid("a.b.c pr", "at most one sub-attribute");
        assert_invalid("a. pr", "not a sub-attribute");
        assert_invalid("userName eq \"x\" \"y\"", "at position 16");
        assert_invalid("()", "')' at position 1");
        assert_invalid("[a eq 1]", "'[' at position 0");
    }

    /// Raw control characters inside a string are invalid JSON.
    #[test]
    fn filter_parse_raw_control_char_in_string_invalid() {
        assert_invalid("a eq \"x\ty\"", "control character");
    }

    /// Input longer than the limit is refused before lexing.
    #[test]
    fn filter_parse_too_long_invalid() {
        let long = format!("userName eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
        assert_invalid(&long, "at most 4096");
    }

    /// Nesting up to the limit parses; one more level is refused.
    #[test]
    fn filter_parse_depth_limit_enforced() -> TestResult {
        let ok = format!("{}a pr{}", "(".repeat(16), ")".repeat(16));
        parse_filter(&ok)?;
        let deep = format!("{}a pr{}", "(".repeat(17), ")".repeat(17));
        assert_invalid(&deep, "deeper than 16");
        let nots = format!("{}a pr{}", "not (".repeat(17), ")".repeat(17));
        assert_invalid(&nots, "deeper than 16");
        let mixed = format!("{}x[a pr]{}", "(".repeat(16), ")".repeat(16));
        assert_invalid(&mixed, "deeper than 16");
        Ok(())
    }

    /// At most 64 comparisons are accepted.
    #[test]
    fn filter_parse_comparison_limit_enforced() -> TestResult {
        let ok = vec!["a pr"; 64].join(" or ");
        parse_filter(&ok)?;
        let too_many = vec!["a pr"; 65].join(" or ");
        assert_invalid(&too_many, "more than 64 comparisons");
        Ok(())
    }

    /// Display writes canonical text with parentheses only where needed.
    #[test]
    fn filter_display_canonical_minimal_parens() -> TestResult {
        let cases = [
            ("userName EQ \"bjensen\"", "userName eq \"bjensen\""),
            ("(a pr) AND (b pr)", "a pr and b pr"),
            ("a pr and (b pr or c pr)", "a pr and (b pr or c pr)"),
            ("a pr or (b pr and c pr)", "a pr or b pr and c pr"),
            ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
            ("NOT ( a pr )", "not (a pr)"),
            ("x eq 1.0", "x eq 1.0"),
            ("x eq 1e300", "x eq 1e300"),
            ("x eq TRUE", "x eq true"),
            ("emails[ type eq \"work\" ]", "emails[type eq \"work\"]"),
            (r#"a eq "\u0022\\\n""#, r#"a eq "\"\\\n""#),
        ];
        for (input, want) in cases {
            let f = parse_filter(input)?;
            assert_eq!(f.to_string(), want, "{input}");
            assert_eq!(parse_filter(want)?, f, "{want}");
        }
        Ok(())
    }

    /// PATCH path parts: attribute, filter and sub-attribute after ']'.
    #[test]
    fn filter_path_parts_value_path_with_sub() -> TestResult {
        let (attr, f, sub) = parse_path_parts(r#"emails[type eq "work"].value"#)?;
        assert_eq!(attr, AttrPath::simple("emails"));
        assert_eq!(f, Some(cmp("type", CompareOp::Eq, s("work"))));
        assert_eq!(sub.as_deref(), Some("value"));
        let (attr, f, sub) = parse_path_parts("name.givenName")?;
        assert_eq!(attr.sub_attr.as_deref(), Some("givenName"));
        assert!(f.is_none() && sub.is_none());
        assert!(parse_path_parts("emails[type eq \"work\"].").is_err());
        assert!(parse_path_parts("emails[type eq \"work\"].a.b").is_err());
        assert!(parse_path_parts("emails[type eq \"work\"] x").is_err());
        assert!(parse_path_parts("emails pr").is_err());
        assert!(parse_path_parts("").is_err());
        Ok(())
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            "[a-zA-Z][a-zA-Z0-9_-]{0,6}"
        }

        fn attr_path() -> impl Strategy<Value = AttrPath> {
            let urn = prop_oneof![
                Just(None),
                Just(Some(
                    "urn:ietf:params:scim:schemas:core:2.0:User".to_string()
                )),
                Just(Some(
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_string()
                )),
            ];
            (urn, name(), proptest::option::of(name())).prop_map(|(urn, name, sub_attr)| AttrPath {
                urn,
                name,
                sub_attr,
            })
        }

        fn value() -> impl Strategy<Value = CompValue> {
            prop_oneof![
                any::<String>().prop_map(CompValue::Str),
                any::<i64>().prop_map(CompValue::Int),
                any::<f64>()
                    .prop_filter("finite", |x| x.is_finite())
                    .prop_map(CompValue::Float),
                any::<bool>().prop_map(CompValue::Bool),
                Just(CompValue::Null),
            ]
        }

        fn op() -> impl Strategy<Value = CompareOp> {
            prop_oneof![
                Just(CompareOp::Eq),
                Just(CompareOp::Ne),
                Just(CompareOp::Co),
                Just(CompareOp::Sw),
                Just(CompareOp::Ew),
                Just(CompareOp::Gt),
                Just(CompareOp::Ge),
                Just(CompareOp::Lt),
                Just(CompareOp::Le),
            ]
        }

        /// Filters over `leaf` paths, combined with and/or/not.
        fn tree(leaf: BoxedStrategy<AttrPath>) -> impl Strategy<Value = Filter> {
            let leaf_filter = prop_oneof![
                (leaf.clone(), op(), value()).prop_map(|(path, op, value)| Filter::Compare {
                    path,
                    op,
                    value
                }),
                leaf.prop_map(Filter::Present),
            ];
            leaf_filter.prop_recursive(3, 12, 2, |inner| {
                prop_oneof![
                    (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::and(l, r)),
                    (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::or(l, r)),
                    inner.prop_map(Filter::negate),
                ]
            })
        }

        fn filter() -> impl Strategy<Value = Filter> {
            let simple = name().prop_map(AttrPath::simple).boxed();
            let value_path = (name(), tree(simple)).prop_map(|(attr, f)| Filter::ValuePath {
                attr: AttrPath::simple(attr),
                filter: Box::new(f),
            });
            let top_leaf = prop_oneof![tree(attr_path().boxed()), value_path];
            top_leaf.prop_recursive(2, 4, 2, |inner| {
                prop_oneof![
                    (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::and(l, r)),
                    (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::or(l, r)),
                    inner.prop_map(Filter::negate),
                ]
            })
        }

        proptest! {
            /// Arbitrary strings never panic the parser.
            #[test]
            fn filter_parse_random_input_never_panics(input in any::<String>()) {
                let _ = parse_filter(&input);
                let _ = parse_path_parts(&input);
            }

            /// Filter-shaped noise never panics the parser either.
            #[test]
            fn filter_parse_token_soup_never_panics(
                input in r#"([a-z:.\[\]() "\\]|eq|and|or|not|pr|-?[0-9.eE+]{1,4}){0,40}"#
            ) {
                let _ = parse_filter(&input);
                let _ = parse_path_parts(&input);
            }

            /// Display then parse gives back the same AST.
            #[test]
            fn filter_display_generated_ast_round_trips(f in filter()) {
                let text = f.to_string();
                let parsed = parse_filter(&text);
                prop_assert_eq!(parsed, Ok(f), "text: {}", text);
            }
        }
    }
}
