"""Failover of a replica group under load, with real processes and kill -9 (DESIGN.md
"Replication and failover"). Each test checks the log against every answer the voters saw
(harness.World.check). Run by ctest (label `cluster`) with TALLY_BUILD_DIR set."""
import json
import os
import time
import unittest
import urllib.request

from harness import ADMIN, CAMPAIGN_ID, ClusterCase, Node, wait_until

# How many times each test kills; the soak run (docs/CLUSTER.md) raises it.
KILLS = int(os.environ.get("TALLY_CLUSTER_KILLS", "3"))
# After a primary's kill -9, ballots are accepted again within this (DESIGN.md).
PRIMARY_TAKEOVER_BOUND_S = 10.0
# After the kill -9 of the NATS server leading the stream (its own election takes 4-9 s).
STREAM_LEADER_BOUND_S = 15.0


class ClusterTest(ClusterCase):
    start_voters = True

    def new_primary(self, killed, timeout=30):
        """Waits for a primary other than `killed`; returns when it was seen."""
        wait_until("a new primary", lambda: (p := self.world.primary()) is not None and p is not killed,
                   timeout)
        return time.monotonic()

    def accepted_since(self, since, count=20, timeout=30):
        wait_until("ballots accepted again",
                   lambda: sum(1 for t in self.voters.accepted_at if t > since) >= count, timeout)

    def decide(self, node, decision):
        """POSTs a committee decision (DESIGN.md "Adjudication") to `node`; its answer."""
        request = urllib.request.Request(
            f"http://{node.host}:{node.port}/v1/campaigns/{CAMPAIGN_ID}/decisions",
            data=json.dumps(decision).encode(), method="POST",
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())

    def decide_on_primary(self):
        """Voids the first three votes and disqualifies a candidate on the primary of the moment:
        decisions are events of the replicated log, so every later primary counts them."""
        primary = self.world.wait_primary()
        seqs = []
        for seq in range(1, 200):
            request = urllib.request.Request(f"http://{primary.host}:{primary.port}/v1/votes/{seq}",
                                             headers={"Authorization": f"Bearer {ADMIN}"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                if json.loads(answer.read())["kind"] == "vote":
                    seqs.append(seq)
            if len(seqs) == 3:
                break
        status, answer = self.decide(primary, {"action": "void", "author": "committee",
                                               "reason": "replicated decision", "seqs": seqs})
        self.assertEqual((status, answer["changed"]), (201, 3), answer)
        status, answer = self.decide(primary, {"action": "disqualify", "author": "committee",
                                               "reason": "replicated decision",
                                               "candidate": "c20"})
        self.assertEqual(status, 201, answer)

    def assert_decisions_counted(self):
        tally = json.loads(self.world.wait_primary().get(f"/v1/campaigns/{CAMPAIGN_ID}/tally")[1])
        self.assertEqual(tally["void"], 3)
        self.assertEqual([c["id"] for c in tally["candidates"] if c["disqualified"]], ["c20"])

    def finish(self, min_epochs):
        self.voters.stop()
        self.world.converge()
        counts = self.world.check(self.voters, min_epochs=min_epochs)
        self.assertGreater(counts["accepted"], 0)
        self.world.passed = True

    def test_primary_killed_repeatedly(self):
        gaps = []
        for _ in range(KILLS):
            time.sleep(2)
            primary = self.world.wait_primary()
            killed_at = time.monotonic()
            primary.kill()
            # Answers to ballots in flight may arrive just after the kill: count from the new
            # primary on.
            self.accepted_since(self.new_primary(primary))
            time.sleep(1)
            gaps.append(self.voters.longest_gap(killed_at, time.monotonic()))
            primary.start()  # comes back as a standby, catching up from its data dir
            if not gaps[1:]:
                self.decide_on_primary()
        print(f"longest gaps in accepted answers after each kill: {[round(g, 2) for g in gaps]} s")
        self.assertLess(max(gaps), PRIMARY_TAKEOVER_BOUND_S)
        self.assert_decisions_counted()  # by a primary that took over after them
        self.finish(min_epochs=KILLS + 1)

    def test_stream_leader_and_follower_killed(self):
        gaps = []
        # A kill makes the primary send a record again only if one was unanswered at that
        # moment: usual, not certain on a loaded machine. Kill again (at most 4 times in all)
        # until one was, so that the resend path is always exercised.
        for kill in range(4):
            if kill >= max(1, KILLS // 2) and self.resends() > 0:
                break
            time.sleep(2)
            leader = self.world.nats.stream_leader()
            self.assertIsNotNone(leader)
            killed_at = time.monotonic()
            leader.kill()
            # Answers to publishes acknowledged just before the kill arrive just after it.
            self.accepted_since(killed_at + 0.5, timeout=60)
            time.sleep(1)
            gaps.append(self.voters.longest_gap(killed_at, time.monotonic()))
            leader.start()
            wait_until("the killed server back", leader.healthy, 20)
            time.sleep(3)
        # A follower's death costs nothing noticeable.
        leader = self.world.nats.stream_leader()
        follower = next(s for s in self.world.nats.servers if s is not leader)
        killed_at = time.monotonic()
        follower.kill()
        time.sleep(3)
        follower_gap = self.voters.longest_gap(killed_at, time.monotonic())
        follower.start()
        wait_until("the killed follower back", follower.healthy, 20)
        time.sleep(2)
        print(f"longest gaps after the stream leader's kills: {[round(g, 2) for g in gaps]} s; "
              f"after a follower's: {follower_gap:.2f} s")
        self.assertLess(max(gaps), STREAM_LEADER_BOUND_S)
        self.assertLess(follower_gap, PRIMARY_TAKEOVER_BOUND_S)
        # The same primary throughout: some records went unanswered in the leaders' kills and
        # were settled by sending them again.
        self.assertGreater(self.resends(), 0)
        self.finish(min_epochs=1)

    def resends(self):
        """Records the nodes sent to the stream again, summed: a slow machine may have moved
        the primary to the other node since the resend (each keeps its own count)."""
        return sum(node.metric("tally_cluster_publish_resends_total") or 0
                   for node in self.world.nodes if node.alive())

    def test_standby_restarted_and_a_node_from_nothing(self):
        primary = self.world.wait_primary()
        standby = next(n for n in self.world.nodes if n is not primary)
        time.sleep(2)
        standby.kill()
        time.sleep(3)  # the primary goes on alone; the stream keeps what the standby missed
        standby.start()
        wait_until("the restarted standby to catch up",
                   lambda: (standby.cluster() or {}).get("lag_records", 1) == 0, 30)
        standby.terminate()  # and a clean stop too
        time.sleep(1)
        standby.start()
        # A third node with an empty data dir catches up from the stream alone.
        fresh = Node(self.world, "c")
        self.world.nodes.append(fresh)
        fresh.start()
        time.sleep(3)
        self.finish(min_epochs=1)

    def test_nats_without_quorum(self):
        time.sleep(2)
        leader = self.world.nats.stream_leader()
        others = [s for s in self.world.nats.servers if s is not leader]
        lost_at = time.monotonic()
        for server in others:
            server.kill()
        # Without a majority nothing can be acknowledged: after what was in flight, no ballot
        # is accepted and the primary stops saying it is ready.
        time.sleep(12)
        settled = lost_at + 4
        late = [t for t in self.voters.accepted_at if t > settled]
        self.assertEqual(late, [], "ballots accepted without a NATS quorum")
        for node in self.world.nodes:
            status, _ = node.get("/readyz")
            self.assertNotEqual(status, 200, f"{node.name} ready without a NATS quorum")
        back_at = time.monotonic()
        for server in others:
            server.start()
        self.accepted_since(back_at, timeout=60)
        time.sleep(2)
        print(f"accepted again {self.voters.accepted_at and min(t for t in self.voters.accepted_at if t > back_at) - back_at:.2f} s after quorum returned")
        self.finish(min_epochs=1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
