//! The kube client: in-cluster or kubeconfig, with a client-side token bucket (`--kube-qps`,
//! `--kube-burst`) so a resync of thousands of objects is fast but cannot flood the apiserver.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use kube::Client;
use kube::client::ClientBuilder;
use tokio::time::{Instant, Sleep, sleep};
use tower::{Layer, Service};

use super::config::ControllerConfig;

/// Connects as `kubectl` would: the in-cluster service account, else `KUBECONFIG` or
/// `~/.kube/config`.
///
/// # Errors
/// The kube error when no configuration is found or it is unusable.
pub async fn connect(cfg: &ControllerConfig) -> Result<Client, kube::Error> {
    let config = kube::Config::infer().await.map_err(kube::Error::InferConfig)?;
    let throttle = ThrottleLayer { qps: cfg.kube_qps, burst: cfg.kube_burst };
    Ok(ClientBuilder::try_from(config)?.with_layer(&throttle).build())
}

/// A token bucket: `burst` requests at once, then `qps` per second.
#[derive(Debug, Clone)]
pub struct Bucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(qps: f64, burst: u32, now: Instant) -> Bucket {
        let qps = if qps.is_finite() && qps > 0.0 { qps } else { f64::INFINITY };
        let burst = f64::from(burst.max(1));
        Bucket { qps, burst, tokens: burst, last: now }
    }

    /// Takes a token: `None` when one was available, else how long to wait for it (the token
    /// is reserved either way).
    pub fn take(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.tokens -= 1.0;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.qps))
    }
}

/// Adds a [`Throttle`] to the client's service stack.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLayer {
    pub qps: f64,
    pub burst: u32,
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;
    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle {
            inner,
            bucket: Bucket::new(self.qps, self.burst, Instant::now()),
            wait: None,
            reserved: false,
        }
    }
}

/// Holds each request in `poll_ready` until the bucket has a token for it.
pub struct Throttle<S> {
    inner: S,
    bucket: Bucket,
    wait: Option<Pin<Box<Sleep>>>,
    reserved: bool,
}

impl<S: Service<R>, R> Service<R> for Throttle<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if !self.reserved {
            if self.wait.is_none()
                && let Some(delay) = self.bucket.take(Instant::now())
            {
                self.wait = Some(Box::pin(sleep(delay)));
            }
            if let Some(wait) = self.wait.as_mut() {
                ready!(wait.as_mut().poll(cx));
                self.wait = None;
            }
            self.reserved = true;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.reserved = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_free_then_requests_are_spaced_by_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, 3, t0);
        assert_eq!(b.take(t0), None);
        assert_eq!(b.take(t0), None);
        assert_eq!(b.take(t0), None);
        let wait = b.take(t0).expect("the burst is spent");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        let wait = b.take(t0).expect("still spent");
        assert!((wait.as_secs_f64() - 0.2).abs() < 1e-9, "{wait:?}");
        // A second later the debt is paid and tokens refill up to the burst only.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.take(later), None);
        assert_eq!(b.take(later), None);
        assert_eq!(b.take(later), None);
        assert!(b.take(later).is_some());
    }

    #[test]
    fn a_zero_rate_means_unthrottled() {
        let t0 = Instant::now();
        let mut b = Bucket::new(0.0, 1, t0);
        for _ in 0..100 {
            assert!(b.take(t0).is_none_or(|d| d.is_zero()));
        }
    }
}
