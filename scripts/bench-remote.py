#!/usr/bin/env python3
"""Atoms over the network, side by side with the baselines, over git:// (git daemon) and
http:// (git http-backend behind lighttpd) on 127.0.0.1.

  discovery  the versions of one label on a remote holding 100k atom refs:
             `atom ls URL label` against `git ls-remote URL 'refs/eka/atoms/*'`.
  fetch      one atom of about 1000 files from a remote with 10k atom refs and a long source
             history: `atom fetch URL label@=version` into an empty store, against
             `builtins.fetchGit { url; ref; }` of the same ref, cold (a fresh Nix store and
             cache). The bytes are compared with the atom's own objects, packed by git.
  update     a new version of a 1000-file atom with one file changed, from a server that
             filters (`uploadpack.allowFilter`), into a store holding the earlier version:
             `atom fetch URL label@=new` against the new objects alone (commit, trees, the changed
             files, packed by git) and against git's own fetch of the same ref into a repository
             holding the earlier version (`git fetch`, which re-sends the whole atom: atom commits
             share no history).
  fill       `atom fetch` (no URL) in the directory of an app whose lock pins 50 atoms of one
             set, into an empty store, against the atoms' own objects packed by git.
  lock       `atom lock` of the same app into an empty store (the versions' manifests and locks
             only, from a filtering server), against the bytes of filling.

Bytes are what the server sent to the client, counted by a byte-counting TCP relay in front of
the server (so both sides pay the same protocol overhead). Times are medians of RUNS runs
(default 5). Usage: scripts/bench-remote.py [RUNS]. Needs `cargo build --release -p atom-cli`,
git, lighttpd and nix-instantiate. Prints Markdown tables.
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ATOM = ROOT / "target" / "release" / "atom"
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5

GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "gc.auto",
    "GIT_CONFIG_VALUE_0": "0",
}


def run(args, cwd=None, env=None, input=None):
    result = subprocess.run(args, cwd=cwd, env=env or GIT_ENV, capture_output=True, input=input)
    if result.returncode != 0:
        sys.exit(f"{args} failed:\n{result.stdout.decode()}\n{result.stderr.decode()}")
    return result.stdout.decode().strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.025)
    sys.exit(f"nothing listens on {port}")


class Relay:
    """Forwards 127.0.0.1:port to the server's port and counts the bytes the server sends."""

    def __init__(self, target):
        self.target = target
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.sock.accept()
            server = socket.create_connection(("127.0.0.1", self.target))
            # The relay must not add Nagle delays to small writes that the endpoints send
            # without them.
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self.pipe, args=(server, client, True), daemon=True).start()

    def pipe(self, src, dst, count):
        try:
            while True:
                if count:
                    # As the `atom` client does on git:// (remote/socket.rs): acknowledge what the
                    # server sends at once, so that its Nagle-held writes are not kept waiting
                    # 40 ms for a delayed acknowledgement from the relay's kernel.
                    src.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                data = src.recv(65536)
                if not data:
                    break
                if count:
                    with self.lock:
                        self.received += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def take(self):
        # Let the last bytes drain through the relay threads.
        time.sleep(0.05)
        with self.lock:
            n, self.received = self.received, 0
        return n


def start_servers(work, repos):
    git_exec = run(["git", "--exec-path"])
    daemon_port, http_port = free_port(), free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={daemon_port}",
         f"--base-path={repos}", "--export-all", str(repos)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    conf = work / "lighttpd.conf"
    conf.write_text(f'''server.modules = ("mod_alias", "mod_setenv", "mod_cgi")
server.bind = "127.0.0.1"
server.port = {http_port}
server.document-root = "{repos}"
server.errorlog = "{work}/lighttpd.log"
alias.url = ("/git" => "{git_exec}/git-http-backend")
cgi.assign = ("" => "")
setenv.add-environment = ("GIT_PROJECT_ROOT" => "{repos}", "GIT_HTTP_EXPORT_ALL" => "1")
''')
    http = subprocess.Popen(["lighttpd", "-D", "-f", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_port(daemon_port)
    wait_port(http_port)
    relays = {"git://": Relay(daemon_port), "http://": Relay(http_port)}
    urls = {
        "git://": lambda name: f"git://127.0.0.1:{relays['git://'].port}/{name}",
        "http://": lambda name: f"http://127.0.0.1:{relays['http://'].port}/git/{name}",
    }
    return [daemon, http], relays, urls


def timed(args, env=None):
    start = time.perf_counter()
    result = subprocess.run(args, env=env or GIT_ENV, capture_output=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{args} failed:\n{result.stderr.decode()[-2000:]}")
    return elapsed, result.stdout


def manifest(label, version):
    return f'[package]\nlabel = "{label}"\nversion = "{version}"\n\n[compose.as]\nnix = "."\n'


def make_set(repo, files, history):
    """A repository with `history` source commits, then the atom `big` (about `files` files)
    published at 1.0.0. Returns the atom commit."""
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    # A long source history, written by fast-import: each commit changes a source file.
    stream = []
    for i in range(history):
        content = f"source line {i}\n" * 20
        stream.append(f"commit refs/heads/main\ncommitter bench <b@e.c> {1700000000 + i} +0000\n"
                      f"data 5\nstep\n"
                      f"M 644 inline src/file{i % 200}.txt\ndata {len(content)}\n{content}\n")
    run(["git", "fast-import", "--quiet"], cwd=repo, input="".join(stream).encode())
    run(["git", "checkout", "-q", "-f", "main"], cwd=repo)
    big = repo / "big"
    for f in range(files - 2):
        d = big / "data" / f"d{f % 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{f}.txt").write_text(f"atom file {f}\n" * 8)
    (big / "mod.nix").write_text("{ Value = 1; }\n")
    (big / "atom.toml").write_text(manifest("big", "1.0.0"))
    (repo / "ekala.toml").write_text('[set]\npackages = ["big"]\n')
    # `atom publish` needs the lock of an evaluated atom.
    run([str(ATOM), "lock", "--offline", "big"], cwd=repo)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "the atom"], cwd=repo)
    run([str(ATOM), "init"], cwd=repo)
    run([str(ATOM), "publish"], cwd=repo)
    return run(["git", "rev-parse", "refs/eka/atoms/big/1.0.0"], cwd=repo)


def add_refs(repo, count, target, keep_label_versions=0):
    """Adds `count` atom refs (1000 labels x count/1000 versions) to packed-refs, all pointing at
    `target`; the label `wanted` gets `keep_label_versions` of them."""
    lines = [line for line in (repo / ".git" / "packed-refs").read_text().splitlines()
             if line and not line.startswith("#")] if (repo / ".git" / "packed-refs").exists() else []
    per_label = max(1, count // 1000)
    for i in range(count):
        label = f"label{i // per_label:04d}"
        lines.append(f"{target} refs/eka/atoms/{label}/1.0.{i % per_label}")
    for v in range(keep_label_versions):
        lines.append(f"{target} refs/eka/atoms/wanted/2.0.{v}")
    lines.sort(key=lambda l: l.split(" ", 1)[1])
    (repo / ".git" / "packed-refs").write_text(
        "# pack-refs with: peeled fully-peeled sorted \n" + "\n".join(lines) + "\n")


def bare_copy(repo, dest):
    run(["git", "clone", "-q", "--bare", "--mirror", str(repo), str(dest)])
    run(["git", "pack-refs", "--all"], cwd=dest)


def median(values):
    return statistics.median(values)


def packed_size(repo, tips, exclude=()):
    """Bytes of the objects reachable from `tips` and not from `exclude`, packed by git, and
    their number. (`git rev-list --objects A --not B` does not leave out B's trees and files when
    A and B share no history, as atom commits never do: the lists are subtracted here.)"""
    def objects(revs):
        if not revs:
            return []
        return subprocess.run(["git", "rev-list", "--objects", *revs], cwd=repo, env=GIT_ENV,
                              capture_output=True, check=True).stdout.decode().splitlines()
    known = {line.split(" ", 1)[0] for line in objects(list(exclude))}
    wanted = [line for line in objects(list(tips)) if line.split(" ", 1)[0] not in known]
    pack = subprocess.run(["git", "pack-objects", "--stdout", "-q"], cwd=repo, env=GIT_ENV,
                          input=("\n".join(wanted) + "\n").encode(), capture_output=True,
                          check=True).stdout
    return len(pack), len(wanted)


def make_update_set(repo, files):
    """The atom `big` (`files` files) published at 1.0.0, then at 1.1.0 with one file changed."""
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    big = repo / "big"
    for f in range(files - 3):
        d = big / "data" / f"d{f % 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{f}.txt").write_text(f"atom file {f}\n" * 8)
    (big / "mod.nix").write_text("{ Value = 1; }\n")
    (big / "atom.toml").write_text(manifest("big", "1.0.0"))
    (repo / "ekala.toml").write_text('[set]\npackages = ["big"]\n')
    run([str(ATOM), "lock", "--offline", "big"], cwd=repo)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "1.0.0"], cwd=repo)
    run([str(ATOM), "init"], cwd=repo)
    run([str(ATOM), "publish"], cwd=repo)
    (big / "data" / "d7" / "f7.txt").write_text("the changed file\n" * 8)
    (big / "atom.toml").write_text(manifest("big", "1.1.0"))
    run(["git", "commit", "-q", "-am", "1.1.0"], cwd=repo)
    run([str(ATOM), "publish"], cwd=repo)


def make_deps_set(repo, deps, files):
    """`deps` atoms `dep00`... of `files` files each (nix files of about 600 bytes), published
    at 1.0.0."""
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    names = [f"dep{i:02d}" for i in range(deps)]
    (repo / "ekala.toml").write_text(
        "[set]\npackages = [" + ", ".join(f'"{n}"' for n in names) + "]\n")
    lock = None
    for n, name in enumerate(names):
        atom = repo / name
        for f in range(files - 2):
            d = atom / f"m{f % 5}"
            d.mkdir(parents=True, exist_ok=True)
            body = "".join(f"  v{k} = \"{name}-{f}-{k * 7919 % 10007}\";\n" for k in range(24))
            (d / f"f{f}.nix").write_text("{\n" + body + "}\n")
        (atom / "mod.nix").write_text("{ Value = 1; }\n")
        (atom / "atom.toml").write_text(manifest(name, "1.0.0"))
        if lock is None:
            run([str(ATOM), "lock", "--offline", name], cwd=repo)
            lock = (atom / "atom.lock").read_text()
        (atom / "atom.lock").write_text(lock)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "deps"], cwd=repo)
    run([str(ATOM), "init"], cwd=repo)
    run([str(ATOM), "publish"], cwd=repo)
    return names


def app_manifest(url, names):
    deps = "".join(f'{n} = "^1"\n' for n in names)
    return (f'[package]\nlabel = "app"\nversion = "0.1.0"\n\n[package.sets]\ns = "{url}"\n\n'
            f'[compose.as]\nnix = "."\n\n[deps.from.s]\n{deps}')


def main():
    if not ATOM.exists():
        sys.exit(f"{ATOM} is missing: run `cargo build --release -p atom-cli` first")
    work = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    # The commands run outside any repository (the caller's could configure aliases).
    os.chdir(work)
    repos = work / "repos"
    repos.mkdir()
    servers = []
    try:
        # The sets: discovery (100k refs, small history) and fetch (10k refs, long history).
        print("generating repositories ...", file=sys.stderr)
        disc = work / "disc"
        target = make_set(disc, 20, 10)
        add_refs(disc, 100_000, target, keep_label_versions=100)
        bare_copy(disc, repos / "disc.git")
        fetch_src = work / "fetch"
        target = make_set(fetch_src, 1000, 5000)
        add_refs(fetch_src, 10_000, target)
        bare_copy(fetch_src, repos / "fetch.git")
        # The atom's own objects, packed by git (the floor for what a fetch must receive).
        objects = subprocess.run(["git", "rev-list", "--objects", target], cwd=repos / "fetch.git",
                                 env=GIT_ENV, capture_output=True, check=True).stdout
        atom_pack = len(subprocess.run(["git", "pack-objects", "--stdout", "-q"],
                                       cwd=repos / "fetch.git", env=GIT_ENV, input=objects,
                                       capture_output=True, check=True).stdout)
        n_objects = len(objects.splitlines())
        # The update (a filtering server) and the 50 dependencies.
        update_src = work / "update"
        make_update_set(update_src, 1000)
        bare_copy(update_src, repos / "update.git")
        run(["git", "config", "uploadpack.allowFilter", "true"], cwd=repos / "update.git")
        deps_src = work / "deps"
        dep_names = make_deps_set(deps_src, 50, 200)
        bare_copy(deps_src, repos / "deps.git")
        run(["git", "config", "uploadpack.allowFilter", "true"], cwd=repos / "deps.git")

        servers, relays, urls = start_servers(work, repos)

        print("\n### Discovery: versions of one label among 100k atom refs\n")
        print("| transport | command | median time | bytes received | atom vs git |")
        print("|---|---|---:|---:|---|")
        for scheme in ("git://", "http://"):
            url = urls[scheme]("disc.git")
            relay = relays[scheme]
            results = {}
            for name, args in (
                ("atom ls URL wanted", [str(ATOM), "ls", url, "wanted"]),
                ("git ls-remote URL 'refs/eka/atoms/*'", ["git", "ls-remote", url, "refs/eka/atoms/*"]),
            ):
                times, sizes = [], []
                for _ in range(RUNS):
                    relay.take()
                    elapsed, out = timed(args)
                    times.append(elapsed)
                    sizes.append(relay.take())
                results[name] = (median(times), median(sizes), out)
            (a_t, a_b, a_out), (g_t, g_b, g_out) = results.values()
            assert a_out.decode().count("\n") == 100, a_out[:200]
            for name, (t, b, _) in results.items():
                ratio = f"{g_b / a_b:.0f}x fewer bytes, {g_t / a_t:.1f}x faster" if name.startswith("atom") else ""
                print(f"| {scheme} | `{name}` | {t * 1000:.1f} ms | {b:,} | {ratio} |")

        print(f"\n### Fetch: one atom of 1000 files ({n_objects} objects, {atom_pack:,} bytes packed by git) "
              "from a remote with 10k atom refs and 5000 source commits\n")
        print("| transport | command | median time (cold) | bytes received | vs packed atom | vs fetchGit |")
        print("|---|---|---:|---:|---:|---|")
        for scheme in ("git://", "http://"):
            url = urls[scheme]("fetch.git")
            relay = relays[scheme]
            a_times, a_sizes, n_times, n_sizes = [], [], [], []
            for i in range(RUNS):
                store = work / f"store-{i}"
                relay.take()
                elapsed, _ = timed([str(ATOM), "fetch", url, "big@=1.0.0", "--store", str(store)])
                a_times.append(elapsed)
                a_sizes.append(relay.take())
                shutil.rmtree(store)
                home = work / f"home-{i}"
                nix_store = work / f"nix-{i}"
                (home / "etc").mkdir(parents=True)
                env = {"PATH": os.environ["PATH"], "HOME": str(home),
                       "XDG_CACHE_HOME": str(home / "cache"), "NIX_CONF_DIR": str(home / "etc")}
                expr = f'(builtins.fetchGit {{ url = "{url}"; ref = "refs/eka/atoms/big/1.0.0"; }}).rev'
                relay.take()
                elapsed, out = timed(["nix-instantiate", "--eval", "--store", str(nix_store),
                                      "--expr", expr], env=env)
                n_times.append(elapsed)
                n_sizes.append(relay.take())
                assert target in out.decode(), out
                subprocess.run(["chmod", "-R", "u+w", str(nix_store)], check=False)
                shutil.rmtree(nix_store, ignore_errors=True)
                shutil.rmtree(home, ignore_errors=True)
            a_t, a_b, n_t, n_b = median(a_times), median(a_sizes), median(n_times), median(n_sizes)
            print(f"| {scheme} | `atom fetch URL big@=1.0.0` | {a_t * 1000:.0f} ms | {a_b:,} | "
                  f"{a_b / atom_pack:.2f}x | {n_t / a_t:.1f}x faster |")
            print(f"| {scheme} | `builtins.fetchGit` of the ref | {n_t * 1000:.0f} ms | {n_b:,} | "
                  f"{n_b / atom_pack:.2f}x | |")

        update_git = repos / "update.git"
        new_pack, new_objects = packed_size(update_git, ["refs/eka/atoms/big/1.1.0"],
                                            ["refs/eka/atoms/big/1.0.0"])
        whole_pack, whole_objects = packed_size(update_git, ["refs/eka/atoms/big/1.1.0"])
        print(f"\n### Update: 1.0.0 to 1.1.0 of a 1000-file atom, one file changed, from a server "
              f"that filters (new objects alone: {new_objects}, {new_pack:,} bytes packed by git; "
              f"the whole new version: {whole_objects}, {whole_pack:,} bytes)\n")
        print("| transport | command | median time | bytes received | of which pack data "
              "| vs the new objects alone (all bytes, pack data) |")
        print("|---|---|---:|---:|---:|---:|")
        for scheme in ("git://", "http://"):
            url = urls[scheme]("update.git")
            relay = relays[scheme]
            a_times, a_sizes, a_packs, g_times, g_sizes = [], [], [], [], []
            for i in range(RUNS):
                store = work / f"ustore-{i}"
                run([str(ATOM), "fetch", url, "big@=1.0.0", "--store", str(store)])
                relay.take()
                elapsed, out = timed([str(ATOM), "--json", "fetch", url, "big@=1.1.0",
                                      "--store", str(store)])
                a_times.append(elapsed)
                a_sizes.append(relay.take())
                a_packs.append(json.loads(out)["bytes"])
                shutil.rmtree(store)
                clone = work / f"uclone-{i}"
                run(["git", "init", "-q", "--bare", str(clone)])
                run(["git", "-C", str(clone), "fetch", "-q", url,
                     "refs/eka/atoms/big/1.0.0:refs/eka/atoms/big/1.0.0"])
                relay.take()
                elapsed, _ = timed(["git", "-C", str(clone), "fetch", "-q", url,
                                    "refs/eka/atoms/big/1.1.0:refs/eka/atoms/big/1.1.0"])
                g_times.append(elapsed)
                g_sizes.append(relay.take())
                shutil.rmtree(clone)
            a_pack = median(a_packs)
            print(f"| {scheme} | `atom fetch URL big@=1.1.0` | {median(a_times) * 1000:.0f} ms | "
                  f"{median(a_sizes):,} | {a_pack:,} | {median(a_sizes) / new_pack:.2f}x, "
                  f"{a_pack / new_pack:.2f}x |")
            print(f"| {scheme} | `git fetch URL <1.1.0 ref>` (1.0.0 there) | "
                  f"{median(g_times) * 1000:.0f} ms | {median(g_sizes):,} | | "
                  f"{median(g_sizes) / new_pack:.2f}x |")

        deps_git = repos / "deps.git"
        tips = [f"refs/eka/atoms/{n}/1.0.0" for n in dep_names]
        deps_pack, deps_objects = packed_size(deps_git, tips)
        print(f"\n### An app depending on 50 atoms of one set (their own objects: {deps_objects}, "
              f"{deps_pack:,} bytes packed by git), from a server that filters, into an empty "
              "store\n")
        print("| transport | command | median time | bytes received | vs the atoms' own objects |"
              " vs filling |")
        print("|---|---|---:|---:|---:|---:|")
        for scheme in ("git://", "http://"):
            url = urls[scheme]("deps.git")
            relay = relays[scheme]
            l_times, l_sizes, f_times, f_sizes = [], [], [], []
            for i in range(RUNS):
                app = work / f"app-{i}"
                app.mkdir()
                (app / "atom.toml").write_text(app_manifest(url, dep_names))
                (app / "default.nix").write_text("{ }\n")
                store = work / f"lstore-{i}"
                relay.take()
                elapsed, _ = timed([str(ATOM), "lock", str(app), "--store", str(store)])
                l_times.append(elapsed)
                l_sizes.append(relay.take())
                shutil.rmtree(store)
                # A fresh clone of the project: the lock is there, the store is empty.
                store = work / f"fstore-{i}"
                relay.take()
                elapsed, _ = timed([str(ATOM), "-C", str(app), "fetch", "--store", str(store)])
                f_times.append(elapsed)
                f_sizes.append(relay.take())
                shutil.rmtree(store)
                shutil.rmtree(app)
            l_b, f_b = median(l_sizes), median(f_sizes)
            print(f"| {scheme} | `atom fetch` (no URL: the lock's 50 atoms) | "
                  f"{median(f_times) * 1000:.0f} ms | {f_b:,} | {f_b / deps_pack:.2f}x | |")
            print(f"| {scheme} | `atom lock` (50 dependencies) | {median(l_times) * 1000:.0f} ms | "
                  f"{l_b:,} | {l_b / deps_pack:.2f}x | {100 * l_b / f_b:.1f}% |")
    finally:
        for s in servers:
            # `git daemon` runs `git-daemon` as a child: end the whole process group.
            os.killpg(s.pid, signal.SIGTERM)
            s.wait()
        subprocess.run(["chmod", "-R", "u+w", str(work)], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
