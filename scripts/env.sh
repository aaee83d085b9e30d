# Shared by the build, test and demo scripts: where to build and how ccache is keyed.
# Sourced, not run.
TALLY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CCACHE_BASEDIR="$TALLY_ROOT"  # paths relative to the checkout: fresh clones hit the cache
export CCACHE_NOHASHDIR=1
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
TALLY_JOBS="${TALLY_JOBS:-2}"

# tally_configure BUILD_DIR [cmake args...]: configures a Ninja build of the checkout.
tally_configure() {
  local dir="$1"
  shift
  cmake -S "$TALLY_ROOT" -B "$dir" -G Ninja "$@" >/dev/null
}
