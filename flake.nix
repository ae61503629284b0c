{
  description = "Atom: a decentralised source archive format for Nix (plugin, libatom, CLI)";

  # Not built on the development machines of this project (they have no Nix daemon or /nix);
  # tests only parse this file. See the README, "Nix flake".
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      common = pkgs: {
        version = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).workspace.package.version;
        src = pkgs.lib.cleanSource ./.;
        cargoLock.lockFile = ./Cargo.lock;
      };
    in
    {
      packages = forAll (pkgs: rec {
        # The `atom` command.
        atom-cli = pkgs.rustPlatform.buildRustPackage (common pkgs // {
          pname = "atom-cli";
          cargoBuildFlags = [ "-p" "atom-cli" ];
          doCheck = false;
          # HTTP(S) through the system's libcurl, and its OpenSSL (initialised by the core).
          nativeBuildInputs = [ pkgs.pkg-config ];
          buildInputs = [ pkgs.curl pkgs.openssl ];
        });

        # libatom: shared and static library, header and pkg-config file.
        libatom = pkgs.rustPlatform.buildRustPackage (common pkgs // {
          pname = "libatom";
          cargoBuildFlags = [ "-p" "atom-capi" ];
          doCheck = false;
          nativeBuildInputs = [ pkgs.pkg-config ];
          buildInputs = [ pkgs.curl pkgs.openssl ];
          installPhase = ''
            runHook preInstall
            mkdir -p $out/lib $out/include
            release=target/${pkgs.stdenv.hostPlatform.rust.rustcTarget}/release
            cp $release/libatom.so $out/lib/libatom.so.0
            ln -s libatom.so.0 $out/lib/libatom.so
            cp $release/libatom.a $out/lib/
            cp include/atom.h $out/include/
            runHook postInstall
          '';
        });

        # The Nix plugin. Its C++ shim is written against the Nix 2.8 API (cpp/compat.hh is the
        # one place to port); `nix` here must provide that API.
        atom-nix = pkgs.rustPlatform.buildRustPackage (common pkgs // {
          pname = "atom-nix";
          cargoBuildFlags = [ "-p" "atom-nix" ];
          doCheck = false;
          nativeBuildInputs = [ pkgs.pkg-config ];
          buildInputs = [ pkgs.nix pkgs.boehmgc pkgs.boost pkgs.nlohmann_json ];
          ATOM_NIX_INCLUDE = "${pkgs.nix.dev}/include/nix";
          ATOM_NIX_LIB_DIR = "${pkgs.nix}/lib";
          installPhase = ''
            runHook preInstall
            mkdir -p $out/lib
            cp target/${pkgs.stdenv.hostPlatform.rust.rustcTarget}/release/libatom_nix.so $out/lib/
            runHook postInstall
          '';
        });

        default = atom-nix;
      });

      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.system}.atom-nix ];
          packages = [ pkgs.cargo pkgs.rustc pkgs.clippy pkgs.rustfmt pkgs.valgrind pkgs.python3 ];
        };
      });
    };
}
