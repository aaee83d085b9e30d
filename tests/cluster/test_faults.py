"""What a replica group does with a record that does not continue its log (DESIGN.md "Bad input
and faults"): every node that meets it stops applying, raises an alarm and keeps serving the
prefix it applied, never a wrong tally; nobody accepts a ballot after it."""
import json
import os
import re
import signal
import time
import unittest

from harness import CAMPAIGN_ID, ClusterCase, World, spawn, wait_until

BUILD_DIR = os.environ.get("TALLY_BUILD_DIR", "build")


class StandaloneLogTest(unittest.TestCase):
    def test_a_data_dir_written_alone_does_not_join(self):
        world = World(BUILD_DIR)
        self.addCleanup(world.close)
        lone = world.nodes[0]
        # The data dir gets a log of its own: tallyd alone, with the campaign, then stopped. It
        # has the group's log keys (with others it would not even start: the log records the
        # keys its tree was made with), so what keeps it out is the log itself.
        process = spawn([world.bin("tallyd"), "--data-dir", lone.data_dir, "--listen",
                         f"127.0.0.1:{lone.port}", "--tokens", world.tokens, "--log-keys",
                         world.log_keys, "--campaign", world.campaign], lone.log)
        wait_until("tallyd alone", lambda: lone.get("/readyz")[0] == 200, 20)
        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(timeout=30), 0)
        world.nats.start()
        for node in world.nodes:
            node.start()
        other = world.nodes[1]
        wait_until("the node with an empty data dir to be primary", lambda: other.role() == "primary", 30)
        wait_until("the node with a log of its own to halt", lambda: lone.role() == "halted", 30)
        alarm = lone.cluster()["alarm"]
        print(f"alarm: {alarm}")
        self.assertTrue(alarm)
        world.passed = True


class FaultTest(ClusterCase):
    def test_a_foreign_record_in_the_stream_halts_apply(self):
        self.voters.start()
        time.sleep(3)
        # Somebody with access to NATS publishes into the shard's stream: bytes that are no
        # record of this log. The standby meets it when it applies; the primary when its next
        # publish finds the stream moved on without it.
        self.world.nats.publish_raw("tally.s0.log", b"not a record of this log")
        for node in self.world.nodes:
            wait_until(f"{node.name} to halt", lambda n=node: n.role() == "halted", 30)
        time.sleep(1)
        self.voters.stop()
        states = {n.name: n.cluster() for n in self.world.nodes}
        tallies = {n.name: json.loads(n.get(f"/v1/campaigns/{CAMPAIGN_ID}/tally")[1])
                   for n in self.world.nodes}
        for name, state in states.items():
            self.assertIn("stream seq", state["alarm"], state)
            self.assertEqual(state["role"], "halted")
        for node in self.world.nodes:
            self.assertNotEqual(node.get("/readyz")[0], 200, f"{node.name} ready while halted")
        self.assertEqual(len({t["total"] for t in tallies.values()}), 1, tallies)
        # Nothing was accepted after the foreign record: each node still serves the log it
        # has, which is the stream's prefix, and the checker holds it to every answer.
        counts = self.world.check(self.voters, min_epochs=1, stream_prefix=True,
                                  live_tally=next(iter(tallies.values())))
        self.assertGreater(counts["accepted"], 0)
        print(f"alarms: {[s['alarm'] for s in states.values()]}")
        self.world.passed = True

    def test_the_alert_rules_query_what_the_nodes_expose(self):
        # deploy/prometheus/rules.yml's replica-group series, against both roles' /metrics.
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "prometheus",
                               "rules.yml")) as f:
            rules = f.read()
        wanted = set(re.findall(r"\btally_cluster_[a-z0-9_]+", rules))
        self.assertGreaterEqual(len(wanted), 4)
        self.voters.start()
        time.sleep(1)
        for node in self.world.nodes:
            text = node.get("/metrics")[1]
            exposed = set()
            for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
                exposed.add(family)
                if kind == "histogram":
                    exposed.update(family + suffix for suffix in ("_bucket", "_sum", "_count"))
            self.assertEqual(wanted - exposed, set(), f"{node.name} ({node.role()}) lacks them")
            role = re.search(r'^tally_cluster_role\{role="(\w+)"\} 1$', text, re.MULTILINE)
            self.assertIsNotNone(role, text)
            self.assertEqual(role.group(1), node.role())
        primary = self.world.primary()
        text = primary.get("/metrics")[1]
        count = re.search(r"^tally_cluster_publish_seconds_count (\d+)", text, re.MULTILINE)
        self.assertGreater(int(count.group(1)), 0, "the primary published no record")
        self.voters.stop()
        self.world.converge()
        self.world.check(self.voters, min_epochs=1)
        self.world.passed = True

    def test_campaign_versions_go_through_the_log(self):
        primary = self.world.wait_primary()
        standby = next(n for n in self.world.nodes if n is not primary)
        with open(self.world.campaign) as f:
            campaign = json.load(f)
        campaign["title"] = "HA test, renamed"
        status = self.world.put_campaign(primary, campaign)
        self.assertIn(status, (200, 201))
        wait_until("the standby to have the new version",
                   lambda: json.loads(standby.get(f"/v1/campaigns/{CAMPAIGN_ID}")[1]).get("title")
                   == "HA test, renamed", 10)
        self.assertEqual(self.world.put_campaign(standby, campaign), 503)
        self.voters.start()
        time.sleep(2)
        self.voters.stop()
        self.world.converge()
        self.world.check(self.voters, min_epochs=1)
        self.world.passed = True


if __name__ == "__main__":
    unittest.main(verbosity=2)
