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

use atom::compose;
use atom::id::{AtomId, Label, Root};
use atom::manifest::{Compose, ComposeAs, Manifest};

#[cxx::bridge(namespace = "atom_nix")]
mod bridge {
    /// A member of a module (see `atom::compose::Member`).
    struct MemberPlan {
        name: String,
        path: String,
        is_module: bool,
    }

    /// A module directory's plan (see `atom::compose::ModulePlan`).
    struct ModulePlan {
        has_mod: bool,
        members: Vec<MemberPlan>,
    }

    /// What `builtins.atom.import` composes.
    struct ImportPlan {
        /// The validated manifest, as JSON (becomes `cfg`).
        manifest_json: String,
        /// `label-version`, for messages.
        atom: String,
        /// The atom's root directory, canonical.
        root: String,
        /// The directory composition starts at.
        entry: String,
        /// A static atom: its value is its manifest.
        is_static: bool,
    }

    extern "Rust" {
        /// Plans the module at `dir`.
        fn plan_module(dir: &str) -> Result<ModulePlan>;

        /// `Foo` → `foo` (ASCII capitals only).
        fn lower_first(name: &str) -> String;

        /// `path` with symlinks resolved, if it is a readable directory.
        fn canonical_dir(path: &str) -> Result<String>;

        /// The Nix source of std's library part (nix/std/std.nix, shipped inside the plugin).
        fn std_source() -> &'static str;

        /// Reads the atom at `path` for `builtins.atom.import`.
        fn import_plan(path: &str) -> Result<ImportPlan>;

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

fn plan_module(dir: &str) -> Result<bridge::ModulePlan, String> {
    guard(|| {
        let plan = compose::plan_module(Path::new(dir)).map_err(|e| e.to_string())?;
        Ok(bridge::ModulePlan {
            has_mod: plan.has_mod,
            members: plan
                .members
                .into_iter()
                .map(|m| bridge::MemberPlan {
                    name: m.name,
                    path: m.path.to_string_lossy().into_owned(),
                    is_module: m.is_module,
                })
                .collect(),
        })
    })
}

fn lower_first(name: &str) -> String {
    compose::lower_first(name)
}

fn std_source() -> &'static str {
    include_str!("../../../nix/std/std.nix")
}

fn canonical_dir(path: &str) -> Result<String, String> {
    guard(|| {
        let dir = std::fs::canonicalize(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        if !dir.is_dir() {
            return Err(format!("{path} is not a directory"));
        }
        Ok(dir.to_string_lossy().into_owned())
    })
}

fn import_plan(path: &str) -> Result<bridge::ImportPlan, String> {
    guard(|| {
        let root = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot read the atom at {path}: {e}"))?;
        if !root.is_dir() {
            return Err(format!(
                "{path} is not a directory: builtins.atom.import takes an atom's directory"
            ));
        }
        let manifest = Manifest::read_atom(&root).map_err(|e| e.to_string())?;
        let (entry, is_static) = match &manifest.compose {
            Compose::As(ComposeAs::Nix(entry)) => (entry.clone(), false),
            Compose::As(ComposeAs::Static(_)) => (".".to_owned(), true),
            Compose::With(with) => (with.composer.entry.clone(), false),
        };
        let entry_dir = root.join(&entry);
        let entry_dir = std::fs::canonicalize(&entry_dir).map_err(|e| {
            format!(
                "the entry {entry:?} of {} cannot be read: {e}",
                root.display()
            )
        })?;
        if !entry_dir.starts_with(&root) {
            return Err(format!(
                "the entry {entry:?} of {} leaves the atom",
                root.display()
            ));
        }
        Ok(bridge::ImportPlan {
            manifest_json: manifest.to_json().to_string(),
            atom: format!("{}-{}", manifest.package.label, manifest.package.version),
            root: root.to_string_lossy().into_owned(),
            entry: entry_dir.to_string_lossy().into_owned(),
            is_static,
        })
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
