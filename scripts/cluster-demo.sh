#!/usr/bin/env bash
# A replica group on this machine: three nats-servers with JetStream (store dirs with
# synchronous writes), two tallyds (a primary and a standby) with the demo campaign, and
# HAProxy in front, all on loopback. Prints the gateway URL; Ctrl-C stops everything.
#   bash scripts/cluster-demo.sh
# TALLY_CLUSTER_DIR (default /var/tmp/tally-cluster-demo) holds the data; TALLY_GATEWAY
# (default 127.0.0.1:8080) is where HAProxy listens. docs/CLUSTER.md explains what runs.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$TALLY_ROOT/scripts/build.sh"
root="${TALLY_CLUSTER_DIR:-/var/tmp/tally-cluster-demo}"
gateway="${TALLY_GATEWAY:-127.0.0.1:8080}"
mkdir -p "$root"
bin="$TALLY_ROOT/build/bin"
pids=()
stop_all() {
  trap - INT TERM EXIT
  echo "cluster-demo: stopping" >&2
  # Standbys and HAProxy first, the primary last (it hands its lease on), NATS at the end.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

# Client, cluster and monitoring ports of the three servers.
routes="nats-route://127.0.0.1:16221, nats-route://127.0.0.1:16222, nats-route://127.0.0.1:16223"
urls="nats://127.0.0.1:14221,nats://127.0.0.1:14222,nats://127.0.0.1:14223"
for i in 1 2 3; do
  store="$root/nats-$i"
  bash "$TALLY_ROOT/deploy/nats/check-store-dir.sh" "$store"
  cat > "$root/nats-$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:1422$i
http: 127.0.0.1:1822$i
jetstream { store_dir: "$store", max_file_store: 8G, max_memory_store: 64M }
cluster { name: tally-demo, listen: 127.0.0.1:1622$i, routes: [$routes] }
CONF
  nats-server -c "$root/nats-$i.conf" >> "$root/nats-$i.log" 2>&1 &
  pids=("$!" "${pids[@]}")
done
for i in 1 2 3; do
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:1822$i/healthz" > /dev/null && break
    sleep 0.1
  done
done
echo "cluster-demo: 3 nats-servers up; store dirs: $(lsattr -d "$root"/nats-[123] | awk '{print $1}' | tr '\n' ' ')" >&2

# One tokens file for both nodes: a frontend's token must work on whichever is primary. It
# holds digests (tallyctl token new); the demo keeps its tokens' plaintext beside it, as tallyd
# keeps the tokens it generates, so that a second run can print a working curl line.
tokens="$root/tokens.json"
shown="$root/tokens.generated"
if [ ! -f "$tokens" ] || [ ! -f "$shown" ]; then
  rm -f "$tokens"
  ingest="$("$bin/tallyctl" token new --kind ingest --tokens "$tokens" 2>/dev/null)"
  admin="$("$bin/tallyctl" token new --kind admin --tokens "$tokens" 2>/dev/null)"
  (umask 077 && printf '{"ingest":["%s"],"admin":["%s"]}\n' "$ingest" "$admin" > "$shown")
fi
# The shard's public log keys, one set for both nodes (docs/CLUSTER.md "Log keys").
keys="$root/log-keys"
[ -d "$keys" ] || "$bin/tallyctl" log-keys new --out "$keys" > /dev/null
for node in a b; do
  port=$([ "$node" = a ] && echo 8081 || echo 8082)
  "$bin/tallyd" --data-dir "$root/data-$node" --listen "127.0.0.1:$port" --node "$node" \
    --cluster "$urls" --tokens "$tokens" --log-keys "$keys" --demo >> "$root/tallyd-$node.log" 2>&1 &
  pids=("$!" "${pids[@]}")
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" > /dev/null && break
    sleep 0.1
  done
done

# The gateway as deploy/ has it, on loopback, sized for a shell's open-file limit.
sed -e "s/bind 127.0.0.1:8080/bind $gateway/" -e 's/maxconn 20000/maxconn 2000/' \
    -e '/^    server c /d' -e 's/10.0.0.1:8080/127.0.0.1:8081/' -e 's/10.0.0.2:8080/127.0.0.1:8082/' \
    -e 's/^    log stdout.*$//' -e 's/^    option httplog$//' -e 's/^    log global$//' \
    "$TALLY_ROOT/deploy/haproxy/haproxy.cfg" > "$root/haproxy.cfg"
haproxy -f "$root/haproxy.cfg" >> "$root/haproxy.log" 2>&1 &
pids=("$!" "${pids[@]}")
for _ in $(seq 100); do
  curl -fs "http://$gateway/readyz" > /dev/null && break
  sleep 0.1
done
token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ingest"][0])' "$shown")"
cat <<TEXT

Gateway (HAProxy, writes to the primary): http://$gateway
  curl -sS -H 'Authorization: Bearer $token' -d '{"campaign":"ordos-2023-zuimei","candidate":"c01","voter":"demo-voter-1"}' http://$gateway/v1/votes
  curl -sS http://$gateway/v1/cluster          # which node answered, its role, epoch and lag
  curl -sS http://127.0.0.1:8081/v1/cluster    # node a; node b is on 8082
Kill the primary (kill -9 the tallyd whose /v1/cluster says "primary") and vote again: the
standby takes over within seconds. Start the killed node again with the line in
$root/restart-NODE.sh: it comes back as a standby. Logs and data: $root. Ctrl-C stops
everything.

TEXT
for node in a b; do
  port=$([ "$node" = a ] && echo 8081 || echo 8082)
  echo "exec '$bin/tallyd' --data-dir '$root/data-$node' --listen 127.0.0.1:$port --node $node --cluster '$urls' --tokens '$tokens' --log-keys '$keys' --demo >> '$root/tallyd-$node.log' 2>&1" > "$root/restart-$node.sh"
done
# Until Ctrl-C: a node killed on purpose does not end the demo.
while :; do sleep 3600 & wait $! || true; done
