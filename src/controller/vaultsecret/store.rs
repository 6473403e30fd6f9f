//! Stores as the reconcilers use them: found from a `storeRef`, checked, and turned into the
//! Vault client's [`Connection`] and [`KvEngine`]. Pure; credentials are read elsewhere.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::runtime::reflector::ObjectRef;

use super::conditions;
use super::schedule::StoreStamp;
use crate::controller::context::Context;
use crate::controller::reason::{Reason, Refusal};
use crate::crd::{
    ClusterSecretStore, SecretKeyRef, SecretStore, StoreCondition, StoreKind, StoreRef, VaultAuth,
    VaultProvider,
};
use crate::vault::{Connection, KvEngine, KvVersion};

/// A store, whichever its kind, with what the reconcilers need of it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreView {
    pub kind: StoreKind,
    pub name: String,
    /// A `SecretStore`'s namespace; `None` for a `ClusterSecretStore`.
    pub namespace: Option<String>,
    pub provider: VaultProvider,
    pub conditions: Vec<StoreCondition>,
    pub stamp: StoreStamp,
}

impl StoreView {
    pub fn of_secret_store(s: &SecretStore) -> StoreView {
        StoreView {
            kind: StoreKind::SecretStore,
            name: s.metadata.name.clone().unwrap_or_default(),
            namespace: s.metadata.namespace.clone(),
            provider: s.spec.vault.clone(),
            conditions: Vec::new(),
            stamp: StoreStamp {
                kind: "SecretStore",
                name: s.metadata.name.clone().unwrap_or_default(),
                uid: s.metadata.uid.clone(),
                generation: s.metadata.generation,
            },
        }
    }

    pub fn of_cluster_store(s: &ClusterSecretStore) -> StoreView {
        StoreView {
            kind: StoreKind::ClusterSecretStore,
            name: s.metadata.name.clone().unwrap_or_default(),
            namespace: None,
            provider: s.spec.vault.clone(),
            conditions: s.spec.conditions.clone(),
            stamp: StoreStamp {
                kind: "ClusterSecretStore",
                name: s.metadata.name.clone().unwrap_or_default(),
                uid: s.metadata.uid.clone(),
                generation: s.metadata.generation,
            },
        }
    }

    /// `SecretStore vault`, `ClusterSecretStore shared`: for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind.as_str(), self.name)
    }

    /// The namespace a credentials `Secret` is read from: the store's own for a
    /// `SecretStore`, the one the reference names for a `ClusterSecretStore`.
    pub fn secret_namespace<'a>(&'a self, r: &'a SecretKeyRef) -> Option<&'a str> {
        match self.kind {
            StoreKind::SecretStore => self.namespace.as_deref(),
            StoreKind::ClusterSecretStore => r.namespace.as_deref(),
        }
    }
}

/// Finds the store a `VaultSecret` in `namespace` names, in the watch caches. A `SecretStore`
/// is looked up in the `VaultSecret`'s own namespace only.
///
/// # Errors
/// [`Reason::StoreNotFound`] naming the store.
pub fn lookup(ctx: &Context, store_ref: &StoreRef, namespace: &str) -> Result<StoreView, Refusal> {
    let found = match store_ref.kind {
        StoreKind::SecretStore => ctx
            .secret_stores
            .get(&ObjectRef::new(&store_ref.name).within(namespace))
            .map(|s| StoreView::of_secret_store(&s)),
        StoreKind::ClusterSecretStore => ctx
            .cluster_secret_stores
            .get(&ObjectRef::new(&store_ref.name))
            .map(|s| StoreView::of_cluster_store(&s)),
    };
    found.ok_or_else(|| {
        let place = match store_ref.kind {
            StoreKind::SecretStore => format!(" in namespace {namespace}"),
            StoreKind::ClusterSecretStore => String::new(),
        };
        Refusal::new(
            Reason::StoreNotFound,
            format!(
                "{} {} does not exist{place}; create it, or fix spec.storeRef",
                store_ref.kind.as_str(),
                store_ref.name
            ),
        )
    })
}

/// Audiences that would make the requested token valid for the apiserver itself: refused, as
/// the token is sent to the store's server.
fn is_apiserver_audience(a: &str) -> bool {
    a.is_empty() || a == "api" || a == "kubernetes" || a.contains("kubernetes.default.svc")
}

/// Whether `s` is a valid object name (DNS-1123 subdomain).
pub fn is_object_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Checks a store's spec beyond what the CRD schema can: references stay in the store's
/// namespace (a `SecretStore`) or name one (a `ClusterSecretStore`), names are object names,
/// token audiences are not the apiserver's, the CA bundle is PEM, the conditions are sound.
///
/// # Errors
/// A message naming the field and what to write instead.
pub fn validate(view: &StoreView) -> Result<(), String> {
    connection(&view.provider)?;
    let cluster = view.kind == StoreKind::ClusterSecretStore;
    let check_ref = |field: &str, r: &SecretKeyRef| -> Result<(), String> {
        if !is_object_name(&r.name) {
            return Err(format!("{field}.name {:?} is not a Secret name", r.name));
        }
        match (&r.namespace, cluster) {
            (None, true) => Err(format!(
                "{field}.namespace is required in a ClusterSecretStore: name the namespace of the \
                 Secret"
            )),
            (Some(ns), false) if Some(ns) != view.namespace.as_ref() => Err(format!(
                "{field}.namespace {ns}: a SecretStore reads Secrets in its own namespace only; \
                 remove the field, or use a ClusterSecretStore"
            )),
            (Some(ns), _) if !is_object_name(ns) => {
                Err(format!("{field}.namespace {ns:?} is not a namespace name"))
            }
            _ => Ok(()),
        }
    };
    match &view.provider.auth {
        VaultAuth::Token(t) => check_ref("spec.vault.auth.token.secretRef", &t.secret_ref)?,
        VaultAuth::AppRole(a) => check_ref("spec.vault.auth.appRole.secretRef", &a.secret_ref)?,
        VaultAuth::Kubernetes(k) => {
            let sa = &k.service_account_ref;
            if !is_object_name(&sa.name) {
                return Err(format!(
                    "spec.vault.auth.kubernetes.serviceAccountRef.name {:?} is not a \
                     ServiceAccount name",
                    sa.name
                ));
            }
            match (&sa.namespace, cluster) {
                (Some(ns), false) if Some(ns) != view.namespace.as_ref() => {
                    return Err(format!(
                        "spec.vault.auth.kubernetes.serviceAccountRef.namespace {ns}: a \
                         SecretStore uses ServiceAccounts of its own namespace only; remove the \
                         field"
                    ));
                }
                (Some(ns), _) if !is_object_name(ns) => {
                    return Err(format!(
                        "spec.vault.auth.kubernetes.serviceAccountRef.namespace {ns:?} is not a \
                         namespace name"
                    ));
                }
                _ => {}
            }
            if k.audiences.is_empty() {
                return Err("spec.vault.auth.kubernetes.audiences is empty: name the audience \
                            Vault's role expects (e.g. vault)"
                    .into());
            }
            if let Some(a) = k.audiences.iter().find(|a| is_apiserver_audience(a)) {
                return Err(format!(
                    "spec.vault.auth.kubernetes.audiences: {a:?} is refused, as a token for it \
                     would be valid for the Kubernetes API; use the audience Vault's role \
                     expects (e.g. vault)"
                ));
            }
        }
    }
    if cluster {
        conditions::validate(&view.conditions).map_err(|e| format!("spec.{e}"))?;
    }
    Ok(())
}

/// The Vault client's view of a store's server and KV engine.
///
/// # Errors
/// A message naming the field: a server that is not `http(s)://host[:port]`, a CA bundle that
/// is not base64 PEM, an empty mount, a KV version other than 1 or 2.
pub fn connection(p: &VaultProvider) -> Result<(Connection, KvEngine), String> {
    let server = p.server.trim_end_matches('/');
    let host = server.strip_prefix("https://").or_else(|| server.strip_prefix("http://"));
    if host.is_none_or(|h| h.is_empty() || h.contains(['/', '?', '#', '@'])) {
        return Err(format!(
            "spec.vault.server {:?} is not an address like https://vault.example:8200",
            p.server
        ));
    }
    let ca_bundle = match &p.ca_bundle {
        None => None,
        Some(b64) => {
            let compact: String = b64.split_whitespace().collect();
            let pem = STANDARD
                .decode(compact)
                .map_err(|e| format!("spec.vault.caBundle is not base64: {e}"))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err("spec.vault.caBundle holds no PEM certificate: base64-encode the \
                            PEM file (BEGIN CERTIFICATE blocks)"
                    .into());
            }
            Some(pem)
        }
    };
    let mount = p.kv.mount.trim_matches('/');
    if mount.is_empty() || mount.contains(['?', '#', '%']) || mount.split('/').any(|s| s == "..") {
        return Err(format!("spec.vault.kv.mount {:?} is not a mount path", p.kv.mount));
    }
    let version = match p.kv.version {
        1 => KvVersion::V1,
        2 => KvVersion::V2,
        v => return Err(format!("spec.vault.kv.version {v}: use 1 or 2")),
    };
    Ok((
        Connection {
            server: server.to_owned(),
            ca_bundle,
            namespace: p.namespace.clone().filter(|n| !n.is_empty()),
        },
        KvEngine { mount: mount.to_owned(), version },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{AppRoleAuth, KubernetesAuth, KvSpec, ServiceAccountRef, TokenAuth};

    fn provider(auth: VaultAuth) -> VaultProvider {
        VaultProvider {
            server: "https://vault.example:8200/".into(),
            ca_bundle: None,
            namespace: Some("team-a".into()),
            kv: KvSpec { mount: "secret".into(), version: 2 },
            auth,
        }
    }

    fn token(ns: Option<&str>) -> VaultAuth {
        VaultAuth::Token(TokenAuth {
            secret_ref: SecretKeyRef {
                name: "vault-token".into(),
                key: "token".into(),
                namespace: ns.map(Into::into),
            },
        })
    }

    fn kubernetes(ns: Option<&str>, audiences: &[&str]) -> VaultAuth {
        VaultAuth::Kubernetes(KubernetesAuth {
            mount_path: "kubernetes".into(),
            role: "app".into(),
            service_account_ref: ServiceAccountRef {
                name: "app".into(),
                namespace: ns.map(Into::into),
            },
            audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
        })
    }

    fn view(kind: StoreKind, auth: VaultAuth) -> StoreView {
        StoreView {
            kind,
            name: "vault".into(),
            namespace: (kind == StoreKind::SecretStore).then(|| "team-a".to_owned()),
            provider: provider(auth),
            conditions: vec![StoreCondition {
                namespaces: vec!["team-a".into()],
                ..Default::default()
            }],
            stamp: StoreStamp {
                kind: "SecretStore",
                name: "vault".into(),
                uid: None,
                generation: None,
            },
        }
    }

    #[test]
    fn the_connection_is_the_server_mount_and_version() {
        let (c, kv) = connection(&provider(token(None))).unwrap();
        assert_eq!(c.server, "https://vault.example:8200");
        assert_eq!(c.namespace.as_deref(), Some("team-a"));
        assert_eq!(kv, KvEngine { mount: "secret".into(), version: KvVersion::V2 });
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let mut p = provider(token(None));
        p.ca_bundle = Some(STANDARD.encode(pem));
        assert_eq!(connection(&p).unwrap().0.ca_bundle.as_deref(), Some(pem.as_bytes()));
        p.ca_bundle = Some(STANDARD.encode("not a cert"));
        assert!(connection(&p).unwrap_err().contains("no PEM certificate"));
        let mut p = provider(token(None));
        p.server = "vault.example:8200".into();
        assert!(connection(&p).unwrap_err().contains("spec.vault.server"));
        p.server = "https://user@vault.example".into();
        assert!(connection(&p).is_err());
        let mut p = provider(token(None));
        p.kv.version = 3;
        assert!(connection(&p).unwrap_err().contains("use 1 or 2"));
    }

    #[test]
    fn a_secret_store_reads_only_its_own_namespace() {
        assert_eq!(validate(&view(StoreKind::SecretStore, token(None))), Ok(()));
        assert_eq!(validate(&view(StoreKind::SecretStore, token(Some("team-a")))), Ok(()));
        let err = validate(&view(StoreKind::SecretStore, token(Some("kube-system")))).unwrap_err();
        assert!(err.contains("secretRef.namespace kube-system"), "{err}");
        let err = validate(&view(StoreKind::SecretStore, kubernetes(Some("other"), &["vault"])))
            .unwrap_err();
        assert!(err.contains("serviceAccountRef.namespace other"), "{err}");
    }

    #[test]
    fn a_cluster_store_names_the_namespace_of_its_secrets() {
        let err = validate(&view(StoreKind::ClusterSecretStore, token(None))).unwrap_err();
        assert!(err.contains("namespace is required"), "{err}");
        assert_eq!(validate(&view(StoreKind::ClusterSecretStore, token(Some("vault")))), Ok(()));
        let approle = VaultAuth::AppRole(AppRoleAuth {
            mount_path: "approle".into(),
            role_id: "r".into(),
            secret_ref: SecretKeyRef {
                name: "../x".into(),
                key: "k".into(),
                namespace: Some("v".into()),
            },
        });
        let err = validate(&view(StoreKind::ClusterSecretStore, approle)).unwrap_err();
        assert!(err.contains("is not a Secret name"), "{err}");
        let mut v = view(StoreKind::ClusterSecretStore, kubernetes(None, &["vault"]));
        v.conditions = vec![StoreCondition::default()];
        assert!(validate(&v).unwrap_err().contains("spec.conditions[0]"));
    }

    #[test]
    fn tokens_for_the_apiserver_audience_are_refused() {
        for a in
            ["https://kubernetes.default.svc.cluster.local", "kubernetes.default.svc", "api", ""]
        {
            let err = validate(&view(StoreKind::SecretStore, kubernetes(None, &["vault", a])))
                .unwrap_err();
            assert!(err.contains("valid for the Kubernetes API"), "{a}: {err}");
        }
        let err = validate(&view(StoreKind::SecretStore, kubernetes(None, &[]))).unwrap_err();
        assert!(err.contains("audiences is empty"), "{err}");
    }

    #[test]
    fn object_names_are_dns_subdomains() {
        for ok in ["a", "vault-token", "a.b-c", "x1"] {
            assert!(is_object_name(ok), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a/b", "..", "a_b", &"a".repeat(254)] {
            assert!(!is_object_name(bad), "{bad}");
        }
    }
}
