#!/usr/bin/env bash
# The main job: set up what is missing, build the plugin, and evaluate the bundled example atom
# (nix/examples/hello) through it with the real nix-instantiate, printing the result.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/setup.sh
echo "example: building the plugin (cargo build -p atom-nix)"
cargo build --quiet -p atom-nix

# The example atom's identity is relative to this repository's root commit.
if ! repo_root=$(git rev-list --max-parents=0 HEAD 2>/dev/null | tail -n 1) || [ -z "$repo_root" ]; then
  echo "example: $root is not a git checkout with history; the atom id needs the repository's root commit" >&2
  exit 1
fi

echo "example: nix-instantiate --store dummy:// --option plugin-files target/debug/libatom_nix.so --eval --strict --argstr root $repo_root nix/examples/main.nix"
nix-instantiate --store dummy:// --option plugin-files "$root/target/debug/libatom_nix.so" \
  --eval --strict --argstr root "$repo_root" nix/examples/main.nix
