#!/usr/bin/env bash
# Installs libatom alone (the shared library as its SONAME libatom.so.0 with the libatom.so link,
# the static library, include/atom.h and lib/pkgconfig/atom.pc) under PREFIX: scripts/install.sh
# without the CLI and the plugin.
#
#   PREFIX=/usr/local scripts/install-libatom.sh
#   PREFIX=$HOME/.local PROFILE=dev scripts/install-libatom.sh   # reuse a debug build
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/install.sh" --no-cli --no-plugin "${PREFIX:-/usr/local}"
