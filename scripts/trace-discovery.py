#!/usr/bin/env python3
"""Where the time of discovery over git:// goes, on both sides of the connection.

Builds the discovery repository of scripts/bench-remote.py (100k atom refs, 100 versions of the
label `wanted`), serves it with `git daemon` on 127.0.0.1 and times, RUNS times each:

  client  `atom ls URL wanted` and `git ls-remote URL 'refs/eka/atoms/*'`, wall clock, against
          the daemon as it runs normally;
  ack     a minimal protocol v2 client (here, in Python: connect, read the capabilities, send
          `ls-refs` with the label's prefix, read the answer), with and without asking the kernel
          for quick acknowledgements (TCP_QUICKACK before each read, as `atom` does): without
          them, the daemon's second write of its answer waits for the acknowledgement of its
          first (Nagle's algorithm), which Linux delays by 40 ms;
  daemon  the same commands again with the daemon under `strace -f -ttt`: for each connection,
          when (after `accept`) the daemon re-executes itself to serve it (`git daemon --serve`),
          when `git upload-pack` starts, when it writes its first byte (the capability
          advertisement), when the request arrives, when its answer is written, and when the
          serving process exits. strace slows system calls, so these are upper bounds; their
          differences show the phases.

Usage: scripts/trace-discovery.py [RUNS]   (default 5). Needs `cargo build --release -p
atom-cli`, git and strace. Prints Markdown tables.
"""

import importlib.util
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("bench_remote", HERE / "bench-remote.py")
bench = importlib.util.module_from_spec(spec)
argv, sys.argv = sys.argv, sys.argv[:1]
spec.loader.exec_module(bench)
sys.argv = argv
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def daemon(repos, port, trace=None):
    args = ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
            f"--base-path={repos}", "--export-all", str(repos)]
    if trace:
        args = ["strace", "-f", "-ttt", "-e", "trace=execve,accept,accept4,read,write,exit_group",
                "-o", str(trace)] + args
    process = subprocess.Popen(args, env=bench.GIT_ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    bench.wait_port(port)
    return process


def stop(process):
    # `git daemon` runs `git-daemon` as a child (traced or not): end the whole process group
    # (strace writes out its trace on SIGTERM).
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def commands(url):
    return {
        "atom ls URL wanted": [str(bench.ATOM), "ls", url, "wanted"],
        "git ls-remote URL 'refs/eka/atoms/*'": ["git", "ls-remote", url, "refs/eka/atoms/*"],
    }


def pkt(text):
    data = text.encode()
    return b"%04x" % (len(data) + 4) + data


def ls_refs(port, quick_ack):
    """One protocol v2 conversation with the daemon: the capabilities, then `ls-refs` of the
    label `wanted`. Returns (seconds, refs)."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""

        def packet():
            nonlocal buffer
            while True:
                if len(buffer) >= 4:
                    size = int(buffer[:4], 16)
                    if size < 4:
                        buffer = buffer[4:]
                        return None
                    if len(buffer) >= size:
                        data, buffer = buffer[4:size], buffer[size:]
                        return data
                if quick_ack:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                chunk = s.recv(65536)
                if not chunk:
                    raise EOFError("the daemon hung up")
                buffer += chunk

        s.sendall(pkt("git-upload-pack /disc.git\0host=127.0.0.1\0\0version=2\0"))
        while packet() is not None:
            pass
        s.sendall(pkt("command=ls-refs\n") + b"0001" + pkt("ref-prefix refs/eka/atoms/wanted/\n")
                  + b"0000")
        refs = 0
        while packet() is not None:
            refs += 1
        s.sendall(b"0000")
    return time.perf_counter() - start, refs


def phases(trace):
    """Per connection, the times (ms after `accept` returned) of: daemon --serve exec,
    upload-pack exec, first write, request read, last write, exit."""
    line = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
    events = []
    for text in trace.read_text().splitlines():
        m = line.match(text)
        if m:
            events.append((int(m.group(1)), float(m.group(2)), m.group(3)))
    connections = []
    current = None
    for pid, t, call in events:
        if re.match(r"(accept4?\(|<\.\.\. accept4? resumed>)", call) and re.search(r"= \d+$", call):
            current = {"accept": t, "pids": set()}
            connections.append(current)
            continue
        if current is None:
            continue
        if call.startswith("execve(") and "--serve" in call and "serve" not in current:
            current["serve"] = t
            current["pids"].add(pid)
        elif call.startswith("execve(") and "upload-pack" in call and "upload" not in current:
            current["upload"] = t
            current["upload_pid"] = pid
        elif pid == current.get("upload_pid") and call.startswith("write(1,"):
            current.setdefault("first_write", t)
            if "request" in current:
                current["last_write"] = t
        elif pid == current.get("upload_pid") and call.startswith("read(0,") and "first_write" in current:
            current.setdefault("request", t)
        elif call.startswith("exit_group") and pid in current["pids"]:
            current["exit"] = t
    keys = ["serve", "upload", "first_write", "request", "last_write", "exit"]
    rows = []
    for c in connections:
        if all(k in c for k in keys):
            rows.append([(c[k] - c["accept"]) * 1000 for k in keys])
    return rows


def main():
    if not bench.ATOM.exists():
        sys.exit(f"{bench.ATOM} is missing: run `cargo build --release -p atom-cli` first")
    if not shutil.which("strace"):
        sys.exit("strace is missing")
    work = Path(tempfile.mkdtemp(prefix="trace-discovery-"))
    try:
        repos = work / "repos"
        repos.mkdir()
        print("generating the repository ...", file=sys.stderr)
        disc = work / "disc"
        target = bench.make_set(disc, 20, 10)
        bench.add_refs(disc, 100_000, target, keep_label_versions=100)
        bench.bare_copy(disc, repos / "disc.git")
        port = bench.free_port()
        url = f"git://127.0.0.1:{port}/disc.git"

        print("\n### Client: wall clock, daemon not traced\n")
        print("| command | median | min | max |")
        print("|---|---:|---:|---:|")
        process = daemon(repos, port)
        try:
            for name, args in commands(url).items():
                times = []
                for _ in range(RUNS):
                    times.append(bench.timed(args)[0] * 1000)
                print(f"| `{name}` | {statistics.median(times):.1f} ms | {min(times):.1f} ms | "
                      f"{max(times):.1f} ms |")
            print("\n### One `ls-refs` conversation (a minimal client), with and without quick "
                  "acknowledgements\n")
            print("| client | median | min | max |")
            print("|---|---:|---:|---:|")
            for quick_ack in (False, True):
                times = []
                for _ in range(RUNS):
                    elapsed, refs = ls_refs(port, quick_ack)
                    assert refs == 100, refs
                    times.append(elapsed * 1000)
                name = "TCP_QUICKACK before each read" if quick_ack else "delayed acknowledgements"
                print(f"| {name} | {statistics.median(times):.1f} ms | {min(times):.1f} ms | "
                      f"{max(times):.1f} ms |")
        finally:
            stop(process)

        print("\n### Daemon: per connection, ms after `accept` (under strace), median of runs\n")
        print("| command | `git daemon --serve` exec | `git upload-pack` exec | first byte written "
              "| request read | answer written | serving process exits |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, args in commands(url).items():
            trace = work / "daemon.trace"
            process = daemon(repos, port, trace)
            try:
                time.sleep(0.2)
                for _ in range(RUNS):
                    bench.timed(args)
                time.sleep(0.2)
            finally:
                stop(process)
            rows = phases(trace)
            if not rows:
                sys.exit(f"no connection found in {trace}")
            cells = [f"{statistics.median(column):.1f}" for column in zip(*rows)]
            print(f"| `{name}` | " + " | ".join(cells) + " |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
