//! Kubernetes name rules sealing depends on: object names, namespaces, Secret keys, label and
//! annotation keys and label values, checked as the apiserver checks them (without regexes).
//!
//! Each check returns `Err(reason)` with a short, fixed reason that never repeats the input.

/// Longest DNS subdomain (object names, Secret keys, key prefixes).
pub const DNS_SUBDOMAIN_MAX: usize = 253;
/// Longest DNS label (namespaces, the name part of a qualified name, label values).
pub const DNS_LABEL_MAX: usize = 63;

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// One RFC 1123 label: lowercase alphanumerics and `-`, starting and ending alphanumeric.
fn label_ok(s: &[u8]) -> bool {
    match (s.first(), s.last()) {
        (Some(&a), Some(&z)) => {
            is_lower_alnum(a)
                && is_lower_alnum(z)
                && s.iter().all(|&b| is_lower_alnum(b) || b == b'-')
        }
        _ => false,
    }
}

/// A namespace: an RFC 1123 DNS label (at most 63 characters).
pub fn check_dns_label(s: &str) -> Result<(), &'static str> {
    if s.len() > DNS_LABEL_MAX {
        return Err("must be at most 63 characters");
    }
    if !label_ok(s.as_bytes()) {
        return Err(
            "must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit",
        );
    }
    Ok(())
}

/// An object name: an RFC 1123 DNS subdomain (labels joined by `.`, at most 253 characters).
pub fn check_dns_subdomain(s: &str) -> Result<(), &'static str> {
    if s.len() > DNS_SUBDOMAIN_MAX {
        return Err("must be at most 253 characters");
    }
    if s.is_empty() || !s.as_bytes().split(|&b| b == b'.').all(label_ok) {
        return Err(
            "must be a DNS subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        );
    }
    Ok(())
}

/// A key of `data` or `stringData` (Kubernetes `IsConfigMapKey`): `[-._a-zA-Z0-9]+`, at most
/// 253 characters, not `.` or `..` and not starting with `..`.
pub fn check_secret_key(s: &str) -> Result<(), &'static str> {
    if s.len() > DNS_SUBDOMAIN_MAX {
        return Err("must be at most 253 characters");
    }
    if s.is_empty()
        || !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err("must consist of letters, digits, '-', '_' or '.'");
    }
    if s == "." || s.starts_with("..") {
        return Err("must not be '.' or '..' and must not start with '..'");
    }
    Ok(())
}

/// The name part of a qualified name, or a non-empty label value: at most 63 characters of
/// `[-A-Za-z0-9_.]`, starting and ending alphanumeric.
fn check_name_part(s: &str) -> Result<(), &'static str> {
    if s.len() > DNS_LABEL_MAX {
        return Err("must be at most 63 characters (after any prefix)");
    }
    let b = s.as_bytes();
    let ends_ok = matches!((b.first(), b.last()), (Some(a), Some(z))
        if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric());
    if !ends_ok || !b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')) {
        return Err(
            "must consist of letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
        );
    }
    Ok(())
}

/// A label or annotation key: `[prefix/]name` where the prefix is a DNS subdomain.
pub fn check_qualified_name(s: &str) -> Result<(), &'static str> {
    match s.split_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() || check_dns_subdomain(prefix).is_err() {
                return Err("has a prefix (before '/') that is not a DNS subdomain");
            }
            check_name_part(name)
        }
        None => check_name_part(s),
    }
}

/// A label value: empty, or a name part (at most 63 characters).
pub fn check_label_value(s: &str) -> Result<(), &'static str> {
    if s.is_empty() { Ok(()) } else { check_name_part(s) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_follow_rfc_1123() {
        assert!(check_dns_label("payments").is_ok());
        assert!(check_dns_label("a-1").is_ok());
        for bad in ["", "-a", "a-", "Payments", "a.b", "a_b", &"a".repeat(64)] {
            assert!(check_dns_label(bad).is_err(), "{bad}");
        }
        assert!(check_dns_subdomain("db-creds.v2").is_ok());
        for bad in ["", ".a", "a.", "a..b", "A", &"a".repeat(254)] {
            assert!(check_dns_subdomain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_keys_follow_configmap_key_rules() {
        for ok in ["tls.key", "API_TOKEN", ".hidden", "a-b", "B"] {
            assert!(check_secret_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "..x", "a/b", "a b", "ключ", &"k".repeat(254)] {
            assert!(check_secret_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qualified_names_and_label_values() {
        for ok in ["app", "app.kubernetes.io/name", "example.com/Owner_1"] {
            assert!(check_qualified_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/x", "Example.com/x", "a/", "-x", "a/b/c", &"n".repeat(64)] {
            assert!(check_qualified_name(bad).is_err(), "{bad}");
        }
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("v1.2_3").is_ok());
        assert!(check_label_value("has space").is_err());
    }
}
