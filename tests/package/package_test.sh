#!/usr/bin/env bash
# The Debian package on a fresh Debian 12, under a real systemd: builds the package
# (scripts/package.sh), makes a minimal bookworm root (debootstrap, cached), boots it with
# systemd-nspawn, installs the package there with apt, and checks what an operator would:
#   - the package starts tallyd.service (Type=notify: active only once tallyd said READY=1),
#     as the `tally` user from sysusers.d, with its data dir 0700;
#   - `tallyd --version` names this checkout's revision; the man pages and units are installed;
#   - `systemd-analyze security` scores the running unit under 2;
#   - the demo campaign served through the unit (config file edited, restart), a vote
#     accepted, SIGHUP through `systemctl reload`, a drained stop (exit 0) and `tallyctl
#     verify` on the data dir; the log lines in the journal, each with its priority.
# Where systemd cannot boot a container it installs the package in a chroot, checks the files
# and the offline security score, and exits 77 (skipped) saying why.
#   tests/package/package_test.sh SOURCE_DIR
set -euo pipefail

source_dir="$(cd "${1:-$(dirname "$0")/../..}" && pwd)"
cache="${TALLY_TEST_CACHE:-/var/cache/tally-test}"
base="$cache/bookworm-minbase.tar"
work="$(mktemp -d /var/tmp/tally-package-test.XXXXXX)"
root="$work/root"
machine="tally-pkg-$$"
nspawn_pid=""

say() { echo "package_test: $*" >&2; }
fail() {
  say "FAILED: $*"
  if [ -n "${container_pid:-}" ]; then
    say "the journal of tallyd.service:"
    inside journalctl -u tallyd.service --no-pager -n 40 >&2 || true
  fi
  exit 1
}

cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill "$nspawn_pid" 2>/dev/null || true   # nspawn halts the container on SIGTERM
    for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$nspawn_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

for tool in debootstrap systemd-nspawn nsenter; do
  command -v "$tool" >/dev/null || fail "$tool missing: run scripts/install-deps.sh"
done

say "building the package"
deb="$(bash "$source_dir/scripts/package.sh" | tail -1)"
[ -f "$deb" ] || fail "scripts/package.sh made no package"
revision="$(git -C "$source_dir" describe --always --dirty --abbrev=12 --exclude='*')"

if [ ! -f "$base" ]; then
  say "making a minimal Debian 12 root (cached in $base)"
  mkdir -p "$cache"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,ca-certificates \
    bookworm "$work/base" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  tar -C "$work/base" -cf "$base.partial" . && mv "$base.partial" "$base"
  rm -rf "$work/base"
fi
mkdir -p "$root"
tar -C "$root" -xf "$base"
cp "$deb" "$root/var/tmp/tally.deb"
cp /etc/resolv.conf "$root/etc/resolv.conf"

# The package's dependencies come from Debian's archive: fetched here, before the container
# boots without a network of its own, so that its tallyd's port cannot meet the host's.
say "fetching the package's dependencies"
chroot "$root" apt-get update -qq
chroot "$root" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --download-only /var/tmp/tally.deb >/dev/null

# Runs a command inside the booted container.
inside() { nsenter --target "$container_pid" --all -- "$@"; }

descendants() {
  local child
  for child in $(pgrep -P "$1" || true); do
    echo "$child"
    descendants "$child"
  done
}

boot() {
  systemd-nspawn --directory "$root" --boot --machine "$machine" --register=no --keep-unit \
    --private-network --console=pipe >"$work/nspawn.log" 2>&1 &
  nspawn_pid=$!
  # The container's init: the first process named systemd below nspawn.
  for _ in $(seq 1 100); do
    for pid in $(descendants "$nspawn_pid"); do
      if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ]; then
        container_pid=$pid
        break
      fi
    done
    [ -n "${container_pid:-}" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || return 1
    sleep 0.2
  done
  [ -n "${container_pid:-}" ] || return 1
  for _ in $(seq 1 150); do
    state="$(inside systemctl is-system-running 2>/dev/null || true)"
    case "$state" in running | degraded) return 0 ;; esac
    sleep 0.2
  done
  return 1
}

installed_checks() {  # RUN: how to run a command in the installed system
  local run=("$@")
  local version
  version="$("${run[@]}" tallyd --version)"
  [ "$version" = "tallyd 0.1.0 (revision $revision)" ] ||
    fail "tallyd --version said '$version', expected revision $revision"
  for file in /usr/lib/systemd/system/tallyd.service /usr/lib/sysusers.d/tally.conf \
    /etc/tally/tallyd.conf /usr/share/man/man8/tallyd.8 /usr/share/man/man1/tallyctl.1 \
    /usr/share/tally/deploy/prometheus/rules.yml /usr/share/doc/tally/README.md; do
    [ -f "$root$file" ] || fail "$file not installed"
  done
  grep -qx 'ExecStart=/usr/bin/tallyd --config /etc/tally/tallyd.conf' \
    "$root/usr/lib/systemd/system/tallyd.service" || fail "the unit's ExecStart"
  "${run[@]}" getent passwd tally >/dev/null || fail "no tally user"
}

# "Overall exposure level for tallyd.service: 1.6 OK" -> 1.6, checked under 2.
check_exposure() {
  local report=$1 score
  score="$(sed -n 's/.*Overall exposure level for tallyd.service: \([0-9.]*\).*/\1/p' <<<"$report")"
  [ -n "$score" ] || fail "no score in: $report"
  say "systemd-analyze security: $score"
  awk -v s="$score" 'BEGIN { exit !(s < 2.0) }' ||
    { grep '✗' <<<"$report" >&2; fail "exposure $score is not under 2"; }
}

if ! boot; then
  say "SKIPPED the service checks: systemd could not boot a container here"
  tail -5 "$work/nspawn.log" >&2 || true
  kill "$nspawn_pid" 2>/dev/null || true
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=""
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /var/tmp/tally.deb >/dev/null
  installed_checks chroot "$root"
  check_exposure "$(systemd-analyze security --offline=true --root="$root" tallyd.service 2>&1)"
  exit 77
fi

say "installing the package in the booted container"
inside env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /var/tmp/tally.deb >/dev/null
installed_checks inside

# The postinst started it; Type=notify makes `active` mean tallyd said READY=1.
for _ in $(seq 1 150); do
  [ "$(inside systemctl is-active tallyd.service || true)" = active ] && break
  sleep 0.2
done
[ "$(inside systemctl is-active tallyd.service || true)" = active ] ||
  { inside systemctl status tallyd.service --no-pager >&2 || true; fail "tallyd.service not active"; }
inside systemctl is-enabled tallyd.service | grep -qx enabled || fail "tallyd.service not enabled"
status_line="$(inside systemctl show -p StatusText --value tallyd.service)"
[[ "$status_line" == "serving on http://127.0.0.1:8080 as of seq "* ]] ||
  fail "the unit's status is '$status_line'"
[ "$(inside stat -c '%U %a' /var/lib/tally)" = "tally 700" ] ||
  fail "/var/lib/tally is $(inside stat -c '%U %a' /var/lib/tally)"
main_pid="$(inside systemctl show -p MainPID --value tallyd.service)"
user="$(inside stat -c %U "/proc/$main_pid")"
[ "$user" = tally ] || fail "tallyd runs as '$user'"
check_exposure "$(inside systemd-analyze security tallyd.service 2>&1)"

say "serving the demo through the unit"
echo 'demo = true' | inside tee -a /etc/tally/tallyd.conf >/dev/null
inside systemctl restart tallyd.service || fail "restart with demo = true"
# tokens.json holds digests; the generated tokens are shown once, in tokens.generated.
if inside grep -Eq '"(ingest|admin|read)-' /var/lib/tally/tokens.json; then
  fail "tokens.json holds a token in plaintext"
fi
token="$(inside sed -n 's/.*"ingest": *\["\([^"]*\)".*/\1/p' /var/lib/tally/tokens.generated)"
[ -n "$token" ] || fail "no ingest token in /var/lib/tally/tokens.generated"
campaign="$(inside sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' /usr/share/tally/campaigns/demo.json | head -1)"
answer="$(inside curl -s -H "Authorization: Bearer $token" \
  -d "{\"campaign\":\"$campaign\",\"candidate\":\"c07\",\"voter\":\"wx-package-test\",\"device\":\"d-1\",\"ip\":\"203.0.113.5\"}" \
  http://127.0.0.1:8080/v1/votes)"
[[ "$answer" == *'"status":"accepted"'* ]] || fail "the vote was answered $answer"
tally="$(inside curl -s "http://127.0.0.1:8080/v1/campaigns/$campaign/tally")"
[[ "$tally" == *'"total":1'* ]] || fail "the tally is $tally"
# The sandbox leaves tallyd its own /proc entries: enough for every process_* figure.
metrics="$(inside curl -s http://127.0.0.1:8080/metrics)"
for name in process_open_fds process_max_fds process_start_time_seconds \
  process_resident_memory_bytes process_cpu_seconds_total; do
  grep -q "^$name " <<<"$metrics" || fail "no $name in /metrics under the unit's sandbox"
done
# A campaign PUT with an ingest token is refused and logged as a warning.
refused="$(inside curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $token" \
  --data-binary @/usr/share/tally/campaigns/demo.json "http://127.0.0.1:8080/v1/campaigns/$campaign")"
[ "$refused" = 403 ] || fail "a campaign PUT with an ingest token was answered $refused"
inside systemctl reload tallyd.service || fail "systemctl reload"
inside systemctl stop tallyd.service || fail "systemctl stop"
[ "$(inside systemctl show -p ExecMainStatus --value tallyd.service)" = 0 ] ||
  fail "tallyd stopped with status $(inside systemctl show -p ExecMainStatus --value tallyd.service)"
inside runuser -u tally -- tallyctl verify --data-dir /var/lib/tally >/dev/null ||
  fail "tallyctl verify on the service's data dir"
# An upgrade (here a reinstall) restarts only what runs: the stopped service stays stopped.
inside env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall \
  /var/tmp/tally.deb >/dev/null
[ "$(inside systemctl is-active tallyd.service || true)" = inactive ] ||
  fail "a reinstall started the stopped tallyd.service"
journal="$(inside journalctl -u tallyd.service --no-pager -o cat)"
for line in "tallyd ready" "tokens reloaded" "tallyd stopped drained=true"; do
  grep -q "$line" <<<"$journal" || fail "no '$line' in the journal"
done
# Each line with its own priority (tallyd writes to the journal, not through stderr).
warnings="$(inside journalctl -u tallyd.service --no-pager -o cat --priority warning)"
grep -q "campaign refused" <<<"$warnings" || fail "the refused PUT is not a warning: $warnings"
if grep -q "tallyd ready" <<<"$warnings"; then fail "the ready line is logged as a warning"; fi
say "passed: installed, started under systemd, served the demo, stopped drained"
