#!/usr/bin/env bash
# Makes sure a JetStream store dir has synchronous writes (ext4's +S attribute) before
# nats-server starts on it, and refuses to start otherwise. An empty or new dir gets the
# attribute (new files and subdirectories inherit it); a dir that already holds data but lacks
# it is reported and refused: files written without it may not be on disk, and setting it now
# would not change them.
#   check-store-dir.sh DIR
set -euo pipefail
dir="${1:?usage: check-store-dir.sh STORE_DIR}"
mkdir -p "$dir"
has_sync() { lsattr -d "$1" 2>/dev/null | awk '{print $1}' | grep -q S; }
if has_sync "$dir"; then
  exit 0
fi
if [ -z "$(ls -A "$dir")" ]; then
  if chattr +S "$dir" 2>/dev/null && has_sync "$dir"; then
    echo "check-store-dir: $dir now has synchronous writes (chattr +S)" >&2
    exit 0
  fi
  echo "check-store-dir: $dir: cannot set synchronous writes (chattr +S needs ext2/3/4);" \
       "use a file system mounted with -o sync" >&2
  mount_opts="$(findmnt -no OPTIONS --target "$dir" || true)"
  case ",$mount_opts," in *,sync,*) exit 0 ;; esac
  exit 1
fi
echo "check-store-dir: $dir holds data but has no synchronous writes (lsattr shows no S):" \
     "acknowledged votes may be in page cache only. Move the data away, chattr +S the empty" \
     "dir, and let the node catch up from the others." >&2
exit 1
