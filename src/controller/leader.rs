//! Leader election on a `Lease`: one active writer among replicas; a replica that loses the
//! lease stops writing at once.

use tokio::sync::watch;

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

/// Runs the election forever, reporting through `tx` whether this replica leads.
pub async fn run_election(
    _client: kube::Client,
    _settings: LeaseSettings,
    _tx: watch::Sender<bool>,
) {
    todo!("leader election on a Lease")
}
