//! One token per identity: logged in once, renewed at about 2/3 of its TTL, logged in again
//! only when renewal fails or the token reaches its maximum TTL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vaultrs::client::{Client as _, VaultClient};
use zeroize::Zeroizing;

use super::client::{build, classify};
use super::error::VaultError;
use super::session::{Connection, Credentials};

/// A logged-in token and the client that sends it.
pub(crate) struct Session {
    pub(crate) client: Arc<VaultClient>,
    /// Kept to zeroize on drop; vaultrs holds its own (plain) copy inside `client`.
    _token: Zeroizing<String>,
    /// When to renew (`None`: the token never expires).
    pub(crate) renew_at: Option<Instant>,
    expires_at: Option<Instant>,
    renewable: bool,
    /// The TTL granted at login; a renewal granting much less means the max TTL is near.
    granted: Duration,
    /// Renewal no longer extends the token enough: log in again at `renew_at`.
    relogin_due: bool,
}

/// What a session change cost, for the pool's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Effort {
    pub(crate) logins: u64,
    pub(crate) renewals: u64,
    pub(crate) failures: u64,
}

/// The session of one identity, guarded by an async mutex so that concurrent users wait for one
/// login instead of each logging in.
pub(crate) struct Slot {
    pub(crate) connection: Connection,
    pub(crate) credentials: Credentials,
    pub(crate) session: Option<Session>,
    pub(crate) last_used: Instant,
    pub(crate) renewer_running: bool,
}

impl Slot {
    pub(crate) fn new(connection: Connection, credentials: Credentials) -> Slot {
        Slot {
            connection,
            credentials,
            session: None,
            last_used: Instant::now(),
            renewer_running: false,
        }
    }

    /// Makes sure the slot holds a usable token: reuses it, renews it when due, logs in when
    /// there is none or renewal failed. Returns the client and what it took.
    pub(crate) async fn ensure(&mut self) -> (Result<Arc<VaultClient>, VaultError>, Effort) {
        let mut effort = Effort::default();
        let now = Instant::now();
        if let Some(s) = &mut self.session {
            let expired = s.expires_at.is_some_and(|e| now >= e);
            let due = s.renew_at.is_some_and(|r| now >= r);
            if !expired && !due {
                return (Ok(s.client.clone()), effort);
            }
            if !expired && s.renewable && !s.relogin_due {
                effort.renewals += 1;
                match renew(s).await {
                    Ok(()) => return (Ok(s.client.clone()), effort),
                    Err(e) => {
                        effort.failures += 1;
                        tracing::warn!(
                            server = %self.connection.server,
                            error = %e,
                            "Vault token renewal failed; logging in again"
                        );
                    }
                }
            } else if !expired && !self.credentials.can_login() {
                // A given token that cannot be renewed is used until it expires.
                s.renew_at = s.expires_at;
                return (Ok(s.client.clone()), effort);
            }
        }
        self.session = None;
        effort.logins += 1;
        match login(&self.connection, &self.credentials).await {
            Ok(s) => {
                let client = s.client.clone();
                self.session = Some(s);
                (Ok(client), effort)
            }
            Err(e) => {
                effort.failures += 1;
                (Err(e), effort)
            }
        }
    }

    /// After a 403: is the token itself still good? If not, forget it (the next `ensure` logs
    /// in). Returns whether the session was dropped.
    pub(crate) async fn drop_if_token_invalid(&mut self) -> bool {
        let Some(s) = &self.session else { return false };
        match s.client.lookup().await {
            Ok(_) => false,
            Err(_) => {
                self.session = None;
                true
            }
        }
    }
}

impl Credentials {
    /// Whether a new token can be obtained (a given token cannot be replaced by us).
    pub(crate) fn can_login(&self) -> bool {
        !matches!(self, Credentials::Token { .. })
    }
}

async fn renew(s: &mut Session) -> Result<(), VaultError> {
    let auth = s.client.renew(None).await.map_err(|e| classify(e, "renew the Vault token"))?;
    let ttl = Duration::from_secs(auth.lease_duration);
    let now = Instant::now();
    set_deadlines(s, now, ttl);
    // Renewal capped well below the original grant: the maximum TTL is close.
    s.relogin_due = ttl < s.granted / 3;
    Ok(())
}

fn set_deadlines(s: &mut Session, now: Instant, ttl: Duration) {
    if ttl.is_zero() {
        s.renew_at = None;
        s.expires_at = None;
    } else {
        s.renew_at = Some(now + ttl * 2 / 3);
        s.expires_at = Some(now + ttl);
    }
}

async fn login(conn: &Connection, creds: &Credentials) -> Result<Session, VaultError> {
    let auth_failed = |e: VaultError, method: &str| match e {
        VaultError::Unavailable(m) => VaultError::Unavailable(m),
        // 400 (bad secret id), 401, 403 (bad JWT, unknown role), 404 (no such mount): the
        // credentials or their auth method are wrong.
        other => VaultError::AuthFailed(format!("{method} login: {}", message(&other))),
    };
    let started = Instant::now();
    let (mut client, token, ttl, renewable) = match creds {
        Credentials::Token { token } => {
            let client = build(conn, token)?;
            let info = client.lookup().await.map_err(|e| {
                auth_failed(classify(e, &format!("look up the token at {}", conn.server)), "token")
            })?;
            let renewable = info.renewable.unwrap_or(false);
            (client, token.clone(), Duration::from_secs(info.ttl), renewable)
        }
        Credentials::AppRole { mount, role_id, secret_id } => {
            let client = build(conn, "")?;
            let what = format!("AppRole login at {}/v1/auth/{mount}", conn.server);
            let auth = vaultrs::auth::approle::login(&client, mount, role_id, secret_id)
                .await
                .map_err(|e| auth_failed(classify(e, &what), "AppRole"))?;
            let ttl = Duration::from_secs(auth.lease_duration);
            (client, Zeroizing::new(auth.client_token), ttl, auth.renewable)
        }
        Credentials::Kubernetes { mount, role, jwt, .. } => {
            let jwt = jwt().await?;
            let client = build(conn, "")?;
            let what =
                format!("Kubernetes login at {}/v1/auth/{mount} as role {role}", conn.server);
            let auth = vaultrs::auth::kubernetes::login(&client, mount, role, &jwt)
                .await
                .map_err(|e| auth_failed(classify(e, &what), "Kubernetes"))?;
            let ttl = Duration::from_secs(auth.lease_duration);
            (client, Zeroizing::new(auth.client_token), ttl, auth.renewable)
        }
    };
    client.set_token(&token);
    let mut session = Session {
        client: Arc::new(client),
        _token: token,
        renew_at: None,
        expires_at: None,
        renewable,
        granted: ttl,
        relogin_due: false,
    };
    set_deadlines(&mut session, started, ttl);
    Ok(session)
}

/// The message of an error without its category prefix (used when re-categorizing).
fn message(e: &VaultError) -> String {
    match e {
        VaultError::Unavailable(m)
        | VaultError::AuthFailed(m)
        | VaultError::Forbidden(m)
        | VaultError::NotFound(m)
        | VaultError::Invalid(m) => m.clone(),
    }
}
