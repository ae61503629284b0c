//! The Nix evaluator plugin: adds `builtins.atom` to Nix 2.8.
//!
//! Load it with `nix --option plugin-files /path/to/libatom_nix.so ...` (or
//! `nix-instantiate --option plugin-files ...`). The C++ shim in `cpp/` registers the primops and
//! builds every Nix value; this crate is the bridge from the shim to the `atom` core.
//!
//! Rules at this boundary:
//! - Rust never holds a Nix `Value*` (the Boehm GC does not scan Rust memory): only plain data
//!   (strings) crosses the bridge.
//! - No panic crosses into Nix: every bridge function runs inside [`guard`], and an `Err` arrives
//!   in C++ as `rust::Error`, which the shim rethrows as a Nix `EvalError` at the caller's position.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use std::path::Path;

use atom::id::{AtomId, Label, Root};
use atom::manifest::Manifest;

#[cxx::bridge(namespace = "atom_nix")]
mod bridge {
    extern "Rust" {
        /// The plugin's version (the crate version).
        fn plugin_version() -> &'static str;

        /// `builtins.atom.id`: the AtomId text of `label` in the repository rooted at `root`.
        fn atom_id(root: &str, label: &str) -> Result<String>;

        /// `builtins.atom.manifest`: the manifest of the atom at `path` (its directory or its
        /// `atom.toml`), as JSON shaped like the file.
        fn manifest_json(path: &str) -> Result<String>;
    }
}

/// The plugin's version (the crate version).
fn plugin_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn atom_id(root: &str, label: &str) -> Result<String, String> {
    guard(|| {
        let root = Root::from_hex(root).map_err(|e| format!("invalid root {root:?}: {e}"))?;
        let label = Label::new(label).map_err(|e| format!("invalid label {label:?}: {e}"))?;
        Ok(AtomId::new(root, label).to_string())
    })
}

fn manifest_json(path: &str) -> Result<String, String> {
    guard(|| {
        let manifest = Manifest::read_atom(Path::new(path)).map_err(|e| e.to_string())?;
        Ok(manifest.to_json().to_string())
    })
}

/// Runs a bridge function so that a panic becomes an ordinary error instead of unwinding into Nix.
///
/// For testing that boundary, setting `ATOM_NIX_FAULT=panic` in the environment of the `nix`
/// process makes every guarded call panic first (read once per process).
fn guard<T>(body: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    static FAULT: OnceLock<bool> = OnceLock::new();
    let inject =
        *FAULT.get_or_init(|| std::env::var_os("ATOM_NIX_FAULT").is_some_and(|v| v == "panic"));
    // A panic abandons the body's own data only; nothing shared is observed afterwards.
    catch_unwind(AssertUnwindSafe(|| {
        if inject {
            panic!("fault injected by ATOM_NIX_FAULT=panic");
        }
        body()
    }))
    .unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(format!(
            "internal error in the atom plugin (please report it): {what}"
        ))
    })
}
