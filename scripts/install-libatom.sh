#!/usr/bin/env bash
# Installs libatom: the shared library (as its SONAME, libatom.so.0, with the libatom.so link),
# the static library, include/atom.h and a pkg-config file, under PREFIX.
#
#   PREFIX=/usr/local scripts/install-libatom.sh
#   PREFIX=$HOME/.local PROFILE=dev scripts/install-libatom.sh   # reuse a debug build
#
# Then: cc my.c $(PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --cflags --libs atom)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${PREFIX:-/usr/local}
profile=${PROFILE:-release}
case $profile in
  dev | debug) profile=dev; dir=debug ;;
  *) dir=$profile ;;
esac

cd "$root"
cargo build --quiet -p atom-capi --profile "$profile"
version=$(cargo pkgid -p atom-capi | sed 's/.*[#@]//')
abi_major=$(awk '/^#define ATOM_ABI_MAJOR/ {print $3}' include/atom.h)

install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "target/$dir/libatom.so" "$prefix/lib/libatom.so.$abi_major"
ln -sf "libatom.so.$abi_major" "$prefix/lib/libatom.so"
install -m 0644 "target/$dir/libatom.a" "$prefix/lib/libatom.a"
install -m 0644 include/atom.h "$prefix/include/atom.h"
cat > "$prefix/lib/pkgconfig/atom.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: atom
Description: The Atom format for Nix: identity, manifests, locks and git storage of atoms
Version: $version
Libs: -L\${libdir} -latom
Libs.private: -lcurl -lpthread -ldl -lm -lgcc_s
Cflags: -I\${includedir}
PC
echo "installed libatom $version (ABI $abi_major) under $prefix"
