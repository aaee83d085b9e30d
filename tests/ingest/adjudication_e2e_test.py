"""The committee acts on evidence, in the open (DESIGN.md "Adjudication"), against the real tallyd.

An emulator farm's twelve accounts vote from one device: the device passes five voters, so its
later votes are flagged at once and a `flag` event then marks its first five. The committee
voids the cluster by its key, disqualifies a candidate, and repeats a decision (nothing more is
written). The published tally shows votes, suspect, void and valid, ranked by valid with the
disqualified candidate apart; it is the same after a restart and in the published bundle, which
both verifiers accept; `tallyctl verify` accepts the log
and recounts the same; `tallyctl export` then `tallyctl replay` gives the same tally. Bad
decisions (unknown seq, cluster or candidate, no reason or author, an ingest token) get a clear
4xx and change nothing.

Usage: python3 adjudication_e2e_test.py TALLYD TALLYCTL
"""
import datetime
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

TALLYD, TALLYCTL = (sys.argv[1:3] if len(sys.argv) >= 3 else (None, None))
CAMPAIGN = "adjudication"
UA = ("Mozilla/5.0 (Linux; Android 12; V2172A Build/SP1A.210812.003; wv) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 "
      "MMWEBSDK/20230504 MicroMessenger/8.0.37.2380(0x28002535) WeChat/arm64 Weixin "
      "NetType/4G Language/zh_CN ABI/arm64")


def digest(token):
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


class Tallyd:
    def __init__(self, workdir, campaign_path):
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "tallyd.log")
        args = [TALLYD, "--data-dir", os.path.join(workdir, "data"), "--listen", "127.0.0.1:0",
                "--tokens", os.path.join(workdir, "tokens.json"), "--campaign", campaign_path]
        self.log = open(self.log_path, "a")
        start = self.log.tell()
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        self.port = None
        while self.port is None:
            with open(self.log_path) as f:
                f.seek(start)
                found = re.search(r"tallyd ready listen=127\.0\.0\.1:(\d+)", f.read())
            if found:
                self.port = int(found.group(1))
            elif self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("tallyd did not start:\n" + open(self.log_path).read())
            else:
                time.sleep(0.05)

    def call(self, method, target, body=None, token=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        connection.request(method, target, body=None if body is None else json.dumps(body),
                           headers=headers)
        answer = connection.getresponse()
        text = answer.read().decode()
        connection.close()
        return answer.status, (json.loads(text) if text else None)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)
        self.log.close()
        return self.process.returncode


def tallyctl(*args):
    return subprocess.run([TALLYCTL, *args], capture_output=True, text=True, timeout=120)


def counts(tally):
    return [(c["id"], c["votes"], c["suspect"], c["void"], c["valid"], c["rank"], c["disqualified"])
            for c in tally["candidates"]]


class AdjudicationFlowTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="tally-adjudication-")
        self.ingest = "ingest-" + secrets.token_hex(20)
        self.admin = "admin-" + secrets.token_hex(20)
        tokens = os.path.join(self.workdir, "tokens.json")
        with open(tokens, "w") as f:
            json.dump({"ingest": [digest(self.ingest)], "admin": [digest(self.admin)]}, f)
        os.chmod(tokens, 0o600)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.campaign_path = os.path.join(self.workdir, "campaign.json")
        with open(self.campaign_path, "w") as f:
            json.dump({"id": CAMPAIGN, "title": "adjudication test",
                       "opens_at": (now - datetime.timedelta(minutes=1)).isoformat(timespec="seconds"),
                       "closes_at": (now + datetime.timedelta(days=1)).isoformat(timespec="seconds"),
                       "utc_offset": "+00:00",
                       "rules": {"period": "campaign", "max_votes_per_candidate": 1,
                                 "max_candidates": 3},
                       "candidates": [{"id": c, "name": c.upper()} for c in ("a", "b", "c", "d")]},
                      f)
        self.server = Tallyd(self.workdir, self.campaign_path)

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def vote(self, candidate, voter, device, ip, ua=UA):
        status, answer = self.server.call("POST", "/v1/votes", {
            "campaign": CAMPAIGN, "candidate": candidate, "voter": voter, "device": device,
            "ip": ip, "ua": ua}, self.ingest)
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["status"], "accepted", answer)
        return answer["seq"]

    def decide(self, body, token=None):
        return self.server.call("POST", f"/v1/campaigns/{CAMPAIGN}/decisions", body,
                                token or self.admin)

    def tally(self):
        status, tally = self.server.call("GET", f"/v1/campaigns/{CAMPAIGN}/tally")
        self.assertEqual(status, 200)
        return tally

    def test_farm_detected_voided_published_restarted_verified(self):
        farm = [self.vote("b", f"farm-{i}", "emulator-1", "203.0.113.7") for i in range(12)]
        for i in range(9):
            self.vote("abc"[i % 3], f"honest-{i}", f"phone-{i}", f"10.1.0.{i}", UA + str(i))

        # Farm detected: the first five votes get a late flag (written a moment later).
        deadline = time.monotonic() + 30
        while True:
            status, first = self.server.call("GET", f"/v1/votes/{farm[0]}", token=self.admin)
            self.assertEqual(status, 200)
            if "late_flags" in first or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(first["flags"], [])
        self.assertEqual(first["late_flags"], ["device_multi_account"])
        tally = self.tally()
        self.assertEqual(tally["suspect"], 12)  # every farm vote, the first five by the flag

        # Bad decisions: a clear 4xx, nothing written.
        before = self.tally()["as_of_seq"]
        bad = [
            ({"action": "void", "author": "c", "reason": "r", "seqs": [99999]}, 404, "not_found"),
            ({"action": "void", "author": "c", "reason": "r", "scope": "device",
              "key": "no-such-device"}, 404, "not_found"),
            ({"action": "disqualify", "author": "c", "reason": "r", "candidate": "zz"}, 422,
             "unknown_candidate"),
            ({"action": "void", "author": "c", "seqs": [farm[0]]}, 400, "invalid"),
            ({"action": "void", "reason": "r", "seqs": [farm[0]]}, 400, "invalid"),
            ({"action": "erase", "author": "c", "reason": "r", "seqs": [farm[0]]}, 400, "invalid"),
            ({"action": "void", "author": "c", "reason": "r", "seqs": [farm[0]],
              "scope": "device", "key": "emulator-1"}, 400, "invalid"),
            ({"action": "void", "author": "c", "reason": "r", "seqs": ["1"]}, 400, "invalid"),
        ]
        for body, code, word in bad:
            with self.subTest(body=body):
                status, answer = self.decide(body)
                self.assertEqual(status, code, answer)
                self.assertEqual(answer["status"], word)
                self.assertTrue(answer["error"])
        status, answer = self.decide({"action": "void", "author": "c", "reason": "r",
                                      "seqs": [farm[0]]}, token=self.ingest)
        self.assertEqual(status, 403, answer)
        status, answer = self.server.call("POST", "/v1/campaigns/nope/decisions",
                                          {"action": "void", "author": "c", "reason": "r",
                                           "seqs": [farm[0]]}, self.admin)
        self.assertEqual(status, 404, answer)
        self.assertEqual(answer["status"], "unknown_campaign")
        self.assertEqual(self.tally()["as_of_seq"], before)

        # The committee voids the cluster, then disqualifies a candidate; a repeat is a no-op.
        void = {"action": "void", "author": "评审委员会", "reason": "模拟器刷票: 一台设备 12 个账号",
                "scope": "device", "key": "emulator-1"}
        status, answer = self.decide(void)
        self.assertEqual(status, 201, answer)
        self.assertEqual(answer["changed"], 12)
        status, again = self.decide(void)
        self.assertEqual(status, 200, again)
        self.assertEqual((again["changed"], again["events"]), (0, []))
        status, answer = self.decide({"action": "disqualify", "author": "评审委员会",
                                      "reason": "材料不实", "candidate": "c"})
        self.assertEqual(status, 201, answer)
        status, listed = self.server.call("GET", f"/v1/campaigns/{CAMPAIGN}/decisions")
        self.assertEqual(status, 200)
        self.assertEqual([d["action"] for d in listed["decisions"]], ["void", "disqualify"])
        self.assertEqual(listed["decisions"][0]["votes"], 12)
        status, voided = self.server.call("GET", f"/v1/votes/{farm[3]}", token=self.admin)
        self.assertEqual(voided["voided_by"], listed["decisions"][0]["seq"])

        # Published results: votes, suspect, void, valid; ranked by valid, disqualified apart.
        tally = self.tally()
        self.assertEqual((tally["total"], tally["suspect"], tally["void"], tally["valid"]),
                         (21, 12, 12, 9))
        self.assertEqual(counts(tally), [
            ("a", 3, 0, 0, 3, 1, False), ("b", 15, 12, 12, 3, 1, False),
            ("d", 0, 0, 0, 0, 3, False), ("c", 3, 0, 0, 3, 0, True)])

        # Restart: the same tally from the log alone.
        self.assertEqual(self.server.stop(), 0)
        self.server = Tallyd(self.workdir, self.campaign_path)
        restarted = self.tally()
        self.assertEqual(counts(restarted), counts(tally))
        self.assertEqual(restarted["as_of_seq"], tally["as_of_seq"])
        self.assertEqual(self.server.stop(), 0)

        # The published bundle shows the valid counts, and both verifiers accept it.
        data = os.path.join(self.workdir, "data")
        bundle = os.path.join(self.workdir, "bundle")
        published = tallyctl("publish", "--data-dir", data, "--campaign", CAMPAIGN, "--out", bundle)
        self.assertEqual(published.returncode, 0, published.stdout + published.stderr)
        with open(os.path.join(bundle, "results.json")) as f:
            results = json.load(f)
        self.assertEqual((results["void"], results["valid"]), (12, 9))
        self.assertEqual([(c["id"], c["valid"], c["rank"], c["disqualified"])
                          for c in results["candidates"]],
                         [(c[0], c[4], c[5], c[6]) for c in counts(tally)])
        key = os.path.join(data, "log-keys", "public-key.pem")
        checked = tallyctl("verify", "--public", bundle, "--key", key)
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        verifier = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verifier",
                                "tally_verify.py")
        checked = subprocess.run([sys.executable, verifier, "bundle", bundle, "--key", key],
                                 capture_output=True, text=True, timeout=120)
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)

        # verify and replay agree.
        verified = tallyctl("verify", "--data-dir", data, "--format", "json")
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        report = json.loads(verified.stdout)
        self.assertEqual((report["flags"], report["decisions"]), (1, 2))
        self.assertEqual(report["recount"], [{"campaign": CAMPAIGN, "votes": 21, "suspect": 12,
                                              "void": 12, "valid": 9}])
        export = os.path.join(self.workdir, "export.ndjson")
        exported = tallyctl("export", "--data-dir", data, "--campaign", CAMPAIGN)
        self.assertEqual(exported.returncode, 0, exported.stderr)
        with open(export, "w") as f:
            f.write(exported.stdout)
        kinds = [json.loads(line)["kind"] for line in exported.stdout.splitlines()]
        self.assertEqual((kinds.count("flag"), kinds.count("decision")), (1, 2))
        replayed = tallyctl("replay", export)
        self.assertEqual(replayed.returncode, 0, replayed.stderr)
        self.assertEqual(counts(json.loads(replayed.stdout.splitlines()[0])), counts(tally))
        expect = os.path.join(self.workdir, "tally.json")
        with open(expect, "w") as f:
            json.dump(tally, f, ensure_ascii=False)
        agreed = tallyctl("replay", export, "--expect", expect)
        self.assertEqual(agreed.returncode, 0, agreed.stdout + agreed.stderr)
        with open(expect, "w") as f:
            json.dump(dict(tally, candidates=[dict(c, void=0) for c in tally["candidates"]]), f)
        disagreed = tallyctl("replay", export, "--expect", expect)
        self.assertEqual(disagreed.returncode, 1, disagreed.stdout + disagreed.stderr)
        self.assertIn("candidate b: replay counts 15 (12 void), expected 15", disagreed.stdout +
                      disagreed.stderr)

    def test_a_vote_two_clusters_cover_is_flagged_by_both_and_counted_once(self):
        # A device farm behind one address with one agent: it crosses the device's and the
        # address's look-alike thresholds (lowered here) in the same pass of the adjudicator.
        with open(self.campaign_path) as f:
            campaign = json.load(f)
        campaign.update({"id": "two-clusters", "fraud": {
            "window_s": 600, "ip_lookalike_votes": 3, "subnet_lookalike_votes": 150,
            "regular_votes": 30, "device_max_voters": 3, "burst_factor": 10,
            "burst_min_per_minute": 120, "baseline_minutes": 30, "reject": []}})
        status, answer = self.server.call("PUT", "/v1/campaigns/two-clusters", campaign, self.admin)
        self.assertEqual(status, 201, answer)
        seqs = []
        for i in range(8):
            status, answer = self.server.call("POST", "/v1/votes", {
                "campaign": "two-clusters", "candidate": "a", "voter": f"farm-{i}",
                "device": "emulator-9", "ip": "198.51.100.9", "ua": UA}, self.ingest)
            self.assertEqual(answer["status"], "accepted", answer)
            seqs.append(answer["seq"])
        deadline = time.monotonic() + 30
        while True:
            status, first = self.server.call("GET", f"/v1/votes/{seqs[0]}", token=self.admin)
            if len(first.get("late_flags", [])) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(sorted(first["late_flags"]), ["device_multi_account", "ip_flood"])
        status, tally = self.server.call("GET", "/v1/campaigns/two-clusters/tally")
        self.assertEqual((tally["total"], tally["suspect"]), (8, 8))
        self.assertEqual(self.server.stop(), 0)
        verified = tallyctl("verify", "--data-dir", os.path.join(self.workdir, "data"),
                            "--format", "json")
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        recount = {r["campaign"]: r for r in json.loads(verified.stdout)["recount"]}
        self.assertEqual(recount["two-clusters"]["suspect"], 8)
        self.server = Tallyd(self.workdir, self.campaign_path)
        status, restarted = self.server.call("GET", "/v1/campaigns/two-clusters/tally")
        self.assertEqual(restarted["suspect"], 8)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
