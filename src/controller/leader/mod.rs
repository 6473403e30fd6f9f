//! Leader election on a `Lease`: one active writer among replicas; a replica that loses the
//! lease stops writing at once.
//!
//! The protocol is client-go's: the holder renews the `coordination.k8s.io/v1` Lease every
//! [`RETRY_PERIOD`] with optimistic concurrency (`resourceVersion`); the others take it over
//! when they have seen it unchanged for [`LEASE_DURATION`] by their own clock (so clock skew
//! between nodes does not matter). A holder that could not renew within [`RENEW_DEADLINE`]
//! of its last renewal stops leading before anyone else may take over.
//! (kube-lease-manager 0.13 was the first choice; its watch loop keeps reporting "leader"
//! while renewals fail, so a replica cut off from the apiserver would keep writing.)

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};

/// How long a lease is valid after its last renewal (`leaseDurationSeconds`).
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// The holder gives up leading when it could not renew for this long.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often the holder renews and the others try to acquire.
pub const RETRY_PERIOD: Duration = Duration::from_secs(5);

/// Whether this replica may write now. Cheap to clone; every writer checks it right before
/// each write.
#[derive(Clone, Debug)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
}

impl Leadership {
    /// A leadership that is always held: a single replica run with `--leader-elect=false`,
    /// and tests.
    pub fn always() -> Leadership {
        let (tx, rx) = watch::channel(true);
        // The receiver keeps the last value once the sender is gone.
        drop(tx);
        Leadership { rx }
    }

    /// A leadership driven by `tx` (the election loop's side).
    pub fn channel() -> (watch::Sender<bool>, Leadership) {
        let (tx, rx) = watch::channel(false);
        (tx, Leadership { rx })
    }

    /// True while this replica holds the lease.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until this replica holds the lease (returns at once if it does).
    pub async fn acquired(&mut self) {
        let _ = self.rx.wait_for(|held| *held).await;
    }

    /// Waits for the next change and returns the new state. Never returns for
    /// [`Leadership::always`].
    pub async fn changed(&mut self) -> bool {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        *self.rx.borrow_and_update()
    }

    /// Waits until this replica no longer holds the lease. Never returns for
    /// [`Leadership::always`].
    pub async fn lost(&mut self) {
        if self.rx.wait_for(|held| !*held).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Where the lease lives and who this replica is.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub namespace: String,
    pub lease_name: String,
    pub identity: String,
}

impl LeaseSettings {
    pub fn new(namespace: &str, lease_name: &str, identity: &str) -> LeaseSettings {
        LeaseSettings {
            namespace: namespace.to_owned(),
            lease_name: lease_name.to_owned(),
            identity: identity.to_owned(),
        }
    }
}

/// What this replica should do with the lease it just read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Write it with this replica as holder: it is free, expired, or already ours (renewal).
    Take,
    /// Someone else holds it and has renewed it recently.
    Wait,
}

/// Remembers when the lease record last changed, by this replica's clock.
#[derive(Debug, Default)]
pub struct Observer {
    last: Option<(Option<String>, Option<String>)>,
    since: Option<Instant>,
}

impl Observer {
    /// Notes the lease as read at `now`: its holder and resource version.
    pub fn observe(&mut self, holder: Option<&str>, version: Option<&str>, now: Instant) {
        let record = (holder.map(str::to_owned), version.map(str::to_owned));
        if self.last.as_ref() != Some(&record) {
            self.last = Some(record);
            self.since = Some(now);
        }
    }

    /// The step for `me` at `now`, given the last observation and the lease's duration.
    pub fn decide(&self, me: &str, duration: Duration, now: Instant) -> Step {
        let holder = self.last.as_ref().and_then(|(h, _)| h.as_deref()).unwrap_or("");
        if holder.is_empty() || holder == me {
            return Step::Take;
        }
        match self.since {
            Some(since) if now.saturating_duration_since(since) < duration => Step::Wait,
            _ => Step::Take,
        }
    }
}

/// Why one round of the election failed (it is retried).
#[derive(Debug, thiserror::Error)]
enum LeaseError {
    #[error("failed to read or write the Lease {namespace}/{name}")]
    Api {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("the Lease {namespace}/{name} did not answer within the renew deadline")]
    Timeout { namespace: String, name: String },
}

/// Runs the election forever, reporting through `tx` whether this replica leads.
///
/// `tx` turns true after a successful acquire or renewal, and false at once when another
/// replica holds the lease, a write loses the optimistic-concurrency race, or no renewal
/// succeeded for [`RENEW_DEADLINE`].
pub async fn run_election(client: Client, settings: LeaseSettings, tx: watch::Sender<bool>) {
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    let mut observer = Observer::default();
    // While leading: the instant leadership ends unless renewed.
    let mut deadline: Option<Instant> = None;
    loop {
        let started = Instant::now();
        let limit = deadline.map_or(RENEW_DEADLINE, |d| d.saturating_duration_since(started));
        let outcome = match timeout(limit, round(&api, &settings, &mut observer, started)).await {
            Ok(result) => result,
            Err(_) => Err(LeaseError::Timeout {
                namespace: settings.namespace.clone(),
                name: settings.lease_name.clone(),
            }),
        };
        match outcome {
            Ok(true) => {
                deadline = Some(started + RENEW_DEADLINE);
                set(&tx, true, &settings);
            }
            Ok(false) => {
                deadline = None;
                set(&tx, false, &settings);
            }
            Err(e) => {
                tracing::warn!(error = %e, "leader election round failed; retrying");
            }
        }
        if let Some(d) = deadline
            && Instant::now() >= d
        {
            deadline = None;
            set(&tx, false, &settings);
        }
        let wake = Instant::now() + RETRY_PERIOD;
        sleep_until(deadline.map_or(wake, |d| wake.min(d))).await;
        if let Some(d) = deadline
            && Instant::now() >= d
        {
            deadline = None;
            set(&tx, false, &settings);
        }
    }
}

/// Reports a change of leadership (and logs it once).
fn set(tx: &watch::Sender<bool>, leading: bool, settings: &LeaseSettings) {
    let changed = tx.send_if_modified(|held| {
        let changed = *held != leading;
        *held = leading;
        changed
    });
    if changed {
        let lease = format!("{}/{}", settings.namespace, settings.lease_name);
        if leading {
            tracing::info!(%lease, identity = %settings.identity, "acquired the leader lease");
        } else {
            tracing::warn!(%lease, identity = %settings.identity, "no longer the leader");
        }
    }
}

/// One round: read the lease, and take or renew it if [`Observer::decide`] says so. Returns
/// whether this replica holds it now.
async fn round(
    api: &Api<Lease>,
    settings: &LeaseSettings,
    observer: &mut Observer,
    now: Instant,
) -> Result<bool, LeaseError> {
    let err = |source| LeaseError::Api {
        namespace: settings.namespace.clone(),
        name: settings.lease_name.clone(),
        source,
    };
    let wall = MicroTime(jiff::Timestamp::now());
    let duration_secs = i32::try_from(LEASE_DURATION.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&settings.lease_name).await.map_err(err)? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(settings.lease_name.clone()),
                namespace: Some(settings.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(settings.identity.clone()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(wall.clone()),
                renew_time: Some(wall),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(err(e)),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let duration = spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(LEASE_DURATION, Duration::from_secs);
    observer.observe(
        spec.holder_identity.as_deref(),
        lease.metadata.resource_version.as_deref(),
        now,
    );
    if observer.decide(&settings.identity, duration, now) == Step::Wait {
        return Ok(false);
    }
    if spec.holder_identity.as_deref() != Some(settings.identity.as_str()) {
        spec.holder_identity = Some(settings.identity.clone());
        spec.acquire_time = Some(wall.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
    }
    spec.renew_time = Some(wall);
    spec.lease_duration_seconds = Some(duration_secs);
    // `replace` sends the resourceVersion read above: a concurrent write makes it fail (409).
    match api.replace(&settings.lease_name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(err(e)),
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 409)
}

#[cfg(test)]
mod tests;
