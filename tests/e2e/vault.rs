//! The Vault scenarios: a local OpenBao (on 127.0.0.1, reachable by the out-of-cluster
//! controller) as the source of `VaultSecret`s, with token auth and with Kubernetes auth whose
//! TokenReview goes to the cluster under test.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::store::Format;
use sealgate::keys::{GroupSpec, KeySpec, VaultTransitUri, wrap_data_key};
use sealgate::seal::{self, Scope};
use sealgate::vault::{TransitConfig, VaultTransit};

use super::cluster::{apply_es, create_namespace, delete_namespaces, secret_api, wait_reason};
use super::env::Env;
use super::openbao::{OpenBao, ROOT_TOKEN};
use super::sealing::Plain;
use super::support::{Ctx, R, ensure, eventually, note};

const RECONCILE: Duration = Duration::from_secs(60);
const MANAGER: &str = "sealgate-e2e";

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("sealgate.dev", "v1alpha1", kind))
}

fn api(env: &Env, ns: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(env.client.clone(), ns, &resource(kind))
}

async fn apply(api: &Api<DynamicObject>, name: &str, body: Value) -> R {
    api.patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body))
        .await
        .map(drop)
        .ctx(format!("apply {name}"))
}

/// The `Ready` condition of a dynamic object: (status, reason).
fn ready(obj: &DynamicObject) -> Option<(String, String)> {
    let c = obj.data["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Ready")?;
    Some((c["status"].as_str()?.to_owned(), c["reason"].as_str()?.to_owned()))
}

async fn wait_ready(api: &Api<DynamicObject>, name: &str, status: &str, reason: &str) -> R {
    eventually(&format!("{name} Ready={status} {reason}"), RECONCILE, || async {
        let obj = api.get(name).await.ctx("get")?;
        let seen = ready(&obj);
        ensure(seen.as_ref().is_some_and(|(s, r)| s == status && r == reason), || {
            format!("Ready is {seen:?}")
        })
    })
    .await
}

/// A store reports `Ready=True` once the controller has logged in with its credentials.
async fn wait_store_ready(api: &Api<DynamicObject>, name: &str) -> R {
    eventually(&format!("store {name} Ready=True"), RECONCILE, || async {
        let obj = api.get(name).await.ctx("get")?;
        let seen = ready(&obj);
        ensure(seen.as_ref().is_some_and(|(s, _)| s == "True"), || format!("Ready is {seen:?}"))
    })
    .await
}

async fn wait_value(secrets: &Api<Secret>, name: &str, key: &str, want: &str) -> R {
    eventually(&format!("Secret {name} key {key} = the Vault value"), RECONCILE, || async {
        let s = secrets.get_opt(name).await.ctx("get Secret")?.ctx("no Secret yet")?;
        let got = s.data.as_ref().and_then(|d| d.get(key)).map(|b| b.0.clone());
        ensure(got.as_deref() == Some(want.as_bytes()), || format!("{key} not (yet) the value"))
    })
    .await
}

fn seed(bao: &OpenBao, env: &Env, password: &str) {
    bao.ok(&["kv", "put", "-mount=secret", "e2e/db", &format!("password={password}"), "user=app"]);
    bao.ok(&["kv", "put", "-mount=secret", "e2e/common", "region=eu-1", "tier=gold"]);
    env.register([password.to_owned(), STANDARD.encode(password)]);
}

fn vault_secret(store: &str, name: &str) -> Value {
    json!({
        "apiVersion": "sealgate.dev/v1alpha1", "kind": "VaultSecret",
        "metadata": {"name": name},
        "spec": {
            "storeRef": {"kind": "SecretStore", "name": store},
            "refreshInterval": "10s",
            "data": [{"secretKey": "password", "remoteRef": {"path": "e2e/db", "property": "password"}}],
            "dataFrom": [{"path": "e2e/common"}],
        }
    })
}

/// (l) Token auth: values arrive, a Vault change follows, Vault down keeps the Secret with
/// `VaultUnavailable`, and Vault back restores `Synced`.
pub async fn vault_secret_follows_vault_and_survives_an_outage(env: Arc<Env>) -> R {
    let ns = env.ns_a.clone();
    let mut bao = OpenBao::start();
    let first = env.marker("vault-one");
    seed(&bao, &env, &first);
    let secrets = secret_api(&env.client, &ns);
    let token = Secret {
        metadata: kube::api::ObjectMeta { name: Some("vault-token".into()), ..Default::default() },
        string_data: Some([("token".to_owned(), ROOT_TOKEN.to_owned())].into()),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &token).await.ctx("create the token Secret")?;
    let stores = api(&env, &ns, "SecretStore");
    apply(
        &stores,
        "vault",
        json!({
            "apiVersion": "sealgate.dev/v1alpha1", "kind": "SecretStore",
            "metadata": {"name": "vault"},
            "spec": {"vault": {
                "server": bao.addr, "kv": {"mount": "secret", "version": 2},
                "auth": {"token": {"secretRef": {"name": "vault-token", "key": "token"}}}
            }}
        }),
    )
    .await?;
    wait_store_ready(&stores, "vault").await?;
    let vss = api(&env, &ns, "VaultSecret");
    apply(&vss, "db", vault_secret("vault", "db")).await?;
    wait_value(&secrets, "db", "password", &first).await?;
    wait_value(&secrets, "db", "region", "eu-1").await?;
    wait_ready(&vss, "db", "True", "Synced").await?;

    let second = env.marker("vault-two");
    seed(&bao, &env, &second);
    wait_value(&secrets, "db", "password", &second).await?;
    let versions = vss.get("db").await.ctx("get")?.data["status"]["versions"].clone();
    ensure(versions.to_string().contains("\"version\":2"), || {
        format!("status.versions should show KV version 2 of e2e/db, is {versions}")
    })?;

    bao.stop();
    wait_ready(&vss, "db", "False", "VaultUnavailable").await?;
    let kept = secrets.get("db").await.ctx("Secret kept while Vault is down")?;
    let kept_pw = kept.data.as_ref().and_then(|d| d.get("password")).map(|b| b.0.clone());
    ensure(kept_pw.as_deref() == Some(second.as_bytes()), || {
        "the last good value must be kept while Vault is down".to_owned()
    })?;

    bao.restart();
    let third = env.marker("vault-three");
    seed(&bao, &env, &third);
    wait_value(&secrets, "db", "password", &third).await?;
    wait_ready(&vss, "db", "True", "Synced").await?;
    note("synced, followed a change, kept the Secret through an outage, recovered");
    Ok(())
}

/// (m) Kubernetes auth: OpenBao's Kubernetes auth reviews tokens with this cluster; the
/// controller logs in with a TokenRequest for the named ServiceAccount (audience `vault`).
pub async fn vault_kubernetes_auth_uses_the_service_account(env: Arc<Env>) -> R {
    let ns = env.ns_a.clone();
    let bao = OpenBao::start();
    let value = env.marker("vault-k8s");
    bao.ok(&["kv", "put", "-mount=secret", "e2e/k8s", &format!("password={value}")]);
    env.register([value.clone(), STANDARD.encode(&value)]);

    // A reviewer ServiceAccount allowed to call TokenReview, for OpenBao.
    let sas: Api<ServiceAccount> = Api::namespaced(env.client.clone(), &ns);
    for name in ["vault-reviewer", "app"] {
        let sa = ServiceAccount {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
            ..Default::default()
        };
        sas.create(&PostParams::default(), &sa)
            .await
            .ctx(format!("create ServiceAccount {name}"))?;
    }
    let crbs: Api<ClusterRoleBinding> = Api::all(env.client.clone());
    let crb_name = format!("sealgate-e2e-{}-reviewer", env.run_id);
    let crb: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": crb_name, "labels": {"sealgate.dev/e2e": "true"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
        "subjects": [{"kind": "ServiceAccount", "name": "vault-reviewer", "namespace": ns}]
    }))
    .ctx("binding")?;
    crbs.create(&PostParams::default(), &crb).await.ctx("create the auth-delegator binding")?;
    let result = kubernetes_auth_flow(&env, &bao, &ns, &sas, &value).await;
    let _ = crbs.delete(&crb_name, &DeleteParams::default()).await;
    result
}

async fn kubernetes_auth_flow(
    env: &Env,
    bao: &OpenBao,
    ns: &str,
    sas: &Api<ServiceAccount>,
    value: &str,
) -> R {
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(3600), ..Default::default() },
        ..Default::default()
    };
    let reviewer = sas
        .create_token_request("vault-reviewer", &PostParams::default(), &request)
        .await
        .ctx("TokenRequest for the reviewer")?
        .status
        .ctx("TokenRequest has no status")?
        .token;
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&env.kubeconfig).ctx("read kubeconfig")?,
        &Default::default(),
    )
    .await
    .ctx("kubeconfig")?;
    let host = config.cluster_url.to_string().trim_end_matches('/').to_owned();
    let ca_path = bao.home().join("cluster-ca.pem");
    let pem: String = config
        .root_cert
        .unwrap_or_default()
        .iter()
        .map(|der| {
            let b64 = STANDARD.encode(der);
            let lines: Vec<&str> =
                b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            )
        })
        .collect();
    std::fs::write(&ca_path, pem).ctx("write the cluster CA")?;
    let policy = bao.home().join("k8s.hcl");
    std::fs::write(&policy, "path \"secret/data/e2e/*\" { capabilities = [\"read\"] }\n")
        .ctx("policy")?;
    bao.ok(&["policy", "write", "e2e-app", policy.to_str().unwrap_or_default()]);
    bao.ok(&["auth", "enable", "kubernetes"]);
    let mut cfg = vec![
        "write".to_owned(),
        "auth/kubernetes/config".to_owned(),
        format!("kubernetes_host={host}"),
        format!("token_reviewer_jwt={reviewer}"),
    ];
    if std::fs::metadata(&ca_path).map(|m| m.len() > 0).unwrap_or(false) {
        cfg.push(format!("kubernetes_ca_cert=@{}", ca_path.display()));
    }
    bao.ok(&cfg.iter().map(String::as_str).collect::<Vec<_>>());
    bao.ok(&[
        "write",
        "auth/kubernetes/role/app",
        "bound_service_account_names=app",
        &format!("bound_service_account_namespaces={ns}"),
        "audience=vault",
        "token_policies=e2e-app",
        "token_ttl=10m",
    ]);

    let stores = api(env, ns, "SecretStore");
    apply(&stores, "vault-k8s", json!({
        "apiVersion": "sealgate.dev/v1alpha1", "kind": "SecretStore",
        "metadata": {"name": "vault-k8s"},
        "spec": {"vault": {
            "server": bao.addr, "kv": {"mount": "secret", "version": 2},
            "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "app",
                                    "serviceAccountRef": {"name": "app"}, "audiences": ["vault"]}}
        }}
    }))
    .await?;
    wait_store_ready(&stores, "vault-k8s").await?;
    let vss = api(env, ns, "VaultSecret");
    apply(&vss, "k8s-auth", json!({
        "apiVersion": "sealgate.dev/v1alpha1", "kind": "VaultSecret",
        "metadata": {"name": "k8s-auth"},
        "spec": {
            "storeRef": {"kind": "SecretStore", "name": "vault-k8s"},
            "refreshInterval": "1h",
            "data": [{"secretKey": "password", "remoteRef": {"path": "e2e/k8s", "property": "password"}}],
        }
    }))
    .await?;
    let secrets = secret_api(&env.client, ns);
    wait_value(&secrets, "k8s-auth", "password", value).await?;
    wait_ready(&vss, "k8s-auth", "True", "Synced").await?;
    let logins = bao.audited("update", "auth/kubernetes/login");
    ensure(logins == 1, || format!("expected one Kubernetes login, OpenBao saw {logins}"))?;
    note(
        "logged in with the app ServiceAccount's audience-bound token; TokenReview by the cluster",
    );
    Ok(())
}

/// Seals `plain` with only a Vault transit key (in process, as `sealgate seal
/// --hc-vault-transit` does), then points the file's unauthenticated `vault_address` at a dead
/// port: the controller must use its store's server, never the file's.
fn seal_with_transit(bao: &OpenBao, plain: &Plain) -> R<Value> {
    let uri = VaultTransitUri::parse(&format!("{}/v1/transit/keys/e2e", bao.addr)).ctx("URI")?;
    let client = VaultTransit::new(TransitConfig::with_token(
        zeroize::Zeroizing::new(ROOT_TOKEN.to_owned()),
        None,
        None,
    ));
    let now = Timestamp::now_utc();
    let key = DataKey::generate();
    let groups = [GroupSpec(vec![KeySpec::HcVault(uri)])];
    let (key_groups, threshold) = wrap_data_key(&key, &groups, 0, Some(&client), now)
        .ctx("wrap the data key with transit")?;
    let file =
        seal::seal(&plain.to_manifest(), Scope::Strict, &key, key_groups, threshold, None, now)
            .ctx("seal")?;
    let json = file.emit_as(Format::Json).ctx("emit JSON")?;
    let mut sealed: Value = serde_json::from_slice(&json).ctx("sealed JSON")?;
    let stanza = sealed["sops"]["hc_vault"][0].as_object_mut().ctx("no sops.hc_vault stanza")?;
    stanza.insert("vault_address".into(), json!("http://127.0.0.1:1"));
    Ok(sealed)
}

/// (n) `--transit-store`: an `EncryptedSecret` whose data key only Vault transit can unwrap
/// materializes through a replica pointed at a `SecretStore` — no private key involved — and
/// the address written in the file is never contacted.
pub async fn transit_store_opens_hc_vault_sealed_objects(env: Arc<Env>) -> R {
    let ns = format!("{}-transit", env.controller_ns);
    create_namespace(&env.client, &ns).await?;
    let result = transit_flow(&env, &ns).await;
    delete_namespaces(&env.client, std::slice::from_ref(&ns)).await;
    result
}

async fn transit_flow(env: &Arc<Env>, ns: &str) -> R {
    let bao = OpenBao::start();
    bao.ok(&["secrets", "enable", "transit"]);
    bao.ok(&["write", "-f", "transit/keys/e2e"]);
    let secrets = secret_api(&env.client, ns);
    let token = Secret {
        metadata: kube::api::ObjectMeta { name: Some("vault-token".into()), ..Default::default() },
        string_data: Some([("token".to_owned(), ROOT_TOKEN.to_owned())].into()),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &token).await.ctx("create the token Secret")?;
    let stores = api(env, ns, "SecretStore");
    apply(
        &stores,
        "vault-transit",
        json!({
            "apiVersion": "sealgate.dev/v1alpha1", "kind": "SecretStore",
            "metadata": {"name": "vault-transit"},
            "spec": {"vault": {
                "server": bao.addr, "kv": {"mount": "secret", "version": 2},
                "auth": {"token": {"secretRef": {"name": "vault-token", "key": "token"}}}
            }}
        }),
    )
    .await?;
    let lease = format!("sealgate-e2e-transit-{}", env.run_id);
    let store = format!("SecretStore/{ns}/vault-transit");
    env.start_replica_with("transit", &[ns.to_owned()], Some(&lease), Some(&store)).await?;

    let mut plain = env.plain(ns, "transit-creds");
    plain.namespace = ns.to_owned();
    let sealed = seal_with_transit(&bao, &plain)?;
    apply_es(&env.client, ns, &sealed).await?;
    wait_reason(&env.client, ns, &plain.name, &["Materialized"], RECONCILE).await?;
    let secret = secrets.get(&plain.name).await.ctx("get the Secret")?;
    plain.check_values(&secret)?;
    let unwraps = bao.audited("update", "transit/decrypt/e2e");
    ensure(unwraps >= 1, || "OpenBao saw no transit decrypt".to_owned())?;
    note(format!("materialized through the store's Vault ({unwraps} transit unwrap(s))"));
    Ok(())
}
