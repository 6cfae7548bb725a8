//! Times as the admin reads them: in the browser's time zone, with the
//! exact UTC time on hover.
//!
//! The zone is the browser's own (`Intl.DateTimeFormat().resolvedOptions()
//! .timeZone`), kept in the [`COOKIE`] cookie so that pages rendered on the
//! server use it too. Each side converts with its own copy of the IANA
//! data: the server with `chrono-tz` (server build only), the browser with
//! `Intl.DateTimeFormat`, so the wasm carries no time-zone table. A page
//! rendered before the cookie existed shows UTC and switches to local time
//! once hydrated. Forms that take a time (a grant's expiry) post the zone
//! they showed in a `tz` field, and the server reads the time in it
//! ([`local_to_utc`]).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use leptos::prelude::*;

/// The cookie that carries the browser's time zone (an IANA name).
pub const COOKIE: &str = "portcullis_tz";

/// The time zone pages show times in: an IANA name, or empty for UTC.
/// Provided by [`provide_zone`] at the root of the app.
#[derive(Clone, Copy, Debug)]
pub struct Zone(pub RwSignal<String>);

/// The zone to show times in (reactive; empty is UTC).
pub fn zone() -> String {
    use_context::<Zone>().map(|z| z.0.get()).unwrap_or_default()
}

/// Provides the [`Zone`]: the one the request's cookie names (so the
/// browser's first render matches the server's), then, in the browser, the
/// browser's own zone, saved in the cookie for the next page the server
/// renders.
pub fn provide_zone() {
    let initial = cookie_zone()
        .filter(|z| !is_utc(z) && is_zone(z))
        .unwrap_or_default();
    let zone = RwSignal::new(initial);
    provide_context(Zone(zone));
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    Effect::new(move |_| {
        // UTC under any name is kept as "" (no cookie: the server's default).
        let browser = browser::zone().filter(|z| !is_utc(z)).unwrap_or_default();
        if zone.get_untracked() != browser {
            browser::save_cookie(&browser);
            zone.set(browser);
        }
    });
}

/// The zone named by the request's (server) or document's (browser) cookie.
fn cookie_zone() -> Option<String> {
    #[cfg(feature = "ssr")]
    let header = use_context::<http::request::Parts>().and_then(|p| {
        p.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(find_cookie)
    });
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    let header = browser::document_cookie().and_then(|c| find_cookie(&c));
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    let header: Option<String> = None;
    header
}

/// How far ahead of UTC the zone of the request's cookie is now (zero
/// without a cookie or for a zone this side does not know): for server
/// functions that group by the admin's days.
#[cfg(feature = "ssr")]
pub fn request_offset() -> Duration {
    cookie_zone()
        .and_then(|z| offset_at(Utc::now(), &z))
        .unwrap_or_else(Duration::zero)
}

/// The value of [`COOKIE`] in a `Cookie` header's text.
fn find_cookie(header: &str) -> Option<String> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == COOKIE && !v.is_empty()).then(|| v.replace("%2F", "/"))
    })
}

/// Whether `zone` is a time zone this side knows (empty, UTC, an IANA name).
pub fn is_zone(zone: &str) -> bool {
    is_utc(zone) || offset_at(Utc::now(), zone).is_some()
}

/// Whether `zone` is UTC under one of its names (or empty).
pub fn is_utc(zone: &str) -> bool {
    matches!(
        zone,
        "" | "UTC"
            | "Etc/UTC"
            | "Etc/UCT"
            | "UCT"
            | "Etc/Universal"
            | "Universal"
            | "Etc/Zulu"
            | "Zulu"
            | "Etc/GMT"
            | "GMT"
            | "Etc/GMT0"
            | "GMT0"
            | "Etc/Greenwich"
            | "Greenwich"
    )
}

/// `at`'s offset from UTC in `zone`, or `None` for an unknown zone.
fn offset_at(at: DateTime<Utc>, zone: &str) -> Option<Duration> {
    if is_utc(zone) {
        return Some(Duration::zero());
    }
    #[cfg(feature = "ssr")]
    let local = {
        let tz: chrono_tz::Tz = zone.parse().ok()?;
        Some(at.with_timezone(&tz).naive_local())
    };
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    let local = browser::local(at, zone);
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    let local: Option<NaiveDateTime> = None;
    local.map(|l| l - at.naive_utc())
}

/// `at` as a wall-clock time in `zone` (UTC for an unknown zone).
pub fn local(at: DateTime<Utc>, zone: &str) -> NaiveDateTime {
    at.naive_utc() + offset_at(at, zone).unwrap_or_else(Duration::zero)
}

/// The UTC instant a wall-clock time in `zone` names; `None` for an
/// unknown zone or a time the zone skips (the hour lost to daylight
/// saving). Of a repeated hour (daylight saving ends), the earlier.
pub fn local_to_utc(wall: NaiveDateTime, zone: &str) -> Option<DateTime<Utc>> {
    // The offsets a day either side of `wall` (read as UTC) are the ones
    // in force before and after any change near it; the zone's changes are
    // months apart, so one of them, or both, give the answer.
    let guess = wall.and_utc();
    let mut found: Option<DateTime<Utc>> = None;
    let offsets = [
        offset_at(guess - Duration::days(1), zone)?,
        offset_at(guess + Duration::days(1), zone)?,
    ];
    for offset in offsets {
        let utc = guess - offset;
        if local(utc, zone) == wall && found.is_none_or(|f| utc < f) {
            found = Some(utc);
        }
    }
    found
}

/// `at` in `zone` as "2026-11-26 10:00" (with " UTC" when the zone is UTC).
pub fn format_local(at: DateTime<Utc>, zone: &str) -> String {
    let text = local(at, zone).format("%Y-%m-%d %H:%M").to_string();
    if is_utc(zone) {
        format!("{text} UTC")
    } else {
        text
    }
}

/// The hover text of a time: the exact UTC time, after the local one when
/// the zone is not UTC ("2026-11-26 10:00:00 Europe/Paris · 2026-11-26
/// 09:00:00 UTC").
pub fn hover(at: DateTime<Utc>, zone: &str) -> String {
    let utc = at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    if is_utc(zone) {
        utc
    } else {
        format!(
            "{} {zone} · {utc}",
            local(at, zone).format("%Y-%m-%d %H:%M:%S")
        )
    }
}

/// A `datetime-local` input's value for `at` in `zone`.
pub fn input_value(at: DateTime<Utc>, zone: &str) -> String {
    local(at, zone).format("%Y-%m-%dT%H:%M").to_string()
}

/// Where a form's times are read, for help texts: "your time zone
/// (Europe/Paris)" or "UTC".
pub fn zone_phrase(zone: &str) -> String {
    if is_utc(zone) {
        "UTC".to_owned()
    } else {
        format!("your time zone ({zone})")
    }
}

/// "3 min ago", with the exact time on hover.
#[component]
pub fn RelTime(at: DateTime<Utc>) -> impl IntoView {
    let iso = at.to_rfc3339();
    view! {
        <time datetime=iso title=move || hover(at, &zone()) class="whitespace-nowrap tabular-nums">
            {move || relative(at, Utc::now(), &zone())}
        </time>
    }
}

/// Formats `at` relative to `now` ("just now", "5 min ago", "3 h ago", "2
/// days ago", "in 3 h", a date in `zone`).
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>, zone: &str) -> String {
    let secs = (now - at).num_seconds();
    match secs {
        s if s < -7 * 86_400 => local(at, zone).format("%b %-d, %Y").to_string(),
        s if s <= -86_400 => format!("in {} days", (-s + 43_200) / 86_400),
        s if s <= -3600 => format!("in {} h", -s / 3600),
        s if s <= -90 => format!("in {} min", (-s + 30) / 60),
        s if s < 45 => "just now".to_owned(),
        s if s < 3600 => format!("{} min ago", (s + 30) / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s if s < 7 * 86_400 => match s / 86_400 {
            1 => "yesterday".to_owned(),
            d => format!("{d} days ago"),
        },
        _ => local(at, zone).format("%b %-d, %Y").to_string(),
    }
}

/// The exact time in the admin's zone ("2026-11-26 10:00"), for detail
/// pages; UTC on hover.
#[component]
pub fn AbsTime(at: DateTime<Utc>) -> impl IntoView {
    let iso = at.to_rfc3339();
    view! {
        <time datetime=iso title=move || hover(at, &zone()) class="whitespace-nowrap tabular-nums">
            {move || format_local(at, &zone())}
        </time>
    }
}

/// The browser side: the browser's zone, the cookie, and conversions with
/// `Intl.DateTimeFormat` (one formatter per zone, kept).
#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
mod browser {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    use std::cell::RefCell;
    use std::collections::HashMap;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    #[wasm_bindgen]
    extern "C" {
        /// `Intl.DateTimeFormat(locales, options)`; throws a `RangeError`
        /// for an unknown `timeZone`, caught here.
        #[wasm_bindgen(catch, js_namespace = Intl, js_name = DateTimeFormat)]
        fn date_time_format(
            locales: &JsValue,
            options: &JsValue,
        ) -> Result<js_sys::Intl::DateTimeFormat, JsValue>;
    }

    thread_local! {
        static FORMATS: RefCell<HashMap<String, Option<js_sys::Intl::DateTimeFormat>>> =
            RefCell::new(HashMap::new());
    }

    fn get(o: &JsValue, key: &str) -> Option<String> {
        js_sys::Reflect::get(o, &JsValue::from_str(key))
            .ok()?
            .as_string()
    }

    /// The browser's time zone.
    pub fn zone() -> Option<String> {
        let f = date_time_format(&JsValue::UNDEFINED, &JsValue::UNDEFINED).ok()?;
        get(&f.resolved_options(), "timeZone").filter(|z| !z.is_empty())
    }

    pub fn document_cookie() -> Option<String> {
        let doc = web_sys::window()?.document()?;
        doc.dyn_into::<web_sys::HtmlDocument>().ok()?.cookie().ok()
    }

    /// Saves the zone for the pages the server renders next, for a year
    /// (an IANA name: letters, digits, `/`, `_`, `-`, `+`, no escaping).
    pub fn save_cookie(zone: &str) {
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let secure = web_sys::window()
            .and_then(|w| w.location().protocol().ok())
            .is_some_and(|p| p == "https:");
        // An empty zone (UTC) removes the cookie.
        let value = format!(
            "{}={}; Path=/; Max-Age={}; SameSite=Lax{}",
            super::COOKIE,
            zone,
            if zone.is_empty() { 0 } else { 31_536_000 },
            if secure { "; Secure" } else { "" }
        );
        if let Ok(d) = doc.dyn_into::<web_sys::HtmlDocument>() {
            let _ = d.set_cookie(&value);
        }
    }

    fn formatter(zone: &str) -> Option<js_sys::Intl::DateTimeFormat> {
        FORMATS.with(|cache| {
            cache
                .borrow_mut()
                .entry(zone.to_owned())
                .or_insert_with(|| {
                    let options = js_sys::Object::new();
                    for (k, v) in [
                        ("timeZone", zone),
                        ("hourCycle", "h23"),
                        ("year", "numeric"),
                        ("month", "2-digit"),
                        ("day", "2-digit"),
                        ("hour", "2-digit"),
                        ("minute", "2-digit"),
                        ("second", "2-digit"),
                    ] {
                        let _ = js_sys::Reflect::set(&options, &k.into(), &v.into());
                    }
                    date_time_format(&JsValue::from_str("en-US"), &options).ok()
                })
                .clone()
        })
    }

    /// `at` as a wall-clock time in `zone`, through `formatToParts`.
    pub fn local(at: DateTime<Utc>, zone: &str) -> Option<NaiveDateTime> {
        let f = formatter(zone)?;
        let date = js_sys::Date::new(&JsValue::from_f64(at.timestamp_millis() as f64));
        let (mut y, mut mo, mut d, mut h, mut mi, mut s) = (0, 0, 0, 0, 0, 0);
        for part in f.format_to_parts(&date).iter() {
            let n = get(&part, "value").and_then(|v| v.parse::<i32>().ok());
            match (get(&part, "type").as_deref(), n) {
                (Some("year"), Some(n)) => y = n,
                (Some("month"), Some(n)) => mo = n,
                (Some("day"), Some(n)) => d = n,
                (Some("hour"), Some(n)) => h = n % 24,
                (Some("minute"), Some(n)) => mi = n,
                (Some("second"), Some(n)) => s = n,
                _ => {}
            }
        }
        let ms = at.timestamp_subsec_millis();
        NaiveDate::from_ymd_opt(y, mo as u32, d as u32)?
            .and_hms_milli_opt(h as u32, mi as u32, s as u32, ms)
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn wall(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap_or_default()
    }

    /// Relative times read naturally, past and future; far ones are a
    /// date in the zone.
    #[test]
    fn relative_time_reads_naturally() {
        let now = at("2026-11-26T12:00:00Z");
        let r = |d: Duration| relative(now + d, now, "");
        assert_eq!(r(Duration::zero()), "just now");
        assert_eq!(r(-Duration::minutes(5)), "5 min ago");
        assert_eq!(r(-Duration::hours(3)), "3 h ago");
        assert_eq!(r(-Duration::days(1)), "yesterday");
        assert_eq!(r(-Duration::days(40)), "Oct 17, 2026");
        assert_eq!(r(Duration::minutes(10)), "in 10 min");
        assert_eq!(r(Duration::hours(5)), "in 5 h");
        assert_eq!(r(Duration::days(3)), "in 3 days");
        // 23:30 UTC on Oct 16 is already Oct 17 in Kolkata (+05:30).
        let late = at("2026-10-16T23:30:00Z");
        assert_eq!(relative(late, now, ""), "Oct 16, 2026");
        assert_eq!(relative(late, now, "Asia/Kolkata"), "Oct 17, 2026");
    }

    /// Wall-clock times in a zone, both ways, across daylight saving.
    #[test]
    fn local_times_follow_the_zone() {
        let t = at("2026-07-01T09:00:00Z");
        assert_eq!(format_local(t, ""), "2026-07-01 09:00 UTC");
        assert_eq!(format_local(t, "Europe/Paris"), "2026-07-01 11:00");
        assert_eq!(format_local(t, "America/New_York"), "2026-07-01 05:00");
        assert_eq!(format_local(t, "Asia/Kolkata"), "2026-07-01 14:30");
        assert_eq!(
            hover(t, "Europe/Paris"),
            "2026-07-01 11:00:00 Europe/Paris · 2026-07-01 09:00:00 UTC"
        );
        assert_eq!(hover(t, ""), "2026-07-01 09:00:00 UTC");
        assert_eq!(input_value(t, "Asia/Kolkata"), "2026-07-01T14:30");
        // Winter time in Paris is UTC+1.
        assert_eq!(
            local_to_utc(wall("2026-12-31 18:00"), "Europe/Paris"),
            Some(at("2026-12-31T17:00:00Z"))
        );
        assert_eq!(
            local_to_utc(wall("2026-07-01 14:30"), "Asia/Kolkata"),
            Some(at("2026-07-01T09:00:00Z"))
        );
        assert_eq!(
            local_to_utc(wall("2026-07-01 14:30"), ""),
            Some(at("2026-07-01T14:30:00Z"))
        );
        // 02:30 on 2026-03-29 does not exist in Paris (clocks jump 02:00 → 03:00).
        assert_eq!(local_to_utc(wall("2026-03-29 02:30"), "Europe/Paris"), None);
        // 02:30 on 2026-10-25 happens twice; the earlier (summer time) wins.
        assert_eq!(
            local_to_utc(wall("2026-10-25 02:30"), "Europe/Paris"),
            Some(at("2026-10-25T00:30:00Z"))
        );
        assert_eq!(local_to_utc(wall("2026-10-25 02:30"), "Mars/Olympus"), None);
        assert!(is_zone("Europe/Paris") && is_zone("") && !is_zone("Mars/Olympus"));
    }

    /// The zone cookie is found among others; an empty one is none.
    #[test]
    fn the_zone_cookie_is_read_from_the_header() {
        assert_eq!(
            find_cookie("a=1; portcullis_tz=Europe/Paris; b=2").as_deref(),
            Some("Europe/Paris")
        );
        assert_eq!(
            find_cookie("portcullis_tz=America%2FNew_York").as_deref(),
            Some("America/New_York")
        );
        assert_eq!(find_cookie("portcullis_tz=; x=y"), None);
        assert_eq!(find_cookie("other_tz=UTC"), None);
    }
}
