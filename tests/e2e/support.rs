//! The runner's plumbing: the scenario result type, error context, and polling a condition on
//! the real apiserver until a deadline (never a fixed sleep as an assertion).

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// A scenario step: `Err` carries the reason printed on the FAILED line.
pub type R<T = ()> = Result<T, String>;

/// Attaches what was being done to any displayable error.
pub trait Ctx<T> {
    fn ctx(self, what: impl Display) -> R<T>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: impl Display) -> R<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

impl<T> Ctx<T> for Option<T> {
    fn ctx(self, what: impl Display) -> R<T> {
        self.ok_or_else(|| what.to_string())
    }
}

/// Fails with `message` unless `cond` holds.
pub fn ensure(cond: bool, message: impl FnOnce() -> String) -> R {
    if cond { Ok(()) } else { Err(message()) }
}

/// Polls `probe` until it returns `Ok`, at most `timeout`. `Err` from the probe means "not
/// yet" (apiserver hiccups included) and is kept: the last one is the failure's reason.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> R<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = R<T>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        let last = match probe().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if started.elapsed() >= timeout {
            return Err(format!(
                "{what}: not true after {}s; last seen: {last}",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(1000));
    }
}

/// An informational line under the current scenario (measurements, findings).
pub fn note(text: impl Display) {
    println!("    {text}");
}

/// A short random lowercase suffix for names (DNS-label safe).
pub fn random_suffix(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}
