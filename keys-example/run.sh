#!/usr/bin/env bash
# The main job on the bundled example, end to end: build sealgate, seal the sample Secret into
# an EncryptedSecret, unseal it back, encrypt and decrypt an application config, and open the
# sealed files committed here. Uses only the PUBLIC example key in this folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

echo "== building sealgate and sealgate-controller"
cargo build --quiet --locked --manifest-path "$root/Cargo.toml" -p sealgate-cli -p sealgate
sealgate="$root/target/debug/sealgate"
controller="$root/target/debug/sealgate-controller"

# The example identity: public, worthless, for this demo only.
export SOPS_AGE_KEY_FILE="$here/age-identity.txt"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$here"

echo "== seal secret.yaml (a Kubernetes Secret) into an EncryptedSecret bound to payments/db-creds"
"$sealgate" seal --recipients-file recipient.txt secret.yaml > "$work/db-creds.sealed.yaml"
sed -n '1,/^sops:/p' "$work/db-creds.sealed.yaml"

echo "== unseal it again (checks the binding against payments/db-creds)"
"$sealgate" unseal "$work/db-creds.sealed.yaml" > "$work/unsealed.yaml"
cat "$work/unsealed.yaml"
grep -q 'password: correct horse battery staple' "$work/unsealed.yaml"

echo "== what the controller would make of it in the cluster (offline, values shown as sizes)"
"$controller" render --identity age-identity.txt "$work/db-creds.sealed.yaml"
echo "== and what it says when the same file is applied in another namespace"
sed 's/^\( *\)namespace: payments$/\1namespace: attacker/' "$work/db-creds.sealed.yaml" > "$work/moved.yaml"
if "$controller" render --identity age-identity.txt "$work/moved.yaml" 2> "$work/moved.err"; then
  echo "a file moved to another namespace must be refused" >&2
  exit 1
fi
cat "$work/moved.err"
grep -q BindingMismatch "$work/moved.err"

echo "== encrypt app-config.yaml with the rules in .sops.yaml, then decrypt it"
"$sealgate" encrypt app-config.yaml > "$work/app-config.enc.yaml"
grep -q 'password: ENC\[AES256_GCM' "$work/app-config.enc.yaml"
"$sealgate" decrypt "$work/app-config.enc.yaml" | tee "$work/app-config.plain.yaml"
grep -q 'password: not-a-real-password' "$work/app-config.plain.yaml"

echo "== the sealed files committed in keys-example/ decrypt too"
"$sealgate" unseal db-creds.sealed.yaml > /dev/null
"$sealgate" decrypt app-config.enc.yaml > /dev/null
if command -v sops >/dev/null 2>&1; then
  echo "== and the real sops reads what sealgate wrote"
  SOPS_DISABLE_VERSION_CHECK=1 sops decrypt "$work/app-config.enc.yaml" > "$work/by-sops.yaml"
  cmp "$work/by-sops.yaml" "$work/app-config.plain.yaml"
fi
echo "== done: sealed, unsealed, encrypted and decrypted with the example key"
