#!/usr/bin/env bash
# The whole test suite: set up what is missing, then formatting, lints, build, and every test
# (Rust unit tests, Nix integration tests through the real plugin, C programs against libatom).
# The plugin's tests run twice: against Debian's Nix 2.8 and against Nix 2.26.3 (built once per
# machine by scripts/build-nix-2.26.sh, outside the clone), with the plugin built for each.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

stage() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

stage "setup"
scripts/setup.sh
nix226=$(scripts/build-nix-2.26.sh | tail -n 1)

stage "cargo fmt --check"
cargo fmt --all -- --check

stage "cargo clippy"
cargo clippy --quiet --workspace --all-targets -- -D warnings

# The plugin and libatom are cdylib/staticlib artifacts, which `cargo test` does not build for
# integration tests: build them first (the tests refuse stale ones). The plugin is built on its
# own, as scripts/install.sh builds it: with the rest, cargo would unify the core's features and
# link the HTTP transport into it (a test checks that it does not).
stage "cargo build"
cargo build --quiet --workspace --exclude atom-nix
# The core as the plugin links it (without the HTTP transport) compiles without a warning
# (cargo repeats the warnings of units already built).
warnings=$(cargo build --quiet -p atom-nix 2>&1) || { printf '%s\n' "$warnings"; exit 1; }
if [ -n "$warnings" ]; then
  printf '%s\nthe plugin'"'"'s build warns (above)\n' "$warnings"
  exit 1
fi

# The tests' scratch directories (target/tmp): a passing test removes its own, a failing one
# keeps it for inspection until the next run.
rm -rf "$root/target/tmp"

stage "cargo test (the plugin on Nix 2.8)"
# The log the closing line is summed from lives in the build directory, not /tmp: whatever
# cleans /tmp meanwhile (another user, another run) cannot take half of the count with it.
mkdir -p "$root/target"
log="$root/target/test-summary.log"
: >"$log"
# A failing run does not stop the other: both are counted, then the status is the worse.
status=0
cargo test --quiet --workspace --no-fail-fast 2>&1 | tee "$log" || status=1

# The same target directory: only the plugin is rebuilt (its build script reads ATOM_NIX_PREFIX),
# and its tests then run the Nix it was built for. The mismatch test loads each build into the
# other version.
stage "cargo build (the plugin against Nix 2.26.3 in $nix226)"
ATOM_NIX_PREFIX="$nix226" cargo build --quiet -p atom-nix

stage "cargo test (the plugin on Nix 2.26.3)"
ATOM_NIX_PREFIX="$nix226" cargo test --quiet -p atom-nix --no-fail-fast 2>&1 | tee -a "$log" || status=1

# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\n%d passed, %d failed\n", p, f }' "$log"
exit $status
