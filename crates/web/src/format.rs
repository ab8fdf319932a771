//! Times and durations as people read them; the raw numbers stay on the wire and on hover.

use crate::model::Ttl;

/// `23 h 59 m 58 s`, `4 m 05 s`, `3 s`, `2 d 03 h`: the two or three largest units.
pub fn duration_text(seconds: u64) -> String {
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, _) => format!("{minutes} m {secs:02} s"),
        (0, _, _) => format!("{hours} h {minutes:02} m {secs:02} s"),
        _ => format!("{days} d {hours:02} h {minutes:02} m"),
    }
}

/// A TTL as the page reads it; `persistent` names the layer that has no TTL.
pub fn ttl_text(ttl: Ttl, persistent: &str) -> String {
    match ttl {
        Ttl::Missing => "missing".into(),
        Ttl::Persistent => persistent.into(),
        Ttl::Left(0) => "expired".into(),
        Ttl::Left(left) => duration_text(left),
    }
}

/// `2026-11-25 23:41:14 UTC` for a Unix time in milliseconds.
pub fn utc_text(unix_ms: u64) -> String {
    match time::OffsetDateTime::from_unix_timestamp((unix_ms / 1000) as i64) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{unix_ms} ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_largest_units() {
        assert_eq!(duration_text(3), "3 s");
        assert_eq!(duration_text(245), "4 m 05 s");
        assert_eq!(duration_text(86_398), "23 h 59 m 58 s");
        assert_eq!(duration_text(183_600), "2 d 03 h 00 m");
        assert_eq!(ttl_text(Ttl::Left(0), "no TTL"), "expired");
        assert_eq!(
            ttl_text(Ttl::Persistent.after(5), "no key TTL"),
            "no key TTL"
        );
    }

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(utc_text(1_764_114_074_000), "2025-11-25 23:41:14 UTC");
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
    }
}
