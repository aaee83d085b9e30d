#!/usr/bin/env python3
"""Fails when a module includes or links past the module graph that README.md ("Layout") draws.

The graph is data (ALLOWED below): each library folder may include and link only itself and
the modules listed for it. A module's `internal/` headers and its private `src/` folder are
its own; tests, benchmarks and fuzzers may reach them, mains in apps/ may not. Run from
anywhere: python3 scripts/check_layering.py
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Library folder -> the modules it may include and link. Mains (apps/) may use every library.
ALLOWED = {
    "base": set(),
    "corpus": set(),
    "engine": {"base"},
    "publog": {"base", "engine"},
    "storage": {"base", "engine", "publog"},
    "ingest": {"base", "engine", "publog"},
    "metrics": {"base", "engine"},
    "cluster": {"base", "engine", "storage"},
    "cli": set(),
    "loadtest": {"base", "engine", "corpus", "cli"},
}
# Library targets defined outside their folder's CMakeLists.txt, by the module they belong to.
TARGET_MODULE = {"commit_pipeline": "storage"}
# Folders that may see every module's internals: they test or measure them.
INSIDERS = {"tests", "bench", "fuzz"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)
LINKED = re.compile(r"\btally::(\w+)")


def module_of_include(path):
    m = re.match(r"tally/(\w+)/", path)
    return m.group(1) if m else None


def check_includes(errors):
    for folder in sorted(set(ALLOWED) | {"apps"}):
        for source in sorted((ROOT / folder).rglob("*")):
            if source.suffix not in {".cc", ".h", ".in"}:
                continue
            rel = source.relative_to(ROOT)
            text = source.read_text(encoding="utf-8")
            for included in INCLUDE.findall(text):
                target = module_of_include(included)
                where = f"{rel}: includes {included}"
                if included.startswith("../") or "/src/" in included:
                    errors.append(f"{where}: reaches into another folder by path")
                    continue
                if target is None or target == folder:
                    continue
                if folder != "apps" and target not in ALLOWED[folder]:
                    errors.append(f"{where}: {folder} may not depend on {target}")
                if "/internal/" in included:
                    errors.append(f"{where}: internal to {target}")


def check_links(errors):
    for folder in sorted(set(ALLOWED) | {"apps"}):
        for listfile in sorted((ROOT / folder).rglob("*.cmake")) + sorted(
                (ROOT / folder).rglob("CMakeLists.txt")):
            rel = listfile.relative_to(ROOT)
            text = re.sub(r"#[^\n]*", "", listfile.read_text(encoding="utf-8"))
            for target in LINKED.findall(text):
                if target == f"{folder}_internals":
                    continue  # where it is defined
                if target.endswith("_internals"):
                    errors.append(f"{rel}: links tally::{target}: for tests, benchmarks and "
                                  f"fuzzers only")
                    continue
                module = TARGET_MODULE.get(target, target)
                if folder != "apps" and module != folder and module not in ALLOWED[folder]:
                    errors.append(f"{rel}: links tally::{target}: {folder} may not depend on "
                                  f"{module}")


def check_graph_is_known(errors):
    for listfile in sorted(ROOT.glob("*/CMakeLists.txt")):
        folder = listfile.parent.name
        if folder in ALLOWED or folder in INSIDERS or folder == "apps":
            continue
        errors.append(f"{folder}/: a folder the layering check does not know; add it to ALLOWED")


def main():
    errors = []
    check_graph_is_known(errors)
    check_includes(errors)
    check_links(errors)
    for error in errors:
        print(f"layering: {error}", file=sys.stderr)
    if errors:
        print(f"layering: {len(errors)} violation(s) of the module graph", file=sys.stderr)
        return 1
    print("layering: every include and link follows the module graph")
    return 0


if __name__ == "__main__":
    sys.exit(main())
