"""docs/openapi.json checked against the real tallyd.

The document must be a well-formed OpenAPI 3.0 document whose every $ref resolves; it must
list every route of ingest's route table (route.h) and nothing else; and for each documented
operation, real requests to build/bin/tallyd produce the documented statuses (accepted,
duplicate, quota_exceeded, invalid, unknown_campaign, unknown_candidate, closed, 304, 401,
403, 404, 405, 409, 413, 429, 431, 501, 503...). Every answer's status must be one the
document lists for that operation, its JSON body (or each NDJSON line, or the first event of
a stream) must validate against the documented schema, and its documented headers must match
their schemas. A method the document does not give a path must answer 405 with an Allow that
names exactly the documented ones; an unknown path 404. The public log's answers must also
verify (docs/EVENT_FORMAT.md "Public log"): a receipt's leaf is its event's, its inclusion
proof leads to its checkpoint's root (RFC 9162 2.1.3.2), a consistency proof ties an earlier
checkpoint to a later one (2.1.4.2), and a vote's answer gives the leaf its receipt holds.

Usage: python3 openapi_e2e_test.py TALLYD OPENAPI_JSON ROUTE_H
"""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

TALLYD, DOC_PATH, ROUTE_H = (sys.argv[1:4] if len(sys.argv) >= 4 else (None, None, None))
DEMO = "ordos-2023-zuimei"
TOKENS = {"ingest": ["ingest-" + "1" * 40], "admin": ["admin-" + "2" * 40], "read": ["read-" + "3" * 40]}
INGEST, ADMIN, READ = TOKENS["ingest"][0], TOKENS["admin"][0], TOKENS["read"][0]
ORIGIN = "https://vote.example.cn"
METHODS = ["get", "head", "post", "put", "delete", "patch", "options"]
CLOSED_CAMPAIGN = {
    "id": "closed-2020", "title": "closed", "opens_at": "2020-01-01T00:00:00+08:00",
    "closes_at": "2020-01-02T00:00:00+08:00", "utc_offset": "+08:00",
    "rules": {"period": "campaign", "max_votes_per_candidate": 1, "max_candidates": 1},
    "candidates": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]}


# ---- a JSON Schema subset (what the document uses) ----

class Invalid(Exception):
    pass


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise Invalid(f"external $ref {ref}")
        target = doc
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                raise Invalid(f"$ref {ref} does not resolve")
            target = target[part]
        node = target
    return node


def validate(doc, schema, value, where="$"):
    schema = resolve(doc, schema)
    if "allOf" in schema:
        for sub in schema["allOf"]:
            validate(doc, sub, value, where)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            passed = 0
            errors = []
            for sub in schema[key]:
                try:
                    validate(doc, sub, value, where)
                    passed += 1
                except Invalid as e:
                    errors.append(str(e))
            if passed == 0 or (key == "oneOf" and passed > 1):
                raise Invalid(f"{where}: {passed} of {key} match ({'; '.join(errors)})")
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if kind is not None and not checks[kind](value):
        raise Invalid(f"{where}: {value!r:.80} is not of type {kind}")
    if "enum" in schema and value not in schema["enum"]:
        raise Invalid(f"{where}: {value!r:.80} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise Invalid(f"{where}: {value!r:.80} does not match {schema['pattern']}")
        if "maxLength" in schema and len(value.encode()) > schema["maxLength"]:
            raise Invalid(f"{where}: longer than {schema['maxLength']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise Invalid(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise Invalid(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                raise Invalid(f"{where}: {name} is required")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                validate(doc, properties[name], item, f"{where}.{name}")
            elif extra is False:
                raise Invalid(f"{where}: {name} is not in the document")
            elif isinstance(extra, dict):
                validate(doc, extra, item, f"{where}.{name}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise Invalid(f"{where}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                validate(doc, schema["items"], item, f"{where}[{i}]")


# ---- the public log's tree (RFC 9162 2.1), written from the RFC, not from tally's code ----

def leaf_of(event):
    """SHA-256(0x00 || canonical JSON of a public form), as docs/EVENT_FORMAT.md defines it."""
    canonical = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(b"\x00" + canonical).hexdigest()


def node_of(left, right):
    return hashlib.sha256(b"\x01" + bytes.fromhex(left) + bytes.fromhex(right)).hexdigest()


def root_from_inclusion(index, size, leaf, hashes):
    """RFC 9162 2.1.3.2: the root the audit path leads to from the leaf at index, or None."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in hashes:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_of(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_of(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def consistent(first, second, first_root, second_root, hashes):
    """RFC 9162 2.1.4.2: does the proof show the tree of `first` leaves is a prefix of `second`'s?"""
    if first == second:
        return not hashes and first_root == second_root
    if first & (first - 1) == 0:
        hashes = [first_root] + hashes
    if not hashes:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_of(c, fr), node_of(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_of(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# ---- HTTP over a plain socket, so that malformed requests can be sent too ----

class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:200]!r}>"


def read_answer(sock, head_request=False, stream=False):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before an answer: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if stream:
        while b"\n\nevent: tally" not in rest or not rest.endswith(b"\n\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return Answer(status, headers, rest)
    length = 0 if head_request or status in (204, 304) else int(headers.get("content-length", 0))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Answer(status, headers, rest[:length])


def send(port, raw, head_request=False, stream=False):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        return read_answer(sock, head_request, stream)


def request_bytes(method, target, body=b"", token=None, headers=None, content_type=None):
    lines = [f"{method} {target} HTTP/1.1", "Host: test", "Connection: close"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Type: {content_type or 'application/json'}")
        lines.append(f"Content-Length: {len(body)}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Tallyd:
    def __init__(self, workdir, name, args):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        tokens = os.path.join(self.dir, "tokens.json")
        with open(tokens, "w") as f:
            json.dump(TOKENS, f)
        closed = os.path.join(self.dir, "closed.json")
        with open(closed, "w") as f:
            json.dump(CLOSED_CAMPAIGN, f)
        self.log_path = os.path.join(self.dir, "tallyd.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [TALLYD, "--data-dir", os.path.join(self.dir, "data"), "--listen", "127.0.0.1:0",
             "--io-threads", "1", "--tokens", tokens, "--demo", "--campaign", closed] + args,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        self.port = None
        while self.port is None:
            with open(self.log_path) as f:
                found = re.search(r"tallyd ready listen=127\.0\.0\.1:(\d+)", f.read())
            if found:
                self.port = int(found.group(1))
            elif self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"tallyd did not start: {open(self.log_path).read()}")
            else:
                time.sleep(0.02)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()


def template_of(doc, method, target):
    """The documented path that `target` falls under, or None."""
    path = target.split("?")[0]
    for template in doc["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    return None


class OpenApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DOC_PATH, encoding="utf-8") as f:
            cls.doc = json.load(f)
        cls.workdir = tempfile.mkdtemp(prefix="tally-openapi-")
        cls.seen = set()  # (template, method, status) answered

    # ---- checking one answer against the document ----

    def check(self, answer, method, target, note=""):
        doc = self.doc
        template = template_of(doc, method, target)
        self.assertIsNotNone(template, f"{method} {target}: answered {answer.status}, path not documented")
        operation = doc["paths"][template].get(method.lower())
        self.assertIsNotNone(operation, f"{method} {template}: answered {answer.status}, not documented")
        responses = operation["responses"]
        self.assertTrue(str(answer.status) in responses,
                        f"{method} {template} {note}: status {answer.status} not documented: {answer!r}")
        self.seen.add((template, method.lower(), answer.status))
        spec = resolve(doc, responses[str(answer.status)])
        for name, header in spec.get("headers", {}).items():
            value = answer.header(name)
            if value is None:
                continue
            schema = resolve(doc, resolve(doc, header)["schema"])
            if schema.get("type") == "integer":
                self.assertRegex(value, r"^\d+$", f"{method} {template} header {name}")
                value = int(value)
            try:
                validate(doc, schema, value, name)
            except Invalid as e:
                self.fail(f"{method} {template} {answer.status} header: {e}")
        content = spec.get("content", {})
        if method == "HEAD" or answer.status in (204, 304):
            self.assertEqual(answer.body, b"")
            return
        if not content:
            self.assertEqual(answer.body, b"", f"{method} {template} {answer.status}: undocumented body")
            return
        content_type = (answer.header("content-type") or "").split(";")[0]
        self.assertIn(content_type, content, f"{method} {template} {answer.status}: content type")
        media = content[content_type]
        try:
            if media.get("x-ndjson"):
                for line in answer.body.decode().splitlines():
                    if line:
                        validate(doc, media["schema"], json.loads(line))
            elif "x-sse-data" in media:
                data = [l for l in answer.body.decode().splitlines() if l.startswith("data: ")]
                self.assertTrue(data, f"no event on the stream: {answer.body!r}")
                validate(doc, media["x-sse-data"], json.loads(data[0][len("data: "):]))
            elif content_type == "application/json":
                validate(doc, media["schema"], json.loads(answer.body))
        except Invalid as e:
            self.fail(f"{method} {template} {answer.status} {note}: {e}: {answer.body[:300]!r}")

    def call(self, server, method, target, expect, note="", **kwargs):
        stream = kwargs.pop("stream", False)
        answer = send(server.port, request_bytes(method, target, **kwargs), method == "HEAD", stream)
        self.check(answer, method, target, note)
        self.assertEqual(answer.status, expect, f"{method} {target} {note}: {answer!r}")
        return answer

    def raw(self, server, method, target, raw, expect, note=""):
        answer = send(server.port, raw, method == "HEAD")
        self.check(answer, method, target, note)
        self.assertEqual(answer.status, expect, f"{note}: {answer!r}")
        return answer

    # ---- the tests ----

    def test_1_the_document_is_well_formed(self):
        doc = self.doc
        self.assertRegex(doc["openapi"], r"^3\.0\.\d+$")
        self.assertTrue(doc["info"]["title"] and doc["info"]["version"])
        operation_ids = set()

        def walk(node, where):
            if isinstance(node, dict):
                if "$ref" in node:
                    try:
                        resolve(doc, node)
                    except Invalid as e:
                        self.fail(f"{where}: {e}")
                for key, value in node.items():
                    walk(value, f"{where}/{key}")
            elif isinstance(node, list):
                for i, value in enumerate(node):
                    walk(value, f"{where}/{i}")
        walk(doc, "#")
        schemes = doc["components"]["securitySchemes"]
        for template, item in doc["paths"].items():
            self.assertTrue(template.startswith("/"), template)
            declared = {resolve(doc, p)["name"] for p in item.get("parameters", [])}
            for method in METHODS:
                if method not in item:
                    continue
                operation = item[method]
                self.assertNotIn(operation["operationId"], operation_ids)
                operation_ids.add(operation["operationId"])
                self.assertIn(operation["x-tally-access"], ("open", "read", "ingest", "admin"))
                names = declared | {resolve(doc, p)["name"] for p in operation.get("parameters", [])}
                for name in re.findall(r"\{([^}]+)\}", template):
                    self.assertIn(name, names, f"{method} {template}: path parameter {name}")
                for requirement in operation["security"]:
                    for scheme in requirement:
                        self.assertIn(scheme, schemes)
                self.assertTrue(operation["responses"])
                for code, response in operation["responses"].items():
                    self.assertRegex(code, r"^[1-5]\d\d$")
                    self.assertIn("description", resolve(doc, response))

    def test_2_every_route_of_the_route_table_is_documented_and_no_other(self):
        with open(ROUTE_H) as f:
            source = f.read()
        enum = source[source.index("enum class Endpoint"):]
        enum = enum[:enum.index("};")]
        # A comment's query (GET /v1/log/proof?seq=N) is not part of the path.
        routes = set(re.findall(r"\b(GET|POST|PUT) (/[^\s?]*)", enum))
        self.assertGreater(len(routes), 10, "the route table's comments were not found")
        documented = set()
        for template, item in self.doc["paths"].items():
            for method in ("get", "post", "put"):
                if method in item:
                    documented.add((method.upper(), template))
        normalize = lambda path: re.sub(r"\{[^}]+\}", "{}", path)
        self.assertEqual({(m, normalize(p)) for m, p in routes} | {("GET", "/index.html")},
                         {(m, normalize(p)) for m, p in documented})
        # HEAD goes wherever GET does; OPTIONS only on cross-origin reads (preflight).
        for template, item in self.doc["paths"].items():
            self.assertEqual("get" in item, "head" in item, template)

    def test_3_every_operation_answers_as_documented(self):
        server = Tallyd(self.workdir, "plain", ["--max-batch-lines", "5"])
        try:
            self.exercise(server)
        finally:
            server.stop()
        for template, item in self.doc["paths"].items():
            for method in METHODS:
                if method in item and method != "options":
                    self.assertTrue(any(t == template and m == method for t, m, _ in self.seen),
                                    f"{method} {template} was never exercised")

    def exercise(self, s):
        vote = lambda voter, candidate="c01", campaign=DEMO, **extra: json.dumps(
            {"campaign": campaign, "candidate": candidate, "voter": voter, **extra}).encode()
        tally = f"/v1/campaigns/{DEMO}/tally"
        # Votes: every status row of DESIGN.md that a request can produce.
        accepted = self.call(s, "POST", "/v1/votes", 200, body=vote("alice"), token=INGEST)
        seq = json.loads(accepted.body)["seq"]
        leaves = {seq: json.loads(accepted.body)["leaf"]}  # seq -> the leaf a vote's answer gave
        full = json.loads(self.call(s, "POST", "/v1/votes", 200, "every member", token=INGEST, body=vote(
            "frank", device="dev-1", ip="10.1.2.3", ua="Mozilla/5.0 (iPhone) 微信", ts=int(time.time() * 1000),
            request_id="req-frank-1")).body)
        leaves[full["seq"]] = full["leaf"]
        self.assertNotIn("leaf", json.loads(
            self.call(s, "POST", "/v1/votes", 409, "duplicate", body=vote("alice"), token=INGEST).body))
        for i in range(2, 11):
            self.call(s, "POST", "/v1/votes", 200, body=vote("alice", f"c{i:02d}"), token=ADMIN)
        self.call(s, "POST", "/v1/votes", 409, "quota", body=vote("alice", "c11"), token=INGEST)
        self.call(s, "POST", "/v1/votes", 403, "closed", body=vote("bob", "a", "closed-2020"), token=INGEST)
        self.call(s, "POST", "/v1/votes", 404, body=vote("bob", campaign="no-such"), token=INGEST)
        self.call(s, "POST", "/v1/votes", 422, body=vote("bob", "c99"), token=INGEST)
        self.call(s, "POST", "/v1/votes", 400, body=vote("v" * 300), token=INGEST)
        self.call(s, "POST", "/v1/votes", 401, body=vote("bob"))
        self.call(s, "POST", "/v1/votes", 403, "read token", body=vote("bob"), token=READ)
        self.call(s, "POST", "/v1/votes", 413, body=b"x" * (65 * 1024), token=INGEST)
        self.raw(s, "POST", "/v1/votes", b"POST /v1/votes HTTP/1.1\r\nHost: t\r\nX: " + b"y" * 20000 +
                 b"\r\n\r\n", 431, "headers over the limit")
        self.raw(s, "POST", "/v1/votes", b"POST /v1/votes HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                 INGEST.encode() + b"\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
                 501, "a coding tallyd does not decode")
        self.raw(s, "POST", "/v1/votes", b"POST /v1/votes HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                 b"Content-Length: 1\r\n\r\nxx", 400, "framed twice")
        # Batches.
        batch = vote("carol") + b"\n\nnot json\n" + vote("carol") + b"\n"
        lines = [json.loads(line) for line in self.call(
            s, "POST", "/v1/votes:batch", 200, body=batch, token=INGEST,
            content_type="application/x-ndjson").body.decode().splitlines()]
        self.assertEqual([line["status"] for line in lines], ["accepted", "invalid", "duplicate"])
        self.assertEqual([("leaf" in line) for line in lines], [True, False, False])
        leaves[lines[0]["seq"]] = lines[0]["leaf"]
        self.call(s, "POST", "/v1/votes:batch", 413, "over --max-batch-lines",
                  body=b"\n".join(vote(f"d{i}") for i in range(6)), token=INGEST, content_type="application/x-ndjson")
        self.call(s, "POST", "/v1/votes:batch", 401, body=batch)
        self.call(s, "POST", "/v1/votes:batch", 403, body=batch, token=READ)
        # Reads, with their tags.
        for target in ("/v1/campaigns", f"/v1/campaigns/{DEMO}", tally, f"/v1/campaigns/{DEMO}/fraud",
                       f"/v1/campaigns/{DEMO}/history"):
            answer = self.call(s, "GET", target, 200)
            self.call(s, "GET", target, 304, headers={"If-None-Match": answer.header("etag")})
            self.call(s, "HEAD", target, 200)
        for target in (f"/v1/campaigns/no-such", "/v1/campaigns/no-such/tally",
                       "/v1/campaigns/no-such/fraud", "/v1/campaigns/no-such/history",
                       "/v1/campaigns/no-such/tally/stream"):
            self.call(s, "GET", target, 404)
            self.call(s, "HEAD", target, 404)
        # Committee decisions (DESIGN.md "Adjudication"): recorded, repeated, refused.
        decisions = f"/v1/campaigns/{DEMO}/decisions"
        void = json.dumps({"action": "void", "author": "committee", "reason": "test",
                           "seqs": [full["seq"]]}).encode()
        self.call(s, "POST", decisions, 201, body=void, token=ADMIN)
        self.call(s, "POST", decisions, 200, "changes nothing", body=void, token=ADMIN)
        self.call(s, "POST", decisions, 400, "no reason", token=ADMIN,
                  body=json.dumps({"action": "void", "author": "c", "seqs": [seq]}).encode())
        self.call(s, "POST", decisions, 404, "not a vote", token=ADMIN,
                  body=json.dumps({"action": "void", "author": "c", "reason": "r", "seqs": [999999]}).encode())
        self.call(s, "POST", "/v1/campaigns/no-such/decisions", 404, "unknown campaign", token=ADMIN, body=void)
        self.call(s, "POST", decisions, 422, token=ADMIN, body=json.dumps(
            {"action": "disqualify", "author": "c", "reason": "r", "candidate": "c99"}).encode())
        self.call(s, "POST", decisions, 401, body=void)
        self.call(s, "POST", decisions, 403, body=void, token=INGEST)
        self.call(s, "POST", decisions, 413, body=b"x" * (1025 * 1024), token=ADMIN)
        self.call(s, "GET", decisions, 200)
        self.call(s, "HEAD", decisions, 200)
        self.call(s, "GET", "/v1/campaigns/no-such/decisions", 404)
        self.call(s, "HEAD", "/v1/campaigns/no-such/decisions", 404)
        self.call(s, "GET", tally + "/stream", 200, stream=True)
        self.call(s, "HEAD", tally + "/stream", 200)
        self.exercise_public_log(s, tally, seq, leaves)
        # Campaign PUT: created, updated, unchanged, conflict, invalid, and the token kinds.
        fresh = dict(CLOSED_CAMPAIGN, id="fresh-2030", title="fresh")
        path = "/v1/campaigns/fresh-2030"
        self.call(s, "PUT", path, 201, body=json.dumps(fresh).encode(), token=ADMIN)
        self.call(s, "PUT", path, 200, "unchanged", body=json.dumps(fresh).encode(), token=ADMIN)
        self.call(s, "PUT", path, 200, "updated", body=json.dumps(dict(fresh, title="Fresh")).encode(), token=ADMIN)
        self.call(s, "PUT", path, 400, "id unlike the path's", body=json.dumps(CLOSED_CAMPAIGN).encode(), token=ADMIN)
        self.call(s, "PUT", path, 401, body=json.dumps(fresh).encode())
        self.call(s, "PUT", path, 403, body=json.dumps(fresh).encode(), token=INGEST)
        demo = json.loads(self.call(s, "GET", f"/v1/campaigns/{DEMO}", 200).body)
        del demo["state"]
        demo["candidates"] = demo["candidates"][:-1]
        self.call(s, "PUT", f"/v1/campaigns/{DEMO}", 409, "candidates of a campaign with votes",
                  body=json.dumps(demo).encode(), token=ADMIN)
        self.call(s, "PUT", path, 413, body=b" " * (1024 * 1024 + 1), token=ADMIN)
        # Stored events (admin).
        self.call(s, "GET", f"/v1/votes/{seq}", 200, token=ADMIN)
        self.call(s, "GET", "/v1/votes/1", 200, "a campaign event", token=ADMIN)
        self.call(s, "HEAD", f"/v1/votes/{seq}", 200, token=ADMIN)
        self.call(s, "GET", "/v1/votes/999999", 404, token=ADMIN)
        self.call(s, "GET", f"/v1/votes/{seq}", 401)
        self.call(s, "GET", f"/v1/votes/{seq}", 403, token=INGEST)
        # Operations.
        for target, status in (("/metrics", 200), ("/healthz", 200), ("/readyz", 200), ("/v1/cluster", 404),
                               ("/", 200), ("/index.html", 200), ("/web/app.js", 200), ("/web/style.css", 200),
                               ("/web/nothing.js", 404)):
            self.call(s, "GET", target, status)
            self.call(s, "HEAD", target, status)
        # Methods a path does not take: 405 with exactly the documented ones in Allow.
        for template, item in self.doc["paths"].items():
            target = template.replace("{id}", DEMO).replace("{seq}", str(seq)).replace("{file}", "app.js")
            allowed = {m.upper() for m in METHODS if m in item and m != "options"}
            for method in METHODS:
                if method in item and method != "options":
                    continue
                answer = send(s.port, request_bytes(method.upper(), target, body=b"{}" if method != "options" else b""),
                              method == "head")
                self.assertEqual(answer.status, 405, f"{method} {target}: {answer!r}")
                self.assertEqual(set(answer.header("allow").split(", ")), allowed, target)
                if method == "head":
                    continue
                validate(self.doc, self.doc["components"]["responses"]["MethodNotAllowed"]["content"]
                         ["application/json"]["schema"], json.loads(answer.body))
                if "options" in item:  # a preflight without --cors-origin
                    self.check(answer, "OPTIONS", target, "without --cors-origin")
        # Paths nobody documents are not served.
        for target in ("/v2/votes", "/v1/campaigns/x/other", "/v1/votes/0", "/v1/votes/abc", "/v1/nothing",
                       "/web", "/admin", "/v1/campaigns//tally", "/v1/campaigns/x/tally/"):
            answer = send(s.port, request_bytes("GET", target))
            self.assertEqual(answer.status, 404, target)
            self.assertEqual(json.loads(answer.body)["status"], "not_found", target)

    def exercise_public_log(self, s, tally, seq, leaves):
        """The public log's reads: good answers that verify, and each documented refusal."""
        get = lambda target, expect=200, note="": json.loads(self.call(s, "GET", target, expect, note).body)
        key_answer = self.call(s, "GET", "/v1/log/key", 200)
        self.assertEqual(key_answer.header("cache-control"), "public, max-age=3600")
        key = json.loads(key_answer.body)
        der = base64.b64decode("".join(key["public_key_pem"].strip().splitlines()[1:-1]))
        self.assertEqual(key["log_id"], hashlib.sha256(der[-32:]).hexdigest(), "log_id of the key")
        # The tally counts the events of a checkpoint of as_of_seq leaves.
        counted = get(tally)
        earlier = counted["checkpoint"]
        self.assertEqual(earlier["size"], counted["as_of_seq"])
        self.assertEqual(earlier["log_id"], key["log_id"])
        # A later vote: the log grows, and the later checkpoint extends the earlier one.
        later_vote = json.loads(self.call(s, "POST", "/v1/votes", 200, "after the tally", token=INGEST, body=json.dumps(
            {"campaign": DEMO, "candidate": "c05", "voter": "grace"}).encode()).body)
        leaves[later_vote["seq"]] = later_vote["leaf"]
        checkpoint = get("/v1/log/checkpoint")
        size = checkpoint["size"]
        self.assertEqual(checkpoint["log_id"], key["log_id"])
        self.assertGreaterEqual(size, max(leaves))
        self.assertGreater(size, earlier["size"])
        proof = get(f"/v1/log/consistency?from={earlier['size']}&to={size}")
        self.assertEqual((proof["from"], proof["to"]), (earlier["size"], size))
        self.assertTrue(consistent(earlier["size"], size, earlier["root"], checkpoint["root"], proof["hashes"]),
                        f"consistency proof {proof} from {earlier} to {checkpoint}")
        self.assertEqual(get(f"/v1/log/consistency?from={size}&to={size}")["hashes"], [])
        # Receipts: each vote's leaf is its answer's, and its proof leads to its checkpoint's root.
        for event_seq, answered_leaf in sorted(leaves.items()) + [(1, None)]:
            receipt = get(f"/v1/votes/{event_seq}/receipt")
            self.assertEqual(receipt["seq"], event_seq)
            self.assertEqual(receipt["leaf"], leaf_of(receipt["event"]), f"leaf of {receipt['event']}")
            if answered_leaf is not None:
                self.assertEqual(receipt["event"]["kind"], "vote")
                self.assertEqual(receipt["leaf"], answered_leaf, f"seq {event_seq}: the vote's answer")
            self.assertEqual(receipt["proof"]["size"], receipt["checkpoint"]["size"])
            self.assertEqual(receipt["checkpoint"]["log_id"], key["log_id"])
            self.assertGreaterEqual(receipt["checkpoint"]["size"], size)
            self.assertEqual(root_from_inclusion(event_seq - 1, receipt["proof"]["size"], receipt["leaf"],
                                                 receipt["proof"]["hashes"]), receipt["checkpoint"]["root"],
                             f"seq {event_seq}: inclusion proof")
            # The same proof from /v1/log/proof, and one in the tally's earlier tree.
            inclusion = get(f"/v1/log/proof?seq={event_seq}&size={receipt['proof']['size']}")
            self.assertEqual((inclusion["seq"], inclusion["leaf"], inclusion["hashes"]),
                             (event_seq, receipt["leaf"], receipt["proof"]["hashes"]))
            if event_seq <= earlier["size"]:
                inclusion = get(f"/v1/log/proof?seq={event_seq}&size={earlier['size']}")
                self.assertEqual(inclusion["size"], earlier["size"])
                self.assertEqual(root_from_inclusion(event_seq - 1, earlier["size"], inclusion["leaf"],
                                                     inclusion["hashes"]), earlier["root"])
        vote_event = get(f"/v1/votes/{seq}/receipt")["event"]
        self.assertRegex(vote_event["voter"], r"^[0-9a-f]{32}$")
        self.assertNotEqual(vote_event["voter"], "alice")
        self.assertEqual(get(f"/v1/log/proof?seq={seq}")["size"], size)
        for target in ("/v1/log/key", "/v1/log/checkpoint", f"/v1/log/proof?seq={seq}",
                       f"/v1/log/consistency?from=1&to={size}", f"/v1/votes/{seq}/receipt"):
            self.call(s, "HEAD", target, 200)
        # Refusals: each names the parameter and the rule.
        beyond = size + 5
        for target, expect, error in (
                ("/v1/log/proof", 400, "seq: required"),
                ("/v1/log/proof?size=1", 400, "seq: required"),
                ("/v1/log/proof?seq=x", 400, "seq: must be a decimal number"),
                ("/v1/log/proof?seq=-1", 400, "seq: must be a decimal number"),
                ("/v1/log/proof?seq=", 400, "seq: must be a decimal number"),
                ("/v1/log/proof?seq=0", 400, "seq: must be 1 or more"),
                ("/v1/log/proof?seq=1&size=0", 400, "size: must be 1 or more"),
                ("/v1/log/proof?seq=1&size=1x", 400, "size: must be a decimal number"),
                ("/v1/log/proof?seq=3&size=2", 400, "seq: 3 is not in a tree of size 2"),
                (f"/v1/log/proof?seq={beyond}", 404, f"seq: {beyond} is beyond the log's {size} events"),
                (f"/v1/log/proof?seq=1&size={beyond}", 404, f"size: {beyond} is beyond the log's {size} events"),
                ("/v1/log/consistency", 400, "from: required"),
                ("/v1/log/consistency?to=2", 400, "from: required"),
                ("/v1/log/consistency?from=1", 400, "to: required"),
                ("/v1/log/consistency?from=a&to=2", 400, "from: must be a decimal number"),
                ("/v1/log/consistency?from=1&to=2.0", 400, "to: must be a decimal number"),
                ("/v1/log/consistency?from=0&to=2", 400, "from: must be 1 or more"),
                ("/v1/log/consistency?from=3&to=2", 400, "from: 3 is above to 2"),
                (f"/v1/log/consistency?from=1&to={beyond}", 404, f"to: {beyond} is beyond the log's {size} events"),
                (f"/v1/votes/{beyond}/receipt", 404, f"seq: {beyond} is beyond the log's {size} events")):
            refusal = get(target, expect, error)
            self.assertEqual(refusal, {"status": "invalid" if expect == 400 else "not_found", "error": error}, target)
            self.call(s, "HEAD", target, expect, error)
        self.call(s, "GET", "/v1/votes/0/receipt", 404, "seq 0 is no path")

    def test_4_access_follows_x_tally_access(self):
        server = Tallyd(self.workdir, "protected", ["--protect-reads", "--cors-origin", ORIGIN])
        try:
            for template, item in self.doc["paths"].items():
                target = template.replace("{id}", DEMO).replace("{seq}", "1").replace("{file}", "app.js")
                for method in ("get", "head"):
                    if method not in item:
                        continue
                    access = item[method]["x-tally-access"]
                    stream = template.endswith("/stream") and method == "get"
                    M = method.upper()
                    if access == "open":
                        self.call(server, M, target, 200)
                        continue
                    self.call(server, M, target, 401, "without a token")
                    wanted = {"read": READ, "ingest": INGEST, "admin": ADMIN}[access]
                    answer = send(server.port, request_bytes(M, target, token=wanted), method == "head", stream)
                    self.check(answer, M, target, access)
                    self.assertNotIn(answer.status, (401, 403), f"{M} {target} with a {access} token")
                    if access == "admin":
                        self.call(server, M, target, 403, "an ingest token", token=INGEST)
                for method in ("post", "put"):
                    if method in item:
                        self.call(server, method.upper(), target, 401, body=b"{}")
                        self.call(server, method.upper(), target, 403, "a read token", body=b"{}", token=READ)
                if "options" in item:
                    preflight = self.call(server, "OPTIONS", target, 204, headers={
                        "Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
                    self.assertEqual(preflight.header("access-control-allow-origin"), ORIGIN)
                    self.assertIn("Authorization", preflight.header("access-control-allow-headers"))
                    refused = self.call(server, "GET", target, 401, headers={"Origin": ORIGIN})
                    self.assertEqual(refused.header("access-control-allow-origin"), ORIGIN)
        finally:
            server.stop()

    def test_5_limits_answer_as_documented(self):
        server = Tallyd(self.workdir, "limits", ["--max-tally-streams", "0", "--max-connections-per-peer", "1"])
        try:
            self.call(server, "GET", f"/v1/campaigns/{DEMO}/tally/stream", 503, "no stream allowed")
            deadline = time.monotonic() + 10
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as held:
                held.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                self.assertEqual(read_answer(held).status, 200)  # counted as the peer's connection
                while True:
                    answer = send(server.port, request_bytes("GET", f"/v1/campaigns/{DEMO}/tally"))
                    if answer.status == 429 or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                self.check(answer, "GET", f"/v1/campaigns/{DEMO}/tally", "a second connection")
                self.assertEqual(answer.status, 429)
                self.assertEqual(answer.header("retry-after"), "1")
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
