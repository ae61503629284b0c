#!/usr/bin/env bash
# Bytes of a version update, with and without a filtering server: an atom with a 4 MB file,
# published at 0.1.0 then at 0.2.0 and 0.3.0 with only a small file changed; each update is
# fetched into a store that holds the previous version, from `git daemon` on 127.0.0.1 with
# uploadpack.allowFilter on (0.2.0) and off (0.3.0, today's fetch, and what git's own fetch sends).
# Usage: scripts/bench-filter.sh [path to the atom binary]   (default: target/debug/atom)
set -euo pipefail
A=${1:-$(cd "$(dirname "$0")/.." && pwd)/target/debug/atom}
M=$(mktemp -d)
trap 'kill "${dpid:-}" 2>/dev/null || true; rm -rf "$M"' EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b
git init -q -b main "$M/src"
cd "$M/src"
mkdir b
printf '[package]\nlabel = "beta"\nversion = "0.1.0"\n\n[compose.as]\nnix = "."\n' > b/atom.toml
echo '{ }' > b/mod.nix
printf '[set]\npackages = ["b"]\n' > ekala.toml
head -c 4000000 /dev/urandom > b/blob.bin
"$A" lock --offline b >/dev/null
git add -A && git commit -qm v1 && "$A" publish >/dev/null
git init -q --bare "$M/served.git"
git push -q "$M/served.git" 'refs/*:refs/*'
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
git daemon --reuseaddr --base-path="$M" --export-all --listen=127.0.0.1 --port="$port" "$M" >/dev/null 2>&1 &
dpid=$!
sleep 1
url=git://127.0.0.1:$port/served.git
bytes() { "$A" --json fetch "$url" --store "$M/store" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["bytes"], d["filtered"])'; }
update() {
  sed -i "s/^version = .*/version = \"$1\"/" b/atom.toml
  echo "{ v = \"$1\"; }" > b/mod.nix
  git commit -qam "$1" && "$A" publish >/dev/null && git push -q "$M/served.git" 'refs/*:refs/*'
}
first=$(bytes)
git -C "$M/served.git" config uploadpack.allowFilter true
update 0.2.0; filtered=$(bytes)
git -C "$M/served.git" config uploadpack.allowFilter false
update 0.3.0; plain=$(bytes)
echo "| fetch | pack bytes | filtered |"
echo "|---|---:|---|"
echo "| first version (4 MB file) | ${first% *} | ${first#* } |"
echo "| update, server filters | ${filtered% *} | ${filtered#* } |"
echo "| update, server does not filter (today's fetch, as git's) | ${plain% *} | ${plain#* } |"
