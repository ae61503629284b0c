//! Which locked atoms have newer versions published (`atom outdated`, and the note after
//! `atom lock --update`), as `cargo outdated` and `cargo update` tell: the newest version the
//! manifest's requirement accepts, and the newest of all.
//!
//! Online, each set's declared mirrors are listed (refs only, no object), one listing per
//! mirror and label, the first mirror that answers deciding; offline, the versions the store
//! holds from the declared mirrors (`store::attribution`). Atoms of `::` sets (this
//! repository's working tree) and local-only entries are left out.

use std::path::Path;

use super::ResolveError;
use crate::id::Label;
use crate::lock::{LockedDep, Lockfile, LOCK_FILE};
use crate::manifest::{Manifest, Mirror, Requirement, Version};
use crate::store::{attribution, FetchOptions, Store};

/// A locked atom with newer published versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outdated {
    /// The label.
    pub label: Label,
    /// The version the lock pins.
    pub locked: Version,
    /// The manifest's requirement.
    pub requirement: Requirement,
    /// The newest version the requirement accepts, when newer than the locked one (`atom lock
    /// --update` takes it).
    pub compatible: Option<Version>,
    /// The newest version of all, when newer than the locked one and outside the requirement
    /// (taking it means changing the requirement).
    pub latest: Option<Version>,
    /// Where the versions were seen: a mirror's URL, or `the atom store`.
    pub seen_at: String,
}

impl Outdated {
    /// `{"label", "locked", "requirement", "compatible", "latest", "seen_at"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "label": self.label.as_str(),
            "locked": self.locked.to_string(),
            "requirement": self.requirement.to_string(),
            "compatible": self.compatible.as_ref().map(ToString::to_string),
            "latest": self.latest.as_ref().map(ToString::to_string),
            "seen_at": self.seen_at,
        })
    }
}

/// The locked atoms of the atom in `dir` that have newer versions published, looked up online
/// with `fetch` (else in `store`).
pub fn outdated(
    dir: &Path,
    store: &Store,
    fetch: Option<&FetchOptions>,
) -> Result<Vec<Outdated>, ResolveError> {
    let manifest = Manifest::read_atom(dir)?;
    let lock_path = dir.join(LOCK_FILE);
    let Some(lock) = Lockfile::read_if_present(&lock_path)? else {
        return Ok(Vec::new());
    };
    let aliases = fetch.map(|o| o.aliases.clone()).unwrap_or_default();
    let mut found = Vec::new();
    for dep in &lock.deps {
        let LockedDep::Atom(atom) = dep else { continue };
        let Some(set) = lock.sets.get(&atom.set) else {
            continue;
        };
        if atom.rev.is_none() || set.mirrors.contains(&Mirror::Local) {
            continue;
        }
        let requirement = manifest.deps.as_ref().and_then(|deps| {
            deps.get_ref()
                .from
                .iter()
                .find(|(tag, _)| tag.get_ref() == &set.tag)
                .and_then(|(_, atoms)| atoms.get(&atom.label))
                .cloned()
        });
        let Some(requirement) = requirement else {
            continue;
        };
        let urls: Vec<&str> = atom
            .mirror
            .as_deref()
            .into_iter()
            .chain(set.mirrors.iter().filter_map(Mirror::url))
            .collect();
        let (versions, seen_at) = match fetch {
            Some(options) => match urls.iter().find_map(|url| {
                let listing = crate::store::list(url, Some(&atom.label), options).ok()?;
                (listing.root == Some(atom.set)).then(|| (listing.atoms, url.to_string()))
            }) {
                Some((atoms, url)) => (atoms.into_iter().map(|a| a.version).collect(), url),
                None => continue,
            },
            None => {
                let Ok(Some(repo)) = store.open_set(&atom.set) else {
                    continue;
                };
                let keys: Vec<String> = urls
                    .iter()
                    .map(|url| attribution::mirror_key(url, &aliases))
                    .collect();
                let versions: Vec<Version> = attribution::versions(&repo, &keys, &atom.label)?
                    .into_iter()
                    .map(|a| a.version)
                    .collect();
                (versions, "the atom store".to_owned())
            }
        };
        let newer = |accepts: &dyn Fn(&Version) -> bool| {
            versions
                .iter()
                .filter(|v| **v > atom.version && accepts(v))
                .max()
                .cloned()
        };
        let compatible = newer(&|v| requirement.matches(v));
        let latest = newer(&|v| !requirement.matches(v))
            .filter(|l| compatible.as_ref().is_none_or(|c| l > c));
        if compatible.is_some() || latest.is_some() {
            found.push(Outdated {
                label: atom.label.clone(),
                locked: atom.version.clone(),
                requirement,
                compatible,
                latest,
                seen_at,
            });
        }
    }
    Ok(found)
}
