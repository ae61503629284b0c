#!/usr/bin/env python3
"""Composer benchmark: generated atoms of 10, 100, 1000 and 5000 modules (a mod.nix and 9 member
files each), deep-forced in one nix-instantiate process per run, three ways side by side:

  plugin    builtins.atom.compose (closed scopes, path confinement, every check on)
  baseline  tests/nix/baseline-composer.nix, the pure-Nix scopedImport composer with the same
            semantics (the differential tests' reference)
  floor     a minimal pure-Nix walk that only scopedImports every member file with a fixed scope:
            no visibility, no pre/atom, no checks

plus `top`: the plugin forcing only the top of the atom (its attribute names).
Prints a Markdown table of median wall time and peak memory (max RSS) over RUNS runs.

  cargo build --release -p atom-nix && scripts/bench-compose.py [RUNS]
  (ATOM_PLUGIN=path/to/libatom_nix.so picks another build; ATOM_NIX_BIN=<dir> runs the
  nix-instantiate of that directory, e.g. Nix 2.26.3's with a plugin built against it:
  ATOM_NIX_PREFIX=/var/cache/atom-dev/nix-2.26.3 cargo build --release -p atom-nix &&
  ATOM_NIX_BIN=/var/cache/atom-dev/nix-2.26.3/bin scripts/bench-compose.py [RUNS])
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN = os.environ.get(
    "ATOM_PLUGIN",
    os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "libatom_nix.so"),
)
BASELINE = os.path.join(ROOT, "tests", "nix", "baseline-composer.nix")
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
NIX_BIN = os.environ.get("ATOM_NIX_BIN")
NIX_INSTANTIATE = os.path.join(NIX_BIN, "nix-instantiate") if NIX_BIN else "nix-instantiate"

FLOOR = """
let
  scope = { cfg = { }; mod = { }; std = builtins; };
  walk = dir:
    let entries = builtins.readDir dir; in
    builtins.listToAttrs (map (name: {
      inherit name;
      value = if entries.${name} == "directory" then walk (dir + "/${name}")
        else builtins.scopedImport scope (dir + "/${name}");
    }) (builtins.attrNames entries));
in walk %s
"""


def generate(dir, modules):
    """A tree of `modules` modules, ten children per module, breadth first."""
    queue = [dir]
    made = 0
    while queue and made < modules:
        d = queue.pop(0)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "mod.nix"), "w") as f:
            f.write("{ Extra = 1; }\n")
        for i in range(9):
            # Every member is public, so a deep force reads every file, as the floor does.
            name = "M%d" % i
            with open(os.path.join(d, name + ".nix"), "w") as f:
                f.write('{ n = %d; s = "member %d"; l = [ 1 2 3 ]; }\n' % (i, i) if i else "%d\n" % made)
        made += 1
        for c in range(10):
            queue.append(os.path.join(d, "Sub%d" % c))
    return made


def measure(expr, plugin):
    times, peaks = [], []
    for _ in range(RUNS):
        # A fresh interpreter process per run, so ru_maxrss is this run's own peak.
        code = (
            "import os, resource, subprocess, sys, time, json\n"
            "cmd = json.loads(sys.argv[1])\n"
            "s = time.perf_counter()\n"
            "p = subprocess.run(cmd, capture_output=True, text=True)\n"
            "e = time.perf_counter() - s\n"
            "if p.returncode: sys.exit(p.stderr[-2000:])\n"
            "print(e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        )
        cmd = [NIX_INSTANTIATE, "--store", "dummy://", "--eval", "--strict", "--expr", expr]
        if plugin:
            cmd[1:1] = ["--option", "plugin-files", PLUGIN]
        out = subprocess.run([sys.executable, "-c", code, json.dumps(cmd)], capture_output=True, text=True,
                             env=dict(os.environ, HOME=tempfile.gettempdir(), NIX_REMOTE="dummy://"))
        if out.returncode != 0:
            sys.exit("failed: %s\n%s" % (expr[:200], out.stderr[-2000:]))
        t, rss = out.stdout.split()
        times.append(float(t))
        peaks.append(int(rss))
    return statistics.median(times), statistics.median(peaks) / 1024.0


def main():
    if not os.path.exists(PLUGIN):
        sys.exit("build the plugin first: cargo build --release -p atom-nix")
    version = subprocess.run([NIX_INSTANTIATE, "--version"], capture_output=True, text=True).stdout.strip()
    print("%s, plugin %s\n" % (version, PLUGIN))
    base = tempfile.mkdtemp(prefix="atom-bench-compose-")
    try:
        print("| modules | files | plugin | baseline | floor | plugin / floor (time) | plugin / floor (memory) | plugin, top only |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for modules in (10, 100, 1000, 5000):
            dir = os.path.join(base, "atom%d" % modules)
            generate(dir, modules)
            files = sum(len(f) for _, _, f in os.walk(dir))
            plugin = measure("builtins.atom.compose %s { }" % dir, True)
            baseline = measure("import %s %s { }" % (BASELINE, dir), False)
            floor = measure(FLOOR % dir, False)
            top = measure("builtins.attrNames (builtins.atom.compose %s { })" % dir, True)
            fmt = lambda m: "%.3f s, %.0f MB" % m
            print("| %d | %d | %s | %s | %s | %.2fx | %.2fx | %.3f s |" % (
                modules, files, fmt(plugin), fmt(baseline), fmt(floor),
                plugin[0] / floor[0], plugin[1] / floor[1], top[0]))
            sys.stdout.flush()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
