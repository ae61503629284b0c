//! Filling the store from a lock (`atom fetch` with no URL): fetch exactly what a lock needs,
//! the `cargo fetch` of atoms.
//!
//! [`Store::fill_from_lock`] walks the lock's atoms (its `[[deps]]` and a composer in
//! `[compose]`), and then, transitively, the published lock of each atom it finds or fetches.
//! An atom counts as present only at the commit the lock pins (`rev`), verified against the
//! pinned id: a store ref or a mirror's record naming another commit for that version does not
//! satisfy the lock ([`super::attribution`]).
//!
//! Missing atoms are fetched level by level (the atoms a lock names, then those their own locks
//! name, …). At each level the missing atoms are grouped by mirror and each group is fetched
//! with one connection: one listing of exactly those labels' refs, one pack for the versions it
//! lacks. An atom is tried first at the mirror its lock entry records, then at the other mirrors
//! the lock's `[sets]` table lists for its set, then (for an atom of the set that published the
//! lock, `::`) at the mirror the publishing atom came from. A mirror is listed again at the same
//! level only to fall back to it for atoms another mirror did not serve.
//!
//! Direct `nix+git` dependencies whose pinned revision the store's git mirrors lack are
//! mirrored from their URL ([`Store::fetch_git_with`]). Local-only entries (no `rev`) need
//! nothing, and neither do the `::` entries of the top lock: `::` there is the working tree's
//! repository, which the evaluator reads them from. Nothing is printed: the outcome of every entry is returned ([`Filled`]).

use std::collections::{BTreeMap, BTreeSet};

use super::attribution;
use super::fetch::FetchOptions;
use super::{Result, Store};
use crate::id::{AtomDigest, Label, Root};
use crate::lock::{LockedCompose, LockedDep, Lockfile};
use crate::manifest::{Mirror, Requirement, Version};
use crate::repo::{atom_ref, AtomRef, ObjectId, RefLayout, Repo};

/// One mirror tried for an entry, and why it did not give the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The mirror, as messages name it (without credentials).
    pub mirror: String,
    /// Why the entry is not in the store after trying it.
    pub reason: String,
}

/// What became of one entry of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillStatus {
    /// The store already had it, at the pinned revision.
    Present,
    /// Fetched now, from the mirror named in [`FilledEntry::mirror`].
    Fetched,
    /// Needs nothing from the store: a local-only entry (no `rev`), read from the working tree.
    Local,
    /// Still missing: every mirror tried, and why each failed.
    Failed(Vec<Attempt>),
}

/// What kind of lock entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillKind {
    /// An atom, of the set with this root.
    Atom(Root),
    /// A direct `nix+git` dependency, from this URL.
    Git(String),
}

/// One entry of a lock (or of a dependency's lock) and what filling did for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilledEntry {
    /// Which lock names it: the top lock's name, or `label-version` of the atom whose published
    /// lock does.
    pub by: String,
    /// An atom or a direct git dependency.
    pub kind: FillKind,
    /// The atom's label, or the dependency's name.
    pub label: Label,
    /// The locked version (a git dependency's, when recorded).
    pub version: Option<Version>,
    /// The pinned commit, when there is one.
    pub rev: Option<ObjectId>,
    /// What happened.
    pub status: FillStatus,
    /// The mirror it came from: for [`FillStatus::Fetched`], the one it was fetched from; else
    /// the one the lock records, if any.
    pub mirror: Option<String>,
}

/// What [`Store::fill_from_lock`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filled {
    /// Every entry met, in the order met (each atom version once).
    pub entries: Vec<FilledEntry>,
    /// Each connection made to fetch atoms, by mirror (without credentials), in order.
    pub listings: Vec<String>,
    /// Objects received.
    pub objects: usize,
    /// Pack bytes received over the network.
    pub bytes: u64,
}

impl Filled {
    /// The entries still missing.
    pub fn failed(&self) -> impl Iterator<Item = &FilledEntry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.status, FillStatus::Failed(_)))
    }

    /// `{"entries": [...], "listings": [...], "objects", "bytes"}`; each entry is `{"label",
    /// "version", "rev", "status": "present"|"fetched"|"local"|"failed", "mirror", "by",
    /// "set"|"url", "tried"?: [{"mirror", "reason"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let entries: Vec<_> = self
            .entries
            .iter()
            .map(|e| {
                let status = match &e.status {
                    FillStatus::Present => "present",
                    FillStatus::Fetched => "fetched",
                    FillStatus::Local => "local",
                    FillStatus::Failed(_) => "failed",
                };
                let mut item = serde_json::json!({
                    "label": e.label.as_str(),
                    "version": e.version.as_ref().map(|v| v.to_string()),
                    "rev": e.rev.map(|r| r.to_string()),
                    "status": status,
                    "mirror": e.mirror,
                    "by": e.by,
                });
                match &e.kind {
                    FillKind::Atom(root) => item["set"] = root.to_hex().into(),
                    FillKind::Git(url) => item["url"] = url.as_str().into(),
                }
                if let FillStatus::Failed(tried) = &e.status {
                    item["tried"] = tried
                        .iter()
                        .map(|a| serde_json::json!({ "mirror": a.mirror, "reason": a.reason }))
                        .collect();
                }
                item
            })
            .collect();
        serde_json::json!({
            "entries": entries,
            "listings": self.listings,
            "objects": self.objects,
            "bytes": self.bytes,
        })
    }
}

/// An atom a lock pins, with where to look for it.
struct Need {
    by: String,
    label: Label,
    version: Version,
    set: Root,
    rev: ObjectId,
    id: AtomDigest,
    /// The lock's recorded mirror.
    recorded: Option<String>,
    /// Mirrors to try, in order (recorded first), without repeats.
    candidates: Vec<String>,
    /// Failed attempts so far.
    tried: Vec<Attempt>,
}

impl Need {
    fn atom(&self) -> AtomRef {
        AtomRef {
            label: self.label.clone(),
            version: self.version.clone(),
            commit: self.rev,
            layout: RefLayout::Current,
        }
    }

    fn entry(&self, status: FillStatus, mirror: Option<String>) -> FilledEntry {
        FilledEntry {
            by: self.by.clone(),
            kind: FillKind::Atom(self.set),
            label: self.label.clone(),
            version: Some(self.version.clone()),
            rev: Some(self.rev),
            status,
            mirror,
        }
    }
}

/// Where a lock came from: the top lock, or an atom's published lock.
struct LockContext<'a> {
    /// How entries name the lock.
    by: String,
    /// The set that published it, and the mirror that atom came from (`::` in its lock).
    publisher: Option<(Root, Option<String>)>,
    /// The top lock: `::` entries there are working copies.
    top: bool,
    lock: &'a Lockfile,
}

impl Store {
    /// Fetches into this store everything `lock` needs to be evaluated, transitively through
    /// each dependency's published lock (see the module's documentation). `name` names the lock
    /// in the outcome (its path, say). Errors of one mirror are recorded in the entries it
    /// failed; only what keeps the store from being used at all is an error.
    pub fn fill_from_lock(
        &self,
        lock: &Lockfile,
        name: &str,
        options: &FetchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Filled> {
        let _lock = self.lock_shared()?;
        self.walk(lock, name, options, progress, true)
    }

    /// What of everything `lock` needs (transitively, as [`Store::fill_from_lock`] walks it) the
    /// store holds, without fetching: entries the store lacks are [`FillStatus::Failed`] with no
    /// attempt. Garbage collection keeps what this finds ([`Store::gc`]).
    pub fn pinned_by(&self, lock: &Lockfile, name: &str) -> Result<Filled> {
        self.walk(lock, name, &FetchOptions::default(), &mut |_| {}, false)
    }

    /// The walk of [`Store::fill_from_lock`]; with `fetch` false, nothing is fetched.
    fn walk(
        &self,
        lock: &Lockfile,
        name: &str,
        options: &FetchOptions,
        progress: &mut dyn FnMut(usize),
        fetch: bool,
    ) -> Result<Filled> {
        self.check_permissions()?;
        let mut filled = Filled::default();
        let mut seen_atoms: BTreeSet<(Root, Label, Version, ObjectId)> = BTreeSet::new();
        let mut seen_git: BTreeSet<(String, ObjectId)> = BTreeSet::new();
        let mut level = Vec::new();
        let top = LockContext {
            by: name.to_owned(),
            publisher: None,
            top: true,
            lock,
        };
        self.collect(
            &top,
            &mut level,
            &mut seen_atoms,
            &mut seen_git,
            options,
            &mut filled,
            progress,
            fetch,
        )?;
        while !level.is_empty() {
            let mut pending = Vec::new();
            let mut done: Vec<(Need, FillStatus, Option<String>)> = Vec::new();
            for need in level.drain(..) {
                if self.has_pinned(&need)? {
                    let mirror = need.recorded.clone();
                    done.push((need, FillStatus::Present, mirror));
                } else {
                    pending.push(need);
                }
            }
            if !fetch {
                for need in pending.drain(..) {
                    let mirror = need.recorded.clone();
                    done.push((need, FillStatus::Failed(Vec::new()), mirror));
                }
            }
            // Fetch the missing ones, grouped by the next mirror each has to try.
            while !pending.is_empty() {
                // By the mirror's name, so that two spellings of one mirror are one connection.
                let mut groups: BTreeMap<String, (String, Vec<Need>)> = BTreeMap::new();
                for need in pending.drain(..) {
                    match need.candidates.get(need.tried.len()).cloned() {
                        Some(url) => {
                            let name = attribution::mirror_name(&url, &options.aliases);
                            groups.entry(name).or_insert((url, Vec::new())).1.push(need);
                        }
                        None => {
                            let tried = need.tried.clone();
                            let mirror = need.recorded.clone();
                            done.push((need, FillStatus::Failed(tried), mirror));
                        }
                    }
                }
                for (url, needs) in groups.into_values() {
                    let shown = crate::remote::redact(&url);
                    let mut atoms: Vec<(Label, Option<Requirement>)> = Vec::new();
                    for need in &needs {
                        // `=<version>` always parses; were it not to, asking for no version
                        // (rather than every one) leaves the atom to its next mirror.
                        let Ok(exact) = Requirement::parse(&format!("={}", need.version)) else {
                            continue;
                        };
                        let exact = Some(exact);
                        if !atoms.iter().any(|(l, r)| l == &need.label && r == &exact) {
                            atoms.push((need.label.clone(), exact));
                        }
                    }
                    if atoms.is_empty() {
                        // Never an empty list: that would fetch every atom the mirror publishes.
                        for mut need in needs {
                            need.tried.push(Attempt {
                                mirror: shown.clone(),
                                reason: format!("cannot ask for version {} alone", need.version),
                            });
                            pending.push(need);
                        }
                        continue;
                    }
                    let group_options = FetchOptions {
                        atoms,
                        // Filling is what brings the files.
                        manifests_only: false,
                        ..options.clone()
                    };
                    filled.listings.push(crate::uri::without_credentials(&url));
                    let fetched = match self.fetch_once(&url, &group_options, progress) {
                        Ok(fetched) => fetched,
                        Err(error) => {
                            let reason = error.to_string();
                            for mut need in needs {
                                need.tried.push(Attempt {
                                    mirror: shown.clone(),
                                    reason: reason.clone(),
                                });
                                pending.push(need);
                            }
                            continue;
                        }
                    };
                    filled.objects += fetched.objects;
                    filled.bytes += fetched.bytes;
                    // Best effort: the record only improves later messages.
                    let _ = self.record_fetch(&fetched.root, &url);
                    for mut need in needs {
                        if fetched.root == need.set && self.has_pinned(&need)? {
                            let mirror = crate::uri::without_credentials(&url);
                            done.push((need, FillStatus::Fetched, Some(mirror)));
                            continue;
                        }
                        let reason = if fetched.root != need.set {
                            format!("it publishes the set {}, not {}", fetched.root, need.set)
                        } else {
                            match fetched
                                .versions
                                .iter()
                                .find(|v| v.label == need.label && v.version == need.version)
                            {
                                None => format!(
                                    "it publishes no {} {}",
                                    need.label, need.version
                                ),
                                Some(v) if v.commit != need.rev => format!(
                                    "it serves {} {} at {}, but the lock pins {} (possible tampering)",
                                    need.label, need.version, v.commit, need.rev
                                ),
                                Some(v) => match &v.status {
                                    super::VersionStatus::Rejected(why) => why.to_string(),
                                    _ => format!(
                                        "{} {} at {} does not match the id the lock pins (possible tampering)",
                                        need.label, need.version, need.rev
                                    ),
                                },
                            }
                        };
                        need.tried.push(Attempt {
                            mirror: shown.clone(),
                            reason,
                        });
                        pending.push(need);
                    }
                }
            }
            // Record this level, and gather the next from the published locks.
            for (need, status, mirror) in done {
                let found = !matches!(status, FillStatus::Failed(_));
                filled.entries.push(need.entry(status, mirror.clone()));
                if !found {
                    continue;
                }
                let Some(dep_lock) = self.published_lock(&need)? else {
                    continue;
                };
                let context = LockContext {
                    by: format!("{}-{}", need.label, need.version),
                    publisher: Some((
                        need.set,
                        mirror.or_else(|| need.candidates.first().cloned()),
                    )),
                    top: false,
                    lock: &dep_lock,
                };
                self.collect(
                    &context,
                    &mut level,
                    &mut seen_atoms,
                    &mut seen_git,
                    options,
                    &mut filled,
                    progress,
                    fetch,
                )?;
            }
        }
        Ok(filled)
    }

    /// Adds the atoms `context.lock` pins that were not met yet to `level`, and fills its direct
    /// git dependencies (recording them in `filled`).
    #[allow(clippy::too_many_arguments)]
    fn collect(
        &self,
        context: &LockContext<'_>,
        level: &mut Vec<Need>,
        seen_atoms: &mut BTreeSet<(Root, Label, Version, ObjectId)>,
        seen_git: &mut BTreeSet<(String, ObjectId)>,
        options: &FetchOptions,
        filled: &mut Filled,
        progress: &mut dyn FnMut(usize),
        fetch: bool,
    ) -> Result<()> {
        let lock = context.lock;
        let composer = match &lock.compose {
            LockedCompose::Atom { atom, .. } => Some(atom),
            _ => None,
        };
        let atoms = lock
            .deps
            .iter()
            .filter_map(|dep| match dep {
                LockedDep::Atom(atom) => Some(atom),
                _ => None,
            })
            .chain(composer);
        for atom in atoms {
            let local_set = lock
                .sets
                .get(&atom.set)
                .is_some_and(|set| set.mirrors.contains(&Mirror::Local));
            let rev = atom
                .rev
                .as_ref()
                .and_then(|rev| ObjectId::from_hex(rev.as_str().as_bytes()).ok());
            let mut candidates: Vec<String> = Vec::new();
            let mut add = |url: &str| {
                let name = attribution::mirror_name(url, &options.aliases);
                if !candidates
                    .iter()
                    .any(|c| attribution::mirror_name(c, &options.aliases) == name)
                {
                    candidates.push(url.to_owned());
                }
            };
            if let Some(url) = &atom.mirror {
                add(url);
            }
            if let Some(set) = lock.sets.get(&atom.set) {
                for url in set.mirrors.iter().filter_map(Mirror::url) {
                    add(url);
                }
            }
            if let Some((root, Some(url))) = &context.publisher {
                if *root == atom.set {
                    add(url);
                }
            }
            let entry = |status: FillStatus| FilledEntry {
                by: context.by.clone(),
                kind: FillKind::Atom(atom.set),
                label: atom.label.clone(),
                version: Some(atom.version.clone()),
                rev,
                status,
                mirror: atom.mirror.clone(),
            };
            let Some(rev) = rev else {
                // A local-only entry; or a `rev` that is no commit id, which loading reports.
                if atom.rev.is_none() {
                    filled.entries.push(entry(FillStatus::Local));
                }
                continue;
            };
            if !seen_atoms.insert((atom.set, atom.label.clone(), atom.version.clone(), rev)) {
                continue;
            }
            if context.top && local_set {
                // `::` in the working tree's lock: this repository, which the evaluator reads
                // the atom from.
                filled.entries.push(entry(FillStatus::Local));
                continue;
            }
            level.push(Need {
                by: context.by.clone(),
                label: atom.label.clone(),
                version: atom.version.clone(),
                set: atom.set,
                rev,
                id: atom.id,
                recorded: atom.mirror.clone(),
                candidates,
                tried: Vec::new(),
            });
        }
        for dep in &lock.deps {
            let LockedDep::NixGit(git) = dep else {
                continue;
            };
            let Ok(rev) = ObjectId::from_hex(git.rev.as_str().as_bytes()) else {
                continue;
            };
            if !seen_git.insert((git.url.clone(), rev)) {
                continue;
            }
            let shown = crate::remote::redact(&git.url);
            let status = if self.git_mirror(&git.url, rev).is_some() {
                FillStatus::Present
            } else if !fetch {
                FillStatus::Failed(Vec::new())
            } else {
                filled
                    .listings
                    .push(crate::uri::without_credentials(&git.url));
                match self.fetch_git_with(&git.url, options, progress) {
                    Ok((_, objects)) => {
                        filled.objects += objects;
                        if self.git_mirror(&git.url, rev).is_some() {
                            FillStatus::Fetched
                        } else {
                            FillStatus::Failed(vec![Attempt {
                                mirror: shown,
                                reason: format!(
                                    "no branch or tag there reaches the pinned commit {rev}"
                                ),
                            }])
                        }
                    }
                    Err(error) => FillStatus::Failed(vec![Attempt {
                        mirror: shown,
                        reason: error.to_string(),
                    }]),
                }
            };
            filled.entries.push(FilledEntry {
                by: context.by.clone(),
                kind: FillKind::Git(git.url.clone()),
                label: git.name.clone(),
                version: git.version.clone(),
                rev: Some(rev),
                status,
                mirror: Some(crate::uri::without_credentials(&git.url)),
            });
        }
        Ok(())
    }

    /// Whether the store has the atom `need` pins: its set's repository holds the commit, the
    /// store's ref or some mirror's record names that commit for the version, and it verifies
    /// against the pinned id.
    fn has_pinned(&self, need: &Need) -> Result<bool> {
        let Some(repo) = self.open_set(&need.set)? else {
            return Ok(false);
        };
        if !repo.has_object(need.rev) {
            return Ok(false);
        }
        let named = repo.ref_target(&atom_ref(&need.label, &need.version))? == Some(need.rev)
            || attribution::served_by_a_mirror(&repo, &need.label, &need.version, need.rev)?;
        // Only its manifest and lock, fetched to lock it: the files are still to come.
        let whole = !attribution::is_partial(&repo, &need.label, &need.version, need.rev)?;
        Ok(named && whole && repo.verify_pinned(&need.atom(), &need.id).is_ok())
    }

    /// The lock published with the atom `need` pins (in the store), if it has one that parses.
    fn published_lock(&self, need: &Need) -> Result<Option<Lockfile>> {
        let Some(repo) = self.open_set(&need.set)? else {
            return Ok(None);
        };
        Ok(read_published_lock(&repo, &need.atom()))
    }
}

/// The `atom.lock` in the tree of `atom` in `repo`, if there is one that parses. (One that does
/// not parse is reported when the atom is loaded.)
fn read_published_lock(repo: &Repo, atom: &AtomRef) -> Option<Lockfile> {
    repo.read_lock(repo.verify(atom, None).ok()?.lock?)
}
