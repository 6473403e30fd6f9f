//! The Vault pool against a real OpenBao dev server: KV v1/v2 reads, pinned versions, token and
//! AppRole sessions, renewal without new logins, shared reads, refusals, and Vault going away.

#[path = "support/openbao.rs"]
mod openbao;

use std::sync::Arc;
use std::time::Duration;

use openbao::{OpenBao, ROOT_TOKEN};
use sealgate::vault::{Connection, Credentials, KvEngine, KvVersion, Store, VaultError, VaultPool};
use zeroize::Zeroizing;

const LONG: Duration = Duration::from_secs(3600);

fn provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn store(bao: &OpenBao, kv: KvEngine, credentials: Credentials) -> Store {
    Store {
        connection: Connection { server: bao.addr.clone(), ca_bundle: None, namespace: None },
        kv,
        credentials,
    }
}

fn kv2() -> KvEngine {
    KvEngine { mount: "secret".into(), version: KvVersion::V2 }
}

fn root(bao: &OpenBao, kv: KvEngine) -> Store {
    store(bao, kv, Credentials::Token { token: Zeroizing::new(ROOT_TOKEN.into()) })
}

/// An AppRole `app` whose tokens live `ttl` (renewable up to `max_ttl`) with policy `app`
/// (read on `secret/data/app/*`); returns its credentials.
fn approle(bao: &OpenBao, ttl: &str, max_ttl: &str) -> Credentials {
    let policy = bao.home().join("app.hcl");
    std::fs::write(
        &policy,
        "path \"secret/data/app/*\" { capabilities = [\"read\"] }\n\
         path \"kv1/app/*\" { capabilities = [\"read\"] }\n",
    )
    .unwrap();
    bao.ok(&["policy", "write", "app", policy.to_str().unwrap()]);
    if !bao.ok(&["auth", "list"]).contains("approle/") {
        bao.ok(&["auth", "enable", "approle"]);
    }
    bao.ok(&[
        "write",
        "auth/approle/role/app",
        "token_policies=app",
        &format!("token_ttl={ttl}"),
        &format!("token_max_ttl={max_ttl}"),
    ]);
    let role_id = bao.json(&["read"], &["auth/approle/role/app/role-id"])["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id =
        bao.json(&["write"], &["-f", "auth/approle/role/app/secret-id"])["data"]["secret_id"]
            .as_str()
            .unwrap()
            .to_owned();
    Credentials::AppRole { mount: "approle".into(), role_id, secret_id: Zeroizing::new(secret_id) }
}

fn text(secret: &sealgate::vault::KvSecret, key: &str) -> String {
    String::from_utf8(secret.data[key].to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_kv_v2_latest_and_pinned_versions_and_kv_v1() {
    provider();
    let bao = OpenBao::start();
    bao.ok(&["kv", "put", "-mount=secret", "app/db", "password=one", "user=app"]);
    bao.ok(&["kv", "put", "-mount=secret", "app/db", "password=two", "user=app", "port=5432"]);
    bao.ok(&["secrets", "enable", "-path=kv1", "-version=1", "kv"]);
    bao.ok(&["kv", "put", "-mount=kv1", "app/legacy", "token=v1-value"]);
    let pool = VaultPool::new();
    let s = root(&bao, kv2());

    let latest = pool.read(&s, "app/db", None, LONG).await.unwrap();
    assert_eq!(latest.version, Some(2));
    assert_eq!(text(&latest, "password"), "two");
    assert_eq!(text(&latest, "port"), "5432");
    let pinned = pool.read(&s, "app/db", Some(1), LONG).await.unwrap();
    assert_eq!(pinned.version, Some(1));
    assert_eq!(text(&pinned, "password"), "one");
    assert!(!pinned.data.contains_key("port"));

    let v1 = root(&bao, KvEngine { mount: "kv1".into(), version: KvVersion::V1 });
    let legacy = pool.read(&v1, "app/legacy", None, LONG).await.unwrap();
    assert_eq!((legacy.version, text(&legacy, "token").as_str()), (None, "v1-value"));
    let e = pool.read(&v1, "app/legacy", Some(1), LONG).await.unwrap_err();
    assert!(matches!(e, VaultError::Invalid(ref m) if m.contains("no versions")), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_paths_versions_and_deleted_versions_are_not_found() {
    provider();
    let bao = OpenBao::start();
    bao.ok(&["kv", "put", "-mount=secret", "app/db", "password=one"]);
    bao.ok(&["kv", "put", "-mount=secret", "app/db", "password=two"]);
    bao.ok(&["kv", "delete", "-mount=secret", "-versions=1", "app/db"]);
    let pool = VaultPool::new();
    let s = root(&bao, kv2());
    for (path, version) in [("app/nope", None), ("app/db", Some(7)), ("app/db", Some(1))] {
        let e = pool.read(&s, path, version, LONG).await.unwrap_err();
        assert!(matches!(e, VaultError::NotFound(_)), "{path} {version:?}: {e}");
        assert!(e.to_string().contains(&format!("secret/{path}")), "names the path: {e}");
    }
    let e = pool.read(&s, "app/../sys", None, LONG).await.unwrap_err();
    assert!(matches!(e, VaultError::Invalid(_)), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lived_token_is_renewed_in_the_background_not_logged_in_again() {
    provider();
    let bao = OpenBao::start();
    bao.ok(&["kv", "put", "-mount=secret", "app/db", "password=x"]);
    // 3 s tokens renewable for a minute: the pool must renew about every 2 s.
    let pool = VaultPool::new();
    let s = store(&bao, kv2(), approle(&bao, "3s", "1m"));
    pool.read(&s, "app/db", None, Duration::ZERO).await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        pool.read(&s, "app/db", None, Duration::ZERO).await.unwrap();
    }
    let stats = pool.stats();
    assert_eq!(stats.logins, 1, "{stats:?}");
    assert!(stats.renewals >= 3, "renewed in the background: {stats:?}");
    assert_eq!(bao.audited("update", "auth/approle/login"), 1, "one login seen by OpenBao");
    assert!(bao.audited("update", "auth/token/renew-self") >= 3);
    assert_eq!(stats.reads, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_maximum_ttl_the_pool_logs_in_again() {
    provider();
    let bao = OpenBao::start();
    bao.ok(&["kv", "put", "-mount=secret", "app/db", "password=x"]);
    let pool = VaultPool::new();
    // Renewal cannot extend past 4 s: the second token must come from a new login.
    let s = store(&bao, kv2(), approle(&bao, "3s", "4s"));
    pool.read(&s, "app/db", None, Duration::ZERO).await.unwrap();
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    pool.read(&s, "app/db", None, Duration::ZERO).await.unwrap();
    let stats = pool.stats();
    assert!(stats.logins >= 2, "logged in again after the max TTL: {stats:?}");
    assert!(stats.logins <= 3, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_and_recent_reads_of_a_path_are_one_request() {
    provider();
    let bao = OpenBao::start();
    bao.ok(&["kv", "put", "-mount=secret", "app/db", "password=x"]);
    bao.ok(&["kv", "put", "-mount=secret", "app/cache", "password=y"]);
    let pool = VaultPool::new();
    let s = Arc::new(store(&bao, kv2(), approle(&bao, "1h", "2h")));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (pool, s) = (pool.clone(), s.clone());
        let path = if i % 2 == 0 { "app/db" } else { "app/cache" };
        tasks.push(tokio::spawn(async move { pool.read(&s, path, None, LONG).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // And later readers within the window share it too.
    pool.read(&s, "app/db", None, LONG).await.unwrap();
    assert_eq!(pool.stats().reads, 2, "{:?}", pool.stats());
    assert_eq!(bao.audited("read", "secret/data/app/db"), 1);
    assert_eq!(bao.audited("read", "secret/data/app/cache"), 1);
    assert_eq!(bao.audited("update", "auth/approle/login"), 1, "40 readers, one login");
    // Outside the window: a new read.
    pool.read(&s, "app/db", None, Duration::ZERO).await.unwrap();
    assert_eq!(bao.audited("read", "secret/data/app/db"), 2);
    // A different identity never shares another's read.
    let other = root(&bao, kv2());
    pool.read(&other, "app/db", None, LONG).await.unwrap();
    assert_eq!(bao.audited("read", "secret/data/app/db"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_classified_and_never_echo_credentials() {
    provider();
    let bao = OpenBao::start();
    bao.ok(&["kv", "put", "-mount=secret", "other/db", "password=x"]);
    let pool = VaultPool::new();
    let creds = approle(&bao, "1h", "2h");
    let s = store(&bao, kv2(), creds.clone());
    let e = pool.read(&s, "other/db", None, LONG).await.unwrap_err();
    assert!(matches!(e, VaultError::Forbidden(_)), "policy denies: {e}");

    let Credentials::AppRole { mount, role_id, .. } = creds else { unreachable!() };
    let wrong = "11111111-2222-3333-4444-555555555555";
    let bad = store(
        &bao,
        kv2(),
        Credentials::AppRole { mount, role_id, secret_id: Zeroizing::new(wrong.into()) },
    );
    let e = pool.read(&bad, "app/db", None, LONG).await.unwrap_err();
    assert!(matches!(e, VaultError::AuthFailed(_)), "{e}");
    assert!(!e.to_string().contains(wrong) && !format!("{e:?}").contains(wrong));

    let token = "s.not-a-real-token-0123456789";
    let bad = store(&bao, kv2(), Credentials::Token { token: Zeroizing::new(token.into()) });
    let e = pool.read(&bad, "app/db", None, LONG).await.unwrap_err();
    assert!(matches!(e, VaultError::AuthFailed(_)), "{e}");
    assert!(!e.to_string().contains(token) && !format!("{bad:?}").contains(token));
    assert!(pool.check(&bad).await.is_err());
    assert!(pool.check(&s).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_replaced_by_a_new_login() {
    provider();
    let bao = OpenBao::start();
    bao.ok(&["kv", "put", "-mount=secret", "app/db", "password=x"]);
    let pool = VaultPool::new();
    let s = store(&bao, kv2(), approle(&bao, "1h", "2h"));
    pool.read(&s, "app/db", None, Duration::ZERO).await.unwrap();
    // Revoke every token of the role behind the pool's back.
    bao.ok(&["token", "revoke", "-mode=path", "auth/approle/login"]);
    pool.read(&s, "app/db", None, Duration::ZERO).await.unwrap();
    assert_eq!(pool.stats().logins, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_down_is_unavailable_and_the_pool_recovers_when_it_returns() {
    provider();
    let mut bao = OpenBao::start();
    let seed = |bao: &OpenBao| {
        bao.ok(&["kv", "put", "-mount=secret", "app/db", "password=x"]);
    };
    seed(&bao);
    let pool = VaultPool::new();
    let s = root(&bao, kv2());
    pool.read(&s, "app/db", None, Duration::ZERO).await.unwrap();
    bao.stop();
    let e = pool.read(&s, "app/db", None, Duration::ZERO).await.unwrap_err();
    assert!(matches!(e, VaultError::Unavailable(_)), "{e}");
    assert!(e.to_string().contains(&bao.addr), "names the server: {e}");
    // Failures are not cached: the next read after Vault returns succeeds.
    bao.restart();
    seed(&bao);
    let back = pool.read(&s, "app/db", None, Duration::ZERO).await.unwrap();
    assert_eq!(text(&back, "password"), "x");
}

/// Restores the OpenBao transit key behind the sops-made fixtures into `bao`.
fn restore_fixture_transit_key(bao: &OpenBao) {
    let backup =
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sops/vault/transit-backup.b64");
    bao.ok(&["secrets", "enable", "transit"]);
    bao.ok(&["write", "transit/restore/sops-fixture", &format!("backup=@{backup}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyring_unwraps_a_sops_file_through_a_store_never_the_files_address() {
    use sealgate::format::file::SopsFile;
    use sealgate::format::store::Format;
    use sealgate::keys::Keyring;
    use sealgate::vault::PoolTransit;

    provider();
    let bao = OpenBao::start();
    restore_fixture_transit_key(&bao);
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sops/");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{fixtures}manifest.json")).unwrap())
            .unwrap();
    let want = manifest["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "vault.enc.yaml")
        .and_then(|f| f["data_key_hex"].as_str())
        .expect("manifest entry for vault.enc.yaml")
        .to_owned();
    // The file names http://127.0.0.1:18200, where nothing listens: the store's server is used.
    let file =
        SopsFile::parse(Format::Yaml, &std::fs::read(format!("{fixtures}vault.enc.yaml")).unwrap())
            .unwrap();
    let transit = Arc::new(PoolTransit::new(
        VaultPool::new(),
        tokio::runtime::Handle::current(),
        "ClusterSecretStore/vault".into(),
    ));
    let keyring = Keyring::empty().with_transit(transit.clone());
    // No store yet: a clear refusal naming the store.
    let e = keyring.unwrap_data_key(&file.metadata).unwrap_err();
    assert!(e.to_string().contains("ClusterSecretStore/vault"), "{e}");
    transit.set_store(Some(root(&bao, kv2())));
    let (key, _) = keyring.unwrap_data_key(&file.metadata).unwrap();
    assert_eq!(hex::encode(key.as_bytes()), want);
    assert_eq!(bao.audited("update", "transit/decrypt/sops-fixture"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_through_the_pool_round_trips_with_openbao() {
    provider();
    let bao = OpenBao::start();
    restore_fixture_transit_key(&bao);
    let pool = VaultPool::new();
    let s = root(&bao, kv2());
    let ct = pool.transit_encrypt(&s, "transit", "sops-fixture", b"data key bytes").await.unwrap();
    assert!(ct.starts_with("vault:v1:"), "{ct}");
    let answer =
        bao.json(&["write"], &["transit/decrypt/sops-fixture", &format!("ciphertext={ct}")]);
    assert_eq!(answer["data"]["plaintext"], "ZGF0YSBrZXkgYnl0ZXM=");
    let back = pool.transit_decrypt(&s, "transit", "sops-fixture", &ct).await.unwrap();
    assert_eq!(&back[..], b"data key bytes");
    let e = pool.transit_decrypt(&s, "transit", "no-such-key", &ct).await.unwrap_err();
    assert!(!matches!(e, VaultError::Unavailable(_)), "{e}");
}
