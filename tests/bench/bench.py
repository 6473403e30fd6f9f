#!/usr/bin/env python3
"""Benchmark: sealgate against sops (and age for the binary case), side by side on the same
generated files. Prints a Markdown table of median wall time and peak RSS over several runs.

usage: tests/bench/bench.py [--quick] [--sealgate PATH]
  --quick   small sizes and fewer runs (a smoke run, not for the record)

Needs sops 3.11 and age on PATH (bash .ci/run installs them) and a release build of sealgate
(built here with cargo if --sealgate is not given). Timings are wall-clock on this machine:
read them as ratios against sops/age measured in the same run, not as absolutes.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = os.path.join(ROOT, "tests", "fixtures", "sops", "keys.txt")
RECIPIENT = "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0"


def run(cmd, stdout_path=None, env=None):
    """Runs cmd; returns (wall seconds, peak RSS in MB). Fails loudly on a non-zero exit."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdout_path:
        out.close()
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024.0


def gen_yaml(path, values):
    rnd = random.Random(42)
    per_section = 20
    with open(path, "w") as f:
        for s in range(values // per_section):
            f.write(f"section_{s:06d}:\n")
            for k in range(per_section):
                token = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
                f.write(f"    key_{k:02d}: v{token}\n")


def gen_binary(path, size):
    with open(path, "wb") as f:
        f.write(os.urandom(size))


def measure(label, cmd, runs, out=None, env=None):
    samples = [run(cmd, out, env) for _ in range(runs)]
    wall = statistics.median(s[0] for s in samples)
    rss = max(s[1] for s in samples)
    return {"label": label, "wall": wall, "rss": rss}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sealgate")
    args = ap.parse_args()

    sealgate = args.sealgate
    if not sealgate:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "sealgate-cli"], cwd=ROOT, check=True)
        sealgate = os.path.join(ROOT, "target", "release", "sealgate")
    env = dict(os.environ, SOPS_AGE_KEY_FILE=KEYS, SOPS_DISABLE_VERSION_CHECK="1")
    tmp = tempfile.mkdtemp(prefix="sealgate-bench-")
    env["HOME"] = tmp

    if args.quick:
        yaml_cases, binary_size, runs, big_runs = [2_000, 20_000], 8 << 20, 3, 1
    else:
        yaml_cases, binary_size, runs, big_runs = [20_000, 200_000], 64 << 20, 5, 3

    rows = []
    for values in yaml_cases:
        plain = os.path.join(tmp, f"plain-{values}.yaml")
        gen_yaml(plain, values)
        size_mb = os.path.getsize(plain) / 1e6
        n = big_runs if values >= 100_000 else runs
        case = f"YAML {values // 1000}k values ({size_mb:.1f} MB)"
        enc_sops = os.path.join(tmp, f"sops-{values}.enc.yaml")
        enc_ours = os.path.join(tmp, f"ours-{values}.enc.yaml")
        r1 = measure("sops", ["sops", "encrypt", "--age", RECIPIENT, plain], n, enc_sops, env)
        r2 = measure("sealgate", [sealgate, "encrypt", "--age", RECIPIENT, plain], n, enc_ours, env)
        rows.append((case, "encrypt", r1, r2))
        r1 = measure("sops", ["sops", "decrypt", enc_sops], n, None, env)
        r2 = measure("sealgate", [sealgate, "decrypt", enc_ours], n, None, env)
        rows.append((case, "decrypt", r1, r2))

    blob = os.path.join(tmp, "blob.bin")
    gen_binary(blob, binary_size)
    case = f"binary {binary_size >> 20} MB"
    r_age = measure("age", ["age", "-r", RECIPIENT, "-o", os.path.join(tmp, "blob.age"), blob], runs, None, env)
    r_sops = measure("sops", ["sops", "encrypt", "--age", RECIPIENT, "--input-type", "binary", blob], big_runs,
                     os.path.join(tmp, "blob.sops"), env)
    r_ours = measure("sealgate", [sealgate, "encrypt", "--age", RECIPIENT, "--input-type", "binary", blob], runs,
                     os.path.join(tmp, "blob.ours"), env)
    rows.append((case, "encrypt", r_sops, r_ours, r_age))
    r_sops = measure("sops", ["sops", "decrypt", "--input-type", "binary", os.path.join(tmp, "blob.sops")],
                     big_runs, None, env)
    r_ours = measure("sealgate", [sealgate, "decrypt", "--input-type", "binary", os.path.join(tmp, "blob.ours")],
                     runs, None, env)
    r_age = measure("age", ["age", "-d", "-i", KEYS, os.path.join(tmp, "blob.age")], runs, None, env)
    rows.append((case, "decrypt", r_sops, r_ours, r_age))

    print(f"machine: {os.cpu_count()} cores; median of {runs} runs ({big_runs} for the largest cases)\n")
    print("| case | op | sops | sealgate | speed-up vs sops | sops RSS | sealgate RSS | age | sealgate / age |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        case, op, s, o = row[:4]
        a = row[4] if len(row) > 4 else None
        age_cols = f"{a['wall']:.3f} s | {o['wall'] / a['wall']:.2f}x" if a else "- | -"
        print(f"| {case} | {op} | {s['wall']:.3f} s | {o['wall']:.3f} s | {s['wall'] / o['wall']:.1f}x | "
              f"{s['rss']:.0f} MB | {o['rss']:.0f} MB | {age_cols} |")


if __name__ == "__main__":
    main()
