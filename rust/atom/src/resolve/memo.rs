//! A loaded graph, remembered: what [`super::graph::load_checked`] found, kept in the atom
//! store under a hash of everything outside the store that the load read, so that a warm
//! evaluation of the same atom reads its own three files, its trust file and one record instead
//! of every dependency's ref, commit, signature and lock records.
//!
//! The key hashes the atom's directory, the store's, this build ([`crate::BUILD_ID`]) and the texts of
//! `atom.toml`, `atom.lock`, `atom.integrity` and the trust file in force. Of the store, a
//! recall looks again at each dependency's own ref (`refs/eka/atoms/<label>/<version>` of its
//! set's repository), which must still name the locked commit: a ref moved since is looked
//! into by a full load, which says what happened. The rest was checked when the record was
//! written and does not change (a commit's id names its content, a signature's verification
//! is a fact about bytes), and a store collection removes every graph record along with what it
//! may name. When the load consulted the set manifest of the repository the atom is in (a lock
//! naming a set's `::` mirror), the record keeps what it found, and a recall looks again and
//! must find the same.
//!
//! Only a graph whose every dependency came from the store, its own ref at the locked commit,
//! is kept: a working copy (an override, an atom of the working tree) can change under the
//! record, and a commit a mirror vouches for is judged by that mirror's refs.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::graph::{
    check_entry, AtomFiles, Edge, Graph, LocalSet, Node, NodeCompose, NodeManifest, Source,
};
use super::AtomName;
use crate::digest::ContentDigest;
use crate::id::{AtomDigest, Label, Root};
use crate::lock::LockedDep;
use crate::manifest::{Manifest, Version, MANIFEST_FILE};
use crate::repo::{atom_ref, ObjectId, Repo};
use crate::store::Store;

/// The form of the records, part of their key: change it whenever [`Record`] or what it holds
/// changes, so that no record an earlier build wrote is read.
const GRAPH_FORMAT: &str = "graph-1";

/// The hash of what a load of one atom read outside the store (see the module's text).
pub(super) struct Key(String);

impl Key {
    /// The key of loading the atom in `dir` (canonical) from `store`, whose files read
    /// `files`.
    pub(super) fn of(dir: &Path, store: &Store, files: &AtomFiles) -> Key {
        let mut hasher = blake3::Hasher::new();
        let mut field = |bytes: Option<&[u8]>| {
            match bytes {
                Some(bytes) => hasher
                    .update(&(bytes.len() as u64).to_le_bytes())
                    .update(bytes),
                None => hasher.update(&u64::MAX.to_le_bytes()),
            };
        };
        field(Some(GRAPH_FORMAT.as_bytes()));
        field(Some(crate::BUILD_ID.as_bytes()));
        field(Some(dir.as_os_str().as_bytes()));
        field(Some(store.dir().as_os_str().as_bytes()));
        field(Some(files.manifest.as_bytes()));
        field(files.lock.as_deref().map(str::as_bytes));
        field(files.integrity.as_deref().map(str::as_bytes));
        let (path, text) = match &files.trust {
            Some((path, text)) => (Some(path.as_os_str().as_bytes()), text.as_deref()),
            None => (None, None),
        };
        field(path);
        field(text.map(str::as_bytes));
        Key(hasher.finalize().to_hex().to_string())
    }

    /// The graph remembered for this key, when there is one and what it depends on in the
    /// working tree reads the same; `dir` is the loaded atom's directory.
    pub(super) fn recall(&self, store: &Store, dir: &Path) -> Option<Graph> {
        let record: Record = store.remembered_graph(&self.0)?;
        if let Some(local) = &record.local {
            let now = LocalSet::of(dir).ok()?;
            if now.as_ref().map(LocalRecord::of) != *local {
                return None;
            }
        }
        let graph = record.graph(dir)?;
        let mut repos: HashMap<&Path, Option<Repo>> = HashMap::new();
        for node in &graph.nodes {
            let (Source::Tree { repo, .. }, Some((rev, _))) = (&node.source, &node.pinned) else {
                continue;
            };
            // Nobody else may write in a set's repository, as when it is opened to load.
            if !repos.contains_key(repo.as_path()) {
                store.check_repo_permissions(repo).ok()?;
            }
            let name = atom_ref(node.name.label(), node.name.version());
            if !own_ref_names(repo, &name, *rev, &mut repos) {
                return None;
            }
        }
        Some(graph)
    }

    /// Remembers `graph` (loaded from `dir`; `local`: the set manifest the load consulted, if it
    /// did) when every atom but the loaded one came from the store.
    pub(super) fn keep(
        &self,
        store: &Store,
        dir: &Path,
        graph: &Graph,
        local: Option<&Option<LocalSet>>,
    ) {
        if let Some(record) = Record::of(graph, dir, local) {
            store.remember_graph(&self.0, &record);
        }
    }
}

/// Whether the ref `name` of the store repository `repo` names `rev`: its loose file is read
/// directly; without one, the repository (opened once, kept in `repos`) is asked, as for a
/// packed ref.
fn own_ref_names<'a>(
    repo: &'a Path,
    name: &str,
    rev: ObjectId,
    repos: &mut HashMap<&'a Path, Option<Repo>>,
) -> bool {
    let opened = repos.entry(repo).or_insert(None);
    match std::fs::read(repo.join(name)) {
        Ok(text) => text.strip_suffix(b"\n") == Some(rev.to_string().as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if opened.is_none() {
                *opened = Repo::open(repo).ok();
            }
            opened
                .as_ref()
                .is_some_and(|r| matches!(r.ref_target(name), Ok(Some(found)) if found == rev))
        }
        Err(_) => false,
    }
}

/// `manifest` as TOML that parses back to it, or `None` (then the graph is not kept).
fn manifest_text(manifest: &Manifest) -> Option<String> {
    let text = toml::to_string(manifest).ok()?;
    let back = Manifest::parse(&text, MANIFEST_FILE).ok()?;
    (back == *manifest).then_some(text)
}

/// A graph as kept: its nodes in order, the loaded atom last.
#[derive(Serialize, Deserialize)]
struct Record {
    /// What the set manifest of the atom's repository said, when the load consulted it
    /// (`Some(None)`: there was none).
    local: Option<Option<LocalRecord>>,
    nodes: Vec<NodeRecord>,
}

/// [`LocalSet`], as kept.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct LocalRecord {
    root: Option<Root>,
    members: BTreeMap<Label, PathBuf>,
}

impl LocalRecord {
    fn of(set: &LocalSet) -> LocalRecord {
        LocalRecord {
            root: set.root,
            members: set
                .members
                .iter()
                .map(|(l, p)| (l.clone(), p.clone()))
                .collect(),
        }
    }
}

/// A [`Node`], as kept: `tree` is `None` for the loaded atom (its directory), else the store
/// repository and tree its files are in. The manifest is kept as TOML (its parsed form keeps
/// where its tables were, which only TOML gives back), parsed again if a module asks for it.
#[derive(Serialize, Deserialize)]
struct NodeRecord {
    label: Label,
    version: Version,
    tree: Option<(PathBuf, String)>,
    manifest: String,
    compose: NodeCompose,
    deps: Vec<Edge>,
    pins: Vec<LockedDep>,
    digest: Option<ContentDigest>,
    signer: Option<String>,
    pinned: Option<(String, AtomDigest)>,
}

impl Record {
    /// `graph` as kept, or `None` when a node other than the last is not from the store or the
    /// last is not `dir`.
    fn of(graph: &Graph, dir: &Path, local: Option<&Option<LocalSet>>) -> Option<Record> {
        let last = graph.nodes.len().checked_sub(1)?;
        let nodes = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                let tree = match (&node.source, index == last) {
                    (Source::Dir(d), true) if d == dir => None,
                    (Source::Tree { repo, tree }, false) => Some((repo.clone(), tree.to_string())),
                    _ => return None,
                };
                Some(NodeRecord {
                    label: node.name.label().clone(),
                    version: node.name.version().clone(),
                    tree,
                    manifest: manifest_text(node.manifest.get().ok()?)?,
                    compose: node.compose.clone(),
                    deps: node.deps.clone(),
                    pins: node.pins.clone(),
                    digest: node.digest,
                    signer: node.signer.clone(),
                    pinned: node.pinned.map(|(rev, id)| (rev.to_string(), id)),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Record {
            local: local.map(|l| l.as_ref().map(LocalRecord::of)),
            nodes,
        })
    }

    /// The graph kept, its last node loaded from `dir`; `None` when the record does not hold
    /// together (a node depending on one after it, a tree id that does not parse).
    fn graph(self, dir: &Path) -> Option<Graph> {
        let last = self.nodes.len().checked_sub(1)?;
        let nodes = self
            .nodes
            .into_iter()
            .enumerate()
            .map(|(index, node)| {
                let earlier = |n: usize| n < index;
                let composer_ok = match &node.compose {
                    NodeCompose::Composer { node, .. } => earlier(*node),
                    _ => true,
                };
                if !composer_ok || !node.deps.iter().all(|e| earlier(e.node)) {
                    return None;
                }
                let name = AtomName::new(&node.label, &node.version);
                // As a load checks it: an entry names a path inside the atom.
                if let NodeCompose::Native { entry }
                | NodeCompose::Trivial { entry }
                | NodeCompose::Composer { entry, .. } = &node.compose
                {
                    check_entry(&name, entry).ok()?;
                }
                let (name, source) = match (node.tree, index == last) {
                    (None, true) => (name, Source::Dir(dir.to_owned())),
                    (Some((repo, tree)), false) => (
                        name,
                        Source::Tree {
                            repo,
                            tree: ObjectId::from_hex(tree.as_bytes()).ok()?,
                        },
                    ),
                    _ => return None,
                };
                let pinned = match node.pinned {
                    Some((rev, id)) => Some((ObjectId::from_hex(rev.as_bytes()).ok()?, id)),
                    None => None,
                };
                Some(Node {
                    name,
                    source,
                    manifest: NodeManifest::unparsed(node.manifest),
                    compose: node.compose,
                    deps: node.deps,
                    pins: node.pins,
                    digest: node.digest,
                    signer: node.signer,
                    pinned,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Graph { nodes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the key hashes changes it, its absence too, and so do the atom's and the
    /// store's directories; the key is of what was read.
    #[test]
    fn the_key_changes_with_each_file_it_hashes() {
        let top = atom_test_support::scratch("memo-key");
        std::fs::create_dir_all(top.join(".git")).unwrap();
        let atom = top.join("a");
        std::fs::create_dir_all(&atom).unwrap();
        std::fs::write(atom.join(MANIFEST_FILE), "first").unwrap();
        let store = Store::new(top.join("store"));
        let key_of = |dir: &Path, store: &Store| {
            let files = AtomFiles::read(dir).expect("readable");
            Key::of(dir, store, &files).0
        };
        let key = || key_of(&atom, &store);
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(key()));
        assert_eq!(key(), key(), "the same files, the same key");
        let files = [
            atom.join(MANIFEST_FILE),
            atom.join(crate::lock::LOCK_FILE),
            atom.join(crate::lock::integrity::INTEGRITY_FILE),
            top.join(crate::sign::TRUST_FILE),
        ];
        for (n, file) in files.iter().enumerate() {
            std::fs::write(file, format!("text {n}")).unwrap();
            assert!(seen.insert(key()), "{}", file.display());
            std::fs::write(file, "").unwrap();
            assert!(seen.insert(key()), "{} empty", file.display());
        }
        std::fs::remove_file(&files[1]).unwrap();
        assert!(seen.insert(key()), "the lock removed");
        // The same files in another directory, or with another store: other keys.
        let other = top.join("b");
        std::fs::create_dir_all(&other).unwrap();
        for name in [MANIFEST_FILE, crate::lock::integrity::INTEGRITY_FILE] {
            std::fs::copy(atom.join(name), other.join(name)).unwrap();
        }
        assert!(seen.insert(key_of(&other, &store)));
        assert!(seen.insert(key_of(&atom, &Store::new(top.join("s2")))));
    }

    /// A manifest is kept only as TOML that parses back to it.
    #[test]
    fn a_manifest_is_kept_as_toml_that_parses_back_to_it() {
        let text = "[package]\nlabel = \"a\"\nversion = \"0.1.0\"\n\n[package.sets]\ns = \"https://example.org/s.git\"\n\n[compose.as]\nnix = \".\"\n\n[deps.from.s]\nb = \"^1\"\n";
        let manifest = Manifest::parse(text, MANIFEST_FILE).unwrap();
        let kept = manifest_text(&manifest).expect("kept");
        let node = NodeManifest::unparsed(kept);
        assert_eq!(node.get().unwrap(), &manifest);
        assert_eq!(node.get().unwrap().to_json(), manifest.to_json());
        assert!(NodeManifest::unparsed("[package".to_owned()).get().is_err());
    }
}
