//! Building a `vaultrs` client for a [`Connection`] and classifying what its calls return.

use std::io::Write as _;
use std::time::Duration;

use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use super::error::VaultError;
use super::session::Connection;

/// How long one Vault request may take before it counts as "Vault unavailable".
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for `connection` that sends `token` (empty for a login call). Nothing is taken
/// from the environment (`VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_CACERT` are the CLI's business).
pub(crate) fn build(connection: &Connection, token: &str) -> Result<VaultClient, VaultError> {
    check_server(&connection.server)?;
    // vaultrs reads CA certificates from files: hand it the bundle through a private temp file
    // that lives only while the client is built (certificates are public; the file is not
    // needed afterwards).
    let ca_file = match &connection.ca_bundle {
        Some(pem) => Some(write_ca_file(pem, &connection.server)?),
        None => None,
    };
    let mut settings = VaultClientSettingsBuilder::default();
    settings
        .address(&connection.server)
        .token(token)
        .timeout(Some(REQUEST_TIMEOUT))
        .verify(true)
        .identity(None)
        .ca_certs(
            ca_file.iter().map(|f| f.path().to_string_lossy().into_owned()).collect::<Vec<_>>(),
        );
    if let Some(ns) = &connection.namespace {
        settings.set_namespace(ns.clone());
    }
    let settings = settings
        .build()
        .map_err(|e| VaultError::Invalid(format!("Vault server {}: {e}", connection.server)))?;
    VaultClient::new(settings).map_err(|e| match e {
        ClientError::ParseCertificateError { .. } => VaultError::Invalid(format!(
            "the CA bundle for Vault server {} is not PEM certificates",
            connection.server
        )),
        other => VaultError::Invalid(format!(
            "cannot set up a client for Vault server {}: {other}",
            connection.server
        )),
    })
}

/// Refuses addresses that vaultrs's builder would panic on or that are not plain http(s) URLs.
fn check_server(server: &str) -> Result<(), VaultError> {
    let bad = |why: &str| {
        Err(VaultError::Invalid(format!(
            "Vault server address {server:?} {why} (expected e.g. https://vault.example:8200)"
        )))
    };
    let Some(rest) = server.strip_prefix("https://").or_else(|| server.strip_prefix("http://"))
    else {
        return bad("must start with https:// or http://");
    };
    if rest.is_empty() || rest.starts_with('/') || rest.starts_with(':') {
        return bad("has no host");
    }
    if server.chars().any(|c| c.is_whitespace() || c.is_control()) || rest.contains(['?', '#', '@'])
    {
        return bad("must be a plain URL without spaces, user info, query or fragment");
    }
    match url::Url::parse(server) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => bad("is not a valid URL"),
    }
}

fn write_ca_file(pem: &[u8], server: &str) -> Result<tempfile::NamedTempFile, VaultError> {
    let io = |e: std::io::Error| {
        VaultError::Invalid(format!("cannot stage the CA bundle for Vault server {server}: {e}"))
    };
    let mut f = tempfile::NamedTempFile::new().map_err(io)?;
    f.write_all(pem).map_err(io)?;
    f.flush().map_err(io)?;
    Ok(f)
}

/// Classifies a failed call. `what` names the operation and target (`read secret/app/db`);
/// Vault's own error strings are kept (they name causes, not secrets) but cut short.
pub(crate) fn classify(e: ClientError, what: &str) -> VaultError {
    match e {
        ClientError::APIError { code, errors } => {
            let detail = summarize(&errors);
            match code {
                400 => VaultError::Invalid(format!("{what}: rejected (400){detail}")),
                401 => VaultError::AuthFailed(format!("{what}: unauthorized (401){detail}")),
                403 => VaultError::Forbidden(format!("{what}: permission denied (403){detail}")),
                404 => VaultError::NotFound(format!("{what}: not found (404){detail}")),
                405 => VaultError::Invalid(format!("{what}: unsupported operation (405){detail}")),
                412 | 429 => VaultError::Unavailable(format!("{what}: try again ({code}){detail}")),
                500.. => VaultError::Unavailable(format!("{what}: server error ({code}){detail}")),
                _ => VaultError::Invalid(format!("{what}: unexpected status {code}{detail}")),
            }
        }
        // A soft-deleted or destroyed KV v2 version answers without data.
        ClientError::ResponseEmptyError | ClientError::ResponseDataEmptyError => {
            VaultError::NotFound(format!("{what}: no data (deleted or destroyed)"))
        }
        // An error status whose body vaultrs could not parse (a deleted KV v2 version answers
        // 404 with metadata and no `errors`).
        ClientError::RestClientError {
            source: rustify::errors::ClientError::ServerResponseError { code, .. },
        } => classify(ClientError::APIError { code, errors: Vec::new() }, what),
        ClientError::RestClientError { source } => VaultError::Unavailable(format!(
            "{what}: cannot reach Vault ({})",
            transport_cause(&source)
        )),
        other => VaultError::Invalid(format!("{what}: {other}")),
    }
}

/// The innermost cause of a transport error, which says "connection refused" or "timed out".
fn transport_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    cause.chars().take(200).collect()
}

fn summarize(errors: &[String]) -> String {
    let joined = errors.iter().map(|e| e.trim()).filter(|e| !e.is_empty()).collect::<Vec<_>>();
    if joined.is_empty() {
        return String::new();
    }
    let text: String = joined.join("; ").chars().take(300).collect();
    format!(": {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(server: &str) -> Connection {
        Connection { server: server.into(), ca_bundle: None, namespace: None }
    }

    #[test]
    fn refuses_addresses_that_are_not_plain_http_urls() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        for bad in
            ["", "vault:8200", "ftp://v", "https://", "https:// v", "https://u:p@v", "http://v?x"]
        {
            let e = build(&conn(bad), "").err().expect(bad);
            assert!(matches!(e, VaultError::Invalid(_)), "{bad}: {e}");
        }
        assert!(build(&conn("http://127.0.0.1:8200"), "").is_ok());
    }

    #[test]
    fn a_bad_ca_bundle_is_invalid_configuration() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut c = conn("https://vault.example:8200");
        c.ca_bundle =
            Some(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".to_vec());
        let e = build(&c, "").err().expect("bad PEM refused");
        assert!(matches!(e, VaultError::Invalid(ref m) if m.contains("CA bundle")), "{e}");
    }

    #[test]
    fn statuses_map_to_reasons() {
        let api = |code| ClientError::APIError { code, errors: vec!["permission denied".into()] };
        assert!(matches!(classify(api(403), "read x"), VaultError::Forbidden(_)));
        assert!(matches!(classify(api(401), "read x"), VaultError::AuthFailed(_)));
        assert!(matches!(classify(api(404), "read x"), VaultError::NotFound(_)));
        assert!(matches!(classify(api(503), "read x"), VaultError::Unavailable(_)));
        assert!(matches!(classify(api(429), "read x"), VaultError::Unavailable(_)));
        assert!(matches!(classify(api(400), "read x"), VaultError::Invalid(_)));
        let m = classify(api(403), "read secret/app").to_string();
        assert!(m.contains("read secret/app") && m.contains("permission denied"), "{m}");
    }
}
