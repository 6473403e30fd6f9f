//! `/validate/secrets`: refuses plaintext `Secret` writes in guarded namespaces, except the
//! controller's own and the allow-listed types.
//!
//! Which namespaces are guarded is decided by the webhook configuration's `namespaceSelector`
//! (`sealgate.dev/guard=enforce`): every request that reaches this handler is in one.

use k8s_openapi::api::core::v1::Secret;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};

/// The label that puts a namespace under the guard (matched by the webhook configuration).
pub const GUARD_LABEL: &str = "sealgate.dev/guard";
/// The value of [`GUARD_LABEL`] that enforces it.
pub const GUARD_ENFORCE: &str = "enforce";

/// The default allow-list: service-account tokens, Helm release records, and TLS Secrets that
/// cert-manager wrote (it sets `cert-manager.io/certificate-name` on every Secret it issues).
pub const DEFAULT_ALLOWED_TYPES: [&str; 3] = [
    "kubernetes.io/service-account-token",
    "helm.sh/release.v1",
    "kubernetes.io/tls@cert-manager.io/certificate-name",
];

/// One allow-list entry: a Secret type, and optionally an annotation the Secret must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedType {
    pub secret_type: String,
    pub annotation: Option<String>,
}

impl AllowedType {
    /// Parses `TYPE` or `TYPE@ANNOTATION` (e.g. `kubernetes.io/tls@cert-manager.io/certificate-name`).
    ///
    /// # Errors
    /// A message naming the entry when a part is empty.
    pub fn parse(entry: &str) -> Result<AllowedType, String> {
        let (secret_type, annotation) = match entry.split_once('@') {
            Some((t, a)) => (t.trim(), Some(a.trim())),
            None => (entry.trim(), None),
        };
        if secret_type.is_empty() || annotation.is_some_and(str::is_empty) {
            return Err(format!(
                "{entry:?} is not an allowed Secret type: use TYPE or TYPE@ANNOTATION \
                 (e.g. kubernetes.io/tls@cert-manager.io/certificate-name)"
            ));
        }
        Ok(AllowedType {
            secret_type: secret_type.to_owned(),
            annotation: annotation.map(str::to_owned),
        })
    }

    fn allows(&self, secret: &Secret) -> bool {
        let secret_type = secret.type_.as_deref().unwrap_or("Opaque");
        secret_type == self.secret_type
            && self.annotation.as_ref().is_none_or(|a| {
                secret.metadata.annotations.as_ref().is_some_and(|m| m.contains_key(a))
            })
    }
}

/// Who may write Secrets in guarded namespaces, and which Secrets anyone may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Usernames (`userInfo.username`) whose writes are always allowed: the controller's.
    pub allowed_users: Vec<String>,
    pub allowed_types: Vec<AllowedType>,
}

impl Policy {
    /// The controller's ServiceAccount username in `namespace`.
    pub fn controller_user(namespace: &str) -> String {
        format!("system:serviceaccount:{namespace}:sealgate-controller")
    }
}

/// Decides one `Secret` admission request.
///
/// Allowed: any operation but CREATE and UPDATE; the allowed users; allow-listed types; and a
/// Secret with no `data` and no `stringData` entries (it holds nothing to seal). Denied:
/// everything else, with a message that names the Secret and how to seal it instead. The
/// message never contains a value.
pub fn validate_secret(req: &AdmissionRequest<Secret>, policy: &Policy) -> AdmissionResponse {
    let response = AdmissionResponse::from(req);
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return response;
    }
    if req.user_info.username.as_ref().is_some_and(|u| policy.allowed_users.contains(u)) {
        return response;
    }
    let Some(secret) = req.object.as_ref() else {
        return response.deny("the admission request carries no Secret object");
    };
    if policy.allowed_types.iter().any(|t| t.allows(secret)) {
        return response;
    }
    let empty = secret.data.as_ref().is_none_or(|d| d.is_empty())
        && secret.string_data.as_ref().is_none_or(|d| d.is_empty());
    if empty {
        return response;
    }
    let namespace = req.namespace.as_deref().unwrap_or_default();
    let name = secret.metadata.name.as_deref().unwrap_or(req.name.as_str());
    response.deny(format!(
        "sealgate: plaintext Secrets may not be written in namespace {namespace} (labelled \
         {GUARD_LABEL}={GUARD_ENFORCE}); seal Secret {namespace}/{name} instead and apply the \
         EncryptedSecret: `kubectl create secret ... --dry-run=client -o yaml | sealgate seal \
         --from-cluster - > {name}.sealed.yaml`"
    ))
}
