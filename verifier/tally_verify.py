#!/usr/bin/env python3
"""Independent verifier for tally's public log bundles and voter receipts.

Written from docs/EVENT_FORMAT.md, section "Public log", and nothing else: Python 3.11
standard library plus the `openssl` command (OpenSSL 3.0) for Ed25519.

    tally_verify.py bundle DIR [--key PEM]
    tally_verify.py receipt FILE --key PEM [--bundle DIR]

Exit status: 0 when everything holds, 1 on the first failure (one "FAIL ..." line on
stdout), 2 on bad usage.
"""

import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

USAGE_ERROR = 2
VERIFY_FAILED = 1

# A request id answers for its UTC day and the two after it (tallyd keeps three UTC days).
REQUEST_ID_DAYS = 3
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1

# Fraud reasons by bit (EVENT_FORMAT.md "Public form"); bits without a name show as bitN.
FLAG_NAMES = ["ip_flood", "device_multi_account", "burst", "no_device", "bot_ua"]
FLAGS_BITS = 32  # flags is a varint32

HEX_TAG = re.compile(r"[0-9a-f]{32}\Z")
HEX_HASH = re.compile(r"[0-9a-f]{64}\Z")
HEX_SIGNATURE = re.compile(r"[0-9a-f]{128}\Z")
BIT_FLAG = re.compile(r"bit(0|[1-9][0-9]*)\Z")
UTC_OFFSET = re.compile(r"[+-]([01]\d|2[0-3]):([0-5]\d)\Z")
# YYYY-MM-DDTHH:MM:SS, .mmm only when the milliseconds are not zero, then Z or +HH:MM/-HH:MM.
RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?P<ms>\.\d{3})?(?P<offset>Z|[+-]\d\d:\d\d)\Z")

# The DER SubjectPublicKeyInfo of an Ed25519 key is this prefix and the 32 raw key bytes.
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


class Failure(Exception):
    """The first thing that does not hold: a bundle step and line, or a receipt check."""

    def __init__(self, step, line, reason):
        super().__init__(reason)
        self.step = step
        self.line = line
        self.reason = reason

    def report(self):
        if self.step == "receipt":
            return f"FAIL receipt: {self.reason}"
        return f"FAIL step {self.step} line {self.line}: {self.reason}"


class Invalid(ValueError):
    """A document or value that is not in the form the specification gives."""


# ---------------------------------------------------------------------------------------
# Canonical JSON

def _object_without_duplicates(pairs):
    # json.loads would silently keep the last of two equal member names; two parsers could
    # then read two different votes from one line, so a repeated member is refused.
    obj = {}
    for name, value in pairs:
        if name in obj:
            raise Invalid(f'repeated member "{name}"')
        obj[name] = value
    return obj


def _refuse_float(text):
    raise Invalid(f"number {text} is not an integer")


def _refuse_constant(text):
    raise Invalid(f"{text} is not JSON")


def parse_json(text):
    """Parses JSON, refusing repeated members, fractions, exponents, NaN and Infinity."""
    try:
        return json.loads(text, object_pairs_hook=_object_without_duplicates,
                          parse_float=_refuse_float, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise Invalid(f"not JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise Invalid("JSON nested too deeply") from None


def canonical_bytes(value):
    """The bytes tally writes for a value (EVENT_FORMAT.md "Canonical JSON")."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (from a \\udXXX escape) has no UTF-8 form: nothing tally writes.
        raise Invalid("string is not valid Unicode") from None


def parse_canonical(raw):
    """Parses one log line (bytes, no newline) and checks it is canonical JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("not UTF-8") from None
    value = parse_json(text)
    if canonical_bytes(value) != raw:
        raise Invalid("not canonical JSON (whitespace, escapes or number form differ)")
    return value


# ---------------------------------------------------------------------------------------
# Public form (member names, order and types)

def check_members(obj, members, what):
    """Checks an object's member names and order; members is [(name, required)]."""
    if not isinstance(obj, dict):
        raise Invalid(f"{what} is not an object")
    names = [name for name, _ in members]
    for name in obj:
        if name not in names:
            raise Invalid(f'{what}: unknown member "{name}"')
    for name, required in members:
        if required and name not in obj:
            raise Invalid(f'{what}: member "{name}" missing')
    positions = [names.index(name) for name in obj]
    if positions != sorted(positions):
        raise Invalid(f"{what}: members out of order")


def is_int(value, low=INT64_MIN, high=INT64_MAX):
    # bool is an int subclass in Python, and true is not a number.
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def need_int(obj, name, what, low=INT64_MIN, high=INT64_MAX):
    if not is_int(obj[name], low, high):
        raise Invalid(f'{what}: "{name}" is not an integer in range')


def need_str(obj, name, what):
    if not isinstance(obj[name], str):
        raise Invalid(f'{what}: "{name}" is not a string')


def need_tag(obj, name, what):
    if not (isinstance(obj[name], str) and HEX_TAG.match(obj[name])):
        raise Invalid(f'{what}: "{name}" is not a tag (32 lowercase hex digits)')


VOTE_MEMBERS = [("kind", True), ("campaign", True), ("candidate", True), ("voter", True),
                ("device", False), ("ip", False), ("ua", False), ("ts", False),
                ("request_id", False), ("server_ms", True), ("period", True),
                ("flags", True)]
CAMPAIGN_EVENT_MEMBERS = [("kind", True), ("campaign", True)]
EPOCH_MEMBERS = [("kind", True), ("node", True), ("epoch", True), ("server_ms", True)]
FLAG_MEMBERS = [("kind", True), ("campaign", True), ("reason", True), ("scope", True),
                ("key", True), ("server_ms", True), ("seqs", True)]
DECISION_MEMBERS = [("kind", True), ("campaign", True), ("action", True), ("author", True),
                    ("reason", True), ("server_ms", True), ("candidate", False),
                    ("scope", False), ("key", False), ("seqs", False)]
# A cluster's scope (EVENT_FORMAT.md "Public form"); a decision by seq has none, and no
# "scope" member.
SCOPES = ["ip", "subnet", "device"]
ACTIONS = ["void", "restore", "disqualify", "reinstate"]
VOTE_ACTIONS = ["void", "restore"]  # the others name a candidate
MAX_MARKED_VOTES = 16384  # seqs one flag or decision names
MAX_AUTHOR_BYTES = 256
MAX_REASON_BYTES = 2048

DEFINITION_MEMBERS = [("id", True), ("title", True), ("opens_at", True), ("closes_at", True),
                      ("utc_offset", True), ("rules", True), ("candidates", True),
                      ("expected_voters", False), ("fraud", False)]
RULES_MEMBERS = [("period", True), ("max_votes_per_candidate", True),
                 ("max_candidates", True)]
CANDIDATE_MEMBERS = [("id", True), ("name", True), ("unit", True), ("industry", True)]
FRAUD_INTS = ["window_s", "ip_lookalike_votes", "subnet_lookalike_votes", "regular_votes",
              "device_max_voters", "burst_factor", "burst_min_per_minute",
              "baseline_minutes"]
FRAUD_MEMBERS = [(name, True) for name in FRAUD_INTS] + [("reject", True)]
# "fraud" is written only when a threshold differs from these (EVENT_FORMAT.md "Campaign
# definition").
FRAUD_DEFAULTS = {"window_s": 600, "ip_lookalike_votes": 50, "subnet_lookalike_votes": 150,
                  "regular_votes": 30, "device_max_voters": 5, "burst_factor": 10,
                  "burst_min_per_minute": 120, "baseline_minutes": 30, "reject": []}


def flag_bit(name):
    """The bit a flag name stands for, or None for a name tally does not write."""
    if name in FLAG_NAMES:
        return FLAG_NAMES.index(name)
    match = BIT_FLAG.match(name)
    if match:
        bit = int(match.group(1))
        # bitN is only for bits without a name, and flags is 32 bits wide.
        if len(FLAG_NAMES) <= bit < FLAGS_BITS:
            return bit
    return None


def check_flags(flags, what):
    if not isinstance(flags, list):
        raise Invalid(f'{what}: "flags" is not an array')
    last = -1
    for name in flags:
        bit = flag_bit(name) if isinstance(name, str) else None
        if bit is None:
            raise Invalid(f"{what}: unknown flag {json.dumps(name, ensure_ascii=False)}")
        if bit <= last:
            raise Invalid(f"{what}: flags not in bit order")
        last = bit


def check_vote(event):
    what = "vote"
    check_members(event, VOTE_MEMBERS, what)
    need_str(event, "campaign", what)
    need_str(event, "candidate", what)
    need_tag(event, "voter", what)
    for name in ("device", "ip", "request_id"):
        if name in event:
            need_tag(event, name, what)
    if "ua" in event:
        need_str(event, "ua", what)
        if event["ua"] == "":
            # An empty user agent is no user agent: the writer leaves it out.
            raise Invalid('vote: "ua" is present but empty')
    if "ts" in event:
        need_int(event, "ts", what)
    need_int(event, "server_ms", what)
    need_int(event, "period", what)
    check_flags(event["flags"], what)


def check_time(definition, name, offset):
    text = definition[name]
    match = RFC3339.match(text) if isinstance(text, str) else None
    if not match:
        raise Invalid(f'campaign: "{name}" is not YYYY-MM-DDTHH:MM:SS[.mmm](Z|+HH:MM)')
    if match.group("ms") == ".000":
        raise Invalid(f'campaign: "{name}" writes zero milliseconds')
    written = match.group("offset")
    if written != ("Z" if offset == "+00:00" else offset):
        raise Invalid(f'campaign: "{name}" is not in the campaign\'s utc_offset')
    try:
        rfc3339_ms(text)
    except ValueError:
        raise Invalid(f'campaign: "{name}" is not a valid date and time') from None


def check_definition(definition):
    what = "campaign"
    check_members(definition, DEFINITION_MEMBERS, what)
    need_str(definition, "id", what)
    need_str(definition, "title", what)
    offset = definition["utc_offset"]
    if not (isinstance(offset, str) and UTC_OFFSET.match(offset)) or offset == "-00:00":
        raise Invalid('campaign: "utc_offset" is not +HH:MM or -HH:MM')
    check_time(definition, "opens_at", offset)
    check_time(definition, "closes_at", offset)

    rules = definition["rules"]
    check_members(rules, RULES_MEMBERS, "campaign rules")
    if rules["period"] not in ("day", "campaign"):
        raise Invalid('campaign rules: "period" is neither "day" nor "campaign"')
    need_int(rules, "max_votes_per_candidate", "campaign rules")
    need_int(rules, "max_candidates", "campaign rules")

    candidates = definition["candidates"]
    if not isinstance(candidates, list):
        raise Invalid('campaign: "candidates" is not an array')
    ids = set()
    for candidate in candidates:
        check_members(candidate, CANDIDATE_MEMBERS, "campaign candidate")
        for name, _ in CANDIDATE_MEMBERS:
            need_str(candidate, name, "campaign candidate")
        # Two candidates of one id would leave "the votes of candidate X" two meanings.
        if candidate["id"] in ids:
            raise Invalid("campaign: candidate id "
                          f"{json.dumps(candidate['id'], ensure_ascii=False)} is repeated")
        ids.add(candidate["id"])

    if "expected_voters" in definition:
        need_int(definition, "expected_voters", what)
        if definition["expected_voters"] == 0:
            raise Invalid('campaign: "expected_voters" is present but 0')
    if "fraud" in definition:
        fraud = definition["fraud"]
        check_members(fraud, FRAUD_MEMBERS, "campaign fraud")
        for name in FRAUD_INTS:
            need_int(fraud, name, "campaign fraud")
        reject = fraud["reject"]
        if not isinstance(reject, list):
            raise Invalid('campaign fraud: "reject" is not an array of reason names')
        last = -1
        for name in reject:
            if not (isinstance(name, str) and name in FLAG_NAMES):
                raise Invalid("campaign fraud: reject holds "
                              f"{json.dumps(name, ensure_ascii=False)}, not a reason name")
            if FLAG_NAMES.index(name) <= last:
                raise Invalid('campaign fraud: "reject" not in bit order, once each')
            last = FLAG_NAMES.index(name)
        if fraud == FRAUD_DEFAULTS:
            raise Invalid('campaign: "fraud" is present but holds the defaults')


def check_epoch(event):
    check_members(event, EPOCH_MEMBERS, "epoch")
    need_str(event, "node", "epoch")
    need_int(event, "epoch", "epoch", 0, UINT64_MAX)
    need_int(event, "server_ms", "epoch")


def need_text(obj, name, what, max_bytes=None):
    """A string member that is not empty (and, with max_bytes, no longer in UTF-8)."""
    value = obj[name]
    if not isinstance(value, str) or value == "":
        raise Invalid(f'{what}: "{name}" is not a string, or is empty')
    if max_bytes is not None and len(value.encode("utf-8", "surrogatepass")) > max_bytes:
        raise Invalid(f'{what}: "{name}" is longer than {max_bytes} bytes')


def check_seqs(event, what, seq):
    """1 to MAX_MARKED_VOTES seqs, ascending, each before the event's own seq."""
    seqs = event["seqs"]
    if not isinstance(seqs, list) or not all(is_int(n, 0, UINT64_MAX) for n in seqs):
        raise Invalid(f'{what}: "seqs" is not an array of non-negative integers')
    if not 1 <= len(seqs) <= MAX_MARKED_VOTES:
        raise Invalid(f"{what}: names {len(seqs)} votes (1 to {MAX_MARKED_VOTES})")
    previous = 0
    for n in seqs:
        if n <= previous or (seq is not None and n >= seq):
            raise Invalid(f"{what}: names seq {n} out of order or not before it")
        previous = n


def check_flag_event(event, seq):
    what = "flag"
    check_members(event, FLAG_MEMBERS, what)
    need_text(event, "campaign", what)
    if not (isinstance(event["reason"], str) and flag_bit(event["reason"]) is not None):
        raise Invalid(f"flag: unknown reason {json.dumps(event['reason'], ensure_ascii=False)}")
    if event["scope"] not in SCOPES:
        raise Invalid('flag: "scope" is not ip, subnet or device')
    need_tag(event, "key", what)
    need_int(event, "server_ms", what)
    check_seqs(event, what, seq)


def check_decision_event(event, seq):
    what = "decision"
    check_members(event, DECISION_MEMBERS, what)
    need_text(event, "campaign", what)
    if event["action"] not in ACTIONS:
        raise Invalid(f"decision: unknown action "
                      f"{json.dumps(event['action'], ensure_ascii=False)}")
    need_text(event, "author", what, MAX_AUTHOR_BYTES)
    need_text(event, "reason", what, MAX_REASON_BYTES)
    need_int(event, "server_ms", what)
    if "candidate" in event:
        need_text(event, "candidate", what)
    if "scope" in event and event["scope"] not in SCOPES:
        raise Invalid('decision: "scope" is not ip, subnet or device')
    if ("scope" in event) != ("key" in event):
        raise Invalid('decision: "scope" and "key" go together')
    if "key" in event:
        need_tag(event, "key", what)
    if event["action"] in VOTE_ACTIONS:
        if "candidate" in event:
            raise Invalid("decision: void or restore naming a candidate")
        if "seqs" not in event:
            raise Invalid("decision: void or restore naming no votes")
        check_seqs(event, what, seq)
    else:
        if "candidate" not in event:
            raise Invalid("decision: disqualify or reinstate without a candidate")
        if "scope" in event or "seqs" in event:
            raise Invalid("decision: disqualify or reinstate naming votes")


def check_public_form(event, seq=None):
    """Checks that a parsed event is the public form of a known kind; seq: its own seq (the
    votes a flag or decision names come before it)."""
    if not isinstance(event, dict):
        raise Invalid("not a JSON object")
    kind = event.get("kind")
    if kind == "vote":
        check_vote(event)
    elif kind == "campaign":
        check_members(event, CAMPAIGN_EVENT_MEMBERS, "campaign event")
        check_definition(event["campaign"])
    elif kind == "epoch":
        check_epoch(event)
    elif kind == "flag":
        check_flag_event(event, seq)
    elif kind == "decision":
        check_decision_event(event, seq)
    else:
        raise Invalid(f"unknown kind {json.dumps(kind, ensure_ascii=False)}")


# ---------------------------------------------------------------------------------------
# Merkle tree (RFC 6962 / RFC 9162 section 2.1)

def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(line):
    return sha256(b"\x00" + line)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


class MerkleRoot:
    """Root of a growing list of leaves, in memory logarithmic in their number.

    The stack holds the roots of perfect subtrees, largest first: the binary decomposition
    of the leaf count. Folding it from the right gives RFC 6962's split at the largest power
    of two below n.
    """

    def __init__(self):
        self.size = 0
        self.stack = []  # [(leaves, hash)]

    def add(self, leaf):
        self.size += 1
        leaves, node = 1, leaf
        while self.stack and self.stack[-1][0] == leaves:
            left_leaves, left = self.stack.pop()
            leaves, node = left_leaves + leaves, node_hash(left, node)
        self.stack.append((leaves, node))

    def root(self):
        if not self.stack:
            return sha256(b"")
        node = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            node = node_hash(left, node)
        return node


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 section 2.1.3.2: does path lead from the leaf at index to root?"""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# ---------------------------------------------------------------------------------------
# Keys and checkpoints (Ed25519 through the openssl command)

def openssl(args, stdin=None):
    try:
        return subprocess.run(["openssl", *args], input=stdin, capture_output=True,
                              check=False)
    except FileNotFoundError:
        print("error: the openssl command is not installed", file=sys.stderr)
        sys.exit(USAGE_ERROR)


PEM_LABEL = re.compile(rb"-----BEGIN ([^-\r\n]*)-----")


def ed25519_public_key(pem_path):
    """The 32 raw bytes of an Ed25519 public key in a PEM file.

    The file holds that key alone: a private key where a public one belongs is a secret
    about to be published, and is refused even beside a public key (which the openssl
    command would pick out of the file).
    """
    try:
        with open(pem_path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise Invalid(f"cannot read {os.path.basename(pem_path)} ({e.strerror})") from None
    labels = PEM_LABEL.findall(pem)
    if any(b"PRIVATE KEY" in label for label in labels):
        raise Invalid(f"{os.path.basename(pem_path)} holds a private key")
    if labels != [b"PUBLIC KEY"]:
        raise Invalid(f"{os.path.basename(pem_path)} is not one PEM public key")
    done = openssl(["pkey", "-pubin", "-inform", "PEM", "-outform", "DER"], stdin=pem)
    der = done.stdout
    if done.returncode != 0 or len(der) != 44 or not der.startswith(ED25519_SPKI_PREFIX):
        raise Invalid(f"{os.path.basename(pem_path)} is not an Ed25519 public key")
    return der[-32:]


def log_id_of(raw_key):
    return hashlib.sha256(raw_key).hexdigest()


def ed25519_verify(pem_path, message, signature):
    # pkeyutl reads message and signature from files: -rawin signs the message itself.
    with tempfile.TemporaryDirectory() as tmp:
        msg_path = os.path.join(tmp, "msg")
        sig_path = os.path.join(tmp, "sig")
        with open(msg_path, "wb") as f:
            f.write(message)
        with open(sig_path, "wb") as f:
            f.write(signature)
        done = openssl(["pkeyutl", "-verify", "-pubin", "-inkey", pem_path, "-rawin",
                        "-in", msg_path, "-sigfile", sig_path])
    return done.returncode == 0


CHECKPOINT_MEMBERS = ["log_id", "size", "root", "time_ms", "signature"]


def check_checkpoint_form(cp, what="checkpoint"):
    if not isinstance(cp, dict):
        raise Invalid(f"{what} is not an object")
    if sorted(cp) != sorted(CHECKPOINT_MEMBERS):
        raise Invalid(f"{what} members are not {', '.join(CHECKPOINT_MEMBERS)}")
    if not (isinstance(cp["log_id"], str) and HEX_HASH.match(cp["log_id"])):
        raise Invalid(f"{what} log_id is not 64 lowercase hex digits")
    if not is_int(cp["size"], 0, UINT64_MAX):
        raise Invalid(f"{what} size is not a non-negative integer")
    if not (isinstance(cp["root"], str) and HEX_HASH.match(cp["root"])):
        raise Invalid(f"{what} root is not 64 lowercase hex digits")
    if not is_int(cp["time_ms"]):
        raise Invalid(f"{what} time_ms is not an integer")
    if not (isinstance(cp["signature"], str) and HEX_SIGNATURE.match(cp["signature"])):
        raise Invalid(f"{what} signature is not 128 lowercase hex digits")


def checkpoint_message(cp):
    """The bytes a checkpoint signs (EVENT_FORMAT.md "Checkpoint")."""
    return (f"tally checkpoint v1\n{cp['log_id']}\n{cp['size']}\n{cp['root']}\n"
            f"{cp['time_ms']}\n").encode("ascii")


def verify_checkpoint(cp, pem_path, raw_key, what="checkpoint"):
    check_checkpoint_form(cp, what)
    if cp["log_id"] != log_id_of(raw_key):
        raise Invalid(f"{what} log_id {cp['log_id']} is not the key's {log_id_of(raw_key)}")
    if not ed25519_verify(pem_path, checkpoint_message(cp), bytes.fromhex(cp["signature"])):
        raise Invalid(f"{what} signature does not verify with the key")


def read_json_file(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Invalid(f"cannot read {os.path.basename(path)} ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{os.path.basename(path)} is not UTF-8") from None
    try:
        return parse_json(text)
    except Invalid as e:
        raise Invalid(f"{os.path.basename(path)}: {e}") from None


# ---------------------------------------------------------------------------------------
# Rules replay (bundle step 4)

EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
DAY_MS = 86_400_000


def rfc3339_ms(text):
    """Milliseconds since the Unix epoch of an RFC 3339 time with an offset."""
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return (moment - EPOCH_UTC) // datetime.timedelta(milliseconds=1)


def offset_seconds(text):
    match = UTC_OFFSET.match(text)
    seconds = int(match.group(1)) * 3600 + int(match.group(2)) * 60
    return -seconds if text.startswith("-") else seconds


class Version:
    """A campaign version, with what the replay needs from it precomputed."""

    def __init__(self, definition):
        self.definition = definition
        self.id = definition["id"]
        self.opens_ms = rfc3339_ms(definition["opens_at"])
        self.closes_ms = rfc3339_ms(definition["closes_at"])
        self.offset_ms = offset_seconds(definition["utc_offset"]) * 1000
        self.utc_offset = definition["utc_offset"]
        self.rules = definition["rules"]
        self.candidates = definition["candidates"]
        self.candidate_ids = {c["id"] for c in self.candidates}

    def period_of(self, server_ms):
        if self.rules["period"] == "campaign":
            return 0
        return (server_ms + self.offset_ms) // DAY_MS  # floor division, as the spec says


class CampaignState:
    def __init__(self):
        self.version = None
        self.votes = 0
        self.quota = {}        # (voter tag, period) -> {candidate: votes}
        self.request_ids = {}  # request_id tag -> {UTC day of each vote carrying it}
        self.per_candidate = {}  # candidate -> [votes, suspect, void]
        self.names = {}          # candidate -> name in the last version that had it
        self.disqualified = set()  # candidates set apart by a decision


class BookEntry:
    """What a flag or decision may say of a vote: its campaign and candidate, its fraud
    reasons (bits: its own flags and later flags'), and whether it is void."""

    __slots__ = ("campaign", "candidate", "flags", "voided")

    def __init__(self, campaign, candidate, flags):
        self.campaign, self.candidate, self.flags, self.voided = campaign, candidate, flags, False


class Replay:
    """Replays the lines in seq order and checks the counting rules on tags."""

    def __init__(self):
        self.campaigns = {}
        self.book = {}  # seq of each vote -> BookEntry

    def feed(self, event, seq):
        """Raises Invalid when the event (the line of seq) breaks a rule."""
        if event["kind"] == "campaign":
            self.campaign_version(Version(event["campaign"]))
        elif event["kind"] == "vote":
            self.vote(event, seq)
        elif event["kind"] in ("flag", "decision"):
            self.adjudication(event)
        # An epoch event counts nothing.

    def campaign_version(self, version):
        state = self.campaigns.setdefault(version.id, CampaignState())
        old = state.version
        if old is not None and state.votes > 0:
            # Counting must not change under votes already cast.
            if version.rules != old.rules:
                raise Invalid(f"campaign {version.id}: version changes rules after votes")
            if version.candidates != old.candidates:
                raise Invalid(f"campaign {version.id}: version changes candidates after votes")
            if version.utc_offset != old.utc_offset:
                raise Invalid(f"campaign {version.id}: version changes utc_offset after votes")
        state.version = version
        for candidate in version.candidates:
            state.names[candidate["id"]] = candidate["name"]

    def adjudication(self, event):
        """A flag or decision: the votes it names are earlier votes of its campaign, and it
        changes each one (a reason the vote lacked; void a vote that counts, restore a void
        one); the candidate it names is one of the campaign's, and changes state."""
        kind, campaign = event["kind"], event["campaign"]
        state = self.campaigns.get(campaign)
        if state is None:
            raise Invalid(f"{kind} for campaign {campaign} before any version of it")
        action = event.get("action")
        if kind == "decision" and action not in VOTE_ACTIONS:
            candidate = event["candidate"]
            if candidate not in state.version.candidate_ids:
                raise Invalid(f"decision names candidate {candidate} unknown to campaign "
                              f"{campaign}")
            disqualify = action == "disqualify"
            if (candidate in state.disqualified) == disqualify:
                raise Invalid(f"decision changes nothing: candidate {candidate} is already "
                              f"{'disqualified' if disqualify else 'in the running'}")
            if disqualify:
                state.disqualified.add(candidate)
            else:
                state.disqualified.discard(candidate)
            return
        bit = 1 << flag_bit(event["reason"]) if kind == "flag" else 0
        votes = []
        for seq in event["seqs"]:
            entry = self.book.get(seq)
            if entry is None or entry.campaign != campaign:
                raise Invalid(f"{kind} names seq {seq}, which is not a vote of {campaign}")
            if kind == "flag" and entry.flags & bit:
                raise Invalid(f"flag gives seq {seq} the reason {event['reason']}, which it "
                              f"has")
            if kind == "decision" and entry.voided == (action == "void"):
                raise Invalid(f"decision changes nothing for seq {seq}: already "
                              f"{'void' if entry.voided else 'counted'}")
            votes.append(entry)
        for entry in votes:
            counts = state.per_candidate[entry.candidate]
            if kind == "flag":
                if entry.flags == 0:
                    counts[1] += 1  # suspect from now on
                entry.flags |= bit
            else:
                entry.voided = action == "void"
                counts[2] += 1 if entry.voided else -1

    def vote(self, event, seq):
        campaign = event["campaign"]
        state = self.campaigns.get(campaign)
        if state is None:
            raise Invalid(f"vote for campaign {campaign} before any version of it")
        version = state.version
        candidate = event["candidate"]
        if candidate not in version.candidate_ids:
            raise Invalid(f"vote for candidate {candidate} unknown to campaign {campaign}")
        server_ms = event["server_ms"]
        if not version.opens_ms <= server_ms < version.closes_ms:
            raise Invalid(f"vote at server_ms {server_ms} outside the campaign window")
        period = version.period_of(server_ms)
        if event["period"] != period:
            raise Invalid(f"vote period {event['period']} is not {period}")
        self.check_quota(state, version.rules, event["voter"], period, candidate)
        if "request_id" in event:
            self.check_request_id(state, event["request_id"], server_ms)

        state.votes += 1
        counts = state.per_candidate.setdefault(candidate, [0, 0, 0])
        counts[0] += 1
        flags = 0
        for name in event["flags"]:
            flags |= 1 << flag_bit(name)
        if flags:
            counts[1] += 1
        self.book[seq] = BookEntry(campaign, candidate, flags)

    @staticmethod
    def check_quota(state, rules, voter, period, candidate):
        votes = state.quota.setdefault((voter, period), {})
        votes[candidate] = votes.get(candidate, 0) + 1
        if votes[candidate] > rules["max_votes_per_candidate"]:
            raise Invalid(f"voter {voter} votes for {candidate} more than "
                          f"{rules['max_votes_per_candidate']} times in period {period}")
        if len(votes) > rules["max_candidates"]:
            raise Invalid(f"voter {voter} votes for more than {rules['max_candidates']} "
                          f"candidates in period {period}")

    @staticmethod
    def check_request_id(state, request_id, server_ms):
        # An earlier vote (in the log) holds a request id for its UTC day and the two after
        # it. Server time need not grow along the log: an earlier vote of a later day does
        # not count, one of the same day or one or two days before does.
        day = server_ms // DAY_MS
        days = state.request_ids.setdefault(request_id, set())
        for before in range(REQUEST_ID_DAYS):
            if day - before in days:
                raise Invalid(f"request_id {request_id} repeats that of an earlier vote of "
                              f"UTC day {day - before} (this vote's UTC day {day})")
        days.add(day)


# ---------------------------------------------------------------------------------------
# Recount (bundle step 5)

def recount(state, campaign, size):
    """The results tally would publish for a campaign, from the replayed votes."""
    rows = []
    listed = set()

    def row(candidate_id, name):
        votes, suspect, void = state.per_candidate.get(candidate_id, [0, 0, 0])
        return {"id": candidate_id, "name": name, "votes": votes, "suspect": suspect,
                "void": void, "valid": votes - min(void, votes),
                "disqualified": candidate_id in state.disqualified}

    for candidate in state.version.candidates:
        listed.add(candidate["id"])
        rows.append(row(candidate["id"], candidate["name"]))
    for candidate_id in state.per_candidate:
        if candidate_id not in listed:  # step 4 keeps this from happening
            rows.append(row(candidate_id, state.names.get(candidate_id, "")))
    running = [r for r in rows if not r["disqualified"]]
    for r in rows:
        # Competition ranking by valid votes among the candidates in the running: equal
        # counts share a rank, the next rank skips; a disqualified candidate has rank 0.
        r["rank"] = 0 if r["disqualified"] else \
            1 + sum(1 for other in running if other["valid"] > r["valid"])
    rows.sort(key=lambda r: (r["disqualified"], -r["valid"], r["id"]))
    return {"campaign": campaign, "as_of_seq": size,
            "total": sum(r["votes"] for r in rows),
            "suspect": sum(r["suspect"] for r in rows),
            "void": sum(r["void"] for r in rows),
            "valid": sum(r["valid"] for r in rows), "candidates": rows}


def compare_results(expected, published):
    """The first difference between the recount and results.json, or None."""
    if not isinstance(published, dict):
        return "results.json is not an object"
    for name in ("campaign", "as_of_seq", "total", "suspect", "void", "valid"):
        if published.get(name) != expected[name] or not same_type(published.get(name),
                                                                  expected[name]):
            return (f"results.json {name} is {json.dumps(published.get(name))}, "
                    f"recount gives {json.dumps(expected[name], ensure_ascii=False)}")
    rows = published.get("candidates")
    if not isinstance(rows, list):
        return "results.json candidates is not an array"
    for i, want in enumerate(expected["candidates"]):
        if i >= len(rows):
            return f"results.json lists {len(rows)} candidates, recount gives " \
                   f"{len(expected['candidates'])}"
        got = rows[i]
        if not isinstance(got, dict):
            return f"results.json candidate {i + 1} is not an object"
        if got.get("id") != want["id"]:
            return (f"results.json candidate {i + 1} is "
                    f"{json.dumps(got.get('id'), ensure_ascii=False)}, recount gives "
                    f"{json.dumps(want['id'], ensure_ascii=False)} (order or set differs)")
        for name in ("name", "votes", "suspect", "void", "valid", "rank", "disqualified"):
            if got.get(name) != want[name] or not same_type(got.get(name), want[name]):
                return (f"results.json candidate {want['id']} {name} is "
                        f"{json.dumps(got.get(name), ensure_ascii=False)}, recount gives "
                        f"{json.dumps(want[name], ensure_ascii=False)}")
    if len(rows) != len(expected["candidates"]):
        return f"results.json lists {len(rows)} candidates, recount gives " \
               f"{len(expected['candidates'])}"
    return None


def csv_field(text):
    """A CSV field: quoted only when it holds , " CR or LF, with " doubled inside."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def results_csv(state, expected):
    """The bytes results.csv must be (EVENT_FORMAT.md "Bundle" step 5)."""
    latest = {c["id"]: c for c in state.version.candidates}
    out = ["rank,candidate,name,unit,industry,votes,suspect,void,valid,disqualified\n"]
    for row in expected["candidates"]:
        info = latest.get(row["id"], {})
        # A disqualified candidate has no rank, and "yes" under disqualified.
        fields = ["" if row["disqualified"] else str(row["rank"]), csv_field(row["id"]),
                  csv_field(row["name"]), csv_field(info.get("unit", "")),
                  csv_field(info.get("industry", "")), str(row["votes"]), str(row["suspect"]),
                  str(row["void"]), str(row["valid"]), "yes" if row["disqualified"] else ""]
        out.append(",".join(fields) + "\n")
    return "".join(out).encode("utf-8")


def compare_csv(expected, published):
    """The first difference between results.csv and the recount's CSV, or None."""
    if published == expected:
        return None
    if published.startswith(b"\xef\xbb\xbf"):
        return "results.csv starts with a byte order mark"
    want, got = expected.split(b"\n"), published.split(b"\n")
    for number, (a, b) in enumerate(zip(want, got), start=1):
        if a != b:
            shown = b.decode("utf-8", "replace")
            return (f"results.csv line {number} is {json.dumps(shown, ensure_ascii=False)}, "
                    f"the recount's {json.dumps(a.decode('utf-8'), ensure_ascii=False)}")
    return (f"results.csv has {len(got) - 1} lines, the recount's CSV "
            f"{len(want) - 1}")


def same_type(a, b):
    # 1 == True in Python; results carry integers, never booleans.
    return type(a) is type(b)


# ---------------------------------------------------------------------------------------
# Bundle

def read_lines(path):
    """Yields (line number, bytes without the newline); a last line without one is None."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                yield number, None
                return
            yield number, raw[:-1]


def step1_key_and_checkpoint(bundle, pinned_pem):
    pem = os.path.join(bundle, "log-key.pem")
    try:
        raw_key = ed25519_public_key(pem)
        if pinned_pem is not None:
            try:
                pinned_key = ed25519_public_key(pinned_pem)
            except Invalid as e:
                raise Invalid(f"the key given with --key: {e}") from None
            if raw_key != pinned_key:
                raise Invalid(f"log-key.pem (log id {log_id_of(raw_key)}) is not the key "
                              f"given with --key (log id {log_id_of(pinned_key)})")
        cp = read_json_file(os.path.join(bundle, "checkpoint.json"))
        verify_checkpoint(cp, pem, raw_key)
    except Invalid as e:
        raise Failure(1, 0, str(e)) from None
    return cp


def steps2_to_4_lines(bundle, size):
    """Reads log.ndjson once: form (step 2), root (step 3) and rules (step 4).

    A rule failure is kept, not raised, until the lines' form and root hold: the steps
    are reported in order even though one pass computes all three.
    """
    path = os.path.join(bundle, "log.ndjson")
    if not os.path.isfile(path):
        raise Failure(2, 0, "log.ndjson is missing")
    tree = MerkleRoot()
    replay = Replay()
    rule_failure = None
    count = 0
    for number, raw in read_lines(path):
        if number > size:
            raise Failure(2, number, f"log.ndjson has more lines than the checkpoint size "
                                     f"{size}")
        if raw is None:
            raise Failure(2, number, "line does not end with a newline (0x0A)")
        try:
            event = parse_canonical(raw)
            check_public_form(event, number)
        except Invalid as e:
            raise Failure(2, number, str(e)) from None
        count = number
        tree.add(leaf_hash(raw))
        if rule_failure is None:
            try:
                replay.feed(event, number)
            except Invalid as e:
                rule_failure = Failure(4, number, str(e))
    if count < size:
        raise Failure(2, count + 1, f"log.ndjson ends after {count} lines, the checkpoint "
                                    f"size is {size}")
    return tree.root(), replay, rule_failure


def step5_results(bundle, replay, size):
    try:
        published = read_json_file(os.path.join(bundle, "results.json"))
    except Invalid as e:
        raise Failure(5, 0, str(e)) from None
    campaign = published.get("campaign") if isinstance(published, dict) else None
    if not isinstance(campaign, str):
        raise Failure(5, 0, "results.json names no campaign")
    state = replay.campaigns.get(campaign)
    if state is None:
        raise Failure(5, 0, f"campaign {campaign} has no version in log.ndjson")
    expected = recount(state, campaign, size)
    difference = compare_results(expected, published)
    if difference:
        raise Failure(5, 0, difference)
    # results.csv, when present, says the same byte for byte.
    csv_path = os.path.join(bundle, "results.csv")
    if os.path.lexists(csv_path):
        try:
            with open(csv_path, "rb") as f:
                published_csv = f.read()
        except OSError as e:
            raise Failure(5, 0, f"cannot read results.csv ({e.strerror})") from None
        difference = compare_csv(results_csv(state, expected), published_csv)
        if difference:
            raise Failure(5, 0, difference)
    return campaign


def verify_bundle(bundle, pinned_pem=None):
    """Checks a bundle as EVENT_FORMAT.md "Bundle" says; returns the summary line.

    pinned_pem: the path of the log's key as obtained apart from the bundle, or None.
    """
    cp = step1_key_and_checkpoint(bundle, pinned_pem)
    size = cp["size"]
    root, replay, rule_failure = steps2_to_4_lines(bundle, size)
    if root.hex() != cp["root"]:
        raise Failure(3, 0, f"root of the lines is {root.hex()}, the checkpoint says "
                            f"{cp['root']}")
    if rule_failure is not None:
        raise rule_failure
    campaign = step5_results(bundle, replay, size)
    return f"bundle verifies: {size} events, root {cp['root']}, campaign {campaign}"


# ---------------------------------------------------------------------------------------
# Receipt

RECEIPT_MEMBERS = ["seq", "leaf", "event", "proof", "checkpoint"]


def check_receipt_form(receipt):
    if not isinstance(receipt, dict) or sorted(receipt) != sorted(RECEIPT_MEMBERS):
        raise Invalid(f"receipt members are not {', '.join(RECEIPT_MEMBERS)}")
    if not is_int(receipt["seq"], 1, UINT64_MAX):
        raise Invalid("seq is not a positive integer")
    if not (isinstance(receipt["leaf"], str) and HEX_HASH.match(receipt["leaf"])):
        raise Invalid("leaf is not 64 lowercase hex digits")
    proof = receipt["proof"]
    if not isinstance(proof, dict) or sorted(proof) != ["hashes", "size"]:
        raise Invalid("proof members are not size, hashes")
    if not is_int(proof["size"], 0, UINT64_MAX):
        raise Invalid("proof size is not a non-negative integer")
    hashes = proof["hashes"]
    if not (isinstance(hashes, list)
            and all(isinstance(h, str) and HEX_HASH.match(h) for h in hashes)):
        raise Invalid("proof hashes are not 64 lowercase hex digits each")


def check_receipt_against_bundle(receipt, bundle, pem, raw_key):
    """The bundle's line at seq is the receipt's event; its checkpoint extends the receipt's."""
    receipt_cp = receipt["checkpoint"]
    try:
        bundle_cp = read_json_file(os.path.join(bundle, "checkpoint.json"))
        verify_checkpoint(bundle_cp, pem, raw_key, "bundle checkpoint")
    except Invalid as e:
        raise Failure("receipt", 0, str(e)) from None
    if bundle_cp["size"] < receipt_cp["size"]:
        raise Failure("receipt", 0, f"bundle checkpoint size {bundle_cp['size']} is below "
                                    f"the receipt's {receipt_cp['size']}")
    path = os.path.join(bundle, "log.ndjson")
    if not os.path.isfile(path):
        raise Failure("receipt", 0, "bundle has no log.ndjson")
    # The bundle extends the receipt's tree when its first receipt-size lines have the
    # receipt's root and all its lines have its own root.
    seq, tree = receipt["seq"], MerkleRoot()
    line_leaf = prefix_root = None
    for number, raw in read_lines(path):
        if raw is None or number > bundle_cp["size"]:
            raise Failure("receipt", 0, f"bundle log.ndjson is malformed at line {number}")
        leaf = leaf_hash(raw)
        tree.add(leaf)
        if number == seq:
            line_leaf = leaf
        if number == receipt_cp["size"]:
            prefix_root = tree.root()
    if tree.size != bundle_cp["size"] or tree.root().hex() != bundle_cp["root"]:
        raise Failure("receipt", 0, "bundle log.ndjson does not match its own checkpoint")
    if line_leaf is None or line_leaf.hex() != receipt["leaf"]:
        raise Failure("receipt", 0, f"bundle line {seq} is not the receipt's event")
    if prefix_root is None or prefix_root.hex() != receipt_cp["root"]:
        raise Failure("receipt", 0, "bundle checkpoint does not extend the receipt's "
                                    f"(root of its first {receipt_cp['size']} lines differs)")


def verify_receipt(path, pem, bundle=None):
    """Checks a receipt as EVENT_FORMAT.md "Receipt" says; returns the summary line."""
    def fail(reason):
        return Failure("receipt", 0, reason)

    try:
        raw_key = ed25519_public_key(pem)
        receipt = read_json_file(path)
        check_receipt_form(receipt)
        cp = receipt["checkpoint"]
        verify_checkpoint(cp, pem, raw_key)
        check_public_form(receipt["event"], receipt["seq"])
        event_bytes = canonical_bytes(receipt["event"])
    except Invalid as e:
        raise fail(str(e)) from None
    seq, proof = receipt["seq"], receipt["proof"]
    leaf = leaf_hash(event_bytes)
    if leaf.hex() != receipt["leaf"]:
        raise fail(f"leaf {receipt['leaf']} is not the hash of the event ({leaf.hex()})")
    if proof["size"] != cp["size"]:
        raise fail(f"proof size {proof['size']} is not the checkpoint size {cp['size']}")
    if seq > cp["size"]:
        raise fail(f"seq {seq} is beyond the checkpoint size {cp['size']}")
    path_hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    if not verify_inclusion(leaf, seq - 1, cp["size"], path_hashes, bytes.fromhex(cp["root"])):
        raise fail(f"proof does not lead from leaf {seq - 1} to the checkpoint root")
    if bundle is not None:
        check_receipt_against_bundle(receipt, bundle, pem, raw_key)
    where = f", in bundle {bundle}" if bundle is not None else ""
    return f"receipt verifies: seq {seq}, leaf {leaf.hex()}, root {cp['root']}{where}"


# ---------------------------------------------------------------------------------------
# Command line

class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def build_parser():
    parser = Parser(prog="tally_verify.py",
                    description="Verify tally public log bundles and voter receipts.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    bundle = commands.add_parser("bundle", help="verify a published bundle directory")
    bundle.add_argument("dir")
    bundle.add_argument("--key", help="PEM public key the bundle's log-key.pem must be")
    receipt = commands.add_parser("receipt", help="verify a voter's receipt")
    receipt.add_argument("file")
    receipt.add_argument("--key", required=True, help="the log's PEM public key")
    receipt.add_argument("--bundle", help="a bundle the receipt's event must be in")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "bundle":
            if not os.path.isdir(args.dir):
                parser.error(f"{args.dir} is not a directory")
            if args.key is not None and not os.path.isfile(args.key):
                parser.error(f"{args.key} is not a file")
            print(verify_bundle(args.dir, args.key))
        else:
            if not os.path.isfile(args.file):
                parser.error(f"{args.file} is not a file")
            if not os.path.isfile(args.key):
                parser.error(f"{args.key} is not a file")
            if args.bundle is not None and not os.path.isdir(args.bundle):
                parser.error(f"{args.bundle} is not a directory")
            print(verify_receipt(args.file, args.key, args.bundle))
    except Failure as failure:
        print(failure.report())
        return VERIFY_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
