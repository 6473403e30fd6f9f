#!/usr/bin/env bash
# Builds each fuzz target's seed corpus in tests/fuzz/corpus/<target>/ from tests/fixtures/
# (the sops interop fixtures, the YAML corpus and the store corpus) and a few hand-made seeds.
# The corpus directories are gitignored; run this once before `cargo fuzz run`, and again
# whenever the fixtures change. Existing corpus files (what the fuzzer found) are kept.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
fx="$root/tests/fixtures"
corpus="$here/corpus"

# seed TARGET FILE...: copy each file in, named after its path under the repository.
seed() {
    local target="$1"
    shift
    mkdir -p "$corpus/$target"
    local f
    for f in "$@"; do
        [[ -f "$f" ]] || continue
        local rel="${f#"$root"/}"
        cp "$f" "$corpus/$target/${rel//\//_}"
    done
}

# seed_text TARGET NAME TEXT: a hand-made seed (printf escapes allowed in TEXT).
seed_text() {
    mkdir -p "$corpus/$1"
    printf -- "$3" >"$corpus/$1/hand-$2"
}

# seed_selected TARGET SELECTOR FILE...: the file prefixed by one selector byte (sops_file
# picks the format from it: 0 YAML, 1 JSON, 2 dotenv, 3 INI, 4 binary).
seed_selected() {
    local target="$1" selector="$2"
    shift 2
    mkdir -p "$corpus/$target"
    local f
    for f in "$@"; do
        [[ -f "$f" ]] || continue
        local rel="${f#"$root"/}"
        { printf "\\x$(printf %02x "$selector")"; cat "$f"; } >"$corpus/$target/${rel//\//_}"
    done
}

shopt -s nullglob

yaml_files=("$fx"/yaml-corpus/*.yaml "$fx"/sops/*.yaml "$fx"/sops/inputs/*.yaml
    "$fx"/sops/upstream/*.yaml "$fx"/store-corpus/inputs/*.yaml "$fx"/store-corpus/*.sops.yaml
    "$fx"/store-corpus/expected/*.yaml)
json_files=("$fx"/sops/*.enc.json "$fx"/sops/*.plain.json "$fx"/sops/inputs/*.json
    "$fx"/sops/upstream/*.json "$fx"/store-corpus/inputs/*.json "$fx"/store-corpus/expected/*.json
    "$root"/src/seal/testdata/*.json)
env_files=("$fx"/sops/*.env "$fx"/sops/inputs/*.env "$fx"/sops/upstream/*.env
    "$fx"/store-corpus/inputs/*.env "$fx"/store-corpus/expected/*.env)
ini_files=("$fx"/sops/*.ini "$fx"/sops/inputs/*.ini "$fx"/sops/upstream/*.ini
    "$fx"/store-corpus/inputs/*.ini "$fx"/store-corpus/expected/*.ini)
bin_files=("$fx"/sops/*.bin "$fx"/sops/inputs/*.bin "$fx"/store-corpus/inputs/*.bin
    "$fx"/store-corpus/expected/*.bin "$fx"/sops/upstream/*.txt)

seed yaml "${yaml_files[@]}"
seed json "${json_files[@]}"
seed dotenv "${env_files[@]}"
seed ini "${ini_files[@]}"
seed binary "${bin_files[@]}" "$fx"/sops/*.enc.json "$fx"/store-corpus/expected/*.enc.bin

# Encrypted files of every format, each behind its selector byte.
seed_selected sops_file 0 "$fx"/sops/*.enc.yaml "$fx"/sops/upstream/*.enc.yaml \
    "$fx"/store-corpus/expected/*.enc.yaml "$fx"/yaml-corpus/*.enc
seed_selected sops_file 1 "$fx"/sops/*.enc.json "$fx"/sops/upstream/*.enc.json \
    "$fx"/store-corpus/expected/*.enc.json
seed_selected sops_file 2 "$fx"/sops/*.enc.env "$fx"/sops/upstream/*.enc.env \
    "$fx"/store-corpus/expected/*.enc.env
seed_selected sops_file 3 "$fx"/sops/*.enc.ini "$fx"/sops/upstream/*.enc.ini \
    "$fx"/store-corpus/expected/*.enc.ini
seed_selected sops_file 4 "$fx"/sops/*.enc.bin "$fx"/store-corpus/expected/*.enc.bin

# ENC[...] values as sops wrote them (a few of each type), plus plaintexts of each type.
mkdir -p "$corpus/enc_value"
n=0
while IFS= read -r value; do
    n=$((n + 1))
    printf '%s' "$value" >"$corpus/enc_value/fixture-$n"
done < <(cat "$fx"/sops/*.enc.* | grep -ao 'ENC\[AES256_GCM,[^]]*\]' | sort -u \
    | awk -F'type:' '{ if (count[$2]++ < 4) print }')
for v in True False 1 -0 +5 0.5 1e300 NaN +Inf -Inf 2024-01-02T03:04:05Z \
    2024-01-02T03:04:05.123456789+02:00; do
    seed_text enc_value "plain-$v" "$v"
done

# Paths as `--extract` takes them; after the first line, a document to apply them to.
seed_text tree_path simple '["a"]'
seed_text tree_path nested "[\"a\"][\"b\"][1]['c']"
seed_text tree_path index-doc '["list"][0]\nlist:\n    - x\n    - y\n'
seed_text tree_path deep-doc "['a']['b']\na:\n    b: {c: [1, 2]}\n"
if [[ -f "$fx/store-corpus/cases.json" ]]; then
    n=0
    while IFS= read -r path; do
        n=$((n + 1))
        printf '%s' "$path" >"$corpus/tree_path/cases-$n"
    done < <(grep -o '"path": "[^"]*\(\\"[^"]*\)*"' "$fx/store-corpus/cases.json" \
        | sed -e 's/^"path": "//' -e 's/"$//' -e 's/\\"/"/g' | sort -u)
fi

seed sops_config "$fx"/store-corpus/*.sops.yaml "$fx"/sops/*.sops.yaml
cp "$root/keys-example/.sops.yaml" "$corpus/sops_config/keys-example_sops.yaml" 2>/dev/null || true
seed_text sops_config rules 'creation_rules:\n  - path_regex: \\.env$\n    encrypted_regex: ^pass\n    age: age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0\n  - key_groups:\n      - age: [a, b]\n      - hc_vault: [http://127.0.0.1:8200/v1/transit/keys/k]\n    shamir_threshold: 2\nstores:\n  yaml:\n    indent: 2\n'

seed age_identity "$fx"/sops/keys*.txt "$root"/keys-example/age-identity.txt \
    "$root"/keys-example/recipient.txt
seed_text age_identity recipients 'age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0,age19esvgf22wysel4wf0pmfyptvc6x0vp0pdt7ylu0j73yz8m9e2eys3jpwuw'
seed_text age_identity vault 'http://127.0.0.1:8200/v1/transit/keys/sealgate,https://vault.example:8200/v1/sops/keys/k2'
seed_text age_identity binding 'namespace:prod/db-creds'

seed secret_manifest "$fx"/sops/k8s-*.yaml "$fx"/sops/inputs/k8s-*.yaml "$root"/keys-example/secret.yaml
seed_text secret_manifest string-data 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\n  labels: {a: b}\n  annotations: {c: d}\ntype: Opaque\nimmutable: true\ndata:\n  k: aGVsbG8=\nstringData:\n  t: text\n'

# Two texts split at a NUL byte (join then split must give them back), and marked-up texts.
mkdir -p "$corpus/merge_markers"
pair() {
    { cat "$1"; printf '\0'; cat "$2"; } >"$corpus/merge_markers/pair-$(basename "$1")-$(basename "$2")"
}
pair "$fx/sops/basic.plain.yaml" "$fx/sops/types.plain.yaml"
pair "$fx/sops/basic.enc.yaml" "$fx/sops/neg-swapped-values.enc.yaml"
pair "$fx/sops/basic.plain.env" "$fx/sops/inputs/basic.env"
seed_text merge_markers block 'a: 1\n<<<<<<< ours\nb: 2\n=======\nb: 3\n>>>>>>> theirs\nc: 4\n'
seed_text merge_markers diff3 'x\n<<<<<<< ours\no\n||||||| base\nb\n=======\nt\n>>>>>>> theirs\n'
seed_text merge_markers long-marker '<<<<<<<<<< ours\na\n==========\n>>>>>>>>>> theirs'

for d in "$corpus"/*/; do
    printf '%-16s %4d seeds\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
