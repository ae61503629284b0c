#!/usr/bin/env python3
"""Benchmark: loading locked dependency atoms with the plugin vs the reference's way.

One evaluation loads DEPS distinct dependency atoms (about FILES files each) from a repository
holding REFS atom refs (DEPS dependency labels and filler atoms, five versions each), and forces a
value from each:

  plugin     builtins.atom.import of an atom whose atom.lock pins the DEPS atoms: they are read
             from the atom store (filled once with `atom fetch`), verified, and composed from
             their Nix files; their other files are written only when a path into them is used.
             Every dependency is signed (an ed25519 key), and the lock's atom.integrity records
             each one's digest and signer: every check is on.
  plugin, checks off  the same atom without atom.integrity (a lock as the reference writes it):
             no digest or signer is compared with a record.
  plugin+files  the same, but every dependency also reads its data directory (`readDir ./data`),
             so all its files are written, as fetchGit always does.
  fetchGit   the reference's way on the same repository: the version is selected from the ref
             list (done once, like its lock), then per dependency
             `import ((builtins.fetchGit { url = "file://..."; ref; rev; }) + "/mod.nix")`.

fetchGit+files is fetchGit doing plugin+files's reads (each mod.nix's `readDir ./data`), warm.

Cold: a fresh Nix store and HOME (no fetchGit cache) for fetchGit; for the plugin, a fresh HOME
and an atom store without its materialised trees and caches (`trees/`, `digests/`, `commits/`,
`signatures/`, `graphs/`: nothing written, no signature, commit or loaded graph remembered). Warm: the same commands
again, after the cold runs (and a `sync`), RUNS x WARM_REPEATS times each (default 10),
interleaved case by case. Prints a table; results go in BENCHMARKS.md.

Usage: cargo build --release -p atom-cli && cargo build --release -p atom-nix && scripts/bench-deps.py [RUNS] [DEPS] [FILES] [REFS]

ATOM_PLUGIN=path/to/libatom_nix.so picks another build of the plugin, ATOM_NIX_BIN=<dir> the
nix-instantiate of that directory (for Nix 2.26.3: a plugin built with
ATOM_NIX_PREFIX=/var/cache/atom-dev/nix-2.26.3, and ATOM_NIX_BIN=/var/cache/atom-dev/nix-2.26.3/bin).

With BENCH_DIR set, the generated repository, atom store and atoms are kept there and reused by
the next run with the same sizes (for profiling); otherwise a temporary directory is removed.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
PLUGIN = Path(os.environ.get("ATOM_PLUGIN", TARGET / "libatom_nix.so"))
NIX_BIN = os.environ.get("ATOM_NIX_BIN")
NIX_INSTANTIATE = str(Path(NIX_BIN) / "nix-instantiate") if NIX_BIN else "nix-instantiate"
ATOM = TARGET / "atom"
VERSIONS = 5

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
# Warm evaluations take tens of milliseconds, within this machine's noise: RUNS x WARM_REPEATS
# of each, interleaved.
WARM_REPEATS = int(os.environ.get("WARM_REPEATS", "10"))
DEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
FILES = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
REFS = int(sys.argv[4]) if len(sys.argv) > 4 else 10000

GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    # No background `git gc --auto` holding the repository's locks while the script commits.
    "GIT_CONFIG_COUNT": "2",
    "GIT_CONFIG_KEY_0": "gc.auto",
    "GIT_CONFIG_VALUE_0": "0",
    "GIT_CONFIG_KEY_1": "maintenance.auto",
    "GIT_CONFIG_VALUE_1": "false",
}


def run(args, cwd=None, env=None):
    result = subprocess.run(args, cwd=cwd, env=env or GIT_ENV, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def manifest(label, version, extra=""):
    return f'[package]\nlabel = "{label}"\nversion = "{version}"\n\n[compose.as]\nnix = "."\n{extra}'


def make_repo(repo):
    per_commit = REFS // VERSIONS
    fillers = per_commit - DEPS
    deps = [f"dep{i:02d}" for i in range(DEPS)]
    fill = [f"fill{i:04d}" for i in range(fillers)]
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    (repo / "ekala.toml").write_text(
        "[set]\npackages = [" + ", ".join(f'"{p}"' for p in deps + fill) + "]\n")
    for name in deps:
        data = repo / name / "data"
        for d in range(10):
            (data / f"d{d}").mkdir(parents=True)
        for f in range(FILES - 1):
            (data / f"d{f % 10}" / f"f{f}.txt").write_text(f"{name} file {f}\n" * 4)
        (repo / name / "mod.nix").write_text("{ Value = 1; Data = builtins.readDir ./data; }\n")
    for name in fill:
        (repo / name).mkdir()
        (repo / name / "mod.nix").write_text("{ Value = 0; }\n")
    for v in range(VERSIONS):
        for name in deps + fill:
            (repo / name / "atom.toml").write_text(manifest(name, f"1.0.{v}"))
        if v == 0:
            # `atom publish` needs the lock of every evaluated atom: the same for all of these
            # (trivial, no dependencies).
            run([str(ATOM), "lock", "--offline", deps[0]], cwd=repo)
            lock = (repo / deps[0] / "atom.lock").read_text()
            for name in deps + fill:
                (repo / name / "atom.lock").write_text(lock)
        run(["git", "add", "-A"], cwd=repo)
        run(["git", "commit", "-q", "-m", f"version 1.0.{v}"], cwd=repo)
        if v == 0:
            run([str(ATOM), "init"], cwd=repo)
        run([str(ATOM), "publish"], cwd=repo)
    # The dependencies' latest versions are signed (publishing them again with a key signs them).
    key = repo.parent / "signing-key"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    run([str(ATOM), "publish", "--sign-key", str(key)] + deps, cwd=repo)
    run(["git", "pack-refs", "--all"], cwd=repo)
    return deps


def nix_env(home):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "NIX_CONF_DIR": str(home / "etc"),
        "GC_INITIAL_HEAP_SIZE": "1000000",
    }
    return env


def timed_eval(args, home):
    home.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = subprocess.run(args, env=nix_env(home), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return elapsed, result.stdout.strip()


def main():
    for artifact in (PLUGIN, ATOM):
        if not artifact.exists():
            sys.exit(f"{artifact} is missing: run `cargo build --release -p atom-cli && cargo build --release -p atom-nix`")
    keep = os.environ.get("BENCH_DIR")
    work = Path(keep) / f"{DEPS}-{FILES}-{REFS}" if keep else Path(tempfile.mkdtemp(prefix="bench-deps-"))
    reuse = keep and (work / "top" / "atom.lock").exists()
    try:
        repo = work / "repo"
        t = time.perf_counter()
        deps = [f"dep{i:02d}" for i in range(DEPS)] if reuse else make_repo(repo)
        print(f"generated {REFS} atom refs ({DEPS} dependency labels x {FILES} files, "
              f"{VERSIONS} versions) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        url = f"file://{repo}"
        store = work / "atom-store"
        env = {**GIT_ENV, "ATOM_STORE": str(store)}
        t = time.perf_counter()
        if not reuse:
            shutil.rmtree(store, ignore_errors=True)
            run([str(ATOM), "fetch", url], env=env)
        fetch_time = time.perf_counter() - t

        top = work / "top"
        top.mkdir(exist_ok=True)
        requirements = "".join(f'{d} = "^1"\n' for d in deps)
        text = (f'[package]\nlabel = "top"\nversion = "0.1.0"\n\n[package.sets]\ns = "{url}"\n\n'
                f'[compose.as]\nnix = "."\n\n[deps.from.s]\n{requirements}')
        (top / "atom.toml").write_text(text)
        (top / "mod.nix").write_text(
            "{ Sum = " + " + ".join(f"deps.from.s.{d}.value" for d in deps) + "; }\n")
        t = time.perf_counter()
        run([str(ATOM), "lock", str(top)], env=env)
        lock_time = time.perf_counter() - t
        files = work / "top-files"
        files.mkdir(exist_ok=True)
        (files / "atom.toml").write_text(text.replace('label = "top"', 'label = "top-files"'))
        (files / "mod.nix").write_text(
            "{ Sum = " + " + ".join(
                f"(if deps.from.s.{d}.data ? d0 then deps.from.s.{d}.value else 0)" for d in deps) + "; }\n")
        run([str(ATOM), "lock", str(files)], env=env)
        unchecked = work / "top-unchecked"
        unchecked.mkdir(exist_ok=True)
        for name in ("atom.toml", "mod.nix", "atom.lock"):
            (unchecked / name).write_text((top / name).read_text())
        (unchecked / "atom.toml").write_text(text.replace('label = "top"', 'label = "top-unchecked"'))
        signed = (top / "atom.integrity").read_text().count("signer = ")
        if signed != DEPS:
            sys.exit(f"expected {DEPS} signed dependencies in atom.integrity, found {signed}")

        # The reference's way: versions selected from the ref list once (its lock), then fetchGit.
        refs = run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/eka/atoms/"], cwd=repo)
        best = {}
        for line in refs.splitlines():
            name, rev = line.split()
            label, version = name.split("/")[-2:]
            key = tuple(int(x) for x in version.split("."))
            if label in deps and key[0] == 1 and (label not in best or key > best[label][0]):
                best[label] = (key, version, rev)
        baseline = work / "baseline.nix"
        parts = [
            f'(import ((builtins.fetchGit {{ url = "{url}"; ref = "refs/eka/atoms/{d}/{best[d][1]}"; '
            f'rev = "{best[d][2]}"; }}) + "/mod.nix")).Value'
            for d in deps
        ]
        baseline.write_text("{ sum = " + "\n  + ".join(parts) + "; }\n")
        # The same reads as plugin+files: each dependency's mod.nix reads its data directory.
        baseline_files = work / "baseline-files.nix"
        baseline_files.write_text("{ sum = " + "\n  + ".join(
            f"(let m = {part[:-len('.Value')]}; in if m.Data ? d0 then m.Value else 0)" for part in parts) + "; }\n")

        common = [NIX_INSTANTIATE, "--option", "build-users-group", "", "--eval", "--strict"]
        results = {k: [] for k in ("plugin cold", "plugin warm", "plugin, checks off cold",
                                   "plugin, checks off warm", "plugin+files cold", "plugin+files warm",
                                   "fetchGit cold", "fetchGit warm", "fetchGit+files warm")}
        expected = f"{{ sum = {DEPS}; }}"

        def measure(label, args, home, record=True):
            elapsed, out = timed_eval(args, home)
            assert out == expected, out
            if record:
                results[label].append(elapsed)

        plugin_variants = (("plugin", top), ("plugin, checks off", unchecked), ("plugin+files", files))

        def plugin_eval(nix_store, atom_dir):
            return common + ["--store", str(nix_store), "--option", "plugin-files", str(PLUGIN),
                             "--option", "atom-store", str(store),
                             "--expr", f"builtins.atom.import {atom_dir}"]

        # Cold runs, each followed by one warm run (not counted) that fills what warm runs use.
        for i in range(RUNS):
            nix_store = work / f"nix-store-{i}"
            home = work / f"home-fetchgit-{i}"
            measure("fetchGit cold", common + ["--store", str(nix_store), str(baseline)], home)
            measure("fetchGit warm", common + ["--store", str(nix_store), str(baseline)], home, False)
            for variant, atom_dir in plugin_variants:
                for cache in ("trees", "digests", "commits", "signatures", "graphs"):
                    shutil.rmtree(store / cache, ignore_errors=True)
                home = work / f"home-{variant}-{i}"
                measure(f"{variant} cold", plugin_eval(nix_store, atom_dir), home)
                measure(f"{variant} warm", plugin_eval(nix_store, atom_dir), home, False)
            if i + 1 < RUNS:
                shutil.rmtree(nix_store, ignore_errors=True)

        # Warm runs, after the cold runs' writes reached the disk, interleaved case by case: the
        # machine's drift then weighs on every case alike.
        subprocess.run(["sync"], check=False)
        last = RUNS - 1
        nix_store = work / f"nix-store-{last}"
        warm = [("fetchGit warm", common + ["--store", str(nix_store), str(baseline)],
                 work / f"home-fetchgit-{last}"),
                ("fetchGit+files warm", common + ["--store", str(nix_store), str(baseline_files)],
                 work / f"home-fetchgit-{last}")]
        warm += [(f"{variant} warm", plugin_eval(nix_store, atom_dir), work / f"home-{variant}-{last}")
                 for variant, atom_dir in plugin_variants]
        for _ in range(RUNS * WARM_REPEATS):
            for label, args, home in warm:
                measure(label, args, home)
        shutil.rmtree(nix_store, ignore_errors=True)

        version = subprocess.run([NIX_INSTANTIATE, "--version"], capture_output=True, text=True).stdout.strip()
        print(f"\n{version}: {DEPS} dependency atoms x {FILES} files, {REFS} atom refs, {RUNS} cold runs, "
              f"{RUNS * WARM_REPEATS} interleaved warm runs (seconds)\n")
        print("| case | median | min | max |")
        print("|---|---|---|---|")
        for label, times in results.items():
            print(f"| {label} | {statistics.median(times):.3f} | {min(times):.3f} | {max(times):.3f} |")
        med = {k: statistics.median(v) for k, v in results.items()}
        for variant in ("plugin", "plugin, checks off", "plugin+files"):
            print(f"\n{variant} vs fetchGit: {med['fetchGit cold'] / med[variant + ' cold']:.1f}x faster cold, "
                  f"{med['fetchGit warm'] / med[variant + ' warm']:.2f}x as fast warm (medians)", end="")
        print(f"\nplugin+files vs fetchGit+files (the same reads): "
              f"{med['fetchGit+files warm'] / med['plugin+files warm']:.2f}x as fast warm (medians)")
        print(f"once, before the runs: atom fetch {fetch_time:.2f} s, atom lock {lock_time:.2f} s")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
