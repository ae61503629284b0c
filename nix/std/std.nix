# The library part of `std`, the standard library atom modules see (docs/format.md#std; the allow-list: docs/design.md#std-is-an-allow-list).
#
# It is evaluated by the plugin in a closed scope where `builtins` is the curated set of pure Nix
# builtins (the same set `std` and `builtins` extend in module files), and merged over it: a
# library attribute wins over a builtin of the same name.
let
  inherit (builtins)
    attrNames concatStringsSep elemAt filter foldl' genList isAttrs length listToAttrs
    match stringLength substring
    ;

  fix = f: let x = f x; in x;

  # Recursive merge of two attribute sets: nested sets are merged, anything else on the right wins.
  merge2 = a: b:
    a // builtins.mapAttrs (name: value:
      if isAttrs value && a ? ${name} && isAttrs a.${name} then merge2 a.${name} value else value) b;

  upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  lower = "abcdefghijklmnopqrstuvwxyz";
  toLower = builtins.replaceStrings
    (genList (i: substring i 1 upper) 26)
    (genList (i: substring i 1 lower) 26);
in
{
  # The fixed point of `f`: `fix (self: { a = 1; b = self.a + 1; })` is `{ a = 1; b = 2; }`.
  inherit fix;

  file = {
    # A data file's value by its extension: `.json` and `.toml` are parsed, anything else is
    # returned as text.
    parse = path:
      let
        extension = match ".*\\.([^./]+)" (toString path);
        text = builtins.readFile path;
      in
      if extension == [ "json" ] then builtins.fromJSON text
      else if extension == [ "toml" ] then builtins.fromTOML text
      else text;
  };

  set = {
    # `set` when `condition` holds, else `{ }`.
    when = condition: set: if condition then set else { };

    # Maps `f name value` over a set and drops the attributes where it returns null.
    filterMap = f: set:
      listToAttrs (filter (x: x != null) (map
        (name:
          let value = f name set.${name}; in
          if value == null then null else { inherit name value; })
        (attrNames set)));

    # Merges a list of sets recursively, later ones winning.
    merge = sets: foldl' merge2 { } sets;

    # Puts `value` at the attribute path `path` (a list of names) of `set`, merging.
    inject = set: path: value:
      merge2 set (builtins.foldl' (acc: name: { ${name} = acc; }) value (builtins.genList
        (i: elemAt path (length path - 1 - i))
        (length path)));
  };

  path = {
    # Joins path components with `/`: `make [ "a" "b" "c.nix" ]` is `"a/b/c.nix"`.
    make = parts: concatStringsSep "/" parts;
    # `std.path { path = ./x; ... }` is still Nix's `path` (confined to the atom), as the
    # reference does for a library set that shadows a builtin.
    __functor = _: builtins.path;
  };

  string = {
    # ASCII lower case.
    inherit toLower;
    toLowerCase = toLower;
  };

  list = {
    # `map` with the index: `imap (i: x: ...) list`, indices from 0.
    imap = f: list: genList (i: f i (elemAt list i)) (length list);

    # `count` elements of `list` starting at `start` (clamped to the list).
    sublist = start: count: list:
      let
        len = length list;
        first = if start >= len then len else start;
        n = if first + count > len then len - first else count;
      in
      genList (i: elemAt list (first + i)) n;
  };
}
