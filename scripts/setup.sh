#!/usr/bin/env bash
# Installs what building and testing this project needs on Debian bookworm, idempotently.
#
# - Debian packages: nix-bin 2.8.0 (shared libraries the plugin links against), the header-only
#   dependencies of Nix's headers, pkg-config, valgrind, python3 with python3-venv (the Python
#   package is tested in a fresh venv) and libabigail's abidw/abidiff (abigail-tools) for the test
#   suite.
# - Nix 2.8.0's C++ headers, taken from Debian's source package through a private apt configuration
#   (no system apt source is edited), plus a config.h matching Debian's build, under .setup/ (git-ignored).
# - Nix 2.26.3 with shared libraries and headers, built from Debian trixie's source package by
#   scripts/build-nix-2.26.sh into a cache outside the clone (about ten minutes, once per machine).
#
# A second run only checks and finishes in about a second. A failing step names itself.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W="$root/.setup"
NIX_VERSION=2.8.0
NIX_DEB_VERSION=2.8.0-1.1

step() { current_step="$1"; }
trap 'echo "setup: step \"${current_step:-start}\" failed (exit $?); see the messages above" >&2' ERR

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "setup: step \"$current_step\" needs root to install Debian packages; run as root or install: $*" >&2
    exit 1
  fi
}

step "check the Rust toolchain"
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not on PATH; install Rust (>= 1.88) with rustup first" >&2
  exit 1
fi
rustc_minor=$(rustc --version | awk '{split($2, v, "."); print v[2]}')
if [ "${rustc_minor:-0}" -lt 88 ]; then
  echo "setup: rustc $(rustc --version) is too old; cxx needs rustc >= 1.88" >&2
  exit 1
fi

step "install Debian packages"
# libcurl4-openssl-dev, libssl-dev: the HTTP(S) transport links the system's libcurl, and
# OpenSSL, which it initialises before curl does (see rust/atom/src/remote/http.rs). git, lighttpd,
# openssh-server/-client: the network tests run real git servers on 127.0.0.1 (and `atom publish
# --push` runs `git push`). abigail-tools: the ABI test compares libatom with its baseline.
# python3-venv: `python3 -m venv` (with pip and setuptools) for the Python package's test.
packages=(nix-bin libgc-dev libboost-dev nlohmann-json3-dev pkg-config binutils gcc g++ valgrind python3 python3-venv xz-utils git dpkg-dev
          libcurl4-openssl-dev libssl-dev lighttpd lighttpd-mod-openssl openssl openssh-server openssh-client abigail-tools)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  need_root "${missing[*]}"
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  # Installing lighttpd or openssh-server must not start them as system services (listening on
  # ports 80 and 22): the tests start their own, on loopback and free ports. A policy-rc.d that
  # refuses every start is put in place for the install when the system has none.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$own_policy" ]; then rm -f "$policy"; fi
fi

step "check the installed Nix version"
installed=$(dpkg-query -W -f='${Version}' nix-bin)
case "$installed" in
  "$NIX_VERSION"*) ;;
  *) echo "setup: nix-bin $installed is installed; this project builds against $NIX_VERSION (Debian bookworm)" >&2; exit 1 ;;
esac

step "fetch Nix $NIX_VERSION headers from Debian's source package"
inc="$W/nix-$NIX_VERSION/include"
if [ ! -f "$inc/nix/eval.hh" ]; then
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  if [ -z "$uri" ]; then
    uri=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  if [ -z "$uri" ]; then
    echo "setup: could not find the Debian mirror in the system's apt sources" >&2
    exit 1
  fi
  apt="$W/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$W/src"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm main" > "$apt/sources.list"
  O=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
     -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=root")
  apt-get "${O[@]}" -qq update
  (cd "$W/src" && apt-get "${O[@]}" -qq source --download-only "nix=$NIX_DEB_VERSION" >/dev/null)
  tmp="$inc.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp/nix"
  tar -xJf "$W/src/nix_$NIX_VERSION.orig.tar.xz" -C "$tmp/nix" --strip-components=3 --wildcards \
    "nix-$NIX_VERSION/src/lib*/*.hh"
  # config.h is ABI-critical: it must match Debian's build (configure --enable-gc).
  cat > "$tmp/nix/config.h" <<CONFIG
#pragma once
#define HAVE_BOEHMGC 1
#define HAVE_STRUCT_DIRENT_D_TYPE 1
#define SYSTEM "x86_64-linux"
#define PACKAGE_VERSION "$NIX_VERSION"
CONFIG
  rm -rf "$inc" && mv "$tmp" "$inc"
  rm -rf "$W/src" "$apt/cache"
fi

step "build Nix 2.26.3 (cached outside the clone)"
nix226=$("$root/scripts/build-nix-2.26.sh" | tail -n 1)

echo "setup: ok (Nix $installed, headers in ${inc#$root/}; Nix 2.26.3 in $nix226)"
