//! An atom and every atom its `atom.lock` pins, transitively: the dependency graph
//! `builtins.atom.import` loads.
//!
//! Locked atoms come from the atom [`Store`] by set root, label, version and rev, and are checked
//! against the lock before use: the ref, if present, still points at the locked rev; the rev is
//! in the store; the commit has the format of docs/format.md#the-atom-commit and its manifest agrees with the lock;
//! `AtomId(set, label)` equals the locked id. Each atom appears once in the graph however many
//! atoms depend on it; a cycle is an error naming it. Nothing is written: trees are materialised
//! later, by whoever forces the atom ([`Store::materialize`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::trust::{self, Assessment, Policy};
use super::{
    AtomName, CopyKind, LockMismatch, Missing, OverrideProblem, PinnedBy, ResolveError, Tampering,
};
use crate::digest::ContentDigest;
use crate::id::{Label, Root, Tag};
use crate::lock::integrity::{Integrity, INTEGRITY_FILE};
use crate::lock::{AtomDep, LockedCompose, LockedDep, Lockfile, LOCK_FILE};
use crate::manifest::{Compose, ComposeAs, Manifest, Version, MANIFEST_FILE};
use crate::repo::{atom_ref, AtomRef, ObjectId, RefLayout, Repo, RepoError};
use crate::sign::TagFields;
/// Where an atom's files are (the store materialises them).
pub use crate::store::Source;
use crate::store::{fetch_command, Store};

/// The composer whose semantics the native composer implements (docs/format.md#modules): an atom composed
/// "with" it is composed natively, without loading the composer atom itself.
pub const NATIVE_COMPOSER: &str = "atom-nix";

/// The atoms to load, dependencies before their dependents; the last node is the atom asked for.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The atoms.
    pub nodes: Vec<Node>,
}

/// One atom of a [`Graph`].
#[derive(Debug, Clone)]
pub struct Node {
    /// How messages name it.
    pub name: AtomName,
    /// Where its files are.
    pub source: Source,
    /// Its manifest.
    pub manifest: NodeManifest,
    /// How it is composed.
    pub compose: NodeCompose,
    /// Its atom dependencies, as modules see them: `deps.from.<tag>.<label>`.
    pub deps: Vec<Edge>,
    /// Its direct Nix dependencies, as locked.
    pub pins: Vec<LockedDep>,
    /// The content digest of its tree (an atom from the store).
    pub digest: Option<ContentDigest>,
    /// The fingerprint of the key whose signature of it verified: the one its dependent's lock
    /// recorded, else the first valid one (an atom from the store).
    pub signer: Option<String>,
    /// The atom commit the lock pins and its AtomId (an atom from the store).
    pub pinned: Option<(ObjectId, crate::id::AtomDigest)>,
}

/// A node's manifest, parsed when first asked for: a graph recalled from the store's memory
/// (`super::memo`) keeps each manifest's text until then, so that loading it parses nothing a
/// module does not use.
#[derive(Debug, Clone)]
pub struct NodeManifest {
    /// The text, when not parsed yet (a recalled graph's).
    text: String,
    parsed: std::cell::OnceCell<Manifest>,
}

impl NodeManifest {
    /// A manifest already parsed.
    pub fn parsed(manifest: Manifest) -> NodeManifest {
        NodeManifest {
            text: String::new(),
            parsed: std::cell::OnceCell::from(manifest),
        }
    }

    /// The manifest whose text (`atom.toml`, validated before) is `text`, parsed when first
    /// asked for.
    pub(super) fn unparsed(text: String) -> NodeManifest {
        NodeManifest {
            text,
            parsed: std::cell::OnceCell::new(),
        }
    }

    /// The manifest; an error only for a text kept in the store that no longer parses (a
    /// damaged record).
    pub fn get(&self) -> Result<&Manifest, crate::diagnostic::SourceError> {
        if let Some(manifest) = self.parsed.get() {
            return Ok(manifest);
        }
        let manifest = Manifest::parse(&self.text, MANIFEST_FILE)?;
        Ok(self.parsed.get_or_init(|| manifest))
    }
}

/// How an atom is composed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NodeCompose {
    /// A trivial atom (`[compose.as] nix`, a lock's `use = "nix"`): its value is the Nix file
    /// `entry`, or the `default.nix` of the directory `entry` (as the reference imports it).
    Trivial {
        /// The imported path.
        entry: String,
    },
    /// By the native composer, from `entry` (a path inside the atom).
    Native {
        /// Where composition starts.
        entry: String,
    },
    /// Not evaluated: the atom's value is its manifest.
    Static,
    /// By another atom (`[compose] use = "atom"`): the node's value is called as the composer.
    Composer {
        /// The composer atom, in the graph.
        node: usize,
        /// Where composition starts.
        entry: String,
    },
}

/// A dependency edge: `deps.from.<tag>.<label>` is the node `node`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Edge {
    /// The dependent's tag for the dependency's set.
    pub tag: Tag,
    /// The dependency's label.
    pub label: Label,
    /// The dependency, in the graph.
    pub node: usize,
}

type Key = (Root, Label, Version);

/// Working copies to load instead of what locks pin: `label=path`, for developing against a
/// dependency without publishing it (like `--override-input` or cargo's `[patch]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The atom directory to load for each label.
    pub dirs: Vec<(Label, PathBuf)>,
}

impl Overrides {
    /// Parses `label=path` entries separated by whitespace or commas (the `atom-override`
    /// setting, `$ATOM_OVERRIDE`). A relative path is relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Overrides, ResolveError> {
        let mut dirs = Vec::new();
        for entry in text.split(|c: char| c.is_whitespace() || c == ',') {
            if entry.is_empty() {
                continue;
            }
            let invalid = |why: OverrideProblem| ResolveError::InvalidOverride {
                entry: entry.to_owned(),
                why,
            };
            let (label, path) = entry
                .split_once('=')
                .ok_or_else(|| invalid(OverrideProblem::NoEquals))?;
            let label = Label::new(label).map_err(|e| invalid(OverrideProblem::Label(e)))?;
            if path.is_empty() {
                return Err(invalid(OverrideProblem::EmptyPath));
            }
            dirs.retain(|(l, _): &(Label, PathBuf)| l != &label);
            dirs.push((label, base.join(path)));
        }
        Ok(Overrides { dirs })
    }

    /// `self`'s entries, then those of `other` for labels `self` does not override.
    pub fn or(mut self, other: Overrides) -> Overrides {
        for (label, dir) in other.dirs {
            if !self.dirs.iter().any(|(l, _)| l == &label) {
                self.dirs.push((label, dir));
            }
        }
        self
    }

    fn get(&self, label: &Label) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, d)| d.as_path())
    }
}

/// The repository the loaded atom is in, when it is in one: its atoms (by `ekala.toml`) are
/// loaded from the working tree.
pub(super) struct LocalSet {
    /// Its genesis; `None` when it has none here (no commit yet, a shallow clone).
    pub(super) root: Option<Root>,
    pub(super) members: HashMap<Label, PathBuf>,
}

impl LocalSet {
    /// The set of the repository whose working tree `dir` is in, by its `ekala.toml`; `None`
    /// outside a working tree or without the file.
    pub(super) fn of(dir: &Path) -> Result<Option<LocalSet>, ResolveError> {
        let Some(top) = super::work_tree_top(dir) else {
            return Ok(None);
        };
        let file = top.join(crate::manifest::set::SET_MANIFEST_FILE);
        if !file.is_file() {
            return Ok(None);
        }
        let root = Repo::open(&top)?.genesis().ok();
        let set = crate::manifest::set::SetManifest::read(&file)?;
        let (members, _) = set.members(&top).map_err(|error| ResolveError::LocalSet {
            file: file.clone(),
            error: Box::new(error),
        })?;
        Ok(Some(LocalSet {
            root,
            members: members
                .into_iter()
                .map(|m| (m.label, top.join(m.path)))
                .collect(),
        }))
    }
}

/// Why a working copy's directory may not be read: the caller's own error.
pub type DirCheckError = Box<dyn std::error::Error + Send + Sync>;

/// Whether a working copy's directory may be read: `Err` says why not.
pub type DirCheck<'a> = &'a dyn Fn(&Path) -> Result<(), DirCheckError>;

struct Loader<'a> {
    /// The consumer's trusted keys.
    policy: Policy,
    store: &'a Store,
    overrides: &'a Overrides,
    check: DirCheck<'a>,
    /// The loaded atom's repository, once looked for (`None` inside: not in one).
    local: Option<Option<LocalSet>>,
    /// Where the loaded atom is.
    dir: PathBuf,
    repos: HashMap<Root, Repo>,
    /// A mirror of each set met so far: where to fetch the `::` dependencies of its atoms from.
    mirrors: HashMap<Root, String>,
    nodes: Vec<Node>,
    loaded: HashMap<Key, usize>,
    /// The labels whose override was used.
    overridden: std::collections::HashSet<Label>,
    /// The atoms being loaded, outermost first: a key met again here is a cycle.
    path: Vec<(Key, AtomName)>,
    /// Whether the graph may be remembered (`super::memo`): every atom from the store had its
    /// store's own ref at the locked commit (a recall looks at those refs again and nothing else
    /// of the store).
    memorable: bool,
}

/// Loads the atom in `dir` and, through its `atom.lock`, every atom it depends on.
pub fn load(dir: &Path, store: &Store) -> Result<Graph, ResolveError> {
    load_with(dir, store, &Overrides::default())
}

/// [`load`], with working copies instead of some atoms (`overrides`).
///
/// Atoms of the repository `dir` is in are loaded from its working tree, not from the store:
/// a locked atom whose set's mirrors include `::`, whose set root is this repository's genesis
/// and whose label its `ekala.toml` lists, is read from its directory there (as the reference
/// does), so that editing one atom and evaluating another needs no publish or fetch. Such a
/// node and an overridden one are named `label-version (local: DIR)` and
/// `label-version (overridden: DIR)` in errors and traces.
pub fn load_with(dir: &Path, store: &Store, overrides: &Overrides) -> Result<Graph, ResolveError> {
    load_checked(dir, store, overrides, &|_| Ok(()))
}

/// [`Lockfile::read_if_present`], parsed once per text in `store` ([`Store::parsed`]).
fn read_lock(store: &Store, path: &Path) -> Result<Option<Lockfile>, crate::diagnostic::FileError> {
    let text = crate::diagnostic::read_text_if_present(path)?;
    parse_once(store, LOCK_FILE, path, text.as_deref(), Lockfile::parse)
}

/// [`Integrity::read_if_present`], parsed once per text in `store` ([`Store::parsed`]).
fn read_integrity(
    store: &Store,
    path: &Path,
) -> Result<Option<Integrity>, crate::diagnostic::FileError> {
    let text = crate::diagnostic::read_text_if_present(path)?;
    parse_once(
        store,
        INTEGRITY_FILE,
        path,
        text.as_deref(),
        Integrity::parse,
    )
}

/// The file of kind `kind` (`atom.lock`, `atom.integrity`) at `path` whose text is `text`
/// (`None`: there is none), parsed by `parse` once per text in `store` ([`Store::parsed`]).
fn parse_once<T: serde::Serialize + serde::de::DeserializeOwned>(
    store: &Store,
    kind: &str,
    path: &Path,
    text: Option<&str>,
    parse: fn(&str, &str) -> Result<T, crate::diagnostic::SourceError>,
) -> Result<Option<T>, crate::diagnostic::FileError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let parsed = store.parsed(kind, text, |text| parse(text, &path.display().to_string()))?;
    Ok(Some(parsed))
}

/// The files of the loaded atom's directory that a load reads, each read once: what the key of
/// a remembered graph hashes (`super::memo`) is what the load parses.
pub(super) struct AtomFiles {
    /// `atom.toml`.
    pub(super) manifest: String,
    /// `atom.lock`, if there is one.
    pub(super) lock: Option<String>,
    /// `atom.integrity`, if there is one.
    pub(super) integrity: Option<String>,
    /// The trust file in force and its text ([`trust::read_trust_file`]).
    pub(super) trust: Option<(PathBuf, Option<String>)>,
}

impl AtomFiles {
    /// Reads the files of the atom in `dir`.
    pub(super) fn read(dir: &Path) -> Result<AtomFiles, ResolveError> {
        use crate::diagnostic::{read_text, read_text_if_present};
        Ok(AtomFiles {
            manifest: read_text(&dir.join(MANIFEST_FILE))?,
            lock: read_text_if_present(&dir.join(LOCK_FILE))?,
            integrity: read_text_if_present(&dir.join(INTEGRITY_FILE))?,
            trust: trust::read_trust_file(dir)?,
        })
    }
}

/// [`load_with`], asking `check` about the directory of every working copy (an overridden atom,
/// an atom of the loaded atom's repository) before anything in it is read: an `Err` is
/// [`ResolveError::Forbidden`]. (The plugin checks them with Nix's access rules.)
pub fn load_checked(
    dir: &Path,
    store: &Store,
    overrides: &Overrides,
    check: DirCheck<'_>,
) -> Result<Graph, ResolveError> {
    let files = AtomFiles::read(dir)?;
    // A graph loaded before from the same files (see `super::memo`); working copies are never
    // remembered, so an override means loading afresh.
    let memo = overrides
        .dirs
        .is_empty()
        .then(|| super::memo::Key::of(dir, store, &files));
    if let Some(graph) = memo.as_ref().and_then(|key| key.recall(store, dir)) {
        return Ok(graph);
    }
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = Manifest::parse(&files.manifest, &manifest_path.display().to_string())
        .map_err(crate::diagnostic::FileError::from)?;
    let lock_path = dir.join(LOCK_FILE);
    let lock = parse_once(
        store,
        LOCK_FILE,
        &lock_path,
        files.lock.as_deref(),
        Lockfile::parse,
    )?;
    check_lock(&manifest, lock.as_ref(), &lock_path, dir)?;
    let mut loader = Loader {
        policy: Policy::of_file(files.trust.as_ref())?.with_own_names(lock.as_ref()),
        store,
        overrides,
        check,
        local: None,
        dir: dir.to_owned(),
        repos: HashMap::new(),
        mirrors: HashMap::new(),
        nodes: Vec::new(),
        loaded: HashMap::new(),
        overridden: std::collections::HashSet::new(),
        path: Vec::new(),
        memorable: true,
    };
    let name = AtomName::of(&manifest);
    let integrity_path = dir.join(INTEGRITY_FILE);
    let integrity = parse_once(
        store,
        INTEGRITY_FILE,
        &integrity_path,
        files.integrity.as_deref(),
        Integrity::parse,
    )?;
    loader.node(
        name,
        Source::Dir(dir.to_owned()),
        manifest,
        lock,
        integrity,
        true,
    )?;
    // An override that stood for nothing is a mistake the user wants to hear of.
    if let Some((label, path)) = overrides
        .dirs
        .iter()
        .find(|(label, _)| !loader.overridden.contains(label))
    {
        let mut labels: Vec<Label> = loader
            .nodes
            .iter()
            .map(|n| n.name.label().clone())
            .collect();
        labels.sort();
        labels.dedup();
        return Err(ResolveError::UnusedOverride {
            label: label.clone(),
            path: path.clone(),
            labels,
        });
    }
    let graph = Graph {
        nodes: loader.nodes,
    };
    if let Some(key) = memo.as_ref().filter(|_| loader.memorable) {
        key.keep(store, dir, &graph, loader.local.as_ref());
    }
    Ok(graph)
}

/// Checks that `lock` locks every dependency `manifest` declares, at a version it accepts.
pub fn check_lock(
    manifest: &Manifest,
    lock: Option<&Lockfile>,
    lock_path: &Path,
    dir: &Path,
) -> Result<(), ResolveError> {
    let out_of_date = |detail: LockMismatch| ResolveError::OutOfDate {
        path: lock_path.to_owned(),
        dir: dir.to_owned(),
        detail: Box::new(detail),
    };
    let Some(deps) = manifest.dependencies().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let Some(lock) = lock else {
        return Err(out_of_date(LockMismatch::NoLock));
    };
    for (tag, atoms) in &deps.from {
        let tag = tag.as_ref();
        let Some(root) = lock
            .sets
            .iter()
            .find(|(_, set)| &set.tag == tag)
            .map(|(root, _)| root)
        else {
            return Err(out_of_date(LockMismatch::NoSet { tag: tag.clone() }));
        };
        for (label, requirement) in atoms {
            let locked = lock.deps.iter().find_map(|dep| match dep {
                LockedDep::Atom(atom) if &atom.set == root && &atom.label == label => Some(atom),
                _ => None,
            });
            match locked {
                None => {
                    return Err(out_of_date(LockMismatch::NotLocked {
                        tag: tag.clone(),
                        label: label.clone(),
                    }))
                }
                Some(atom) if !atom.satisfies(requirement) => {
                    return Err(out_of_date(LockMismatch::NotAccepted {
                        label: label.clone(),
                        version: atom.version.clone(),
                        requirement: requirement.clone(),
                    }))
                }
                Some(_) => {}
            }
        }
    }
    for name in deps.direct.nix.keys() {
        if !lock.deps.iter().any(|dep| dep.direct_name() == Some(name)) {
            return Err(out_of_date(LockMismatch::DirectNotLocked {
                name: name.clone(),
            }));
        }
    }
    Ok(())
}

impl Loader<'_> {
    /// Adds the atom `name` with its dependencies; returns its index. `local`: it is an atom of
    /// the working tree being loaded (the atom asked for, or one of its repository's).
    fn node(
        &mut self,
        name: AtomName,
        source: Source,
        manifest: Manifest,
        lock: Option<Lockfile>,
        integrity: Option<Integrity>,
        local: bool,
    ) -> Result<usize, ResolveError> {
        let compose = match (&lock, &manifest.compose) {
            (Some(lock), _) => match &lock.compose {
                LockedCompose::Nix { entry } => NodeCompose::Trivial {
                    entry: entry.clone(),
                },
                LockedCompose::Static => NodeCompose::Static,
                LockedCompose::Atom { atom, entry } if atom.label.as_str() == NATIVE_COMPOSER => {
                    NodeCompose::Native {
                        entry: entry.clone(),
                    }
                }
                LockedCompose::Atom { atom, entry } => NodeCompose::Composer {
                    node: self.atom(atom, lock, integrity.as_ref(), &name, local)?,
                    entry: entry.clone(),
                },
            },
            (None, Compose::As(ComposeAs::Nix(entry))) => NodeCompose::Trivial {
                entry: entry.clone(),
            },
            (None, Compose::As(ComposeAs::Static(_))) => NodeCompose::Static,
            (None, Compose::With(with)) if with.label.as_str() == NATIVE_COMPOSER => {
                NodeCompose::Native {
                    entry: with.composer.entry.clone(),
                }
            }
            (None, Compose::With(with)) => {
                return Err(ResolveError::ComposerNotLocked {
                    atom: name,
                    composer: with.label.clone(),
                })
            }
        };
        if let NodeCompose::Native { entry }
        | NodeCompose::Trivial { entry }
        | NodeCompose::Composer { entry, .. } = &compose
        {
            check_entry(&name, entry)?;
        }
        let mut deps = Vec::new();
        let mut pins = Vec::new();
        for dep in lock.iter().flat_map(|l| &l.deps) {
            match dep {
                LockedDep::Atom(atom) => {
                    let lock = lock.as_ref().expect("deps come from a lock");
                    let tag = lock
                        .sets
                        .get(&atom.set)
                        .map(|set| set.tag.clone())
                        .ok_or_else(|| ResolveError::UnlistedSet {
                            atom: name.clone(),
                            label: atom.label.clone(),
                            set: atom.set,
                        })?;
                    let node = self.atom(atom, lock, integrity.as_ref(), &name, local)?;
                    deps.push(Edge {
                        tag,
                        label: atom.label.clone(),
                        node,
                    });
                }
                other => pins.push(other.clone()),
            }
        }
        self.nodes.push(Node {
            name,
            source,
            manifest: NodeManifest::parsed(manifest),
            compose,
            deps,
            pins,
            digest: None,
            signer: None,
            pinned: None,
        });
        Ok(self.nodes.len() - 1)
    }

    /// Adds the locked atom `dep` (pinned by the atom `by`, whose lock is `lock`; `by_local`: an
    /// atom of the working tree); returns its index.
    fn atom(
        &mut self,
        dep: &AtomDep,
        lock: &Lockfile,
        integrity: Option<&Integrity>,
        by: &AtomName,
        by_local: bool,
    ) -> Result<usize, ResolveError> {
        let key = (dep.set, dep.label.clone(), dep.version.clone());
        if let Some(&index) = self.loaded.get(&key) {
            return Ok(index);
        }
        let name = AtomName::new(&dep.label, &dep.version);
        if let Some(start) = self.path.iter().position(|(k, _)| k == &key) {
            let mut chain: Vec<AtomName> =
                self.path[start..].iter().map(|(_, n)| n.clone()).collect();
            chain.push(name);
            return Err(ResolveError::Cycle(chain));
        }
        if let Some(index) = self.working_copy(dep, lock, by, by_local)? {
            return Ok(index);
        }
        let mirror = dep
            .mirror
            .clone()
            .or_else(|| {
                lock.sets
                    .get(&dep.set)
                    .and_then(|set| set.mirrors.iter().find_map(|m| m.url().map(str::to_owned)))
            })
            .or_else(|| self.mirrors.get(&dep.set).cloned());
        if let Some(mirror) = &mirror {
            self.mirrors
                .entry(dep.set)
                .or_insert_with(|| mirror.clone());
        }
        let fetch = fetch_command(mirror.as_deref());
        let Some(rev) = &dep.rev else {
            return Err(ResolveError::LocalOnly {
                atom: name,
                by: by.clone(),
            });
        };
        let rev =
            ObjectId::from_hex(rev.as_str().as_bytes()).map_err(|e| ResolveError::InvalidRev {
                atom: by.clone(),
                pinned: name.clone(),
                source: e.into(),
            })?;
        if !self.repos.contains_key(&dep.set) {
            let repo = self.store.require_set(&dep.set, mirror.as_deref())?;
            self.repos.insert(dep.set, repo);
        }
        let repo = &self.repos[&dep.set];
        let tampered = |tampering: Tampering| ResolveError::Tampered {
            atom: name.clone(),
            by: PinnedBy::Atom(by.clone()),
            tampering: Box::new(tampering),
        };
        let ref_name = atom_ref(&dep.label, &dep.version);
        let ref_target = repo.ref_target(&ref_name)?;
        self.memorable &= ref_target == Some(rev);
        if let Some(target) = ref_target {
            // The store's own ref keeps the first commit any server gave for this version; a
            // commit that a mirror served for it is recorded as that mirror's
            // (`store::attribution`), and the lock may pin it.
            if target != rev
                && !crate::store::attribution::served_by_a_mirror(
                    repo,
                    &dep.label,
                    &dep.version,
                    rev,
                )?
            {
                return Err(tampered(Tampering::RefMoved {
                    name: ref_name,
                    target,
                    pinned: rev,
                }));
            }
        }
        let atom = AtomRef {
            label: dep.label.clone(),
            version: dep.version.clone(),
            commit: rev,
            layout: RefLayout::Current,
        };
        // A version the store's own ref names is whole (`is_partial`).
        if ref_target != Some(rev)
            && crate::store::attribution::is_partial(repo, &dep.label, &dep.version, rev)?
        {
            return Err(ResolveError::MissingAtom {
                atom: name.clone(),
                by: by.clone(),
                missing: Box::new(Missing::Files {
                    repo: repo_path(repo),
                }),
                fetch: fetch.clone(),
            });
        }
        let verified_commits = self.store.verified_commits();
        let pinned = repo.load_pinned(&atom, &dep.id, ref_target, Some(&verified_commits));
        let pinned = pinned.map_err(|e| match e {
            RepoError::Verify { problem, .. } => tampered(Tampering::Verify(problem)),
            RepoError::Object { id, .. } if id == rev && !repo.has_object(rev) => {
                ResolveError::MissingAtom {
                    atom: name.clone(),
                    by: by.clone(),
                    missing: Box::new(Missing::Commit {
                        rev,
                        repo: repo_path(repo),
                        last_fetch: self.store.last_fetch(&dep.set),
                    }),
                    fetch: fetch.clone(),
                }
            }
            // Its atom.lock or atom.integrity (the manifest is the verification's).
            RepoError::NotText(_) => ResolveError::PublishedLockNotText { atom: name.clone() },
            other => ResolveError::Unreadable {
                atom: name.clone(),
                by: by.clone(),
                error: Box::new(other),
            },
        })?;
        let verified = pinned.verified;
        // Its content and signer, against what the lock recorded and the keys trusted for its set.
        let digest = pinned.digest;
        let verified_tags = self.store.verified_signatures();
        let fields = TagFields::new(&dep.set, &dep.label, &dep.version, rev, digest);
        let trusted = self.policy.trusted_in(lock, &dep.set);
        let check = |assessment: &Assessment| {
            trust::check_loaded(assessment, integrity, &trusted, &name, by, rev)
        };
        // The signature the lock recorded, when the store remembers it verifying, spares a
        // listing of the store's signatures; anything else looks at them all.
        let recorded = integrity
            .and_then(|i| i.record(&rev.to_string()))
            .and_then(|record| Assessment::recorded(&fields, record, &verified_tags))
            .and_then(|assessment| Some((check(&assessment).ok()?, assessment)));
        let (record, assessment) = match recorded {
            Some(passed) => passed,
            None => {
                let assessment = Assessment::in_store(repo, &fields, Some(&verified_tags));
                (check(&assessment)?, assessment)
            }
        };
        let signer = record.and_then(|r| r.signer).or_else(|| {
            assessment
                .signed_by(&trusted)
                .or(assessment.signed.first())
                .map(|s| s.signer.fingerprint.clone())
        });
        // The atom's own files, as published.
        let published_file = |error| ResolveError::PublishedFile {
            atom: name.clone(),
            error: Box::new(error),
        };
        let published_integrity = pinned
            .integrity
            .as_deref()
            .map(|text| {
                self.store.parsed(INTEGRITY_FILE, text, |text| {
                    Integrity::parse(text, &format!("{name}/{INTEGRITY_FILE}"))
                })
            })
            .transpose()
            .map_err(published_file)?;
        let manifest = match verified.parsed {
            Some(manifest) => manifest,
            None => Manifest::parse(&verified.manifest, &format!("{name}/{MANIFEST_FILE}"))
                .map_err(published_file)?,
        };
        let lock = pinned
            .lock_text
            .as_deref()
            .map(|text| {
                self.store.parsed(LOCK_FILE, text, |text| {
                    Lockfile::parse(text, &format!("{name}/{LOCK_FILE}"))
                })
            })
            .transpose()
            .map_err(published_file)?;
        let published = PathBuf::from(name.to_string());
        let published = published.as_path();
        check_lock(
            &manifest,
            lock.as_ref(),
            &published.join(LOCK_FILE),
            published,
        )
        .map_err(|e| match e {
            // Not something `atom lock` can fix here: the atom was published that way.
            ResolveError::OutOfDate { detail, .. } => ResolveError::PublishedLockOutOfDate {
                atom: name.clone(),
                by: by.clone(),
                detail,
            },
            other => other,
        })?;
        let source = Source::Tree {
            repo: repo_path(repo),
            tree: verified.tree,
        };
        self.path.push((key.clone(), name.clone()));
        let index = self.node(name, source, manifest, lock, published_integrity, false);
        self.path.pop();
        let index = index?;
        self.nodes[index].digest = assessment.digest;
        self.nodes[index].signer = signer;
        self.nodes[index].pinned = Some((rev, dep.id));
        self.loaded.insert(key, index);
        Ok(index)
    }
}

impl Loader<'_> {
    /// Loads `dep` from a working copy when it is overridden or an atom of the loaded atom's
    /// repository; `None` when it comes from the store.
    fn working_copy(
        &mut self,
        dep: &AtomDep,
        lock: &Lockfile,
        by: &AtomName,
        by_local: bool,
    ) -> Result<Option<usize>, ResolveError> {
        let (dir, how) = if let Some(dir) = self.overrides.get(&dep.label) {
            self.overridden.insert(dep.label.clone());
            (dir.to_owned(), CopyKind::Overridden)
        } else {
            let local_mirror = lock
                .sets
                .get(&dep.set)
                .is_some_and(|set| set.mirrors.contains(&crate::manifest::Mirror::Local));
            if !local_mirror {
                return Ok(None);
            }
            // `::` in a lock is the repository of the atom whose lock it is: for an atom from the
            // store, its own set, loaded from here only when the roots agree; for an atom of the
            // working tree, this repository, also when its identity is not known here (no commit
            // yet, a shallow clone without refs/ekala/init).
            match self.local_set()? {
                Some(local) => match (local.members.get(&dep.label), local.root) {
                    (Some(dir), Some(root)) if root == dep.set => (dir.clone(), CopyKind::Local),
                    (Some(dir), None) if by_local => (dir.clone(), CopyKind::Local),
                    _ => return Ok(None),
                },
                None => return Ok(None),
            }
        };
        (self.check)(&dir).map_err(ResolveError::Forbidden)?;
        let dir = std::fs::canonicalize(&dir).map_err(|source| {
            ResolveError::File(crate::diagnostic::FileError::Read {
                path: dir.clone(),
                source,
            })
        })?;
        let manifest = Manifest::read_atom(&dir)?;
        if manifest.package.label != dep.label {
            return Err(ResolveError::OverrideLabel {
                by: by.clone(),
                label: dep.label.clone(),
                dir,
                found: manifest.package.label.clone(),
            });
        }
        let key = (dep.set, dep.label.clone(), manifest.package.version.clone());
        if let Some(&index) = self.loaded.get(&key) {
            return Ok(Some(index));
        }
        let name = AtomName::working_copy(&manifest, how, dir.clone());
        if let Some(start) = self.path.iter().position(|(k, _)| k == &key) {
            let mut chain: Vec<AtomName> =
                self.path[start..].iter().map(|(_, n)| n.clone()).collect();
            chain.push(name);
            return Err(ResolveError::Cycle(chain));
        }
        let lock_path = dir.join(LOCK_FILE);
        let own_lock = read_lock(self.store, &lock_path)?;
        check_lock(&manifest, own_lock.as_ref(), &lock_path, &dir)?;
        self.path.push((key.clone(), name.clone()));
        let own_integrity = read_integrity(self.store, &dir.join(INTEGRITY_FILE))?;
        let index = self.node(
            name,
            Source::Dir(dir),
            manifest,
            own_lock,
            own_integrity,
            how == CopyKind::Local,
        );
        self.path.pop();
        let index = index?;
        self.loaded.insert(key, index);
        Ok(Some(index))
    }

    /// The atoms of the repository the loaded atom is in, by the `ekala.toml` of its working
    /// tree.
    fn local_set(&mut self) -> Result<Option<&LocalSet>, ResolveError> {
        if self.local.is_none() {
            self.local = Some(LocalSet::of(&self.dir)?);
        }
        Ok(self.local.as_ref().and_then(Option::as_ref))
    }
}

/// An entry must name a directory inside the atom.
pub(super) fn check_entry(atom: &AtomName, entry: &str) -> Result<(), ResolveError> {
    let path = Path::new(entry);
    let inside = !path.is_absolute()
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    if inside {
        Ok(())
    } else {
        Err(ResolveError::EntryLeaves {
            atom: atom.to_owned(),
            entry: entry.to_owned(),
        })
    }
}

fn repo_path(repo: &Repo) -> PathBuf {
    repo.git_dir().to_owned()
}
