#!/usr/bin/env python3
"""Figures of the side-by-side comparison (compare.sh): each tool's output becomes one JSON
record per measurement, which compare.sh appends to results.jsonl; the records, held to the
targets in targets.json, become the Markdown tables. Standard library only.

usage: python3 report.py table RESULTS_JSONL DURATION CONNECTIONS [--targets FILE]
       python3 report.py wrk-record NAME WRK_OUTPUT
       python3 report.py loadgen-record NAME LOADGEN_JSON EXIT_CODE
       python3 report.py redis-record NAME CSV ADDED PIPELINE
       python3 report.py tallyd-mem-record --rss KIB KIB KIB --metrics F F F --fills F F
       python3 report.py redis-mem-record --used B B B --members N N --set-bytes B B
                                          --stream-bytes B
       python3 report.py half-rate RESULTS_JSONL CASE
       python3 report.py candidates CAMPAIGN_JSON
       python3 report.py ingest-token TOKENS_JSON
       python3 report.py free-port
"""
import argparse
import csv
import json
import os
import re
import socket
import sys
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = os.path.join(HERE, "targets.json")

# --- records: one tool's output to one JSON object ------------------------------------------


def wrk_ms(value):
    """wrk prints latencies with their unit: 512.00us, 1.20ms, 1.05s."""
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    x = float(m.group(1))
    return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x


def wrk_record(name, text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    err = re.search(r"Socket errors:.*", text)
    return {"case": name, "tool": "wrk", "rps": rps, "votes": rps,
            "p50": wrk_ms(lat["50"]) if "50" in lat else None,
            "p99": wrk_ms(lat["99"]) if "99" in lat else None,
            "requests": int(total.group(1)) if total else None,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": err.group(0) if err else ""}


def loadgen_record(name, j, rc):
    return {"case": name, "tool": "tally-loadgen", "rps": j["requests_per_s"],
            "votes": j["votes_per_s"], "accepted": j["accepted_per_s"],
            "p50": j["latency_ms"]["p50"], "p99": j["latency_ms"]["p99"],
            "http": j["http"], "statuses": j["statuses"],
            "requests": j["requests"], "prepared": j.get("prepared_requests"),
            "errors": j["transport_errors"], "verify": j.get("verify"), "rc": rc}


def redis_record(name, csv_text, added, pipeline):
    # redis-benchmark --csv: a header, then one line per test; ours is the last
    r = list(csv.DictReader(csv_text.splitlines()))[-1]
    return {"case": name, "tool": "redis-benchmark", "rps": float(r["rps"]),
            "votes": float(r["rps"]),
            "p50": float(r["p50_latency_ms"]), "p99": float(r["p99_latency_ms"]),
            "added": added, "pipeline": pipeline}


def scrape(text):
    """The key tables' and memtables' values from a Prometheus text scrape of tallyd."""
    values = {}
    for line in text.splitlines():
        if line.startswith("tally_table_") or line.startswith("tally_rocksdb_memtable_bytes"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


TABLE_KINDS = ("dedupe", "quota", "request_id")


def tallyd_mem_record(rss_kib, scrapes, fills):
    """rss_kib and scrapes: before the first vote, after the first and the second million;
    fills: the two fill runs' tally-loadgen JSON."""
    def table(values, what, kind):
        return values.get(f'tally_table_{what}{{table="{kind}"}}', 0)
    return {
        "case": "tallyd-mem", "rss_kib": list(rss_kib),
        "accepted": [f["statuses"].get("accepted", 0) for f in fills],
        "table_bytes": [{k: table(x, "bytes", k) for k in TABLE_KINDS} for x in scrapes],
        "table_keys": [{k: table(x, "keys", k) for k in TABLE_KINDS} for x in scrapes],
        "memtable_bytes": [x.get("tally_rocksdb_memtable_bytes", 0) for x in scrapes],
    }


def redis_mem_record(used, members, set_bytes, stream_bytes):
    return {"case": "redis-mem", "used": list(used), "members": list(members),
            "set_bytes": list(set_bytes), "stream_bytes": stream_bytes}


def load_results(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def half_rate(records, case):
    """Half the closed-loop rate of the case's latest run: the open-loop case's --rate."""
    return int([r for r in records if r["case"] == case][-1]["rps"] / 2)


# --- the tables ------------------------------------------------------------------------------

# Each case's median run is taken by votes/s, except the open-loop case: it runs at a set
# rate, so its runs differ in latency, not rate.
MEDIAN_BY = {"tallyd-single-sync-half": "p99"}


def medians(records):
    """Each case's median run (the lower one for an even count), with how many runs there
    were and, when more than one, every run's figure."""
    runs = {}
    for j in records:
        runs.setdefault(j["case"], []).append(j)
    out = {}
    for case, js in runs.items():
        field = MEDIAN_BY.get(case, "votes")
        js = sorted(js, key=lambda j: j.get(field) or 0)
        out[case] = dict(js[(len(js) - 1) // 2], runs=len(js), spread_of=field,
                         spread=[j.get(field) for j in js] if len(js) > 1 else None)
    return out


def k(x):
    return "–" if x is None else (f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k")


def ms(x):
    return "–" if x is None else f"{x:.2f}"


def f1(x):
    return "–" if x is None else f"{x:.1f}"


def mib(x):
    return f"{x / 2**20:.1f} MiB"


def per(x, n):
    return x / n if n > 0 else None  # None: nothing added, not measured


def ratio(a, b):
    return None if (a is None or not b) else a / b


def case_rows(conns):
    return [
        ("nginx204", "nginx `return 204`", f"tally-loadgen, {conns} conn"),
        ("nginx204-wrk", "nginx `return 204`", f"wrk + Lua, 2 threads, {conns} conn"),
        ("tallyd-single-sync", "tallyd single, `--durability sync`",
         f"tally-loadgen, {conns} conn"),
        ("tallyd-single-sync-half",
         "tallyd single, `--durability sync`, open loop at half the closed-loop rate",
         f"tally-loadgen, {conns} conn, --rate"),
        ("tallyd-single-sync-wrk", "tallyd single, `--durability sync`",
         f"wrk + Lua, 2 threads, {conns} conn"),
        ("tallyd-single-async", "tallyd single, `--durability async`",
         f"tally-loadgen, {conns} conn"),
        ("tallyd-batch-sync", "tallyd batch 1,000, `--durability sync`",
         "tally-loadgen, 4 conn, pipeline 2"),
        ("redis-always-p1", "Redis+Lua, `appendfsync always`", f"redis-benchmark, {conns} conn"),
        ("redis-always-p64", "Redis+Lua, `appendfsync always`",
         f"redis-benchmark, {conns} conn, -P 64"),
        ("redis-everysec-p1", "Redis+Lua, `appendfsync everysec`",
         f"redis-benchmark, {conns} conn"),
        ("redis-everysec-p64", "Redis+Lua, `appendfsync everysec`",
         f"redis-benchmark, {conns} conn, -P 64"),
    ]


def notes(key, r):
    note = []
    if r.get("tool") == "tally-loadgen":
        if r.get("accepted") is not None and key.startswith("tallyd"):
            note.append(f"accepted {k(r['accepted'])}/s")
        if r.get("verify") is not None:
            v = r["verify"]
            note.append("verify ok" if v.get("ok") else f"verify FAILED {v}")
        note.append("http " + " ".join(f"{c}:{n}" for c, n in sorted(r["http"].items())))
        if r.get("errors"):
            note.append(f"transport errors {r['errors']}")
        if r.get("prepared") and r.get("requests", 0) > r["prepared"]:
            note.append(f"{r['requests'] / r['prepared']:.1f} passes over "
                        f"{r['prepared']:,} prepared requests")
    elif r.get("tool") == "wrk":
        note.append(f"{r['requests']} requests, non-2xx {r['non2xx']}")
        if r.get("errors"):
            note.append(r["errors"])
    elif r.get("tool") == "redis-benchmark":
        note.append(f"{r['added']} new members")
    if r.get("spread") and r["spread_of"] == "p99":
        note.append("median run by p99; runs' p99 " + ", ".join(ms(x) for x in r["spread"])
                    + " ms")
    elif r.get("spread"):
        note.append("runs " + ", ".join(k(x) for x in r["spread"]))
    return note


def memory(tm, rm):
    """Bytes per voter from the two memory records: the figures the targets name, and the
    rows of the memory table."""
    n1, n2 = tm["accepted"]
    rss = [x * 1024 for x in tm["rss_kib"]]
    tb, tk = tm["table_bytes"], tm["table_keys"]

    def total(d):
        return sum(d.values())
    # tallyd maps the current period's tables before it serves (Engine::prepare_tables), so
    # they are resident before the first vote: count them with the first million's growth.
    t_first = rss[1] - rss[0] + total(tb[0])
    d_keys = tk[2]["dedupe"] - tk[1]["dedupe"]
    # A period turning between the scrapes would swap the dedupe table: not measured then.
    d_grown = tb[2]["dedupe"] - tb[1]["dedupe"]
    u, m, sb = rm["used"], rm["members"], rm["set_bytes"]
    fig = {
        "tallyd-mem.first_per_voter": per(t_first, n1),
        "tallyd-mem.second_per_voter": per(rss[2] - rss[1], n2),
        "tallyd-mem.dedupe_per_key": per(d_grown, d_keys) if d_grown >= 0 else None,
        "tallyd-mem.tables_per_voter": per(total(tb[2]) - total(tb[1]), n2),
        "redis-mem.first_per_voter": per(u[1] - u[0], m[0]),
        "redis-mem.second_per_voter": per(u[2] - u[1], m[1] - m[0]),
        "redis-mem.set_first_per_member": per(sb[0], m[0]),
        "redis-mem.set_per_member": per(sb[1] - sb[0], m[1] - m[0]),
    }
    mt = tm["memtable_bytes"][1]
    rows = [
        ("tallyd", "first million: process RSS growth, plus the tables mapped before the first "
         "vote (key tables, fraud sketches, RocksDB memtables)", f"{n1:,}", mib(t_first),
         f1(fig["tallyd-mem.first_per_voter"])),
        ("tallyd", "first million: `tally_table_bytes`, all three tables, sized up front "
         "(`expected_voters` 1M) and mapped at start, before → after", f"{n1:,}",
         f"{mib(total(tb[0]))} → {mib(total(tb[1]))}",
         f"{f1(per(total(tb[1]), n1))} (of the tables' total)"),
        ("tallyd", "first million: RocksDB memtables after (part of the RSS growth; flushed to "
         "disk at 64 MiB)", f"{n1:,}", mib(mt), f1(per(mt, n1))),
        ("Redis+Lua", "first million: `used_memory` growth (set + stream + hash)", f"{m[0]:,}",
         mib(u[1] - u[0]), f1(fig["redis-mem.first_per_voter"])),
        ("Redis+Lua", "first million: `MEMORY USAGE` of the SADD set", f"{m[0]:,}", mib(sb[0]),
         f1(fig["redis-mem.set_first_per_member"])),
        ("tallyd", "1M → 2M: process RSS growth (the tables double past 1M)", f"{n2:,} more",
         mib(rss[2] - rss[1]), f1(fig["tallyd-mem.second_per_voter"])),
        ("tallyd", "1M → 2M: `tally_table_bytes`, all three tables", f"{n2:,} more",
         f"{mib(total(tb[1]))} → {mib(total(tb[2]))}", f1(fig["tallyd-mem.tables_per_voter"])),
        ("tallyd", "1M → 2M: `tally_table_bytes{table=\"dedupe\"}` per added dedupe key "
         "(DESIGN.md's measure)", f"{d_keys:,.0f} keys more",
         f"{mib(tb[1]['dedupe'])} → {mib(tb[2]['dedupe'])}",
         f"{f1(fig['tallyd-mem.dedupe_per_key'])} per key"),
        ("Redis+Lua", "1M → 2M: `used_memory` growth", f"{m[1] - m[0]:,} more",
         mib(u[2] - u[1]), f1(fig["redis-mem.second_per_voter"])),
        ("Redis+Lua", "1M → 2M: `MEMORY USAGE` of the SADD set, per added member",
         f"{m[1] - m[0]:,} more", f"{mib(sb[0])} → {mib(sb[1])}",
         f"{f1(fig['redis-mem.set_per_member'])} per member"),
    ]
    return fig, rows


def figures(runs):
    """Every figure a target may name: `case.field` of each case's median run, and the memory
    figures."""
    fig = {}
    for case, r in runs.items():
        for field, value in r.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                fig[f"{case}.{field}"] = value
    tm, rm = runs.get("tallyd-mem"), runs.get("redis-mem")
    if tm and rm:
        fig.update(memory(tm, rm)[0])
    return fig


OPS = {">=": lambda x, goal: x >= goal, "<": lambda x, goal: x < goal,
       "<=": lambda x, goal: x <= goal}


def load_targets(path=TARGETS):
    with open(path) as f:
        targets = json.load(f)["targets"]
    for t in targets:
        if t["op"] not in OPS:
            raise ValueError(f"{path}: target {t['target']!r}: op must be one of {list(OPS)}")
    return targets


def number(x):
    """A goal: a number, or a fraction written "1/3"."""
    return float(Fraction(x)) if isinstance(x, str) else x


def judge(targets, fig):
    """(target, ratio, verdict) per target: the measured figure over the one it is held
    against (a figure's name or a constant), checked against the goal."""
    out = []
    for t in targets:
        against = t["against"]
        b = fig.get(against) if isinstance(against, str) else against
        x = ratio(fig.get(t["measured"]), b)
        if x is None:
            out.append((t["target"], None, "not measured"))
        else:
            ok = OPS[t["op"]](x, number(t["goal"]))
            out.append((t["target"], x, "met" if ok else "missed"))
    return out


def table(records, duration, conns, targets):
    """The Markdown the comparison prints, as one string."""
    R = medians(records)
    lines = []
    p = lines.append
    rounds = max(r.get("runs", 1) for r in R.values()) if R else 1
    p(f"Each case {duration} s, closed loop unless said, everything on 127.0.0.1, client and "
      "server sharing the machine."
      + (f" Every case ran {rounds} times, in {rounds} rounds; each row is its median run (by "
         "votes/s; the open-loop case, whose rate is set, by p99), and its notes list every "
         "run's figure." if rounds > 1 else "") + "\n")
    p("| case | driver | requests/s | votes/s | p50 ms | p99 ms | notes |")
    p("| --- | --- | --- | --- | --- | --- | --- |")
    for key, what, drv in case_rows(conns):
        r = R.get(key)
        if not r:
            p(f"| {what} | {drv} | not run | | | | |")
            continue
        p(f"| {what} | {drv} | {k(r['rps'])} | {k(r['votes'])} | {ms(r.get('p50'))} | "
          f"{ms(r.get('p99'))} | {'; '.join(notes(key, r))} |")
    p("")
    tm, rm = R.get("tallyd-mem"), R.get("redis-mem")
    if tm and rm:
        p("Memory per deduplicated voter (each a new voter with one vote: on tallyd a dedupe "
          "key, a quota key and a request-id key; in Redis one set member and one stream "
          "entry):\n")
        p("| system | measure | voters | growth | bytes per voter |")
        p("| --- | --- | --- | --- | --- |")
        for row in memory(tm, rm)[1]:
            p("| " + " | ".join(row) + " |")
    p("")
    p("| target | ratio | met? |")
    p("| --- | --- | --- |")
    for name, x, verdict in judge(targets, figures(R)):
        p(f"| {name} | – | {verdict} |" if x is None else f"| {name} | {x:.2f}× | {verdict} |")
    p("")

    def v(key):
        r = R.get(key)
        return None if r is None else r.get("votes")
    for case, other, what in (("tallyd-single-sync", "tallyd-single-sync-wrk",
                               "tallyd single sync"),
                              ("nginx204", "nginx204-wrk", "nginx 204")):
        lg, wk = v(case), v(other)
        if lg and wk:
            p(f"Cross-check on {what}: tally-loadgen / wrk = {lg / wk:.2f}.")
    return "\n".join(lines) + "\n"


# --- command line ----------------------------------------------------------------------------


def read(path):
    with open(path) as f:
        return f.read()


def emit(record):
    print(json.dumps(record))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("table", help="the Markdown tables from results.jsonl")
    s.add_argument("results")
    s.add_argument("duration")
    s.add_argument("conns")
    s.add_argument("--targets", default=TARGETS)
    s = sub.add_parser("wrk-record", help="a record from wrk --latency's output")
    s.add_argument("name")
    s.add_argument("output")
    s = sub.add_parser("loadgen-record", help="a record from tally-loadgen --json")
    s.add_argument("name")
    s.add_argument("json")
    s.add_argument("rc", type=int)
    s = sub.add_parser("redis-record", help="a record from redis-benchmark --csv")
    s.add_argument("name")
    s.add_argument("csv")
    s.add_argument("added", type=int)
    s.add_argument("pipeline", type=int)
    s = sub.add_parser("tallyd-mem-record", help="tallyd's memory record")
    s.add_argument("--rss", nargs=3, type=int, required=True, metavar="KIB")
    s.add_argument("--metrics", nargs=3, required=True, metavar="SCRAPE")
    s.add_argument("--fills", nargs=2, required=True, metavar="LOADGEN_JSON")
    s = sub.add_parser("redis-mem-record", help="Redis's memory record")
    s.add_argument("--used", nargs=3, type=int, required=True)
    s.add_argument("--members", nargs=2, type=int, required=True)
    s.add_argument("--set-bytes", nargs=2, type=int, required=True)
    s.add_argument("--stream-bytes", type=int, required=True)
    s = sub.add_parser("half-rate", help="half of a case's latest requests/s")
    s.add_argument("results")
    s.add_argument("case")
    s = sub.add_parser("candidates", help="a campaign's candidate ids, comma separated")
    s.add_argument("campaign")
    s = sub.add_parser("ingest-token", help="the first ingest token of a tokens file in plaintext (DATA_DIR/tokens.generated)")
    s.add_argument("tokens")
    sub.add_parser("free-port", help="a free TCP port on 127.0.0.1")
    a = ap.parse_args(argv)

    if a.command == "table":
        sys.stdout.write(table(load_results(a.results), a.duration, a.conns,
                               load_targets(a.targets)))
    elif a.command == "wrk-record":
        emit(wrk_record(a.name, read(a.output)))
    elif a.command == "loadgen-record":
        emit(loadgen_record(a.name, json.loads(read(a.json)), a.rc))
    elif a.command == "redis-record":
        emit(redis_record(a.name, read(a.csv), a.added, a.pipeline))
    elif a.command == "tallyd-mem-record":
        emit(tallyd_mem_record(a.rss, [scrape(read(m)) for m in a.metrics],
                               [json.loads(read(f)) for f in a.fills]))
    elif a.command == "redis-mem-record":
        emit(redis_mem_record(a.used, a.members, a.set_bytes, a.stream_bytes))
    elif a.command == "half-rate":
        print(half_rate(load_results(a.results), a.case))
    elif a.command == "candidates":
        print(",".join(c["id"] for c in json.loads(read(a.campaign))["candidates"]))
    elif a.command == "ingest-token":
        print(json.loads(read(a.tokens))["ingest"][0])
    elif a.command == "free-port":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            print(s.getsockname()[1])


if __name__ == "__main__":
    main()
