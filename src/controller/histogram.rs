//! A fixed-bucket Prometheus histogram in atomics (reconcile durations per kind).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds in seconds: a cached no-op reconcile is well under a millisecond; a decrypt
/// and apply a few milliseconds; Vault and apiserver round trips tens to hundreds.
pub const BUCKETS: [f64; 11] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or below each bound (not cumulative; summed when rendered).
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The `_bucket`, `_sum` and `_count` lines of `name` with the label `labels`
    /// (`kind="EncryptedSecret"`); HELP and TYPE are the caller's.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let secs = self.micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {secs}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_inf_counts_everything() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(9));
        let mut out = String::new();
        h.render(&mut out, "x", "kind=\"K\"");
        assert!(out.contains("x_bucket{kind=\"K\",le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{kind=\"K\",le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{kind=\"K\",le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{kind=\"K\",le=\"5\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{kind=\"K\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{kind=\"K\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{kind=\"K\"} 9.0033\n"), "{out}");
    }
}
