//! A `ClusterSecretStore`'s `conditions`: which namespaces may use it (by name or label
//! selector) and which paths each may read. Checked before anything is read.

use std::collections::BTreeMap;

use super::paths::{prefix_segments, under_prefix};
use crate::controller::reason::{Reason, Refusal};
use crate::crd::{LabelSelector, SelectorOperator, StoreCondition};

/// Whether any condition selects namespaces by label (then the namespace's labels are needed).
pub fn needs_labels(conditions: &[StoreCondition]) -> bool {
    conditions.iter().any(|c| c.namespace_selector.is_some())
}

/// Whether `selector` selects an object with `labels` (Kubernetes semantics: every
/// `matchLabels` entry and every expression must hold; `{}` selects everything).
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_label = selector.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v));
    let by_expression = selector.match_expressions.iter().all(|e| {
        let value = labels.get(&e.key);
        match e.operator {
            SelectorOperator::In => value.is_some_and(|v| e.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !e.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
        }
    });
    by_label && by_expression
}

/// Spec problems of `conditions`, for the store's status.
///
/// # Errors
/// A message naming the condition and the field.
pub fn validate(conditions: &[StoreCondition]) -> Result<(), String> {
    for (i, c) in conditions.iter().enumerate() {
        if c.namespaces.is_empty() && c.namespace_selector.is_none() {
            return Err(format!(
                "conditions[{i}] names no namespace: set namespaces, or namespaceSelector ({{}} \
                 selects every namespace)"
            ));
        }
        for e in c.namespace_selector.iter().flat_map(|s| &s.match_expressions) {
            let needs_values = matches!(e.operator, SelectorOperator::In | SelectorOperator::NotIn);
            if needs_values == e.values.is_empty() {
                return Err(format!(
                    "conditions[{i}].namespaceSelector: the {:?} expression on {} {}",
                    e.operator,
                    e.key,
                    if needs_values { "needs values" } else { "takes no values" }
                ));
            }
        }
        for p in &c.path_prefixes {
            prefix_segments(p, "namespace").map_err(|e| format!("conditions[{i}]: {e}"))?;
        }
    }
    Ok(())
}

/// Checks that `namespace` (with `labels`, when a selector needs them) may read every one of
/// `paths` (normalised) through the store `store`. No conditions allow nothing.
///
/// # Errors
/// [`Reason::StoreNotAllowed`] naming the namespace or the first refused path, and what the
/// store allows.
pub fn check_allowed(
    store: &str,
    conditions: &[StoreCondition],
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
    paths: &[&str],
) -> Result<(), Refusal> {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let applicable: Vec<&StoreCondition> = conditions
        .iter()
        .filter(|c| {
            c.namespaces.iter().any(|n| n == namespace)
                || c.namespace_selector.as_ref().is_some_and(|s| selects(s, labels))
        })
        .collect();
    if applicable.is_empty() {
        return Err(Refusal::new(
            Reason::StoreNotAllowed,
            format!(
                "ClusterSecretStore {store} may not be used from namespace {namespace}: none of \
                 its conditions selects it; ask its owner to add the namespace to its conditions, \
                 or use a SecretStore in this namespace"
            ),
        ));
    }
    let mut prefixes: Vec<Vec<String>> = Vec::new();
    for c in &applicable {
        if c.path_prefixes.is_empty() {
            return Ok(());
        }
        for p in &c.path_prefixes {
            // An invalid prefix allows nothing (the store's status names it).
            if let Ok(segments) = prefix_segments(p, namespace) {
                prefixes.push(segments);
            }
        }
    }
    for path in paths {
        if !prefixes.iter().any(|p| under_prefix(path, p)) {
            let allowed: Vec<String> =
                prefixes.iter().map(|p| format!("{}/", p.join("/"))).collect();
            return Err(Refusal::new(
                Reason::StoreNotAllowed,
                format!(
                    "ClusterSecretStore {store} does not allow namespace {namespace} to read path \
                     {path}; it allows paths under: {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn expr(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let ns = labels(&[("team", "a"), ("tier", "prod")]);
        assert!(selects(&LabelSelector::default(), &ns), "{{}} selects everything");
        let by_label =
            LabelSelector { match_labels: labels(&[("team", "a")]), ..LabelSelector::default() };
        assert!(selects(&by_label, &ns));
        assert!(!selects(&by_label, &labels(&[("team", "b")])));
        let cases = [
            (expr("tier", SelectorOperator::In, &["prod", "staging"]), true),
            (expr("tier", SelectorOperator::In, &["dev"]), false),
            (expr("tier", SelectorOperator::NotIn, &["dev"]), true),
            (expr("missing", SelectorOperator::NotIn, &["dev"]), true),
            (expr("tier", SelectorOperator::NotIn, &["prod"]), false),
            (expr("team", SelectorOperator::Exists, &[]), true),
            (expr("missing", SelectorOperator::Exists, &[]), false),
            (expr("missing", SelectorOperator::DoesNotExist, &[]), true),
            (expr("team", SelectorOperator::DoesNotExist, &[]), false),
        ];
        for (e, want) in cases {
            let sel = LabelSelector { match_expressions: vec![e.clone()], ..Default::default() };
            assert_eq!(selects(&sel, &ns), want, "{e:?}");
        }
        let both = LabelSelector {
            match_labels: labels(&[("team", "a")]),
            match_expressions: vec![expr("tier", SelectorOperator::In, &["dev"])],
        };
        assert!(!selects(&both, &ns), "every part must hold");
    }

    fn issue_conditions() -> Vec<StoreCondition> {
        vec![
            StoreCondition {
                namespaces: vec!["team-a".into()],
                path_prefixes: vec!["teams/{namespace}/".into(), "shared/".into()],
                ..StoreCondition::default()
            },
            StoreCondition {
                namespace_selector: Some(LabelSelector {
                    match_labels: labels(&[("vault", "prod")]),
                    ..LabelSelector::default()
                }),
                path_prefixes: vec!["prod/{namespace}".into()],
                ..StoreCondition::default()
            },
        ]
    }

    #[test]
    fn a_listed_namespace_reads_its_prefixes_only() {
        let c = issue_conditions();
        let ok = |ns: &str, l: Option<&BTreeMap<String, String>>, paths: &[&str]| {
            check_allowed("vault", &c, ns, l, paths)
        };
        assert_eq!(ok("team-a", None, &["teams/team-a/db", "shared/ca"]), Ok(()));
        let err = ok("team-a", None, &["teams/team-a/db", "teams/team-b/db"]).unwrap_err();
        assert_eq!(err.reason, Reason::StoreNotAllowed);
        assert!(err.message.contains("path teams/team-b/db"), "{}", err.message);
        assert!(err.message.contains("teams/team-a/, shared/"), "{}", err.message);
        let err = ok("team-b", None, &["shared/ca"]).unwrap_err();
        assert!(err.message.contains("namespace team-b"), "{}", err.message);
    }

    #[test]
    fn a_labelled_namespace_reads_through_the_selector_condition() {
        let c = issue_conditions();
        let prod = labels(&[("vault", "prod")]);
        assert_eq!(check_allowed("v", &c, "payments", Some(&prod), &["prod/payments/db"]), Ok(()));
        assert!(check_allowed("v", &c, "payments", Some(&prod), &["prod/other/db"]).is_err());
        assert!(check_allowed("v", &c, "payments", None, &["prod/payments/db"]).is_err());
        assert!(needs_labels(&c));
        assert!(!needs_labels(&c[..1]));
    }

    #[test]
    fn no_conditions_allow_nothing_and_no_prefixes_allow_every_path() {
        let err = check_allowed("v", &[], "team-a", None, &["x"]).unwrap_err();
        assert_eq!(err.reason, Reason::StoreNotAllowed);
        let open = [StoreCondition { namespaces: vec!["team-a".into()], ..Default::default() }];
        assert_eq!(check_allowed("v", &open, "team-a", None, &["any/path"]), Ok(()));
    }

    #[test]
    fn conditions_without_namespaces_or_with_bad_expressions_are_invalid() {
        let err = validate(&[StoreCondition::default()]).unwrap_err();
        assert!(err.contains("conditions[0] names no namespace"), "{err}");
        let bad = StoreCondition {
            namespace_selector: Some(LabelSelector {
                match_expressions: vec![expr("tier", SelectorOperator::In, &[])],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(validate(&[bad]).unwrap_err().contains("needs values"));
        let dots = StoreCondition {
            namespaces: vec!["a".into()],
            path_prefixes: vec!["teams/../".into()],
            ..Default::default()
        };
        assert!(validate(&[dots]).unwrap_err().contains("conditions[0]"));
        assert_eq!(validate(&issue_conditions()), Ok(()));
    }
}
