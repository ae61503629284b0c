# Direct Nix dependencies of an atom (docs/format.md#entry-kinds and docs/format.md#loading-a-locked-atom), as the atom plugin hands them to modules:
# `deps.pins.<name>` (`{ src, import }`) and `deps.get.<name>` (`{ src }`).
#
# Each is a lazy application of this function: nothing is fetched until a module forces it, and
# then Nix's own fetchers run with the locked rev or hash. A `nix+git` dependency whose rev is
# already on this machine (the atom store's mirror, or a local repository) arrives as `local`,
# its files materialised from git: no fetcher runs for it.
#
# `import PATH` imports the file PATH (relative) of the pinned source through the plugin's
# `importIn`, which refuses anything outside the source (`..`, absolute paths, symlinks leading
# out). The imported file is pinned code: the plugin evaluates it in a closed scope confined to
# the source (std's allow-list as `builtins`, an `import` of the source's own files), never with
# this file's builtins (docs/design.md#pinned-code). `pin.label` names the pin in messages.
{ importIn }:
pin:
let
  withImport = src: {
    inherit src;
    import = path: importIn pin.label src path;
  };
in
if pin.type == "nix+git" then
  withImport (
    if pin ? local then
      pin.local
    else
      builtins.fetchGit {
        url = pin.url;
        rev = pin.rev;
      }
  )
else if pin.type == "nix+tar" then
  withImport (
    builtins.fetchTarball {
      url = pin.url;
      sha256 = pin.hash;
    }
  )
else if pin.type == "nix" then
  withImport (
    builtins.fetchurl {
      url = pin.url;
      sha256 = pin.hash;
    }
  )
else
  {
    src = import <nix/fetchurl.nix> {
      url = pin.url;
      hash = pin.hash;
    };
  }
