//! `seal --from-cluster`: the controller's newest recipient, read from its `sealgate-recipients`
//! ConfigMap through the user's kubeconfig. No Secret access is needed.
//!
//! Only the newest recipient is used, as Sealed Secrets does: the controller keeps every older
//! identity for decryption, so a file sealed to the newest key opens for as long as the
//! controller keeps its keys, and a renewal takes effect for new files at once.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::config::KubeConfigOptions;
use kube::{Client, Config};
use sealgate::controller::keys::{RECIPIENTS_CONFIGMAP, RECIPIENTS_KEY};
use sealgate::keys::AgeRecipient;

use crate::exit::{CliError, CliResult, Code, chain};

/// Where to read from: the controller's namespace and an optional kubeconfig context.
#[derive(Debug, Clone)]
pub struct ClusterSource<'a> {
    pub namespace: &'a str,
    pub context: Option<&'a str>,
}

impl ClusterSource<'_> {
    fn object(&self) -> String {
        format!("ConfigMap {}/{RECIPIENTS_CONFIGMAP}", self.namespace)
    }
}

/// Reads the cluster's newest recipient (a blocking call: it runs its own small runtime).
///
/// # Errors
/// A [`CliError`] naming the kubeconfig or the ConfigMap, with what to do.
pub fn newest_recipient(source: &ClusterSource<'_>) -> CliResult<String> {
    // kube's TLS needs a process-wide provider; a second install (already set) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
            CliError::new(Code::Generic, format!("failed to start the Kubernetes client: {e}"))
        })?;
    runtime.block_on(async {
        let client = connect(source.context).await?;
        fetch_newest(client, source).await
    })
}

/// A client from `KUBECONFIG` or `~/.kube/config`, in `context` or the current context.
async fn connect(context: Option<&str>) -> CliResult<Client> {
    let options = KubeConfigOptions { context: context.map(str::to_owned), ..Default::default() };
    let config = Config::from_kubeconfig(&options).await.map_err(|e| {
        CliError::new(
            Code::Generic,
            format!("--from-cluster: cannot use the kubeconfig: {}", chain(&e)),
        )
        .hint(
            "set KUBECONFIG or create ~/.kube/config (and --context if needed), or seal \
                 without the cluster with --age RECIPIENT",
        )
    })?;
    Client::try_from(config).map_err(|e| {
        CliError::new(
            Code::Generic,
            format!("--from-cluster: cannot create a Kubernetes client: {}", chain(&e)),
        )
    })
}

/// Reads the ConfigMap and returns its newest recipient.
///
/// # Errors
/// A [`CliError`] when the ConfigMap cannot be read, does not exist, or holds no recipient.
pub async fn fetch_newest(client: Client, source: &ClusterSource<'_>) -> CliResult<String> {
    let object = source.object();
    let api: Api<ConfigMap> = Api::namespaced(client, source.namespace);
    let found = api.get_opt(RECIPIENTS_CONFIGMAP).await.map_err(|e| {
        let error =
            CliError::new(Code::Generic, format!("failed to read the {object}: {}", chain(&e)));
        match &e {
            kube::Error::Api(status) if status.code == 401 || status.code == 403 => error.hint(
                "you need permission to get this ConfigMap (not Secrets); ask for it, or seal \
                 with --age RECIPIENT",
            ),
            _ => error.hint("check the cluster is reachable, or seal with --age RECIPIENT"),
        }
    })?;
    let Some(configmap) = found else {
        return Err(CliError::new(
            Code::NoEncryptionKey,
            format!("there is no {object} in the cluster"),
        )
        .hint(
            "install the sealgate controller (it publishes its recipients there), point \
                 --controller-namespace at its namespace, or seal with --age RECIPIENT",
        ));
    };
    let text = configmap.data.and_then(|mut d| d.remove(RECIPIENTS_KEY)).unwrap_or_default();
    newest_in(&text, &object)
}

/// The first recipient of a `recipients.txt` (newest first; blank lines and `#` comments
/// skipped), checked to be a valid age recipient.
///
/// # Errors
/// A [`CliError`] naming `object` when there is no recipient or the newest is malformed.
pub fn newest_in(text: &str, object: &str) -> CliResult<String> {
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        return Err(CliError::new(
            Code::NoEncryptionKey,
            format!("the {object} has no recipient under {RECIPIENTS_KEY}"),
        )
        .hint("the controller has not made its first key yet: check that it runs and its logs"));
    };
    AgeRecipient::parse(first).map(|r| r.as_str().to_owned()).map_err(|e| {
        CliError::new(
            Code::NoEncryptionKey,
            format!("the {object} holds a malformed recipient in {RECIPIENTS_KEY}: {}", chain(&e)),
        )
    })
}

#[cfg(test)]
mod tests;
