//! The webhook's certificate: `tls.crt` and `tls.key` from a directory, read again on the next
//! handshake after either file changes (a renewed cert-manager Secret, a re-run script).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why the certificate could not be loaded. Names the file; never includes key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to read {path}: {reason}; mount a kubernetes.io/tls Secret there")]
    Read { path: PathBuf, reason: String },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no usable private key (PEM PKCS#8, PKCS#1 or SEC1 expected)")]
    Key { path: PathBuf },
    #[error("tls.crt and tls.key in {dir} are not a pair (the key does not match the certificate)")]
    Mismatch { dir: PathBuf },
}

/// Serves the certificate in `dir`, reloading it when `tls.crt` or `tls.key` changes.
///
/// A reload that fails (a half-written pair during a rotation) keeps serving the last good
/// certificate and is retried on the next handshake.
pub struct ReloadingCert {
    dir: PathBuf,
    provider: Arc<CryptoProvider>,
    cached: Mutex<Option<(Stamp, Arc<CertifiedKey>)>>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only where it reads from: the cached pair holds the private key.
        f.debug_struct("ReloadingCert").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// The modification times (and sizes) of the two files.
type Stamp = [(Option<SystemTime>, u64); 2];

impl ReloadingCert {
    /// A resolver for `dir`; nothing is read until [`ReloadingCert::check`] or a handshake.
    pub fn new(dir: &Path) -> ReloadingCert {
        ReloadingCert {
            dir: dir.to_owned(),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            cached: Mutex::new(None),
        }
    }

    /// Loads the certificate now if it changed (or was never loaded), and says why not.
    ///
    /// # Errors
    /// [`TlsError`] naming the file; the previous certificate, if any, stays in use.
    pub fn check(&self) -> Result<(), TlsError> {
        self.current().map(|_| ())
    }

    /// A server configuration (no client auth, HTTP/1.1) that asks this resolver per handshake.
    pub fn server_config(self: Arc<Self>) -> rustls::ServerConfig {
        let provider = Arc::clone(&self.provider);
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(self);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }

    fn current(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let now = stamp(&self.dir);
        let mut cached = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((seen, key)) = cached.as_ref()
            && *seen == now
        {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(load_pair(&self.dir, &self.provider)?);
        tracing::info!(dir = %self.dir.display(), "webhook certificate loaded");
        *cached = Some((now, Arc::clone(&key)));
        Ok(key)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self.current() {
            Ok(key) => Some(key),
            Err(error) => {
                let cached = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                tracing::warn!(%error, serving_previous = cached.is_some(), "webhook certificate not loaded");
                cached.as_ref().map(|(_, k)| Arc::clone(k))
            }
        }
    }
}

fn stamp(dir: &Path) -> Stamp {
    ["tls.crt", "tls.key"].map(|f| match std::fs::metadata(dir.join(f)) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    })
}

fn load_pair(dir: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let crt_pem = read(&crt)?;
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&crt_pem).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: crt });
    }
    let key_pem = zeroize::Zeroizing::new(read(&key)?);
    let der =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::Key { path: key.clone() })?;
    let signing =
        provider.key_provider.load_private_key(der).map_err(|_| TlsError::Key { path: key })?;
    let pair = CertifiedKey::new(certs, signing);
    // A pair caught mid-rotation (new certificate, old key) is not served.
    match pair.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(pair)
        }
        Err(_) => Err(TlsError::Mismatch { dir: dir.to_owned() }),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read { path: path.to_owned(), reason: e.to_string() })
}
