#!/usr/bin/env python3
"""Durable throughput of a replica group against tallyd alone, in alternating rounds on this
machine (docs/BENCHMARKS.md "Replicated against alone").

Each round runs, with fresh data dirs and a fresh three-server NATS cluster (store dirs with
chattr +S) each time:
  alone       tallyd without --cluster
  replicated  a primary whose every record goes to the three servers before its local write
  + standby   the same with a standby tallyd following the stream on this machine too
and for each, tally-loadgen in single mode (64 connections) and batch mode (16 and 64
connections of 100 ballots), every ballot a new voter (--fresh-passes). It reports accepted ballots per second
(each one durable before its answer), p99 latency, and CPU per accepted ballot of tallyd and of
the NATS servers (from /proc/PID/stat), then the medians and the ratios to `alone`.

  python3 bench/cluster/replicated.py --build build [--rounds 3] [--seconds 8]

TALLY_BENCH_VARIANTS and TALLY_BENCH_LOADS (comma-separated) choose what runs. Two --build
directories (A, then B) compare two versions' replicated setups in the same rounds:

  python3 bench/cluster/replicated.py --build BEFORE/build --build build

`alone` runs A's build only, unless --alone-each-build: then it runs every build's tallyd alone
in the same rounds ("alone A", "alone B"; ratios against "alone A"), which compares two versions
of tallyd itself:

  TALLY_BENCH_VARIANTS=alone python3 bench/cluster/replicated.py --alone-each-build \
      --build BEFORE/build --build build
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "cluster"))
from harness import ADMIN, TOKEN, NatsCluster, free_port, http_get, spawn, wait_until  # noqa: E402

LOADS = {
    "single": ["--mode", "single", "--connections", "64"],
    # Four times the voters in flight: a campaign's peak has thousands.
    "single-256": ["--mode", "single", "--connections", "256"],
    "single-1024": ["--mode", "single", "--connections", "1024"],
    "batch": ["--mode", "batch", "--batch-size", "100", "--connections", "16"],
    # Four times the ballots in flight: larger records, fewer stream messages per vote.
    "batch-64": ["--mode", "batch", "--batch-size", "100", "--connections", "64"],
    "batch-256": ["--mode", "batch", "--batch-size", "100", "--connections", "256"],
}
VARIANTS = [v for v in os.environ.get("TALLY_BENCH_VARIANTS", "alone,replicated,replicated+standby").split(",")]
LOADS = {k: v for k, v in LOADS.items() if k in os.environ.get("TALLY_BENCH_LOADS", ",".join(LOADS)).split(",")}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Setup:
    def __init__(self, build, root, variant):
        self.build = build
        self.root = root
        self.variant = variant
        self.nats = None
        self.nodes = []

    def tallyd(self, name, cluster):
        port = free_port()
        args = [os.path.join(self.build, "bin", "tallyd"), "--data-dir", os.path.join(self.root, f"data-{name}"),
                "--listen", f"127.0.0.1:{port}", "--tokens", os.path.join(self.root, "tokens.json"),
                "--demo", "--io-threads", "2"]
        if cluster:
            args += ["--cluster", self.nats.urls(), "--node", name]
            # Builds with the public log share the shard's log keys (docs/CLUSTER.md); older
            # builds have no such flag.
            keys = os.path.join(self.root, "log-keys")
            helps = subprocess.run([args[0], "--help"], capture_output=True, text=True).stdout
            if "--log-keys" in helps:
                if not os.path.isdir(keys):
                    subprocess.run([os.path.join(self.build, "bin", "tallyctl"), "log-keys", "new",
                                    "--out", keys], check=True, capture_output=True)
                args += ["--log-keys", keys]
        process = spawn(args, os.path.join(self.root, f"tallyd-{name}.log"))
        wait_until(f"tallyd {name}", lambda: http_get(port, "/healthz")[0] == 200, 20)
        return process, port

    def start(self):
        with open(os.path.join(self.root, "tokens.json"), "w") as f:
            json.dump({"ingest": [TOKEN], "admin": [ADMIN]}, f)
        os.chmod(os.path.join(self.root, "tokens.json"), 0o600)
        if self.variant == "alone":
            self.nodes.append(self.tallyd("alone", False))
            wait_until("ready", lambda: http_get(self.nodes[0][1], "/readyz")[0] == 200, 20)
            return self.nodes[0][1]
        self.nats = NatsCluster(self.root)
        self.nats.start()
        self.nodes.append(self.tallyd("a", True))
        wait_until("a primary", lambda: http_get(self.nodes[0][1], "/readyz")[0] == 200, 30)
        if self.variant == "replicated+standby":
            self.nodes.append(self.tallyd("b", True))
        return self.nodes[0][1]

    def pids(self):
        tallyds = [p.pid for p, _ in self.nodes]
        nats = [s.process.pid for s in self.nats.servers] if self.nats else []
        return tallyds, nats

    def stop(self):
        for process, _ in self.nodes:
            process.kill()
            process.wait()
        if self.nats:
            self.nats.stop()


def run_load(build, port, load, seconds, seed, root):
    args = [os.path.join(build, "bin", "tally-loadgen"), "--target", f"127.0.0.1:{port}",
            "--token-file", os.path.join(root, "tokens.json"), "--duration", str(seconds),
            "--fresh-passes", "--seed", str(seed), "--json"] + LOADS[load]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120, check=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", action="append",
                        help="a build directory; give two (A, then B) to compare their replicated "
                             "setups in the same rounds (`alone` runs A's)")
    parser.add_argument("--alone-each-build", action="store_true",
                        help="run `alone` for every build too, not only A's")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    builds = args.build or ["build"]
    labels = ["A", "B", "C", "D"][:len(builds)] if len(builds) > 1 else [""]
    for label, build in zip(labels, builds):
        if label:
            print(f"{label}: {build}")
    setups = []  # (name, build, variant)
    for variant in VARIANTS:
        for label, build in zip(labels, builds):
            if variant == "alone" and label not in ("", "A") and not args.alone_each_build:
                continue
            alone_name = f"alone {label}".strip() if args.alone_each_build else "alone"
            setups.append((f"{variant} {label}".strip() if variant != "alone" else alone_name, build, variant))
    results = {(name, l): [] for name, _, _ in setups for l in LOADS}
    seed = 1
    for round_no in range(1, args.rounds + 1):
        for load in LOADS:
            for name, build, variant in setups:
                root = tempfile.mkdtemp(prefix="tally-bench-cluster-")
                setup = Setup(build, root, variant)
                try:
                    port = setup.start()
                    time.sleep(1)
                    tallyds, nats = setup.pids()
                    before = [cpu_seconds(p) for p in tallyds], [cpu_seconds(p) for p in nats]
                    seed += 1
                    report = run_load(build, port, load, args.seconds, seed, root)
                    after = [cpu_seconds(p) for p in tallyds], [cpu_seconds(p) for p in nats]
                    accepted = report["statuses"]["accepted"]
                    primary_cpu = after[0][0] - before[0][0]
                    standby_cpu = sum(after[0][1:]) - sum(before[0][1:])
                    nats_cpu = sum(after[1]) - sum(before[1])
                    row = {"accepted_per_s": report["accepted_per_s"],
                           "p99_ms": report["latency_ms"]["p99"],
                           "primary_us_per_vote": primary_cpu / accepted * 1e6,
                           "standby_us_per_vote": standby_cpu / accepted * 1e6,
                           "nats_us_per_vote": nats_cpu / accepted * 1e6}
                    results[(name, load)].append(row)
                    print(f"round {round_no} {load:6} {name:21} {row['accepted_per_s']:>10.0f} accepted/s "
                          f"p99 {row['p99_ms']:6.2f} ms  CPU/vote: tallyd {row['primary_us_per_vote']:5.2f} µs "
                          f"standby {row['standby_us_per_vote']:5.2f} µs  nats {row['nats_us_per_vote']:5.2f} µs",
                          flush=True)
                finally:
                    setup.stop()
                    shutil.rmtree(root, ignore_errors=True)
    print("\nmedians over rounds (ratio: accepted/s against `alone` of the same load)")
    print("| load | setup | accepted/s | ratio | p99 ms | tallyd µs/vote | standby µs/vote | NATS µs/vote |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for load in LOADS:
        alone = results.get(("alone A" if args.alone_each_build and len(builds) > 1 else "alone", load))
        base = statistics.median(r["accepted_per_s"] for r in alone) if alone else float("nan")
        for name, _, _ in setups:
            rows = results[(name, load)]
            med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
            print(f"| {load} | {name} | {med('accepted_per_s'):,.0f} | {med('accepted_per_s') / base:.2f} | "
                  f"{med('p99_ms'):.2f} | {med('primary_us_per_vote'):.2f} | {med('standby_us_per_vote'):.2f} | "
                  f"{med('nats_us_per_vote'):.2f} |")


if __name__ == "__main__":
    main()
