#!/usr/bin/env bash
# Installs atom under PREFIX: the `atom` command, libatom (shared and static library, header,
# pkg-config file) and the Nix plugin for the Nix it is built against.
#
#   scripts/install.sh PREFIX                       # release build; the plugin for Debian's Nix 2.8
#   ATOM_NIX_PREFIX=/opt/nix-2.26.3 scripts/install.sh PREFIX   # add the plugin for that Nix
#
# Options:
#   --profile NAME   cargo profile to build with (default: $PROFILE, else release; dev reuses a
#                    debug build)
#   --no-cli, --no-libatom, --no-plugin   leave that part out
#   --no-build       install what the last build of that profile left (without the plugin, whose
#                    Nix version only the build reports)
#   --rpath          write `-Wl,-rpath,LIBDIR` into atom.pc, so programs linked through pkg-config
#                    find libatom without LD_LIBRARY_PATH (the default when LIBDIR is not a
#                    directory the dynamic loader searches)
#   --no-rpath       do not (the default for a directory the loader searches: then `ldconfig` is
#                    run when installing as root, and its command printed otherwise)
#
# Layout:
#   PREFIX/bin/atom
#   PREFIX/lib/libatom.so.0 (SONAME), libatom.so -> libatom.so.0, libatom.a
#   PREFIX/lib/pkgconfig/atom.pc, PREFIX/include/atom.h
#   PREFIX/lib/atom/nix-VERSION/libatom_nix.so      one per Nix version installed for
#   PREFIX/share/atom/nix-VERSION.conf              `extra-plugin-files = <that plugin>`, for the
#                                                   configuration of that Nix version only
#
# Files are written under a temporary name and renamed into place, so a program running from a
# previous install never sees a half-written library.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  echo "usage: scripts/install.sh [--profile release|dev] [--no-cli] [--no-libatom] [--no-plugin] [--no-build] [--rpath|--no-rpath] PREFIX" >&2
  exit 2
}

profile=${PROFILE:-release} cli=1 libatom=1 plugin=1 build=1 rpath=auto prefix=
while [ $# -gt 0 ]; do
  case $1 in
    --profile) [ $# -ge 2 ] || usage; profile=$2; shift ;;
    --profile=*) profile=${1#--profile=} ;;
    --no-cli) cli= ;;
    --no-libatom) libatom= ;;
    --no-plugin) plugin= ;;
    --no-build) build= ;;
    --rpath) rpath=yes ;;
    --no-rpath) rpath=no ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ; exit 0 ;;
    -*) echo "install: unknown option $1" >&2; usage ;;
    *) [ -z "$prefix" ] || usage; prefix=$1 ;;
  esac
  shift
done
[ -n "$prefix" ] || usage
[ -n "$cli$libatom$plugin" ] || { echo "install: nothing to install" >&2; exit 2; }
[ -n "$build" ] || [ -z "$plugin" ] || { echo "install: --no-build needs --no-plugin (only the build says which Nix the plugin is for)" >&2; exit 2; }
case $profile in
  dev | debug) profile=dev dir=debug ;;
  *) dir=$profile ;;
esac
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

# The plugin is built on its own: built with the command and libatom, cargo would unify the core's
# features and link it with the HTTP transport (curl and OpenSSL, started on every evaluation),
# which it never uses. Its JSON messages say which Nix it was built against (its build script's
# ATOM_NIX_VERSION; cargo repeats them for a build that is already fresh).
builds=()
[ -z "$cli$libatom" ] || builds+=("${cli:+-p atom-cli} ${libatom:+-p atom-capi}")
[ -z "$plugin" ] || builds+=("-p atom-nix")
messages=
if [ -n "$build" ]; then
  for packages in "${builds[@]}"; do
    echo "install: cargo build --profile $profile $packages"
    # shellcheck disable=SC2086 # the package options are words
    if ! messages+=$'\n'$(cd "$root" && cargo build --quiet --profile "$profile" $packages --message-format=json-render-diagnostics); then
      echo "install: the build failed (above)${plugin:+; the plugin needs a supported Nix with its headers (README, \"Building the plugin for your own Nix\"), or leave it out with --no-plugin}" >&2
      exit 1
    fi
  done
fi
target=$(cd "$root" && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
built=$target/$dir
for artifact in ${cli:+atom} ${libatom:+libatom.so libatom.a} ${plugin:+libatom_nix.so}; do
  [ -f "$built/$artifact" ] || { echo "install: $built/$artifact is missing (build with --profile $profile)" >&2; exit 1; }
done

# Copies $1 to $2 with mode $3: written beside it, then renamed over it.
put() {
  mkdir -p "$(dirname "$2")"
  install -m "$3" "$1" "$2.install-tmp"
  mv -f "$2.install-tmp" "$2"
}

# Whether directory $1 is one the dynamic loader searches without help (its trusted directories
# and those of /etc/ld.so.conf).
loader_searches() {
  local wanted dir
  wanted=$(readlink -f "$1")
  for dir in /lib /usr/lib $( (ldconfig -v -N -X 2>/dev/null || /sbin/ldconfig -v -N -X 2>/dev/null) | sed -n 's/^\(\/[^:]*\):.*/\1/p'); do
    [ "$(readlink -f "$dir")" != "$wanted" ] || return 0
  done
  return 1
}

if [ -n "$cli" ]; then
  put "$built/atom" "$prefix/bin/atom" 0755
  echo "install: $prefix/bin/atom"
fi

if [ -n "$libatom" ]; then
  version=$(cd "$root" && cargo pkgid -p atom-capi | sed 's/.*[#@]//')
  abi_major=$(awk '/^#define ATOM_ABI_MAJOR/ {print $3}' "$root/include/atom.h")
  libdir=$prefix/lib
  put "$built/libatom.so" "$libdir/libatom.so.$abi_major" 0755
  ln -sfn "libatom.so.$abi_major" "$libdir/libatom.so"
  put "$built/libatom.a" "$libdir/libatom.a" 0644
  put "$root/include/atom.h" "$prefix/include/atom.h" 0644
  system_dir=
  if loader_searches "$libdir"; then system_dir=1; fi
  if [ "$rpath" = auto ]; then
    if [ -n "$system_dir" ]; then rpath=no; else rpath=yes; fi
  fi
  libs='-L${libdir} -latom'
  if [ "$rpath" = yes ]; then libs='-L${libdir} -Wl,-rpath,${libdir} -latom'; fi
  pc=$(mktemp)
  cat > "$pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: atom
Description: The Atom format for Nix: identity, manifests, locks and git storage of atoms
Version: $version
Libs: $libs
Libs.private: -lcurl -lssl -lcrypto -lpthread -ldl -lm -lgcc_s
Cflags: -I\${includedir}
PC
  put "$pc" "$libdir/pkgconfig/atom.pc" 0644
  rm -f "$pc"
  echo "install: libatom $version (ABI $abi_major) in $libdir, atom.h in $prefix/include, atom.pc in $libdir/pkgconfig"
  if [ "$rpath" = yes ]; then
    echo "install: programs linked with \`pkg-config --libs atom\` find $libdir through their rpath"
  fi
  if [ -n "$system_dir" ]; then
    if [ "$(id -u)" = 0 ]; then
      ldconfig
      echo "install: ran ldconfig: the dynamic loader finds libatom.so.$abi_major in $libdir"
    else
      echo "install: run \`sudo ldconfig\` so that the dynamic loader finds libatom.so.$abi_major in $libdir"
    fi
  fi
  default_pc_path=$(pkg-config --variable pc_path pkg-config 2>/dev/null || true)
  case ":${PKG_CONFIG_PATH:-}:$default_pc_path:" in
    *":$libdir/pkgconfig:"*) ;;
    *) echo "install: for pkg-config: export PKG_CONFIG_PATH=$libdir/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}" ;;
  esac
fi

if [ -n "$plugin" ]; then
  nix_version=$(printf '%s\n' "$messages" | grep '"reason":"build-script-executed"' | grep '/rust/atom-nix#' \
    | grep -o '\["ATOM_NIX_VERSION","[^"]*"\]' | tail -n 1 | sed 's/.*,"\([^"]*\)"\]/\1/')
  if [ -z "$nix_version" ]; then
    echo "install: cannot tell which Nix the plugin was built against (no ATOM_NIX_VERSION from its build script)" >&2
    exit 1
  fi
  plugin_path=$prefix/lib/atom/nix-$nix_version/libatom_nix.so
  conf=$prefix/share/atom/nix-$nix_version.conf
  put "$built/libatom_nix.so" "$plugin_path" 0755
  conf_tmp=$(mktemp)
  cat > "$conf_tmp" <<CONF
# The atom plugin for Nix $nix_version. Only Nix $nix_version may read this file: another version
# would load a plugin built for a different C++ API, print a warning and go without builtins.atom.
# Select it for this Nix version alone, e.g. in the environment that runs it:
#   export NIX_USER_CONF_FILES=\$HOME/.config/nix/nix.conf:$conf
extra-plugin-files = $plugin_path
CONF
  put "$conf_tmp" "$conf" 0644
  rm -f "$conf_tmp"
  echo "install: the plugin for Nix $nix_version: $plugin_path"
  echo "install: its configuration: $conf (read it from Nix $nix_version only: see the README, \"Installing\")"
fi
