# A pure-Nix composer with the semantics of docs/format.md#modules, written with scopedImport: the baseline the
# plugin's native composer is compared against (differential tests) and measured against
# (benchmarks). It has no scope boundary: files can still reach Nix's global scope.
#
#   import ./baseline-composer.nix <dir> { config ? {}, extern ? {} }
dir:
{ config ? { }, extern ? { } }:
let
  inherit (builtins)
    attrNames concatMap elemAt filter foldl' listToAttrs match readDir removeAttrs substring
    stringLength;

  upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  lowerLetters = "abcdefghijklmnopqrstuvwxyz";
  lowerFirst = name:
    let first = substring 0 1 name; in
    if match "[A-Z]" first != null
    then builtins.replaceStrings
      (builtins.genList (i: substring i 1 upper) 26)
      (builtins.genList (i: substring i 1 lowerLetters) 26) first
      + substring 1 (stringLength name) name
    else name;
  isPublic = name: match "[A-Z].*" name != null;
  memberName = file:
    let m = match "(\\.*[^.]+)\\.?(.+)?" file; in
    if file != "mod.nix" && m != null && elemAt m 1 == "nix" then elemAt m 0 else null;
  # Later names (in attrNames order) win, so `foo` overrides `Foo`.
  lowerKeys = set: foldl' (acc: name: acc // { ${lowerFirst name} = set.${name}; }) { } (attrNames set);
  publicOf = set: foldl' (acc: name: acc // { ${lowerFirst name} = set.${name}; }) { }
    (filter isPublic (attrNames set));
  isModule = path: (readDir path) ? "mod.nix";

  compose = { dir, atom, pre, isRoot }:
    let
      entries = readDir dir;
      scope = { cfg = config; inherit mod atom; std = builtins; builtins = builtins; }
        // (if isRoot then { } else { inherit pre; })
        // extern;
      member = name:
        let type = entries.${name}; path = dir + "/${name}"; in
        if type == "directory" && isModule path then
          [{ inherit name; value = (compose { dir = path; inherit atom; pre = preOfChildren; isRoot = false; }).public; }]
        else if type == "regular" && memberName name != null then
          [{ name = memberName name; value = builtins.scopedImport scope path; }]
        else [ ];
      raw = listToAttrs (concatMap member (attrNames entries));
      modnix = builtins.scopedImport scope (dir + "/mod.nix");
      all = raw // modnix;
      mod = removeAttrs (lowerKeys all) [ "mod" ] // { outPath = toString dir; };
      preOfChildren = removeAttrs mod [ "outPath" "pre" ] // (if isRoot then { } else { inherit pre; });
    in
    if entries ? "mod.nix" then { public = publicOf all; } else { public = { }; };

  root = compose { inherit dir; atom = top; pre = null; isRoot = true; };
  top = removeAttrs root.public [ "atom" (baseNameOf (toString dir)) ];
in
root.public
