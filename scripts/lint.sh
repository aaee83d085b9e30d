#!/usr/bin/env bash
# The checks CI runs before it builds: every C++ file laid out as the repository's
# .clang-format says (clang-format 14, Debian 12's), and every include and link inside the
# module graph (scripts/check_layering.py). Fix a format failure with:
#   git ls-files '*.cc' '*.h' | xargs clang-format-14 -i
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$TALLY_ROOT"
bash scripts/install-deps.sh
git ls-files -z '*.cc' '*.h' | xargs -0 clang-format-14 --dry-run -Werror
echo "format: every C++ file as .clang-format lays it out"
python3 scripts/check_layering.py
