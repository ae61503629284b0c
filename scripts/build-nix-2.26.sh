#!/usr/bin/env bash
# Builds Nix 2.26.3 with shared libraries and headers from Debian's own source package (trixie's),
# so that the plugin can be built and tested against it on Debian bookworm, which ships only 2.8.
#
# The result is cached outside the clone, because CI clones afresh on every run:
#   ${ATOM_DEV_CACHE:-/var/cache/atom-dev}/nix-2.26.3   (as root; otherwise ~/.cache/atom-dev)
# A finished prefix holds a stamp naming the recipe and the patches it was built with; while the
# stamp matches, this script only checks and returns at once. A fresh machine pays about ten
# minutes on two cores. Prints the prefix on its last line of stdout. A failing step names itself.
#
# Bookworm is too old for three of Nix 2.26's dependencies, handled here:
# - meson >= 1.1: meson and ninja come from PyPI into a virtualenv in the build directory;
# - libgit2 >= 1.9: trixie's libgit2 source is built with cmake into the same prefix;
# - libseccomp >= 2.5.5: seccomp sandboxing is disabled (builds are not what this Nix is for).
# Two compile errors from bookworm's libgc 8.2.2 and boost 1.74 are fixed by the small patches in
# scripts/patches/nix-2.26.3/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NIX_VERSION=2.26.3
RECIPE=1 # bump when the build below changes in a way that needs a rebuild
MESON_VERSION=1.12.1
NINJA_VERSION=1.13.2

if [ -n "${ATOM_DEV_CACHE:-}" ]; then
  cache=$ATOM_DEV_CACHE
elif [ "$(id -u)" = 0 ]; then
  cache=/var/cache/atom-dev
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/atom-dev
fi
prefix=$cache/nix-$NIX_VERSION
work=$cache/build-nix-$NIX_VERSION
patches=$root/scripts/patches/nix-$NIX_VERSION

step() { current_step="$1"; }
trap 'echo "build-nix-2.26: step \"${current_step:-start}\" failed (exit $?); see the messages above${log:+ and $log}" >&2' ERR

stamp_want="nix $NIX_VERSION recipe $RECIPE patches $(cat "$patches"/*.patch | sha256sum | cut -c1-16)"
if [ -f "$prefix/.atom-stamp" ] && [ "$(cat "$prefix/.atom-stamp")" = "$stamp_want" ] \
  && [ -x "$prefix/bin/nix-instantiate" ]; then
  echo "$prefix"
  exit 0
fi

step "lock the cache directory"
mkdir -p "$cache"
exec 9>"$cache/nix-$NIX_VERSION.lock"
if ! flock -n 9; then
  # Another run (another clone's setup, a CI run) is building: say so, then wait for it.
  echo "build-nix-2.26: another build of Nix $NIX_VERSION holds $cache/nix-$NIX_VERSION.lock; waiting for it to finish (up to about ten minutes)" >&2
  flock 9
fi
# Another run may have finished the build while this one waited for the lock.
if [ -f "$prefix/.atom-stamp" ] && [ "$(cat "$prefix/.atom-stamp")" = "$stamp_want" ]; then
  echo "$prefix"
  exit 0
fi
echo "build-nix-2.26: building Nix $NIX_VERSION into $prefix (about ten minutes on two cores)" >&2

step "install Debian packages for building Nix $NIX_VERSION"
packages=(build-essential pkgconf cmake bison flex python3-venv libarchive-dev libboost-dev
  libboost-context-dev libboost-coroutine-dev libboost-container-dev libbrotli-dev
  libcurl4-openssl-dev libgc-dev libsodium-dev libsqlite3-dev libssl-dev libtoml11-dev
  nlohmann-json3-dev libreadline-dev liblowdown-dev libbsd-dev libcpuid-dev zlib1g-dev
  libhttp-parser-dev libpcre2-dev libssh2-1-dev dpkg-dev xz-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "build-nix-2.26: needs root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "build-nix-2.26: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

rm -rf "$work" "$prefix"
mkdir -p "$work"
log=$work/build.log
: >"$log"

step "fetch the nix and libgit2 source packages from Debian trixie"
# The mirror comes from the system's own apt sources; a private apt configuration adds trixie's
# deb-src entry without editing any system file.
uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$uri" ]; then
  uri=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$uri" ] || { echo "build-nix-2.26: could not find the Debian mirror in the system's apt sources" >&2; false; }
apt=$work/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" >"$apt/sources.list"
O=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=root")
apt-get "${O[@]}" -qq update >>"$log" 2>&1
(cd "$work/src" && apt-get "${O[@]}" -qq source --download-only nix/trixie libgit2/trixie >>"$log" 2>&1)

step "unpack the source packages"
(cd "$work/src" && for dsc in nix_*.dsc libgit2_*.dsc; do
  dpkg-source --no-check -x "$dsc" "${dsc%%_*}" >>"$log" 2>&1
done)
got=$(dpkg-parsechangelog -l "$work/src/nix/debian/changelog" -S Version)
case "$got" in
  "$NIX_VERSION"+*) ;;
  *) echo "build-nix-2.26: trixie's nix source is $got, not $NIX_VERSION" >&2; false ;;
esac

step "apply the local patches (scripts/patches/nix-$NIX_VERSION)"
for p in "$patches"/*.patch; do
  patch -d "$work/src/nix" -p1 --forward --quiet <"$p" >>"$log" 2>&1
done

step "install meson $MESON_VERSION and ninja $NINJA_VERSION from PyPI into a virtualenv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "meson==$MESON_VERSION" "ninja==$NINJA_VERSION" >>"$log" 2>&1
export PATH="$work/venv/bin:$PATH"

jobs=$(($(nproc) + 1))

step "build libgit2 (cmake)"
cmake -S "$work/src/libgit2" -B "$work/libgit2-build" -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_RPATH="$prefix/lib" \
  -DBUILD_SHARED_LIBS=ON -DBUILD_TESTS=OFF -DBUILD_CLI=OFF -DBUILD_EXAMPLES=OFF -DBUILD_FUZZERS=OFF \
  -DUSE_HTTPS=OpenSSL -DREGEX_BACKEND=pcre2 -DUSE_HTTP_PARSER=system -DUSE_SSH=ON \
  -DUSE_NTLMCLIENT=OFF -DUSE_GSSAPI=OFF >>"$log" 2>&1
cmake --build "$work/libgit2-build" -j "$jobs" >>"$log" 2>&1
cmake --install "$work/libgit2-build" >>"$log" 2>&1

step "configure Nix (meson)"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" LDFLAGS="-Wl,-rpath,$prefix/lib" \
  meson setup "$work/nix-build" "$work/src/nix" --prefix="$prefix" --libdir=lib \
  -Dbuildtype=release -Ddefault_library=shared -Ddoc-gen=false -Dunit-tests=false -Dbindings=false \
  -Dlibstore:seccomp-sandboxing=disabled -Dlibcmd:readline-flavor=readline -Dlibexpr:gc=enabled \
  >>"$log" 2>&1

step "compile Nix (ninja, about nine minutes on two cores)"
if [ -t 2 ]; then
  # On a terminal, ninja's [done/total] progress on one line; everything still goes to the log.
  ninja -C "$work/nix-build" -j "$jobs" 2>&1 | tee -a "$log" \
    | awk '/^\[[0-9]+\/[0-9]+\]/ { printf "\rbuild-nix-2.26: compiling %s", $1 > "/dev/stderr"; fflush("/dev/stderr") } END { print "" > "/dev/stderr" }'
else
  ninja -C "$work/nix-build" -j "$jobs" >>"$log" 2>&1
fi

step "install Nix into $prefix"
ninja -C "$work/nix-build" install >>"$log" 2>&1

step "check the installed Nix"
out=$(HOME="$work" "$prefix/bin/nix-instantiate" --store dummy:// --eval --expr '1 + 1' 2>>"$log")
[ "$out" = 2 ] || { echo "build-nix-2.26: the installed nix-instantiate printed '$out' for 1 + 1" >&2; false; }
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --exists nix-expr

echo "$stamp_want" >"$prefix/.atom-stamp"
rm -rf "$work"
echo "build-nix-2.26: done" >&2
echo "$prefix"
