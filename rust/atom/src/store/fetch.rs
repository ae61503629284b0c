//! Fetching published atoms into the atom store, from a repository on this machine (a path or a
//! `file://` URL, read directly with gix) or over the network ([`crate::remote`]).
//!
//! A fetch receives what the atoms are made of and nothing else: the atom commits, their trees
//! and their manifest blobs. The set's identity (`refs/ekala/init`) and each version's source
//! commit (`refs/eka/meta/<label>/<version>/origin`) are *recorded* as the remote advertises
//! them, not downloaded: the source history can be arbitrarily large and the evaluator never
//! reads it.
//!
//! Nothing is visible before it is verified. Objects arrive first (one pack, renamed into place
//! complete); each new version is then verified in the store repository (commit format, manifest,
//! label and version, the advertised manifest and origin refs agreeing with the commit); only
//! then are refs written, in one transaction, each version's atom ref last. A set fetched for the
//! first time is assembled in a repository under a temporary name and renamed into place, so a
//! fetch killed at any point leaves the store as it was, or complete.
//!
//! A version the store already has at another commit than the remote advertises is reported as
//! possible tampering and left alone; the other versions are fetched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{attribution, Result, Store, StoreError};
use crate::id::{Label, Root};
use crate::manifest::{Requirement, Version};
pub use crate::remote::local_path;
use crate::remote::{self, Endpoint, ListError, RemoteError};
use crate::repo::{
    atom_ref, id_of_root, manifest_ref, origin_ref, root_of_id, store_signature_ref,
    temporary_name, AtomRef, ObjectId, RefAtom, RefLayout, Repo, ATOMS_PREFIX, INIT_REF,
    META_PREFIX,
};
use crate::uri::Aliases;

/// Which atoms a fetch wants, and how it connects.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Labels, each with an optional requirement (only the versions it accepts); empty: every
    /// published atom.
    pub atoms: Vec<(Label, Option<Requirement>)>,
    /// Connection settings for network URLs.
    pub remote: remote::Options,
    /// URL aliases (`gh:`, …).
    pub aliases: Aliases,
    /// Receive of each new version only what locking reads, from a server that filters
    /// (protocol v2 `filter`): the atom commit and its trees (`blob:none`), then its `atom.toml`
    /// and `atom.lock` by id. Such a version is verified as far as it can be without its files
    /// (commit, manifest, names in its trees), recorded as the mirror's and marked partial
    /// ([`super::attribution::PARTIAL_PREFIX`]), without the store's atom and metadata refs: it
    /// is absent for the evaluator and for filling, and the next fetch of it receives only the
    /// files it lacks. A repository on this machine, or a server that does not filter, gives
    /// whole versions, stored as any fetch stores them. `atom lock` fetches this way.
    pub manifests_only: bool,
}

/// What happened to one version.
#[derive(Debug)]
pub enum VersionStatus {
    /// Fetched now.
    Fetched,
    /// The store already had it, at the same commit.
    Unchanged,
    /// Not fetched, and why (possible tampering, invalid atom).
    Rejected(Box<Rejection>),
    /// Fetched and recorded as this mirror's, at another commit than the store's own refs name
    /// (another mirror's, kept).
    Diverged(Divergence),
}

/// Why a fetch did not take a version a mirror advertises.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The ref's label is not in canonical (NFKC) form: a look-alike of another label.
    #[error("{}: the ref's label is not in canonical (NFKC) form, so it is no atom (a look-alike of {label} {version})", crate::diagnostic::escape_controls(.name))]
    NotCanonical {
        /// The ref as the mirror advertises it.
        name: String,
        /// The label it looks like.
        label: Label,
        /// The version.
        version: Version,
    },
    /// The mirror served this version at another commit before.
    #[error("{url} now has {label} {version} at {commit}, but served it at {before} before: published atoms never change (possible tampering); kept the store's")]
    ServedOtherBefore {
        /// The mirror.
        url: String,
        /// The label.
        label: Label,
        /// The version.
        version: Version,
        /// The commit it advertises now.
        commit: ObjectId,
        /// The commit it served before.
        before: ObjectId,
    },
    /// A metadata ref of the version is at another target than the store's.
    #[error("{url}: {label} {version}: {name} is {there} there, but {stored} in the store: published atoms never change (possible tampering); kept the store's")]
    MetaRefChanged {
        /// The mirror.
        url: String,
        /// The label.
        label: Label,
        /// The version.
        version: Version,
        /// The metadata ref.
        name: String,
        /// Its target at the mirror.
        there: ObjectId,
        /// Its target in the store.
        stored: ObjectId,
    },
    /// The received atom does not verify.
    #[error(transparent)]
    Invalid(Box<crate::repo::RepoError>),
    /// The advertised manifest ref does not name the atom's `atom.toml`.
    #[error("{label} {version}: the manifest ref names {advertised}, but the atom's atom.toml is {} (possible tampering)", .found.map(|m| m.to_string()).unwrap_or_default())]
    ManifestRef {
        /// The label.
        label: Label,
        /// The version.
        version: Version,
        /// What the manifest ref names.
        advertised: ObjectId,
        /// The atom's `atom.toml`, if it has one.
        found: Option<ObjectId>,
    },
    /// The advertised origin ref does not name the commit the atom was published from.
    #[error("{label} {version}: the origin ref names {advertised}, but the atom commit was published from {origin} (possible tampering)")]
    OriginRef {
        /// The label.
        label: Label,
        /// The version.
        version: Version,
        /// What the origin ref names.
        advertised: ObjectId,
        /// The commit the atom was published from.
        origin: ObjectId,
    },
    /// The store could not be read while checking the version.
    #[error(transparent)]
    Store(Box<StoreError>),
}

/// A version a mirror publishes at another commit than another mirror, whose the store's own refs
/// name: both are kept, each as its mirror's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url} publishes {label} {version} at {commit}, another mirror at {existing}: both are kept, each as its mirror's, and locking takes the one of the mirror a manifest declares")]
pub struct Divergence {
    /// The mirror.
    pub url: String,
    /// The label.
    pub label: Label,
    /// The version.
    pub version: Version,
    /// The commit this mirror publishes.
    pub commit: ObjectId,
    /// The commit the store's own refs name.
    pub existing: ObjectId,
}

/// One version a fetch looked at.
#[derive(Debug)]
pub struct FetchedVersion {
    /// The label.
    pub label: Label,
    /// The version.
    pub version: Version,
    /// The atom commit the remote advertises.
    pub commit: ObjectId,
    /// What happened.
    pub status: VersionStatus,
}

/// What a fetch did.
#[derive(Debug)]
pub struct Fetched {
    /// The set's root.
    pub root: Root,
    /// The store repository it went into.
    pub repo: PathBuf,
    /// Refs created.
    pub created: Vec<String>,
    /// Refs already present with the same target.
    pub unchanged: usize,
    /// Objects received.
    pub objects: usize,
    /// Whether the server filtered the first request: with
    /// [`FetchOptions::manifests_only`], the commits and top trees, then only manifests and
    /// locks. False for a repository on this machine, for a server that does not filter (then
    /// whole versions were sent), and for a whole fetch (which needs no filter).
    pub filtered: bool,
    /// Pack bytes received over the network (0 for a local repository).
    pub bytes: u64,
    /// Every version looked at, by label and version.
    pub versions: Vec<FetchedVersion>,
}

impl Fetched {
    /// This outcome with `refused` (versions refused before any transfer) among its versions.
    fn with_refused(mut self, refused: Vec<FetchedVersion>) -> Fetched {
        self.versions.extend(refused);
        self.versions
            .sort_by(|a, b| (&a.label, &a.version).cmp(&(&b.label, &b.version)));
        self
    }

    /// The versions that were rejected.
    pub fn rejected(&self) -> impl Iterator<Item = &FetchedVersion> {
        self.versions
            .iter()
            .filter(|v| matches!(v.status, VersionStatus::Rejected(_)))
    }

    /// `{"root", "repo", "created", "unchanged", "objects", "bytes", "versions"}`, as the CLI and
    /// libatom report it; each version is `{"label", "version", "rev", "status", "reason"?}`.
    pub fn to_json(&self) -> serde_json::Value {
        let versions: Vec<_> = self
            .versions
            .iter()
            .map(|v| {
                let mut item = serde_json::json!({
                    "label": v.label.as_str(),
                    "version": v.version.to_string(),
                    "rev": v.commit.to_string(),
                });
                let (status, reason) = match &v.status {
                    VersionStatus::Fetched => ("fetched", None),
                    VersionStatus::Unchanged => ("unchanged", None),
                    VersionStatus::Rejected(reason) => ("rejected", Some(reason.to_string())),
                    VersionStatus::Diverged(reason) => ("diverged", Some(reason.to_string())),
                };
                item["status"] = status.into();
                if let Some(reason) = reason {
                    item["reason"] = reason.into();
                }
                item
            })
            .collect();
        serde_json::json!({
            "root": self.root.to_hex(),
            "repo": self.repo,
            "created": self.created,
            "unchanged": self.unchanged,
            "objects": self.objects,
            "bytes": self.bytes,
            "filtered": self.filtered,
            "versions": versions,
        })
    }
}

/// The atoms of the set `root` that the published lock of `version` (in the store repository
/// `repo`) pins, by label and version. Best effort: an atom that cannot be read here pins
/// nothing (loading it reports why).
fn same_set_deps(repo: &Repo, root: Root, version: &FetchedVersion) -> Vec<(Label, Version)> {
    let atom = AtomRef {
        label: version.label.clone(),
        version: version.version.clone(),
        commit: version.commit,
        layout: RefLayout::Current,
    };
    let Some(lock) = super::attribution::verify_held(repo, &atom)
        .ok()
        .and_then(|verified| verified.lock)
        .and_then(|blob| repo.read_lock(blob))
    else {
        return Vec::new();
    };
    lock.deps
        .iter()
        .filter_map(|dep| match dep {
            crate::lock::LockedDep::Atom(a) if a.set == root && a.rev.is_some() => {
                Some((a.label.clone(), a.version.clone()))
            }
            _ => None,
        })
        .chain(match &lock.compose {
            crate::lock::LockedCompose::Atom { atom, .. } if atom.set == root => {
                Some((atom.label.clone(), atom.version.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Opens the repository at `url` for fetching with `options`.
fn open(url: &str, options: &FetchOptions) -> Result<Endpoint> {
    Ok(Endpoint::open(url, &options.remote, &options.aliases)?)
}

/// The store's side of an [`Endpoint`]: receiving atoms and their objects into a store
/// repository.
impl Endpoint {
    /// Puts the objects reachable from `wants` into `dest`; returns (objects, bytes).
    fn transfer(
        &mut self,
        dest: &Repo,
        wants: Vec<ObjectId>,
        haves: &[ObjectId],
        history: bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(usize, u64)> {
        match self {
            Endpoint::Local(repo) => Ok((repo.copy_objects_to(dest, wants, history, progress)?, 0)),
            Endpoint::Remote(remote) => {
                let received = remote.receive(dest, &wants, haves)?;
                progress(received.objects);
                Ok((received.objects, received.bytes))
            }
        }
    }

    /// Puts the atom commits `commits` and everything they are made of into `dest`, receiving
    /// only what `dest` lacks, in one request. Git servers leave out what is reachable along
    /// history from the `haves`, and atom commits have no history, but a server also leaves
    /// out everything reachable from a tree said as a `have`: with the top trees of the
    /// versions `dest` holds among them ([`whole_version_trees`]), a version that shares most of
    /// its files and directories with one `dest` has costs its new objects, from any git server.
    /// Returns (objects, bytes, whether the server filtered).
    ///
    /// With `manifests_only`, a server that filters sends the commits and their top trees
    /// ([`Endpoint::receive_tops`]), then only the `atom.toml` and `atom.lock` blobs of each
    /// commit: the rest is left for a later fetch ([`FetchOptions::manifests_only`]).
    fn transfer_atoms(
        &mut self,
        dest: &Repo,
        commits: &[ObjectId],
        haves: &[ObjectId],
        manifests_only: bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(usize, u64, bool)> {
        let mut wants: Vec<ObjectId> = commits
            .iter()
            .copied()
            .filter(|id| !dest.has_object(*id))
            .collect();
        wants.sort();
        wants.dedup();
        let filters =
            manifests_only && matches!(self, Endpoint::Remote(remote) if remote.can_filter());
        let (mut objects, mut bytes) = (0, 0);
        if filters {
            (objects, bytes) = self.receive_tops(dest, wants, haves, progress)?;
        } else if !wants.is_empty() {
            (objects, bytes) = self.transfer(dest, wants, haves, false, progress)?;
        }
        // What is still missing: of the top trees received filtered, `atom.toml` and
        // `atom.lock`; else what an interrupted fetch left behind.
        let missing = if filters {
            top_manifests(dest, commits)
        } else {
            dest.missing_objects(commits)?
        };
        if !missing.is_empty() {
            let (more_objects, more_bytes) =
                self.transfer(dest, missing, haves, false, progress)?;
            objects += more_objects;
            bytes += more_bytes;
        }
        Ok((objects, bytes, filters))
    }

    /// The commits `wants` and their top trees (filter `tree:1`: the commit's tree is at depth
    /// 0). A server that refuses the tree filter (some hosts allow only blob filters; a refusal
    /// ends the conversation) is asked again on a new connection with `blob:none`, which sends
    /// every tree below them. Returns (objects, bytes).
    fn receive_tops(
        &mut self,
        dest: &Repo,
        wants: Vec<ObjectId>,
        haves: &[ObjectId],
        progress: &mut dyn FnMut(usize),
    ) -> Result<(usize, u64)> {
        let Endpoint::Remote(remote) = self else {
            unreachable!("only a remote filters")
        };
        if wants.is_empty() {
            return Ok((0, 0));
        }
        let received = match remote.receive_filtered(dest, &wants, haves, Some("tree:1")) {
            Ok(received) => received,
            Err(_) => {
                remote.reconnect()?;
                remote.receive_filtered(dest, &wants, haves, Some("blob:none"))?
            }
        };
        progress(received.objects);
        Ok((received.objects, received.bytes))
    }
}

/// The most trees [`whole_version_trees`] names (each is a line of the request).
const MAX_TREE_HAVES: usize = 256;

/// The top trees of the versions of `labels` that `dest` holds whole (not partial) and that the
/// mirror with `key` served it or advertises now at the same commit (`advertised`, already said
/// as `have`s), newest first, at most [`MAX_TREE_HAVES`]: said as `have`s, they make a server
/// leave out every tree and file reachable from them, which history alone cannot do for atom
/// commits (they have no parents). A new version then costs its new objects, from any git
/// server. A mirror is told nothing of what the store holds from other mirrors only.
fn whole_version_trees<'a>(
    dest: &Repo,
    labels: impl Iterator<Item = &'a Label>,
    key: &str,
    advertised: &[ObjectId],
) -> Result<Vec<ObjectId>> {
    let mut labels: Vec<&Label> = labels.collect();
    labels.sort();
    labels.dedup();
    let mut trees = Vec::new();
    for label in labels {
        for atom in dest.versions(label)? {
            if trees.len() == MAX_TREE_HAVES {
                return Ok(trees);
            }
            let served = attribution::attributed(dest, key, &atom.label, &atom.version)?;
            if (served != Some(atom.commit) && !advertised.contains(&atom.commit))
                || attribution::is_partial(dest, &atom.label, &atom.version, atom.commit)?
            {
                continue;
            }
            if let Ok(tree) = dest.commit_tree(atom.commit) {
                trees.push(tree);
            }
        }
    }
    Ok(trees)
}

/// The `atom.toml` and `atom.lock` blobs at the top of the trees of `commits` that `dest` lacks
/// (of the commits and trees it has).
fn top_manifests(dest: &Repo, commits: &[ObjectId]) -> Vec<ObjectId> {
    let mut blobs = Vec::new();
    for &commit in commits {
        // A commit the server did not send is reported when its version is verified.
        let Ok(tree) = dest.commit_tree(commit) else {
            continue;
        };
        for name in [crate::manifest::MANIFEST_FILE, crate::lock::LOCK_FILE] {
            if let Ok(Some(entry)) = dest.entry(tree, Path::new(name)) {
                if entry.is_blob() && !dest.has_object(entry.id) {
                    blobs.push(entry.id);
                }
            }
        }
    }
    blobs.sort();
    blobs.dedup();
    blobs
}

/// One connection to a repository and what it listed: a caller can look at the listing
/// ([`Session::listing`]), choose, and fetch on the same connection without listing again
/// ([`Store::fetch_in_session`]).
pub struct Session {
    url: String,
    source: Endpoint,
    listed: Vec<(String, ObjectId)>,
    /// The labels listed (empty: every atom).
    labels: Vec<Label>,
}

impl Session {
    /// Connects to `url` (a path, `file://`, or a network URL) and lists `refs/ekala/init` and
    /// the atom and metadata refs of `labels` (of every atom when empty): one listing.
    pub fn open(url: &str, labels: &[Label], options: &FetchOptions) -> Result<Session> {
        let atoms: Vec<(Label, Option<Requirement>)> =
            labels.iter().map(|l| (l.clone(), None)).collect();
        Session::open_for(url, &atoms, options)
    }

    /// [`Session::open`] for `atoms`: of one asked for at an exact version, only that
    /// version's refs are listed.
    fn open_for(
        url: &str,
        atoms: &[(Label, Option<Requirement>)],
        options: &FetchOptions,
    ) -> Result<Session> {
        let mut source = open(url, options)?;
        let listed = source.list(&prefixes(atoms))?;
        Ok(Session {
            url: url.to_owned(),
            source,
            listed,
            labels: atoms.iter().map(|(label, _)| label.clone()).collect(),
        })
    }

    /// Whether the listing covers `label`.
    pub fn lists(&self, label: &Label) -> bool {
        self.labels.is_empty() || self.labels.contains(label)
    }

    /// Whether another fetch may use this session after one did: a repository on this machine,
    /// or a server speaking protocol v2 (several requests on one connection; over HTTP each is
    /// its own request anyway).
    pub fn reusable(&self) -> bool {
        match &self.source {
            Endpoint::Local(_) => true,
            Endpoint::Remote(remote) => remote.speaks_v2(),
        }
    }

    /// What the listing says is published: the root and the atoms (of `label` when given),
    /// sorted by label, then newest first.
    pub fn listing(&self, label: Option<&Label>) -> Listing {
        Listing::from_refs(&self.listed, label)
    }
}

/// A mirror being fetched from: as messages name it, and its key in the store's records.
struct Mirror {
    shown: String,
    key: String,
    /// As the store names it ([`attribution::mirror_name`]).
    name: String,
}

/// Why a version is received: new to the store, or served at another commit than the store's
/// (which it keeps).
#[derive(Debug, Clone, Copy)]
enum Kind {
    New,
    Diverged(ObjectId),
}

/// One version as the remote advertises it.
#[derive(Debug, Default)]
struct Advertised {
    commit: Option<ObjectId>,
    manifest: Option<ObjectId>,
    origin: Option<ObjectId>,
    /// The signature tag (docs/format.md#signatures).
    signature: Option<ObjectId>,
}

/// The ref prefixes to ask for: everything published, or the given labels; of a label asked
/// for at one exact version (`=1.2.0`), only that version's refs (a prefix also matches
/// `1.2.0-rc.1`, which the requirement then leaves out).
fn prefixes(atoms: &[(Label, Option<Requirement>)]) -> Vec<String> {
    let mut prefixes = vec![INIT_REF.to_owned()];
    if atoms.is_empty() {
        prefixes.extend([ATOMS_PREFIX.to_owned(), META_PREFIX.to_owned()]);
    }
    for (label, requirement) in atoms {
        match requirement.as_ref().and_then(exact_version) {
            Some(version) => {
                prefixes.push(format!("{ATOMS_PREFIX}{label}/{version}"));
                prefixes.push(format!("{META_PREFIX}{label}/{version}/"));
            }
            None => {
                prefixes.push(format!("{ATOMS_PREFIX}{label}/"));
                prefixes.push(format!("{META_PREFIX}{label}/"));
            }
        }
    }
    prefixes
}

/// The one version `requirement` matches, when it is `=MAJOR.MINOR.PATCH[-PRE]`.
fn exact_version(requirement: &Requirement) -> Option<semver::Version> {
    match requirement.comparators.as_slice() {
        [c] if c.op == semver::Op::Exact => Some(semver::Version {
            major: c.major,
            minor: c.minor?,
            patch: c.patch?,
            pre: c.pre.clone(),
            build: semver::BuildMetadata::EMPTY,
        }),
        _ => None,
    }
}

/// The root a listing advertises in `refs/ekala/init`.
pub(crate) fn advertised_root(refs: &[(String, ObjectId)]) -> Option<Root> {
    refs.iter()
        .find(|(name, _)| name == INIT_REF)
        .and_then(|(_, id)| root_of_id(id).ok())
}

/// Groups the listed atom and meta refs by (label, version); refs that do not parse are skipped,
/// and atom refs not in canonical form (a label not in NFKC form, which would shadow the
/// canonical one) are returned aside, as refused versions.
fn advertised(
    refs: &[(String, ObjectId)],
) -> (BTreeMap<(Label, Version), Advertised>, Vec<FetchedVersion>) {
    let mut versions: BTreeMap<(Label, Version), Advertised> = BTreeMap::new();
    let mut refused = Vec::new();
    for (name, id) in refs {
        let (rest, field) = if let Some(rest) = name.strip_prefix(ATOMS_PREFIX) {
            (rest, None)
        } else if let Some(rest) = name.strip_prefix(META_PREFIX) {
            match rest.rsplit_once('/') {
                Some((rest, field @ ("manifest" | "origin" | "signature"))) => (rest, Some(field)),
                _ => continue,
            }
        } else {
            continue;
        };
        let Some((label, version)) = rest.split_once('/') else {
            continue;
        };
        let (label, version) = match RefAtom::parse(label, version) {
            RefAtom::Atom(label, version) => (label, version),
            RefAtom::NotCanonical(label, version) if field.is_none() => {
                refused.push(FetchedVersion {
                    status: VersionStatus::Rejected(Box::new(Rejection::NotCanonical {
                        name: name.to_owned(),
                        label: label.clone(),
                        version: version.clone(),
                    })),
                    label,
                    version,
                    commit: *id,
                });
                continue;
            }
            _ => continue,
        };
        let entry = versions.entry((label, version)).or_default();
        match field {
            None => entry.commit = Some(*id),
            Some("manifest") => entry.manifest = Some(*id),
            Some("signature") => entry.signature = Some(*id),
            _ => entry.origin = Some(*id),
        }
    }
    (versions, refused)
}

/// What a repository publishes, listed without receiving any object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The root it advertises in `refs/ekala/init`, if any.
    pub root: Option<Root>,
    /// Its published atoms (of one label, when asked), sorted by label, then newest first.
    pub atoms: Vec<AtomRef>,
}

/// The refs under `prefixes` at `url` (a path, `file://`, or a network URL), by full name,
/// without receiving any object.
fn list_refs(
    url: &str,
    prefixes: &[String],
    options: &FetchOptions,
) -> Result<Vec<(String, ObjectId)>> {
    Ok(remote::list_refs(
        url,
        prefixes,
        &options.remote,
        &options.aliases,
    )?)
}

/// Lists the atoms published at `url` (a path, `file://`, or a network URL), of `label` only
/// when given: over the network, one `ls-refs` whose `ref-prefix` is that label's refs.
pub fn list(url: &str, label: Option<&Label>, options: &FetchOptions) -> Result<Listing> {
    let prefixes = [
        INIT_REF.to_owned(),
        match label {
            Some(label) => format!("{ATOMS_PREFIX}{label}/"),
            None => ATOMS_PREFIX.to_owned(),
        },
    ];
    let listed = list_refs(url, &prefixes, options)?;
    Ok(Listing::from_refs(&listed, label))
}

impl Listing {
    /// What the listed refs say is published: the root and the atoms (of `label` when given),
    /// sorted by label, then newest first.
    fn from_refs(listed: &[(String, ObjectId)], label: Option<&Label>) -> Listing {
        let mut atoms: Vec<AtomRef> = advertised(listed)
            .0
            .into_iter()
            .filter(|((l, _), _)| label.is_none_or(|wanted| wanted == l))
            .filter_map(|((label, version), refs)| {
                Some(AtomRef {
                    label,
                    version,
                    commit: refs.commit?,
                    layout: RefLayout::Current,
                })
            })
            .collect();
        atoms.sort_by(|a, b| a.label.cmp(&b.label).then(b.version.cmp(&a.version)));
        Listing {
            root: advertised_root(listed),
            atoms,
        }
    }
}

impl Store {
    /// The root the repository at `url` advertises (its `refs/ekala/init`), without objects.
    pub fn remote_root(&self, url: &str, options: &FetchOptions) -> Result<Root> {
        let listed = list_refs(url, &[INIT_REF.to_owned()], options)?;
        advertised_root(&listed).ok_or_else(|| StoreError::NoGenesis {
            url: remote::redact(url),
        })
    }

    /// Fetches every atom published at `url` (a path, `file://`, or a network URL): see
    /// [`Store::fetch_with`].
    pub fn fetch(&self, url: &str, progress: &mut dyn FnMut(usize)) -> Result<Fetched> {
        self.fetch_with(url, &FetchOptions::default(), progress)
    }

    /// Fetches the atoms `options` asks for from `url` into this store, into the bare repository
    /// of the set's root (created on first use). `progress` is called with the number of objects
    /// received so far, now and then.
    ///
    /// When only some labels are asked for, the atoms of the same set that their published locks
    /// pin (a `::` dependency of the atom, say) are fetched from `url` too, transitively: they
    /// are published where the atom is, and loading the atom needs them.
    pub fn fetch_with(
        &self,
        url: &str,
        options: &FetchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Fetched> {
        let fetched = self.fetch_once(url, options, progress)?;
        self.follow_own_set(url, fetched, options, progress)
    }

    /// [`Store::fetch_with`] on a [`Session`]: its listing decides, and no other is made for
    /// the atoms `options` asks for (their own-set dependencies are listed and fetched after).
    pub fn fetch_in_session(
        &self,
        session: &mut Session,
        options: &FetchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Fetched> {
        let fetched = self.fetch_listed(session, options, progress)?;
        let url = session.url.clone();
        self.follow_own_set(&url, fetched, options, progress)
    }

    /// Fetches, from `url`, the atoms of the same set that the published locks of `fetched`'s
    /// versions pin, transitively, and adds what happened to `fetched`.
    fn follow_own_set(
        &self,
        url: &str,
        mut fetched: Fetched,
        options: &FetchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Fetched> {
        if options.atoms.is_empty() {
            return Ok(fetched);
        }
        let mut seen: std::collections::BTreeSet<(Label, Version)> = fetched
            .versions
            .iter()
            .map(|v| (v.label.clone(), v.version.clone()))
            .collect();
        let mut looked_at = 0;
        loop {
            let repo = Repo::open(&fetched.repo)?;
            let mut wanted: Vec<(Label, Option<Requirement>)> = Vec::new();
            for version in &fetched.versions[looked_at..] {
                if matches!(version.status, VersionStatus::Rejected(_)) {
                    continue;
                }
                for (label, pinned) in same_set_deps(&repo, fetched.root, version) {
                    if !seen.insert((label.clone(), pinned.clone())) {
                        continue;
                    }
                    if let Ok(exact) = Requirement::parse(&format!("={pinned}")) {
                        wanted.push((label, Some(exact)));
                    }
                }
            }
            looked_at = fetched.versions.len();
            if wanted.is_empty() {
                return Ok(fetched);
            }
            let more = FetchOptions {
                atoms: wanted,
                ..options.clone()
            };
            let next = self.fetch_once(url, &more, progress)?;
            fetched.created.extend(next.created);
            fetched.unchanged += next.unchanged;
            fetched.objects += next.objects;
            fetched.bytes += next.bytes;
            fetched.filtered |= next.filtered;
            fetched.versions.extend(next.versions);
        }
    }

    /// One listing and one transfer: the atoms `options` asks for, without the own-set
    /// dependencies [`Store::fetch_with`] follows.
    pub(crate) fn fetch_once(
        &self,
        url: &str,
        options: &FetchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Fetched> {
        self.check_permissions()?;
        let options = &self.remembering(options);
        let mut session = Session::open_for(url, &options.atoms, options)?;
        self.fetch_listed(&mut session, options, progress)
    }

    /// One transfer on `session`, from its listing: the atoms `options` asks for (among those
    /// the session listed).
    fn fetch_listed(
        &self,
        session: &mut Session,
        options: &FetchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Fetched> {
        self.check_permissions()?;
        // Shared with other fetches and evaluations; a collection of the store waits.
        let _lock = self.lock_shared()?;
        let url = session.url.clone();
        let url = url.as_str();
        let source = &mut session.source;
        // From here on the URL is only named (messages, reflogs): never with its credentials.
        let shown = remote::redact(url);
        let from = Mirror {
            shown: shown.clone(),
            key: super::attribution::mirror_key(url, &options.aliases),
            name: super::attribution::mirror_name(url, &options.aliases),
        };
        let listed = &session.listed;
        let root =
            advertised_root(listed).ok_or_else(|| StoreError::NoGenesis { url: shown.clone() })?;
        let (mut versions, mut refused) = advertised(listed);
        let wanted = |label: &Label, version: &Version| {
            options.atoms.is_empty()
                || options.atoms.iter().any(|(wanted, requirement)| {
                    wanted == label && requirement.as_ref().is_none_or(|r| r.matches(version))
                })
        };
        versions.retain(|(label, version), _| wanted(label, version));
        refused.retain(|v| wanted(&v.label, &v.version));

        let path = self.set_path(&root);
        // What killed fetches left behind: a set assembled aside, a pack never renamed.
        remove_stale_temporaries(self.dir(), ".tmp-");
        remove_stale_temporaries(&path.join("objects/pack"), ".tmp");
        if path.is_dir() {
            self.check_repo_permissions(&path)?;
            return self
                .fetch_into(
                    &from,
                    source,
                    root,
                    versions,
                    Repo::open(&path)?,
                    options.manifests_only,
                    progress,
                )
                .map(|fetched| fetched.with_refused(refused));
        }
        // First fetch of this set: assemble the repository aside, then rename it into place.
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
            path: parent.to_owned(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = parent.join(temporary_name(&name));
        let assembled = Repo::init_bare(&tmp).map(|dest| {
            self.fetch_into(
                &from,
                source,
                root,
                versions,
                dest,
                options.manifests_only,
                progress,
            )
        });
        let fetched = match assembled {
            Ok(Ok(fetched)) => fetched,
            Ok(Err(e)) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e.into());
            }
        };
        match std::fs::rename(&tmp, &path) {
            Ok(()) => Ok(Fetched {
                repo: path,
                ..fetched
            }
            .with_refused(refused)),
            // Another process put the set in place meanwhile: fetch into that one.
            Err(_) if path.is_dir() => {
                let _ = std::fs::remove_dir_all(&tmp);
                self.fetch_once(url, options, progress)
            }
            Err(source) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(StoreError::Io { path, source })
            }
        }
    }

    /// Fetches `versions` from `source` into `dest`, recording them as the mirror `from`'s
    /// (only their manifests and locks, where the server filters, with `manifests_only`:
    /// [`FetchOptions::manifests_only`]).
    #[allow(clippy::too_many_arguments)]
    fn fetch_into(
        &self,
        from: &Mirror,
        source: &mut Endpoint,
        root: Root,
        versions: BTreeMap<(Label, Version), Advertised>,
        dest: Repo,
        manifests_only: bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Fetched> {
        let url = from.shown.as_str();
        if let Some(recorded) = dest.init_ref()? {
            if recorded != root {
                return Err(StoreError::RootMismatch {
                    repo: dest.git_dir().to_owned(),
                    recorded,
                    url: url.to_owned(),
                    root,
                });
            }
        }
        dest.assume_genesis(root);

        // What the store has already, what is new, and what contradicts the store.
        let mut outcomes = Vec::new();
        let mut new = Vec::new();
        let mut haves = Vec::new();
        // Metadata refs of versions the store has, missing only if an earlier fetch was cut short
        // between refs (they are written in one transaction, but not atomically on disk); and
        // this mirror's records of versions the store has at the same commit.
        let mut meta = Vec::new();
        let mut unchanged = 0;
        // Signature tags to receive and check: (label, version, commit, tag).
        let mut signatures = Vec::new();
        for ((label, version), refs) in versions {
            let Some(commit) = refs.commit else { continue };
            let served = attribution::attributed(&dest, &from.key, &label, &version)?;
            let status = match (served, dest.ref_target(&atom_ref(&label, &version))?) {
                // This mirror served another commit for this version before.
                (Some(before), _) if before != commit => {
                    VersionStatus::Rejected(Box::new(Rejection::ServedOtherBefore {
                        url: url.to_owned(),
                        label: label.clone(),
                        version: version.clone(),
                        commit,
                        before,
                    }))
                }
                (_, None) => {
                    new.push((label.clone(), version.clone(), commit, refs, Kind::New));
                    continue;
                }
                (served, Some(existing)) if existing == commit => {
                    haves.push(existing);
                    if let Some(tag) = refs.signature {
                        signatures.push((label.clone(), version.clone(), commit, tag));
                    }
                    unchanged += 1;
                    match served {
                        None => meta.push((
                            attribution::attribution_ref(&from.key, &label, &version),
                            commit,
                        )),
                        Some(_) => unchanged += 1,
                    }
                    let version_refs = VersionRefs {
                        url,
                        label: &label,
                        version: &version,
                        advertised: &refs,
                    };
                    match version_refs.meta_refs(&dest, &mut meta, &mut unchanged)? {
                        Ok(()) => VersionStatus::Unchanged,
                        Err(reason) => VersionStatus::Rejected(reason),
                    }
                }
                // Served by this mirror before, at the commit it serves now, which another
                // mirror's differs from, but only its manifest and lock were received: the rest
                // now.
                (Some(_), Some(existing))
                    if attribution::is_partial(&dest, &label, &version, commit)? =>
                {
                    new.push((
                        label.clone(),
                        version.clone(),
                        commit,
                        refs,
                        Kind::Diverged(existing),
                    ));
                    continue;
                }
                // Served by this mirror before, at the commit it serves now, which another
                // mirror's differs from: nothing new.
                (Some(_), Some(_)) => {
                    unchanged += 1;
                    VersionStatus::Unchanged
                }
                // Another mirror gave the store another commit for this version: this one's is
                // fetched and verified, and recorded as this mirror's alone.
                (None, Some(existing)) => {
                    new.push((
                        label.clone(),
                        version.clone(),
                        commit,
                        refs,
                        Kind::Diverged(existing),
                    ));
                    continue;
                }
            };
            outcomes.push(FetchedVersion {
                label,
                version,
                commit,
                status,
            });
        }

        // The atom commits, and then what they are made of that the store lacks: a manifest ref
        // names the atom.toml blob inside the atom's tree (verified below). The versions both
        // sides have go along as `have`s.
        let commits: Vec<ObjectId> = new.iter().map(|(_, _, commit, _, _)| *commit).collect();
        let mut told = haves.clone();
        told.extend(whole_version_trees(
            &dest,
            new.iter().map(|(label, ..)| label),
            &from.key,
            &haves,
        )?);
        let (mut objects, mut bytes, filtered) =
            source.transfer_atoms(&dest, &commits, &told, manifests_only, progress)?;
        // Whether a version may lack files: only its manifest and lock were asked for.
        let manifests_round = manifests_only && filtered;
        // Signature tags, small: received once their atoms are here.
        signatures.extend(new.iter().filter_map(|(label, version, commit, refs, _)| {
            Some((label.clone(), version.clone(), *commit, refs.signature?))
        }));
        signatures.retain(|(_, _, commit, tag)| {
            dest.ref_target(&store_signature_ref(*commit, *tag))
                .ok()
                .flatten()
                .is_none()
        });
        let tags: Vec<ObjectId> = signatures
            .iter()
            .map(|(_, _, _, tag)| *tag)
            .filter(|tag| !dest.has_object(*tag))
            .collect();
        if !tags.is_empty() {
            let mut known = haves.clone();
            known.extend(&commits);
            let (more_objects, more_bytes) =
                source.transfer(&dest, tags, &known, false, progress)?;
            objects += more_objects;
            bytes += more_bytes;
        }

        // Verify each new version; its refs are written only when it passes.
        let mut refs = meta;
        if dest.ref_target(INIT_REF)?.is_none() {
            refs.push((INIT_REF.to_owned(), id_of_root(&root)));
        } else {
            unchanged += 1;
        }
        let mut atom_refs = Vec::new();
        // The signatures of the versions that verified, and of those the store had.
        let mut verified_signatures: std::collections::BTreeSet<(ObjectId, ObjectId)> = signatures
            .iter()
            .filter(|(_, _, commit, _)| haves.contains(commit))
            .map(|(_, _, commit, tag)| (*commit, *tag))
            .collect();
        // Marks of partial versions that are whole now, removed once their refs are written.
        let mut completed = Vec::new();
        for (label, version, commit, advertised, kind) in new {
            let atom = AtomRef {
                label: label.clone(),
                version: version.clone(),
                commit,
                layout: RefLayout::Current,
            };
            let mut version_refs = Vec::new();
            // Only its manifest and lock were asked for, and files are missing.
            let partial = manifests_round && !dest.missing_objects(&[commit])?.is_empty();
            let checked = check_new(&dest, &atom, &advertised, partial).and_then(|()| match kind {
                Kind::New => VersionRefs {
                    url,
                    label: &label,
                    version: &version,
                    advertised: &advertised,
                }
                .meta_refs(&dest, &mut version_refs, &mut unchanged)
                .map_err(|e| Box::new(Rejection::Store(Box::new(e))))?,
                Kind::Diverged(_) => Ok(()),
            });
            if checked.is_ok() {
                if let Some(tag) = advertised.signature {
                    verified_signatures.insert((commit, tag));
                }
            }
            let attribution = attribution::attribution_ref(&from.key, &label, &version);
            if checked.is_ok() && dest.ref_target(&attribution)? != Some(commit) {
                if partial {
                    // The mark first: a version is never taken for whole, even when writing the
                    // refs is cut short.
                    atom_refs.push((
                        attribution::partial_ref(&from.key, &label, &version),
                        commit,
                    ));
                }
                atom_refs.push((attribution, commit));
            }
            if !partial && checked.is_ok() {
                completed.extend(attribution::partial_marks(&dest, &label, &version, commit)?);
            }
            let status = match (checked, kind) {
                // Only what locking reads: no store refs yet.
                (Ok(()), _) if partial => VersionStatus::Fetched,
                (Ok(()), Kind::New) => {
                    refs.extend(version_refs);
                    atom_refs.push((atom_ref(&label, &version), commit));
                    VersionStatus::Fetched
                }
                (Ok(()), Kind::Diverged(existing)) => VersionStatus::Diverged(Divergence {
                    url: url.to_owned(),
                    label: label.clone(),
                    version: version.clone(),
                    commit,
                    existing,
                }),
                (Err(reason), _) => VersionStatus::Rejected(reason),
            };
            outcomes.push(FetchedVersion {
                label,
                version,
                commit,
                status,
            });
        }
        // A signature is kept when it is a valid atom signature of its commit (whoever signed it:
        // trust is decided when locking); anything else a mirror advertises is dropped.
        for (label, version, commit, tag) in &signatures {
            if verified_signatures.contains(&(*commit, *tag))
                && signature_is_valid(&dest, &root, label, version, *commit, *tag)
            {
                refs.push((store_signature_ref(*commit, *tag), *tag));
            }
        }
        // Atom refs last: a version is visible only with its metadata.
        refs.extend(atom_refs);
        let created = create_refs(&dest, refs, url, &mut unchanged)?;
        if !completed.is_empty() {
            // Best effort: a mark left behind only makes a later fetch look again.
            let _ = dest.delete_refs(&completed);
        }
        self.record_mirror_name(dest.git_dir(), &from.key, &from.name);
        outcomes.sort_by(|a, b| (&a.label, &a.version).cmp(&(&b.label, &b.version)));
        Ok(Fetched {
            root,
            repo: dest.git_dir().to_owned(),
            created,
            unchanged,
            objects,
            bytes,
            filtered,
            versions: outcomes,
        })
    }
}

/// How old a temporary file or directory must be before a fetch takes it for the leftover of a
/// killed process rather than the work of a running one.
const STALE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes the entries of `dir` whose names start with `prefix` and that nothing has modified for
/// [`STALE`]; best effort (a failure only leaves them).
fn remove_stale_temporaries(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE);
        if stale {
            let path = entry.path();
            let _ = match entry.file_type() {
                Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
        }
    }
}

/// A version a mirror advertises, with its metadata refs.
struct VersionRefs<'a> {
    url: &'a str,
    label: &'a Label,
    version: &'a Version,
    advertised: &'a Advertised,
}

impl VersionRefs<'_> {
    /// Adds the advertised metadata refs of the version that `dest` lacks to `refs`, and counts
    /// those it has; the inner error names one `dest` has at another target.
    fn meta_refs(
        &self,
        dest: &Repo,
        refs: &mut Vec<(String, ObjectId)>,
        unchanged: &mut usize,
    ) -> Result<std::result::Result<(), Box<Rejection>>> {
        let (label, version) = (self.label, self.version);
        let mut found = Vec::new();
        for (name, id) in [
            (manifest_ref(label, version), self.advertised.manifest),
            (origin_ref(label, version), self.advertised.origin),
        ] {
            match (id, dest.ref_target(&name)?) {
                (Some(id), None) => found.push((name, id)),
                (Some(id), Some(existing)) if id == existing => *unchanged += 1,
                (Some(id), Some(existing)) => {
                    return Ok(Err(Box::new(Rejection::MetaRefChanged {
                        url: self.url.to_owned(),
                        label: label.clone(),
                        version: version.clone(),
                        name,
                        there: id,
                        stored: existing,
                    })))
                }
                (None, _) => {}
            }
        }
        refs.extend(found);
        Ok(Ok(()))
    }
}

/// Whether the tag `tag` in `dest` is a valid signature of the atom `label` `version` at
/// `commit` of the set `root` (whoever made it).
fn signature_is_valid(
    dest: &Repo,
    root: &Root,
    label: &Label,
    version: &Version,
    commit: ObjectId,
    tag: ObjectId,
) -> bool {
    // A partial version (only its manifest and lock are here): the digest its tag claims, checked
    // against the files when they come.
    let partial = !dest
        .missing_objects(&[commit])
        .is_ok_and(|missing| missing.is_empty());
    let digest = match partial {
        false => dest
            .commit_tree(commit)
            .and_then(|tree| dest.tree_digest(tree))
            .ok(),
        true => dest
            .read_tag(tag)
            .ok()
            .and_then(|bytes| crate::sign::SignatureTag::parse(tag, &bytes).ok())
            .map(|parsed| parsed.fields.digest),
    };
    match digest {
        Some(digest) => {
            let expected = crate::sign::TagFields::new(root, label, version, commit, digest);
            crate::sign::check(dest, &expected, tag).is_ok()
        }
        None => false,
    }
}

/// Verifies a version just received: the atom itself (as far as its top tree, when `partial`:
/// [`Repo::verify_top`]), and the advertised manifest and origin refs agreeing with it.
fn check_new(
    dest: &Repo,
    atom: &AtomRef,
    advertised: &Advertised,
    partial: bool,
) -> std::result::Result<(), Box<Rejection>> {
    let verified = match partial {
        true => dest.verify_top(atom),
        false => dest.verify(atom, None),
    }
    .map_err(|e| Box::new(Rejection::Invalid(Box::new(e))))?;
    let manifest = dest
        .entry(verified.tree, Path::new(crate::manifest::MANIFEST_FILE))
        .ok()
        .flatten()
        .map(|e| e.id);
    if let Some(advertised) = advertised.manifest {
        if Some(advertised) != manifest {
            return Err(Box::new(Rejection::ManifestRef {
                label: atom.label.clone(),
                version: atom.version.clone(),
                advertised,
                found: manifest,
            }));
        }
    }
    if let Some(advertised) = advertised.origin {
        if advertised != verified.origin {
            return Err(Box::new(Rejection::OriginRef {
                label: atom.label.clone(),
                version: atom.version.clone(),
                advertised,
                origin: verified.origin,
            }));
        }
    }
    Ok(())
}

/// Creates `refs` in `dest`. Another process fetching into the same store may create some of
/// them first (to the same targets: published atoms never change), or hold their locks: refs
/// created meanwhile count as unchanged; the rest are tried again while others make progress,
/// and at most 10 times without progress (so that an error that is not a race is reported soon).
fn create_refs(
    dest: &Repo,
    mut refs: Vec<(String, ObjectId)>,
    url: &str,
    unchanged: &mut usize,
) -> Result<Vec<String>> {
    let mut created = Vec::new();
    let mut idle = 0u64;
    while !refs.is_empty() {
        match dest.create_refs(&refs, &format!("fetch: {url}")) {
            Ok(()) => {
                created.extend(refs.into_iter().map(|(name, _)| name));
                break;
            }
            Err(error) => {
                let before = refs.len();
                let (missing, now_there) = missing_refs(dest, refs, url)?;
                idle = if missing.len() < before { 0 } else { idle + 1 };
                if idle >= 10 {
                    return Err(error.into());
                }
                *unchanged += now_there;
                refs = missing;
                // Back off, by a different amount in each process.
                let jitter = u64::from(std::process::id() % 7);
                std::thread::sleep(std::time::Duration::from_millis(5 * idle + jitter));
            }
        }
    }
    Ok(created)
}

/// Of the refs `wanted`, those `dest` does not have, and how many it has with the same target;
/// one with another target is an error.
fn missing_refs(
    dest: &Repo,
    wanted: Vec<(String, ObjectId)>,
    url: &str,
) -> Result<(Vec<(String, ObjectId)>, usize)> {
    let mut missing = Vec::new();
    let mut unchanged = 0;
    for (name, id) in wanted {
        match dest.ref_target(&name)? {
            None => missing.push((name, id)),
            Some(existing) if existing == id => unchanged += 1,
            Some(existing) => {
                return Err(StoreError::RefChanged {
                    url: url.to_owned(),
                    name,
                    id,
                    existing,
                })
            }
        }
    }
    Ok((missing, unchanged))
}

impl Store {
    /// Mirrors the git repository at `url` (a direct Nix dependency, not an atom set) into the
    /// store: every object reachable from its branches and tags goes into
    /// [`Store::git_mirror_path`], so that the evaluator can read a locked `nix+git` revision
    /// without fetching. Returns the mirror and the objects received.
    pub fn fetch_git(
        &self,
        url: &str,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(PathBuf, usize)> {
        self.fetch_git_with(url, &FetchOptions::default(), progress)
    }

    /// [`Store::fetch_git`] with connection settings.
    pub fn fetch_git_with(
        &self,
        url: &str,
        options: &FetchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(PathBuf, usize)> {
        let mirror = self.git_mirror_path(url);
        self.check_repo_permissions(&mirror)?;
        let _lock = self.lock_shared()?;
        let mut source = open(url, options)?;
        let dest = Repo::open_or_init_bare(&mirror)?;
        let tips: Vec<ObjectId> = match &source {
            Endpoint::Local(repo) => repo.ref_tips()?,
            Endpoint::Remote(_) => source
                .list(&["HEAD".into(), "refs/heads/".into(), "refs/tags/".into()])?
                .into_iter()
                .map(|(_, id)| id)
                .filter(|id| !dest.has_object(*id))
                .collect(),
        };
        let (objects, _) = source.transfer(&dest, tips, &[], true, progress)?;
        // Best effort: the record only names the mirror in `atom store ls`.
        let _ = super::record::write_record(&mirror, url);
        Ok((mirror, objects))
    }
}

impl From<RemoteError> for StoreError {
    fn from(e: RemoteError) -> Self {
        StoreError::Remote(Box::new(e))
    }
}

impl From<ListError> for StoreError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::NoSuchRepository { url, path } => StoreError::NoSuchRepository { url, path },
            ListError::Remote(e) => e.into(),
            ListError::Repo(e) => e.into(),
        }
    }
}
