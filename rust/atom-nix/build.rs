//! Compiles the C++ shim (cpp/) together with the cxx bridge and links the plugin against Nix.
//!
//! Inputs, each overridable for other setups (the flake sets them):
//! - `ATOM_NIX_INCLUDE`: directory holding Nix's headers flattened as Nix installs them, including
//!   a `config.h` matching the Nix build (default: `.setup/nix-2.8.0/include/nix`, made by
//!   `scripts/setup.sh`);
//! - `ATOM_NIX_LIB_DIR`: directory holding `libnixexpr.so` and friends (default: `/usr/lib/nix`).

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..");
    let include = env::var_os("ATOM_NIX_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".setup/nix-2.8.0/include/nix"));
    let lib_dir = env::var_os("ATOM_NIX_LIB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/nix"));
    println!("cargo:rerun-if-env-changed=ATOM_NIX_INCLUDE");
    println!("cargo:rerun-if-env-changed=ATOM_NIX_LIB_DIR");

    let config_h = include.join("config.h");
    require(&include.join("eval.hh"), "Nix's headers");
    require(
        &config_h,
        "config.h (ABI-critical: it must match the Nix build)",
    );
    require(&lib_dir.join("libnixexpr.so"), "libnixexpr.so");

    let cpp = root.join("cpp");
    let sources = [
        "plugin.cc",
        "composer.cc",
        "confine.cc",
        "std.cc",
        "lazy.cc",
    ];
    let mut build = cxx_build::bridge("src/lib.rs");
    for source in sources {
        build.file(cpp.join(source));
    }
    build
        .include(&cpp)
        .include(&include)
        .std("c++17")
        .flag("-include")
        .flag(config_h.to_str().expect("config.h path is UTF-8"))
        .flag_if_supported("-Wno-missing-field-initializers")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        // Nothing in Rust references the shim's static `RegisterPrimOp` objects: without
        // whole-archive the linker drops them and the plugin silently registers nothing.
        .link_lib_modifier("+whole-archive")
        .compile("atom_nix_shim");

    // Nix's libraries come after the shim on the link line.
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    for lib in ["nixexpr", "nixstore", "nixutil", "gc"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    // Every symbol must resolve at link time: a missing one is a build error, not a failure to
    // load inside the user's `nix`.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,defs");

    println!("cargo:rerun-if-changed=src/lib.rs");
    for entry in std::fs::read_dir(&cpp).expect("cpp/ exists") {
        println!("cargo:rerun-if-changed={}", entry.unwrap().path().display());
    }
}

fn require(path: &Path, what: &str) {
    if !path.exists() {
        panic!(
            "\n\natom-nix: {what} not found at {}\n\
             Run `scripts/setup.sh` first (it installs nix-bin 2.8.0 and fetches Nix's headers),\n\
             or point ATOM_NIX_INCLUDE / ATOM_NIX_LIB_DIR at your Nix's headers and libraries.\n",
            path.display()
        );
    }
}
