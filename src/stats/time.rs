//! Time as `stats` reads it: the RFC 3339 `ts` of a usage line (any offset; anything else,
//! whatever characters it holds, is no time) and `--since`.

use std::time::SystemTime;

/// An RFC 3339 time; `Z`, `+00:00` and other offsets alike. Anything else, whatever characters
/// it holds, is `None`.
pub(super) fn parse_time(s: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(SystemTime::from)
}

/// The UTC day of a time, `YYYY-MM-DD`.
pub(super) fn day(t: SystemTime) -> String {
    let mut s = format_time(t);
    s.truncate(10);
    s
}

pub(crate) fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `--since`: a duration back from `now` (`7d`, `24h`, `90m`), a UTC date, or an RFC 3339 time.
pub(crate) fn parse_since(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    let s = s.trim();
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| SystemTime::from(t.and_utc()));
    date.or_else(|| parse_time(s)).ok_or_else(|| {
        format!(
            "--since `{s}` is neither a duration (7d, 24h, 90m), a date (2026-11-01) nor an RFC 3339 time"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_dates_and_times() {
        let now = humantime::parse_rfc3339("2026-11-21T12:00:00Z").unwrap();
        let at = |s: &str| format_time(parse_since(s, now).unwrap());
        assert_eq!(at("7d"), "2026-11-14T12:00:00Z");
        assert_eq!(at("24h"), "2026-11-20T12:00:00Z");
        assert_eq!(at("90m"), "2026-11-21T10:30:00Z");
        assert_eq!(at("2026-11-01"), "2026-11-01T00:00:00Z");
        assert_eq!(at("2026-11-01T08:00:00+01:00"), "2026-11-01T07:00:00Z");
        assert_eq!(at("2026-11-01T08:00:00.250Z"), "2026-11-01T08:00:00Z");
        assert!(parse_since("last week", now).is_err());
        assert!(parse_since("2026-13-01", now).is_err());
    }

    #[test]
    fn since_refuses_non_ascii_without_panicking() {
        let now = SystemTime::now();
        for s in [
            "2026-11-01T08:00:00é1:00",
            "2026-11-01T08:00:00+0ü:00",
            "2026-11-0é",
            "2026-11-01T08:00:00€",
            "７d",
            "🙂🙂🙂🙂🙂🙂🙂",
            "2026-11-01T08:00:00+01:00ß",
        ] {
            assert!(parse_since(s, now).is_err(), "{s}");
        }
    }
}
