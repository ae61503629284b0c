#!/usr/bin/env bash
# The whole test suite: set up what is missing, then formatting, lints, build, and every test
# (Rust unit tests, Nix integration tests through the real plugin, C programs against libatom).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

stage() { printf '\n== %s\n' "$*"; }

stage "setup"
scripts/setup.sh

stage "cargo fmt --check"
cargo fmt --all -- --check

stage "cargo clippy"
cargo clippy --quiet --workspace --all-targets -- -D warnings

# The plugin and libatom are cdylib/staticlib artifacts, which `cargo test` does not build for
# integration tests: build them first (the tests refuse stale ones).
stage "cargo build"
cargo build --quiet --workspace

stage "cargo test"
cargo test --quiet --workspace
