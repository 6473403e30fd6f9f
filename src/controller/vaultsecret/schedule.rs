//! When a `VaultSecret` is read again: refresh times spread per object (never bunched), backoff
//! after failures, and the decision whether this reconcile reads at all.

use std::time::Duration;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

/// How far refreshes are spread around the interval: ±10%.
pub const JITTER: f64 = 0.10;
/// First delay after a failed read, doubled per consecutive failure up to [`MAX_RETRY`].
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
pub const MAX_RETRY: Duration = Duration::from_secs(300);
/// How soon a refusal that a change elsewhere could cure (a foreign Secret removed, a
/// namespace relabelled) is tried again.
pub const REFUSAL_RECHECK: Duration = Duration::from_secs(300);

/// The object's fixed place in the jitter range, in [-1, 1]: from its uid, so each object
/// keeps its own offset and many objects spread evenly.
pub fn spread(uid: &str) -> f64 {
    let digest = Sha256::digest(uid.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let unit = u64::from_be_bytes(first) as f64 / u64::MAX as f64;
    unit * 2.0 - 1.0
}

/// `interval` stretched or shrunk by up to ±10% by the object's [`spread`].
pub fn jittered(interval: Duration, uid: &str) -> Duration {
    interval.mul_f64(1.0 + JITTER * spread(uid))
}

/// The next refresh after a successful one at `last`.
pub fn next_refresh(last: Timestamp, interval: Duration, uid: &str) -> Timestamp {
    add(last, jittered(interval, uid))
}

/// The delay after `failures` consecutive failed reads: 5 s doubling to 5 min, never beyond
/// the refresh interval, spread by the object's jitter so that many objects failing together
/// (Vault down) do not retry together.
pub fn retry_delay(failures: u32, interval: Option<Duration>, uid: &str) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let mut delay = FIRST_RETRY.saturating_mul(1 << exp).min(MAX_RETRY);
    if let Some(i) = interval {
        delay = delay.min(i);
    }
    jittered(delay, uid)
}

/// How old a shared read may be for this object: the width of the jitter window, so that the
/// objects reading a path within one refresh window share one read.
pub fn max_age(interval: Option<Duration>) -> Duration {
    interval.map_or(Duration::from_secs(30), |i| i.mul_f64(2.0 * JITTER))
}

/// `t + d`, saturating.
pub fn add(t: Timestamp, d: Duration) -> Timestamp {
    let span = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    t.checked_add(span).unwrap_or(Timestamp::MAX)
}

/// The time from `now` until `t` (zero when past).
pub fn until(now: Timestamp, t: Timestamp) -> Duration {
    Duration::try_from(t.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// Which store a `VaultSecret` read through: a changed store means reading again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStamp {
    pub kind: &'static str,
    pub name: String,
    pub uid: Option<String>,
    pub generation: Option<i64>,
}

/// What the controller remembers of a `VaultSecret` between reconciles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshState {
    pub uid: Option<String>,
    pub generation: Option<i64>,
    pub store: StoreStamp,
    /// The last attempt wrote (or confirmed) the Secret.
    pub ok: bool,
    /// When to read again (refresh, or retry after a failure).
    pub next: Timestamp,
}

/// Whether this reconcile reads from Vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Read now, for this reason (for the debug log).
    Now(&'static str),
    /// Nothing to do until then.
    Later(Duration),
    /// Nothing to do until something changes (`refreshInterval: 0`).
    Never,
}

/// The object as it is now, for [`due`].
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub uid: Option<&'a str>,
    pub generation: Option<i64>,
    pub store: &'a StoreStamp,
    /// The Secret has changed or gone since the controller last wrote it.
    pub drifted: bool,
    pub now: Timestamp,
}

/// Decides whether to read. A changed object or store, a drifted Secret (after a success) or a
/// due time reads; anything else waits.
pub fn due(state: Option<&RefreshState>, seen: &Observed<'_>) -> Due {
    let Some(state) = state else { return Due::Now("first read") };
    if state.uid.as_deref() != seen.uid || state.generation != seen.generation {
        return Due::Now("the object changed");
    }
    if &state.store != seen.store {
        return Due::Now("the store changed");
    }
    if state.ok && seen.drifted {
        return Due::Now("the Secret changed or is gone");
    }
    if seen.now >= state.next {
        return Due::Now("refresh due");
    }
    if state.ok && state.next == Timestamp::MAX {
        return Due::Never;
    }
    Due::Later(until(seen.now, state.next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn each_object_keeps_its_own_offset_within_ten_percent() {
        let hour = Duration::from_secs(3600);
        assert_eq!(jittered(hour, "uid-1"), jittered(hour, "uid-1"), "deterministic");
        let mut offsets: Vec<f64> =
            (0..1000).map(|i| jittered(hour, &format!("uid-{i}")).as_secs_f64() - 3600.0).collect();
        assert!(offsets.iter().all(|o| o.abs() <= 360.0 + 1e-6), "within ±10%");
        offsets.sort_by(f64::total_cmp);
        // Never bunched: 1,000 objects over the 12-minute window leave no one-minute bucket
        // with more than a fifth of them, and use both halves of the window.
        let mut buckets = [0usize; 12];
        for o in &offsets {
            buckets[(((o + 360.0) / 60.0) as usize).min(11)] += 1;
        }
        assert!(buckets.iter().all(|&n| n < 200 && n > 20), "{buckets:?}");
    }

    #[test]
    fn the_next_refresh_follows_the_last_one() {
        let last = t("2026-12-02T10:00:00Z");
        let next = next_refresh(last, Duration::from_secs(3600), "uid-1");
        let gap = until(last, next).as_secs_f64();
        assert!((3240.0..=3960.0).contains(&gap), "{gap}");
        assert_eq!(until(next, last), Duration::ZERO);
    }

    #[test]
    fn retries_back_off_and_stay_below_the_interval() {
        let d = |n| retry_delay(n, Some(Duration::from_secs(3600)), "u").as_secs_f64();
        assert!((4.5..=5.5).contains(&d(1)), "{}", d(1));
        assert!((9.0..=11.0).contains(&d(2)), "{}", d(2));
        assert!(d(3) > d(2) && d(20) <= 330.0, "capped at 5 min: {}", d(20));
        let short = retry_delay(10, Some(Duration::from_secs(60)), "u").as_secs_f64();
        assert!(short <= 66.0, "never beyond the refresh interval: {short}");
        assert!(
            retry_delay(1, Some(Duration::from_secs(60)), "a")
                != retry_delay(1, Some(Duration::from_secs(60)), "b")
        );
    }

    #[test]
    fn shared_reads_cover_the_jitter_window() {
        assert_eq!(max_age(Some(Duration::from_secs(3600))), Duration::from_secs(720));
        assert_eq!(max_age(None), Duration::from_secs(30));
    }

    fn stamp(generation: i64) -> StoreStamp {
        StoreStamp {
            kind: "SecretStore",
            name: "vault".into(),
            uid: Some("s".into()),
            generation: Some(generation),
        }
    }

    #[test]
    fn reads_happen_only_when_something_calls_for_them() {
        let now = t("2026-12-02T10:30:00Z");
        let store = stamp(1);
        let state = RefreshState {
            uid: Some("u".into()),
            generation: Some(2),
            store: store.clone(),
            ok: true,
            next: t("2026-12-02T11:00:00Z"),
        };
        let seen =
            Observed { uid: Some("u"), generation: Some(2), store: &store, drifted: false, now };
        assert_eq!(due(None, &seen), Due::Now("first read"));
        assert_eq!(due(Some(&state), &seen), Due::Later(Duration::from_secs(1800)));
        let newer = Observed { generation: Some(3), ..seen.clone() };
        assert_eq!(due(Some(&state), &newer), Due::Now("the object changed"));
        let store2 = stamp(2);
        let moved = Observed { store: &store2, ..seen.clone() };
        assert_eq!(due(Some(&state), &moved), Due::Now("the store changed"));
        let drifted = Observed { drifted: true, ..seen.clone() };
        assert_eq!(due(Some(&state), &drifted), Due::Now("the Secret changed or is gone"));
        let late = Observed { now: t("2026-12-02T11:00:00Z"), ..seen.clone() };
        assert_eq!(due(Some(&state), &late), Due::Now("refresh due"));
        // After a failure, a drifted Secret waits for the retry time like everything else.
        let failing = RefreshState { ok: false, ..state.clone() };
        assert_eq!(due(Some(&failing), &drifted), Due::Later(Duration::from_secs(1800)));
        let never = RefreshState { next: Timestamp::MAX, ..state };
        assert_eq!(due(Some(&never), &seen), Due::Never);
    }
}
