//! Writing `atom.lock` (docs/format.md#the-lock-file) from a manifest: `atom lock`.
//!
//! Each set's root comes from the local repository (`::`), from a mirror that is a local
//! repository, from the existing lock, or (when fetching is allowed) from the first network mirror
//! that answers. Atom dependencies are resolved in the atom store (a `::` set: in the local
//! repository, where it is published) and verified; when the store lacks the set or a version the
//! requirement accepts, and fetching is allowed, the label is fetched from the set's mirrors in
//! order, the first that succeeds winning (like `nix flake lock`). An entry of the existing lock
//! that still satisfies its requirement is kept without any fetch. The sync rules of
//! docs/format.md#sync-rules apply: entries for dependencies the manifest no longer declares are dropped, and an
//! existing entry is kept while it still satisfies its requirement.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::trust::{self, Assessment, Policy};
use super::{AtomName, DirectLockLimit, MirrorFailure, ResolveError, Sought};
use crate::id::{Label, Root, Tag};
use crate::lock::integrity::{Integrity, INTEGRITY_FILE};
use crate::lock::{
    AtomDep, GitDep, GitRev, LockedCompose, LockedDep, LockedSet, Lockfile, LOCK_FILE, LOCK_VERSION,
};
use crate::manifest::{
    Compose, ComposeAs, GitRef, Manifest, Mirror, Mirrors, NixDep, NixSource, Requirement, Version,
};
use crate::repo::{AtomRef, ObjectId, Repo};
use crate::store::{attribution, local_path, FetchOptions, Store, VersionStatus};
use crate::uri::without_credentials;

/// Which dependencies a lock re-resolves instead of keeping their entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Update {
    /// None: an entry is kept while it satisfies its requirement (`atom lock`).
    #[default]
    Nothing,
    /// Every dependency, to the highest version its requirement allows (`atom lock --update`).
    All,
    /// Only these, by label (an atom, or the composer atom) or name (a direct dependency)
    /// (`atom lock --update NAME...`).
    Only(Vec<Label>),
}

impl Update {
    fn covers(&self, name: &Label) -> bool {
        match self {
            Update::Nothing => false,
            Update::All => true,
            Update::Only(names) => names.contains(name),
        }
    }
}

/// A computed lock, with its integrity record and what the trust policy skipped.
#[derive(Debug, Clone)]
pub struct Locked {
    /// The lock.
    pub lock: Lockfile,
    /// What each pinned atom hashes to and who signed it (`atom.integrity`).
    pub integrity: Integrity,
    /// Newer versions not taken because no trusted key signed them, one dependency each.
    pub skipped: Vec<super::TrustSkipped>,
    /// Pinned atoms not on this machine, so without a record in `integrity`: the record is then
    /// incomplete, and is not to be written.
    pub unrecorded: Vec<AtomName>,
}

/// Computes the lock of the atom in `dir` from what is on this machine (offline): `None` for a
/// static atom, which has no lock.
pub fn lock(dir: &Path, store: &Store) -> Result<Option<Locked>, ResolveError> {
    lock_with(dir, store, &Update::Nothing, None)
}

/// [`lock`], re-resolving the dependencies `update` names, and fetching what the store lacks
/// from the sets' mirrors when `fetch` is given.
pub fn lock_with(
    dir: &Path,
    store: &Store,
    update: &Update,
    fetch: Option<&FetchOptions>,
) -> Result<Option<Locked>, ResolveError> {
    let manifest = Manifest::read_atom(dir)?;
    lock_manifest(dir, &manifest, store, update, fetch)
}

/// [`lock_with`] for `manifest`, the atom in `dir` (whose `atom.toml` is not read: this is
/// how a manifest about to be written is locked first).
pub fn lock_manifest(
    dir: &Path,
    manifest: &Manifest,
    store: &Store,
    update: &Update,
    fetch: Option<&FetchOptions>,
) -> Result<Option<Locked>, ResolveError> {
    if let Update::Only(names) = update {
        let declared = declared_names(manifest);
        if let Some(unknown) = names.iter().find(|n| !declared.contains(n)) {
            return Err(ResolveError::NotADependency {
                name: unknown.clone(),
                declared,
            });
        }
    }
    if matches!(manifest.compose, Compose::As(ComposeAs::Static(_))) {
        return Ok(None);
    }
    let lock_path = dir.join(LOCK_FILE);
    let existing = Lockfile::read_if_present(&lock_path)?;
    let existing_integrity = Integrity::read_if_present(&dir.join(INTEGRITY_FILE))?;
    let remembering = fetch.map(|options| store.remembering(options));
    let fetch = remembering.as_ref();
    let mut locker = Locker {
        dir,
        store,
        manifest,
        existing: existing.as_ref(),
        existing_integrity: existing_integrity.unwrap_or_default(),
        policy: Policy::for_dir(dir)?,
        integrity: Integrity::default(),
        skipped: Vec::new(),
        unrecorded: Vec::new(),
        local: None,
        sets: BTreeMap::new(),
        fetch,
        sessions: std::collections::HashMap::new(),
    };

    let compose = match &manifest.compose {
        Compose::As(ComposeAs::Nix(entry)) => LockedCompose::Nix {
            entry: entry.clone(),
        },
        Compose::As(ComposeAs::Static(_)) => LockedCompose::Static,
        Compose::With(with) => {
            let requirement = with
                .composer
                .version
                .clone()
                .unwrap_or_else(|| Requirement::parse("*").expect("* is a requirement"));
            let kept = existing
                .as_ref()
                .and_then(|l| match &l.compose {
                    LockedCompose::Atom { atom, .. } => Some(atom),
                    _ => None,
                })
                .filter(|_| !update.covers(&with.label));
            let atom = locker.atom(with.composer.from.as_ref(), &with.label, &requirement, kept)?;
            LockedCompose::Atom {
                atom,
                entry: with.composer.entry.clone(),
            }
        }
    };

    let mut deps = Vec::new();
    if let Some(declared) = manifest.dependencies() {
        for (tag, atoms) in &declared.from {
            for (label, requirement) in atoms {
                let kept = existing
                    .as_ref()
                    .and_then(|l| {
                        l.deps.iter().find_map(|d| match d {
                            LockedDep::Atom(a) if &a.label == label => Some(a),
                            _ => None,
                        })
                    })
                    .filter(|_| !update.covers(label));
                deps.push(LockedDep::Atom(locker.atom(
                    tag.as_ref(),
                    label,
                    requirement,
                    kept,
                )?));
            }
        }
        for (name, dep) in &declared.direct.nix {
            deps.push(locker.direct(name, dep, update.covers(name))?);
        }
    }

    let sets = locker.sets;
    let (integrity, skipped, unrecorded) = (locker.integrity, locker.skipped, locker.unrecorded);
    let lock = Lockfile {
        version: LOCK_VERSION,
        sets,
        // The reference refuses a lock without `[locker]`: keep the one a lock has, else write
        // the reference's own.
        locker: Some(
            existing
                .as_ref()
                .and_then(|l| l.locker.clone())
                .unwrap_or_else(AtomDep::reference_locker),
        ),
        compose,
        deps,
    };
    Ok(Some(Locked {
        lock,
        integrity,
        skipped,
        unrecorded,
    }))
}

/// What a dependency asks for: the highest version of `label` that `requirement` accepts and
/// `exclude` does not list.
struct Wanted<'a> {
    label: &'a Label,
    requirement: &'a Requirement,
    exclude: &'a [Version],
}

struct Locker<'a> {
    dir: &'a Path,
    store: &'a Store,
    manifest: &'a Manifest,
    existing: Option<&'a Lockfile>,
    /// The integrity record beside the existing lock (empty when there is none).
    existing_integrity: Integrity,
    /// The consumer's trusted keys.
    policy: Policy,
    /// The integrity record being written.
    integrity: Integrity,
    /// What the trust policy skipped.
    skipped: Vec<super::TrustSkipped>,
    /// The atoms that could not be recorded (not on this machine).
    unrecorded: Vec<AtomName>,
    /// The work tree of the repository the atom is in, once found.
    local: Option<PathBuf>,
    sets: BTreeMap<Root, LockedSet>,
    /// How to fetch what the store lacks; `None`: offline.
    fetch: Option<&'a FetchOptions>,
    /// One connection (and listing) per mirror URL, reused for the set's dependencies.
    sessions: std::collections::HashMap<String, crate::store::Session>,
}

impl Locker<'_> {
    /// Locks `label` of the set tagged `tag` at the highest version matching `requirement`,
    /// keeping `kept` (an entry of the existing lock) while it still satisfies it.
    fn atom(
        &mut self,
        tag: &Tag,
        label: &Label,
        requirement: &Requirement,
        kept: Option<&AtomDep>,
    ) -> Result<AtomDep, ResolveError> {
        let mirrors = self
            .manifest
            .package
            .sets
            .get(tag)
            .ok_or_else(|| ResolveError::UndeclaredSet(tag.clone()))?;
        let root = self.root(tag, mirrors)?;
        self.sets.insert(
            root,
            LockedSet {
                tag: tag.clone(),
                mirrors: mirrors.iter().cloned().collect::<BTreeSet<Mirror>>(),
            },
        );
        let urls = mirrors.iter().filter_map(Mirror::url);
        let trusted = self
            .policy
            .trusted(&trust::set_names(Some(tag.as_str()), urls, &root));
        if let Some(kept) = kept {
            if kept.set == root && kept.rev.is_some() && requirement.matches(&kept.version) {
                // Not signed by a key trusted now: chosen again below.
                if let Ok(()) = self.vet(kept, tag, &trusted)? {
                    return Ok(kept.clone());
                }
            }
        }
        let mut exclude: Vec<Version> = Vec::new();
        let mut skipped: Vec<super::Skipped> = Vec::new();
        loop {
            let dep = match self.pick(tag, mirrors, &root, label, requirement, &exclude) {
                Ok(dep) => dep,
                Err(_) if !skipped.is_empty() => {
                    return Err(ResolveError::NoTrustedVersion(Box::new(
                        super::NoTrustedVersion {
                            label: label.clone(),
                            requirement: requirement.clone(),
                            set: tag.clone(),
                            trusted: trusted.clone(),
                            skipped,
                        },
                    )))
                }
                Err(e) => return Err(e),
            };
            if dep.rev.is_none() {
                return Ok(dep);
            }
            match self.vet(&dep, tag, &trusted)? {
                Ok(()) => {
                    if !skipped.is_empty() {
                        self.skipped.push(super::TrustSkipped {
                            label: label.clone(),
                            locked: dep.version.clone(),
                            skipped,
                            set: tag.clone(),
                        });
                    }
                    return Ok(dep);
                }
                Err(found) => {
                    skipped.push(super::Skipped {
                        version: dep.version.clone(),
                        found,
                    });
                    exclude.push(dep.version.clone());
                }
            }
        }
    }

    /// Checks the locked atom `dep` of the set tagged `tag` against the trust policy
    /// (`trusted`: the keys trusted for its set) and the existing integrity record, and records
    /// it. The inner `Err`: not signed by a trusted key, and what signs it.
    fn vet(
        &mut self,
        dep: &AtomDep,
        tag: &Tag,
        trusted: &[String],
    ) -> Result<Result<(), super::Signers>, ResolveError> {
        let rev = dep.rev.as_ref().expect("vetted atoms have a rev").as_str();
        let rev = ObjectId::from_hex(rev.as_bytes())
            .map_err(|_| ResolveError::UnrecordableRev(rev.to_owned()))?;
        // Already recorded, and not against today's trusted keys: kept as it is (the evaluator
        // checks it whenever it loads the atom).
        if let Some(record) = self.existing_integrity.record(&rev.to_string()) {
            let signer_trusted = record.signer.as_ref().is_some_and(|s| trusted.contains(s));
            // A record without a digest is completed once the files are here.
            let complete = record.digest.is_some() || !self.has_files(&dep.set, rev);
            if complete && (trusted.is_empty() || signer_trusted) {
                self.integrity.insert(record.clone());
                return Ok(Ok(()));
            }
        }
        // From the atom store (its digest records), else this repository (nothing is written
        // into the store for an atom of the working tree's own).
        let (repo, in_store) = match self.store.open_set(&dep.set)? {
            Some(repo) if repo.has_object(rev) => (Some(repo), true),
            _ => (
                self.local_repo().ok().filter(|repo| repo.has_object(rev)),
                false,
            ),
        };
        let Some(repo) = repo else {
            // A kept entry of a lock written without a record (by the reference, or before
            // records), whose atom is not on this machine: nothing to hash.
            if !trusted.is_empty() {
                return Err(ResolveError::Untrusted {
                    atom: AtomName::new(&dep.label, &dep.version),
                    by: AtomName::of(self.manifest),
                    why: Box::new(super::Distrust::NotInStore),
                });
            }
            self.unrecorded
                .push(AtomName::new(&dep.label, &dep.version));
            return Ok(Ok(()));
        };
        let assessment = self.assess(dep, rev, &repo, in_store)?;
        let signed = if trusted.is_empty() {
            // Trust on first use: the signer recorded for this label before must sign it.
            let rev_hex = rev.to_string();
            let previous =
                self.existing_integrity.atoms.iter().find(|r| {
                    r.label == dep.label && r.rev.as_str() != rev_hex && r.signer.is_some()
                });
            match previous {
                Some(previous) => {
                    let expected = previous.signer.clone().expect("found with a signer");
                    match assessment.signed_by(std::slice::from_ref(&expected)) {
                        Some(signed) => Some(signed),
                        None => {
                            return Err(ResolveError::SignerChanged(Box::new(
                                super::SignerChanged {
                                    label: dep.label.clone(),
                                    version: dep.version.clone(),
                                    previous: previous.version.clone(),
                                    set: tag.clone(),
                                    expected,
                                    found: assessment.describe(),
                                },
                            )))
                        }
                    }
                }
                None => assessment.signed.first(),
            }
        } else {
            match assessment.signed_by(trusted) {
                Some(signed) => Some(signed),
                None => return Ok(Err(assessment.describe())),
            }
        };
        let record = assessment.record(&dep.label, &dep.version, rev, signed);
        self.integrity.insert(record);
        Ok(Ok(()))
    }

    /// What `dep` (at `rev`, in `repo`) hashes to and who signed it. A version locking fetched
    /// only the manifest and lock of ([`crate::store::attribution::is_partial`]) has no files to
    /// hash: a valid signature gives the digest its signer vouches for (checked against the files
    /// when they are fetched and loaded); without one, the digest is left unknown.
    fn assess(
        &self,
        dep: &AtomDep,
        rev: ObjectId,
        repo: &Repo,
        in_store: bool,
    ) -> Result<Assessment, ResolveError> {
        let tree = repo.commit_tree(rev)?;
        let whole = repo.missing_objects(&[rev])?.is_empty();
        if whole {
            let digest = match in_store {
                true => self.store.tree_digest(repo, tree)?,
                false => repo.tree_digest(tree)?,
            };
            return Ok(Assessment::with_digest(
                repo,
                &crate::sign::TagFields::new(&dep.set, &dep.label, &dep.version, rev, digest),
                None,
            ));
        }
        // No files to hash: the digest a valid signature vouches for, else none (recorded by a
        // later `atom lock`, once `atom fetch` brought the files).
        Ok(
            Assessment::vouched(repo, &dep.set, &dep.label, &dep.version, rev).unwrap_or(
                Assessment {
                    digest: None,
                    signed: Vec::new(),
                },
            ),
        )
    }

    /// Whether the files of the atom commit `rev` of the set `root` are on this machine.
    fn has_files(&self, root: &Root, rev: ObjectId) -> bool {
        let whole = |repo: &Repo| repo.missing_objects(&[rev]).is_ok_and(|m| m.is_empty());
        self.store
            .open_set(root)
            .ok()
            .flatten()
            .filter(|repo| repo.has_object(rev))
            .is_some_and(|repo| whole(&repo))
    }

    /// Chooses the version of `label` to lock (the highest `requirement` accepts, not in
    /// `exclude`), fetching it when allowed.
    fn pick(
        &mut self,
        tag: &Tag,
        mirrors: &Mirrors,
        root: &Root,
        label: &Label,
        requirement: &Requirement,
        exclude: &[Version],
    ) -> Result<AtomDep, ResolveError> {
        let root = *root;
        let wanted = Wanted {
            label,
            requirement,
            exclude,
        };
        let mut mirror = mirrors.iter().find_map(|m| m.url().map(str::to_owned));
        // A `::` set is read where it is published: this repository. Others from the store:
        // online, at the version a mirror publishes (fetched first); offline, at the best
        // version the store has.
        let local = mirrors.iter().any(|m| m == &Mirror::Local);
        let has_url = mirror.is_some();
        let chosen = match self.fetch {
            Some(options) if !local => {
                self.choose_at_mirrors(tag, mirrors, &root, &wanted, options)?
            }
            // A `::` set with URL mirrors: like the reference, lock what a mirror publishes (also
            // when it is newer than this repository's own refs); this repository's refs, then its
            // working copy, only when no mirror has a matching version.
            Some(options) if has_url => {
                match self.choose_at_mirrors(tag, mirrors, &root, &wanted, options) {
                    Err(ResolveError::NotAtMirror { .. }) => None,
                    other => other?,
                }
            }
            _ => None,
        };
        let store = match &chosen {
            Some((url, _)) => self.store.require_set(&root, Some(url))?,
            None if local => {
                // Read from this repository's refs: no mirror is known to serve it.
                mirror = None;
                self.local_repo()?
            }
            None => self.store.require_set(&root, mirror.as_deref())?,
        };
        let aliases = self.fetch.map(|o| o.aliases.clone()).unwrap_or_default();
        let atom = match chosen {
            Some((url, advertised)) => {
                // What this mirror served (a store's own ref may name another server's commit).
                let key = attribution::mirror_key(&url, &aliases);
                let served = attribution::attributed(&store, &key, label, &advertised.version)?;
                let found = match served {
                    Some(commit) if commit == advertised.commit => advertised.clone(),
                    _ => store.find(label, &advertised.version)?,
                };
                if found.commit != advertised.commit {
                    return Err(ResolveError::Tampered {
                        atom: AtomName::new(label, &advertised.version),
                        by: super::PinnedBy::Mirror(url),
                        tampering: Box::new(super::Tampering::MirrorDiffers {
                            published: advertised.commit,
                            stored: found.commit,
                        }),
                    });
                }
                mirror = Some(url);
                found
            }
            None => {
                match self.resolve_offline(&store, local, mirrors, &aliases, &wanted) {
                    Err(crate::repo::RepoError::NoMatchingVersion {
                        available, labels, ..
                    }) if !local => {
                        return Err(self.not_in_store(
                            &root,
                            mirrors,
                            label,
                            requirement,
                            (available, labels),
                        ));
                    }
                    Err(error @ crate::repo::RepoError::NoMatchingVersion { .. }) => {
                        // `::`: an atom of this repository not published yet is locked from its
                        // working copy, without a rev (local-only); it loads from the working tree,
                        // and publishing the dependent waits until it is published and locked again.
                        return match self.working_copy(label, requirement)? {
                            // Written as the reference does: `<version>-local`.
                            Some(version) => Ok(AtomDep {
                                label: label.clone(),
                                version: version.local(),
                                set: root,
                                rev: None,
                                mirror: None,
                                id: crate::id::AtomId::new(root, label.clone()).digest(),
                            }),
                            None => Err(error.into()),
                        };
                    }
                    other => other?,
                }
            }
        };
        let verified = crate::store::attribution::verify_held(&store, &atom)?;
        Ok(AtomDep {
            label: label.clone(),
            version: atom.version.clone(),
            set: root,
            rev: Some(git_rev(atom.commit)?),
            mirror,
            id: verified.id,
        })
    }

    /// The version of the working copy of `label` in this repository (listed in its
    /// `ekala.toml`), when it matches `requirement`.
    fn working_copy(
        &mut self,
        label: &Label,
        requirement: &Requirement,
    ) -> Result<Option<crate::manifest::Version>, ResolveError> {
        self.local_repo()?;
        let top = self.local.clone().expect("found by local_repo");
        let file = top.join(crate::manifest::set::SET_MANIFEST_FILE);
        if !file.is_file() {
            return Ok(None);
        }
        let set = crate::manifest::set::SetManifest::read(&file)?;
        let Ok((members, _)) = set.members(&top) else {
            return Ok(None);
        };
        let Some(member) = members.into_iter().find(|m| &m.label == label) else {
            return Ok(None);
        };
        let manifest = Manifest::read_atom(&top.join(&member.path))?;
        Ok(requirement
            .matches(&manifest.package.version)
            .then_some(manifest.package.version))
    }

    /// Why no version of `label` matching `requirement` is in the store's copy of the set `root`
    /// (which has `available`): not published, or published at a mirror on this machine since
    /// the store was filled.
    /// The best version of `label` matching `requirement` in `store`, offline. For a set read
    /// from the store, only the versions its declared mirrors served count (the store may hold
    /// versions another server claimed for the same root: `store::attribution`); a set without
    /// a URL mirror, or `::`, reads the repository's own refs.
    fn resolve_offline(
        &self,
        store: &Repo,
        local: bool,
        mirrors: &Mirrors,
        aliases: &crate::uri::Aliases,
        wanted: &Wanted<'_>,
    ) -> Result<AtomRef, crate::repo::RepoError> {
        let (label, requirement, exclude) = (wanted.label, wanted.requirement, wanted.exclude);
        let keys: Vec<String> = mirrors
            .iter()
            .filter_map(Mirror::url)
            .map(|url| attribution::mirror_key(url, aliases))
            .collect();
        if (local || keys.is_empty()) && exclude.is_empty() {
            return store.resolve(label, requirement);
        }
        let mut versions = match local || keys.is_empty() {
            true => store.versions(label)?,
            false => attribution::versions(store, &keys, label)?,
        };
        versions.retain(|a| !exclude.contains(&a.version));
        match crate::repo::select(&versions, requirement) {
            Some(atom) => Ok(atom.clone()),
            None => Err(crate::repo::RepoError::NoMatchingVersion {
                label: label.clone(),
                requirement: requirement.clone(),
                available: versions.iter().map(|a| a.version.clone()).collect(),
                labels: if versions.is_empty() {
                    store.closest_labels(label)
                } else {
                    Vec::new()
                },
            }),
        }
    }

    fn not_in_store(
        &self,
        root: &Root,
        mirrors: &Mirrors,
        label: &Label,
        requirement: &Requirement,
        (available, labels): (Vec<Version>, Vec<Label>),
    ) -> ResolveError {
        let published = mirrors.iter().filter_map(Mirror::url).find_map(|url| {
            let repo = Repo::open(&local_path(url).filter(|p| p.exists())?).ok()?;
            let found = repo.resolve(label, requirement).ok()?;
            Some((found.version, url.to_owned()))
        });
        let record = self.store.last_fetch(root);
        let url = published
            .as_ref()
            .map(|(_, url)| url.clone())
            .or_else(|| record.as_ref().map(|r| r.url.clone()))
            .or_else(|| mirrors.iter().find_map(|m| m.url().map(str::to_owned)));
        ResolveError::NotInStore(Box::new(super::NotInStore {
            label: label.clone(),
            requirement: requirement.clone(),
            available,
            labels,
            published,
            last_fetch: record,
            fetch: crate::store::fetch_command(url.as_deref()),
        }))
    }

    /// The labels the manifest takes from the set tagged `tag` (its dependencies, its composer):
    /// what one listing of a mirror of the set covers.
    fn labels_of(&self, tag: &Tag) -> Vec<Label> {
        let mut labels: Vec<Label> = self
            .manifest
            .dependencies()
            .and_then(|deps| deps.from.iter().find(|(t, _)| t.as_ref() == tag))
            .map(|(_, atoms)| atoms.keys().cloned().collect())
            .unwrap_or_default();
        if let Compose::With(with) = &self.manifest.compose {
            if with.composer.from.as_ref() == tag && !labels.contains(&with.label) {
                labels.push(with.label.clone());
            }
        }
        labels
    }

    /// The root of the set tagged `tag`.
    fn root(&mut self, tag: &Tag, mirrors: &Mirrors) -> Result<Root, ResolveError> {
        if let Some((root, _)) = self.sets.iter().find(|(_, set)| &set.tag == tag) {
            return Ok(*root);
        }
        if mirrors.iter().any(|m| m == &Mirror::Local) {
            return Ok(self.local_repo()?.genesis()?);
        }
        for url in mirrors.iter().filter_map(Mirror::url) {
            if let Some(path) = local_path(url).filter(|p| p.exists()) {
                let repo = Repo::open(&path)?;
                if let Some(root) = repo.init_ref()? {
                    return Ok(root);
                }
            }
        }
        if let Some(existing) = self.existing {
            if let Some((root, _)) = existing.sets.iter().find(|(_, set)| &set.tag == tag) {
                return Ok(*root);
            }
        }
        let Some(options) = self.fetch else {
            return Err(ResolveError::UnknownRoot(tag.clone()));
        };
        // Online: the first network mirror that answers tells the root.
        let mut failures = Vec::new();
        for url in mirrors.iter().filter_map(Mirror::url) {
            if local_path(url).is_some() {
                continue;
            }
            // The listing that tells the root also serves choosing the set's dependencies.
            let labels = self.labels_of(tag);
            match crate::store::Session::open(url, &labels, options) {
                Ok(session) => match session.listing(None).root {
                    Some(root) => {
                        self.sessions.insert(url.to_owned(), session);
                        return Ok(root);
                    }
                    None => failures.push((
                        url.to_owned(),
                        MirrorFailure::Store(Box::new(crate::store::StoreError::NoGenesis {
                            url: crate::uri::redact(url),
                        })),
                    )),
                },
                Err(e) => failures.push((url.to_owned(), MirrorFailure::Store(Box::new(e)))),
            }
        }
        if failures.is_empty() {
            return Err(ResolveError::UnknownRoot(tag.clone()));
        }
        Err(ResolveError::Mirrors {
            tag: tag.clone(),
            what: Sought::Root,
            failures,
        })
    }

    /// Chooses `label`'s version from what the set's mirrors publish, in order (the first that
    /// answers with a version `requirement` accepts wins), and fetches exactly that version into
    /// the store. Returns the mirror and the atom it advertises: the lock pins only a commit that
    /// mirror publishes, whatever else the store holds for the set. Every failure is named when
    /// no mirror provides a version.
    fn choose_at_mirrors(
        &mut self,
        tag: &Tag,
        mirrors: &Mirrors,
        root: &Root,
        wanted: &Wanted<'_>,
        options: &FetchOptions,
    ) -> Result<Option<(String, AtomRef)>, ResolveError> {
        let (label, requirement, exclude) = (wanted.label, wanted.requirement, wanted.exclude);
        let sought = || Sought::Atom {
            label: label.clone(),
            requirement: requirement.clone(),
        };
        let mut failures = Vec::new();
        let mut answered: Option<(String, Vec<Version>, Vec<Label>)> = None;
        for url in mirrors.iter().filter_map(Mirror::url) {
            // One connection and one listing per mirror, for all of the set's dependencies where
            // the server speaks protocol v2: each version is chosen from it and fetched on the
            // same connection.
            let reusable = self
                .sessions
                .get(url)
                .is_some_and(|s| s.reusable() && s.lists(label));
            if !reusable {
                let mut labels = self.labels_of(tag);
                if !labels.contains(label) {
                    labels = vec![label.clone()];
                }
                match crate::store::Session::open(url, &labels, options) {
                    Ok(session) => {
                        self.sessions.insert(url.to_owned(), session);
                    }
                    Err(e) => {
                        failures.push((url.to_owned(), MirrorFailure::Store(Box::new(e))));
                        continue;
                    }
                }
            }
            let store = self.store;
            let session = self.sessions.get_mut(url).expect("opened above");
            let mut listing = session.listing(Some(label));
            listing.atoms.retain(|a| !exclude.contains(&a.version));
            if listing.root != Some(*root) {
                failures.push((
                    url.to_owned(),
                    match listing.root {
                        Some(found) => MirrorFailure::OtherRoot {
                            found,
                            expected: *root,
                        },
                        None => MirrorFailure::NoAtoms,
                    },
                ));
                continue;
            }
            let Some(atom) = crate::repo::select(&listing.atoms, requirement) else {
                if answered.is_none() {
                    let versions = listing.atoms.iter().map(|a| a.version.clone()).collect();
                    // A label it does not publish at all: the labels it does, closest first.
                    let labels = match listing.atoms.is_empty() {
                        true => crate::store::list(url, None, options)
                            .map(|all| crate::repo::closest_labels(&all.atoms, label))
                            .unwrap_or_default(),
                        false => Vec::new(),
                    };
                    answered = Some((url.to_owned(), versions, labels));
                }
                continue;
            };
            let exact = Requirement::parse(&format!("={}", atom.version)).map_err(|e| {
                ResolveError::Mirrors {
                    tag: tag.clone(),
                    what: sought(),
                    failures: vec![(url.to_owned(), MirrorFailure::Requirement(e))],
                }
            })?;
            let one = FetchOptions {
                atoms: vec![(label.clone(), Some(exact))],
                // Locking reads manifests and locks; `atom fetch` brings the files.
                manifests_only: true,
                ..options.clone()
            };
            match store.fetch_in_session(session, &one, &mut |_| {}) {
                Ok(fetched) => {
                    // Best effort: the record only improves a later error message.
                    let _ = store.record_fetch(&fetched.root, url);
                    match fetched
                        .versions
                        .into_iter()
                        .find(|v| v.version == atom.version)
                    {
                        Some(v) => match v.status {
                            VersionStatus::Rejected(reason) => {
                                failures.push((url.to_owned(), MirrorFailure::Rejected(reason)))
                            }
                            _ => return Ok(Some((url.to_owned(), atom.clone()))),
                        },
                        None => failures.push((
                            url.to_owned(),
                            MirrorFailure::Disappeared {
                                label: label.clone(),
                                version: atom.version.clone(),
                            },
                        )),
                    }
                }
                Err(e) => {
                    // The connection may be spent: the next dependency opens another.
                    self.sessions.remove(url);
                    failures.push((url.to_owned(), MirrorFailure::Store(Box::new(e))))
                }
            }
        }
        if let Some((url, versions, labels)) = answered {
            return Err(ResolveError::NotAtMirror {
                label: label.clone(),
                requirement: requirement.clone(),
                url,
                versions,
                labels,
            });
        }
        if failures.is_empty() {
            return Ok(None);
        }
        Err(ResolveError::Mirrors {
            tag: tag.clone(),
            what: sought(),
            failures,
        })
    }

    /// The repository the atom is in.
    fn local_repo(&mut self) -> Result<Repo, ResolveError> {
        if self.local.is_none() {
            let dir = std::fs::canonicalize(self.dir).map_err(|source| {
                ResolveError::File(crate::diagnostic::FileError::Read {
                    path: self.dir.to_owned(),
                    source,
                })
            })?;
            let top = dir
                .ancestors()
                .find(|d| d.join(".git").exists())
                .map(Path::to_path_buf)
                .ok_or_else(|| ResolveError::NotInRepository(dir.clone()))?;
            self.local = Some(top);
        }
        Ok(Repo::open(self.local.as_ref().expect("found above"))?)
    }

    /// Locks a direct Nix dependency: the existing entry while its URL is unchanged, otherwise a
    /// git repository on this machine at its `ref` (or `HEAD`).
    fn direct(
        &mut self,
        name: &Label,
        dep: &NixDep,
        update: bool,
    ) -> Result<LockedDep, ResolveError> {
        let url = match &dep.source {
            NixSource::Url(url) | NixSource::Tar(url) => url,
            NixSource::Git { url, .. } | NixSource::Build { url, .. } => url,
        };
        let kept = self
            .existing
            .and_then(|l| {
                l.deps.iter().find(|d| {
                    d.direct_name() == Some(name)
                        && d.direct_url().map(without_credentials) == Some(without_credentials(url))
                })
            })
            // Only a git dependency can be re-resolved here; other kinds keep their entry.
            .filter(|_| !(update && matches!(dep.source, NixSource::Git { .. })));
        if let Some(kept) = kept {
            return Ok(kept.clone());
        }
        let offline = |why: DirectLockLimit| ResolveError::CannotLockDirect {
            name: name.clone(),
            url: url.clone(),
            why,
        };
        let NixSource::Git { url, at } = &dep.source else {
            return Err(offline(DirectLockLimit::NeedsDownload));
        };
        let path = local_path(url)
            .filter(|p| p.exists())
            .ok_or_else(|| offline(DirectLockLimit::NotLocal))?;
        let repo = Repo::open(&path)?;
        let rev = match at {
            GitRef::Head => repo.commit_id("HEAD")?,
            GitRef::Ref(reference) => repo.commit_id(reference)?,
            GitRef::Version(_) => return Err(offline(DirectLockLimit::VersionAgainstTags)),
        };
        Ok(LockedDep::NixGit(GitDep {
            name: name.clone(),
            url: url.clone(),
            version: None,
            rev: git_rev(rev)?,
        }))
    }
}

/// The names `atom lock --update NAME` accepts for `manifest`: its atom dependencies' labels,
/// its composer's label and its direct dependencies' names.
fn declared_names(manifest: &Manifest) -> Vec<Label> {
    let mut names = Vec::new();
    if let Compose::With(with) = &manifest.compose {
        names.push(with.label.clone());
    }
    if let Some(deps) = manifest.dependencies() {
        names.extend(deps.from.values().flat_map(|atoms| atoms.keys().cloned()));
        names.extend(deps.direct.nix.keys().cloned());
    }
    names
}

/// A commit id as a lock records it.
fn git_rev(id: ObjectId) -> Result<GitRev, ResolveError> {
    let text = id.to_string();
    GitRev::parse(&text).map_err(|_| ResolveError::UnrecordableRev(text))
}
