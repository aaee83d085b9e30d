#!/usr/bin/env python3
"""tallyd builds side by side under tally-loadgen, in alternating rounds (docs/BENCHMARKS.md
"Late flags"): for each round, load and build, a fresh data dir with the demo campaign,
tallyd (2 I/O threads, --durability sync) and one generator run, every ballot a new voter
(--fresh-passes). Prints one line per run and then the medians per load and build, with
ratios against the first build's median:

  votes/s and accepted/s   the generator's figures
  tallyd µs/accepted       tallyd's user + system time over the run (/proc/PID/stat) per
                           accepted ballot
  VmRSS, VmHWM             tallyd's resident and peak memory at the end of the run (MiB)
  late-flag metrics        from GET /metrics at the end, when the build has them

  python3 bench/late_flags_ab.py --build BEFORE/build --build AFTER/build \\
      [--rounds 3] [--seconds 10] [--loads batch,batch-farm,single,single-farm] \\
      [--requests N] [--settle S] [--stop-timeout S] [--loadgen PATH]

--requests N sends N requests (not a duration) and --settle waits S seconds after the run
before reading the figures, so that the adjudicator's queued passes finish. Each run ends with
SIGTERM and reports how long tallyd took to stop (stop_s); past --stop-timeout (60 s) it is
killed. One generator (the
first build's, unless --loadgen) loads every build, so that both get the same requests.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request

LOADS = {
    "batch": ["--mode", "batch", "--batch-size", "1000", "--connections", "4", "--pipeline", "2",
              "--voters", "500000000"],
    "batch-farm": ["--mode", "batch", "--batch-size", "1000", "--connections", "4", "--pipeline",
                   "2", "--voters", "500000000", "--scenario", "farm", "--prepare", "100"],
    "single": ["--mode", "single", "--connections", "64", "--voters", "50000000"],
    "single-farm": ["--mode", "single", "--connections", "64", "--voters", "50000000",
                    "--scenario", "farm", "--prepare", "20000"],
    # 10M ballots of ~10M voters and phones (memory at 10M sources).
    "batch-10m": ["--mode", "batch", "--batch-size", "1000", "--connections", "4", "--pipeline",
                  "2", "--voters", "10000000"],
}
METRICS = ["tally_fraud_crossings_total", "tally_fraud_crossings_dropped_total",
           "tally_late_flag_events_total", "tally_late_flagged_votes_total",
           "tally_adjudication_scans_total", "tally_adjudication_scanned_events_total"]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mib(pid):
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        return answer.read().decode()


def metrics(port):
    found = {}
    for line in get(port, "/metrics").splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{")[0].split(" ")[0]
        if name in METRICS:
            found[name] = found.get(name, 0) + float(line.rsplit(" ", 1)[1])
    return found


def start_tallyd(build, root):
    log = open(os.path.join(root, "tallyd.log"), "w")
    process = subprocess.Popen([os.path.join(build, "bin", "tallyd"), "--data-dir",
                                os.path.join(root, "data"), "--listen", "127.0.0.1:0", "--demo",
                                "--io-threads", "2"], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        with open(os.path.join(root, "tallyd.log")) as f:
            text = f.read()
        if "tallyd ready listen=127.0.0.1:" in text:
            port = int(text.split("tallyd ready listen=127.0.0.1:")[1].split()[0])
            return process, port
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"tallyd did not start: {text}")


def run(build, loadgen, load, args, seed):
    root = tempfile.mkdtemp(prefix="tally-lfb-", dir=args.tmp)
    process, port = start_tallyd(build, root)
    try:
        time.sleep(1)
        cpu0 = cpu_seconds(process.pid)
        command = [loadgen, "--target", f"127.0.0.1:{port}", "--token-file",
                   os.path.join(root, "data", "tokens.generated"), "--retry-fraction", "0",
                   "--agents", "1000", "--fresh-passes", "--seed", str(seed), "--json"]
        if args.requests:
            command += ["--requests", str(args.requests), "--duration", str(args.seconds)]
        else:
            command += ["--duration", str(args.seconds)]
        command += LOADS[load]
        out = subprocess.run(command, capture_output=True, text=True, check=True,
                             timeout=args.seconds + 600)
        report = json.loads(out.stdout)
        cpu1 = cpu_seconds(process.pid)
        if args.settle:
            time.sleep(args.settle)
        row = {"votes_per_s": report["votes_per_s"], "accepted_per_s": report["accepted_per_s"],
               "accepted": report["statuses"]["accepted"],
               "us_per_accepted": (cpu1 - cpu0) / max(report["statuses"]["accepted"], 1) * 1e6,
               "p99_ms": report["latency_ms"]["p99"]}
        row.update(memory_mib(process.pid))
        row["cpu_after_settle_s"] = cpu_seconds(process.pid) - cpu1
        row.update(metrics(port))
        # How long SIGTERM takes to stop tallyd; past --stop-timeout it is killed (and the
        # figure is that bound, marked by "killed").
        stopping = time.monotonic()
        process.terminate()
        try:
            process.wait(timeout=args.stop_timeout)
        except subprocess.TimeoutExpired:
            row["killed"] = True
        row["stop_s"] = time.monotonic() - stopping
        return row
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        shutil.rmtree(root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", action="append", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--loads", default="batch,batch-farm,single,single-farm")
    parser.add_argument("--requests", type=int, default=0)
    parser.add_argument("--settle", type=float, default=0)
    parser.add_argument("--stop-timeout", type=float, default=60)
    parser.add_argument("--loadgen")
    parser.add_argument("--tmp", default=None)
    args = parser.parse_args()
    loadgen = args.loadgen or os.path.join(args.build[0], "bin", "tally-loadgen")
    loads = args.loads.split(",")
    results = {(b, l): [] for b in args.build for l in loads}
    seed = 100
    for round_no in range(1, args.rounds + 1):
        for load in loads:
            for build in args.build:
                seed += 1
                row = run(build, loadgen, load, args, seed)
                results[(build, load)].append(row)
                print(json.dumps({"round": round_no, "load": load, "build": build, **row}),
                      flush=True)
    print("\nmedians (ratio: against the first build of the same load)")
    print("| load | build | votes/s | ratio | tallyd µs/accepted | ratio | VmRSS MiB | VmHWM MiB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for load in loads:
        base = results[(args.build[0], load)]
        for build in args.build:
            rows = results[(build, load)]
            med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
            print(f"| {load} | {build} | {med(rows, 'votes_per_s'):,.0f} | "
                  f"{med(rows, 'votes_per_s') / med(base, 'votes_per_s'):.3f} | "
                  f"{med(rows, 'us_per_accepted'):.2f} | "
                  f"{med(rows, 'us_per_accepted') / med(base, 'us_per_accepted'):.3f} | "
                  f"{med(rows, 'VmRSS'):.0f} | {med(rows, 'VmHWM'):.0f} |")


if __name__ == "__main__":
    main()
