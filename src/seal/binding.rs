//! Scopes and bindings: where a sealed file may be used (`ns/name`, `ns/*` or `*/*`), and the
//! check that a file's decrypted binding agrees with its declared scope and its real location.

use std::fmt;
use std::str::FromStr;

use super::names;

/// How tightly an `EncryptedSecret` is bound to its location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Only this name in this namespace: binding `ns/name`.
    Strict,
    /// Any name in this namespace: binding `ns/*`.
    Namespace,
    /// Anywhere in the cluster: binding `*/*`.
    Cluster,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Strict, Scope::Namespace, Scope::Cluster];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::Namespace => "namespace",
            Scope::Cluster => "cluster",
        }
    }

    /// Reads `strict`, `namespace` or `cluster` (exactly, as written in `spec.scope`).
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// True when sealing needs the Secret's namespace.
    pub fn needs_namespace(self) -> bool {
        !matches!(self, Scope::Cluster)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `spec.scope` (or a `--scope` argument) is not one of the three scopes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}: expected strict, namespace or cluster")]
pub struct ParseScopeError(pub String);

impl FromStr for Scope {
    type Err = ParseScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::parse(s).ok_or_else(|| ParseScopeError(s.chars().take(64).collect()))
    }
}

/// The binding plaintext for a scope: `ns/name`, `ns/*` or `*/*`.
///
/// The caller supplies valid names (a namespace is ignored for [`Scope::Cluster`]).
pub fn binding_for(scope: Scope, namespace: &str, name: &str) -> String {
    match scope {
        Scope::Strict => format!("{namespace}/{name}"),
        Scope::Namespace => format!("{namespace}/*"),
        Scope::Cluster => "*/*".to_owned(),
    }
}

/// A parsed, well-formed binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    Strict { namespace: String, name: String },
    Namespace { namespace: String },
    Cluster,
}

impl Binding {
    /// Parses `ns/name`, `ns/*` or `*/*`, with a valid namespace (DNS label) and name (DNS
    /// subdomain). `None` for anything else, including `*/name`.
    pub fn parse(s: &str) -> Option<Binding> {
        let (ns, name) = s.split_once('/')?;
        match (ns, name) {
            ("*", "*") => Some(Binding::Cluster),
            ("*", _) => None,
            (ns, "*") => {
                names::check_dns_label(ns).ok()?;
                Some(Binding::Namespace { namespace: ns.to_owned() })
            }
            (ns, name) => {
                names::check_dns_label(ns).ok()?;
                names::check_dns_subdomain(name).ok()?;
                Some(Binding::Strict { namespace: ns.to_owned(), name: name.to_owned() })
            }
        }
    }

    pub fn scope(&self) -> Scope {
        match self {
            Binding::Strict { .. } => Scope::Strict,
            Binding::Namespace { .. } => Scope::Namespace,
            Binding::Cluster => Scope::Cluster,
        }
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Binding::Strict { namespace, name } => write!(f, "{namespace}/{name}"),
            Binding::Namespace { namespace } => write!(f, "{namespace}/*"),
            Binding::Cluster => f.write_str("*/*"),
        }
    }
}

/// Why a file may not be used where it is. Messages name the object and the binding (neither
/// is secret), never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    #[error(
        "the binding of {object} is not well formed (expected namespace/name, namespace/* or */*); the file was not made by `sealgate seal`: re-seal it"
    )]
    Malformed { object: String },
    #[error(
        "{object} declares scope {declared} but its encrypted binding is {binding} (scope {bound}); spec.scope was edited: restore it to {bound}, or re-seal with --scope {declared}"
    )]
    ScopeDisagrees { object: String, declared: Scope, binding: String, bound: Scope },
    #[error(
        "this file was sealed for {binding}; it cannot be used as {object}: re-seal it for {object}"
    )]
    StrictMismatch { object: String, binding: String },
    #[error(
        "this file was sealed for namespace {bound_namespace}; it cannot be used in namespace {namespace} (as {object}): re-seal it for namespace {namespace}"
    )]
    NamespaceMismatch { object: String, bound_namespace: String, namespace: String },
}

/// Checks a decrypted binding against the declared scope and the object's real location.
///
/// # Errors
/// - [`BindingError::Malformed`] when `binding_plain` is not `ns/name`, `ns/*` or `*/*` with
///   valid names;
/// - [`BindingError::ScopeDisagrees`] when `declared_scope` is not the binding's scope;
/// - [`BindingError::StrictMismatch`] / [`BindingError::NamespaceMismatch`] when the object is
///   not where the binding allows.
pub fn check_binding(
    binding_plain: &str,
    declared_scope: Scope,
    actual_namespace: &str,
    actual_name: &str,
) -> Result<Binding, BindingError> {
    let object = format!("{actual_namespace}/{actual_name}");
    let binding = Binding::parse(binding_plain)
        .ok_or(BindingError::Malformed { object: format!("EncryptedSecret {object}") })?;
    if binding.scope() != declared_scope {
        return Err(BindingError::ScopeDisagrees {
            object: format!("EncryptedSecret {object}"),
            declared: declared_scope,
            binding: binding.to_string(),
            bound: binding.scope(),
        });
    }
    match &binding {
        Binding::Strict { namespace, name }
            if namespace != actual_namespace || name != actual_name =>
        {
            Err(BindingError::StrictMismatch { object, binding: binding.to_string() })
        }
        Binding::Namespace { namespace } if namespace != actual_namespace => {
            Err(BindingError::NamespaceMismatch {
                object,
                bound_namespace: namespace.clone(),
                namespace: actual_namespace.to_owned(),
            })
        }
        _ => Ok(binding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parses_and_displays_its_cli_names() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert!("Strict".parse::<Scope>().is_err());
        assert!("".parse::<Scope>().is_err());
    }

    #[test]
    fn binding_strings_per_scope() {
        assert_eq!(binding_for(Scope::Strict, "payments", "db-creds"), "payments/db-creds");
        assert_eq!(binding_for(Scope::Namespace, "payments", "db-creds"), "payments/*");
        assert_eq!(binding_for(Scope::Cluster, "payments", "db-creds"), "*/*");
        for scope in Scope::ALL {
            let b = binding_for(scope, "payments", "db-creds");
            assert_eq!(Binding::parse(&b).map(|b| b.scope()), Some(scope));
        }
    }

    #[test]
    fn rejects_malformed_bindings() {
        for bad in ["", "payments", "*/db", "payments/", "/db", "Payments/db", "a/b/c", "p/*x"] {
            assert_eq!(Binding::parse(bad), None, "{bad}");
            assert!(matches!(
                check_binding(bad, Scope::Strict, "payments", "db"),
                Err(BindingError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn strict_binding_matches_only_its_object() {
        assert!(check_binding("payments/db-creds", Scope::Strict, "payments", "db-creds").is_ok());
        let err =
            check_binding("payments/db-creds", Scope::Strict, "staging", "db-creds").unwrap_err();
        assert_eq!(
            err.to_string(),
            "this file was sealed for payments/db-creds; it cannot be used as staging/db-creds: re-seal it for staging/db-creds"
        );
        assert!(matches!(
            check_binding("payments/db-creds", Scope::Strict, "payments", "other"),
            Err(BindingError::StrictMismatch { .. })
        ));
    }

    #[test]
    fn namespace_binding_matches_any_name_in_its_namespace() {
        assert!(check_binding("payments/*", Scope::Namespace, "payments", "anything").is_ok());
        let err = check_binding("payments/*", Scope::Namespace, "staging", "x").unwrap_err();
        assert!(err.to_string().contains("re-seal it for namespace staging"), "{err}");
    }

    #[test]
    fn cluster_binding_matches_everywhere() {
        assert_eq!(check_binding("*/*", Scope::Cluster, "any", "thing"), Ok(Binding::Cluster));
    }

    #[test]
    fn scope_disagreeing_with_binding_is_refused() {
        for (binding, declared) in [
            ("payments/db", Scope::Cluster),
            ("payments/db", Scope::Namespace),
            ("payments/*", Scope::Strict),
            ("*/*", Scope::Namespace),
        ] {
            assert!(
                matches!(
                    check_binding(binding, declared, "payments", "db"),
                    Err(BindingError::ScopeDisagrees { .. })
                ),
                "{binding} {declared}"
            );
        }
    }
}
