#!/usr/bin/env bash
# Reruns the comparison with the reference client (issue 21) and, with --update, rewrites the
# fixtures the tests read (tests/fixtures/reference/; rust/atom-nix/tests/reference.rs).
#
# Usage: scripts/compare-reference.sh EKA [--update]
#   EKA  the reference client's binary, built outside this project
#        (../shared/tools/build-eka.sh MIRROR prints its path last)
#   REF_NIX_INSTANTIATE (environment): the nix-instantiate that runs the reference's loader, a Nix
#        2.14 or later (default: scripts/setup.sh's Nix 2.26.3)
#   NIX_LOCK (environment): the reference's Nix loader, nix-lock's default.nix; default: read
#        from the reference's repository EKA_MIRROR (default /work/.mirror/ekala-project+eka/repo)
#        at nix-lock 0.1.6, the locker the reference writes into locks.
# Needs `cargo build --workspace` first (target/debug/atom, target/debug/libatom_nix.so), git and
# nix-instantiate. Everything runs in a temporary directory on file:// repositories: nothing is
# fetched from the network. Prints one line per check and exits 1 if any differs.
set -euo pipefail
EKA=$(realpath "${1:?usage: compare-reference.sh EKA [--update]}")
UPDATE=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
fixtures=$top/tests/fixtures/reference
ATOM=$top/target/debug/atom
PLUGIN=$top/target/debug/libatom_nix.so
W=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
if [ -z "${NIX_LOCK:-}" ]; then
  NIX_LOCK=$W/nix-lock.nix
  git -C "${EKA_MIRROR:-/work/.mirror/ekala-project+eka/repo}" show \
    e711aa1f48d877652dd2ba724d4af752be7b5371:default.nix > "$NIX_LOCK"
fi
# nix-lock uses builtins.readFileType (Nix 2.14 and later): it runs on Nix 2.26.3, the plugin on
# the Nix it was built for.
REF_NIX_INSTANTIATE=${REF_NIX_INSTANTIATE:-/var/cache/atom-dev/nix-2.26.3/bin/nix-instantiate}
export HOME=$W/home XDG_CONFIG_HOME=$W/home/config NIX_CONF_DIR=$W/home/etc ATOM_STORE=$W/store
mkdir -p "$HOME"
failed=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then echo "same: $1"; else
    echo "DIFFERENT: $1"; diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") || true; failed=1; fi
}
# A file with this run's directories replaced by @DIR@ (fixtures hold no machine paths).
portable() { sed -e "s|$W/ref|@DIR@|g" -e "s|$W/ours|@DIR@|g" "$1"; }
ref_eval() { # atom directory: the reference loader on its atom.lock
  "$REF_NIX_INSTANTIATE" --store dummy:// --eval --strict --expr \
    "import $NIX_LOCK $1 (builtins.readFile $1/atom.lock) {}" 2>&1 || true
}
our_eval() {
  nix-instantiate --store dummy:// --option plugin-files "$PLUGIN" --eval --strict \
    --expr "builtins.atom.import $1" 2>&1 || true
}

mkdir "$W/ref" "$W/ours"
# The reference publishes after `eka init` (which records the repository's identity at `origin`).
printf '#!/bin/sh\n"%s" init >/dev/null 2>&1 || true\nexec "%s" publish "$@"\n' "$EKA" "$EKA" > "$W/eka-publish"
chmod +x "$W/eka-publish"
"$fixtures/repos.sh" "$W/ref" "$ATOM" "$W/eka-publish"
"$fixtures/repos.sh" "$W/ours" "$ATOM" "$ATOM publish"
for repo in up mirror.git; do
  check "published refs of $repo" "$(git -C "$W/ref/$repo" for-each-ref)" "$(git -C "$W/ours/$repo" for-each-ref)"
done

# Items 2 and 3: the reference locks app's dependency on an unpublished atom of its own
# repository; this project locks the same manifest.
(cd "$W/ref/proj" && "$EKA" add -p app ::lib --set local >/dev/null 2>&1)
cp "$W/ref/proj/app/atom.toml" "$W/ours/proj/app/atom.toml"
"$ATOM" -C "$W/ours/proj" lock app >/dev/null
check "proj/app atom.lock" "$(portable "$W/ref/proj/app/atom.lock")" "$(portable "$W/ours/proj/app/atom.lock")"

# Item 4: a `::` set with a mirror that has a newer version than the local refs.
(cd "$W/ref/up" && "$EKA" add -p app ::alpha --set here >/dev/null 2>&1)
portable "$W/ref/up/app/atom.toml" | sed "s|@DIR@|$W/ours|g" > "$W/ours/up/app/atom.toml"
"$ATOM" -C "$W/ours/up" lock app >/dev/null
check "up/app atom.lock" "$(portable "$W/ref/up/app/atom.lock")" "$(portable "$W/ours/up/app/atom.lock")"

# Item 2: the reference reads a lock this project wrote (it adds to it).
cp -r "$W/ours/proj" "$W/reads"
(cd "$W/reads" && "$EKA" add -p app ::triv >/dev/null 2>&1) && r=read || r="refused: $(cd "$W/reads" && "$EKA" add -p app ::triv 2>&1 | tail -n 3)"
check "the reference reads this project's lock" read "$r"

# Items 1 and 5: values. Atoms without dependencies get a lock from `atom lock` (the reference
# loader needs one); app is evaluated with the reference's lock in both.
for atom in lib triv; do "$ATOM" -C "$W/ours/proj" lock $atom >/dev/null; cp "$W/ours/proj/$atom/atom.lock" "$W/ref/proj/$atom/"; done
for atom in lib triv app; do
  ref=$(ref_eval "$W/ref/proj/$atom")
  ours=$(our_eval "$W/ours/proj/$atom")
  check "value of proj/$atom" "$ref" "$ours"
  [ "$UPDATE" = --update ] && printf '%s\n' "$ref" > "$fixtures/proj-$atom.value"
done

if [ "$UPDATE" = --update ]; then
  portable "$W/ref/proj/app/atom.toml" > "$fixtures/proj-app.atom.toml"
  portable "$W/ref/proj/app/atom.lock" > "$fixtures/proj-app.atom.lock"
  portable "$W/ref/up/app/atom.toml" > "$fixtures/up-app.atom.toml"
  portable "$W/ref/up/app/atom.lock" > "$fixtures/up-app.atom.lock"
  git -C "$W/ref/up" for-each-ref > "$fixtures/up.refs"
  echo "fixtures written to $fixtures"
fi
exit $failed
