#!/usr/bin/env bash
# Runs every coverage-guided fuzz target of the core's parsers for SECONDS each (default 60).
#
#   scripts/fuzz.sh 600          # ten minutes per target
#   scripts/fuzz.sh 60 lock uri  # only some targets
#
# Uses cargo-fuzz (libFuzzer). The machine has only a stable toolchain, so RUSTC_BOOTSTRAP=1
# lets cargo-fuzz pass its -Z flags. Seeds come from tests/corpus and tests/fixtures; new inputs
# are kept under rust/atom/fuzz/corpus (git-ignored). Not part of the test command.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(manifest lock uri label)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd "$root/rust/atom"
export RUSTC_BOOTSTRAP=1

for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  case $target in
    manifest) cp "$root"/tests/corpus/manifest/*.toml "$root"/tests/corpus/set/*.toml "$root"/nix/examples/hello/atom.toml "$corpus"/ ;;
    lock) cp "$root"/tests/corpus/lock/*.toml "$root"/tests/fixtures/locks/*.lock "$corpus"/ ;;
    uri) printf 'gh:owner/repo::label@^1' > "$corpus/seed-1"; printf 'git@github.com:o/r::x' > "$corpus/seed-2"; printf 'https://example.com:8080/a::b@>=1, <2' > "$corpus/seed-3" ;;
    label) printf 'Café_au_lait-123' > "$corpus/seed-1"; printf 'a.b:c' > "$corpus/seed-2"; printf 'ﬁle' > "$corpus/seed-3" ;;
  esac
  echo "fuzz: $target for ${seconds}s"
  cargo fuzz run --sanitizer none "$target" "$corpus" -- -max_total_time="$seconds" -max_len=4096 2>&1 |
    grep -E '^(#[0-9]+ +DONE|Done|==|SUMMARY|thread|panicked|ERROR)' || true
  # cargo-fuzz exits non-zero and leaves an artifact when a target fails.
  if ls fuzz/artifacts/"$target"/crash-* fuzz/artifacts/"$target"/timeout-* >/dev/null 2>&1; then
    echo "fuzz: $target FAILED; artifacts in rust/atom/fuzz/artifacts/$target" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran clean"
