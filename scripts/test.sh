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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --quiet --workspace 2>&1 | tee "$log"

# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\n%d passed, %d failed\n", p, f }' "$log"
