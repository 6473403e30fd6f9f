//! The manifests under deploy/ and crds/: valid against the Kubernetes API types, secure, in
//! step with the controller's flags and RBAC needs, and all listed in their kustomizations.
//!
//! The schema check: every YAML document is deserialized into its k8s-openapi 0.29 type (the
//! Kubernetes 1.33 API) and serialized back; any field of the original that does not survive
//! the round trip is unknown or misspelled (serde drops fields the type does not have), and a
//! field of the wrong type fails to deserialize.
#![cfg(feature = "kubernetes")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Namespace, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sealgate::controller::Cli;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const NAMESPACE: &str = "sealgate-system";
const SERVICE_ACCOUNT: &str = "sealgate-controller";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The YAML files of a folder, sorted, by file name.
fn yaml_files(dir: &str) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(repo(dir))
        .unwrap_or_else(|e| panic!("cannot read {dir}/: {e}"))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    files.sort();
    files
}

/// The non-empty YAML documents of a text, as JSON.
fn documents(text: &str, origin: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .unwrap_or_else(|e| panic!("{origin} is not valid YAML: {e}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Every manifest under deploy/ and crds/ (not the kustomizations), with the file it came from.
fn all_manifests() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for dir in ["deploy", "crds"] {
        for (name, path) in yaml_files(dir) {
            if name == "kustomization.yaml" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let origin = format!("{dir}/{name}");
            for doc in documents(&text, &origin) {
                out.push((origin.clone(), doc));
            }
        }
    }
    assert!(out.len() >= 11, "found only {} manifests: is the working directory right?", out.len());
    out
}

/// Deserializes `doc` as `T` and serializes it back.
fn round_trip<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

/// The typed round trip for a document's apiVersion and kind.
fn round_trip_by_kind(doc: &Value) -> Result<Value, String> {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    match (api_version, kind) {
        ("v1", "Namespace") => round_trip::<Namespace>(doc),
        ("v1", "ServiceAccount") => round_trip::<ServiceAccount>(doc),
        ("v1", "Service") => round_trip::<Service>(doc),
        ("apps/v1", "Deployment") => round_trip::<Deployment>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => round_trip::<ClusterRole>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            round_trip::<ClusterRoleBinding>(doc)
        }
        ("rbac.authorization.k8s.io/v1", "Role") => round_trip::<Role>(doc),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => round_trip::<RoleBinding>(doc),
        ("policy/v1", "PodDisruptionBudget") => round_trip::<PodDisruptionBudget>(doc),
        ("networking.k8s.io/v1", "NetworkPolicy") => round_trip::<NetworkPolicy>(doc),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
            round_trip::<ValidatingWebhookConfiguration>(doc)
        }
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            round_trip::<CustomResourceDefinition>(doc)
        }
        _ => Err(format!(
            "unknown apiVersion {api_version:?} kind {kind:?}: add it to round_trip_by_kind"
        )),
    }
}

/// A value that the typed side may legitimately drop: an absent optional field and an empty
/// one serialize the same way.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Paths of `original` that `typed` lost or changed. Fields the typed side adds (required
/// fields with empty defaults) are not differences; empty fields the typed side drops are not
/// either.
fn lost_fields(original: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(o), Value::Object(t)) => {
            for (key, value) in o {
                let here = format!("{path}.{key}");
                match t.get(key) {
                    Some(tv) => lost_fields(value, tv, &here, out),
                    None if is_empty(value) => {}
                    None => out.push(format!("{here}: unknown field")),
                }
            }
        }
        (Value::Array(o), Value::Array(t)) if o.len() == t.len() => {
            for (i, (ov, tv)) in o.iter().zip(t).enumerate() {
                lost_fields(ov, tv, &format!("{path}[{i}]"), out);
            }
        }
        (o, t) if o == t => {}
        (o, _) if is_empty(o) => {}
        (o, t) => out.push(format!("{path}: {o} became {t}")),
    }
}

/// The schema check of one document: an error message naming what is wrong, or nothing.
fn schema_problems(doc: &Value) -> Result<(), String> {
    let typed = round_trip_by_kind(doc)?;
    let mut lost = Vec::new();
    lost_fields(doc, &typed, "", &mut lost);
    if lost.is_empty() { Ok(()) } else { Err(lost.join("; ")) }
}

fn describe(doc: &Value) -> String {
    format!(
        "{} {}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// The one document of `kind` named `name`, typed.
fn find<T: DeserializeOwned>(kind: &str, name: &str) -> T {
    let matches: Vec<Value> = all_manifests()
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect();
    assert_eq!(matches.len(), 1, "expected exactly one {kind} {name}, found {}", matches.len());
    serde_json::from_value(matches[0].clone()).unwrap()
}

fn deployment() -> Deployment {
    find("Deployment", "sealgate-controller")
}

fn controller_container() -> Container {
    let d = deployment();
    let pod = d.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.containers.len(), 1, "one container: the controller");
    pod.containers.into_iter().next().unwrap()
}

fn pod_labels() -> BTreeMap<String, String> {
    deployment().spec.unwrap().template.metadata.unwrap().labels.unwrap()
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

// ---- the schema check itself ----

#[test]
fn every_manifest_matches_its_api_schema() {
    let mut problems = Vec::new();
    for (file, doc) in all_manifests() {
        if let Err(e) = schema_problems(&doc) {
            problems.push(format!("{file}: {}: {e}", describe(&doc)));
        }
    }
    assert!(
        problems.is_empty(),
        "manifests that do not match the Kubernetes API:\n{}",
        problems.join("\n")
    );
}

const GOOD_DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: probe, namespace: default, annotations: {}}
spec:
  replicas: 1
  selector: {matchLabels: {app: probe}}
  template:
    metadata: {labels: {app: probe}}
    spec:
      volumes: []
      containers:
        - name: c
          image: busybox
          resources: {limits: {memory: 128Mi}}
          securityContext: {readOnlyRootFilesystem: true}
"#;

#[test]
fn a_well_formed_manifest_with_empty_fields_passes_the_schema_check() {
    let doc = &documents(GOOD_DEPLOYMENT, "test")[0];
    assert_eq!(schema_problems(doc), Ok(()));
}

#[test]
fn a_misspelled_field_is_caught() {
    let bad = GOOD_DEPLOYMENT.replace("readOnlyRootFilesystem", "readOnlyRootFileSystem");
    let doc = &documents(&bad, "test")[0];
    let err = schema_problems(doc).unwrap_err();
    assert!(
        err.contains(".spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field"),
        "{err}"
    );
}

#[test]
fn a_field_at_the_wrong_level_is_caught() {
    let bad = GOOD_DEPLOYMENT.replace("  replicas: 1", "  replicas: 1\n  serviceAccountName: x");
    let err = schema_problems(&documents(&bad, "test")[0]).unwrap_err();
    assert!(err.contains(".spec.serviceAccountName: unknown field"), "{err}");
}

#[test]
fn a_value_of_the_wrong_type_or_an_unknown_kind_is_caught() {
    let bad = GOOD_DEPLOYMENT.replace("replicas: 1", "replicas: two");
    assert!(schema_problems(&documents(&bad, "test")[0]).is_err());
    let unknown = GOOD_DEPLOYMENT.replace("kind: Deployment", "kind: Deploymnet");
    let err = schema_problems(&documents(&unknown, "test")[0]).unwrap_err();
    assert!(err.contains("Deploymnet"), "{err}");
}

// ---- kustomize ----

/// A kustomization as we write them: only these fields.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    resources: Vec<String>,
}

fn kustomization(dir: &str) -> Kustomization {
    let text = std::fs::read_to_string(repo(&format!("{dir}/kustomization.yaml"))).unwrap();
    let k: Kustomization =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{dir}/kustomization.yaml: {e}"));
    assert_eq!(k.api_version, "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k.kind, "Kustomization");
    k
}

fn listed_vs_present(dir: &str, extra: &[&str]) {
    let listed: Vec<String> = kustomization(dir).resources;
    let unique: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), listed.len(), "{dir}/kustomization.yaml lists a file twice");
    let mut present: BTreeSet<String> = yaml_files(dir)
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name != "kustomization.yaml")
        .collect();
    present.extend(extra.iter().map(|s| (*s).to_owned()));
    let listed: BTreeSet<String> = listed.into_iter().collect();
    let missing: Vec<_> = present.difference(&listed).collect();
    let stray: Vec<_> = listed.difference(&present).collect();
    assert!(missing.is_empty(), "{dir}/kustomization.yaml does not list {missing:?}");
    assert!(stray.is_empty(), "{dir}/kustomization.yaml lists {stray:?}, which is not there");
}

#[test]
fn the_kustomizations_list_every_manifest_and_nothing_else() {
    listed_vs_present("deploy", &["../crds"]);
    listed_vs_present("crds", &[]);
}

/// `kubectl kustomize deploy` builds exactly the objects of the files. Needs kubectl on PATH;
/// `SEALGATE_NO_KUBECTL=1` opts out explicitly (the test then says so and checks nothing).
#[test]
fn kubectl_kustomize_builds_every_object() {
    if std::env::var_os("SEALGATE_NO_KUBECTL").is_some() {
        eprintln!("SKIPPED by SEALGATE_NO_KUBECTL: `kubectl kustomize deploy` was not run");
        return;
    }
    let output = match std::process::Command::new("kubectl")
        .args(["kustomize", "deploy"])
        .current_dir(repo(""))
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "kubectl is not on PATH: install it to check that `kubectl apply -k deploy/` builds, \
             or set SEALGATE_NO_KUBECTL=1 to skip this one check"
        ),
        Err(e) => panic!("cannot run kubectl: {e}"),
    };
    assert!(
        output.status.success(),
        "kubectl kustomize deploy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let built: BTreeSet<String> =
        documents(&String::from_utf8_lossy(&output.stdout), "kustomize output")
            .iter()
            .map(describe)
            .collect();
    let files: BTreeSet<String> = all_manifests().iter().map(|(_, d)| describe(d)).collect();
    assert_eq!(built, files);
}

// ---- placement and security ----

#[test]
fn namespaced_objects_live_in_the_controller_namespace() {
    let cluster_scoped = [
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "ValidatingWebhookConfiguration",
    ];
    for (file, doc) in all_manifests() {
        let kind = doc["kind"].as_str().unwrap();
        let ns = doc["metadata"]["namespace"].as_str();
        if cluster_scoped.contains(&kind) {
            assert_eq!(ns, None, "{file}: {} is cluster-scoped", describe(&doc));
        } else {
            assert_eq!(ns, Some(NAMESPACE), "{file}: {}", describe(&doc));
        }
    }
}

#[test]
fn the_deployment_runs_two_locked_down_replicas() {
    let d = deployment();
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let selector = spec.selector.match_labels.unwrap();
    assert!(selects(&selector, &pod_labels()), "the selector must match the pod labels");
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(SERVICE_ACCOUNT));
    assert_eq!(pod.automount_service_account_token, Some(true), "the controller needs the API");

    let psc = pod.security_context.unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert!(psc.run_as_user.is_some_and(|u| u > 0));
    assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");

    let spread = pod.topology_spread_constraints.unwrap_or_default();
    let anti = pod.affinity.and_then(|a| a.pod_anti_affinity);
    assert!(
        spread.iter().any(|c| c.topology_key == "kubernetes.io/hostname") || anti.is_some(),
        "the replicas must be spread over nodes"
    );

    let c = controller_container();
    let sc = c.security_context.unwrap();
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_ne!(sc.privileged, Some(true));
    assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    assert!(!c.image.unwrap_or_default().ends_with(":latest"), "pin the image tag");
}

#[test]
fn the_controller_has_requests_and_a_memory_limit() {
    let r = controller_container().resources.unwrap();
    let requests = r.requests.unwrap();
    let limits = r.limits.unwrap();
    assert!(requests.contains_key("cpu") && requests.contains_key("memory"), "{requests:?}");
    assert_eq!(requests["memory"].0, "64Mi");
    assert_eq!(limits["memory"].0, "128Mi", "room above the 64 MB RSS target");
}

fn named_port(c: &Container, name: &str) -> i32 {
    c.ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no container port named {name}"))
        .container_port
}

#[test]
fn probes_hit_the_health_port_on_the_right_paths() {
    let c = controller_container();
    assert_eq!(named_port(&c, "health"), 8081);
    assert_eq!(named_port(&c, "metrics"), 8080);
    for (probe, path) in [(c.liveness_probe, "/healthz"), (c.readiness_probe, "/readyz")] {
        let get = probe.unwrap_or_else(|| panic!("no probe for {path}")).http_get.unwrap();
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(get.port, IntOrString::String("health".into()));
    }
}

#[test]
fn the_args_are_flags_the_controller_knows_and_agree_with_the_ports() {
    let c = controller_container();
    let args = c.args.clone().unwrap_or_default();
    let cli = Cli::try_parse_from(std::iter::once("sealgate-controller".to_owned()).chain(args))
        .unwrap_or_else(|e| panic!("the Deployment's args do not parse: {e}"));
    assert!(cli.command.is_none(), "the Deployment must run the controller, not a subcommand");
    assert!(cli.run.leader_elect, "two replicas need leader election");
    assert_eq!(i32::from(cli.run.metrics_addr.port()), named_port(&c, "metrics"));
    assert_eq!(i32::from(cli.run.health_addr.port()), named_port(&c, "health"));
    let lease: Role = find("Role", "sealgate-controller");
    let lease_names: Vec<String> = lease
        .rules
        .unwrap()
        .into_iter()
        .filter(|r| r.resources.as_deref() == Some(&["leases".to_owned()][..]))
        .flat_map(|r| r.resource_names.unwrap_or_default())
        .collect();
    assert_eq!(lease_names, [cli.run.lease_name], "the Role must name the Lease the flags use");
}

#[test]
fn the_env_vars_are_ones_the_controller_reads() {
    let known: BTreeSet<String> = Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    let env = controller_container().env.unwrap_or_default();
    for var in &env {
        assert!(
            known.contains(&var.name),
            "{} is not read by the controller (known: {known:?})",
            var.name
        );
    }
    let pod_name = env.iter().find(|e| e.name == "POD_NAME").expect("POD_NAME: the lease identity");
    let field = pod_name.value_from.as_ref().and_then(|v| v.field_ref.as_ref()).unwrap();
    assert_eq!(field.field_path, "metadata.name");
}

#[test]
fn the_service_pdb_and_network_policy_select_the_controller_pods() {
    let labels = pod_labels();
    let c = controller_container();

    let svc: Service = find("Service", "sealgate-controller-metrics");
    let spec = svc.spec.unwrap();
    assert!(selects(&spec.selector.unwrap(), &labels));
    let ports = spec.ports.unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].target_port, Some(IntOrString::String("metrics".into())));
    assert_eq!(ports[0].port, named_port(&c, "metrics"));

    let pdb: PodDisruptionBudget = find("PodDisruptionBudget", "sealgate-controller");
    let spec = pdb.spec.unwrap();
    assert_eq!(spec.min_available, Some(IntOrString::Int(1)));
    assert!(selects(&spec.selector.unwrap().match_labels.unwrap(), &labels));

    let np: NetworkPolicy = find("NetworkPolicy", "sealgate-controller");
    let spec = np.spec.unwrap();
    assert!(selects(&spec.pod_selector.unwrap().match_labels.unwrap(), &labels));
    assert_eq!(spec.policy_types, Some(vec!["Ingress".to_owned(), "Egress".to_owned()]));
    let ports_of = |rules: Vec<Vec<k8s_openapi::api::networking::v1::NetworkPolicyPort>>| {
        rules
            .into_iter()
            .flatten()
            .map(|p| {
                let port = match p.port {
                    Some(IntOrString::Int(n)) => n,
                    other => panic!("use numeric ports, not {other:?}"),
                };
                (p.protocol.unwrap_or_else(|| "TCP".into()), port)
            })
            .collect::<BTreeSet<_>>()
    };
    let ingress = spec.ingress.unwrap();
    let ingress_ports =
        ports_of(ingress.into_iter().map(|r| r.ports.unwrap_or_default()).collect());
    let want: BTreeSet<_> =
        [named_port(&c, "metrics"), named_port(&c, "health"), named_port(&c, "webhook")]
            .into_iter()
            .map(|p| ("TCP".to_owned(), p))
            .collect();
    assert_eq!(ingress_ports, want, "ingress only to metrics, probes and the webhook");
    let egress = spec.egress.unwrap();
    assert!(
        egress.iter().all(|r| r.ports.as_ref().is_some_and(|p| !p.is_empty())),
        "every egress rule names its ports"
    );
    let egress_ports = ports_of(egress.into_iter().map(|r| r.ports.unwrap_or_default()).collect());
    let want: BTreeSet<_> = [("TCP", 443), ("TCP", 6443), ("TCP", 8200), ("UDP", 53), ("TCP", 53)]
        .map(|(p, n)| (p.to_owned(), n))
        .into();
    assert_eq!(egress_ports, want, "egress only to the apiserver, Vault and DNS");
}

#[test]
fn the_webhook_is_served_where_its_configuration_calls_it() {
    let c = controller_container();
    let args = c.args.clone().unwrap_or_default();
    let cli =
        Cli::try_parse_from(std::iter::once("sealgate-controller".to_owned()).chain(args)).unwrap();
    let addr = cli.run.webhook_addr.expect("the Deployment serves the webhook");
    assert_eq!(i32::from(addr.port()), named_port(&c, "webhook"));

    // The certificate volume is the cert dir, and optional so the pod starts without it.
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| Path::new(&m.mount_path) == cli.run.webhook_cert_dir)
        .expect("a volume mounted at --webhook-cert-dir");
    assert_eq!(mount.read_only, Some(true));
    let pod = deployment().spec.unwrap().template.spec.unwrap();
    let volume = pod.volumes.iter().flatten().find(|v| v.name == mount.name).unwrap();
    let secret = volume.secret.as_ref().expect("the certificate comes from a Secret");
    assert_eq!(secret.secret_name.as_deref(), Some("sealgate-webhook-tls"));
    assert_eq!(secret.optional, Some(true));

    let svc: Service = find("Service", "sealgate-webhook");
    let spec = svc.spec.unwrap();
    assert!(selects(&spec.selector.unwrap(), &pod_labels()));
    let port = &spec.ports.unwrap()[0];
    assert_eq!(port.target_port, Some(IntOrString::String("webhook".into())));

    let vwc: ValidatingWebhookConfiguration = find("ValidatingWebhookConfiguration", "sealgate");
    let hooks = vwc.webhooks.unwrap();
    let paths: Vec<_> = hooks
        .iter()
        .map(|h| {
            let svc = h.client_config.service.as_ref().expect("called through the Service");
            assert_eq!(
                (svc.name.as_str(), svc.namespace.as_str()),
                ("sealgate-webhook", NAMESPACE)
            );
            assert_eq!(svc.port, Some(port.port));
            assert_eq!(h.side_effects, "None", "{}", h.name);
            assert_eq!(h.admission_review_versions, ["v1"], "{}", h.name);
            assert_eq!(h.timeout_seconds, Some(5), "{}", h.name);
            assert_eq!(h.failure_policy.as_deref(), Some("Ignore"), "{}", h.name);
            svc.path.clone().unwrap()
        })
        .collect();
    assert_eq!(paths, ["/validate/secrets", "/validate/encryptedsecrets"]);
    let guard = hooks[0].namespace_selector.as_ref().unwrap().match_labels.clone().unwrap();
    assert_eq!(guard, BTreeMap::from([("sealgate.dev/guard".to_owned(), "enforce".to_owned())]));
    let rules = hooks[0].rules.clone().unwrap();
    assert_eq!(rules[0].resources.as_deref(), Some(&["secrets".to_owned()][..]));
    let rules = hooks[1].rules.clone().unwrap();
    assert_eq!(rules[0].api_groups.as_deref(), Some(&["sealgate.dev".to_owned()][..]));
}

#[test]
fn the_image_runs_as_the_user_the_pod_expects() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the Dockerfile sets a USER");
    let uid: i64 = user.split(':').next().unwrap().trim().parse().expect("a numeric USER");
    let pod = deployment().spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.security_context.unwrap().run_as_user, Some(uid));
    assert!(dockerfile.contains("--bin sealgate-controller"));
    let dockerignore = std::fs::read_to_string(repo(".dockerignore")).unwrap();
    assert!(dockerignore.lines().any(|l| l.trim() == "target/"), "keep target/ out of the context");
}

// ---- RBAC ----

/// A rule flattened to (apiGroup, resource, resourceName or "", verb).
fn grants(rules: &[PolicyRule]) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for r in rules {
        assert!(r.non_resource_urls.is_none(), "no non-resource URLs: {r:?}");
        let names = r
            .resource_names
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| vec![String::new()]);
        for g in r.api_groups.iter().flatten() {
            for res in r.resources.iter().flatten() {
                for n in &names {
                    for v in &r.verbs {
                        out.insert((g.clone(), res.clone(), n.clone(), v.clone()));
                    }
                }
            }
        }
    }
    out
}

fn expected(table: &[(&str, &str, &str, &[&str])]) -> BTreeSet<(String, String, String, String)> {
    table
        .iter()
        .flat_map(|(g, res, name, verbs)| {
            verbs
                .iter()
                .map(move |v| (g.to_string(), res.to_string(), name.to_string(), v.to_string()))
        })
        .collect()
}

#[test]
fn no_rbac_rule_uses_a_wildcard() {
    for (file, doc) in all_manifests() {
        let kind = doc["kind"].as_str().unwrap();
        if kind != "ClusterRole" && kind != "Role" {
            continue;
        }
        for rule in doc["rules"].as_array().unwrap() {
            for field in ["apiGroups", "resources", "verbs", "resourceNames"] {
                for item in rule[field].as_array().into_iter().flatten() {
                    let s = item.as_str().unwrap();
                    assert!(
                        !s.contains('*'),
                        "{file}: {}: {field} has {s:?}; spell it out",
                        describe(&doc)
                    );
                }
            }
            assert!(!rule["verbs"].as_array().unwrap().is_empty(), "{file}: a rule without verbs");
        }
    }
}

#[test]
fn the_cluster_role_grants_exactly_what_the_controller_does() {
    let role: ClusterRole = find("ClusterRole", "sealgate-controller");
    assert!(role.aggregation_rule.is_none());
    let want = expected(&[
        ("sealgate.dev", "encryptedsecrets", "", &["get", "list", "watch"]),
        ("sealgate.dev", "encryptedsecrets/status", "", &["patch"]),
        ("sealgate.dev", "vaultsecrets", "", &["list", "watch"]),
        ("sealgate.dev", "secretstores", "", &["get", "list", "watch"]),
        ("sealgate.dev", "clustersecretstores", "", &["get", "list", "watch"]),
        ("sealgate.dev", "vaultsecrets/status", "", &["patch"]),
        ("sealgate.dev", "secretstores/status", "", &["patch"]),
        ("sealgate.dev", "clustersecretstores/status", "", &["patch"]),
        ("", "secrets", "", &["get", "list", "watch", "create", "patch"]),
        ("", "serviceaccounts/token", "", &["create"]),
        ("", "namespaces", "", &["get"]),
        ("events.k8s.io", "events", "", &["create", "patch"]),
    ]);
    assert_eq!(grants(&role.rules.unwrap()), want);
}

#[test]
fn the_namespace_role_grants_exactly_the_key_lease_and_recipient_rights() {
    let role: Role = find("Role", "sealgate-controller");
    let want = expected(&[
        ("", "secrets", "", &["get", "list", "watch", "create"]),
        ("", "configmaps", "", &["create"]),
        ("", "configmaps", "sealgate-recipients", &["get", "patch"]),
        ("coordination.k8s.io", "leases", "", &["create"]),
        ("coordination.k8s.io", "leases", "sealgate-controller", &["get", "update", "patch"]),
    ]);
    assert_eq!(grants(&role.rules.unwrap()), want);
    assert_eq!(
        sealgate::controller::keys::RECIPIENTS_CONFIGMAP,
        "sealgate-recipients",
        "the Role names the recipients ConfigMap"
    );
}

#[test]
fn the_bindings_give_the_roles_to_the_controller_service_account() {
    let sa: ServiceAccount = find("ServiceAccount", SERVICE_ACCOUNT);
    assert_eq!(sa.metadata.namespace.as_deref(), Some(NAMESPACE));
    let crb: ClusterRoleBinding = find("ClusterRoleBinding", "sealgate-controller");
    let rb: RoleBinding = find("RoleBinding", "sealgate-controller");
    for (role_ref, subjects, kind) in
        [(crb.role_ref, crb.subjects, "ClusterRole"), (rb.role_ref, rb.subjects, "Role")]
    {
        assert_eq!((role_ref.kind.as_str(), role_ref.name.as_str()), (kind, "sealgate-controller"));
        assert_eq!(role_ref.api_group, "rbac.authorization.k8s.io");
        let subjects = subjects.unwrap();
        assert_eq!(subjects.len(), 1);
        let s = &subjects[0];
        assert_eq!(
            (s.kind.as_str(), s.name.as_str(), s.namespace.as_deref()),
            ("ServiceAccount", SERVICE_ACCOUNT, Some(NAMESPACE))
        );
    }
}
