//! Checking the whole atom store (`atom store verify`).

use std::path::{Path, PathBuf};

use super::{stamp, Result, Store};
use crate::diagnostic::FileError;
use crate::repo::{Files, ObjectId, Repo, RepoError};

/// One materialised tree checked by [`Store::verify`].
#[derive(Debug)]
pub struct TreeCheck {
    /// Its directory.
    pub dir: PathBuf,
    /// Which files it holds.
    pub files: Files,
    /// What is wrong with it, if anything.
    pub problem: Option<TreeProblem>,
    /// Whether it was rewritten from git (`repair`).
    pub repaired: bool,
}

/// What is wrong with a materialised tree.
#[derive(Debug, thiserror::Error)]
pub enum TreeProblem {
    /// No repository of the store has its git tree.
    #[error("no repository of the store has its git tree {0}, so it cannot be checked")]
    NoRepository(ObjectId),
    /// It differs from its git tree, or cannot be compared with it.
    #[error(transparent)]
    Differs(RepoError),
    /// It was to be repaired, but could not be removed.
    #[error("{problem}; cannot remove it: {error}")]
    CannotRemove {
        /// What is wrong with it.
        problem: Box<TreeProblem>,
        /// Why it could not be removed.
        error: std::io::Error,
    },
}

/// One published atom of a set repository checked by [`Store::verify`].
#[derive(Debug)]
pub struct AtomCheck {
    /// The set's repository.
    pub repo: PathBuf,
    /// `label-version` (empty when the repository itself failed).
    pub atom: String,
    /// What is wrong with it, if anything.
    pub problem: Option<RepoError>,
}

/// What [`Store::verify`] found.
#[derive(Debug, Default)]
pub struct StoreReport {
    /// Every materialised tree.
    pub trees: Vec<TreeCheck>,
    /// Every published atom of every set repository.
    pub atoms: Vec<AtomCheck>,
}

impl StoreReport {
    /// How many problems were found and not repaired.
    pub fn unrepaired(&self) -> usize {
        self.trees
            .iter()
            .filter(|t| t.problem.is_some() && !t.repaired)
            .count()
            + self.atoms.iter().filter(|a| a.problem.is_some()).count()
    }

    /// `{"trees": [{dir, files, ok, problem, repaired}], "atoms": [{repo, atom, ok, problem}],
    /// "unrepaired": n}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "trees": self.trees.iter().map(|t| serde_json::json!({
                "dir": t.dir,
                "files": match t.files { Files::All => "all", Files::Nix => "nix" },
                "ok": t.problem.is_none(),
                "problem": t.problem.as_ref().map(ToString::to_string),
                "repaired": t.repaired,
            })).collect::<Vec<_>>(),
            "atoms": self.atoms.iter().map(|a| serde_json::json!({
                "repo": a.repo,
                "atom": a.atom,
                "ok": a.problem.is_none(),
                "problem": a.problem.as_ref().map(ToString::to_string),
            })).collect::<Vec<_>>(),
            "unrepaired": self.unrepaired(),
        })
    }
}

impl Store {
    /// Checks the whole store (`atom store verify`): every materialised tree is compared with
    /// the git tree it came from ([`Repo::check_materialized`]), and every published atom of
    /// every set repository is verified ([`Repo::verify`]). With `repair`, a tree that differs
    /// (or whose git tree no repository has any more) is deleted and, when its git tree is
    /// found, written again.
    pub fn verify(&self, repair: bool) -> Result<StoreReport> {
        let mut report = StoreReport::default();
        self.check_permissions()?;
        let repos = self.repositories()?;
        for repo in &repos {
            self.check_repo_permissions(repo)?;
        }
        let trees = self.trees();
        for (cache, files) in [(trees.clone(), Files::All), (trees.join("nix"), Files::Nix)] {
            for (dir, tree) in tree_dirs(&cache)? {
                report
                    .trees
                    .push(self.verify_tree(&dir, tree, files, &repos, repair));
            }
        }
        for repo in repos
            .iter()
            .filter(|p| p.parent() == Some(self.dir.as_path()))
        {
            let store = match Repo::open(repo) {
                Ok(store) => store,
                Err(e) => {
                    report.atoms.push(AtomCheck {
                        repo: repo.clone(),
                        atom: String::new(),
                        problem: Some(e),
                    });
                    continue;
                }
            };
            match store.atoms() {
                Ok(atoms) => {
                    let root = store.init_ref().ok().flatten();
                    for atom in atoms {
                        // Verified, then its content digest and every signature tag the store
                        // keeps for it (docs/format.md#signatures).
                        let problem =
                            store.verify(&atom, None).err().or_else(|| {
                                let tree = store.commit_tree(atom.commit).ok()?;
                                let digest = match store.tree_digest(tree) {
                                    Ok(digest) => digest,
                                    Err(e) => return Some(e),
                                };
                                let expected = crate::sign::TagFields::new(
                                    &root?,
                                    &atom.label,
                                    &atom.version,
                                    atom.commit,
                                    digest,
                                );
                                crate::sign::find(&store, &expected)
                                    .into_iter()
                                    .find_map(Result::err)
                                    .map(|why| {
                                        RepoError::object(
                                    atom.commit,
                                    format!("a signature the store keeps for it is invalid: {why}"),
                                )
                                    })
                            });
                        report.atoms.push(AtomCheck {
                            repo: repo.clone(),
                            atom: format!("{}-{}", atom.label, atom.version),
                            problem,
                        });
                    }
                }
                Err(e) => report.atoms.push(AtomCheck {
                    repo: repo.clone(),
                    atom: String::new(),
                    problem: Some(e),
                }),
            }
        }
        Ok(report)
    }

    /// The store's repositories: `<dir>/<root>.git` (sets) and `<dir>/git/<hash>.git` (mirrors).
    fn repositories(&self) -> Result<Vec<PathBuf>> {
        let mut repos = Vec::new();
        for dir in [self.dir.clone(), self.dir.join("git")] {
            for path in entries_of(&dir)? {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                if name.ends_with(".git") && !name.starts_with('.') && path.is_dir() {
                    repos.push(path);
                }
            }
        }
        repos.sort();
        Ok(repos)
    }

    fn verify_tree(
        &self,
        dir: &Path,
        tree: ObjectId,
        files: Files,
        repos: &[PathBuf],
        repair: bool,
    ) -> TreeCheck {
        // The repository the stamp names first, then every repository of the store.
        let candidates = stamp::recorded_repo(dir)
            .into_iter()
            .chain(repos.iter().cloned());
        let source = candidates
            .filter_map(|path| Repo::open(&path).ok())
            .find(|repo| repo.has_object(tree));
        let problem = match &source {
            None => Some(TreeProblem::NoRepository(tree)),
            Some(store) => match store.check_materialized(tree, dir, files) {
                Ok(()) => {
                    // Checked: stamp it afresh so that loading it needs no deep check.
                    let _ = stamp::write(dir, store.git_dir());
                    None
                }
                Err(e) => Some(TreeProblem::Differs(e)),
            },
        };
        let mut check = TreeCheck {
            dir: dir.to_owned(),
            files,
            problem,
            repaired: false,
        };
        if repair && check.problem.is_some() {
            let removed = std::fs::remove_dir_all(dir);
            stamp::remove(dir);
            check.repaired = match (removed, &source) {
                (Err(error), _) => {
                    check.problem = check
                        .problem
                        .take()
                        .map(|problem| TreeProblem::CannotRemove {
                            problem: Box::new(problem),
                            error,
                        });
                    false
                }
                (Ok(()), None) => true,
                (Ok(()), Some(repo)) => self.materialize_files(repo, tree, files).is_ok(),
            };
        }
        check
    }
}

/// The paths of the entries of `dir`; none when it does not exist.
fn entries_of(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = |source| FileError::Read {
        path: dir.to_owned(),
        source,
    };
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .map(|entry| entry.map(|e| e.path()).map_err(read))
            .collect::<std::result::Result<_, _>>()?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(read(source).into()),
    }
}

/// The materialised trees directly in `cache`: `(directory, tree id)`.
fn tree_dirs(cache: &Path) -> Result<Vec<(PathBuf, ObjectId)>> {
    let mut dirs = Vec::new();
    for path in entries_of(cache)? {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let is_id = name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if is_id && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            if let Ok(id) = ObjectId::from_hex(name.as_bytes()) {
                dirs.push((path, id));
            }
        }
    }
    dirs.sort();
    Ok(dirs)
}
