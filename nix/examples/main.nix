# The README's main job: evaluate the bundled example atom through the plugin.
#
#   nix-instantiate --option plugin-files target/debug/libatom_nix.so --eval --strict \
#     --argstr root <root commit of this repository> nix/examples/main.nix
{ root }:
let
  manifest = builtins.fromTOML (builtins.readFile ./hello/atom.toml);
  inherit (manifest.package) label version;
in
{
  inherit label version;
  plugin = builtins.atom.version;
  # The atom's identity in this repository, computed by the plugin's Rust core.
  id = builtins.atom.id { inherit root label; };
  # The atom itself, composed natively: its public interface.
  atom = builtins.atom.import ./hello;
}
