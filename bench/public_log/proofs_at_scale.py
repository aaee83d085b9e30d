#!/usr/bin/env python3
"""The public log's answers at scale (docs/BENCHMARKS.md "Public log"): a tallyd (--demo, a
fresh data dir) filled with --votes accepted votes by tally-loadgen in batch mode, every pass
new voters (--fresh-passes, a new --seed per run), then, over one keep-alive connection:

  GET /v1/log/proof?seq=S             S uniform in 1 .. size
  GET /v1/log/consistency?from=F&to=N  F uniform in 1 .. N - 1, N the log's size
  GET /v1/votes/{S}/receipt           S uniform in 1 .. size

each timed from the request's first byte to the answer's last (p50, p99, max in ms), and each
answer checked afterwards, untimed: inclusion proofs against the signed checkpoint (RFC 9162
section 2.1.3.2, verifier/tally_verify.py), consistency proofs (section 2.1.4.2) from the root
of F leaves, which the inclusion proof of leaf F - 1 in the tree of F leaves gives, that
leaf being checked in the signed tree too, receipts with verifier/tally_verify.py's
verify_receipt. Then tallyd stops and the data dir's size is reported, the table files by
column family (sst_dump) and the WAL.

  python3 bench/public_log/proofs_at_scale.py --build build [--votes 10000000] [--keep DIR]

Python standard library, the `openssl` command (Ed25519, as the verifier) and rocksdb-tools'
sst_dump (scripts/install-deps.sh installs both).
"""
import argparse
import glob
import hashlib
import http.client
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "verifier"))
import tally_verify  # noqa: E402

BATCH = 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    except OSError:
        return None, None
    finally:
        conn.close()


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    sys.exit(f"proofs_at_scale: {what} not within {timeout} s")


def verify_consistency(old_size, new_size, old_root, new_root, proof):
    """RFC 9162 section 2.1.4.2."""
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0 or old_size > new_size or not proof:
        return False
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        proof = [old_root] + proof
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = tally_verify.node_hash(c, fr)
            sr = tally_verify.node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = tally_verify.node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def root_from_path(leaf, index, size, path):
    """The root that an inclusion path of the leaf at index in a tree of size leads to."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if fn & 1 or fn == sn:
            r = tally_verify.node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = tally_verify.node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def fill(build, port, token_file, votes, log):
    """Runs tally-loadgen until `votes` ballots were accepted; returns (accepted, seconds, runs)."""
    accepted, runs, seed = 0, [], 100
    start = time.monotonic()
    while accepted < votes:
        requests = math.ceil((votes - accepted) / BATCH)
        seed += 1
        args = [os.path.join(build, "bin", "tally-loadgen"), "--target", f"127.0.0.1:{port}",
                "--token-file", token_file, "--mode", "batch", "--batch-size", str(BATCH),
                "--connections", "16", "--fresh-passes", "--voters", "100000000",
                "--retry-fraction", "0", "--seed", str(seed), "--requests", str(requests),
                "--prepare", str(min(requests, 1000)), "--duration", "3600", "--json"]
        out = subprocess.run(args, capture_output=True, text=True, check=True)
        report = json.loads(out.stdout)
        accepted += report["statuses"]["accepted"]
        runs.append(report)
        print(f"fill: run {len(runs)} (seed {seed}): {report['statuses']['accepted']:,} accepted "
              f"at {report['accepted_per_s']:,.0f}/s, {accepted:,} in all, "
              f"{time.monotonic() - start:,.0f} s", file=log, flush=True)
    return accepted, time.monotonic() - start, runs


def timed(conn, path, times):
    begin = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    times.append((time.perf_counter() - begin) * 1e3)
    if r.status != 200:
        sys.exit(f"proofs_at_scale: GET {path}: {r.status} {body[:200]!r}")
    return body


def time_requests(port, size, args, seed):
    """The timed requests over one keep-alive connection: (answers, times) by kind."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    proof_times, consistency_times, receipt_times = [], [], []
    proofs = [(s, timed(conn, f"/v1/log/proof?seq={s}", proof_times))
              for s in (rng.randint(1, size) for _ in range(args.proofs))]
    consistencies = [(f, timed(conn, f"/v1/log/consistency?from={f}&to={size}",
                               consistency_times))
                     for f in (rng.randint(1, size - 1) for _ in range(args.consistency))]
    receipts = [(s, timed(conn, f"/v1/votes/{s}/receipt", receipt_times))
                for s in (rng.randint(1, size) for _ in range(args.receipts))]
    conn.close()
    return {"proof": (proofs, proof_times), "consistency": (consistencies, consistency_times),
            "receipt": (receipts, receipt_times)}


def summary(times):
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return {"n": len(times), "p50_ms": statistics.median(times), "p99_ms": p99,
            "max_ms": ordered[-1]}


def table_sizes(data_dir):
    """Bytes of table files by column family (sst_dump --show_properties), and of WAL files."""
    by_family = {}
    for path in sorted(glob.glob(os.path.join(data_dir, "*.sst"))):
        out = subprocess.run(["sst_dump", f"--file={path}", "--show_properties"],
                             capture_output=True, text=True).stdout
        family = "?"
        for line in out.splitlines():
            if "column family name:" in line:
                family = line.split(":", 1)[1].strip()
                break
        by_family[family] = by_family.get(family, 0) + os.path.getsize(path)
    wal = sum(os.path.getsize(p) for p in glob.glob(os.path.join(data_dir, "*.log")))
    return by_family, wal


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--votes", type=int, default=10_000_000)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--consistency", type=int, default=500)
    parser.add_argument("--receipts", type=int, default=500)
    parser.add_argument("--settle", type=int, default=120,
                        help="seconds at rest before the second timed pass (0: one pass)")
    parser.add_argument("--keep", help="keep the data dir here instead of a temp dir")
    args = parser.parse_args()
    log = sys.stdout
    root = args.keep or tempfile.mkdtemp(prefix="tally-proofs-at-scale-")
    data_dir = os.path.join(root, "data")
    port = free_port()
    tallyd_log = open(os.path.join(root, "tallyd.log"), "ab")
    tallyd = subprocess.Popen([os.path.join(args.build, "bin", "tallyd"), "--data-dir", data_dir,
                               "--listen", f"127.0.0.1:{port}", "--demo"],
                              stdout=tallyd_log, stderr=subprocess.STDOUT)
    results = {"votes": args.votes}
    try:
        wait_for("tallyd ready", lambda: get(port, "/readyz")[0] == 200, 30)
        accepted, seconds, runs = fill(args.build, port, os.path.join(data_dir, "tokens.generated"),
                                       args.votes, log)
        results["fill"] = {"accepted": accepted, "seconds": seconds, "runs": len(runs)}
        print(f"fill: {accepted:,} votes accepted in {seconds:,.0f} s "
              f"({accepted / seconds:,.0f}/s)", flush=True)

        status, key_body = get(port, "/v1/log/key")
        key = json.loads(key_body)
        pem = os.path.join(root, "log-key.pem")
        with open(pem, "w") as f:
            f.write(key["public_key_pem"])
        raw_key = tally_verify.ed25519_public_key(pem)
        status, cp_body = get(port, "/v1/log/checkpoint")
        checkpoint = json.loads(cp_body)
        tally_verify.verify_checkpoint(checkpoint, pem, raw_key)
        size, root_hash = checkpoint["size"], bytes.fromhex(checkpoint["root"])
        results["size"] = size
        print(f"checkpoint: size {size:,}, root {checkpoint['root']}, signature verifies",
              flush=True)

        passes = [("right after the fill", time_requests(port, size, args, 20261205))]
        if args.settle > 0:
            print(f"resting {args.settle} s (RocksDB's flushes and compactions of the fill)",
                  flush=True)
            time.sleep(args.settle)
            passes.append((f"after {args.settle} s at rest", time_requests(port, size, args, 7)))

        # Checks, untimed.
        proofs = [a for _, p in passes for a in p["proof"][0]]
        consistencies = [a for _, p in passes for a in p["consistency"][0]]
        receipts = [a for _, p in passes for a in p["receipt"][0]]
        hashes = []
        for seq, body in proofs:
            proof = json.loads(body)
            path = [bytes.fromhex(h) for h in proof["hashes"]]
            hashes.append(len(path))
            if proof["seq"] != seq or proof["size"] != size or not tally_verify.verify_inclusion(
                    bytes.fromhex(proof["leaf"]), seq - 1, size, path, root_hash):
                sys.exit(f"proofs_at_scale: the inclusion proof of seq {seq} does not verify")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for old, body in consistencies:
            proof = json.loads(body)
            conn.request("GET", f"/v1/log/proof?seq={old}&size={old}")
            in_old = json.loads(conn.getresponse().read())
            conn.request("GET", f"/v1/log/proof?seq={old}")
            in_new = json.loads(conn.getresponse().read())
            leaf = bytes.fromhex(in_old["leaf"])
            if in_new["leaf"] != in_old["leaf"] or not tally_verify.verify_inclusion(
                    leaf, old - 1, size, [bytes.fromhex(h) for h in in_new["hashes"]], root_hash):
                sys.exit(f"proofs_at_scale: leaf {old - 1} is not in the signed tree")
            old_root = root_from_path(leaf, old - 1, old,
                                      [bytes.fromhex(h) for h in in_old["hashes"]])
            if old_root is None or not verify_consistency(
                    old, size, old_root, root_hash, [bytes.fromhex(h) for h in proof["hashes"]]):
                sys.exit(f"proofs_at_scale: the consistency proof from {old} does not verify")
        conn.close()
        with tempfile.TemporaryDirectory() as tmp:
            for seq, body in receipts:
                path = os.path.join(tmp, "receipt.json")
                with open(path, "wb") as f:
                    f.write(body)
                try:
                    tally_verify.verify_receipt(path, pem)
                except tally_verify.Failure as e:
                    sys.exit(f"proofs_at_scale: the receipt of seq {seq} does not verify: {e}")
        print(f"checked: {len(proofs)} inclusion proofs ({statistics.median(hashes):.0f} hashes "
              f"at the median), {len(consistencies)} consistency proofs, {len(receipts)} "
              "receipts, all verify", flush=True)

        results["receipt_bytes"] = statistics.median(len(b) for _, b in receipts)
        results["proof_bytes"] = statistics.median(len(b) for _, b in proofs)
        results["passes"] = []
        for when, timings in passes:
            row = {"when": when}
            print(f"\nat {size:,} events, one keep-alive connection, {when}")
            print("| request | n | p50 ms | p99 ms | max ms |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for name, label in (("proof", "GET /v1/log/proof?seq=S"),
                                ("consistency", "GET /v1/log/consistency?from=F&to=N"),
                                ("receipt", "GET /v1/votes/{S}/receipt")):
                r = row[name] = summary(timings[name][1])
                print(f"| `{label}` | {r['n']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
                      f"{r['max_ms']:.3f} |")
            results["passes"].append(row)
    finally:
        tallyd.send_signal(signal.SIGTERM)
        try:
            tallyd.wait(timeout=120)
        except subprocess.TimeoutExpired:
            tallyd.kill()
            tallyd.wait()
        tallyd_log.close()
    du = subprocess.run(["du", "-sh", data_dir], capture_output=True, text=True).stdout.split()[0]
    by_family, wal = table_sizes(data_dir)
    results["data_dir"] = du
    results["tables_by_family"] = by_family
    results["wal_bytes"] = wal
    print(f"\ndata dir after a clean stop: {du} (du -sh)")
    for family, size_bytes in sorted(by_family.items()):
        print(f"  {family}: {size_bytes / 1e6:,.1f} MB of table files")
    print(f"  WAL: {wal / 1e6:,.1f} MB")
    print(json.dumps(results))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
