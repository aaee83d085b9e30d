"""report.py on recorded figures: testdata/results.jsonl is the results.jsonl of
`compare.sh --duration 2 --rounds 2 --connections 16` (two rounds, so every throughput case
has two runs and the table takes the lower one); wrk.txt, wrk_errors.txt and redis.csv are the
tools' own output.

run: cd bench/compare && python3 -m unittest -v test_report   (ctest: compare_report_test)
"""
import json
import os
import tempfile
import unittest

import report

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")


def read(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def cells(markdown):
    """The Markdown table rows as lists of cells, header and rule rows left out."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            rows.append([c.strip() for c in line.strip()[1:-1].split("|")])
    return rows


class TableTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.records = report.load_results(os.path.join(DATA, "results.jsonl"))
        cls.targets = report.load_targets()
        cls.md = report.table(cls.records, "2", "16", cls.targets)
        cls.rows = cells(cls.md)

    def runs(self, case, field="votes"):
        return sorted(r[field] for r in self.records if r["case"] == case)

    def row(self, what, driver):
        found = [r for r in self.rows if r[0] == what and r[1] == driver]
        self.assertEqual(len(found), 1, f"{what} / {driver}")
        return found[0]

    def target(self, name):
        found = [r for r in self.rows if r[0] == name]
        self.assertEqual(len(found), 1, name)
        return found[0][1:]

    def test_fixture_is_two_rounds(self):
        self.assertEqual(len(self.records), 26)
        self.assertEqual(len(self.runs("tallyd-batch-sync")), 2)
        self.assertIn("Every case ran 2 times, in 2 rounds", self.md.splitlines()[0])

    def test_every_case_has_a_row(self):
        case_rows = [r for r in self.rows if len(r) == 7 and r[0] != "case"]
        self.assertEqual(len(case_rows), 11)
        self.assertFalse([r for r in case_rows if r[2] == "not run"])

    def test_row_is_the_lower_median_run(self):
        low, high = self.runs("tallyd-batch-sync")
        self.assertLess(low, high)
        r = self.row("tallyd batch 1,000, `--durability sync`", "tally-loadgen, 4 conn, pipeline 2")
        self.assertEqual(r[3], report.k(low))
        self.assertEqual(r[3], "254.8k")
        self.assertEqual(r[6], "accepted 254.8k/s; verify ok; http 200:514; "
                               "runs 254.8k, 495.3k")

    def test_open_loop_row_is_the_median_by_p99(self):
        r = self.row("tallyd single, `--durability sync`, open loop at half the closed-loop rate",
                     "tally-loadgen, 16 conn, --rate")
        self.assertEqual(r[5], "1.84")
        self.assertTrue(r[6].endswith("median run by p99; runs' p99 1.84, 390.07 ms"), r[6])

    def test_driver_and_notes_per_tool(self):
        r = self.row("nginx `return 204`", "wrk + Lua, 2 threads, 16 conn")
        self.assertEqual(r[2:], ["63.2k", "63.2k", "0.20", "9.25",
                                 "128494 requests, non-2xx 0; runs 63.2k, 64.1k"])
        r = self.row("Redis+Lua, `appendfsync everysec`", "redis-benchmark, 16 conn, -P 64")
        self.assertEqual(r[6], "299988 new members; runs 123.1k, 155.2k")
        r = self.row("nginx `return 204`", "tally-loadgen, 16 conn")
        self.assertIn("1.8 passes over 65,536 prepared requests", r[6])
        self.assertNotIn("accepted", r[6])  # nginx accepts no votes: no such note

    def test_memory_rows(self):
        r = [x for x in self.rows if x[0] == "tallyd" and "DESIGN.md's measure" in x[1]]
        self.assertEqual(r[0][2:], ["999,938 keys more", "20.4 MiB → 40.7 MiB", "21.3 per key"])
        r = [x for x in self.rows if x[0] == "Redis+Lua" and "per added member" in x[1]]
        self.assertEqual(r[0][4], "68.6 per member")

    def test_ratios_are_of_medians(self):
        single = self.runs("tallyd-single-sync", "accepted")[0]
        nginx = self.runs("nginx204")[0]
        want = f"{single / nginx:.2f}×"
        self.assertEqual(self.target("tallyd single durable ≥ 0.5× nginx 204 (tally-loadgen)"),
                         [want, "missed"])
        self.assertEqual(want, "0.20×")
        batch = self.runs("tallyd-batch-sync", "accepted")[0]
        self.assertEqual(self.target("tallyd batch durable ≥ 1,000,000 votes/s"),
                         [f"{batch / 1e6:.2f}×", "missed"])

    def test_targets_met_and_missed(self):
        self.assertEqual(
            self.target("tallyd single durable p99 at half load < 5 ms (ratio to 5 ms)"),
            ["0.37×", "met"])
        self.assertEqual(self.target("memory ≤ 24 bytes per dedupe key (DESIGN.md: dedupe table "
                                     "growth 1M → 2M keys; ratio to 24 B)"), ["0.89×", "met"])
        self.assertEqual(self.target("memory per dedupe key ≤ 1/3 of Redis's per set member "
                                     "(dedupe table vs SADD set, growth 1M → 2M)"),
                         ["0.31×", "met"])
        self.assertEqual(self.target("memory per voter ≤ 1/3 of Redis (RSS vs the SADD set, "
                                     "first million)"), ["2.01×", "missed"])

    def test_targets_in_file_order(self):
        names = [t["target"] for t in self.targets]
        self.assertEqual(len(names), 12)
        shown = [r[0] for r in self.rows if len(r) == 3 and r[0] != "target"]
        self.assertEqual(shown, names)

    def test_targets_come_from_the_file(self):
        # The same figures against a goal moved past them: the verdict follows the file.
        targets = json.loads(json.dumps(self.targets))
        for t in targets:
            if t["target"].startswith("tallyd batch durable ≥ 1,000,000"):
                t["goal"] = "1/5"
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"targets": targets}, f)
        try:
            md = report.table(self.records, "2", "16", report.load_targets(f.name))
        finally:
            os.unlink(f.name)
        rows = {r[0]: r[1:] for r in cells(md)}
        self.assertEqual(rows["tallyd batch durable ≥ 1,000,000 votes/s"], ["0.25×", "met"])

    def test_unknown_op_is_refused(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"targets": [{"target": "x", "measured": "a.b", "against": 1,
                                    "op": "=>", "goal": 1}]}, f)
        try:
            with self.assertRaises(ValueError):
                report.load_targets(f.name)
        finally:
            os.unlink(f.name)

    def test_cross_checks(self):
        self.assertIn("Cross-check on tallyd single sync: tally-loadgen / wrk = 0.83.", self.md)
        self.assertIn("Cross-check on nginx 204: tally-loadgen / wrk = 0.95.", self.md)

    def test_cases_not_run(self):
        # --memory-only: the throughput rows say so and their targets are not measured.
        mem = [r for r in self.records if r["case"] in ("tallyd-mem", "redis-mem",
                                                        "tallyd-mem-fill", "tallyd-mem-fill2")]
        md = report.table(mem, "2", "16", self.targets)
        self.assertNotIn("Every case ran", md.splitlines()[0])
        rows = cells(md)
        self.assertIn(["nginx `return 204`", "tally-loadgen, 16 conn", "not run", "", "", "", ""],
                      rows)
        verdicts = {r[0]: r[1:] for r in rows if len(r) == 3}
        self.assertEqual(verdicts["tallyd batch durable ≥ 1,000,000 votes/s"],
                         ["–", "not measured"])
        self.assertEqual(verdicts["memory ≤ 24 bytes per dedupe key (DESIGN.md: dedupe table "
                                  "growth 1M → 2M keys; ratio to 24 B)"], ["0.89×", "met"])
        self.assertNotIn("Cross-check", md)


class RecordTest(unittest.TestCase):
    def test_wrk(self):
        r = report.wrk_record("nginx204-wrk", read("wrk.txt"))
        self.assertEqual(r, {"case": "nginx204-wrk", "tool": "wrk", "rps": 48876.7,
                             "votes": 48876.7, "p50": 0.112, "p99": 5.94, "requests": 50069,
                             "non2xx": 0, "errors": ""})

    def test_wrk_errors(self):
        r = report.wrk_record("x", read("wrk_errors.txt"))
        self.assertEqual(r["non2xx"], 18980)
        self.assertEqual(r["errors"], "Socket errors: connect 0, read 15029, write 0, timeout 0")
        self.assertAlmostEqual(r["p50"], 0.605)

    def test_wrk_units(self):
        self.assertAlmostEqual(report.wrk_ms("512.00us"), 0.512)
        self.assertAlmostEqual(report.wrk_ms("1.20ms"), 1.2)
        self.assertAlmostEqual(report.wrk_ms("1.05s"), 1050)

    def test_redis_benchmark_csv(self):
        r = report.redis_record("redis-everysec-p1", read("redis.csv"), 20000, 1)
        self.assertEqual(r, {"case": "redis-everysec-p1", "tool": "redis-benchmark",
                             "rps": 29239.77, "votes": 29239.77, "p50": 0.135, "p99": 4.175,
                             "added": 20000, "pipeline": 1})

    def test_tallyd_memory(self):
        scrape = report.scrape('# TYPE tally_table_bytes gauge\n'
                               'tally_table_bytes{table="dedupe"} 2048\n'
                               'tally_table_keys{table="dedupe"} 10\n'
                               'tally_rocksdb_memtable_bytes 4096\n'
                               'tally_votes_total 3\n')
        fill = {"statuses": {"accepted": 10}}
        r = report.tallyd_mem_record([1, 2, 3], [scrape] * 3, [fill, fill])
        self.assertEqual(r["accepted"], [10, 10])
        self.assertEqual(r["table_bytes"][0], {"dedupe": 2048.0, "quota": 0, "request_id": 0})
        self.assertEqual(r["memtable_bytes"], [4096.0] * 3)

    def test_half_rate_takes_the_latest_run(self):
        records = [{"case": "tallyd-single-sync", "rps": 1000.0},
                   {"case": "other", "rps": 9.0},
                   {"case": "tallyd-single-sync", "rps": 301.0}]
        self.assertEqual(report.half_rate(records, "tallyd-single-sync"), 150)


if __name__ == "__main__":
    unittest.main()
