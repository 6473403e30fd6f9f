//! The functional scenarios, each asserting on the real apiserver with polling and a deadline.
//! Each one makes its own objects (names are unique per scenario), so one failure does not
//! cascade, except that all of them need the primary replica from setup.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use sealgate::controller::keys::{KEY_LABEL, KEY_LABEL_ACTIVE, RECIPIENTS_CONFIGMAP};
use sealgate::controller::materialize::{ADOPT_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use sealgate::crd::EncryptedSecret;
use serde_json::{Value, json};

use super::cluster::{apply_es, es_api, ready, secret_api, wait_reason};
use super::env::Env;
use super::sealing::{Plain, seal_in_process, seal_with_cli};
use super::support::{Ctx, R, ensure, eventually, note};

/// How long a reconcile may take to show (status, Secret written).
const RECONCILE: Duration = Duration::from_secs(60);
/// How fast drift must be repaired.
const REPAIR: Duration = Duration::from_secs(30);
/// The Lease the primary and the second replica share (the controller's default).
const LEASE: &str = "sealgate-controller";

/// (a) The controller makes its key Secret, publishes the recipients, and becomes ready.
pub async fn keys_published_and_ready(env: Arc<Env>) -> R {
    let secrets = secret_api(&env.client, &env.controller_ns);
    let selector = format!("{KEY_LABEL}={KEY_LABEL_ACTIVE}");
    let what = format!("a key Secret ({selector}) in {}", env.controller_ns);
    let keys = eventually(&what, Duration::from_secs(120), || async {
        let list = secrets.list(&ListParams::default().labels(&selector)).await.ctx("list")?;
        ensure(!list.items.is_empty(), || "none yet".to_owned())?;
        Ok(list.items)
    })
    .await?;
    let mut public = Vec::new();
    for key in &keys {
        public.extend(identities_in(key).iter().map(|i| i.to_public().to_string()));
    }
    ensure(!public.is_empty(), || {
        format!("no AGE-SECRET-KEY-1… identity in the key Secret(s) {:?}", names(&keys))
    })?;

    let recipient = env.recipient().await?;
    ensure(public.contains(&recipient), || {
        format!(
            "the published recipient {recipient} is not the public key of any key Secret \
             (those are {public:?})"
        )
    })?;
    let cm: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(env.client.clone(), &env.controller_ns);
    let published = serde_json::to_string(&cm.get(RECIPIENTS_CONFIGMAP).await.ctx("get")?.data)
        .ctx("ConfigMap data")?;
    ensure(!published.contains("AGE-SECRET-KEY"), || {
        "the recipients ConfigMap contains a secret key".to_owned()
    })?;

    let replicas = env.replicas.lock().await;
    let primary = replicas.first().ctx("no primary replica")?;
    ensure(primary.probe("/healthz").await? == 200, || "/healthz is not 200".to_owned())?;
    eventually("/readyz answers 200", RECONCILE, || async {
        match primary.probe("/readyz").await? {
            200 => Ok(()),
            code => Err(format!("/readyz answered {code}")),
        }
    })
    .await?;
    eventually("the primary reports itself leader with ≥ 1 identity", RECONCILE, || async {
        let leader = primary.metric("sealgate_leader").await?;
        let ids = primary.metric("sealgate_keyring_identities").await?;
        ensure(leader == 1.0 && ids >= 1.0, || {
            format!("sealgate_leader {leader}, sealgate_keyring_identities {ids}")
        })
    })
    .await?;
    note(format!("key Secrets: {:?}; recipient {recipient}", names(&keys)));
    Ok(())
}

/// (b) A Secret sealed with the CLI and applied becomes the right Secret, with a status.
pub async fn cli_sealed_secret_materializes(env: Arc<Env>) -> R {
    let recipient = env.recipient().await?;
    let plain = env.plain(&env.ns_a, "app-creds");
    let sealed = seal_with_cli(&env.cli, &plain, &recipient)?;
    let applied = apply_es(&env.client, &env.ns_a, &sealed).await?;
    let es = wait_reason(&env.client, &env.ns_a, &plain.name, &["Materialized"], RECONCILE).await?;
    let cond = ready(&es).ctx("no Ready condition")?;
    ensure(cond.status == "True", || format!("Ready is {}, not True", cond.status))?;
    let status = es.status.as_ref().ctx("no status")?;
    ensure(status.secret_name.as_deref() == Some(plain.name.as_str()), || {
        format!("status.secretName is {:?}", status.secret_name)
    })?;
    ensure(status.key_id.as_deref() == Some(recipient.as_str()), || {
        format!("status.keyId is {:?}, expected the recipient {recipient}", status.key_id)
    })?;
    let secret = secret_api(&env.client, &env.ns_a).get(&plain.name).await.ctx("get the Secret")?;
    check_materialized(&plain, &es, &secret)?;
    ensure(applied.uid() == es.uid(), || "the object was replaced meanwhile".to_owned())
}

/// (c) The apiserver itself refuses plaintext where ciphertext belongs (CRD pattern): 422.
pub async fn apiserver_refuses_plaintext(env: Arc<Env>) -> R {
    let recipient = env.recipient().await?;
    let plain = env.plain(&env.ns_a, "plaintext");
    let sealed = seal_in_process(&plain, &recipient)?;
    let leaked = format!("{}-plain", env.marker("plaintext"));
    env.register([leaked.clone()]);
    let api = es_api(&env.client, &env.ns_a);
    for (field, pointer) in [
        ("spec.stringData.dsn", "/spec/stringData/dsn"),
        ("spec.data.password", "/spec/data/password"),
        ("spec.binding", "/spec/binding"),
    ] {
        let mut object = sealed.clone();
        *object.pointer_mut(pointer).ctx(format!("the sealed file has no {field}"))? =
            Value::String(leaked.clone());
        let es: EncryptedSecret = serde_json::from_value(object).ctx("EncryptedSecret")?;
        match api.create(&PostParams::default(), &es).await {
            Err(kube::Error::Api(s)) if s.code == 422 => ensure(s.message.contains(field), || {
                format!("the 422 for {field} does not name the field: {}", s.message)
            })?,
            Err(e) => return Err(format!("plaintext in {field}: expected 422 Invalid, got {e}")),
            Ok(_) => return Err(format!("the apiserver accepted plaintext in {field}")),
        }
        let stored = api.get_opt(&plain.name).await.ctx("get")?;
        ensure(stored.is_none(), || {
            format!("an object exists after the refused create ({field})")
        })?;
    }
    Ok(())
}

/// (d) The sealed file works where it was sealed for, and is refused in another namespace.
pub async fn moved_namespace_is_refused(env: Arc<Env>) -> R {
    let recipient = env.recipient().await?;
    let plain = env.plain(&env.ns_a, "moved");
    let sealed = seal_with_cli(&env.cli, &plain, &recipient)?;
    apply_es(&env.client, &env.ns_a, &sealed).await?;
    wait_reason(&env.client, &env.ns_a, &plain.name, &["Materialized"], RECONCILE).await?;

    apply_es(&env.client, &env.ns_b, &sealed).await?;
    let es =
        wait_reason(&env.client, &env.ns_b, &plain.name, &["BindingMismatch"], RECONCILE).await?;
    let cond = ready(&es).ctx("no Ready condition")?;
    ensure(cond.status == "False", || format!("Ready is {} for a refusal", cond.status))?;
    let there = secret_api(&env.client, &env.ns_b).get_opt(&plain.name).await.ctx("get")?;
    ensure(there.is_none(), || format!("a Secret {}/{} was written", env.ns_b, plain.name))
}

/// A tampering: what it is, the reasons that may report it, and the edit.
type TamperCase = (&'static str, &'static [&'static str], fn(&mut Value) -> R);

/// (e) Tampered ciphertext is refused and the existing Secret is left exactly as it was.
pub async fn tampering_is_refused_and_writes_nothing(env: Arc<Env>) -> R {
    let recipient = env.recipient().await?;
    let plain = env.plain(&env.ns_a, "tampered");
    let sealed = seal_in_process(&plain, &recipient)?;
    let secrets = secret_api(&env.client, &env.ns_a);

    let cases: [TamperCase; 3] = [
        ("two values swapped", &["DecryptFailed", "MacMismatch"], swap_values),
        ("a ciphertext byte changed", &["DecryptFailed", "MacMismatch"], flip_ciphertext),
        ("an encrypted value removed", &["MacMismatch"], remove_value),
    ];
    for (what, reasons, tamper) in cases {
        // Back to the good file first: the Secret is (re)written and the baseline taken.
        apply_es(&env.client, &env.ns_a, &sealed).await?;
        wait_reason(&env.client, &env.ns_a, &plain.name, &["Materialized"], RECONCILE).await?;
        let before = secrets.get(&plain.name).await.ctx("get the Secret")?;
        plain.check_values(&before)?;

        let mut bad = sealed.clone();
        tamper(&mut bad)?;
        apply_es(&env.client, &env.ns_a, &bad).await?;
        let es = wait_reason(&env.client, &env.ns_a, &plain.name, reasons, RECONCILE)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        let after = secrets.get(&plain.name).await.ctx("get the Secret")?;
        ensure(after.resource_version() == before.resource_version(), || {
            format!(
                "{what}: the Secret was written ({:?} → {:?})",
                before.resource_version(),
                after.resource_version()
            )
        })?;
        plain.check_values(&after)?;
        note(format!("{what}: {}", ready(&es).map(|c| c.reason.as_str()).unwrap_or("?")));
    }
    Ok(())
}

fn enc_value<'a>(v: &'a mut Value, pointer: &str) -> R<&'a mut Value> {
    v.pointer_mut(pointer).ctx(format!("the sealed file has no {pointer}"))
}

fn swap_values(v: &mut Value) -> R {
    let a = enc_value(v, "/spec/data/password")?.take();
    let b = std::mem::replace(enc_value(v, "/spec/data/username")?, a);
    *enc_value(v, "/spec/data/password")? = b;
    Ok(())
}

fn flip_ciphertext(v: &mut Value) -> R {
    let value = enc_value(v, "/spec/stringData/dsn")?;
    let text = value.as_str().ctx("not a string")?;
    let at = text.find("data:").ctx("not an ENC value")? + "data:".len();
    let old = text.as_bytes()[at];
    let new = if old == b'A' { 'B' } else { 'A' };
    let mut out = text.to_owned();
    out.replace_range(at..=at, &new.to_string());
    *value = Value::String(out);
    Ok(())
}

fn remove_value(v: &mut Value) -> R {
    let data = enc_value(v, "/spec/data")?.as_object_mut().ctx("spec.data is not a map")?;
    data.remove("username").ctx("no spec.data.username")?;
    Ok(())
}

/// (f) A hand-edited and then a deleted Secret are put back within seconds.
pub async fn drift_is_repaired(env: Arc<Env>) -> R {
    let plain = materialized(&env, &env.ns_a, "drift").await?;
    repair_check(&env, &plain).await
}

/// Edits the Secret's value by hand, then deletes it; both must be repaired.
async fn repair_check(env: &Env, plain: &Plain) -> R {
    let secrets = secret_api(&env.client, &plain.namespace);
    let hand = json!({ "data": { "password": STANDARD.encode(b"edited by hand") } });
    let hand_edit =
        PatchParams { field_manager: Some("e2e-hand-edit".to_owned()), ..Default::default() };
    let edited = secrets
        .patch(&plain.name, &hand_edit, &Patch::Merge(&hand))
        .await
        .ctx("cannot edit the Secret")?;
    let edited_version = edited.resource_version();
    let started = Instant::now();
    eventually("the edited value is restored", REPAIR, || async {
        let s = secrets.get(&plain.name).await.ctx("get")?;
        ensure(s.resource_version() != edited_version, || "not rewritten yet".to_owned())?;
        plain.check_values(&s)
    })
    .await?;
    note(format!("edit repaired in {:.1}s", started.elapsed().as_secs_f64()));

    let old_uid = secrets.get(&plain.name).await.ctx("get")?.uid();
    secrets.delete(&plain.name, &DeleteParams::default()).await.ctx("cannot delete the Secret")?;
    let started = Instant::now();
    eventually("the deleted Secret is re-created", REPAIR, || async {
        let s = secrets.get(&plain.name).await.ctx("get")?;
        ensure(s.uid() != old_uid, || "still the old Secret".to_owned())?;
        plain.check_values(&s)
    })
    .await?;
    note(format!("deletion repaired in {:.1}s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// (g) A Secret the controller did not create is left alone (SecretConflict) until the
/// `EncryptedSecret` opts in to adopting it.
pub async fn foreign_secret_needs_adoption(env: Arc<Env>) -> R {
    let recipient = env.recipient().await?;
    let plain = env.plain(&env.ns_a, "preexisting");
    let secrets = secret_api(&env.client, &env.ns_a);
    let foreign = Secret {
        metadata: kube::api::ObjectMeta { name: Some(plain.name.clone()), ..Default::default() },
        data: Some(BTreeMap::from([
            ("password".to_owned(), ByteString(b"not from sealgate".to_vec())),
            ("stale".to_owned(), ByteString(b"left over".to_vec())),
        ])),
        ..Default::default()
    };
    let foreign = secrets.create(&PostParams::default(), &foreign).await.ctx("create")?;

    let sealed = seal_in_process(&plain, &recipient)?;
    apply_es(&env.client, &env.ns_a, &sealed).await?;
    let es =
        wait_reason(&env.client, &env.ns_a, &plain.name, &["SecretConflict"], RECONCILE).await?;
    let cond = ready(&es).ctx("no Ready condition")?;
    ensure(cond.status == "False", || format!("Ready is {} for a conflict", cond.status))?;
    ensure(cond.message.contains(ADOPT_ANNOTATION), || {
        format!("the conflict message does not say how to adopt: {}", cond.message)
    })?;
    let now = secrets.get(&plain.name).await.ctx("get")?;
    ensure(now.resource_version() == foreign.resource_version(), || {
        "the foreign Secret was written".to_owned()
    })?;
    ensure(now.metadata.owner_references.is_none(), || "an owner reference was added".to_owned())?;

    let annotate = json!({ "metadata": { "annotations": { ADOPT_ANNOTATION: "true" } } });
    es_api(&env.client, &env.ns_a)
        .patch(&plain.name, &PatchParams::default(), &Patch::Merge(&annotate))
        .await
        .ctx("cannot annotate the EncryptedSecret")?;
    let adopted = eventually("the Secret is taken over", RECONCILE, || async {
        let s = secrets.get(&plain.name).await.ctx("get")?;
        check_owner(&s, &es)?;
        Ok(s)
    })
    .await?;
    let want = plain.expected_data();
    let got = adopted.data.clone().unwrap_or_default();
    for (k, v) in &want {
        ensure(got.get(k).map(|b| &b.0) == Some(v), || {
            format!("after adoption, key {k} does not hold the sealed value")
        })?;
    }
    // Adoption replaces the Secret whole: keys the EncryptedSecret does not have are gone.
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    ensure(extra.is_empty(), || {
        format!("after adoption the Secret keeps keys the EncryptedSecret does not have: {extra:?}")
    })?;
    wait_reason(&env.client, &env.ns_a, &plain.name, &["Materialized"], RECONCILE).await?;
    Ok(())
}

/// (h) A key Secret added by hand is used without a restart.
pub async fn hand_added_key_is_picked_up(env: Arc<Env>) -> R {
    let secrets = secret_api(&env.client, &env.controller_ns);
    let selector = format!("{KEY_LABEL}={KEY_LABEL_ACTIVE}");
    let existing = secrets.list(&ListParams::default().labels(&selector)).await.ctx("list")?;
    let model = existing.items.first().ctx("no key Secret to model the new one on")?;

    let (identity_text, recipient) =
        sealgate::keys::generate_identity_file(sealgate::format::Timestamp::now_utc());
    // Same shape as the controller's own: the identity under the key holding its identity,
    // the recipient under a key holding a recipient, same labels and type.
    let mut data = BTreeMap::new();
    let mut holds_identity = false;
    for (k, v) in model.data.iter().flatten() {
        let text = String::from_utf8_lossy(&v.0);
        if text.contains("AGE-SECRET-KEY-1") {
            data.insert(k.clone(), ByteString(identity_text.as_bytes().to_vec()));
            holds_identity = true;
        } else if text.trim().starts_with("age1") {
            data.insert(k.clone(), ByteString(recipient.as_bytes().to_vec()));
        }
    }
    ensure(holds_identity, || {
        format!("no value of the key Secret {} holds an age identity", model.name_any())
    })?;
    let mut labels = model.labels().clone();
    labels.insert(KEY_LABEL.to_owned(), KEY_LABEL_ACTIVE.to_owned());
    let name = format!("e2e-hand-key-{}", env.run_id);
    let key_secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        type_: model.type_.clone(),
        data: Some(data),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &key_secret).await.ctx("create the key Secret")?;
    drop(identity_text);

    let plain = env.plain(&env.ns_a, "hand-key");
    let sealed = seal_in_process(&plain, &recipient)?;
    apply_es(&env.client, &env.ns_a, &sealed).await?;
    let es =
        wait_reason(&env.client, &env.ns_a, &plain.name, &["Materialized"], RECONCILE * 2).await?;
    let key_id = es.status.as_ref().and_then(|s| s.key_id.clone());
    ensure(key_id.as_deref() == Some(recipient.as_str()), || {
        format!("status.keyId is {key_id:?}, expected the hand-added {recipient}")
    })?;
    let secret = secret_api(&env.client, &env.ns_a).get(&plain.name).await.ctx("get")?;
    check_materialized(&plain, &es, &secret)
}

/// How many objects the bulk scenario makes (`SEALGATE_E2E_BULK`, default 1,000).
fn bulk_count() -> usize {
    std::env::var("SEALGATE_E2E_BULK").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

/// (i) 1,000 objects applied at once all become Secrets; the time is printed.
pub async fn thousand_objects_materialize(env: Arc<Env>) -> R {
    let n = bulk_count();
    let recipient = env.recipient().await?;
    let report = bulk_run(&env, &env.ns_bulk, n, &recipient, Duration::from_secs(600)).await?;
    note(report.line());
    let es_list =
        es_api(&env.client, &env.ns_bulk).list(&ListParams::default()).await.ctx("list")?;
    let done = es_list
        .items
        .iter()
        .filter(|es| ready(es).is_some_and(|c| c.reason == "Materialized"))
        .count();
    eventually("every status says Materialized", RECONCILE, || async {
        let list =
            es_api(&env.client, &env.ns_bulk).list(&ListParams::default()).await.ctx("list")?;
        let done = list
            .items
            .iter()
            .filter(|es| ready(es).is_some_and(|c| c.reason == "Materialized"))
            .count();
        ensure(done == n, || format!("{done} of {n} Materialized"))
    })
    .await
    .map_err(|e| format!("{e} (first look: {done})"))
}

/// What a bulk apply measured.
pub struct BulkReport {
    pub n: usize,
    pub seal: Duration,
    pub apply: Duration,
    pub all_present: Duration,
}

impl BulkReport {
    pub fn line(&self) -> String {
        format!(
            "{} objects: sealed in {:.1}s (in process), applied in {:.1}s, all {} Secrets present \
             {:.1}s after the first apply ({:.0} objects/s)",
            self.n,
            self.seal.as_secs_f64(),
            self.apply.as_secs_f64(),
            self.n,
            self.all_present.as_secs_f64(),
            self.n as f64 / self.all_present.as_secs_f64().max(1e-9)
        )
    }
}

/// Seals `n` objects in process, applies them (32 at a time) into `ns`, and waits until all
/// `n` Secrets exist; spot-checks the values of the first and last.
pub async fn bulk_run(
    env: &Env,
    ns: &str,
    n: usize,
    recipient: &str,
    timeout: Duration,
) -> R<BulkReport> {
    let started = Instant::now();
    let (ns_owned, recipient_owned, marker) =
        (ns.to_owned(), recipient.to_owned(), env.marker("bulk"));
    let sealed: Vec<(Plain, Value)> = tokio::task::spawn_blocking(move || {
        (0..n)
            .map(|i| {
                let plain =
                    Plain::typical(&ns_owned, &format!("bulk-{i:05}"), &format!("{marker}{i}"));
                let sealed = seal_in_process(&plain, &recipient_owned)?;
                Ok((plain, sealed))
            })
            .collect::<R<Vec<_>>>()
    })
    .await
    .ctx("sealing panicked")??;
    let seal = started.elapsed();
    let (first, last) = (sealed[0].0.clone(), sealed[n - 1].0.clone());
    env.register(first.values().into_iter().chain(last.values()));

    let started = Instant::now();
    let applies = sealed.iter().map(|(_, v)| {
        let (client, ns, v) = (env.client.clone(), ns.to_owned(), v.clone());
        async move { apply_es(&client, &ns, &v).await.map(drop) }
    });
    futures::stream::iter(applies.collect::<Vec<_>>())
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    let apply = started.elapsed();
    let secrets = secret_api(&env.client, ns);
    let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}");
    eventually(&format!("{n} Secrets in {ns}"), timeout, || async {
        let list =
            secrets.list_metadata(&ListParams::default().labels(&selector)).await.ctx("list")?;
        ensure(list.items.len() == n, || format!("{} of {n} Secrets", list.items.len()))
    })
    .await?;
    let all_present = started.elapsed();
    for plain in [&first, &last] {
        plain.check_values(&secrets.get(&plain.name).await.ctx("get")?)?;
    }
    Ok(BulkReport { n, seal, apply, all_present })
}

/// (j) Two replicas: one holds the Lease; killing it hands over, and the new leader repairs.
pub async fn leader_failover(env: Arc<Env>) -> R {
    let plain = materialized(&env, &env.ns_a, "failover").await?;
    let watch = [env.ns_a.clone(), env.ns_b.clone(), env.ns_bulk.clone()];
    let second = env.start_replica("b", &watch, None).await?;
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &env.controller_ns);
    let holder = || async {
        let lease = leases.get(LEASE).await.ctx(format!("get Lease {LEASE}"))?;
        lease.spec.and_then(|s| s.holder_identity).ctx("the Lease has no holder")
    };

    let (first_id, second_id) = {
        let replicas = env.replicas.lock().await;
        (replicas[0].identity.clone(), replicas[second].identity.clone())
    };
    eventually("exactly the primary leads, the second stands by ready", RECONCILE, || async {
        let replicas = env.replicas.lock().await;
        let (a, b) = (&replicas[0], &replicas[second]);
        let leading = (a.metric("sealgate_leader").await?, b.metric("sealgate_leader").await?);
        ensure(leading == (1.0, 0.0), || {
            format!("sealgate_leader (primary, second) = {leading:?}")
        })?;
        ensure(b.probe("/readyz").await? == 200, || "the second replica is not ready".to_owned())?;
        let h = holder().await?;
        ensure(h == first_id, || format!("the Lease is held by {h}, not {first_id}"))
    })
    .await?;

    env.replicas.lock().await[0].kill();
    let started = Instant::now();
    eventually("the second replica takes the Lease over", Duration::from_secs(120), || async {
        let h = holder().await?;
        ensure(h == second_id, || format!("the Lease is held by {h}"))?;
        let replicas = env.replicas.lock().await;
        let leading = replicas[second].metric("sealgate_leader").await?;
        ensure(leading == 1.0, || "the second replica does not report leading".to_owned())
    })
    .await?;
    note(format!("failover took {:.1}s after SIGKILL", started.elapsed().as_secs_f64()));
    env.replicas.lock().await[second].check_running()?;
    repair_check(&env, &plain).await
}

/// (k) No plaintext value and no secret key in the controllers' logs, Events or statuses.
pub async fn nothing_secret_is_published(env: Arc<Env>) -> R {
    let mut haystacks: Vec<(String, String)> = Vec::new();
    for replica in env.replicas.lock().await.iter() {
        let text = std::fs::read_to_string(&replica.log).unwrap_or_default();
        ensure(!text.is_empty(), || format!("the log of {} is empty", replica.identity))?;
        haystacks.push((format!("log of {}", replica.identity), text));
    }
    for ns in [&env.ns_a, &env.ns_b, &env.ns_bulk] {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(env.client.clone(), ns);
        let list = events.list(&ListParams::default()).await.ctx("list Events")?;
        let text = serde_json::to_string(&list.items).ctx("Events")?;
        haystacks.push((format!("Events in {ns}"), text));
        let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(env.client.clone(), ns);
        let list = core.list(&ListParams::default()).await.ctx("list core Events")?;
        haystacks.push((
            format!("core Events in {ns}"),
            serde_json::to_string(&list.items).ctx("Events")?,
        ));
        let es = es_api(&env.client, ns).list(&ListParams::default()).await.ctx("list")?;
        let statuses: Vec<_> = es.items.iter().map(|e| &e.status).collect();
        haystacks.push((
            format!("EncryptedSecret statuses in {ns}"),
            serde_json::to_string(&statuses).ctx("statuses")?,
        ));
    }
    let mut needles = env.plaintexts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    needles.push(format!("zq{}v", env.run_id));
    needles.push("AGE-SECRET-KEY-".to_owned());
    for (place, text) in &haystacks {
        for needle in &needles {
            // Say where, never what.
            ensure(!text.contains(needle.as_str()), || {
                format!("a secret value or key appears in the {place}")
            })?;
        }
    }
    note(format!("searched {} places for {} values", haystacks.len(), needles.len()));
    Ok(())
}

/// Seals `name` in `ns` with the library, applies it, and waits for its Secret.
async fn materialized(env: &Env, ns: &str, name: &str) -> R<Plain> {
    let recipient = env.recipient().await?;
    let plain = env.plain(ns, name);
    apply_es(&env.client, ns, &seal_in_process(&plain, &recipient)?).await?;
    wait_reason(&env.client, ns, name, &["Materialized"], RECONCILE).await?;
    let secret = secret_api(&env.client, ns).get(name).await.ctx("get the Secret")?;
    plain.check_values(&secret)?;
    Ok(plain)
}

/// The Secret is what the sealed manifest said, and is owned by the object.
fn check_materialized(plain: &Plain, es: &EncryptedSecret, secret: &Secret) -> R {
    plain.check_values(secret)?;
    ensure(secret.type_.as_deref() == Some(plain.secret_type.as_str()), || {
        format!("type is {:?}, expected {}", secret.type_, plain.secret_type)
    })?;
    let labels = secret.labels();
    for (k, v) in
        plain.labels.iter().chain([(&MANAGED_BY_LABEL.to_owned(), &MANAGED_BY_VALUE.to_owned())])
    {
        ensure(labels.get(k) == Some(v), || {
            format!("label {k} is {:?}, expected {v}", labels.get(k))
        })?;
    }
    let annotations = secret.annotations();
    for (k, v) in &plain.annotations {
        ensure(annotations.get(k) == Some(v), || {
            format!("annotation {k} is {:?}, expected {v}", annotations.get(k))
        })?;
    }
    check_owner(secret, es)
}

/// Exactly one controller owner reference, to this `EncryptedSecret`.
fn check_owner(secret: &Secret, es: &EncryptedSecret) -> R {
    let refs = secret.owner_references();
    let controllers: Vec<_> = refs.iter().filter(|r| r.controller == Some(true)).collect();
    ensure(controllers.len() == 1, || {
        format!("{} controller owner references", controllers.len())
    })?;
    let r = controllers[0];
    let want_api = EncryptedSecret::api_version(&()).to_string();
    ensure(
        r.kind == "EncryptedSecret"
            && r.api_version == want_api
            && r.name == es.name_any()
            && Some(&r.uid) == es.metadata.uid.as_ref(),
        || format!("the owner reference is {} {} {} {}", r.api_version, r.kind, r.name, r.uid),
    )
}

/// The age identities in a key Secret's values.
fn identities_in(secret: &Secret) -> Vec<age::x25519::Identity> {
    secret
        .data
        .iter()
        .flatten()
        .flat_map(|(_, v)| {
            String::from_utf8_lossy(&v.0)
                .lines()
                .filter_map(|l| age::x25519::Identity::from_str(l.trim()).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn names(secrets: &[Secret]) -> Vec<String> {
    secrets.iter().map(ResourceExt::name_any).collect()
}
