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
# Needs `cargo build --workspace` first (target/debug/atom, target/debug/libatom_nix.so), git,
# nix-instantiate, ssh-keygen and python3 (a free port). Everything runs in a temporary directory
# on file:// repositories and one git daemon on 127.0.0.1: nothing is fetched from the network.
# Also checks repositories whose atoms this project signed (issue 20; tests/fixtures/reference/
# signed/). Prints one line per check and exits 1 if any differs.
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

# Issue 20: repositories whose atoms this project published signed (signature tags at
# refs/eka/meta/<label>/<version>/signature; mid carries atom.lock and atom.integrity). The
# reference must still list, lock, load and publish into them.
S=$W/signed
mkdir "$S"
ATOM_STORE=$W/signed-store "$fixtures/signed/repos.sh" "$S" "$ATOM"
mid_rev=$(git -C "$S/mirror.git" rev-parse refs/eka/atoms/mid/0.1.0)
signed_portable() { sed -e "s|$S|@DIR@|g" -e "s|$mid_rev|@MID@|g" "$1"; }
export ATOM_STORE=$W/signed-store
# The reference locks mid (set `["::", mirror]`) as `atom lock` did before mid was published.
cp -r "$S/pub" "$S/pub-ref"
rm "$S/pub-ref/mid/atom.lock"
(cd "$S/pub-ref" && "$EKA" resolve mid >/dev/null 2>&1) || echo "eka resolve mid failed" >> "$S/pub-ref/mid/atom.lock"
check "signed: pub/mid atom.lock" "$(signed_portable "$S/pub-ref/mid/atom.lock")" "$(signed_portable "$S/pub/mid/atom.lock")"
# It lists the signed mirror and locks app against it (file://), as `atom lock` does.
cp -r "$S/cons" "$S/cons-ref"
(cd "$S/cons-ref" && "$EKA" resolve app >/dev/null 2>&1) || echo "eka resolve app failed" >> "$S/cons-ref/app/atom.lock"
"$ATOM" -C "$S/cons" lock app >/dev/null
check "signed: cons/app atom.lock" "$(signed_portable "$S/cons-ref/app/atom.lock")" "$(signed_portable "$S/cons/app/atom.lock")"
# The same over the git protocol (a git daemon on loopback advertises the signature tags). (The
# reference's `eka add URL::label` cannot be used: it reads `git://127.0.0.1:PORT/…` as no URL.)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
git daemon --reuseaddr --listen=127.0.0.1 --port="$port" --base-path="$S" --export-all \
  --detach --pid-file="$S/daemon.pid" "$S"
trap 'kill "$(cat "$S/daemon.pid")" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do git ls-remote "git://127.0.0.1:$port/mirror.git" >/dev/null 2>&1 && break; sleep 0.5; done
cp -r "$S/cons" "$S/cons-git"
rm "$S/cons-git/app/atom.lock" "$S/cons-git/app/atom.integrity"
sed -i "s|file://$S/mirror.git|git://127.0.0.1:$port/mirror.git|" "$S/cons-git/app/atom.toml"
(cd "$S/cons-git" && "$EKA" resolve app >/dev/null 2>&1) || echo "eka resolve app failed" >> "$S/cons-git/app/atom.lock"
check "signed: cons/app atom.lock over git://" "$(signed_portable "$S/cons-ref/app/atom.lock")" \
  "$(sed "s|git://127.0.0.1:$port/mirror.git|file://$S/mirror.git|" "$S/cons-git/app/atom.lock" | signed_portable /dev/stdin)"
# It reads a consumer with atom.integrity and atom.signers (trust) and leaves its lock alone.
"$ATOM" -C "$S/cons" trust add up "$S/key.pub" >/dev/null
before=$(cat "$S/cons/app/atom.lock")
r=$(cd "$S/cons" && "$EKA" resolve app 2>&1) && r=$(cat "$S/cons/app/atom.lock") || r="refused: $r"
check "signed: the reference reads a lock with atom.integrity and atom.signers" "$before" "$r"
# This project reads the reference's lock: --check accepts it, the closure verifies (signatures
# and digests: mid's own atom.integrity), and both loaders give one value.
cp "$S/cons-ref/app/atom.lock" "$S/cons/app/atom.lock"
rm "$S/cons/app/atom.integrity"
r=$("$ATOM" -C "$S/cons" lock app --check 2>&1) && r=accepted || r="refused: $r"
check "signed: atom lock --check accepts the reference's lock" accepted "$r"
r=$(cd "$S/cons/app" && "$ATOM" verify --recursive 2>&1) && r=verified || r="refused: $r"
check "signed: atom verify --recursive on the reference's lock" verified "$r"
# nix-lock fetches with builtins.fetchGit: a real (private) store rather than dummy://.
ref_signed=$("$REF_NIX_INSTANTIATE" --store "$W/nix-store" --option build-users-group "" \
  --eval --strict --expr "import $NIX_LOCK $S/cons-ref/app (builtins.readFile $S/cons-ref/app/atom.lock) {}" 2>&1 || true)
check "signed: value of cons/app" "$ref_signed" "$(our_eval "$S/cons/app")"
# The reference publishes into the signed repository (an unsigned base 1.1.0, and mid 0.2.0,
# which carries atom.integrity), pushing to a mirror that holds signature tags; this project
# verifies what it published.
git clone -q --mirror "$S/mirror.git" "$S/mirror-ref.git"
cp -r "$S/pub" "$S/pub-eka"
(
  cd "$S/pub-eka"
  git remote set-url origin "file://$S/mirror-ref.git"
  sed -i 's/^version = "1.0.0"/version = "1.1.0"/' base/atom.toml
  sed -i 's/^version = "0.1.0"/version = "0.2.0"/' mid/atom.toml
  git -c user.name=Fixture -c user.email=fixture@example.com commit -qam "base 1.1.0, mid 0.2.0"
)
r=$(cd "$S/pub-eka" && "$EKA" publish base mid 2>&1) && r=$(git -C "$S/mirror-ref.git" ls-tree --name-only refs/eka/atoms/mid/0.2.0 | tr '\n' ' ') || r="refused: $r"
check "signed: the reference publishes into a signed repository" "atom.integrity atom.lock atom.toml default.nix " "$r"
r=$("$ATOM" -C "$S/pub-eka" verify 2>&1) && r=verified || r="refused: $r"
check "signed: atom verify on what the reference published there" verified "$r"

if [ "$UPDATE" = --update ]; then
  portable "$W/ref/proj/app/atom.toml" > "$fixtures/proj-app.atom.toml"
  portable "$W/ref/proj/app/atom.lock" > "$fixtures/proj-app.atom.lock"
  portable "$W/ref/up/app/atom.toml" > "$fixtures/up-app.atom.toml"
  portable "$W/ref/up/app/atom.lock" > "$fixtures/up-app.atom.lock"
  git -C "$W/ref/up" for-each-ref > "$fixtures/up.refs"
  signed_portable "$S/pub-ref/mid/atom.lock" > "$fixtures/signed/mid.atom.lock"
  signed_portable "$S/cons-ref/app/atom.lock" > "$fixtures/signed/app.atom.lock"
  printf '%s\n' "$ref_signed" > "$fixtures/signed/app.value"
  echo "fixtures written to $fixtures"
fi
exit $failed
