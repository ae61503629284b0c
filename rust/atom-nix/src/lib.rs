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

use std::path::{Path, PathBuf};

use atom::compose;
use atom::id::{AtomId, Label, Root};
use atom::lock::{HashedDep, LockedDep};
use atom::manifest::{Manifest, Requirement};
use atom::resolve::graph::{self, NodeCompose, Source};
use atom::resolve::{self, AtomStore, ResolveError};
use atom::store::{fetch, Store, StoreError};

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

    /// How an atom of a [`LoadPlan`] is composed.
    enum ComposeKind {
        /// By the native composer, from `entry`.
        Native,
        /// Not evaluated: its value is its manifest.
        Static,
        /// By the composer atom `composer`, called with `entry`.
        Composer,
    }

    /// `deps.from.<tag>.<label>` is the node `node`.
    struct EdgePlan {
        tag: String,
        label: String,
        node: usize,
    }

    /// A direct Nix dependency, as locked (fields a kind lacks are empty).
    struct PinPlan {
        /// `nix`, `nix+git`, `nix+tar` or `nix+src`.
        kind: String,
        name: String,
        url: String,
        hash: String,
        rev: String,
        /// A git repository on this machine that has `rev` (`nix+git` only), or empty.
        local_repo: String,
    }

    /// One atom to load (see `atom::resolve::graph::Node`).
    struct NodePlan {
        /// `label-version`, for messages.
        name: String,
        /// The atom's directory, or empty when its files are a tree in a store repository.
        dir: String,
        /// The store repository and tree holding its files (when `dir` is empty).
        repo: String,
        tree: String,
        /// The validated manifest, as JSON (becomes `cfg`).
        manifest_json: String,
        kind: ComposeKind,
        /// Where composition starts, relative to the atom.
        entry: String,
        /// The composer atom's node (`ComposeKind::Composer`).
        composer: usize,
        deps: Vec<EdgePlan>,
        pins: Vec<PinPlan>,
    }

    /// What `builtins.atom.import` loads: dependencies first, the atom asked for last.
    struct LoadPlan {
        /// The atom store's directory.
        store: String,
        nodes: Vec<NodePlan>,
    }

    /// A node's directories. Modules are read from `source_root`; the atom's files are at
    /// `root`. For an atom in the store they differ: `source_root` holds only its Nix files, and
    /// `root` is written by `materialize_node` when a path into the atom is first used (`lazy`).
    struct NodeDirs {
        root: String,
        source_root: String,
        /// Where composition starts, inside `source_root`.
        entry: String,
        /// The entry is one Nix file rather than a module directory.
        entry_is_file: bool,
        /// `root` is written on first use.
        lazy: bool,
    }

    extern "Rust" {
        /// Plans the module at `dir`.
        fn plan_module(dir: &str) -> Result<ModulePlan>;

        /// `path` with symlinks resolved, if it is a readable directory.
        fn canonical_dir(path: &str) -> Result<String>;

        /// The Nix source of std's library part (nix/std/std.nix, shipped inside the plugin).
        fn std_source() -> &'static str;

        /// The Nix source of the function that builds direct dependencies (nix/pins.nix).
        fn pins_source() -> &'static str;

        /// Reads the atom at `path` and everything its `atom.lock` pins, for
        /// `builtins.atom.import`. `store` is the atom store setting (empty: the default).
        fn load_atom(path: &str, store: &str) -> Result<LoadPlan>;

        /// The directories of a node of a `LoadPlan`, materialising a store tree on first use.
        fn node_dirs(store: &str, node: &NodePlan) -> Result<NodeDirs>;

        /// Writes all the files of a lazy node (see `NodeDirs`); returns its root.
        fn materialize_node(store: &str, node: &NodePlan) -> Result<String>;

        /// The files of commit `rev` of the git repository `repo`, materialised in the store.
        fn materialize_rev(store: &str, repo: &str, rev: &str) -> Result<String>;

        /// `builtins.atom.resolve`: `{label, version, rev, id, src, manifest}` as JSON. Exactly
        /// one of `repo` (a repository's path) and `set` (a set root in the store) is non-empty.
        fn resolve_atom(
            repo: &str,
            set: &str,
            label: &str,
            version: &str,
            store: &str,
        ) -> Result<String>;

        /// `builtins.atom.versions`: the published versions of `label`, newest first, as JSON.
        fn atom_versions(repo: &str, set: &str, label: &str, store: &str) -> Result<String>;

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

fn std_source() -> &'static str {
    include_str!("../../../nix/std/std.nix")
}

fn pins_source() -> &'static str {
    include_str!("../../../nix/pins.nix")
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

fn load_atom(path: &str, store: &str) -> Result<bridge::LoadPlan, String> {
    guard(|| {
        let root = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot read the atom at {path}: {e}"))?;
        if !root.is_dir() {
            return Err(format!(
                "{path} is not a directory: builtins.atom.import takes an atom's directory"
            ));
        }
        let store = atom_store(store)?;
        // Canonical once here, so that paths under it need no resolving later.
        let store = std::fs::canonicalize(store.dir())
            .map(AtomStore::new)
            .unwrap_or(store);
        let graph = graph::load(&root, &store).map_err(|e| e.to_string())?;
        Ok(bridge::LoadPlan {
            store: store.dir().to_string_lossy().into_owned(),
            nodes: graph
                .nodes
                .iter()
                .map(|node| node_plan(node, &store))
                .collect(),
        })
    })
}

fn node_plan(node: &graph::Node, store: &AtomStore) -> bridge::NodePlan {
    let (dir, repo, tree) = match &node.source {
        Source::Dir(dir) => (text(dir), String::new(), String::new()),
        Source::Tree { repo, tree } => (String::new(), text(repo), tree.to_string()),
    };
    let (kind, entry, composer) = match &node.compose {
        NodeCompose::Native { entry } => (bridge::ComposeKind::Native, entry.clone(), 0),
        NodeCompose::Static => (bridge::ComposeKind::Static, String::new(), 0),
        NodeCompose::Composer { node, entry } => {
            (bridge::ComposeKind::Composer, entry.clone(), *node)
        }
    };
    bridge::NodePlan {
        name: node.name.clone(),
        dir,
        repo,
        tree,
        manifest_json: node.manifest.to_json().to_string(),
        kind,
        entry,
        composer,
        deps: node
            .deps
            .iter()
            .map(|edge| bridge::EdgePlan {
                tag: edge.tag.to_string(),
                label: edge.label.to_string(),
                node: edge.node,
            })
            .collect(),
        pins: node.pins.iter().map(|pin| pin_plan(pin, store)).collect(),
    }
}

fn pin_plan(pin: &LockedDep, store: &AtomStore) -> bridge::PinPlan {
    let hashed = |kind: &str, dep: &HashedDep| bridge::PinPlan {
        kind: kind.to_owned(),
        name: dep.name.to_string(),
        url: dep.url.clone(),
        hash: dep.hash.as_str().to_owned(),
        rev: String::new(),
        local_repo: String::new(),
    };
    match pin {
        LockedDep::Nix(dep) => hashed("nix", dep),
        LockedDep::NixTar(dep) => hashed("nix+tar", dep),
        LockedDep::NixSrc(dep) => hashed("nix+src", dep),
        LockedDep::NixGit(dep) => bridge::PinPlan {
            kind: "nix+git".to_owned(),
            name: dep.name.to_string(),
            url: dep.url.clone(),
            hash: String::new(),
            rev: dep.rev.as_str().to_owned(),
            local_repo: local_git_mirror(&dep.url, dep.rev.as_str(), store)
                .map(|p| text(&p))
                .unwrap_or_default(),
        },
        LockedDep::Atom(_) => unreachable!("atom dependencies are graph edges, not pins"),
    }
}

/// A git repository on this machine holding `rev` of `url`: the store's mirror of it (filled by
/// `atom fetch --git`), or `url` itself when it is a local path.
fn local_git_mirror(url: &str, rev: &str, store: &AtomStore) -> Option<PathBuf> {
    let rev = gix::ObjectId::from_hex(rev.as_bytes()).ok()?;
    let candidates = [
        Some(fetch::git_mirror_path(store.dir(), url)),
        fetch::local_path(url),
    ];
    candidates.into_iter().flatten().find(|path| {
        path.exists() && Store::open(path).is_ok_and(|repo| repo.repo().has_object(rev))
    })
}

fn node_source(node: &bridge::NodePlan) -> Result<Source, String> {
    if node.dir.is_empty() {
        let tree = gix::ObjectId::from_hex(node.tree.as_bytes()).map_err(|e| e.to_string())?;
        Ok(Source::Tree {
            repo: PathBuf::from(&node.repo),
            tree,
        })
    } else {
        Ok(Source::Dir(PathBuf::from(&node.dir)))
    }
}

fn node_dirs(store: &str, node: &bridge::NodePlan) -> Result<bridge::NodeDirs, String> {
    guard(|| {
        let source = node_source(node)?;
        let store = atom_store(store)?;
        let in_node = |e: &dyn std::fmt::Display| format!("{}: {e}", node.name);
        let source_root = store
            .materialize_modules(&source)
            .map_err(|e| in_node(&e))?;
        let (root, source_root, entry, lazy) = match &source {
            Source::Dir(_) => {
                let root = std::fs::canonicalize(&source_root).map_err(|e| in_node(&e))?;
                let entry = std::fs::canonicalize(root.join(&node.entry)).map_err(|e| {
                    format!(
                        "the entry {:?} of {} cannot be read: {e}",
                        node.entry, node.name
                    )
                })?;
                if !entry.starts_with(&root) {
                    return Err(format!(
                        "the entry {:?} of {} leaves the atom",
                        node.entry, node.name
                    ));
                }
                (root.clone(), root, entry, false)
            }
            // Written by this store (canonical, from `load_atom`) with no symlinks, and the entry
            // was checked to be a plain relative path when the graph was loaded.
            Source::Tree { tree, .. } => {
                let entry = source_root.join(&node.entry);
                if !entry.exists() {
                    return Err(format!(
                        "the entry {:?} of {} has no Nix files",
                        node.entry, node.name
                    ));
                }
                (
                    store.trees().join(tree.to_string()),
                    source_root,
                    entry,
                    true,
                )
            }
        };
        Ok(bridge::NodeDirs {
            root: text(&root),
            source_root: text(&source_root),
            entry_is_file: entry.is_file(),
            entry: text(&entry),
            lazy,
        })
    })
}

fn materialize_node(store: &str, node: &bridge::NodePlan) -> Result<String, String> {
    guard(|| {
        let dir = atom_store(store)?
            .materialize(&node_source(node)?)
            .map_err(|e| format!("{}: {e}", node.name))?;
        Ok(text(&dir))
    })
}

fn materialize_rev(store: &str, repo: &str, rev: &str) -> Result<String, String> {
    guard(|| {
        let store = atom_store(store)?;
        let repo = Store::open(Path::new(repo)).map_err(|e| e.to_string())?;
        let commit = repo.commit_id(rev).map_err(|e| e.to_string())?;
        let tree = repo
            .repo()
            .find_commit(commit)
            .and_then(|c| c.tree_id().map(|t| t.detach()))
            .map_err(|e| format!("cannot read commit {rev}: {e}"))?;
        let dir = repo
            .materialize(tree, &store.trees())
            .map_err(|e| e.to_string())?;
        Ok(text(&dir))
    })
}

/// The repository `repo` (a path) or, when `repo` is empty, the store repository of the set
/// `set`; and a hint naming how to get more versions into it.
fn open_for_query(repo: &str, set: &str, store: &AtomStore) -> Result<(Store, String), String> {
    match (repo.is_empty(), set.is_empty()) {
        (false, true) => Ok((
            Store::open(Path::new(repo)).map_err(|e| e.to_string())?,
            "publish it there with `atom publish`, or pick a version from this list".to_owned(),
        )),
        (true, false) => {
            let root = Root::from_hex(set).map_err(|e| format!("invalid set {set:?}: {e}"))?;
            let repo = store.require_set(&root, None).map_err(|e| e.to_string())?;
            Ok((
                repo,
                format!(
                    "if it was published since the set was fetched, update the store ({}) with `atom fetch <a repository of the set>`",
                    store.dir().display()
                ),
            ))
        }
        _ => Err("give exactly one of `repo` (a repository's path) and `set` (a set root in the atom store)".to_owned()),
    }
}

fn resolve_atom(
    repo: &str,
    set: &str,
    label: &str,
    version: &str,
    store: &str,
) -> Result<String, String> {
    guard(|| {
        let store = atom_store(store)?;
        let (repo, hint) = open_for_query(repo, set, &store)?;
        let label = Label::new(label).map_err(|e| format!("invalid label {label:?}: {e}"))?;
        let requirement = Requirement::parse(version)
            .map_err(|e| format!("invalid version requirement {version:?}: {e}"))?;
        match resolve::resolve(&repo, &label, &requirement, &store.trees()) {
            Ok(resolution) => Ok(resolution.to_json().to_string()),
            Err(e @ ResolveError::Store(StoreError::NoMatchingVersion { .. })) => {
                Err(format!("{e}; {hint}"))
            }
            Err(e) => Err(e.to_string()),
        }
    })
}

fn atom_versions(repo: &str, set: &str, label: &str, store: &str) -> Result<String, String> {
    guard(|| {
        let store = atom_store(store)?;
        let (repo, _) = open_for_query(repo, set, &store)?;
        let label = Label::new(label).map_err(|e| format!("invalid label {label:?}: {e}"))?;
        let versions = repo.versions(&label).map_err(|e| e.to_string())?;
        let list: Vec<String> = versions.iter().map(|a| a.version.to_string()).collect();
        Ok(serde_json::json!(list).to_string())
    })
}

/// The atom store: the plugin's `atom-store` setting when set, else the default location.
fn atom_store(setting: &str) -> Result<AtomStore, String> {
    if setting.is_empty() {
        AtomStore::from_env().map_err(|e| e.to_string())
    } else {
        Ok(AtomStore::new(setting))
    }
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
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
