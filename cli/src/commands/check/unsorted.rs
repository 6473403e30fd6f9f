//! Finding 4: `EncryptedSecret` files whose `spec` (or a map under it) is not in sorted key
//! order. The apiserver returns custom resources with sorted keys and the SOPS MAC depends on
//! the order of the encrypted values, so such a file stops verifying once applied.

use sealgate::format::tree::{Document, Node};
use sealgate::seal;

use super::finding::{Finding, rules, shell_quote};
use super::locate::Step;
use super::source::Source;

/// The finding for document `index` of `src`, when it is an unsorted `EncryptedSecret`.
pub fn check(src: &Source, index: usize, doc: &Document) -> Option<Finding> {
    if doc.get("kind").and_then(Node::as_str) != Some(seal::KIND)
        || doc.get("apiVersion").and_then(Node::as_str) != Some(seal::API_VERSION)
    {
        return None;
    }
    let unsorted = seal::first_unsorted_path(doc)?;
    let scope = doc
        .get("spec")
        .and_then(Node::as_map)
        .and_then(|s| s.get("scope"))
        .and_then(Node::as_str)
        .filter(|s| ["strict", "namespace", "cluster"].contains(s))
        .unwrap_or("strict");
    let pos = src.located.find(index, &dotted_path(&unsorted));
    let file = shell_quote(&src.display);
    Some(Finding::new(
        &src.display,
        pos,
        rules::UNSORTED,
        format!(
            "EncryptedSecret: the keys of `{unsorted}` are not in sorted order, so its MAC will \
             not verify once the apiserver sorts them; seal it again: \
             `sealgate unseal {file} | sealgate seal --scope {scope} --output {file} -` \
             (add --age RECIPIENTS when no .sops.yaml rule covers the file)"
        ),
    ))
}

/// `spec.data` or `spec.list[0].x` as steps.
fn dotted_path(dotted: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in dotted.split('.') {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        out.push(Step::Key(key.to_owned()));
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealgate::format::store::{self, Format};

    fn run(text: &str) -> Option<Finding> {
        let src = Source::new("s.sealed.yaml", Format::Yaml, text);
        let docs = store::parse_plain(Format::Yaml, text.as_bytes()).unwrap();
        check(&src, 0, &docs[0])
    }

    const HEAD: &str =
        "apiVersion: sealgate.dev/v1alpha1\nkind: EncryptedSecret\nmetadata:\n    name: a\nspec:\n";

    #[test]
    fn flags_the_unsorted_map_with_the_fix() {
        let text = format!(
            "{HEAD}    binding: x\n    data:\n        z: x\n        a: x\n    scope: namespace\n"
        );
        let f = run(&text).expect("a finding");
        assert_eq!((f.line, f.column), (7, 5));
        assert!(f.message.contains("spec.data"), "{}", f.message);
        assert!(
            f.message.contains(
                "sealgate unseal s.sealed.yaml | sealgate seal --scope namespace --output s.sealed.yaml -"
            ),
            "{}",
            f.message
        );
    }

    #[test]
    fn sorted_spec_and_other_kinds_are_fine() {
        assert!(
            run(&format!("{HEAD}    binding: x\n    data:\n        a: x\n        z: x\n"))
                .is_none()
        );
        assert!(run("apiVersion: v1\nkind: ConfigMap\nspec:\n    z: 1\n    a: 2\n").is_none());
    }

    #[test]
    fn dotted_paths_with_indices() {
        assert_eq!(
            dotted_path("spec.l[2].x"),
            vec![
                Step::Key("spec".into()),
                Step::Key("l".into()),
                Step::Index(2),
                Step::Key("x".into())
            ]
        );
    }
}
