//! Timestamps as SOPS reads and writes them: RFC 3339 parsing, Go's `RFC3339Nano` and whole-second
//! RFC 3339 formatting, with the original UTC offset kept.

use std::fmt;

/// An instant with the UTC offset it was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
    /// Offset from UTC in seconds (east positive); 0 prints as `Z`.
    pub offset_secs: i32,
}

/// Why a timestamp did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 timestamp: expected YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)")]
pub struct TimestampError;

impl Timestamp {
    /// The current time in UTC, whole seconds.
    pub fn now_utc() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp { unix_secs: secs, nanos: 0, offset_secs: 0 }
    }

    /// Builds a timestamp from civil date and time fields in the given offset.
    pub fn from_civil(
        date: (i64, u32, u32),
        time: (u32, u32, u32),
        nanos: u32,
        offset_secs: i32,
    ) -> Option<Self> {
        let (y, m, d) = date;
        let (hh, mm, ss) = time;
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        if hh > 23 || mm > 59 || ss > 59 || nanos >= 1_000_000_000 {
            return None;
        }
        let days = days_from_civil(y, m, d);
        let local = days * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss);
        Some(Timestamp { unix_secs: local - i64::from(offset_secs), nanos, offset_secs })
    }

    /// Parses RFC 3339 as Go's `time.Parse(time.RFC3339, …)` does: a fraction of a second is
    /// allowed, `T`/`t` separate date and time, the zone is `Z`/`z` or `±HH:MM`.
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimestampError> {
        let b = s.as_bytes();
        let num = |from: usize, len: usize| -> Result<u32, TimestampError> {
            let part = b.get(from..from + len).ok_or(TimestampError)?;
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(TimestampError);
            }
            Ok(part.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
        };
        let expect = |at: usize, c: &[u8]| -> Result<(), TimestampError> {
            match b.get(at) {
                Some(x) if c.contains(x) => Ok(()),
                _ => Err(TimestampError),
            }
        };
        let year = num(0, 4)?;
        expect(4, b"-")?;
        let month = num(5, 2)?;
        expect(7, b"-")?;
        let day = num(8, 2)?;
        expect(10, b"Tt")?;
        let hour = num(11, 2)?;
        expect(13, b":")?;
        let minute = num(14, 2)?;
        expect(16, b":")?;
        let second = num(17, 2)?;
        let mut i = 19;
        let mut nanos = 0u32;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &b[start..i];
            if digits.is_empty() {
                return Err(TimestampError);
            }
            for (k, d) in digits.iter().take(9).enumerate() {
                nanos += u32::from(d - b'0') * 10u32.pow(8 - k as u32);
            }
        }
        let offset = match b.get(i) {
            Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
                let sign = if *sign == b'-' { -1 } else { 1 };
                let oh = num(i + 1, 2)?;
                expect(i + 3, b":")?;
                let om = num(i + 4, 2)?;
                if oh > 23 || om > 59 {
                    return Err(TimestampError);
                }
                sign * (oh as i32 * 3600 + om as i32 * 60)
            }
            _ => return Err(TimestampError),
        };
        Timestamp::from_civil((i64::from(year), month, day), (hour, minute, second), nanos, offset)
            .ok_or(TimestampError)
    }

    fn civil(&self) -> ((i64, u32, u32), (u32, u32, u32)) {
        let local = self.unix_secs + i64::from(self.offset_secs);
        let days = local.div_euclid(86_400);
        let rem = local.rem_euclid(86_400) as u32;
        (civil_from_days(days), (rem / 3600, rem / 60 % 60, rem % 60))
    }

    fn write_zone(&self, out: &mut String) {
        if self.offset_secs == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset_secs < 0 { '-' } else { '+' };
            let abs = self.offset_secs.unsigned_abs();
            out.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60));
        }
    }

    fn write_date_time(&self, out: &mut String) {
        let ((y, mo, d), (h, mi, s)) = self.civil();
        out.push_str(&format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}"));
    }

    /// Go's `time.RFC3339` layout: whole seconds, `Z` or `±HH:MM`. This is the AAD of the MAC.
    pub fn to_rfc3339_secs(&self) -> String {
        let mut out = String::with_capacity(25);
        self.write_date_time(&mut out);
        self.write_zone(&mut out);
        out
    }

    /// Go's `time.RFC3339Nano` layout: the fraction without trailing zeros (none when zero).
    pub fn to_rfc3339_nano(&self) -> String {
        let mut out = String::with_capacity(35);
        self.write_date_time(&mut out);
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        self.write_zone(&mut out);
        out
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_nano())
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1-12) of year `y`.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lastmodified_aad_drops_fraction_and_prints_zero_offset_as_z() {
        for input in
            ["2026-11-22T01:57:09Z", "2026-11-22T01:57:09.000+00:00", "2026-11-22T01:57:09.5Z"]
        {
            let t = Timestamp::parse_rfc3339(input).unwrap();
            assert_eq!(t.to_rfc3339_secs(), "2026-11-22T01:57:09Z", "{input}");
        }
    }

    #[test]
    fn keeps_non_zero_offset() {
        let t = Timestamp::parse_rfc3339("2026-11-22T01:57:09+01:00").unwrap();
        assert_eq!(t.to_rfc3339_secs(), "2026-11-22T01:57:09+01:00");
        assert_eq!(
            t.unix_secs,
            Timestamp::parse_rfc3339("2026-11-22T00:57:09Z").unwrap().unix_secs
        );
    }

    #[test]
    fn nano_layout_trims_trailing_zeros() {
        let t = Timestamp::parse_rfc3339("2024-01-02T03:04:05.120Z").unwrap();
        assert_eq!(t.to_rfc3339_nano(), "2024-01-02T03:04:05.12Z");
        let t = Timestamp::parse_rfc3339("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(t.to_rfc3339_nano(), "2024-01-02T03:04:05Z");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2024-01-02",
            "2024-13-02T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-01-02T00:00:00",
            "2024-01-02T00:00:00Zx",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in [-800_000i64, -1, 0, 1, 59, 365, 11_000, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
