"""The realistic fraud trace (bench/fraud/trace.py), reduced, against the real tallyd.

A quarter of the trace's ballots, its 600 s played in 30 s, then the export read back. It asserts
what the signals achieve today and must keep achieving (docs/FRAUD.md "A realistic trace"):
honest crowds stay within their targets (at most 3 % of carrier-NAT voters, 1 % of home voters
and 20 % of a mobilised office carry a flag) and scripted clients are flagged (at least 95 % of
their votes: bot_ua and no_device flag each such vote at once). Every ballot is answered, and
every accepted one is in the export.

The farm and the phone groups are flagged too (at least 95 % of their votes): their votes past a
threshold at once, and their earlier ones by the late flags of DESIGN.md "Adjudication", which a
`flag` event in the export names.

Usage: python3 fraud_trace_e2e_test.py TALLYD TALLYCTL TRACE_PY
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TALLYD, TALLYCTL, TRACE = (sys.argv[1:4] if len(sys.argv) >= 4 else (None, None, None))
SEED = 7


class ReducedTraceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="tally-trace-test-")
        out = os.path.join(cls.workdir, "run")
        print(f"seed {SEED}", flush=True)
        cls.run_result = subprocess.run(
            [sys.executable, TRACE, "--tallyd", TALLYD, "--tallyctl", TALLYCTL, "--seed", str(SEED),
             "--scale", "0.25", "--duration", "30", "--out", out],
            capture_output=True, text=True, timeout=240)
        print(cls.run_result.stdout, cls.run_result.stderr, flush=True)
        cls.results = None
        path = os.path.join(out, "results.json")
        if os.path.exists(path):
            with open(path) as f:
                cls.results = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def setUp(self):
        self.assertEqual(self.run_result.returncode, 0, self.run_result.stderr)
        self.assertIsNotNone(self.results)

    def test_every_ballot_is_answered_and_every_accepted_vote_exported(self):
        meta = self.results["meta"]
        self.assertEqual(meta["transport_errors"], 0)
        self.assertEqual(set(meta["statuses"]) - {"accepted", "duplicate"}, set())
        self.assertEqual(meta["accepted_not_in_export"], 0)
        self.assertEqual(meta["export_votes"], meta["statuses"]["accepted"])
        self.assertEqual(meta["tally"]["total"], meta["statuses"]["accepted"])
        self.assertEqual(meta["tallyd_exit"], 0)

    def test_honest_crowds_stay_within_their_targets(self):
        groups = self.results["groups"]
        for group, limit in (("carrier_nat", 3.0), ("home", 1.0), ("office", 20.0)):
            with self.subTest(group=group):
                self.assertGreater(groups[group]["voters"], 0)
                self.assertLessEqual(groups[group]["voters_flagged_pct"], limit)

    def test_scripted_clients_are_flagged(self):
        scripted = self.results["groups"]["scripted"]
        self.assertGreater(scripted["accepted"], 0)
        self.assertGreaterEqual(scripted["flagged_pct"], 95.0)

    def test_farms_and_phone_groups_are_flagged_late_flags_included(self):
        for group in ("farm", "phone_groups"):
            with self.subTest(group=group):
                self.assertGreater(self.results["groups"][group]["accepted"], 0)
                self.assertGreaterEqual(self.results["groups"][group]["flagged_pct"], 95.0)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
