#!/usr/bin/env python3
"""A realistic peak of a union's WeChat vote, sent to a real tallyd, and how much of each group's
votes the fraud signals flag (docs/FRAUD.md "A realistic trace").

The trace is one fraud window (600 s of real time, the default `window_s`) at the campaign's
evening peak, played against a tallyd that this script starts with a campaign of its own (the
demo's 20 candidates, window open now, period day, one vote per candidate, ten candidates per
voter, default fraud thresholds). Every group has its ground truth; once the run is over the
export says which of its accepted votes carry a flag.

  python3 bench/fraud/trace.py [--seed N] [--scale X] [--duration S] [--out DIR] [--enforce]

Time. The fraud signals use server time, so the ballots are sent in real time, compressed from
600 s to --duration (default 180 s) with their relative timing kept. Everything falls inside one
window either way, so the look-alike counts (`ip_flood`), the gap statistics (a coefficient of
variation does not change when all gaps shrink by one factor) and the distinct voters per device
(per period) are those of the real 600 s. Only per-minute rates grow by 600/duration; `burst`
needs five minutes of per-minute history on the server, so a run shorter than that never
exercises it. Ballots go as single votes over --connections keep-alive connections (a gateway's
pool), each with a request_id, a `ts` (the page's clock) and the `ip` the frontend saw.

Addresses come from the documentation and benchmarking ranges (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, 198.18.0.0/15, 2001:db8::/32): tally treats them like any other. Voter ids look
like WeChat openids ("o" and 27 URL-safe characters); devices are per-install ids, 32 hex digits
(the page's fingerprint: a phone reinstalling nothing keeps it, two phones never share it).

User agents are the real ones of corpus/user_agents.cc, read from that file:
- Android WeChat carries a per-install `MMWEBID/<n>` (four digits or fewer) and the network
  (`NetType/WIFI|4G|5G`): each Android voter gets the corpus agent of a phone model drawn by
  Chinese market share (Huawei+Honor 30 %, vivo 19 %, OPPO+OnePlus 18 %, Xiaomi 16 %, others
  a few %; builds before WeChat 8 a tenth as often), a random install number and the network of
  the group. Two Android voters almost never send the same string.
- iPhone WeChat carries no install id and no model: the string is iOS version x WeChat build x
  network. The corpus's iPhone iOS versions and WeChat builds for iOS are combined, newer ones
  more often (each older version 0.6 times the next newer one, each older build 0.55 times),
  so the commonest string holds about a fifth of the iPhones on one network. Every look-alike
  cluster of honest traffic is made of such iPhones (and of desktop WeChat in the office): they
  are what an `ip_flood` threshold must leave alone.
- Desktop WeChat and WeCom (the office) are the corpus's Windows, Mac and WeCom agents as they
  are, newer builds more often.
- Scripted clients take the corpus's scripted and headless agents.
iPhones are 28 % of the phones (their share of WeChat users in China is a little above their
share of phones).

The groups (counts at --scale 1, about 28,000 ballots; --scale multiplies every count except the
farm's ten emulators and each phone group's 30-60 accounts):
- carrier_nat: 5,000 voters on mobile data. 85 % are behind eight carrier-grade NAT IPv4
  addresses in four /24s (a mobile carrier with four addresses in two /24s, 60 % of voters; two
  others with two each, 22 % and 18 %), a voter keeping one address for the session, as port-block
  NAT does; the other 15 % come over IPv6, one /64 per phone (3GPP gives each phone its own
  prefix). Network 4G or 5G (55/45). Arrivals are a Poisson process over the window (uniform
  times); each voter ticks k candidates (k = 1 for 40 %, mean 2.9, at most the campaign's 10),
  chosen by Zipf (s = 1) over a fixed popularity order, a tap every 1-6 s. 2 % tap one candidate
  again (a new request_id: `duplicate`), 0.5 % of ballots are resent by the gateway with the same
  request_id (`duplicate` too).
- home: 2,000 households on home broadband, one address each (70 % IPv4, scattered over the
  ISP's pool; 30 % IPv6, a /64 per household, a privacy address per phone), 1-3 voters
  (45/35/20 %), each on the home Wi-Fi with a phone of their own. The first member arrives by
  Poisson; 60 % of the others vote within two minutes of them, and half of the others copy the
  first member's choices.
- office: a mobilised unit of 500 colleagues behind its two egress addresses (a Telecom and a
  Unicom line in different /24s, 55/45 by connection). The union representative posts in the
  unit's WeChat group at 150 s; colleagues answer after a log-normal delay (median 90 s, most
  within five minutes). 80 % vote for their own unit's candidate, 60 % of them for nobody
  else. Phones as above on Wi-Fi, but a third of the Android colleagues carry the unit's common
  model (a bulk purchase: one corpus model, still a different install number each); 12 % vote
  from desktop WeChat or WeCom on their office PC, whose strings have no install id. 6 % also
  vote for one or two family members on their own phone (same device, address and agent, the
  same choices, about a minute later): the sharing that `device_multi_account` must allow.
- farm: an emulator farm delivering a bought package for one candidate at a steady pace: 600
  accounts in the window (about one vote a second, 60 accounts per emulator, which WeChat's own
  checks on account switching keep farms near), ten emulator instances (device ids) cycling
  their accounts, behind four addresses of one /24 (emulator i uses address i mod 4), one copied
  Android WeChat agent for all, each account voting once. Clockwork: each emulator votes every
  8.3 s with 1 % jitter, the ten in fixed phases, from 90 s to 590 s.
- phone_groups: six groups (one phone operated by hand, 30-60 bought accounts on it) of one
  device and one address each, every account voting once for the group's candidate; an account
  switch every 6-15 s (log-normal, median 9 s). Half are on mobile data behind the carriers' NAT
  addresses (mixed with the honest crowd), half on a home line of their own. Half are iPhones,
  whose agent is drawn like an honest iPhone's and so may equal honest voters' strings.
- scripted: four scripts, 1,200 ballots together, each for a brushed candidate, fresh accounts:
  a Python library client (python-requests, urllib, aiohttp or httpx) through a residential
  proxy pool (a new address and a fabricated device per ballot); an HTTP tool (curl, Wget,
  okhttp, Go, Java, axios, node-fetch, Postman, Scrapy) from one server with no device; a
  headless browser (Headless Chrome, PhantomJS, Puppeteer, Playwright, Selenium) with a fresh
  profile (device) per account over ten proxies; a replayer sending a copied WeChat iPhone agent
  without a device, over twenty proxies.

Output (--out DIR): campaign.json, tokens.json, data/ (the log), tallyd.log, ballots.ndjson (each
ballot: group, what was sent, when, the answer's status and seq), export.ndjson (`tallyctl
export`), results.json, and the table on stdout. A vote counts as flagged if its own `flags` are
not empty or a later `flag` event names its seq (see late_flags()). Targets are checked and
printed PASS/FAIL; the exit status is 0 unless --enforce and a target is missed (1), or the run
itself failed (2). --analyse DIR recomputes results.json from a finished run's files.
"""
import argparse
import collections
import datetime
import hashlib
import http.client
import json
import math
import os
import platform
import queue
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
WINDOW_S = 600.0           # the trace's span in real time: one default fraud window
CAMPAIGN_ID = "peak-trace"
REASONS = ["ip_flood", "device_multi_account", "burst", "no_device", "bot_ua"]
HONEST = ("carrier_nat", "home", "office")
GROUPS = ("carrier_nat", "home", "office", "farm", "phone_groups", "scripted")

# Targets for the late flags (DESIGN.md "Adjudication"), on this trace once the run is over:
# (group, what is counted, comparison, percent).
TARGETS = [
    ("farm", "votes", ">=", 95.0),
    ("phone_groups", "votes", ">=", 95.0),
    ("scripted", "votes", ">=", 95.0),
    ("carrier_nat", "voters", "<=", 3.0),
    ("home", "voters", "<=", 1.0),
    ("office", "voters", "<=", 20.0),
]

# Popularity order of the 20 candidates (rank 1 first), the same for every seed.
POPULARITY = ["c03", "c07", "c11", "c01", "c16", "c05", "c09", "c14", "c02", "c19",
              "c06", "c10", "c04", "c13", "c17", "c08", "c20", "c12", "c15", "c18"]
OFFICE_CANDIDATE = "c09"               # the mobilised unit's own colleague
FARM_CANDIDATE = "c20"
BRUSHED = ["c12", "c15", "c18"]        # phone groups' and scripts' candidates
# Candidates a voter ticks: k = 1..10.
K_WEIGHTS = [40, 20, 13, 8, 6, 3, 2, 2, 2, 4]
OPENID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


# ---- the corpus of real user agents ----

def read_corpus(path):
    """[(kind, description, agent)] from corpus/user_agents.cc, adjacent literals joined."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    literal = r'"(?:[^"\\]|\\.)*"'
    entry = re.compile(r"\{AgentKind::(\w+),((?:\s*" + literal + r")+)\s*,((?:\s*" + literal +
                       r")+)\s*\}")

    def joined(literals):
        return "".join(json.loads(s) for s in re.findall(literal, literals))

    samples = [(m.group(1), joined(m.group(2)), joined(m.group(3))) for m in entry.finditer(text)]
    if len(samples) < 20:
        raise SystemExit(f"{path}: only {len(samples)} user agents found")
    return samples


def geometric_weights(n, ratio):
    return [ratio ** i for i in range(n)]


def version_key(text):
    return [int(x) for x in re.findall(r"\d+", text)]


class Agents:
    """Draws user agents from the corpus as described in the module's docstring."""

    MAKERS = [("huawei", 15.0), ("honor", 15.0), ("vivo", 19.0), ("oppo", 14.0), ("oneplus", 4.0),
              ("redmi", 10.0), ("xiaomi", 6.0), ("samsung", 2.0), ("motorola", 1.0)]

    def __init__(self, corpus):
        self.android = []
        weights = []
        by_maker = collections.Counter()
        makers = []
        for kind, description, agent in corpus:
            if kind != "wechat_android":
                continue
            lower = description.lower()
            maker = next((m for m, _ in self.MAKERS if m in lower), None)
            if maker is None:
                continue
            version = version_key(re.search(r"MicroMessenger/([\d.]+)", agent).group(1))
            old = version < [8] or "Language/zh_CN" not in agent
            self.android.append((description, agent))
            makers.append((maker, old))
            by_maker[maker] += 1
        share = dict(self.MAKERS)
        for maker, old in makers:
            weights.append(share[maker] / by_maker[maker] * (0.1 if old else 1.0))
        self.android_weights = weights

        apple = [a for k, _, a in corpus if k in ("wechat_ios", "mini_program")]
        iphone = [a for a in apple if "iPhone OS" in a]
        ios_all = [a for a in apple if "MicroMessenger/8" in a and ("iPhone" in a or "iPad" in a)]
        self.ios_versions = sorted({re.search(r"iPhone OS (\S+) like", a).group(1) for a in iphone},
                                   key=version_key, reverse=True)
        self.ios_builds = sorted({re.search(r"MicroMessenger/(\S+)", a).group(1) for a in ios_all},
                                 key=version_key, reverse=True)
        self.ios_version_weights = geometric_weights(len(self.ios_versions), 0.6)
        self.ios_build_weights = geometric_weights(len(self.ios_builds), 0.55)
        self.ios_template = next(a for k, _, a in corpus if k == "wechat_ios" and "iPhone OS" in a
                                 and "miniProgram" not in a)

        def newest_first(kinds):
            found = [a for k, _, a in corpus if k in kinds]
            return found, geometric_weights(len(found), 0.6)

        self.windows, self.windows_weights = newest_first(("wechat_windows",))
        self.mac, self.mac_weights = newest_first(("wechat_mac",))
        self.wecom, self.wecom_weights = newest_first(("wecom",))
        self.scripted = [a for k, _, a in corpus if k == "scripted"]
        self.headless = [a for k, _, a in corpus if k == "headless"]

    @staticmethod
    def with_network(agent, network):
        return re.sub(r"NetType/\w+", "NetType/" + network, agent)

    def android_agent(self, rng, network, model=None):
        if model is None:
            model = rng.choices(range(len(self.android)), self.android_weights)[0]
        agent = self.android[model][1]
        agent = re.sub(r"MMWEBID/\d+", "MMWEBID/%d" % rng.randint(1, 9999), agent)
        return self.with_network(agent, network)

    def iphone_agent(self, rng, network):
        ios = rng.choices(self.ios_versions, self.ios_version_weights)[0]
        build = rng.choices(self.ios_builds, self.ios_build_weights)[0]
        agent = re.sub(r"iPhone OS \S+ like", "iPhone OS %s like" % ios, self.ios_template)
        agent = re.sub(r"MicroMessenger/\S+", "MicroMessenger/" + build, agent)
        return self.with_network(agent, network)

    def phone_agent(self, rng, network, office_model=None):
        if rng.random() < 0.28:
            return self.iphone_agent(rng, network)
        model = office_model if office_model is not None and rng.random() < 1 / 3 else None
        return self.android_agent(rng, network, model)

    def desk_agent(self, rng):
        pick = rng.random()
        if pick < 0.55:
            return rng.choices(self.windows, self.windows_weights)[0]
        if pick < 0.75:
            return rng.choices(self.mac, self.mac_weights)[0]
        return rng.choices(self.wecom, self.wecom_weights)[0]


# ---- the trace ----

class Ids:
    def __init__(self, rng):
        self.rng = rng

    def openid(self):
        return "o" + "".join(self.rng.choice(OPENID_ALPHABET) for _ in range(27))

    def device(self):
        return "%032x" % self.rng.getrandbits(128)

    def request(self):
        return "%032x" % self.rng.getrandbits(128)


def zipf_choices(rng, k, exclude=()):
    """k distinct candidates by Zipf (s = 1) over POPULARITY, without those in `exclude`."""
    pool = [(c, 1.0 / (rank + 1)) for rank, c in enumerate(POPULARITY) if c not in exclude]
    chosen = []
    for _ in range(min(k, len(pool))):
        total = sum(w for _, w in pool)
        x = rng.random() * total
        for i, (c, w) in enumerate(pool):
            x -= w
            if x <= 0 or i == len(pool) - 1:
                chosen.append(c)
                del pool[i]
                break
    return chosen


def ballot(group, sub, due, voter, candidate, ip, ua, device, request_id):
    return {"group": group, "sub": sub, "due": due, "voter": voter, "candidate": candidate,
            "ip": ip, "ua": ua, "device": device, "request_id": request_id}


def human_taps(rng, ids, group, sub, arrival, voter, choices, ip, ua, device):
    """A voter's ballots: one tap per chosen candidate, 1-6 s apart; sometimes a second tap on
    one of them (new request_id) or a gateway's resend (same request_id)."""
    out = []
    t = min(arrival, WINDOW_S - 1)
    for i, candidate in enumerate(choices):
        if i:
            t += rng.uniform(1, 6)
        out.append(ballot(group, sub, t, voter, candidate, ip, ua, device, ids.request()))
    if rng.random() < 0.02:
        again = dict(rng.choice(out), due=t + rng.uniform(1, 3), request_id=ids.request())
        out.append(again)
    for b in list(out):
        if rng.random() < 0.005:
            out.append(dict(b, due=b["due"] + rng.uniform(2, 5)))
    return out


def voter_k(rng):
    return rng.choices(range(1, 11), K_WEIGHTS)[0]


def rng_for(seed, name):
    return random.Random(f"{seed}/{name}")


def scaled(n, scale, least=1):
    return max(least, int(round(n * scale)))


CARRIER_NAT = [  # (address, share of the IPv4 voters)
    ("198.18.10.17", 0.15), ("198.18.10.18", 0.15), ("198.18.11.33", 0.15), ("198.18.11.34", 0.15),
    ("198.18.20.5", 0.11), ("198.18.20.6", 0.11), ("198.18.30.9", 0.09), ("198.18.30.10", 0.09)]
OFFICE_ADDRESSES = ["192.0.2.10", "198.51.100.77"]
FARM_ADDRESSES = ["203.0.113.21", "203.0.113.22", "203.0.113.23", "203.0.113.24"]


def ipv6_in(rng, prefix64):
    return prefix64 + ":" + ":".join("%x" % rng.getrandbits(16) for _ in range(4))


def new_prefix64(rng, tag):
    return "2001:db8:%x:%x" % (tag, rng.getrandbits(16))


class HomeAddresses:
    """Distinct home broadband addresses scattered over 198.19.0.0/16."""

    def __init__(self, rng):
        self.rng = rng
        self.used = set()

    def take(self):
        while True:
            ip = "198.19.%d.%d" % (self.rng.randrange(256), self.rng.randrange(1, 255))
            if ip not in self.used:
                self.used.add(ip)
                return ip


def carrier_nat(seed, scale, agents, homes):
    rng = rng_for(seed, "carrier_nat")
    ids = Ids(rng)
    out = []
    addresses, shares = zip(*CARRIER_NAT)
    for _ in range(scaled(5000, scale, 50)):
        network = "4G" if rng.random() < 0.55 else "5G"
        if rng.random() < 0.85:
            ip = rng.choices(addresses, shares)[0]
            sub = "ipv4"
        else:
            ip = ipv6_in(rng, new_prefix64(rng, 0x1000 + rng.randrange(3)))
            sub = "ipv6"
        out += human_taps(rng, ids, "carrier_nat", sub, rng.uniform(0, WINDOW_S), ids.openid(),
                          zipf_choices(rng, voter_k(rng)), ip, agents.phone_agent(rng, network),
                          ids.device())
    return out


def home(seed, scale, agents, homes):
    rng = rng_for(seed, "home")
    ids = Ids(rng)
    out = []
    for _ in range(scaled(2000, scale, 20)):
        members = rng.choices([1, 2, 3], [45, 35, 20])[0]
        v6 = rng.random() < 0.30
        prefix = new_prefix64(rng, 0x2000) if v6 else None
        ip4 = None if v6 else homes.take()
        first = rng.uniform(0, WINDOW_S)
        first_choices = zipf_choices(rng, voter_k(rng))
        for m in range(members):
            arrival = first
            choices = first_choices
            if m:
                near = rng.random() < 0.6
                arrival = first + rng.uniform(0, 120) if near else rng.uniform(0, WINDOW_S)
                if rng.random() >= 0.5:
                    choices = zipf_choices(rng, voter_k(rng))
            ip = ipv6_in(rng, prefix) if v6 else ip4
            out += human_taps(rng, ids, "home", "ipv6" if v6 else "ipv4", arrival, ids.openid(),
                              choices, ip, agents.phone_agent(rng, "WIFI"), ids.device())
    return out


def office(seed, scale, agents, homes):
    rng = rng_for(seed, "office")
    ids = Ids(rng)
    out = []
    common_model = rng.choices(range(len(agents.android)), agents.android_weights)[0]
    posted = 150.0
    for _ in range(scaled(500, scale, 40)):
        arrival = min(posted + rng.lognormvariate(math.log(90), 0.8), WINDOW_S - 10)
        ip = OFFICE_ADDRESSES[0] if rng.random() < 0.55 else OFFICE_ADDRESSES[1]
        own = rng.random() < 0.8
        if own:
            others = 0 if rng.random() < 0.6 else voter_k(rng)
            choices = [OFFICE_CANDIDATE] + zipf_choices(rng, min(others, 9), [OFFICE_CANDIDATE])
        else:
            choices = zipf_choices(rng, voter_k(rng))
        desk = rng.random() < 0.12
        ua = agents.desk_agent(rng) if desk else agents.phone_agent(rng, "WIFI", common_model)
        device = ids.device()
        sub = "desktop" if desk else "phone"
        out += human_taps(rng, ids, "office", sub, arrival, ids.openid(), choices, ip, ua, device)
        if not desk and rng.random() < 0.06:
            for k in range(rng.randint(1, 2)):
                later = arrival + 40 + 30 * k + rng.uniform(0, 30)
                out += human_taps(rng, ids, "office", "family", later, ids.openid(), choices, ip, ua,
                                  device)
    return out


def farm(seed, scale, agents, homes):
    rng = rng_for(seed, "farm")
    ids = Ids(rng)
    accounts = scaled(600, scale, 60)
    emulators = 10
    agent = rng.choice(agents.android)[1]   # one real agent, copied as it is
    devices = [ids.device() for _ in range(emulators)]
    start, end = 90.0, WINDOW_S - 10
    period = emulators * (end - start) / accounts
    out = []
    for n in range(accounts):
        e = n % emulators
        due = start + (n // emulators) * period + e * period / emulators + rng.gauss(0, 0.01 * period)
        out.append(ballot("farm", "emulator%d" % e, due, ids.openid(), FARM_CANDIDATE,
                          FARM_ADDRESSES[e % len(FARM_ADDRESSES)], agent, devices[e], ids.request()))
    return out


def phone_groups(seed, scale, agents, homes):
    rng = rng_for(seed, "phone_groups")
    ids = Ids(rng)
    out = []
    addresses, shares = zip(*CARRIER_NAT)
    for g in range(scaled(6, scale, 2)):
        mobile = g % 2 == 0
        network = rng.choice(["4G", "5G"]) if mobile else "WIFI"
        iphone = g % 4 in (0, 3)
        ua = agents.iphone_agent(rng, network) if iphone else agents.android_agent(rng, network)
        ip = rng.choices(addresses, shares)[0] if mobile else homes.take()
        device = ids.device()
        candidate = BRUSHED[g % len(BRUSHED)]
        t = rng.uniform(0, 60)
        sub = "group%d-%s-%s" % (g, "nat" if mobile else "home", "iphone" if iphone else "android")
        for _ in range(rng.randint(30, 60)):
            out.append(ballot("phone_groups", sub, t, ids.openid(), candidate, ip, ua, device,
                              ids.request()))
            t += min(max(rng.lognormvariate(math.log(9), 0.3), 6), 15)
    return out


def scripted(seed, scale, agents, homes):
    rng = rng_for(seed, "scripted")
    ids = Ids(rng)
    out = []

    def proxy():
        return "198.18.%d.%d" % (rng.randrange(128, 200), rng.randrange(1, 255))

    python_ua = rng.choice([a for a in agents.scripted if "ython" in a])
    t = 200.0
    for _ in range(scaled(400, scale, 20)):
        out.append(ballot("scripted", "python-library", t, ids.openid(), "c15", proxy(), python_ua,
                          ids.device(), ids.request()))
        t += rng.uniform(0.5, 1.5)
    tool_ua = rng.choice([a for a in agents.scripted if "ython" not in a])
    server = "198.18.200.15"
    t = 100.0
    for _ in range(scaled(250, scale, 15)):
        out.append(ballot("scripted", "http-tool", t, ids.openid(), "c12", server, tool_ua, None,
                          ids.request()))
        t += 1.0 + rng.gauss(0, 0.005)
    headless_ua = rng.choice(agents.headless)
    proxies = [proxy() for _ in range(10)]
    t = 60.0
    for _ in range(scaled(300, scale, 15)):
        out.append(ballot("scripted", "headless", t, ids.openid(), "c18", rng.choice(proxies),
                          headless_ua, ids.device(), ids.request()))
        t += rng.uniform(1, 2)
    copied = agents.iphone_agent(rng, "WIFI")
    proxies = [proxy() for _ in range(20)]
    t = 150.0
    for _ in range(scaled(250, scale, 15)):
        out.append(ballot("scripted", "replayed-no-device", t, ids.openid(), "c12",
                          rng.choice(proxies), copied, None, ids.request()))
        t += rng.uniform(1, 2)
    return out


def build_trace(seed, scale, agents):
    homes = HomeAddresses(rng_for(seed, "home-addresses"))
    ballots = []
    for make in (carrier_nat, home, office, farm, phone_groups, scripted):
        ballots += make(seed, scale, agents, homes)
    for b in ballots:
        b["due"] = max(b["due"], 0.0)
    ballots.sort(key=lambda b: b["due"])
    return ballots


# ---- tallyd ----

def token_digest(token):
    """A token's entry in tallyd's tokens file, as `tallyctl token hash` prints it."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def campaign_definition(run_seconds):
    """The demo's candidates, open from a minute ago for a day, at the campaign's own UTC+8
    unless the run would cross midnight there (a new period resets the devices' voters); then
    at UTC+2, whose midnight is six hours away."""
    with open(os.path.join(ROOT, "campaigns", "demo.json"), encoding="utf-8") as f:
        campaign = json.load(f)
    now = datetime.datetime.now(datetime.timezone.utc)
    opens = now - datetime.timedelta(seconds=60)
    done = now + datetime.timedelta(seconds=run_seconds + 600)
    hours = 8
    zone = datetime.timezone(datetime.timedelta(hours=hours))
    if opens.astimezone(zone).date() != done.astimezone(zone).date():
        hours = 2
        zone = datetime.timezone(datetime.timedelta(hours=hours))
    campaign.update({
        "id": CAMPAIGN_ID,
        "opens_at": opens.astimezone(zone).isoformat(timespec="seconds"),
        "closes_at": (now + datetime.timedelta(days=1)).astimezone(zone).isoformat(timespec="seconds"),
        "utc_offset": "+%02d:00" % hours,
    })
    campaign.pop("fraud", None)   # default thresholds
    return campaign


class Tallyd:
    def __init__(self, binary, out, campaign_path, demo):
        self.token = "ingest-" + secrets.token_hex(20)
        tokens = os.path.join(out, "tokens.json")
        with open(tokens, "w") as f:
            json.dump({"ingest": [token_digest(self.token)], "admin": []}, f)
        os.chmod(tokens, 0o600)
        self.data_dir = os.path.join(out, "data")
        self.log_path = os.path.join(out, "tallyd.log")
        self.log = open(self.log_path, "w")
        args = [binary, "--data-dir", self.data_dir, "--listen", "127.0.0.1:0", "--tokens", tokens]
        args += ["--demo"] if demo else ["--campaign", campaign_path]
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        self.port = None
        while self.port is None:
            with open(self.log_path) as f:
                found = re.search(r"tallyd ready listen=127\.0\.0\.1:(\d+)", f.read())
            if found:
                self.port = int(found.group(1))
            elif self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("tallyd did not start:\n" + open(self.log_path).read())
            else:
                time.sleep(0.05)

    def get(self, target):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", target)
        answer = connection.getresponse()
        body = answer.read()
        connection.close()
        return answer.status, body

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


def send_all(server, campaign_id, ballots, duration, connections):
    """Sends every ballot at its due time (compressed by duration / WINDOW_S); fills in each
    ballot's `sent_ms`, `status`, `seq` and `http`. Returns the lateness of sends in ms."""
    work = queue.Queue()
    compress = duration / WINDOW_S
    headers = {"Authorization": "Bearer " + server.token, "Content-Type": "application/json"}
    errors = []

    def worker():
        connection = None
        while True:
            b = work.get()
            if b is None:
                return
            body = {"campaign": campaign_id, "candidate": b["candidate"], "voter": b["voter"],
                    "ts": b["ts"], "request_id": b["request_id"]}
            for field in ("device", "ip", "ua"):
                if b[field] is not None:
                    body[field] = b[field]
            payload = json.dumps(body, ensure_ascii=False).encode()
            for attempt in range(5):   # a transport error: resend, the request_id makes it safe
                try:
                    if connection is None:
                        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                    b["sent_ms"] = int(time.time() * 1000)
                    connection.request("POST", "/v1/votes", payload, headers)
                    answer = connection.getresponse()
                    reply = json.loads(answer.read())
                    b["http"] = answer.status
                    b["status"] = reply.get("status")
                    b["seq"] = reply.get("seq")
                    break
                except (OSError, http.client.HTTPException, ValueError) as e:
                    errors.append(repr(e))
                    if connection is not None:
                        connection.close()
                    connection = None
                    time.sleep(0.05 * (attempt + 1))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    start_wall = time.time()
    start = time.monotonic()
    lateness = []
    for b in ballots:
        due = start + b["due"] * compress
        b["ts"] = int((start_wall + b["due"] * compress) * 1000)
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        lateness.append(max(0.0, (time.monotonic() - due) * 1000))
        work.put(b)
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join()
    return lateness, errors


# ---- reading the export ----

def late_flags(event):
    """Later flags (DESIGN.md "Adjudication", late evidence): a `flag` event names the votes cast
    before it and a reason, {"kind":"flag","reason":"ip_flood","votes":[{"seq":12,...},...]}.
    Returns [(seq, reason)]."""
    if event.get("kind") != "flag":
        return []
    return [(int(vote["seq"]), event["reason"]) for vote in event.get("votes", [])]


def read_export(path):
    """{seq: vote event} and {seq: set of reasons from later flag events}."""
    votes = {}
    later = collections.defaultdict(set)
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            event = json.loads(line)
            if event.get("kind") == "vote":
                votes[event["seq"]] = event
            for seq, reason in late_flags(event):
                later[seq].add(reason)
    return votes, later


# ---- results ----

def percent(part, whole):
    return round(100.0 * part / whole, 2) if whole else None


def analyse(ballots, votes, later):
    """Per group: ballots, statuses, accepted votes, % flagged (any reason, at once, later),
    % by reason, voters and % of voters with a flagged vote; and the ground truth's largest
    look-alike clusters (same address or /24 or /64, same agent, same candidate)."""
    groups = {}
    by_request = {v.get("request_id"): s for s, v in votes.items() if v.get("request_id")}
    missing = 0
    for b in ballots:
        g = groups.setdefault(b["group"], {
            "ballots": 0, "statuses": collections.Counter(), "accepted": 0, "flagged": 0,
            "flagged_at_once": 0, "flagged_later_only": 0, "reasons": collections.Counter(),
            "voters": set(), "flagged_voters": set(), "subs": collections.defaultdict(lambda: [0, 0]),
            "ip_cluster": collections.Counter(), "subnet_cluster": collections.Counter()})
        g["ballots"] += 1
        g["statuses"][b.get("status") or "no_answer"] += 1
        if b.get("status") != "accepted":
            continue
        seq = b.get("seq")
        vote = votes.get(seq) or votes.get(by_request.get(b["request_id"]))
        if vote is None:
            missing += 1
            continue
        g["accepted"] += 1
        g["voters"].add(b["voter"])
        own = set(vote.get("flags") or [])
        after = later.get(vote["seq"], set())
        reasons = own | after
        g["subs"][b["sub"]][0] += 1
        if reasons:
            g["flagged"] += 1
            g["flagged_voters"].add(b["voter"])
            g["subs"][b["sub"]][1] += 1
            g["flagged_at_once" if own else "flagged_later_only"] += 1
        for r in reasons:
            g["reasons"][r] += 1
        if b["ip"]:
            g["ip_cluster"][(b["ip"], b["ua"], b["candidate"])] += 1
            g["subnet_cluster"][(subnet(b["ip"]), b["ua"], b["candidate"])] += 1
    results = {}
    for name in GROUPS:
        g = groups.get(name)
        if g is None:
            continue
        results[name] = {
            "ballots": g["ballots"],
            "statuses": dict(g["statuses"]),
            "accepted": g["accepted"],
            "flagged_pct": percent(g["flagged"], g["accepted"]),
            "flagged_at_once_pct": percent(g["flagged_at_once"], g["accepted"]),
            "flagged_later_only_pct": percent(g["flagged_later_only"], g["accepted"]),
            "by_reason_pct": {r: percent(n, g["accepted"]) for r, n in sorted(g["reasons"].items())},
            "voters": len(g["voters"]),
            "voters_flagged_pct": percent(len(g["flagged_voters"]), len(g["voters"])),
            "by_sub": {s: {"accepted": a, "flagged_pct": percent(f, a)}
                       for s, (a, f) in sorted(g["subs"].items())},
            "largest_ip_lookalike": max(g["ip_cluster"].values(), default=0),
            "largest_subnet_lookalike": max(g["subnet_cluster"].values(), default=0),
        }
    return results, missing


def subnet(ip):
    if ":" in ip:
        return ":".join(ip.split(":")[:4]) + "::/64"
    return ip.rsplit(".", 1)[0] + ".0/24"


def check_targets(results):
    verdicts = []
    for group, what, op, limit in TARGETS:
        r = results.get(group)
        value = None if r is None else r["flagged_pct" if what == "votes" else "voters_flagged_pct"]
        ok = value is not None and (value >= limit if op == ">=" else value <= limit)
        verdicts.append({"group": group, "of": what, "target": f"{op} {limit:g} %",
                         "measured_pct": value, "pass": ok})
    return verdicts


def print_table(results, verdicts, out=sys.stdout):
    reasons = sorted({r for g in results.values() for r in g["by_reason_pct"]},
                     key=lambda r: REASONS.index(r) if r in REASONS else len(REASONS))
    header = ["group", "ballots", "accepted", "flagged %", "at once %", "later %"] + \
             [r + " %" for r in reasons] + ["voters", "voters flagged %"]
    rows = [header]
    for name, g in results.items():
        rows.append([name, str(g["ballots"]), str(g["accepted"]), fmt(g["flagged_pct"]),
                     fmt(g["flagged_at_once_pct"]), fmt(g["flagged_later_only_pct"])] +
                    [fmt(g["by_reason_pct"].get(r, 0.0)) for r in reasons] +
                    [str(g["voters"]), fmt(g["voters_flagged_pct"])])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for i, row in enumerate(rows):
        cells = [c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells), file=out)
    print(file=out)
    for v in verdicts:
        print("%-4s %-12s %-6s flagged %-7s measured %s" % (
            "PASS" if v["pass"] else "FAIL", v["group"], v["of"], v["target"],
            fmt(v["measured_pct"])), file=out)


def fmt(value):
    return "-" if value is None else "%.1f" % value


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "system": platform.platform(),
            "python": platform.python_version()}


def version_of(binary):
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def write_ndjson(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def finish(out, ballots, meta, enforce):
    votes, later = read_export(os.path.join(out, "export.ndjson"))
    results, missing = analyse(ballots, votes, later)
    verdicts = check_targets(results)
    meta = dict(meta, export_votes=len(votes), votes_with_later_flags=len(later),
                accepted_not_in_export=missing)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "groups": results, "targets": verdicts}, f, indent=2)
    print_table(results, verdicts)
    if missing:
        print(f"error: {missing} accepted ballots are not in the export", file=sys.stderr)
        return 2
    return 1 if enforce and not all(v["pass"] for v in verdicts) else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    bin_dir = os.path.join(ROOT, "build", "bin")
    parser.add_argument("--tallyd", default=os.path.join(bin_dir, "tallyd"))
    parser.add_argument("--tallyctl", default=os.path.join(bin_dir, "tallyctl"))
    parser.add_argument("--corpus", default=os.path.join(ROOT, "corpus", "user_agents.cc"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the ballots (default 1)")
    parser.add_argument("--duration", type=float, default=180.0,
                        help="real seconds the 600 s trace is played in (default 180)")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections (default 4)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait after the last answer before stopping tallyd")
    parser.add_argument("--out", help="directory for the run's files (default: a new one in /tmp)")
    parser.add_argument("--demo", action="store_true",
                        help="use tallyd's --demo campaign instead of the trace's own")
    parser.add_argument("--enforce", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--analyse", metavar="DIR",
                        help="recompute results.json from a finished run in DIR (no tallyd)")
    args = parser.parse_args()

    if args.analyse:
        with open(os.path.join(args.analyse, "ballots.ndjson"), encoding="utf-8") as f:
            ballots = [json.loads(line) for line in f if line.strip()]
        with open(os.path.join(args.analyse, "results.json")) as f:
            meta = json.load(f)["meta"]
        return finish(args.analyse, ballots, meta, args.enforce)

    out = args.out or tempfile.mkdtemp(prefix="tally-trace-")
    os.makedirs(out, exist_ok=True)
    if os.path.exists(os.path.join(out, "data")):
        raise SystemExit(f"{out}/data exists: choose a fresh --out")
    agents = Agents(read_corpus(args.corpus))
    ballots = build_trace(args.seed, args.scale, agents)
    counts = collections.Counter(b["group"] for b in ballots)
    print(f"trace: seed {args.seed}, scale {args.scale:g}, {len(ballots)} ballots "
          f"({', '.join(f'{g} {counts[g]}' for g in GROUPS)}), 600 s played in {args.duration:g} s; "
          f"files in {out}", flush=True)

    campaign = campaign_definition(args.duration)
    campaign_path = os.path.join(out, "campaign.json")
    with open(campaign_path, "w", encoding="utf-8") as f:
        json.dump(campaign, f, ensure_ascii=False, indent=1)
    campaign_id = "ordos-2023-zuimei" if args.demo else CAMPAIGN_ID

    server = Tallyd(args.tallyd, out, campaign_path, args.demo)
    began = time.time()
    try:
        lateness, errors = send_all(server, campaign_id, ballots, args.duration, args.connections)
        time.sleep(args.settle)
        status, body = server.get(f"/v1/campaigns/{campaign_id}/tally")
        tally = json.loads(body) if status == 200 else {}
    finally:
        rc = server.stop()
    elapsed = time.time() - began
    write_ndjson(os.path.join(out, "ballots.ndjson"), ballots)
    with open(os.path.join(out, "export.ndjson"), "w", encoding="utf-8") as f:
        exported = subprocess.run([args.tallyctl, "export", "--data-dir", server.data_dir,
                                   "--campaign", campaign_id, "--no-progress"],
                                  stdout=f, stderr=subprocess.PIPE, text=True)
    if exported.returncode != 0:
        print("tallyctl export failed: " + exported.stderr, file=sys.stderr)
        return 2
    lateness.sort()
    statuses = collections.Counter(b.get("status") or "no_answer" for b in ballots)
    meta = {
        "seed": args.seed, "scale": args.scale, "duration_s": args.duration,
        "window_s": WINDOW_S, "connections": args.connections, "ballots": len(ballots),
        "statuses": dict(statuses), "elapsed_s": round(elapsed, 1),
        "send_lateness_ms": {"p50": round(lateness[len(lateness) // 2], 2),
                             "p99": round(lateness[int(len(lateness) * 0.99)], 2),
                             "max": round(lateness[-1], 2)} if lateness else None,
        "transport_errors": len(errors), "tallyd_exit": rc,
        "tally": {"total": tally.get("total"), "suspect": tally.get("suspect")},
        "campaign": campaign_id, "utc_offset": campaign["utc_offset"],
        "tallyd": args.tallyd, "tallyd_version": version_of(args.tallyd),
        "machine": machine(), "finished_at": datetime.datetime.now(datetime.timezone.utc)
        .isoformat(timespec="seconds"),
    }
    print(f"sent in {elapsed:.1f} s; answers {dict(statuses)}; send lateness p99 "
          f"{meta['send_lateness_ms']['p99'] if lateness else '-'} ms; transport errors {len(errors)}; "
          f"tally total {tally.get('total')} suspect {tally.get('suspect')}", flush=True)
    return finish(out, ballots, meta, args.enforce)


if __name__ == "__main__":
    sys.exit(main())
