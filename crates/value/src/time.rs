//! Timestamps as exchanges write them: RFC 3339, Unix seconds (as text), HTTP dates.

use chrono::{DateTime, NaiveDate, Utc};

/// RFC 3339 (`2026-01-05T10:00:00.123Z`) or Unix seconds (`1767607200`).
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = t.parse().ok()?;
        return DateTime::from_timestamp(secs, 0);
    }
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// An HTTP `Date:` header (`Mon, 05 Jan 2026 10:00:00 GMT`, RFC 9110 IMF-fixdate).
pub(crate) fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// `2026-01-05` or the ECB CSV's `05 January 2026`.
pub(crate) fn parse_day(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(t, "%d %B %Y"))
        .ok()
}

/// The ledger's time format.
pub(crate) fn fmt(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
