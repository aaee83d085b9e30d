"""A replica group on this machine, for the cluster tests: three real nats-servers (store dirs
with chattr +S), tallyd nodes started and killed for real, voters that keep what every ballot
was answered, and the checker that holds the log to those answers.

The checker (in the manner of Jepsen's): every ballot a client saw `accepted` is counted exactly
once; none that saw a refusal is counted; one whose answer was lost is counted at most once;
nothing is counted that no client sent; `tallyctl verify` passes on every data dir; every data
dir equals the stream record for record; the chain runs on across the epochs.
"""
import collections
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

CAMPAIGN_ID = "ha-test"
TOKEN = "ingest-" + "5" * 48
ADMIN = "admin-" + "a" * 48
# Every node's --commit-batch-events: below the voters' ballots in flight.
COMMIT_BATCH_EVENTS = 16


_PORTS_HANDED_OUT = set()


def token_digest(token):
    """A token's entry in tallyd's tokens file, as `tallyctl token hash` prints it."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def free_port():
    """A port nothing listens on, below Linux's ephemeral range (32768-60999): a port the
    kernel hands to some client's connection between this check and its use would make the
    server that wants it fail to start. Never the same twice in one run: nothing listens on a
    port handed out until its server starts, so the check alone would not see it taken (a
    NATS server once got its own peer's monitoring port)."""
    while True:
        port = random.randrange(20000, 32000)
        if port in _PORTS_HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_HANDED_OUT.add(port)
        return port


def http_get(port, path, timeout=1.0, host="127.0.0.1"):
    """(status, body) or (None, None) when the server does not answer."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except Exception:
        return None, None


def spawn(args, log_path):
    with open(log_path, "a") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


def wait_until(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class NatsServer:
    def __init__(self, root, index, ports, listen_host="127.0.0.1"):
        self.index = index
        self.name = f"n{index}"
        self.client_port, self.cluster_port, self.monitor_port = ports[index]
        self.store = os.path.join(root, self.name)
        self.conf = os.path.join(root, f"{self.name}.conf")
        self.log = os.path.join(root, f"{self.name}.log")
        self.process = None
        routes = ", ".join(f"nats-route://127.0.0.1:{p[1]}" for p in ports)
        with open(self.conf, "w") as f:
            f.write(f"server_name: {self.name}\n"
                    f"listen: {listen_host}:{self.client_port}\n"
                    f"http: 127.0.0.1:{self.monitor_port}\n"
                    f'jetstream {{ store_dir: "{self.store}", max_file_store: 4G, max_memory_store: 64M }}\n'
                    f"cluster {{ name: tally-test, listen: 127.0.0.1:{self.cluster_port}, routes: [{routes}] }}\n")
        os.makedirs(self.store, exist_ok=True)
        # Before the first start: an acknowledged record must be on the disks of a majority.
        # (TALLY_NATS_PAGE_CACHE=1 leaves it out, only to measure what it costs.)
        if not os.environ.get("TALLY_NATS_PAGE_CACHE"):
            subprocess.run(["chattr", "+S", self.store], check=True)
            attributes = subprocess.run(["lsattr", "-d", self.store], capture_output=True,
                                        text=True, check=True).stdout.split()[0]
            assert "S" in attributes, f"{self.store}: no synchronous writes ({attributes})"

    def start(self):
        self.process = spawn(["nats-server", "-c", self.conf], self.log)

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def healthy(self):
        status, _ = http_get(self.monitor_port, "/healthz")
        return status == 200

    def jsz(self):
        status, body = http_get(self.monitor_port, "/jsz?accounts=true&streams=true")
        return json.loads(body) if status == 200 else None


class NatsCluster:
    def __init__(self, root, size=3, listen_host="127.0.0.1"):
        ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
        self.servers = [NatsServer(root, i, ports, listen_host) for i in range(size)]

    def urls(self, host="127.0.0.1"):
        return ",".join(f"nats://{host}:{s.client_port}" for s in self.servers)

    def start(self):
        for s in self.servers:
            s.start()
        wait_until("the NATS servers", lambda: all(s.healthy() for s in self.servers), 20)

    def stop(self):
        for s in self.servers:
            s.kill()

    def publish_raw(self, subject, payload):
        """Publishes `payload` on `subject` with the plain NATS protocol, as any client with
        access could: no message id, no expectation. Returns once the server has it."""
        server = next(s for s in self.servers if s.process and s.process.poll() is None)
        with socket.create_connection(("127.0.0.1", server.client_port), timeout=5) as s:
            s.recv(4096)  # INFO
            s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n' +
                      f"PUB {subject} {len(payload)}\r\n".encode() + payload + b"\r\nPING\r\n")
            answer = b""
            while b"PONG" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    raise AssertionError(f"NATS closed the connection: {answer!r}")
                answer += chunk

    def stream_leader(self, stream="TALLY_S0"):
        """The server that leads `stream`, as the live servers report it."""
        for s in self.servers:
            if s.process is None or s.process.poll() is not None:
                continue
            info = s.jsz()
            for account in (info or {}).get("account_details", []):
                for detail in account.get("stream_detail", []):
                    leader = (detail.get("cluster") or {}).get("leader")
                    if detail["name"] == stream and leader:
                        return next(x for x in self.servers if x.name == leader)
        return None


class Node:
    """One tallyd of the replica group."""

    def __init__(self, world, name, netns=None, host="127.0.0.1", nats_host="127.0.0.1"):
        """`netns`: the network namespace it runs in, where it listens on `host` and reaches
        the NATS servers at `nats_host`."""
        self.world = world
        self.name = name
        self.netns = netns
        self.host = host
        self.nats_host = nats_host
        self.port = free_port()
        self.data_dir = os.path.join(world.root, f"data-{name}")
        self.log = os.path.join(world.root, f"tallyd-{name}.log")
        self.process = None

    def start(self):
        args = [self.world.bin("tallyd"), "--data-dir", self.data_dir,
                "--listen", f"{self.host}:{self.port}", "--cluster", self.world.nats.urls(self.nats_host),
                "--node", self.name, "--tokens", self.world.tokens,
                "--log-keys", self.world.log_keys, "--campaign",
                self.world.campaign, "--io-threads", "2",
                # Records of a few votes: many stream messages under the tests' load, each a
                # publish that a kill can cut off before its answer.
                "--commit-batch-events", str(COMMIT_BATCH_EVENTS)]
        if self.netns:
            args = ["ip", "netns", "exec", self.netns] + args
        self.process = spawn(args, self.log)
        wait_until(f"tallyd {self.name} to serve",
                   lambda: http_get(self.port, "/healthz", host=self.host)[0] == 200, 20)

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def terminate(self):
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(timeout=30) == 0, f"tallyd {self.name} did not exit 0"

    def get(self, path):
        return http_get(self.port, path, host=self.host)

    def cluster(self):
        status, body = self.get("/v1/cluster")
        return json.loads(body) if status == 200 else None

    def metric(self, name):
        """The value of the unlabelled sample `name` in this node's /metrics, or None."""
        status, body = self.get("/metrics")
        if status != 200:
            return None
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def role(self):
        state = self.cluster()
        return state["role"] if state else None


class Voters:
    """Client threads that send ballots, each of a voter never seen before, and keep every answer.

    A thread sends to the node it last reached; after a 503 it turns to the address in
    Tally-Primary (or the next node), after no answer to the next node. It never resends a
    ballot: each ballot ends `accepted`, `refused` (a definite answer that it was not counted)
    or `unknown` (no answer).
    """

    def __init__(self, world, threads=4, batch=20, single_threads=1):
        self.world = world
        self.batch = batch
        self.outcome = {}  # (voter, candidate) -> "accepted" | "refused" | "unknown"
        self.accepted_at = []  # monotonic times of accepted answers
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i, False), daemon=True)
                        for i in range(threads)]
        self.threads += [threading.Thread(target=self._run, args=(threads + i, True), daemon=True)
                         for i in range(single_threads)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            if t.ident is not None:  # started
                t.join(timeout=60)

    def counts(self):
        with self.lock:
            return collections.Counter(self.outcome.values())

    def longest_gap(self, since, until):
        """The longest time without an accepted answer in [since, until]."""
        with self.lock:
            times = sorted(t for t in self.accepted_at if since <= t <= until)
        points = [since] + times + [until]
        return max(b - a for a, b in zip(points, points[1:]))

    def _record(self, ballots, outcomes):
        now = time.monotonic()
        with self.lock:
            for ballot, outcome in zip(ballots, outcomes):
                self.outcome[(ballot["voter"], ballot["candidate"])] = outcome
                if outcome == "accepted":
                    self.accepted_at.append(now)

    def _run(self, index, single):
        rng = random.Random(index)
        nodes = self.world.nodes
        target = 0
        sent = 0
        connection = None
        while not self.stop_flag.is_set():
            size = 1 if single else self.batch
            ballots = []
            for _ in range(size):
                sent += 1
                voter = f"w{index}-{sent}"
                ballots.append({"campaign": CAMPAIGN_ID, "candidate": f"c{rng.randint(1, 20):02d}",
                                "voter": voter, "device": f"d-{voter}", "request_id": f"r-{voter}",
                                "ip": f"10.{index}.{(sent >> 8) & 255}.{sent & 255}"})
            node = nodes[target % len(nodes)]
            path = "/v1/votes" if single else "/v1/votes:batch"
            body = "\n".join(json.dumps(b) for b in ballots).encode()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(node.host, node.port, timeout=5)
                connection.request("POST", path, body, {"Authorization": f"Bearer {TOKEN}",
                                                        "Content-Type": "application/json"})
                response = connection.getresponse()
                text = response.read().decode()
            except Exception:
                self._record(ballots, ["unknown"] * len(ballots))
                if connection is not None:
                    connection.close()
                connection = None
                target += 1
                time.sleep(0.05)
                continue
            if response.status == 200:
                lines = [json.loads(line) for line in text.splitlines() if line.strip()]
                outcomes = []
                for line in lines:
                    status = line["status"]
                    assert status in ("accepted", "unavailable", "overloaded"), line
                    outcomes.append("accepted" if status == "accepted" else "refused")
                assert len(outcomes) == len(ballots), text
                self._record(ballots, outcomes)
                continue
            assert response.status == 503, (response.status, text)
            self._record(ballots, ["refused"] * len(ballots))
            primary = response.getheader("Tally-Primary")
            addresses = [f"{n.host}:{n.port}" for n in nodes]
            target = addresses.index(primary) if primary in addresses else target + 1
            connection.close()
            connection = None
            time.sleep(0.05)
        if connection is not None:
            connection.close()


class World:
    def __init__(self, build_dir, node_names=("a", "b"), nats_listen_host="127.0.0.1"):
        self.build_dir = build_dir
        self.root = tempfile.mkdtemp(prefix="tally-cluster-", dir=os.environ.get("TMPDIR", "/tmp"))
        self.tokens = os.path.join(self.root, "tokens.json")
        # Digests, as an operator's file holds them: every node knows the tokens, none stores them.
        with open(self.tokens, "w") as f:
            json.dump({"ingest": [token_digest(TOKEN)], "admin": [token_digest(ADMIN)]}, f)
        os.chmod(self.tokens, 0o600)
        # The shard's public log keys, made once and given to every node (docs/CLUSTER.md).
        self.log_keys = os.path.join(self.root, "log-keys")
        made = subprocess.run([self.bin("tallyctl"), "log-keys", "new", "--out", self.log_keys],
                              capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        self.campaign = os.path.join(self.root, "campaign.json")
        with open(self.campaign, "w") as f:
            json.dump({"id": CAMPAIGN_ID, "title": "HA test", "opens_at": "2020-01-01T00:00:00+08:00",
                       "closes_at": "2099-01-01T00:00:00+08:00", "utc_offset": "+08:00",
                       "rules": {"period": "campaign", "max_votes_per_candidate": 1,
                                 "max_candidates": 20},
                       "candidates": [{"id": f"c{i:02d}", "name": f"Candidate {i}"}
                                      for i in range(1, 21)]}, f)
        self.nats = NatsCluster(self.root, listen_host=nats_listen_host)
        self.nodes = [Node(self, name) for name in node_names]
        self.passed = False

    def bin(self, name):
        return os.path.join(self.build_dir, "bin", name)

    def start(self):
        self.nats.start()
        for node in self.nodes:
            node.start()
        self.wait_primary()

    def primary(self):
        for node in self.nodes:
            if node.alive() and node.role() == "primary":
                return node
        return None

    def wait_primary(self, timeout=30):
        return wait_until("a primary", self.primary, timeout)

    def close(self):
        for node in self.nodes:
            node.kill()
        self.nats.stop()
        if self.passed and not os.environ.get("TALLY_KEEP_CLUSTER_DIRS"):
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            print(f"cluster test files kept in {self.root}")

    # ---- the checker ----

    def converge(self, timeout=60):
        """Waits until every live node has applied the whole stream."""
        def caught_up():
            states = [n.cluster() for n in self.nodes if n.alive()]
            if not states or any(s is None for s in states):
                return False
            primaries = [s for s in states if s["role"] == "primary"]
            if len(primaries) != 1:
                return False
            end = primaries[0]["applied_stream_seq"]
            return all(s["applied_stream_seq"] == end for s in states)
        wait_until("every node to apply the whole stream", caught_up, timeout)

    def stop_nodes(self):
        """SIGTERM: standbys first, so that no node takes over while the primary stops."""
        primary = self.primary()
        for node in self.nodes:
            if node is not primary:
                node.terminate()
        if primary:
            primary.terminate()

    def tallyctl(self, *args):
        return subprocess.run([self.bin("tallyctl"), *args], capture_output=True, text=True, timeout=300)

    def put_campaign(self, node, campaign):
        request = urllib.request.Request(f"http://{node.host}:{node.port}/v1/campaigns/{campaign['id']}",
                                         data=json.dumps(campaign).encode(), method="PUT",
                                         headers={"Authorization": f"Bearer {ADMIN}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def check(self, voters, min_epochs=1, stream_prefix=False, live_tally=None):
        """The checker. Call after the load stopped and converge(); stops the nodes.
        `stream_prefix`: the data dirs need only hold a prefix of the stream (it holds a record
        no node applied)."""
        if live_tally is None:
            primary = self.primary()
            live_tally = json.loads(primary.get(f"/v1/campaigns/{CAMPAIGN_ID}/tally")[1])
        self.stop_nodes()
        exports = {}
        roots = {}
        for node in self.nodes:
            verify = self.tallyctl("verify", "--data-dir", node.data_dir)
            assert verify.returncode == 0, f"verify {node.name}:\n{verify.stdout}{verify.stderr}"
            epochs = int(verify.stdout.split(" epochs")[0].rsplit(", ", 1)[1]) if " epochs" in verify.stdout else 0
            assert epochs >= min_epochs, f"{node.name}: {epochs} epoch events, expected at least {min_epochs}"
            compared = self.tallyctl("compare-stream", "--data-dir", node.data_dir, "--cluster",
                                     self.nats.urls(), *(["--prefix"] if stream_prefix else []))
            assert compared.returncode == 0, f"compare-stream {node.name}:\n{compared.stdout}{compared.stderr}"
            export = self.tallyctl("export", "--data-dir", node.data_dir)
            assert export.returncode == 0, export.stderr
            exports[node.name] = export.stdout
            bundle = os.path.join(self.root, f"bundle-{node.name}")
            published = self.tallyctl("publish", "--data-dir", node.data_dir, "--campaign",
                                      CAMPAIGN_ID, "--out", bundle, "--log-keys", self.log_keys)
            assert published.returncode == 0, f"publish {node.name}:\n{published.stderr}"
            with open(os.path.join(bundle, "checkpoint.json")) as f:
                checkpoint = json.load(f)
            roots[node.name] = (checkpoint["size"], checkpoint["root"])
        first = next(iter(exports.values()))
        for name, text in exports.items():
            assert text == first, f"{name}'s export differs from the others'"
        # The same events and the shard's one key: every replica's public tree is the same.
        assert len(set(roots.values())) == 1, f"public roots differ between nodes: {roots}"
        verified = subprocess.run(
            ["python3", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                     "verifier", "tally_verify.py"),
             "bundle", os.path.join(self.root, f"bundle-{self.nodes[0].name}")],
            capture_output=True, text=True, timeout=300)
        assert verified.returncode == 0, f"tally_verify.py:\n{verified.stdout}{verified.stderr}"
        counted = collections.Counter()
        for line in first.splitlines():
            event = json.loads(line)
            if event["kind"] == "vote":
                counted[(event["voter"], event["candidate"])] += 1
        outcome = voters.outcome
        problems = []
        for key, n in counted.items():
            if n > 1:
                problems.append(f"{key} counted {n} times")
            if key not in outcome:
                problems.append(f"{key} counted but never sent")
        for key, result in outcome.items():
            n = counted.get(key, 0)
            if result == "accepted" and n != 1:
                problems.append(f"{key} was answered accepted and is counted {n} times")
            if result == "refused" and n != 0:
                problems.append(f"{key} was refused and is counted {n} times")
        assert not problems, f"{len(problems)} problems, first: " + "; ".join(problems[:10])
        total = sum(counted.values())
        assert live_tally["total"] == total, (live_tally["total"], total)
        counts = voters.counts()
        print(f"checker: {counts['accepted']} accepted, {counts['refused']} refused, "
              f"{counts['unknown']} unanswered ({sum(1 for k, r in outcome.items() if r == 'unknown' and counted.get(k))} of them counted); "
              f"{total} votes in every data dir and the stream")
        return counts


class ClusterCase(unittest.TestCase):
    """A test with a started World (two nodes) and its Voters (not started). Cleanups, not
    tearDown: they run when setUp fails half-way too."""

    start_voters = False

    def setUp(self):
        self.world = World(os.environ.get("TALLY_BUILD_DIR", "build"))
        self.addCleanup(self.world.close)
        self.voters = Voters(self.world)
        self.addCleanup(self.voters.stop)
        self.world.start()
        if self.start_voters:
            self.voters.start()
