#!/usr/bin/env python3
"""Turns dedupe_bench's JSON (--benchmark_format=json) into the Markdown tables of
docs/BENCHMARKS.md, with the ratios against the baselines of the same run.

usage: build/bench/dedupe_bench --benchmark_format=json > dedupe.json
       python3 bench/dedupe_report.py dedupe.json
"""
import json
import sys


def load(path):
    with open(path) as f:
        doc = json.load(f)
    runs = {}
    for b in doc["benchmarks"]:
        name = b["name"].replace("/iterations:1", "").replace("/iterations:3", "")
        name = name.replace("/manual_time", "")
        runs[name] = b
    return doc["context"], runs


def mega(x):
    return f"{x / 1e6:.2f}M"


def main():
    context, runs = load(sys.argv[1])

    def get(name, counter):
        b = runs.get(name)
        return None if b is None else b.get(counter)

    print(f"Machine: {context.get('num_cpus')} CPUs at {context.get('mhz_per_cpu')} MHz; "
          f"run {context.get('date')}.")
    print()
    print("Inserts of distinct keys (millions per second, wall time, all threads together):")
    print()
    print("| keys | table sized | KeyTable 1 thread | KeyTable 2 threads | absl 1 thread | "
          "mutex set 1 thread | mutex set 2 threads | KeyTable ÷ absl | KeyTable ÷ mutex | "
          "2 threads ÷ 1 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for keys in (1_000_000, 10_000_000, 100_000_000):
        for presized in (1, 0):
            ours1 = get(f"BM_KeyTableInsert/keys:{keys}/threads:1/presized:{presized}",
                        "inserts_per_s")
            ours2 = get(f"BM_KeyTableInsert/keys:{keys}/threads:2/presized:{presized}",
                        "inserts_per_s")
            absl = get(f"BM_AbslInsert/keys:{keys}/threads:1/presized:{presized}",
                       "inserts_per_s")
            mutex1 = get(f"BM_MutexUnorderedSetInsert/keys:{keys}/threads:1", "inserts_per_s")
            mutex2 = get(f"BM_MutexUnorderedSetInsert/keys:{keys}/threads:2", "inserts_per_s")
            if ours1 is None:
                continue
            cells = [f"{keys // 1_000_000}M", "up front" if presized else "grown"]
            cells += [mega(v) if v else "–" for v in (ours1, ours2, absl, mutex1, mutex2)]
            cells.append(f"{ours1 / absl:.2f}×" if absl else "–")
            cells.append(f"{ours1 / mutex1:.1f}×" if mutex1 else "–")
            cells.append(f"{ours2 / ours1:.2f}×" if ours2 else "–")
            print("| " + " | ".join(cells) + " |")
    print()
    print("Pipelined inserts (each thread prefetches the slot of the key 8 ahead), sized up "
          "front:")
    print()
    print("| keys | KeyTable 1 thread | KeyTable 2 threads | absl 1 thread (prefetch) | "
          "KeyTable ÷ absl plain | KeyTable ÷ absl prefetch |")
    print("| --- | --- | --- | --- | --- | --- |")
    for keys in (10_000_000, 100_000_000):
        ours1 = get(f"BM_KeyTableInsertPipelined/keys:{keys}/threads:1", "inserts_per_s")
        ours2 = get(f"BM_KeyTableInsertPipelined/keys:{keys}/threads:2", "inserts_per_s")
        absl_pf = get(f"BM_AbslInsertPipelined/keys:{keys}/threads:1", "inserts_per_s")
        absl = get(f"BM_AbslInsert/keys:{keys}/threads:1/presized:1", "inserts_per_s")
        if ours1 is None:
            continue
        print(f"| {keys // 1_000_000}M | {mega(ours1)} | {mega(ours2) if ours2 else '–'} | "
              f"{mega(absl_pf) if absl_pf else '–'} | "
              f"{ours1 / absl:.2f}× | {ours1 / absl_pf:.2f}× |")
    print()
    print("Duplicate probes (lookups of present keys, the hot path under a brushing attack), "
          "10M keys:")
    print()
    ours1 = get("BM_KeyTableDuplicateProbe/keys:10000000/threads:1", "probes_per_s")
    ours2 = get("BM_KeyTableDuplicateProbe/keys:10000000/threads:2", "probes_per_s")
    absl = get("BM_AbslDuplicateProbe/keys:10000000", "probes_per_s")
    print("| KeyTable 1 thread | KeyTable 2 threads | absl 1 thread | KeyTable ÷ absl | "
          "2 threads ÷ 1 |")
    print("| --- | --- | --- | --- | --- |")
    if ours1 and absl:
        print(f"| {mega(ours1)} | {mega(ours2)} | {mega(absl)} | {ours1 / absl:.2f}× | "
              f"{ours2 / ours1:.2f}× |")
    print()
    print("Memory (bytes per key; the structure's own bytes, and the process's resident "
          "growth):")
    print()
    print("| keys | KeyTable sized | KeyTable grown | absl sized | absl grown | mutex set |")
    print("| --- | --- | --- | --- | --- | --- |")
    for keys in (1_000_000, 10_000_000, 100_000_000):
        row = [f"{keys // 1_000_000}M"]
        for name in (f"BM_KeyTableInsert/keys:{keys}/threads:1/presized:1",
                     f"BM_KeyTableInsert/keys:{keys}/threads:1/presized:0",
                     f"BM_AbslInsert/keys:{keys}/threads:1/presized:1",
                     f"BM_AbslInsert/keys:{keys}/threads:1/presized:0",
                     f"BM_MutexUnorderedSetInsert/keys:{keys}/threads:1"):
            own = get(name, "bytes_per_key")
            rss = get(name, "rss_per_key")
            row.append("–" if own is None else f"{own:.1f} (RSS {rss:.1f})")
        print("| " + " | ".join(row) + " |")
    print()
    print("Growth from N to 2N keys in a table grown from the minimum (DESIGN.md's measure):")
    print()
    print("| N | bytes/key at N | bytes/key at 2N | (bytes(2N) − bytes(N)) / N |")
    print("| --- | --- | --- | --- |")
    for n in (5_000_000, 10_000_000, 50_000_000):
        name = f"BM_KeyTableMarginalBytes/n:{n}"
        if name not in runs:
            continue
        print(f"| {n // 1_000_000}M | {get(name, 'bytes_at_n_per_key'):.1f} | "
              f"{get(name, 'bytes_at_2n_per_key'):.1f} | "
              f"{get(name, 'marginal_bytes_per_key'):.1f} |")


if __name__ == "__main__":
    main()
