//! The Nix evaluator plugin: adds `builtins.atom` to Nix 2.8 or Nix 2.26, the version chosen when
//! it is built (`build.rs`, docs/design.md#nix-versions).
//!
//! Load it with `nix --option plugin-files /path/to/libatom_nix.so ...` (or
//! `nix-instantiate --option plugin-files ...`). The C++ shim in `cpp/` registers the primops and
//! builds every Nix value; this crate is the bridge from the shim to the `atom` core.
//!
//! Rules at this boundary:
//! - Rust never holds a Nix `Value*` (the Boehm GC does not scan Rust memory). What crosses the
//!   bridge is plain data: strings, numbers and flags, shared structs of them (`ModulePlan`,
//!   `EdgePlan`, `PinPlan`, `NodeDirs`, ...), and one opaque Rust value, `LoadedGraph` (an atom's
//!   dependency graph), which C++ holds and queries node by node. The shim makes every Nix value
//!   from that data.
//! - The one C++ function Rust calls is `check_readable`: Nix's own check of what the evaluation
//!   may read.
//! - No panic crosses into Nix: every bridge function runs inside [`guard`], and an `Err` arrives
//!   in C++ as `rust::Error`, which the shim rethrows as a Nix `EvalError` at the caller's position.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use atom::compose;
use atom::id::{AtomId, Label, Root};
use atom::lock::{HashedDep, LockedDep};
use atom::manifest::{Manifest, Requirement};
use atom::repo::{ObjectId, Repo};
use atom::resolve::graph::{self, NodeCompose, Source};
use atom::resolve::{self, Origin};
use atom::store::stamp::{EntryKind, Listing};
use atom::store::{CheckedTree, Store};

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

    /// How an atom of a loaded graph is composed.
    enum ComposeKind {
        /// By the native composer, from its entry.
        Native,
        /// Not evaluated: its value is its manifest.
        Static,
        /// By the composer atom `LoadedGraph::composer`, called with its entry.
        Composer,
    }

    /// What the atom store's record says of a path it checked (`TreeCheck::check_kind`).
    enum RecordedKind {
        /// Nothing to vouch for: not recorded, a symlink, or not under the tree. The path's
        /// symlinks are to be resolved on disk.
        Unknown,
        /// A directory of the tree, reached without a symlink.
        Directory,
        /// A regular file of the tree, reached without a symlink.
        Regular,
    }

    /// `deps.from.<tag>.<label>` is the node `node`.
    struct EdgePlan {
        tag: String,
        label: String,
        node: usize,
    }

    /// A direct Nix dependency, as locked.
    struct PinPlan {
        /// `deps.get.<name>` (a `nix+src` dependency) rather than `deps.pins.<name>`.
        is_src: bool,
        name: String,
        /// What nix/pins.nix takes: `{ type, url, hash | rev }`, as JSON.
        attrs_json: String,
        /// Its files are in a git repository on this machine (`LoadedGraph::materialize_pin`).
        local: bool,
    }

    /// A node's directories (see `NodeDirs` in lib.rs for the two roots).
    struct NodeDirs {
        root: String,
        source_root: String,
        /// Where composition starts, inside `source_root`.
        entry: String,
        /// The entry is one Nix file rather than a module directory.
        entry_is_file: bool,
        /// A trivial atom: its scope also has `atoms` (its extern set), as the reference's
        /// loader gives it.
        trivial: bool,
        /// `root` is written on first use, by `LoadedGraph::materialize`.
        lazy: bool,
    }

    /// A setting's value at start-up (see `startup_setting`).
    struct StartupSetting {
        found: bool,
        value: String,
    }

    // Safe to call from Rust: the function takes a borrowed string only, and a C++ exception
    // arrives as an `Err` (cxx catches it at the boundary). It must be called only while a primop
    // of the plugin runs (it reads the evaluator that primop recorded), which `load_atom` is.
    unsafe extern "C++" {
        include!("checks.hh");

        /// `Err` (Nix's message) unless the running evaluation may read the directory `path`
        /// (Nix's rules of restricted and pure evaluation).
        fn check_readable(path: &str) -> Result<()>;
    }

    extern "Rust" {
        /// Plans the module at `dir`.
        fn plan_module(dir: &str) -> Result<ModulePlan>;

        /// `path` with symlinks resolved, if it is a readable directory.
        fn canonical_dir(path: &str) -> Result<String>;

        /// Why the atom whose module files are under `root` may lack the member `name` (for an
        /// "attribute missing" error); empty when no reason is found.
        fn missing_member_hint(root: &str, name: &str) -> String;

        /// The Nix source of std's library part (nix/std/std.nix, shipped inside the plugin).
        fn std_source() -> &'static str;

        /// The Nix source of the function that builds direct dependencies (nix/pins.nix).
        fn pins_source() -> &'static str;

        /// An atom and everything its `atom.lock` pins, loaded from the atom store for
        /// `builtins.atom.import`: dependencies first, the atom asked for last.
        type LoadedGraph;

        /// Loads the atom at `path` (see `LoadedGraph`). `store` is the atom store setting
        /// (empty: the default).
        /// `overrides`: the `atom-override` setting (`label=path` entries; merged over
        /// `$ATOM_OVERRIDE`). `pure`: the evaluation is pure, where overrides are refused.
        fn load_atom(
            path: &str,
            store: &str,
            overrides: &str,
            pure: bool,
        ) -> Result<Box<LoadedGraph>>;

        /// How many atoms the graph holds.
        fn len(self: &LoadedGraph) -> usize;

        /// `builtins.atom.graph`: every atom of the graph, as loaded and checked, as JSON.
        fn graph_json(self: &LoadedGraph) -> Result<String>;

        /// `label-version` of a node, for messages.
        fn name(self: &LoadedGraph, node: usize) -> Result<String>;

        /// How a node is composed.
        fn kind(self: &LoadedGraph, node: usize) -> Result<ComposeKind>;

        /// The composer atom of a node composed by another atom.
        fn composer(self: &LoadedGraph, node: usize) -> Result<usize>;

        /// The validated manifest of a node, as JSON (becomes `cfg`).
        fn manifest_json(self: &LoadedGraph, node: usize) -> Result<String>;

        /// Whether a node is an atom of the store (not a directory); then `key` names it by
        /// store and tree, the same for every graph that reaches it.
        fn store_key(self: &LoadedGraph, node: usize, key: &mut String) -> Result<bool>;

        /// A node's atom dependencies.
        fn deps(self: &LoadedGraph, node: usize) -> Result<Vec<EdgePlan>>;

        /// A node's direct Nix dependencies.
        fn pins(self: &LoadedGraph, node: usize) -> Result<Vec<PinPlan>>;

        /// The files of a local pin (`PinPlan::local`), materialised in the store.
        fn materialize_pin(self: &LoadedGraph, node: usize, pin: usize) -> Result<String>;

        /// A node's directories, writing its Nix files first when they are not yet.
        fn dirs(self: &LoadedGraph, node: usize) -> Result<NodeDirs>;

        /// Writes all the files of a lazy node (see `NodeDirs`) when they are not yet; returns
        /// its root, whose files are then checked when they are used.
        fn materialize(self: &LoadedGraph, node: usize) -> Result<Box<TreeCheck>>;

        /// The materialised files of an atom of the store, each compared with the record
        /// written with it before it is used (`Store::materialize_checked_on_read`).
        type TreeCheck;

        /// The root the checked files are under.
        fn root(self: &TreeCheck) -> String;

        /// Checks the entry at `path` (absolute) before it is read.
        fn check(self: &mut TreeCheck, path: &str) -> Result<()>;

        /// Checks `path` and everything below it before it is copied.
        fn check_below(self: &mut TreeCheck, path: &str) -> Result<()>;

        /// Checks the entry at `path` (absolute) as `check` does, and says what the record
        /// knows of it: a directory or regular file of the tree reached without a symlink is
        /// its own resolution.
        fn check_kind(self: &mut TreeCheck, path: &str) -> Result<RecordedKind>;

        /// `builtins.atom.resolve`: `{label, version, rev, id, src, manifest}` as JSON. Exactly
        /// one of `repo` (a repository's path) and `set` (a set root in the store) is non-empty.
        /// A non-empty `rev` (a commit in hex) chooses the version at that exact revision.
        fn resolve_atom(
            repo: &str,
            set: &str,
            label: &str,
            version: &str,
            rev: &str,
            store: &str,
        ) -> Result<String>;

        /// The value the configuration gives the setting `name` when Nix starts: the last
        /// `--option <name> <value>` of this process's command line, else the configuration
        /// files and `NIX_CONFIG`, read as Nix reads them (later sources winning). `found` is
        /// false when none sets it.
        fn startup_setting(name: &str) -> StartupSetting;

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
        let root = Root::parse(root).map_err(|e| e.to_string())?;
        let label = Label::parse(label).map_err(|e| e.to_string())?;
        Ok(AtomId::new(root, label).to_string())
    })
}

fn manifest_json(path: &str) -> Result<String, String> {
    guard(|| {
        let manifest = Manifest::read_atom(Path::new(path)).map_err(|e| e.to_string())?;
        Ok(manifest.to_json().to_string())
    })
}

thread_local! {
    /// The listings of the store's Nix-file trees that the graph loaded last composes, by
    /// directory: each as its stamp recorded it, verified on disk when the node's directories
    /// were first asked for ([`NodeDirs::of`]). Module plans under them need no directory
    /// listing. Emptied when the next graph is loaded; a directory not here is read from disk.
    static LISTINGS: RefCell<HashMap<Vec<u8>, Rc<Listing>>> = RefCell::new(HashMap::new());
}

/// The listing [`LISTINGS`] holds for the tree `path` is in.
fn listing_of(path: &Path) -> Option<Rc<Listing>> {
    let path = path.as_os_str().as_encoded_bytes();
    LISTINGS.with(|listings| {
        let listings = listings.borrow();
        // `path` itself, then each directory above it.
        std::iter::once(path.len())
            .chain((1..path.len()).rev().filter(|&end| path[end] == b'/'))
            .find_map(|end| listings.get(&path[..end]).cloned())
    })
}

fn plan_module(dir: &str) -> Result<bridge::ModulePlan, String> {
    guard(|| {
        let dir = Path::new(dir);
        let plan = compose::plan_module_listed(dir, listing_of(dir).as_deref())
            .map_err(|e| e.to_string())?;
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

fn missing_member_hint(root: &str, name: &str) -> String {
    std::panic::catch_unwind(|| compose::missing_member_hint(Path::new(root), name))
        .ok()
        .flatten()
        .unwrap_or_default()
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

/// See the bridge's `LoadedGraph`.
pub struct LoadedGraph {
    store: Store,
    graph: graph::Graph,
    /// For each node and pin, the git repository on this machine holding a `nix+git` pin's rev.
    local_pins: Vec<Vec<Option<PathBuf>>>,
}

fn load_atom(
    path: &str,
    store: &str,
    overrides: &str,
    pure: bool,
) -> Result<Box<LoadedGraph>, String> {
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
            .map(Store::new)
            .unwrap_or(store);
        let overrides = atom_overrides(overrides)?;
        if pure && !overrides.dirs.is_empty() {
            let entries: Vec<String> = overrides
                .dirs
                .iter()
                .map(|(label, dir)| format!("{label}={}", dir.display()))
                .collect();
            return Err(format!(
                "atom-override is not available in pure evaluation mode ({}): a working copy \
                 would change what the same expression evaluates to; unset the atom-override \
                 setting and $ATOM_OVERRIDE, or evaluate with --impure",
                entries.join(" ")
            ));
        }
        // A working copy in the graph is read only if the evaluation may read it.
        let check = |dir: &Path| {
            bridge::check_readable(&dir.to_string_lossy()).map_err(graph::DirCheckError::from)
        };
        LISTINGS.with(|listings| listings.borrow_mut().clear());
        let graph =
            graph::load_checked(&root, &store, &overrides, &check).map_err(|e| e.to_string())?;
        let local_pins = graph
            .nodes
            .iter()
            .map(|node| {
                node.pins
                    .iter()
                    .map(|pin| match pin {
                        LockedDep::NixGit(dep) => {
                            local_git_mirror(&dep.url, dep.rev.as_str(), &store)
                        }
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        Ok(Box::new(LoadedGraph {
            store,
            graph,
            local_pins,
        }))
    })
}

impl LoadedGraph {
    fn node(&self, node: usize) -> Result<&graph::Node, String> {
        self.graph
            .nodes
            .get(node)
            .ok_or_else(|| format!("no atom {node} in a graph of {}", self.graph.nodes.len()))
    }

    fn len(&self) -> usize {
        self.graph.nodes.len()
    }

    fn name(&self, node: usize) -> Result<String, String> {
        guard(|| Ok(self.node(node)?.name.to_string()))
    }

    fn kind(&self, node: usize) -> Result<bridge::ComposeKind, String> {
        guard(|| {
            Ok(match self.node(node)?.compose {
                NodeCompose::Native { .. } | NodeCompose::Trivial { .. } => {
                    bridge::ComposeKind::Native
                }
                NodeCompose::Static => bridge::ComposeKind::Static,
                NodeCompose::Composer { .. } => bridge::ComposeKind::Composer,
            })
        })
    }

    fn composer(&self, node: usize) -> Result<usize, String> {
        guard(|| match self.node(node)?.compose {
            NodeCompose::Composer { node, .. } => Ok(node),
            _ => Err(format!(
                "{} is not composed by another atom",
                self.node(node)?.name
            )),
        })
    }

    fn graph_json(&self) -> Result<String, String> {
        guard(|| {
            let nodes: Vec<serde_json::Value> = self
                .graph
                .nodes
                .iter()
                .map(|node| {
                    let dir = match &node.source {
                        Source::Dir(dir) => Some(text(dir)),
                        Source::Tree { .. } => None,
                    };
                    serde_json::json!({
                        "name": node.name.to_string(),
                        "label": node.name.label().to_string(),
                        "version": node.name.version().to_string(),
                        "dir": dir,
                        "rev": node.pinned.map(|(rev, _)| rev.to_string()),
                        "id": node.pinned.map(|(_, id)| id.to_string()),
                        "digest": node.digest.map(|d| d.to_string()),
                        "signer": node.signer,
                        "deps": node.deps.iter().map(|edge| edge.node).collect::<Vec<_>>(),
                    })
                })
                .collect();
            Ok(serde_json::Value::Array(nodes).to_string())
        })
    }

    fn manifest_json(&self, node: usize) -> Result<String, String> {
        guard(|| {
            let manifest = self.node(node)?.manifest.get();
            Ok(manifest.map_err(|e| e.to_string())?.to_json().to_string())
        })
    }

    fn store_key(&self, node: usize, key: &mut String) -> Result<bool, String> {
        guard(|| match &self.node(node)?.source {
            Source::Dir(_) => Ok(false),
            Source::Tree { tree, .. } => {
                *key = format!("{}/{tree}", self.store.dir().display());
                Ok(true)
            }
        })
    }

    fn deps(&self, node: usize) -> Result<Vec<bridge::EdgePlan>, String> {
        guard(|| {
            Ok(self
                .node(node)?
                .deps
                .iter()
                .map(|edge| bridge::EdgePlan {
                    tag: edge.tag.to_string(),
                    label: edge.label.to_string(),
                    node: edge.node,
                })
                .collect())
        })
    }

    fn pins(&self, node: usize) -> Result<Vec<bridge::PinPlan>, String> {
        guard(|| {
            let pins = &self.node(node)?.pins;
            let local = &self.local_pins[node];
            pins.iter()
                .enumerate()
                .map(|(i, pin)| pin_plan(pin, local[i].is_some()))
                .collect()
        })
    }

    fn materialize_pin(&self, node: usize, pin: usize) -> Result<String, String> {
        guard(|| {
            let repo = self
                .local_pins
                .get(node)
                .and_then(|pins| pins.get(pin))
                .and_then(Option::as_ref)
                .ok_or_else(|| format!("pin {pin} of atom {node} is not on this machine"))?;
            let Some(LockedDep::NixGit(dep)) = self.node(node)?.pins.get(pin) else {
                return Err(format!("pin {pin} of atom {node} is not a git revision"));
            };
            let repo = Repo::open(repo).map_err(|e| e.to_string())?;
            let commit = repo
                .commit_id(dep.rev.as_str())
                .map_err(|e| e.to_string())?;
            let tree = repo
                .commit_tree(commit)
                .map_err(|e| format!("cannot read commit {}: {e}", dep.rev.as_str()))?;
            let dir = self
                .store
                .materialize_tree(&repo, tree)
                .map_err(|e| e.to_string())?;
            Ok(text(&dir))
        })
    }

    fn dirs(&self, node: usize) -> Result<bridge::NodeDirs, String> {
        guard(|| {
            let node = self.node(node)?;
            let dirs = NodeDirs::of(node, &self.store)?;
            Ok(bridge::NodeDirs {
                root: text(&dirs.root),
                source_root: text(&dirs.source_root),
                entry_is_file: dirs.entry_is_file,
                trivial: dirs.trivial,
                entry: text(&dirs.entry),
                lazy: dirs.lazy,
            })
        })
    }

    fn materialize(&self, node: usize) -> Result<Box<TreeCheck>, String> {
        guard(|| {
            let node = self.node(node)?;
            let (dir, checked) = self
                .store
                .materialize_checked_on_read(&node.source)
                .map_err(|e| format!("{}: {e}", node.name))?;
            Ok(Box::new(TreeCheck {
                root: text(&dir),
                name: node.name.to_string(),
                checked,
            }))
        })
    }
}

/// See the bridge's `TreeCheck`.
pub struct TreeCheck {
    root: String,
    /// The atom, for messages.
    name: String,
    /// `None` for an atom in a directory (its working copy: nothing to compare with).
    checked: Option<CheckedTree>,
}

impl TreeCheck {
    fn root(&self) -> String {
        self.root.clone()
    }

    fn check(&mut self, path: &str) -> Result<(), String> {
        self.with_checked(|checked| checked.check(Path::new(path)))
            .map(|_| ())
    }

    fn check_below(&mut self, path: &str) -> Result<(), String> {
        self.with_checked(|checked| checked.check_below(Path::new(path)))
            .map(|_| ())
    }

    fn check_kind(&mut self, path: &str) -> Result<bridge::RecordedKind, String> {
        use atom::store::stamp::EntryKind;
        let kind = self.with_checked(|checked| checked.check_kind(Path::new(path)))?;
        Ok(match kind.flatten() {
            Some(EntryKind::Dir) => bridge::RecordedKind::Directory,
            Some(EntryKind::File) => bridge::RecordedKind::Regular,
            _ => bridge::RecordedKind::Unknown,
        })
    }

    /// Runs `check` on the tree, its error naming the atom; `None` for an atom in a directory
    /// (its working copy: nothing to check).
    fn with_checked<T>(
        &mut self,
        check: impl FnOnce(&mut CheckedTree) -> Result<T, atom::store::StoreError>,
    ) -> Result<Option<T>, String> {
        let name = &self.name;
        guard(|| match &mut self.checked {
            Some(checked) => check(checked).map(Some).map_err(|e| format!("{name}: {e}")),
            None => Ok(None),
        })
    }
}

/// Where a node's files are. An atom has two roots: `root`, where its files are (the paths its
/// code sees: path literals, `mod.outPath`, the confined file primitives), and `source_root`,
/// where its Nix files are read from to compose it. For an atom in a directory they are the
/// same. For an atom of the store, `source_root` is a copy of its Nix files alone
/// (`<trees>/nix/<tree>`), written first because composing needs nothing else, and `root`
/// (`<trees>/<tree>`) is written when a path into the atom is first used (`lazy`).
struct NodeDirs {
    root: PathBuf,
    source_root: PathBuf,
    /// Where composition starts, inside `source_root`: for a trivial atom whose entry is a
    /// directory, that directory's `default.nix`.
    entry: PathBuf,
    lazy: bool,
    trivial: bool,
    /// Whether `entry` is a file (else a directory), asked once.
    entry_is_file: bool,
}

impl NodeDirs {
    fn of(node: &graph::Node, store: &Store) -> Result<NodeDirs, String> {
        let entry_of = |compose: &NodeCompose| match compose {
            NodeCompose::Native { entry }
            | NodeCompose::Trivial { entry }
            | NodeCompose::Composer { entry, .. } => entry.clone(),
            NodeCompose::Static => String::new(),
        };
        let trivial = matches!(node.compose, NodeCompose::Trivial { .. });
        let entry = entry_of(&node.compose);
        let in_node = |e: &dyn std::fmt::Display| format!("{}: {e}", node.name);
        let (source_root, listing) = store
            .materialize_modules(&node.source)
            .map_err(|e| in_node(&e))?;
        let listing = listing.map(Rc::new);
        if let Some(listing) = &listing {
            LISTINGS.with(|listings| {
                listings.borrow_mut().insert(
                    listing.dir().as_os_str().as_encoded_bytes().to_vec(),
                    listing.clone(),
                )
            });
        }
        match &node.source {
            Source::Dir(_) => {
                let root = std::fs::canonicalize(&source_root).map_err(|e| in_node(&e))?;
                let entry = std::fs::canonicalize(root.join(&entry)).map_err(|e| {
                    format!("the entry {entry:?} of {} cannot be read: {e}", node.name)
                })?;
                if !entry.starts_with(&root) {
                    return Err(format!(
                        "the entry {:?} of {} leaves the atom",
                        entry, node.name
                    ));
                }
                let found = disk_kind(&entry);
                let (entry, entry_is_file, trivial) =
                    composition_start(entry, found, trivial, disk_kind);
                Ok(NodeDirs {
                    root: root.clone(),
                    source_root: root,
                    trivial,
                    entry,
                    lazy: false,
                    entry_is_file,
                })
            }
            // Written by this store (canonical, from `load_atom`) with no symlinks, and the entry
            // was checked to be a plain relative path when the graph was loaded.
            Source::Tree { tree, .. } => {
                let entry_path = source_root.join(&entry);
                let kind = |path: &Path| match listing.as_ref().and_then(|l| l.kind(path)) {
                    // The listing does not follow symlinks; the disk does.
                    Some(Some(EntryKind::Symlink)) | None => disk_kind(path),
                    Some(kind) => kind,
                };
                let Some(found) = kind(&entry_path) else {
                    return Err(format!(
                        "the entry {entry:?} of {} has no Nix files",
                        node.name
                    ));
                };
                let (entry, entry_is_file, trivial) =
                    composition_start(entry_path, Some(found), trivial, kind);
                Ok(NodeDirs {
                    root: store.trees().join(tree.to_string()),
                    source_root,
                    trivial,
                    entry,
                    lazy: true,
                    entry_is_file,
                })
            }
        }
    }
}

/// Where composition of a node starts, given the node's entry `path` (`found` is its
/// metadata, `None` when it cannot be read): that path, whether it is a file, and whether the
/// node is composed as a trivial atom (its entry imported, not composed as a module).
///
/// The reference imports a trivial atom's entry: a directory means its `default.nix`. A
/// directory with a `mod.nix` and no `default.nix` (which the reference cannot import) is
/// composed as a module, as this implementation always did
/// (docs/format.md#reference-discrepancies). Each file is asked about once.
fn composition_start(
    path: PathBuf,
    found: Option<EntryKind>,
    trivial: bool,
    kind: impl Fn(&Path) -> Option<EntryKind>,
) -> (PathBuf, bool, bool) {
    let is_file = found == Some(EntryKind::File);
    let is_dir = found == Some(EntryKind::Dir);
    if !trivial || !is_dir {
        return (path, is_file, trivial && !is_dir);
    }
    let default = path.join("default.nix");
    match kind(&default) {
        Some(found) => (default, found == EntryKind::File, found != EntryKind::Dir),
        None if kind(&path.join("mod.nix")) == Some(EntryKind::File) => (path, false, false),
        None => (default, false, true),
    }
}

/// The type of what `path` names, symlinks followed (`None` when it cannot be read).
fn disk_kind(path: &Path) -> Option<EntryKind> {
    std::fs::metadata(path).ok().map(|m| {
        if m.is_dir() {
            EntryKind::Dir
        } else if m.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        }
    })
}

/// What nix/pins.nix takes for a locked direct dependency.
fn pin_plan(pin: &LockedDep, local: bool) -> Result<bridge::PinPlan, String> {
    let (is_src, name, attrs) = match pin {
        LockedDep::Nix(dep) => (false, &dep.name, hashed("nix", dep)),
        LockedDep::NixTar(dep) => (false, &dep.name, hashed("nix+tar", dep)),
        LockedDep::NixSrc(dep) => (true, &dep.name, hashed("nix+src", dep)),
        LockedDep::NixGit(dep) => (
            false,
            &dep.name,
            serde_json::json!({ "type": "nix+git", "url": dep.url, "rev": dep.rev.as_str() }),
        ),
        LockedDep::Atom(dep) => {
            return Err(format!(
                "the atom dependency {} is an edge of the graph, not a pin",
                dep.label
            ))
        }
    };
    Ok(bridge::PinPlan {
        is_src,
        name: name.to_string(),
        attrs_json: attrs.to_string(),
        local,
    })
}

fn hashed(kind: &str, dep: &HashedDep) -> serde_json::Value {
    serde_json::json!({ "type": kind, "url": dep.url, "hash": dep.hash.as_str() })
}

/// A git repository on this machine holding `rev` of `url` ([`Store::git_mirror`]).
fn local_git_mirror(url: &str, rev: &str, store: &Store) -> Option<PathBuf> {
    store.git_mirror(url, ObjectId::from_hex(rev.as_bytes()).ok()?)
}

/// The repository `repo` (a path) or, when `repo` is empty, the store repository of the set
/// `set`; and where it comes from.
fn open_for_query(repo: &str, set: &str, store: &Store) -> Result<(Repo, Origin), String> {
    match (repo.is_empty(), set.is_empty()) {
        (false, true) => Ok((
            Repo::open(Path::new(repo)).map_err(|e| e.to_string())?,
            Origin::Repository,
        )),
        (true, false) => {
            let root = Root::parse(set).map_err(|e| e.to_string())?;
            let repo = store.require_set(&root, None).map_err(|e| e.to_string())?;
            Ok((repo, Origin::Store(store.dir().to_owned())))
        }
        _ => Err("give exactly one of `repo` (a repository's path) and `set` (a set root in the atom store)".to_owned()),
    }
}

fn resolve_atom(
    repo: &str,
    set: &str,
    label: &str,
    version: &str,
    rev: &str,
    store: &str,
) -> Result<String, String> {
    guard(|| {
        let store = atom_store(store)?;
        let (repo, origin) = open_for_query(repo, set, &store)?;
        let label = Label::parse(label).map_err(|e| e.to_string())?;
        let requirement = Requirement::parse(version)
            .map_err(|e| format!("invalid version requirement {version:?}: {e}"))?;
        let resolution = if rev.is_empty() {
            resolve::resolve(&repo, &origin, &label, &requirement, &store)
        } else {
            let rev = ObjectId::from_hex(rev.as_bytes()).map_err(|_| {
                format!("invalid rev {rev:?}: expected a commit id (40 hexadecimal digits)")
            })?;
            resolve::resolve_at(&repo, &origin, &label, &requirement, rev, &store)
        };
        resolution
            .map(|resolution| resolution.to_json().to_string())
            .map_err(|e| e.to_string())
    })
}

fn startup_setting(name: &str) -> bridge::StartupSetting {
    // Never fails: without a readable command line, only the configuration counts.
    let found = std::panic::catch_unwind(|| {
        let args = std::fs::read("/proc/self/cmdline").unwrap_or_default();
        let args: Vec<String> = args
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        command_line_option(&args, name).or_else(|| atom::nix_config::setting_from_env(name))
    })
    .ok()
    .flatten();
    bridge::StartupSetting {
        found: found.is_some(),
        value: found.unwrap_or_default(),
    }
}

/// The value of the last `--option <name> <value>` among the arguments of a Nix command (before a
/// `--`, after which arguments are not options).
fn command_line_option(args: &[String], name: &str) -> Option<String> {
    let mut value = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--" => break,
            "--option" if i + 2 < args.len() => {
                if args[i + 1] == name {
                    value = Some(args[i + 2].clone());
                }
                i += 3;
            }
            _ => i += 1,
        }
    }
    value
}

fn atom_versions(repo: &str, set: &str, label: &str, store: &str) -> Result<String, String> {
    guard(|| {
        let store = atom_store(store)?;
        let (repo, _) = open_for_query(repo, set, &store)?;
        let label = Label::parse(label).map_err(|e| e.to_string())?;
        let versions = repo.versions(&label).map_err(|e| e.to_string())?;
        let list: Vec<String> = versions.iter().map(|a| a.version.to_string()).collect();
        Ok(serde_json::json!(list).to_string())
    })
}

/// The working copies to load instead of locked atoms: the `atom-override` setting's entries,
/// then those of `$ATOM_OVERRIDE` for other labels (relative paths: from the current directory).
fn atom_overrides(setting: &str) -> Result<graph::Overrides, String> {
    let base = std::env::current_dir().unwrap_or_default();
    let parse = |text: &str| graph::Overrides::parse(text, &base).map_err(|e| e.to_string());
    let env = std::env::var("ATOM_OVERRIDE").unwrap_or_default();
    Ok(parse(setting)?.or(parse(&env)?))
}

/// The atom store: the plugin's `atom-store` setting when set, else the default location.
fn atom_store(setting: &str) -> Result<Store, String> {
    if setting.is_empty() {
        Store::from_env().map_err(|e| e.to_string())
    } else {
        Ok(Store::new(setting))
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
        let what = atom::panic_message(payload.as_ref());
        Err(format!(
            "internal error in the atom plugin (please report it): {what}"
        ))
    })
}
