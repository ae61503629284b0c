//! Compiles the C++ shim (cpp/) together with the cxx bridge and links the plugin against Nix.
//!
//! Which Nix, in this order:
//! 1. `ATOM_NIX_INCLUDE` (a directory holding Nix's headers flattened as Nix installs them) and
//!    `ATOM_NIX_LIB_DIR` (holding `libnixexpr.so` and friends; default `/usr/lib/nix`). Nix 2.8's
//!    headers need a `config.h` matching the Nix build in that directory (its `PACKAGE_VERSION`
//!    gives the version); for Nix 2.26, whose headers do not name their version, set
//!    `ATOM_NIX_VERSION` (e.g. `2.26.3`) too.
//! 2. Otherwise `ATOM_NIX_PREFIX`: the installation prefix of a Nix built with its headers and
//!    pkg-config files (e.g. the Nix 2.26.3 that `scripts/build-nix-2.26.sh` builds), asked
//!    through `pkg-config nix-expr` with `<prefix>/lib/pkgconfig`.
//! 3. Otherwise `pkg-config nix-expr` as the environment sets it up, when it finds Nix's headers
//!    (a Nix development shell, say).
//! 4. Otherwise Nix 2.8 from Debian bookworm: headers in `.setup/nix-2.8.0/include/nix` (made by
//!    `scripts/setup.sh`), libraries in `/usr/lib/nix`.
//!
//! The version found selects the compat layer's branch (cpp/compat.hh) through
//! `ATOM_NIX_VERSION`, and is compiled in so that a plugin loaded into another Nix refuses to
//! register. The plugin's tests learn it too (`ATOM_NIX_VERSION`, and `ATOM_NIX_BIN_DIR` when the
//! binaries of that Nix are known), so they run the Nix the plugin was built for.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Nix to build against.
struct Nix {
    /// The directory holding `eval.hh`.
    include: PathBuf,
    /// Further flags from pkg-config (include directories of dependencies, the C++ standard).
    cflags: Vec<String>,
    lib_dir: PathBuf,
    version: String,
    /// Where its `nix-instantiate` and `nix` are, when known.
    bin_dir: Option<PathBuf>,
}

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..");
    for var in [
        "ATOM_NIX_INCLUDE",
        "ATOM_NIX_LIB_DIR",
        "ATOM_NIX_VERSION",
        "ATOM_NIX_BIN_DIR",
        "ATOM_NIX_PREFIX",
        "PKG_CONFIG_PATH",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let nix = find_nix(&root);
    let (major, minor, patch) = parse_version(&nix.version);
    let number = major * 10000 + minor * 100 + patch;
    let new_api = number >= 22600;
    let supported = (20800..20900).contains(&number) || (22600..22700).contains(&number);
    if !supported {
        panic!(
            "\n\natom-nix: Nix {} found (headers in {}); this plugin builds against Nix 2.8 or 2.26 only\n",
            nix.version,
            nix.include.display()
        );
    }

    require(&nix.include.join("eval.hh"), "Nix's headers");
    require(&nix.lib_dir.join("libnixexpr.so"), "libnixexpr.so");
    // Nix is compiled with its configuration headers included first; they change the layout of
    // Nix's types (without HAVE_BOEHMGC, EvalState and the GC containers differ), so the plugin
    // must include the same ones or it corrupts memory.
    let config_headers: Vec<PathBuf> = if new_api {
        ["config-util.hh", "config-store.hh", "config-expr.hh"]
            .iter()
            .map(|h| nix.include.join(h))
            .collect()
    } else {
        vec![nix.include.join("config.h")]
    };
    for header in &config_headers {
        require(
            header,
            "Nix's configuration header (ABI-critical: it must match the Nix build)",
        );
    }

    let cpp = root.join("cpp");
    let sources = [
        "plugin.cc",
        "composer.cc",
        "confine.cc",
        "std.cc",
        "lazy.cc",
        "pinned.cc",
    ];
    let mut build = cxx_build::bridge("src/lib.rs");
    for source in sources {
        build.file(cpp.join(source));
    }
    build
        .include(&cpp)
        .include(&nix.include)
        // Nix 2.8's ref.hh does not compile as C++20 with g++ 12; Nix 2.26 needs C++20.
        .std(if new_api { "c++20" } else { "c++17" })
        .define("ATOM_NIX_VERSION", number.to_string().as_str())
        .define(
            "ATOM_NIX_VERSION_STRING",
            format!("\"{}\"", nix.version).as_str(),
        );
    for header in &config_headers {
        build
            .flag("-include")
            .flag(header.to_str().expect("header path is UTF-8"));
    }
    if new_api {
        // As Nix 2.26 itself is compiled.
        build.define("_GLIBCXX_ASSERTIONS", "1");
    }
    for flag in &nix.cflags {
        if !flag.starts_with("-std=") {
            build.flag(flag);
        }
    }
    build
        .flag_if_supported("-Wno-missing-field-initializers")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        // Nothing in Rust references the shim's static registration: without whole-archive the
        // linker drops it and the plugin silently registers nothing.
        .link_lib_modifier("+whole-archive")
        .compile("atom_nix_shim");
    if new_api {
        weaken_version_specific_data(&PathBuf::from(env::var_os("OUT_DIR").unwrap()));
    }

    // Nix's libraries come after the shim on the link line.
    println!("cargo:rustc-link-search=native={}", nix.lib_dir.display());
    for lib in ["nixexpr", "nixstore", "nixutil", "gc"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    if new_api {
        println!("cargo:rustc-link-lib=dylib=nixfetchers");
    }
    // Every symbol must resolve at link time: a missing one is a build error, not a failure to
    // load inside the user's `nix`.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,defs");
    // Bind Nix's functions when first called (Rust links with `-z now` by default): loaded into
    // another Nix version, whose functions differ, the plugin must get as far as its version
    // check, which then registers nothing.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,lazy");
    // Relative relocations packed (DT_RELR: glibc 2.36, binutils 2.38): the loader reads a few
    // kilobytes instead of a table of thousands of entries each time `nix` loads the plugin.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");

    // For the plugin's tests: which Nix to run.
    println!("cargo:rustc-env=ATOM_NIX_VERSION={}", nix.version);
    if let Some(bin) = &nix.bin_dir {
        println!("cargo:rustc-env=ATOM_NIX_BIN_DIR={}", bin.display());
    }

    println!("cargo:rerun-if-changed=src/lib.rs");
    for entry in std::fs::read_dir(&cpp).expect("cpp/ exists") {
        println!("cargo:rerun-if-changed={}", entry.unwrap().path().display());
    }
}

/// Nix 2.26's inline functions refer to two variables that Nix 2.8 does not have (the black-hole
/// marker of `Value`, the expression counter of `Expr`). A variable is bound when the plugin is
/// loaded, so a strong reference to a missing one would stop the plugin from loading into Nix 2.8
/// at all, before its version check could refuse politely. The shim's references to them are made
/// weak: in the Nix it was built for they bind as before; elsewhere the plugin loads, finds the
/// version differs and registers nothing, so they are never used.
fn weaken_version_specific_data(out_dir: &Path) {
    let archive = out_dir.join("libatom_nix_shim.a");
    let status = Command::new("objcopy")
        .arg("--weaken-symbol=_ZN3nix10eBlackHoleE")
        .arg("--weaken-symbol=_ZN3nix4Expr7nrExprsE")
        .arg(&archive)
        .status()
        .unwrap_or_else(|e| panic!("\n\natom-nix: cannot run objcopy (binutils): {e}\n"));
    assert!(status.success(), "objcopy failed on {}", archive.display());
}

fn find_nix(root: &Path) -> Nix {
    if let Some(include) = env::var_os("ATOM_NIX_INCLUDE").map(PathBuf::from) {
        let lib_dir = env::var_os("ATOM_NIX_LIB_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/nix"));
        let version = env::var("ATOM_NIX_VERSION")
            .ok()
            .or_else(|| config_h_version(&include))
            .unwrap_or_else(|| {
                panic!(
                    "\n\natom-nix: cannot tell the version of the Nix headers in {}: set ATOM_NIX_VERSION \
                     (e.g. 2.26.3)\n",
                    include.display()
                )
            });
        let bin_dir = env::var_os("ATOM_NIX_BIN_DIR").map(PathBuf::from);
        return Nix {
            include,
            cflags: Vec::new(),
            lib_dir,
            version,
            bin_dir,
        };
    }
    if let Some(prefix) = env::var_os("ATOM_NIX_PREFIX").map(PathBuf::from) {
        return from_pkg_config(Some(&prefix.join("lib/pkgconfig"))).unwrap_or_else(|| {
            panic!(
                "\n\natom-nix: ATOM_NIX_PREFIX={} holds no Nix with headers (pkg-config nix-expr found none in lib/pkgconfig)\n",
                prefix.display()
            )
        });
    }
    if let Some(nix) = from_pkg_config(None) {
        return nix;
    }
    let include = root.join(".setup/nix-2.8.0/include/nix");
    let version = config_h_version(&include).unwrap_or_else(|| "2.8.0".to_owned());
    Nix {
        include,
        cflags: Vec::new(),
        lib_dir: PathBuf::from("/usr/lib/nix"),
        version,
        bin_dir: None,
    }
}

/// Nix as `pkg-config nix-expr` describes it (looking in `dir` first when given), when it
/// describes one with headers.
fn from_pkg_config(dir: Option<&Path>) -> Option<Nix> {
    let query = |args: &[&str]| -> Option<String> {
        let mut command = Command::new("pkg-config");
        if let Some(dir) = dir {
            let mut path = dir.as_os_str().to_owned();
            if let Some(inherited) = env::var_os("PKG_CONFIG_PATH") {
                path.push(":");
                path.push(inherited);
            }
            command.env("PKG_CONFIG_PATH", path);
        }
        let output = command.args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let version = query(&["--modversion", "nix-expr"])?;
    let cflags: Vec<String> = query(&["--cflags", "nix-expr"])?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let include = cflags
        .iter()
        .filter_map(|f| f.strip_prefix("-I"))
        .map(PathBuf::from)
        .find(|dir| dir.join("eval.hh").exists())?;
    let lib_dir = PathBuf::from(query(&["--variable=libdir", "nix-expr"])?);
    let prefix = query(&["--variable=prefix", "nix-expr"])?;
    let bin = Path::new(&prefix).join("bin");
    Some(Nix {
        include,
        cflags,
        lib_dir,
        version,
        bin_dir: bin.join("nix-instantiate").exists().then_some(bin),
    })
}

/// `PACKAGE_VERSION` of a Nix 2.8 `config.h` in `include`.
fn config_h_version(include: &Path) -> Option<String> {
    let text = std::fs::read_to_string(include.join("config.h")).ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("#define PACKAGE_VERSION ")?;
        Some(rest.trim().trim_matches('"').to_owned())
    })
}

/// `2.26.3` → (2, 26, 3); a missing part is 0, anything after a part's digits is ignored.
fn parse_version(version: &str) -> (u32, u32, u32) {
    let mut parts = version.split('.').map(|part| {
        part.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .unwrap_or(0)
    });
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

fn require(path: &Path, what: &str) {
    if !path.exists() {
        panic!(
            "\n\natom-nix: {what} not found at {}\n\
             Run `scripts/setup.sh` first (it installs nix-bin 2.8.0 and fetches Nix's headers),\n\
             or point ATOM_NIX_INCLUDE / ATOM_NIX_LIB_DIR (or pkg-config) at your Nix's headers and libraries.\n",
            path.display()
        );
    }
}
