#!/usr/bin/env bash
# deploy/nats/check-store-dir.sh, which nats-server-tally.service and scripts/cluster-demo.sh
# run before nats-server: an empty store dir gets synchronous writes (+S), a dir that has them
# passes, a dir that holds data without them is refused. Needs ext4 (chattr +S) under TMPDIR.
set -euo pipefail
check="$(dirname "$0")/../../deploy/nats/check-store-dir.sh"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
if ! chattr +S "$root" 2>/dev/null; then
  echo "SKIP: $root's file system has no +S attribute"
  exit 0
fi
chattr -S "$root"

bash "$check" "$root/new"
lsattr -d "$root/new" | awk '{print $1}' | grep -q S || { echo "FAIL: a new dir did not get +S"; exit 1; }
bash "$check" "$root/new" || { echo "FAIL: a dir with +S was refused"; exit 1; }

mkdir "$root/unsafe"
echo data > "$root/unsafe/stream.blk"
if bash "$check" "$root/unsafe" 2> "$root/err"; then
  echo "FAIL: a dir with data and without +S was let through"
  exit 1
fi
grep -q "no synchronous writes" "$root/err" || { echo "FAIL: no reason given"; cat "$root/err"; exit 1; }
lsattr -d "$root/unsafe" | awk '{print $1}' | grep -vq S || { echo "FAIL: +S set on a dir with data"; exit 1; }
echo "ok: new dir made synchronous, synchronous dir kept, unsafe dir with data refused"
