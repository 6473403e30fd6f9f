//! Vault/OpenBao transit over HTTP as a SOPS key source ([`VaultTransit`]), configured the way
//! sops configures its Vault client (`VAULT_TOKEN` or `~/.vault-token`, `VAULT_NAMESPACE`,
//! `VAULT_CACERT`/`VAULT_CAPATH`, `VAULT_SKIP_VERIFY`), with the address taken from each key.
//!
//! [`TransitClient`] is synchronous and vaultrs is async, so every request runs on one private
//! thread with its own current-thread tokio runtime, started on first use. A caller inside or
//! outside a tokio runtime only waits for the answer; its runtime is never blocked on.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use zeroize::Zeroizing;

use crate::keys::{EnvSource, ProcessEnv, TransitClient, TransitError, VaultTransitUri};

/// How long one transit request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Vault error strings longer than this are cut in messages.
const MAX_SERVER_MESSAGE: usize = 300;
/// What to do about a missing or refused token.
const LOGIN_HINT: &str =
    "set VAULT_TOKEN, or run `bao login` / `vault login` (they write ~/.vault-token)";

/// Where a Vault token came from (named in messages; the token itself never is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOrigin {
    /// The `VAULT_TOKEN` environment variable.
    Env,
    /// A token file (`~/.vault-token`).
    File(PathBuf),
    /// Handed in by the caller ([`TransitConfig::with_token`]).
    Explicit,
}

impl fmt::Display for TokenOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenOrigin::Env => f.write_str("VAULT_TOKEN"),
            TokenOrigin::File(p) => write!(f, "{}", p.display()),
            TokenOrigin::Explicit => f.write_str("the configured token"),
        }
    }
}

/// A Vault token and where it came from. Zeroized on drop; `Debug` shows only the origin.
pub struct VaultToken {
    secret: Zeroizing<String>,
    origin: TokenOrigin,
}

impl VaultToken {
    /// Where the token came from.
    pub fn origin(&self) -> &TokenOrigin {
        &self.origin
    }
}

impl fmt::Debug for VaultToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultToken")
            .field("origin", &self.origin)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// Finds the token as sops does: `VAULT_TOKEN` when set and not empty, otherwise the content
/// of `<home>/.vault-token` (surrounding whitespace trimmed), otherwise none.
///
/// # Errors
/// [`TransitError::Denied`] when the token file exists but cannot be read or is not text, or a
/// token holds characters an HTTP header cannot carry.
pub fn discover_token(
    env: &dyn EnvSource,
    home: Option<&Path>,
) -> Result<Option<VaultToken>, TransitError> {
    if let Some(value) = env.var("VAULT_TOKEN").filter(|v| !v.is_empty()) {
        let text = into_secret_string(value)
            .ok_or_else(|| TransitError::Denied("VAULT_TOKEN is not UTF-8 text".into()))?;
        return checked_token(text, TokenOrigin::Env);
    }
    let Some(home) = home else { return Ok(None) };
    let path = home.join(".vault-token");
    let bytes = match env.read_file(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(TransitError::Denied(format!(
                "cannot read the Vault token file {}: {e}",
                path.display()
            )));
        }
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        TransitError::Denied(format!("the Vault token file {} is not UTF-8 text", path.display()))
    })?;
    checked_token(Zeroizing::new(text.to_owned()), TokenOrigin::File(path))
}

/// A variable's value as a zeroizing string, or `None` (and wiped) when it is not UTF-8.
fn into_secret_string(value: OsString) -> Option<Zeroizing<String>> {
    match value.into_string() {
        Ok(s) => Some(Zeroizing::new(s)),
        Err(bad) => {
            drop(Zeroizing::new(bad.into_encoded_bytes()));
            None
        }
    }
}

/// Trims the token; an empty one is no token. Refuses characters a header cannot carry (vaultrs
/// would panic on them).
fn checked_token(
    text: Zeroizing<String>,
    origin: TokenOrigin,
) -> Result<Option<VaultToken>, TransitError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if !is_header_safe(trimmed) {
        return Err(TransitError::Denied(format!(
            "the Vault token from {origin} contains characters that are not allowed in a token"
        )));
    }
    Ok(Some(VaultToken { secret: Zeroizing::new(trimmed.to_owned()), origin }))
}

/// Visible ASCII only: what vaultrs can put in `X-Vault-Token` / `X-Vault-Namespace`.
fn is_header_safe(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Which certificates to trust for `https://` servers.
#[derive(Clone, PartialEq, Eq)]
enum CaSource {
    /// The system roots.
    System,
    /// PEM files (`VAULT_CACERT`, the files of `VAULT_CAPATH`).
    Files(Vec<PathBuf>),
    /// A PEM bundle handed in by the caller.
    Pem(Vec<u8>),
}

impl fmt::Debug for CaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaSource::System => f.write_str("System"),
            CaSource::Files(p) => f.debug_tuple("Files").field(p).finish(),
            CaSource::Pem(b) => write!(f, "Pem({} bytes)", b.len()),
        }
    }
}

/// Everything a transit request needs besides the key: token, namespace and TLS trust.
#[derive(Debug)]
pub struct TransitConfig {
    token: Option<VaultToken>,
    namespace: Option<String>,
    ca: CaSource,
    skip_verify: bool,
}

impl TransitConfig {
    /// The configuration sops's Vault client would use: token from [`discover_token`],
    /// `VAULT_NAMESPACE`, `VAULT_CACERT` (a PEM file), `VAULT_CAPATH` (a directory of PEM
    /// files) and `VAULT_SKIP_VERIFY` (Go boolean syntax). `VAULT_ADDR` is not used: the
    /// address is each key's own, as in sops.
    ///
    /// # Errors
    /// An unreadable token file, a malformed variable, or an unreadable `VAULT_CAPATH`.
    pub fn from_env(env: &dyn EnvSource, home: Option<&Path>) -> Result<Self, TransitError> {
        let token = discover_token(env, home)?;
        let text = |name: &str| -> Result<Option<String>, TransitError> {
            match env.var(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .into_string()
                    .map(Some)
                    .map_err(|_| TransitError::Rejected(format!("{name} is not UTF-8 text"))),
            }
        };
        let namespace = text("VAULT_NAMESPACE")?;
        if let Some(ns) = &namespace
            && !is_header_safe(ns)
        {
            return Err(TransitError::Rejected(format!(
                "VAULT_NAMESPACE={ns:?} contains characters that are not allowed in a namespace"
            )));
        }
        let mut files = Vec::new();
        if let Some(path) = text("VAULT_CACERT")? {
            files.push(PathBuf::from(path));
        }
        if let Some(dir) = text("VAULT_CAPATH")? {
            let entries = std::fs::read_dir(&dir).map_err(|e| {
                TransitError::Rejected(format!("cannot read VAULT_CAPATH directory {dir}: {e}"))
            })?;
            let mut found: Vec<PathBuf> =
                entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
            found.sort();
            files.extend(found);
        }
        let skip_verify = match text("VAULT_SKIP_VERIFY")? {
            None => false,
            Some(v) => parse_go_bool(&v).ok_or_else(|| {
                TransitError::Rejected(format!(
                    "VAULT_SKIP_VERIFY={v:?} is not a boolean (use true or false)"
                ))
            })?,
        };
        let ca = if files.is_empty() { CaSource::System } else { CaSource::Files(files) };
        Ok(TransitConfig { token, namespace, ca, skip_verify })
    }

    /// An explicit configuration (for example the controller's own session token): `token`,
    /// an optional Vault namespace, and an optional PEM bundle to trust instead of the system
    /// roots. Nothing is read from the environment.
    pub fn with_token(
        token: Zeroizing<String>,
        namespace: Option<String>,
        ca_bundle: Option<Vec<u8>>,
    ) -> Self {
        let token = Some(VaultToken { secret: token, origin: TokenOrigin::Explicit })
            .filter(|t| !t.secret.is_empty());
        let ca = match ca_bundle {
            Some(pem) if !pem.is_empty() => CaSource::Pem(pem),
            _ => CaSource::System,
        };
        TransitConfig {
            token,
            namespace: namespace.filter(|n| !n.is_empty()),
            ca,
            skip_verify: false,
        }
    }

    /// Where the token comes from, if there is one.
    pub fn token_origin(&self) -> Option<&TokenOrigin> {
        self.token.as_ref().map(|t| &t.origin)
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Which transit operation failed (named in messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Encrypt,
    Decrypt,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Encrypt => "encrypt",
            Op::Decrypt => "decrypt",
        }
    }
}

/// A failed request, reduced to what messages may show.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Vault answered with an HTTP error and its `errors` list.
    Api { code: u16, errors: Vec<String> },
    /// The request did not get an answer (connection, TLS, timeout), or the answer was an
    /// HTTP error that is not Vault's (a proxy's).
    Transport(String),
    /// A 2xx answer that is not a transit answer.
    Unexpected(String),
}

/// What a vaultrs error says, without anything from a request or response body.
fn failure_of(err: &ClientError) -> Failure {
    match err {
        ClientError::APIError { code, errors } => {
            Failure::Api { code: *code, errors: errors.clone() }
        }
        ClientError::ResponseEmptyError | ClientError::ResponseDataEmptyError => {
            Failure::Unexpected("the answer holds no data".into())
        }
        ClientError::JsonParseError { .. } => {
            Failure::Unexpected("the answer is not the JSON Vault sends".into())
        }
        ClientError::RestClientError { source } => {
            // Display texts only: rustify's errors carry bodies in fields that Display omits.
            let mut parts: Vec<String> = vec![source.to_string()];
            let mut next = std::error::Error::source(source);
            while let Some(e) = next {
                let text = e.to_string();
                if !parts.iter().any(|p| p.contains(&text)) {
                    parts.push(text);
                }
                next = e.source();
            }
            let text = parts.join(": ");
            if text.starts_with("Error parsing HTTP response") {
                Failure::Unexpected("the answer is not a Vault transit response".into())
            } else {
                Failure::Transport(text)
            }
        }
        other => Failure::Transport(other.to_string()),
    }
}

/// Vault's own error text, cut to a sane length, with any payload replaced.
fn server_text(errors: &[String], payloads: &[&str]) -> String {
    let mut text = errors.join("; ");
    for p in payloads.iter().filter(|p| p.len() >= 4) {
        text = text.replace(p, "[redacted]");
    }
    if text.contains("vault:v") {
        text = "[redacted: the message quoted a ciphertext]".into();
    }
    if text.chars().count() > MAX_SERVER_MESSAGE {
        text = text.chars().take(MAX_SERVER_MESSAGE).collect::<String>() + "…";
    }
    if text.is_empty() { "no message".into() } else { text }
}

/// Turns a failed request into the error the user reads: the key named, the failure, what to
/// do; never a token or payload.
fn transit_error(
    key: &VaultTransitUri,
    op: Op,
    failure: Failure,
    token: &TokenOrigin,
    payloads: &[&str],
) -> TransitError {
    let what = format!("{} with key {key}", op.name());
    match failure {
        Failure::Api { code, errors } => {
            let said = server_text(&errors, payloads);
            match code {
                401 | 403 => TransitError::Denied(format!(
                    "{what}: HTTP {code} ({said}): the token from {token} is invalid or expired, \
                     or its policy does not allow update on {}/{}/{}; {LOGIN_HINT}",
                    key.engine_path,
                    op.name(),
                    key.key_name
                )),
                429 | 500..=599 => TransitError::Unavailable(format!(
                    "{what}: Vault at {} answered HTTP {code} ({said}); try again later",
                    key.address
                )),
                404 => TransitError::Rejected(format!(
                    "{what}: HTTP 404 ({said}): is a transit engine mounted at {}/?",
                    key.engine_path
                )),
                _ => TransitError::Rejected(format!("{what}: HTTP {code} ({said})")),
            }
        }
        Failure::Transport(reason) => TransitError::Unavailable(format!(
            "{what}: cannot reach Vault at {}: {reason}",
            key.address
        )),
        Failure::Unexpected(reason) => TransitError::Rejected(format!(
            "{what}: {} did not answer like Vault: {reason}",
            key.address
        )),
    }
}

/// Refuses an address vaultrs could not turn into a URL (its builder would panic).
fn check_address(key: &VaultTransitUri) -> Result<(), TransitError> {
    let bad = |why: &str| {
        TransitError::Rejected(format!(
            "invalid vault_address {:?} for key {}/{}: {why}",
            key.address, key.engine_path, key.key_name
        ))
    };
    let Some((scheme, authority)) = key.address.split_once("://") else {
        return Err(bad("expected http://host:port or https://host:port"));
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(|| bad("unclosed IPv6 bracket"))?;
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err(bad("invalid IPv6 address"));
        }
        match after {
            "" => ("[v6]", None),
            p => ("[v6]", Some(p.strip_prefix(':').ok_or_else(|| bad("junk after the host"))?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let host_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if host.is_empty() || (host != "[v6]" && !host.chars().all(host_ok)) {
        return Err(bad("invalid host name (use ASCII letters, digits, dots and dashes)"));
    }
    if let Some(p) = port
        && (p.is_empty()
            || p.len() > 5
            || !p.chars().all(|c| c.is_ascii_digit())
            || p.parse::<u32>().map_or(true, |n| n > 65535))
    {
        return Err(bad("invalid port"));
    }
    Ok(())
}

/// The private thread that runs every request, and the way to stop it.
struct Worker {
    handle: tokio::runtime::Handle,
    /// Dropped with the client: the thread's runtime then finishes and the thread exits.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Worker {
    fn start() -> Result<Worker, String> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sealgate-vault-transit".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(rt.handle().clone()));
                // Drives every spawned request until the client is dropped.
                let _ = rt.block_on(stopped);
            })
            .map_err(|e| format!("cannot start the Vault client thread: {e}"))?;
        let handle = ready_rx
            .recv()
            .map_err(|_| "the Vault client thread stopped at start".to_owned())??;
        Ok(Worker { handle, _stop: stop })
    }
}

/// Where the configuration comes from: given, or read from the process environment on first
/// use (so that a run that never meets a transit key never looks at Vault settings).
enum ConfigSource {
    Given(TransitConfig),
    ProcessEnv(OnceLock<Result<TransitConfig, TransitError>>),
}

struct Inner {
    config: ConfigSource,
    /// One client per server address, created on the worker thread and reused.
    clients: Mutex<HashMap<String, Arc<VaultClient>>>,
    worker: OnceLock<Result<Worker, String>>,
}

impl Inner {
    fn config(&self) -> Result<&TransitConfig, TransitError> {
        match &self.config {
            ConfigSource::Given(c) => Ok(c),
            ConfigSource::ProcessEnv(cell) => cell
                .get_or_init(|| {
                    let home =
                        std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
                    TransitConfig::from_env(&ProcessEnv, home.as_deref())
                })
                .as_ref()
                .map_err(Clone::clone),
        }
    }

    /// The client for `key`'s server (created on first use). Runs on the worker thread.
    fn client(&self, key: &VaultTransitUri) -> Result<Arc<VaultClient>, TransitError> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| TransitError::Unavailable("the Vault client cache is poisoned".into()))?;
        if let Some(c) = clients.get(&key.address) {
            return Ok(c.clone());
        }
        let client = Arc::new(build_client(key, self.config()?)?);
        clients.insert(key.address.clone(), client.clone());
        Ok(client)
    }

    fn handle(&self) -> Result<&tokio::runtime::Handle, TransitError> {
        match self.worker.get_or_init(Worker::start) {
            Ok(w) => Ok(&w.handle),
            Err(e) => Err(TransitError::Unavailable(e.clone())),
        }
    }
}

/// Builds a vaultrs client for `key.address` with nothing taken from the environment behind
/// our back (vaultrs's defaults read `VAULT_*` variables).
fn build_client(
    key: &VaultTransitUri,
    config: &TransitConfig,
) -> Result<VaultClient, TransitError> {
    check_address(key)?;
    // vaultrs is built without a TLS provider; it panics without one. Idempotent.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let https = key.address.to_ascii_lowercase().starts_with("https://");
    let mut temp_ca: Option<PathBuf> = None;
    let ca_certs: Vec<String> = match (&config.ca, https) {
        (_, false) | (CaSource::System, _) => Vec::new(),
        (CaSource::Files(files), true) => files.iter().map(|p| p.display().to_string()).collect(),
        (CaSource::Pem(pem), true) => {
            let path = write_temp_ca(pem).map_err(|e| {
                TransitError::Rejected(format!(
                    "cannot stage the CA bundle for {}: {e}",
                    key.address
                ))
            })?;
            let shown = path.display().to_string();
            temp_ca = Some(path);
            vec![shown]
        }
    };
    let token: &str = config.token.as_ref().map_or("", |t| t.secret.as_str());
    let address = key.address.clone();
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut b = VaultClientSettingsBuilder::default();
        b.address(&address)
            .token(token)
            .namespace(config.namespace.clone())
            .ca_certs(ca_certs)
            .verify(!config.skip_verify)
            .identity(None)
            .timeout(Some(REQUEST_TIMEOUT))
            .wrapping(false)
            .version(1u8);
        b.build().map_err(|e| e.to_string())
    }));
    let result = match built {
        Err(_) => Err(TransitError::Rejected(format!(
            "invalid vault_address {:?} for key {}/{}",
            key.address, key.engine_path, key.key_name
        ))),
        Ok(Err(e)) => Err(TransitError::Rejected(format!(
            "cannot configure a Vault client for {}: {e}",
            key.address
        ))),
        Ok(Ok(settings)) => VaultClient::new(settings).map_err(|e| {
            TransitError::Rejected(format!(
                "cannot configure a Vault client for {} (CA certificates from {}): {e}",
                key.address,
                match &config.ca {
                    CaSource::System => "the system".to_owned(),
                    CaSource::Files(f) =>
                        f.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
                    CaSource::Pem(_) => "the configured bundle".to_owned(),
                }
            ))
        }),
    };
    if let Some(path) = temp_ca {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Writes a PEM bundle to a private temporary file (vaultrs reads CA certificates from paths).
fn write_temp_ca(pem: &[u8]) -> io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut rand_part = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut rand_part);
    let path = std::env::temp_dir().join(format!(
        "sealgate-vault-ca-{}-{}.pem",
        std::process::id(),
        hex::encode(rand_part)
    ));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    f.write_all(pem)?;
    Ok(path)
}

/// Vault/OpenBao transit over HTTP: `POST {address}/v1/{engine}/encrypt|decrypt/{name}`, as
/// sops does it. The address is each key's own; the token, namespace and TLS settings are the
/// client's. Nothing is contacted (and, with [`VaultTransit::from_process_env`], no setting is
/// read) until a transit key is used.
///
/// # Errors
/// [`TransitError::Denied`] for a missing, invalid or under-privileged token;
/// [`TransitError::Unavailable`] when the server cannot be reached or answers 429/5xx;
/// [`TransitError::Rejected`] for anything else (unknown key or mount, bad ciphertext, bad
/// configuration). Messages name the key and the failure, never a token or payload.
pub struct VaultTransit {
    inner: Arc<Inner>,
}

impl fmt::Debug for VaultTransit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let servers: Vec<String> = match self.inner.clients.lock() {
            Ok(c) => c.keys().cloned().collect(),
            Err(_) => Vec::new(),
        };
        let config = match &self.inner.config {
            ConfigSource::Given(c) => format!("{c:?}"),
            ConfigSource::ProcessEnv(cell) => match cell.get() {
                None => "from the environment (not read yet)".to_owned(),
                Some(Ok(c)) => format!("{c:?}"),
                Some(Err(_)) => "invalid".to_owned(),
            },
        };
        f.debug_struct("VaultTransit").field("config", &config).field("servers", &servers).finish()
    }
}

impl VaultTransit {
    /// A client with `config`.
    pub fn new(config: TransitConfig) -> Self {
        Self::from_source(ConfigSource::Given(config))
    }

    /// A client configured as sops's would be, from this process's environment and `$HOME`,
    /// read on first use ([`TransitConfig::from_env`]).
    pub fn from_process_env() -> Self {
        Self::from_source(ConfigSource::ProcessEnv(OnceLock::new()))
    }

    fn from_source(config: ConfigSource) -> Self {
        VaultTransit {
            inner: Arc::new(Inner {
                config,
                clients: Mutex::new(HashMap::new()),
                worker: OnceLock::new(),
            }),
        }
    }

    /// Checks the configuration and that there is a token; returns the token's origin.
    fn ready(&self, key: &VaultTransitUri) -> Result<TokenOrigin, TransitError> {
        let config = self.inner.config()?;
        match config.token_origin() {
            Some(origin) => Ok(origin.clone()),
            None => Err(TransitError::Denied(format!(
                "no Vault token to use key {key}: VAULT_TOKEN is not set and there is no \
                 ~/.vault-token; {LOGIN_HINT}"
            ))),
        }
    }

    /// Runs `request` on the worker thread and waits for its answer.
    fn run<T, F>(&self, request: F) -> Result<T, TransitError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, TransitError>> + Send + 'static,
    {
        let handle = self.inner.handle()?;
        let (tx, rx) = mpsc::sync_channel(1);
        handle.spawn(async move {
            let _ = tx.send(request.await);
        });
        rx.recv().map_err(|_| {
            TransitError::Unavailable("the Vault request was dropped before it finished".into())
        })?
    }
}

impl TransitClient for VaultTransit {
    fn encrypt(&self, key: &VaultTransitUri, plaintext: &[u8]) -> Result<String, TransitError> {
        let origin = self.ready(key)?;
        let encoded = Zeroizing::new(B64.encode(plaintext));
        let inner = self.inner.clone();
        let key = key.clone();
        self.run(async move {
            let client = inner.client(&key)?;
            vaultrs::transit::data::encrypt(
                &*client,
                &key.engine_path,
                &key.key_name,
                &encoded,
                None,
            )
            .await
            .map(|r| r.ciphertext)
            .map_err(|e| transit_error(&key, Op::Encrypt, failure_of(&e), &origin, &[&encoded]))
        })
    }

    fn decrypt(
        &self,
        key: &VaultTransitUri,
        ciphertext: &str,
    ) -> Result<Zeroizing<Vec<u8>>, TransitError> {
        let origin = self.ready(key)?;
        let inner = self.inner.clone();
        let key = key.clone();
        let ciphertext = ciphertext.to_owned();
        self.run(async move {
            let client = inner.client(&key)?;
            let answer = vaultrs::transit::data::decrypt(
                &*client,
                &key.engine_path,
                &key.key_name,
                &ciphertext,
                None,
            )
            .await
            .map_err(|e| {
                transit_error(&key, Op::Decrypt, failure_of(&e), &origin, &[&ciphertext])
            })?;
            let encoded = Zeroizing::new(answer.plaintext);
            B64.decode(encoded.as_bytes()).map(Zeroizing::new).map_err(|_| {
                transit_error(
                    &key,
                    Op::Decrypt,
                    Failure::Unexpected("the plaintext it returned is not base64".into()),
                    &origin,
                    &[],
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MapEnv;
    use crate::test_openbao as openbao;

    fn uri() -> VaultTransitUri {
        VaultTransitUri::parse("http://127.0.0.1:18200/v1/transit/keys/sops-fixture").unwrap()
    }

    #[test]
    fn token_from_vault_token_wins_over_the_file() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(".vault-token"), "from-file\n").unwrap();
        let env = MapEnv::new().with("VAULT_TOKEN", "from-env");
        let t = discover_token(&env, Some(home.path())).unwrap().unwrap();
        assert_eq!(t.secret.as_str(), "from-env");
        assert_eq!(t.origin, TokenOrigin::Env);
    }

    #[test]
    fn token_file_is_used_and_trimmed_when_vault_token_is_unset_or_empty() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(".vault-token"), "  s.abc123\n").unwrap();
        for env in [MapEnv::new(), MapEnv::new().with("VAULT_TOKEN", "")] {
            let t = discover_token(&env, Some(home.path())).unwrap().unwrap();
            assert_eq!(t.secret.as_str(), "s.abc123");
            assert_eq!(t.origin, TokenOrigin::File(home.path().join(".vault-token")));
        }
    }

    #[test]
    fn no_token_anywhere_is_none_not_an_error() {
        let home = tempfile::tempdir().unwrap();
        assert!(discover_token(&MapEnv::new(), Some(home.path())).unwrap().is_none());
        assert!(discover_token(&MapEnv::new(), None).unwrap().is_none());
        std::fs::write(home.path().join(".vault-token"), "\n").unwrap();
        assert!(discover_token(&MapEnv::new(), Some(home.path())).unwrap().is_none());
    }

    #[test]
    fn token_with_control_characters_is_refused_without_echoing_it() {
        let env = MapEnv::new().with("VAULT_TOKEN", "sec\u{7}ret");
        let e = discover_token(&env, None).unwrap_err();
        assert!(matches!(e, TransitError::Denied(_)));
        let text = e.to_string();
        assert!(text.contains("VAULT_TOKEN") && !text.contains("sec"), "{text}");
    }

    #[test]
    fn unreadable_token_file_is_an_error_naming_the_file() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".vault-token")).unwrap();
        let e = discover_token(&MapEnv::new(), Some(home.path())).unwrap_err();
        assert!(e.to_string().contains(".vault-token"), "{e}");
    }

    #[test]
    fn config_reads_namespace_ca_and_skip_verify_like_the_go_client() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.pem"), "x").unwrap();
        std::fs::write(dir.path().join("a.pem"), "x").unwrap();
        let env = MapEnv::new()
            .with("VAULT_TOKEN", "t")
            .with("VAULT_NAMESPACE", "team-a")
            .with("VAULT_CACERT", "/etc/ca.pem")
            .with("VAULT_CAPATH", dir.path())
            .with("VAULT_SKIP_VERIFY", "T")
            .with("VAULT_ADDR", "http://ignored:1");
        let c = TransitConfig::from_env(&env, None).unwrap();
        assert_eq!(c.namespace.as_deref(), Some("team-a"));
        assert!(c.skip_verify);
        assert_eq!(
            c.ca,
            CaSource::Files(vec![
                PathBuf::from("/etc/ca.pem"),
                dir.path().join("a.pem"),
                dir.path().join("b.pem")
            ])
        );
        let c = TransitConfig::from_env(&MapEnv::new(), None).unwrap();
        assert_eq!((c.namespace, c.ca, c.skip_verify), (None, CaSource::System, false));
        let e = TransitConfig::from_env(&MapEnv::new().with("VAULT_SKIP_VERIFY", "yes"), None)
            .unwrap_err();
        assert!(e.to_string().contains("VAULT_SKIP_VERIFY"), "{e}");
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let c = TransitConfig::with_token(
            Zeroizing::new("hvs.supersecret".into()),
            Some("ns".into()),
            Some(b"-----BEGIN CERTIFICATE-----".to_vec()),
        );
        let mut shown = format!("{c:?}");
        shown += &format!("{:?}", VaultTransit::new(c));
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn http_403_is_denied_naming_key_origin_and_login() {
        let f = Failure::Api { code: 403, errors: vec!["permission denied".into()] };
        let e = transit_error(&uri(), Op::Encrypt, f, &TokenOrigin::Env, &[]);
        let TransitError::Denied(msg) = &e else { panic!("{e:?}") };
        for needle in [
            "http://127.0.0.1:18200/v1/transit/keys/sops-fixture",
            "HTTP 403",
            "permission denied",
            "VAULT_TOKEN",
            "bao login",
            "transit/encrypt/sops-fixture",
        ] {
            assert!(msg.contains(needle), "{needle:?} missing from {msg}");
        }
        let f = Failure::Api { code: 401, errors: vec![] };
        assert!(matches!(
            transit_error(&uri(), Op::Decrypt, f, &TokenOrigin::Explicit, &[]),
            TransitError::Denied(_)
        ));
    }

    #[test]
    fn server_errors_and_transport_failures_are_unavailable() {
        for code in [429, 500, 502, 503] {
            let f = Failure::Api { code, errors: vec!["Vault is sealed".into()] };
            let e = transit_error(&uri(), Op::Decrypt, f, &TokenOrigin::Env, &[]);
            assert!(matches!(e, TransitError::Unavailable(_)), "{code}: {e:?}");
        }
        let f = Failure::Transport("tcp connect error: Connection refused".into());
        let e = transit_error(&uri(), Op::Encrypt, f, &TokenOrigin::Env, &[]);
        let TransitError::Unavailable(msg) = &e else { panic!("{e:?}") };
        assert!(msg.contains("http://127.0.0.1:18200") && msg.contains("Connection refused"));
    }

    #[test]
    fn client_errors_are_rejected_with_vaults_reason() {
        let f = Failure::Api { code: 400, errors: vec!["encryption key not found".into()] };
        let e = transit_error(&uri(), Op::Decrypt, f, &TokenOrigin::Env, &[]);
        let TransitError::Rejected(msg) = &e else { panic!("{e:?}") };
        assert!(msg.contains("encryption key not found") && msg.contains("sops-fixture"), "{msg}");
        let f = Failure::Api { code: 404, errors: vec!["no handler for route".into()] };
        let e = transit_error(&uri(), Op::Decrypt, f, &TokenOrigin::Env, &[]);
        assert!(
            matches!(&e, TransitError::Rejected(m) if m.contains("mounted at transit/")),
            "{e}"
        );
        let f = Failure::Unexpected("the answer holds no data".into());
        assert!(matches!(
            transit_error(&uri(), Op::Encrypt, f, &TokenOrigin::Env, &[]),
            TransitError::Rejected(_)
        ));
    }

    #[test]
    fn payloads_never_reach_messages() {
        let payload = "c2VjcmV0LWRhdGEta2V5LWJ5dGVzLTAxMjM0NTY3ODk=";
        let f = Failure::Api { code: 400, errors: vec![format!("bad input {payload}")] };
        let e = transit_error(&uri(), Op::Encrypt, f, &TokenOrigin::Env, &[payload]);
        assert!(!e.to_string().contains(payload), "{e}");
        let f = Failure::Api { code: 400, errors: vec!["invalid ciphertext vault:v1:abcd".into()] };
        let e = transit_error(&uri(), Op::Decrypt, f, &TokenOrigin::Env, &[]);
        assert!(!e.to_string().contains("vault:v1:abcd"), "{e}");
    }

    #[test]
    fn vaultrs_api_errors_keep_code_and_messages() {
        let err = ClientError::APIError { code: 403, errors: vec!["permission denied".into()] };
        assert_eq!(
            failure_of(&err),
            Failure::Api { code: 403, errors: vec!["permission denied".into()] }
        );
        assert!(matches!(failure_of(&ClientError::ResponseDataEmptyError), Failure::Unexpected(_)));
    }

    #[test]
    fn addresses_vaultrs_cannot_parse_are_refused_not_panicked_on() {
        let with = |address: &str| VaultTransitUri { address: address.into(), ..uri() };
        for ok in ["http://127.0.0.1:8200", "https://vault.example.com", "http://[::1]:8200"] {
            assert!(check_address(&with(ok)).is_ok(), "{ok}");
        }
        for bad in
            ["vault:8200", "ftp://v", "http://", "http://h:99999", "http://h:x", "http://a b"]
        {
            assert!(check_address(&with(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_token_fails_before_any_request_naming_the_key() {
        let transit = VaultTransit::new(TransitConfig::from_env(&MapEnv::new(), None).unwrap());
        // Port 9 (discard) is never contacted: the token check comes first.
        let key = VaultTransitUri { address: "http://127.0.0.1:9".into(), ..uri() };
        let e = transit.encrypt(&key, b"k").unwrap_err();
        let TransitError::Denied(msg) = &e else { panic!("{e:?}") };
        assert!(msg.contains("http://127.0.0.1:9/v1/transit/keys/sops-fixture"), "{msg}");
        assert!(msg.contains("VAULT_TOKEN") && msg.contains("bao login"), "{msg}");
        assert!(transit.inner.worker.get().is_none(), "no worker thread was started");
    }

    #[test]
    fn unreachable_server_is_unavailable_inside_and_outside_a_runtime() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let key = VaultTransitUri { address: format!("http://127.0.0.1:{port}"), ..uri() };
        let transit = Arc::new(VaultTransit::new(TransitConfig::with_token(
            Zeroizing::new("t".into()),
            None,
            None,
        )));
        let e = transit.decrypt(&key, "vault:v1:AAAA").unwrap_err();
        assert!(matches!(&e, TransitError::Unavailable(m) if m.contains("refused")), "{e}");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let inside = rt.block_on(async { transit.encrypt(&key, b"k") });
        assert!(matches!(inside, Err(TransitError::Unavailable(_))), "{inside:?}");
    }

    /// A real dev server: the fixture's transit key restored from its backup.
    fn openbao_with_fixture_key() -> (openbao::OpenBao, VaultTransitUri) {
        let bao = openbao::OpenBao::start();
        bao.ok(&["secrets", "enable", "transit"]);
        let backup =
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sops/vault/transit-backup.b64");
        bao.ok(&["write", "transit/restore/sops-fixture", &format!("backup=@{backup}")]);
        let key = VaultTransitUri { address: bao.addr.clone(), ..uri() };
        (bao, key)
    }

    #[test]
    fn real_openbao_unwraps_the_fixture_key_and_round_trips_from_inside_a_runtime() {
        let (_bao, key) = openbao_with_fixture_key();
        let transit = Arc::new(VaultTransit::new(TransitConfig::with_token(
            Zeroizing::new(openbao::ROOT_TOKEN.into()),
            None,
            None,
        )));
        // vault.enc.yaml's hc_vault enc and its data key (manifest.json).
        let enc = "vault:v1:y2slNe/Kwnxsq/Gnc4kd+qcgI9Nup7m5o1iPqy0NdShqutJa2QsSdbUNBmdS+f6Q7ceTrEMYiNZTcP4J";
        assert_eq!(
            hex::encode(&*transit.decrypt(&key, enc).unwrap()),
            "8bab21a649f304dea0d63aadfc22e145914bd4d0a04c9844198b3529c3ad5ea4"
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (t, k) = (transit.clone(), key.clone());
        let back = rt.block_on(async move {
            let ct = t.encrypt(&k, &[7u8; 32]).unwrap();
            assert!(ct.starts_with("vault:v1:"), "{ct}");
            t.decrypt(&k, &ct).unwrap()
        });
        assert_eq!(&*back, &[7u8; 32]);
        assert_eq!(transit.inner.clients.lock().unwrap().len(), 1, "one client per address");
    }

    /// A dev server with TLS (`-dev-tls`, a self-signed CA) and transit mounted; stopped by
    /// PID when dropped.
    struct TlsOpenBao {
        child: std::process::Child,
        dir: tempfile::TempDir,
        addr: String,
    }

    impl TlsOpenBao {
        fn start() -> TlsOpenBao {
            use std::process::{Command, Stdio};
            let dir = tempfile::tempdir().unwrap();
            let port =
                std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = Command::new(openbao::bao_binary())
                .args(["server", "-dev", "-dev-tls"])
                .arg(format!("-dev-tls-cert-dir={}", dir.path().display()))
                .arg(format!("-dev-root-token-id={}", openbao::ROOT_TOKEN))
                .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
                .env("HOME", dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn bao server -dev-tls");
            let bao = TlsOpenBao { child, dir, addr: format!("https://127.0.0.1:{port}") };
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                let ok = Command::new(openbao::bao_binary())
                    .args(["secrets", "enable", "transit"])
                    .env("HOME", bao.dir.path())
                    .env("BAO_ADDR", &bao.addr)
                    .env("BAO_CACERT", bao.ca())
                    .env("BAO_TOKEN", openbao::ROOT_TOKEN)
                    .output()
                    .is_ok_and(|o| o.status.success());
                if ok {
                    return bao;
                }
                assert!(std::time::Instant::now() < deadline, "bao -dev-tls did not come up");
                std::thread::sleep(Duration::from_millis(200));
            }
        }

        fn ca(&self) -> PathBuf {
            self.dir.path().join("vault-ca.pem")
        }
    }

    impl Drop for TlsOpenBao {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn https_is_trusted_through_a_ca_bundle_vault_cacert_or_skip_verify_only() {
        let bao = TlsOpenBao::start();
        let key = VaultTransitUri { address: bao.addr.clone(), ..uri() };
        let token = || Zeroizing::new(openbao::ROOT_TOKEN.to_owned());
        let pem = std::fs::read(bao.ca()).unwrap();
        // Encrypting creates the key (transit's upsert, allowed for root).
        let explicit = VaultTransit::new(TransitConfig::with_token(token(), None, Some(pem)));
        let ct = explicit.encrypt(&key, &[3u8; 32]).unwrap();
        let system = VaultTransit::new(TransitConfig::with_token(token(), None, None));
        let e = system.decrypt(&key, &ct).unwrap_err();
        assert!(matches!(e, TransitError::Unavailable(_)), "self-signed CA trusted: {e:?}");
        let env = MapEnv::new().with("VAULT_TOKEN", openbao::ROOT_TOKEN);
        for env in
            [env.clone().with("VAULT_CACERT", bao.ca()), env.with("VAULT_SKIP_VERIFY", "true")]
        {
            let transit = VaultTransit::new(TransitConfig::from_env(&env, None).unwrap());
            assert_eq!(&*transit.decrypt(&key, &ct).unwrap(), &[3u8; 32]);
        }
    }

    #[test]
    fn real_openbao_refusals_map_to_denied_and_rejected() {
        let (_bao, key) = openbao_with_fixture_key();
        let wrong = VaultTransit::new(TransitConfig::with_token(
            Zeroizing::new("not-a-token".into()),
            None,
            None,
        ));
        let e = wrong.encrypt(&key, &[1u8; 32]).unwrap_err();
        let TransitError::Denied(msg) = &e else { panic!("{e:?}") };
        assert!(msg.contains("HTTP 403") && msg.contains(&key.to_string()), "{msg}");
        assert!(!msg.contains("not-a-token"), "{msg}");
        let root = VaultTransit::new(TransitConfig::with_token(
            Zeroizing::new(openbao::ROOT_TOKEN.into()),
            None,
            None,
        ));
        let missing = VaultTransitUri { key_name: "no-such-key".into(), ..key.clone() };
        let e = root.decrypt(&missing, "vault:v1:AAAA").unwrap_err();
        assert!(matches!(&e, TransitError::Rejected(m) if m.contains("no-such-key")), "{e:?}");
        let no_mount = VaultTransitUri { engine_path: "nothing-here".into(), ..key };
        let e = root.decrypt(&no_mount, "vault:v1:AAAA").unwrap_err();
        assert!(matches!(&e, TransitError::Rejected(m) if m.contains("HTTP 404")), "{e:?}");
    }
}
