#!/usr/bin/env python3
"""Tests of tally_verify.py on small bundles and receipts built here from the specification.

Run: cd verifier && python3 -m unittest -v test_tally_verify
"""

import contextlib
import datetime
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import tally_verify

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "tally_verify.py")

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
OFFSET_MS = 8 * HOUR_MS  # the test campaign is in +08:00
CAMPAIGN = "c2024"


# ---------------------------------------------------------------------------------------
# Reference helpers, written apart from the verifier's so that the two check each other

def canon(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sha(data):
    return hashlib.sha256(data).digest()


def mth(lines):
    """RFC 6962 Merkle Tree Hash, recursive, straight from the definition."""
    n = len(lines)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + lines[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha(b"\x01" + mth(lines[:k]) + mth(lines[k:]))


def inclusion_path(m, lines):
    """RFC 9162 section 2.1.3.1 PATH(m, D[n]), from the leaf up."""
    n = len(lines)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return inclusion_path(m, lines[:k]) + [mth(lines[k:])]
    return inclusion_path(m - k, lines[k:]) + [mth(lines[:k])]


def tag(text):
    """A made-up tag: 32 lowercase hex digits."""
    return hashlib.md5(text.encode()).hexdigest()


def ms_of(text):
    moment = datetime.datetime.fromisoformat(text)
    return int(moment.timestamp()) * 1000


OPENS = "2024-05-01T00:00:00+08:00"
CLOSES = "2024-05-04T00:00:00+08:00"
DAY1 = ms_of(OPENS) + HOUR_MS          # 2024-05-01 01:00 local
DAY2 = DAY1 + DAY_MS                   # 2024-05-02 01:00 local


def period_of(server_ms):
    return (server_ms + OFFSET_MS) // DAY_MS


def definition(campaign=CAMPAIGN, rules=None, candidates=None, fraud=None,
               opens=OPENS, closes=CLOSES, utc_offset="+08:00", expected_voters=None):
    d = {"id": campaign, "title": "Test campaign “最美”", "opens_at": opens,
         "closes_at": closes, "utc_offset": utc_offset,
         "rules": rules or {"period": "day", "max_votes_per_candidate": 1,
                            "max_candidates": 2},
         "candidates": candidates or [
             {"id": "a", "name": "Alice", "unit": "Unit 1", "industry": ""},
             {"id": "b", "name": "Bob", "unit": "", "industry": "energy"},
             {"id": "c", "name": "Carol", "unit": "", "industry": ""}]}
    if expected_voters is not None:
        d["expected_voters"] = expected_voters
    if fraud is not None:
        d["fraud"] = fraud
    return d


FRAUD_DEFAULTS = {"window_s": 600, "ip_lookalike_votes": 50, "subnet_lookalike_votes": 150,
                  "regular_votes": 30, "device_max_voters": 5, "burst_factor": 10,
                  "burst_min_per_minute": 120, "baseline_minutes": 30, "reject": []}


def campaign_event(**kwargs):
    return {"kind": "campaign", "campaign": definition(**kwargs)}


def vote(candidate, voter, server_ms, campaign=CAMPAIGN, flags=(), device=None, ip=None,
         ua=None, ts=None, request_id=None, period=None):
    event = {"kind": "vote", "campaign": campaign, "candidate": candidate,
             "voter": tag(voter)}
    optional = {"device": tag(device) if device else None, "ip": tag(ip) if ip else None,
                "ua": ua, "ts": ts, "request_id": tag(request_id) if request_id else None}
    for name, value in optional.items():
        if value is not None:
            event[name] = value
    event["server_ms"] = server_ms
    event["period"] = period_of(server_ms) if period is None else period
    event["flags"] = list(flags)
    return event


def epoch_event(server_ms):
    return {"kind": "epoch", "node": "n1", "epoch": 2, "server_ms": server_ms}


def base_events():
    return [
        campaign_event(),
        vote("a", "v1", DAY1, device="d1", ip="1.2.3.4", ua="Mozilla/5.0 “quoted”",
             ts=DAY1 - 5, request_id="r1"),
        vote("b", "v1", DAY1 + 1000, device="d1", ip="1.2.3.4", request_id="r2"),
        vote("a", "v2", DAY1 + 2000, flags=["no_device"]),
        epoch_event(DAY1 + 3000),
        vote("a", "v1", DAY2, device="d1", request_id="r3"),
        vote("c", "v3", DAY2 + 1000, flags=["ip_flood", "bot_ua"], device="d3"),
        {"kind": "campaign", "campaign": definition(campaign="other")},
        vote("a", "v1", DAY1, campaign="other"),
    ]


def flag_event(seqs, reason="device_multi_account", server_ms=DAY2 + 5000, campaign=CAMPAIGN,
               scope="device", key="d1"):
    return {"kind": "flag", "campaign": campaign, "reason": reason, "scope": scope,
            "key": tag(key), "server_ms": server_ms, "seqs": list(seqs)}


def decision_event(action, seqs=None, candidate=None, server_ms=DAY2 + 6000,
                   campaign=CAMPAIGN, scope=None, key=None, author="committee",
                   reason="minutes of 2024-05-02, item 3"):
    event = {"kind": "decision", "campaign": campaign, "action": action, "author": author,
             "reason": reason, "server_ms": server_ms}
    if candidate is not None:
        event["candidate"] = candidate
    if scope is not None:
        event["scope"] = scope
        event["key"] = tag(key)
    if seqs is not None:
        event["seqs"] = list(seqs)
    return event


def reference_results(events, campaign, size):
    """Results as the specification describes them, computed apart from the verifier.

    Tolerant of broken logs (the tests that build them expect an earlier step to fail).
    """
    candidates = [e["campaign"]["candidates"] for e in events
                  if e.get("kind") == "campaign" and e["campaign"]["id"] == campaign][-1]
    names = {c["id"]: c["name"] for c in candidates}
    votes = {c["id"]: 0 for c in candidates}
    reasons = {}   # seq -> set of reason names, stored and late
    voided = set()  # seqs
    disqualified = set()
    candidate_of = {}
    for seq, e in enumerate(events, start=1):
        if e.get("campaign") != campaign:
            continue
        if e.get("kind") == "vote":
            names.setdefault(e["candidate"], e["candidate"])
            votes[e["candidate"]] = votes.get(e["candidate"], 0) + 1
            reasons[seq] = set(e["flags"])
            candidate_of[seq] = e["candidate"]
        elif e.get("kind") == "flag":
            for n in e["seqs"]:
                reasons.setdefault(n, set()).add(e["reason"])
        elif e.get("kind") == "decision":
            action = e["action"]
            if action == "void":
                voided.update(e["seqs"])
            elif action == "restore":
                voided.difference_update(e["seqs"])
            elif action == "disqualify":
                disqualified.add(e["candidate"])
            else:
                disqualified.discard(e["candidate"])
    rows = []
    for c in votes:
        mine = [n for n, who in candidate_of.items() if who == c]
        void = sum(1 for n in mine if n in voided)
        rows.append({"id": c, "name": names[c], "votes": votes[c],
                     "suspect": sum(1 for n in mine if reasons.get(n)), "void": void,
                     "valid": votes[c] - void, "disqualified": c in disqualified})
    for row in rows:
        row["rank"] = 0 if row["disqualified"] else 1 + sum(
            1 for other in rows if not other["disqualified"] and other["valid"] > row["valid"])
    rows.sort(key=lambda r: (r["disqualified"], -r["valid"], r["id"]))
    # Members in tallyd's order.
    rows = [{name: r[name] for name in ("id", "name", "votes", "suspect", "void", "valid",
                                        "rank", "disqualified")} for r in rows]
    return {"campaign": campaign, "as_of_seq": size, "total": sum(votes.values()),
            "suspect": sum(r["suspect"] for r in rows), "void": sum(r["void"] for r in rows),
            "valid": sum(r["valid"] for r in rows), "candidates": rows}


def reference_csv(events, results):
    """results.csv as the specification describes it, from results.json's rows."""
    campaign = results["campaign"]
    latest = [e["campaign"]["candidates"] for e in events
              if e.get("kind") == "campaign" and e["campaign"]["id"] == campaign][-1]
    info = {c["id"]: c for c in latest}

    def field(text):
        if set(text) & {",", '"', "\r", "\n"}:
            return '"' + text.replace('"', '""') + '"'
        return text

    text = "rank,candidate,name,unit,industry,votes,suspect,void,valid,disqualified\n"
    for row in results["candidates"]:
        c = info.get(row["id"], {"unit": "", "industry": ""})
        rank = "" if row["disqualified"] else row["rank"]
        text += (f"{rank},{field(row['id'])},{field(row['name'])},{field(c['unit'])},"
                 f"{field(c['industry'])},{row['votes']},{row['suspect']},{row['void']},"
                 f"{row['valid']},{'yes' if row['disqualified'] else ''}\n")
    return text.encode("utf-8")


def run_openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class Key:
    """An Ed25519 key pair in files, made with the openssl command."""

    def __init__(self, directory, name):
        self.private = os.path.join(directory, name + ".key")
        self.public = os.path.join(directory, name + ".pem")
        run_openssl("genpkey", "-algorithm", "ed25519", "-out", self.private)
        run_openssl("pkey", "-in", self.private, "-pubout", "-out", self.public)
        der = subprocess.run(["openssl", "pkey", "-in", self.private, "-pubout",
                              "-outform", "DER"], check=True, capture_output=True).stdout
        self.log_id = hashlib.sha256(der[-32:]).hexdigest()

    def sign(self, message):
        with tempfile.TemporaryDirectory() as tmp:
            msg, sig = os.path.join(tmp, "msg"), os.path.join(tmp, "sig")
            with open(msg, "wb") as f:
                f.write(message)
            run_openssl("pkeyutl", "-sign", "-rawin", "-inkey", self.private, "-in", msg,
                        "-out", sig)
            with open(sig, "rb") as f:
                return f.read().hex()


def checkpoint(key, size, root_hex, time_ms=1_714_600_000_000, log_id=None):
    cp = {"log_id": log_id or key.log_id, "size": size, "root": root_hex, "time_ms": time_ms}
    message = (f"tally checkpoint v1\n{cp['log_id']}\n{size}\n{root_hex}\n{time_ms}\n"
               ).encode()
    cp["signature"] = key.sign(message)
    return cp


def write_bundle(directory, key, events, lines=None, results=None, campaign=CAMPAIGN,
                 csv=True):
    """Writes a consistent bundle: lines (bytes) default to the events' canonical forms."""
    os.makedirs(directory, exist_ok=True)
    lines = [canon(e) for e in events] if lines is None else lines
    with open(os.path.join(directory, "log.ndjson"), "wb") as f:
        f.write(b"".join(line + b"\n" for line in lines))
    cp = checkpoint(key, len(lines), mth(lines).hex())
    with open(os.path.join(directory, "checkpoint.json"), "w") as f:
        json.dump(cp, f)
    shutil.copy(key.public, os.path.join(directory, "log-key.pem"))
    if results is None:
        results = reference_results(events, campaign, len(lines))
    with open(os.path.join(directory, "results.json"), "wb") as f:
        f.write(canon(results) + b"\n")
    if csv:
        with open(os.path.join(directory, "results.csv"), "wb") as f:
            f.write(reference_csv(events, results))
    with open(os.path.join(directory, "README.txt"), "w") as f:
        f.write("test bundle\n")
    return lines, cp


def run_main(*argv):
    """(exit status, stdout) of tally_verify.main."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            status = tally_verify.main(list(argv))
        except SystemExit as e:
            status = e.code
    return status, out.getvalue()


class Case(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keydir = tempfile.mkdtemp()
        cls.key = Key(cls.keydir, "log")
        cls.other_key = Key(cls.keydir, "other")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.keydir)

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.bundle = os.path.join(self.tmp, "bundle")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def path(self, name):
        return os.path.join(self.bundle, name)

    def read_lines(self):
        with open(self.path("log.ndjson"), "rb") as f:
            return f.read().split(b"\n")[:-1]

    def write_lines(self, lines):
        with open(self.path("log.ndjson"), "wb") as f:
            f.write(b"".join(line + b"\n" for line in lines))

    def assertVerifies(self, *argv):
        status, out = run_main(*argv)
        self.assertEqual(status, 0, out)
        return out

    def assertFails(self, expected_prefix, *argv):
        status, out = run_main(*argv)
        self.assertEqual(status, 1, out)
        self.assertEqual(len(out.splitlines()), 1, out)
        self.assertTrue(out.startswith(expected_prefix), out)
        return out


# ---------------------------------------------------------------------------------------

class TreeTest(unittest.TestCase):
    def test_root_matches_recursive_definition(self):
        lines = [f"line {i}".encode() for i in range(70)]
        for n in range(len(lines) + 1):
            tree = tally_verify.MerkleRoot()
            for line in lines[:n]:
                tree.add(tally_verify.leaf_hash(line))
            self.assertEqual(tree.root(), mth(lines[:n]), n)

    def test_rfc6962_known_roots(self):
        # The leaves and roots of the certificate-transparency test vectors.
        inputs = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                  "606162636465666768696a6b6c6d6e6f"]
        roots = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                 "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                 "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
                 "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                 "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
                 "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
                 "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
                 "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
        tree = tally_verify.MerkleRoot()
        for data, root in zip(inputs, roots):
            tree.add(tally_verify.leaf_hash(bytes.fromhex(data)))
            self.assertEqual(tree.root().hex(), root)

    def test_inclusion_proofs_verify_and_bind_index(self):
        lines = [f"e{i}".encode() for i in range(20)]
        for n in range(1, len(lines) + 1):
            root = mth(lines[:n])
            for m in range(n):
                leaf = tally_verify.leaf_hash(lines[m])
                proof = inclusion_path(m, lines[:n])
                self.assertTrue(tally_verify.verify_inclusion(leaf, m, n, proof, root))
                if n > 1:
                    other = (m + 1) % n
                    self.assertFalse(tally_verify.verify_inclusion(leaf, other, n, proof,
                                                                   root))
                self.assertFalse(tally_verify.verify_inclusion(leaf, m, n, proof + [root],
                                                               root))
                self.assertFalse(tally_verify.verify_inclusion(leaf, n, n, proof, root))


class CanonicalTest(unittest.TestCase):
    def parse(self, text):
        return tally_verify.parse_canonical(text.encode("utf-8"))

    def test_canonical_lines(self):
        self.assertEqual(self.parse('{"a":"é\\n\\u001f/","b":-3}'),
                         {"a": "é\n\x1f/", "b": -3})

    def test_refused_lines(self):
        for text in ['{"a":1,"a":2}', '{"a": 1}', '{"a":1.0}', '{"a":1e3}', '{"a":-0}',
                     '{"a":"\\u00e9"}', '{"a":"\\/"}', '{"a":"\\u001F"}', '{"a":NaN}',
                     '{"a":"\\ud800"}', ' {"a":1}', '{"a":1}\r']:
            with self.assertRaises(tally_verify.Invalid, msg=text):
                self.parse(text)

    def test_members_in_order(self):
        event = vote("a", "v1", DAY1, device="d", ua="x", ts=1, request_id="r")
        tally_verify.check_public_form(event)
        reordered = dict(reversed(list(event.items())))
        with self.assertRaises(tally_verify.Invalid):
            tally_verify.check_public_form(reordered)
        for bad in ({**event, "extra": 1}, {k: v for k, v in event.items() if k != "flags"},
                    {**event, "flags": ["bot_ua", "ip_flood"]}, {**event, "flags": ["bit3"]},
                    {**event, "ua": ""}, {**event, "voter": "V" * 32},
                    {**event, "server_ms": True}, {**event, "kind": "ballot"}):
            with self.assertRaises(tally_verify.Invalid, msg=bad):
                tally_verify.check_public_form(bad)
        tally_verify.check_public_form({**event, "flags": ["burst", "bit7", "bit31"]})


class BundleTest(Case):
    def make(self, events=None, **kwargs):
        self.events = base_events() if events is None else events
        return write_bundle(self.bundle, self.key, self.events, **kwargs)

    def resign(self, events, lines=None, **kwargs):
        shutil.rmtree(self.bundle)
        return write_bundle(self.bundle, self.key, events, lines=lines, **kwargs)

    def test_good_bundle_verifies(self):
        lines, cp = self.make()
        out = self.assertVerifies("bundle", self.bundle)
        self.assertEqual(out, f"bundle verifies: 9 events, root {cp['root']}, campaign "
                              f"{CAMPAIGN}\n")

    def test_good_bundle_other_campaign_and_pinned_key(self):
        self.make()
        self.resign(self.events, campaign="other")
        self.assertVerifies("bundle", self.bundle, "--key", self.key.public)
        self.assertFails("FAIL step 1 line 0:", "bundle", self.bundle, "--key",
                         self.other_key.public)

    def test_results_content(self):
        self.make()
        with open(self.path("results.json")) as f:
            results = json.load(f)
        self.assertEqual(results["total"], 5)
        self.assertEqual(results["suspect"], 2)
        self.assertEqual([(c["id"], c["votes"], c["suspect"], c["rank"])
                          for c in results["candidates"]],
                         [("a", 3, 1, 1), ("b", 1, 0, 2), ("c", 1, 1, 2)])

    def test_changed_tag(self):
        lines, _ = self.make()
        lines[2] = lines[2].replace(tag("v1").encode(), tag("v9").encode())
        self.write_lines(lines)
        self.assertFails("FAIL step 3 line 0:", "bundle", self.bundle)

    def test_dropped_line(self):
        lines, _ = self.make()
        del lines[3]
        self.write_lines(lines)
        self.assertFails("FAIL step 2 line 9:", "bundle", self.bundle)

    def test_swapped_lines(self):
        lines, _ = self.make()
        lines[2], lines[3] = lines[3], lines[2]
        self.write_lines(lines)
        self.assertFails("FAIL step 3 line 0:", "bundle", self.bundle)

    def test_added_line(self):
        lines, _ = self.make()
        self.write_lines(lines + [canon(vote("b", "v5", DAY2))])
        self.assertFails("FAIL step 2 line 10:", "bundle", self.bundle)

    def test_missing_final_newline(self):
        lines, _ = self.make()
        with open(self.path("log.ndjson"), "ab") as f:
            f.truncate(f.tell() - 1)
        self.assertFails("FAIL step 2 line 9:", "bundle", self.bundle)

    def test_changed_vote_count_in_results(self):
        self.make()
        results = reference_results(self.events, CAMPAIGN, 9)
        results["candidates"][1]["votes"] += 1
        with open(self.path("results.json"), "wb") as f:
            f.write(canon(results))
        self.assertFails("FAIL step 5 line 0:", "bundle", self.bundle)

    def test_results_order_total_and_as_of_seq(self):
        self.make()
        good = reference_results(self.events, CAMPAIGN, 9)
        swapped = json.loads(json.dumps(good))
        swapped["candidates"][1], swapped["candidates"][2] = (swapped["candidates"][2],
                                                              swapped["candidates"][1])
        for bad in ({**good, "total": 6}, {**good, "as_of_seq": 8}, {**good, "suspect": 1},
                    swapped, {**good, "candidates": good["candidates"][:2]},
                    {**good, "campaign": "nope"}):
            with open(self.path("results.json"), "wb") as f:
                f.write(canon(bad))
            self.assertFails("FAIL step 5 line 0:", "bundle", self.bundle)

    def write_csv(self, data):
        with open(self.path("results.csv"), "wb") as f:
            f.write(data)

    def test_results_csv_bytes(self):
        self.make()
        with open(self.path("results.csv"), "rb") as f:
            good = f.read()
        self.assertEqual(good, b"rank,candidate,name,unit,industry,votes,suspect,void,valid,"
                               b"disqualified\n"
                               b"1,a,Alice,Unit 1,,3,1,0,3,\n"
                               b"2,b,Bob,,energy,1,0,0,1,\n"
                               b"2,c,Carol,,,1,1,0,1,\n")
        self.assertVerifies("bundle", self.bundle)
        for bad in (good.replace(b"1,a,Alice,Unit 1,,3,1,0,3,", b"1,a,Alice,Unit 1,,4,1,0,4,"),
                    b"\xef\xbb\xbf" + good,                      # byte order mark
                    good.replace(b"\n", b"\r\n"),                 # CRLF
                    good[:-1],                                     # no final newline
                    good + b"\n",                                  # an empty line more
                    good.replace(b"Unit 1", b'"Unit 1"'),          # quoted for nothing
                    good.replace(b"2,c,Carol,,,1,1,0,1,\n", b""),  # a candidate left out
                    good.replace(b"2,b,Bob,,energy,1,0,0,1,\n2,c,Carol,,,1,1,0,1,\n",
                                 b"2,c,Carol,,,1,1,0,1,\n2,b,Bob,,energy,1,0,0,1,\n"),  # order
                    good.replace(b"disqualified\n", b"disqualified,\n"),
                    good.replace(b",0,3,\n", b",0,3,no\n"),         # "no" for not disqualified
                    good.replace(b"suspect,void,valid,disqualified\n", b"suspect\n"),  # v1
                    b""):
            self.write_csv(bad)
            self.assertFails("FAIL step 5 line 0: results.csv", "bundle", self.bundle)
        # results.csv is optional; results.json is checked first.
        os.remove(self.path("results.csv"))
        self.assertVerifies("bundle", self.bundle)

    def test_results_csv_quoting_and_latest_version(self):
        first = [{"id": "a", "name": "Old, name", "unit": "old", "industry": ""},
                 {"id": "b", "name": "Bob", "unit": "", "industry": ""}]
        latest = [{"id": "a", "name": 'Ann "Annie", Jr.', "unit": "Unit\r\n2",
                   "industry": "coal; steel"},
                  {"id": "b", "name": "鲍勃", "unit": "", "industry": 'say "hi"'}]
        events = [campaign_event(candidates=first), campaign_event(candidates=latest),
                  vote("a", "v1", DAY1), vote("b", "v2", DAY1)]
        self.make(events)
        with open(self.path("results.csv"), "rb") as f:
            good = f.read()
        self.assertEqual(good.decode("utf-8"),
                         "rank,candidate,name,unit,industry,votes,suspect,void,valid,"
                         "disqualified\n"
                         '1,a,"Ann ""Annie"", Jr.","Unit\r\n2",coal; steel,1,0,0,1,\n'
                         '1,b,鲍勃,,"say ""hi""",1,0,0,1,\n')
        self.assertVerifies("bundle", self.bundle)
        self.write_csv(good.replace(b"Unit\r\n2", b"old"))
        self.assertFails("FAIL step 5 line 0: results.csv", "bundle", self.bundle)
        self.write_csv(good.replace('"say ""hi"""'.encode(), b'"say \\"hi\\""'))
        self.assertFails("FAIL step 5 line 0: results.csv", "bundle", self.bundle)

    def test_hex_is_lowercase_only(self):
        lines, cp = self.make()
        for name in ("log_id", "root", "signature"):
            upper = dict(cp, **{name: cp[name].upper()})
            with open(self.path("checkpoint.json"), "w") as f:
                json.dump(upper, f)
            self.assertFails("FAIL step 1 line 0:", "bundle", self.bundle)
        # A tag in capitals is not a tag (step 2), even signed.
        events = base_events()
        line = canon(events[1]).replace(tag("v1").encode(), tag("v1").upper().encode())
        self.resign(events, lines=[canon(e) for e in events[:1]] + [line] +
                    [canon(e) for e in events[2:]])
        self.assertFails("FAIL step 2 line 2:", "bundle", self.bundle)

    def test_private_key_as_log_key(self):
        self.make()
        with open(self.key.private, "rb") as f:
            private = f.read()
        with open(self.key.public, "rb") as f:
            public = f.read()
        # The private key alone, or beside the public key (openssl would read the latter).
        for data in (private, private + public, public + private):
            with open(self.path("log-key.pem"), "wb") as f:
                f.write(data)
            self.assertFails("FAIL step 1 line 0:", "bundle", self.bundle)
        with open(self.path("log-key.pem"), "wb") as f:
            f.write(public)
        self.assertVerifies("bundle", self.bundle, "--key", self.key.public)
        # A private key given as the expected key is no public key either.
        self.assertFails("FAIL step 1 line 0: the key given with --key", "bundle",
                         self.bundle, "--key", self.key.private)

    def test_forged_checkpoint_root(self):
        self.make()
        with open(self.path("checkpoint.json")) as f:
            cp = json.load(f)
        cp["root"] = mth([b"x"]).hex()
        with open(self.path("checkpoint.json"), "w") as f:
            json.dump(cp, f)
        self.assertFails("FAIL step 1 line 0:", "bundle", self.bundle)

    def test_checkpoint_signed_by_another_key(self):
        lines, cp = self.make()
        for log_id in (self.key.log_id, self.other_key.log_id):
            forged = checkpoint(self.other_key, cp["size"], cp["root"], log_id=log_id)
            with open(self.path("checkpoint.json"), "w") as f:
                json.dump(forged, f)
            self.assertFails("FAIL step 1 line 0:", "bundle", self.bundle)

    def test_not_an_ed25519_key(self):
        self.make()
        shutil.copy(self.key.private, self.path("log-key.pem"))
        self.assertFails("FAIL step 1 line 0:", "bundle", self.bundle)

    def test_extra_space(self):
        self.make()
        lines = [canon(e) for e in self.events]
        lines[2] = lines[2].replace(b'"candidate":', b'"candidate": ')
        self.resign(self.events, lines=lines)  # the root is right: only step 2 sees it
        self.assertFails("FAIL step 2 line 3:", "bundle", self.bundle)

    def test_duplicate_member(self):
        lines, _ = self.make()
        lines[2] = lines[2].replace(b'"candidate":"b",', b'"candidate":"b","candidate":"a",')
        self.write_lines(lines)
        self.assertFails("FAIL step 2 line 3:", "bundle", self.bundle)

    def test_member_order_and_float(self):
        self.make()
        event = self.events[1]
        reordered = {"kind": "vote", "candidate": event["candidate"],
                     "campaign": event["campaign"]}
        reordered.update({k: v for k, v in event.items() if k not in reordered})
        for line in (canon(reordered), canon(event).replace(b'"period":', b'"period":1.5,'
                                                                         b'"x":')):
            lines = [canon(e) for e in self.events]
            lines[1] = line
            self.resign(self.events, lines=lines)
            self.assertFails("FAIL step 2 line 2:", "bundle", self.bundle)

    def test_duplicate_vote_resigned(self):
        self.make()
        events = self.events + [vote("b", "v1", DAY1 + 5000)]
        self.resign(events)
        self.assertFails("FAIL step 4 line 10:", "bundle", self.bundle)

    def test_too_many_candidates_resigned(self):
        self.make()
        events = self.events + [vote("c", "v1", DAY1 + 5000)]
        self.resign(events)
        self.assertFails("FAIL step 4 line 10:", "bundle", self.bundle)

    def test_vote_outside_window_resigned(self):
        self.make()
        closes = ms_of(CLOSES)
        for server_ms in (ms_of(OPENS) - 1, closes):
            events = self.events + [vote("b", "v7", server_ms)]
            self.resign(events)
            self.assertFails("FAIL step 4 line 10:", "bundle", self.bundle)
        self.resign(self.events + [vote("b", "v7", closes - 1), vote("b", "v8", ms_of(OPENS))])
        self.assertVerifies("bundle", self.bundle)

    def test_wrong_period_unknown_candidate_unknown_campaign(self):
        self.make()
        for extra in (vote("b", "v7", DAY1, period=period_of(DAY1) + 1),
                      vote("z", "v7", DAY1), vote("a", "v7", DAY1, campaign="ghost")):
            self.resign(self.events + [extra])
            self.assertFails("FAIL step 4 line 10:", "bundle", self.bundle)

    def test_request_id_repeat(self):
        self.make()
        self.resign(self.events + [vote("c", "v8", DAY2 + 5000, request_id="r1")])
        self.assertFails("FAIL step 4 line 10:", "bundle", self.bundle)

    def request_id_pair(self, first_ms, second_ms, **kwargs):
        """A bundle of two votes (other voters, candidates) with one request id."""
        events = [campaign_event(**kwargs),
                  vote("a", "v1", first_ms, request_id="r1"),
                  vote("b", "v2", second_ms, request_id="r1")]
        self.make(events)

    def test_request_id_by_utc_day(self):
        # UTC days, not hours: the test window is 2024-04-30T16:00Z .. 2024-05-03T16:00Z.
        midnight = ms_of("2024-05-01T00:00:00+00:00")
        for first, second in ((midnight, midnight + DAY_MS - 1),          # same day
                              (midnight + DAY_MS - 1, midnight + DAY_MS),  # 1 ms, next day
                              (midnight, midnight + 2 * DAY_MS + 15 * HOUR_MS),  # 2 days, 63 h
                              (midnight - 1, midnight + 2 * DAY_MS - 1)):  # 48 h, 2 days
            self.request_id_pair(first, second)
            self.assertFails("FAIL step 4 line 3: request_id", "bundle", self.bundle)
            shutil.rmtree(self.bundle)
        for first, second in ((midnight - 1, midnight + 2 * DAY_MS),      # 48 h + 1 ms, 3 days
                              (midnight - 60_000, midnight + 2 * DAY_MS + 60_000),
                              # An earlier vote of a later day does not hold the request id.
                              (midnight + DAY_MS, midnight)):
            self.request_id_pair(first, second)
            self.assertVerifies("bundle", self.bundle)
            shutil.rmtree(self.bundle)

    def test_request_id_day_is_utc_not_local(self):
        # 2024-05-01 23:00 and 2024-05-04 01:00 at +08:00: local days 3 apart, UTC days 2.
        closes = "2024-05-05T00:00:00+08:00"
        first = ms_of("2024-05-01T23:00:00+08:00")
        second = ms_of("2024-05-04T01:00:00+08:00")
        self.assertEqual(second // DAY_MS - first // DAY_MS, 2)
        self.request_id_pair(first, second, closes=closes)
        self.assertFails("FAIL step 4 line 3: request_id", "bundle", self.bundle)

    def test_request_id_of_another_campaign(self):
        events = base_events() + [vote("a", "v2", DAY1, campaign="other", request_id="r1")]
        self.make(events)
        self.assertVerifies("bundle", self.bundle)

    def test_campaign_period_and_new_version(self):
        rules = {"period": "campaign", "max_votes_per_candidate": 2, "max_candidates": 1}
        fraud = {"window_s": 600, "ip_lookalike_votes": 50, "subnet_lookalike_votes": 150,
                 "regular_votes": 30, "device_max_voters": 5, "burst_factor": 10,
                 "burst_min_per_minute": 120, "baseline_minutes": 20, "reject": ["bot_ua"]}
        events = [campaign_event(rules=rules),
                  vote("a", "v1", DAY1, period=0), vote("a", "v1", DAY2, period=0),
                  campaign_event(rules=rules, fraud=fraud),  # thresholds only: allowed
                  vote("b", "v2", DAY2, period=0)]
        self.make(events)
        self.assertVerifies("bundle", self.bundle)
        self.resign(events + [vote("a", "v1", DAY2 + 1, period=0)])
        self.assertFails("FAIL step 4 line 6:", "bundle", self.bundle)

    def test_version_changing_rules_after_votes(self):
        self.make()
        changed = {"period": "day", "max_votes_per_candidate": 5, "max_candidates": 2}
        self.resign(self.events + [campaign_event(rules=changed)])
        self.assertFails("FAIL step 4 line 10:", "bundle", self.bundle)
        fewer = definition()["candidates"][:2]
        self.resign(self.events + [campaign_event(candidates=fewer)])
        self.assertFails("FAIL step 4 line 10:", "bundle", self.bundle)
        # Before any vote a new version may change everything.
        self.resign([campaign_event(), campaign_event(rules=changed, candidates=fewer),
                     vote("a", "v1", DAY1)])
        self.assertVerifies("bundle", self.bundle)

    def test_version_changing_utc_offset_after_votes(self):
        moved = definition(utc_offset="+09:00", opens="2024-05-01T01:00:00+09:00",
                           closes="2024-05-04T01:00:00+09:00")
        self.assertEqual(tally_verify.rfc3339_ms(moved["opens_at"]), ms_of(OPENS))
        self.make(base_events() + [{"kind": "campaign", "campaign": moved}])
        self.assertFails("FAIL step 4 line 10: campaign c2024: version changes utc_offset",
                         "bundle", self.bundle)
        # Before any vote it may change; the period then follows the new offset.
        shutil.rmtree(self.bundle)
        first = DAY1 + 23 * HOUR_MS - 1  # 23:59:59.999 at +08:00, the next day at +09:00
        self.make([campaign_event(), {"kind": "campaign", "campaign": moved},
                   vote("a", "v1", first, period=(first + 9 * HOUR_MS) // DAY_MS)])
        self.assertVerifies("bundle", self.bundle)
        self.resign([campaign_event(), {"kind": "campaign", "campaign": moved},
                     vote("a", "v1", first)])
        self.assertFails("FAIL step 4 line 3: vote period", "bundle", self.bundle)

    def test_fraud_present_only_when_not_the_defaults(self):
        one_off = dict(FRAUD_DEFAULTS, burst_factor=11)
        rejecting = dict(FRAUD_DEFAULTS, reject=["ip_flood", "bot_ua"])
        for fraud in (one_off, rejecting):
            self.make([campaign_event(fraud=fraud), vote("a", "v1", DAY1)])
            self.assertVerifies("bundle", self.bundle)
            shutil.rmtree(self.bundle)
        for fraud in (dict(FRAUD_DEFAULTS),                              # the defaults
                      dict(FRAUD_DEFAULTS, reject=["bot_ua", "ip_flood"]),  # bit order
                      dict(FRAUD_DEFAULTS, reject=["burst", "burst"]),      # once each
                      dict(FRAUD_DEFAULTS, reject=["flood"]),
                      dict(FRAUD_DEFAULTS, reject=["bit7"]),
                      {k: v for k, v in one_off.items() if k != "reject"}):  # all present
            self.make([campaign_event(fraud=fraud), vote("a", "v1", DAY1)])
            self.assertFails("FAIL step 2 line 1: campaign", "bundle", self.bundle)
            shutil.rmtree(self.bundle)

    def test_expected_voters_present_only_when_not_zero(self):
        self.make([campaign_event(expected_voters=5000), vote("a", "v1", DAY1)])
        self.assertVerifies("bundle", self.bundle)
        self.resign([campaign_event(expected_voters=0), vote("a", "v1", DAY1)])
        self.assertFails('FAIL step 2 line 1: campaign: "expected_voters"', "bundle",
                         self.bundle)
        # Its place is after the candidates, before "fraud".
        d = definition(expected_voters=5000, fraud=dict(FRAUD_DEFAULTS, window_s=60))
        self.resign([{"kind": "campaign", "campaign": d}])
        self.assertVerifies("bundle", self.bundle)
        moved = {k: v for k, v in d.items() if k != "expected_voters"}
        moved["expected_voters"] = 5000
        self.resign([{"kind": "campaign", "campaign": moved}])
        self.assertFails("FAIL step 2 line 1: campaign: members out of order", "bundle",
                         self.bundle)

    def test_bad_campaign_definition(self):
        self.make()
        for bad in (definition(opens="2024-05-01T00:00:00.000+08:00"),
                    definition(opens="2024-05-01T00:00:00Z"),
                    definition(rules={"period": "week", "max_votes_per_candidate": 1,
                                      "max_candidates": 1}),
                    definition(utc_offset="+08:60", opens="2024-05-01T00:00:00+08:60",
                               closes="2024-05-04T00:00:00+08:60"),
                    definition(candidates=[
                        {"id": "a", "name": "Alice", "unit": "", "industry": ""},
                        {"id": "a", "name": "Ann", "unit": "", "industry": ""}])):
            self.resign([{"kind": "campaign", "campaign": bad}])
            self.assertFails("FAIL step 2 line 1:", "bundle", self.bundle)

    def test_rule_failure_reported_after_form_and_root(self):
        # A later form error comes first (step 2) even after an earlier rule failure.
        self.make()
        events = self.events + [vote("b", "v1", DAY1 + 5000)]
        lines = [canon(e) for e in events] + [b'{"kind":"vote"}']
        self.resign(events + [{}], lines=lines)
        self.assertFails("FAIL step 2 line 11:", "bundle", self.bundle)

    # ---- flags and decisions (EVENT_FORMAT.md "Public form", steps 2, 4 and 5) ----

    def adjudicated_events(self):
        """The base events (9 lines), then a late flag of v1's device on seqs 2, 3 and 6, a
        void of seq 4, c disqualified, and a second reason for seq 4."""
        return base_events() + [
            flag_event([2, 3, 6]),
            decision_event("void", seqs=[4]),
            decision_event("disqualify", candidate="c", server_ms=DAY2 + 7000),
            flag_event([4], reason="ip_flood", scope="ip", key="5.6.7.8",
                       server_ms=DAY2 + 8000),
        ]

    def test_flags_and_decisions_are_counted(self):
        self.make(self.adjudicated_events())
        self.assertVerifies("bundle", self.bundle)
        with open(self.path("results.json")) as f:
            results = json.load(f)
        self.assertEqual((results["total"], results["suspect"], results["void"],
                          results["valid"]), (5, 5, 1, 4))
        self.assertEqual([(c["id"], c["votes"], c["suspect"], c["void"], c["valid"], c["rank"],
                           c["disqualified"]) for c in results["candidates"]],
                         [("a", 3, 3, 1, 2, 1, False), ("b", 1, 1, 0, 1, 2, False),
                          ("c", 1, 1, 0, 1, 0, True)])
        with open(self.path("results.csv"), "rb") as f:
            self.assertEqual(f.read(), b"rank,candidate,name,unit,industry,votes,suspect,void,"
                                       b"valid,disqualified\n"
                                       b"1,a,Alice,Unit 1,,3,3,1,2,\n"
                                       b"2,b,Bob,,energy,1,1,0,1,\n"
                                       b",c,Carol,,,1,1,0,1,yes\n")
        # The recount is checked member by member: void, valid and disqualified too.
        good = reference_results(self.events, CAMPAIGN, 13)
        rows = good["candidates"]
        for bad in ({**good, "void": 0}, {**good, "valid": 5},
                    {**good, "candidates": [{**rows[0], "void": 0, "valid": 3}] + rows[1:]},
                    {**good, "candidates": rows[:2] + [{**rows[2], "disqualified": False}]},
                    {**good, "candidates": rows[:2] + [{**rows[2], "rank": 2}]},
                    {k: v for k, v in good.items() if k != "void"}):
            with open(self.path("results.json"), "wb") as f:
                f.write(canon(bad))
            self.assertFails("FAIL step 5 line 0:", "bundle", self.bundle)

    def test_restore_and_reinstate_undo(self):
        events = self.adjudicated_events() + [
            decision_event("restore", seqs=[4], server_ms=DAY2 + 9000),
            decision_event("reinstate", candidate="c", server_ms=DAY2 + 9500),
            decision_event("void", seqs=[2, 6], scope="device", key="d1",
                           server_ms=DAY2 + 9900)]
        self.make(events)
        self.assertVerifies("bundle", self.bundle)
        with open(self.path("results.json")) as f:
            results = json.load(f)
        self.assertEqual([(c["id"], c["void"], c["valid"], c["rank"], c["disqualified"])
                          for c in results["candidates"]],
                         [("a", 2, 1, 1, False), ("b", 0, 1, 1, False), ("c", 0, 1, 1, False)])

    def test_adjudication_rules_on_tags(self):
        cases = [
            flag_event([5]),                                   # an epoch line
            flag_event([9]),                                   # a vote of another campaign
            flag_event([4], reason="no_device"),               # a reason the vote has
            flag_event([2], campaign="nope"),                  # unknown campaign
            decision_event("restore", seqs=[2]),               # a vote that counts
            decision_event("reinstate", candidate="a"),        # a candidate in the running
            decision_event("disqualify", candidate="z"),       # unknown candidate
        ]
        for bad in cases:
            with self.subTest(bad=bad):
                self.make(base_events() + [bad])
                self.assertFails("FAIL step 4 line 10:", "bundle", self.bundle)
        # The second of two that change the same thing changes nothing.
        for twice in (flag_event([2, 3]), decision_event("void", seqs=[3]),
                      decision_event("disqualify", candidate="b")):
            with self.subTest(twice=twice):
                self.make(base_events() + [twice, twice])
                self.assertFails("FAIL step 4 line 11:", "bundle", self.bundle)

    def test_adjudication_form(self):
        flag, void = flag_event([2, 3]), decision_event("void", seqs=[3])
        disqualify = decision_event("disqualify", candidate="b")
        cases = [
            {**flag, "seqs": [2, 10]},                         # not before it
            {**flag, "seqs": [3, 2]},                          # not ascending
            {**flag, "seqs": [2, 2]},
            {**flag, "seqs": []},
            {**flag, "seqs": [0, 2]},
            {**flag, "seqs": ["2"]},
            {**flag, "reason": "bit3"},                        # bitN only for unnamed bits
            {**flag, "reason": "bit32"},
            {**flag, "scope": "none"},
            {**flag, "key": "1.2.3.4"},                        # not a tag
            {**flag, "campaign": ""},
            {k: v for k, v in flag.items() if k != "scope"},
            {**flag, "extra": 1},
            {**void, "action": "annul"},
            {**void, "author": ""},
            {**void, "author": "委" * 86},                     # 258 bytes
            {**void, "reason": "x" * 2049},
            {**void, "candidate": "a"},                        # void names votes only
            {k: v for k, v in void.items() if k != "seqs"},
            {**void, "seqs": []},
            {**void, "scope": "device"},                       # a scope without its key
            {**void, "scope": "none", "key": tag("d1")},
            {k: v for k, v in disqualify.items() if k != "candidate"},
            {**disqualify, "seqs": [3]},
            {**disqualify, "scope": "device", "key": tag("d1")},
            {**disqualify, "candidate": ""},
            dict(reversed(list(void.items()))),                # members out of order
        ]
        for bad in cases:
            with self.subTest(bad=bad):
                self.make(base_events() + [bad], results={"campaign": CAMPAIGN}, csv=False)
                self.assertFails("FAIL step 2 line 10:", "bundle", self.bundle)
        # At the limits.
        self.make(base_events() + [{**void, "author": "委" * 85, "reason": "x" * 2048},
                                   flag_event([2], reason="bit5")])
        self.assertVerifies("bundle", self.bundle)


class CommandLineTest(Case):
    def run_script(self, *args):
        return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True,
                              text=True)

    def test_exit_codes(self):
        write_bundle(self.bundle, self.key, base_events())
        done = self.run_script("bundle", self.bundle)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertTrue(done.stdout.startswith("bundle verifies: 9 events"))
        with open(self.path("results.json"), "w") as f:
            f.write("{}")
        done = self.run_script("bundle", self.bundle)
        self.assertEqual(done.returncode, 1)
        self.assertTrue(done.stdout.startswith("FAIL step 5 line 0:"), done.stdout)
        for args in ([], ["bundle"], ["bundle", os.path.join(self.tmp, "none")],
                     ["receipt", self.path("results.json")], ["frobnicate"]):
            self.assertEqual(self.run_script(*args).returncode, 2, args)


class ReceiptTest(Case):
    def setUp(self):
        super().setUp()
        self.events = base_events()
        self.lines, self.cp = write_bundle(self.bundle, self.key, self.events)
        self.receipt_path = os.path.join(self.tmp, "receipt.json")

    def receipt(self, seq, lines=None, cp=None):
        lines = self.lines if lines is None else lines
        return {"seq": seq, "leaf": sha(b"\x00" + lines[seq - 1]).hex(),
                "event": json.loads(lines[seq - 1]),
                "proof": {"size": len(lines),
                          "hashes": [h.hex() for h in inclusion_path(seq - 1, lines)]},
                "checkpoint": cp or self.cp}

    def write(self, receipt):
        with open(self.receipt_path, "wb") as f:
            f.write(canon(receipt))

    def verify(self, key=None, bundle=False):
        argv = ["receipt", self.receipt_path, "--key", key or self.key.public]
        return argv + (["--bundle", self.bundle] if bundle else [])

    def test_good_receipts(self):
        for seq in range(1, len(self.lines) + 1):
            self.write(self.receipt(seq))
            out = self.assertVerifies(*self.verify())
            self.assertTrue(out.startswith(f"receipt verifies: seq {seq}, "), out)
            self.assertVerifies(*self.verify(bundle=True))

    def test_changed_event(self):
        receipt = self.receipt(3)
        receipt["event"]["candidate"] = "a"
        self.write(receipt)
        self.assertFails("FAIL receipt: leaf", *self.verify())
        receipt["leaf"] = sha(b"\x00" + canon(receipt["event"])).hex()
        self.write(receipt)
        self.assertFails("FAIL receipt: proof", *self.verify())

    def test_changed_proof_hash(self):
        receipt = self.receipt(3)
        receipt["proof"]["hashes"][1] = "0" * 64
        self.write(receipt)
        self.assertFails("FAIL receipt: proof", *self.verify())
        receipt = self.receipt(3)
        receipt["proof"]["hashes"].pop()
        self.write(receipt)
        self.assertFails("FAIL receipt: proof", *self.verify())

    def test_changed_seq(self):
        receipt = self.receipt(3)
        for seq in (4, 2, 10):
            receipt["seq"] = seq
            self.write(receipt)
            self.assertFails("FAIL receipt:", *self.verify())

    def test_hex_is_lowercase_only(self):
        good = self.receipt(3)
        uppers = []
        for name in ("log_id", "root", "signature"):
            receipt = self.receipt(3)
            receipt["checkpoint"] = dict(self.cp, **{name: self.cp[name].upper()})
            uppers.append(receipt)
        receipt = self.receipt(3)
        receipt["leaf"] = receipt["leaf"].upper()
        uppers.append(receipt)
        receipt = self.receipt(3)
        receipt["proof"]["hashes"][0] = receipt["proof"]["hashes"][0].upper()
        uppers.append(receipt)
        for receipt in uppers:
            self.assertNotEqual(receipt, good)
            self.write(receipt)
            self.assertFails("FAIL receipt:", *self.verify())
        self.write(good)
        self.assertVerifies(*self.verify())

    def test_bundle_checkpoint_in_capitals(self):
        self.write(self.receipt(3))
        with open(self.path("checkpoint.json")) as f:
            cp = json.load(f)
        cp["root"] = cp["root"].upper()
        with open(self.path("checkpoint.json"), "w") as f:
            json.dump(cp, f)
        self.assertFails("FAIL receipt: bundle checkpoint", *self.verify(bundle=True))

    def test_changed_proof_size(self):
        receipt = self.receipt(3)
        receipt["proof"]["size"] = 8
        self.write(receipt)
        self.assertFails("FAIL receipt: proof size", *self.verify())

    def test_another_key(self):
        self.write(self.receipt(3))
        self.assertFails("FAIL receipt: checkpoint log_id", *self.verify(self.other_key.public))
        receipt = self.receipt(3)
        receipt["checkpoint"] = checkpoint(self.other_key, self.cp["size"], self.cp["root"],
                                           log_id=self.key.log_id)
        self.write(receipt)
        self.assertFails("FAIL receipt: checkpoint signature", *self.verify())

    def test_receipt_from_an_earlier_checkpoint(self):
        # The bundle extends the receipt's tree: the first 6 lines have the receipt's root.
        early = self.lines[:6]
        early_cp = checkpoint(self.key, 6, mth(early).hex())
        self.write(self.receipt(4, lines=early, cp=early_cp))
        self.assertVerifies(*self.verify())
        self.assertVerifies(*self.verify(bundle=True))

    def test_bundle_without_the_event(self):
        # A bundle signed by the same key whose line at seq is another event.
        self.write(self.receipt(3))
        events = list(self.events)
        events[2] = vote("c", "v1", DAY1 + 1000)
        shutil.rmtree(self.bundle)
        write_bundle(self.bundle, self.key, events)
        self.assertVerifies(*self.verify())
        self.assertFails("FAIL receipt:", *self.verify(bundle=True))

    def test_bundle_that_does_not_extend_the_receipt(self):
        early = self.lines[:6]
        early[4] = canon(epoch_event(1))
        early_cp = checkpoint(self.key, 6, mth(early).hex())
        self.write(self.receipt(4, lines=early, cp=early_cp))
        self.assertVerifies(*self.verify())
        self.assertFails("FAIL receipt: bundle checkpoint does not extend", *self.verify(
            bundle=True))


if __name__ == "__main__":
    unittest.main()
