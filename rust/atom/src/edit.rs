//! Editing an atom's files in place, keeping their formatting and comments (`toml_edit`):
//! creating an atom (`atom new`), listing it in the repository's `ekala.toml`, adding a
//! dependency to `atom.toml` (`atom add`), and writing several files so that either all of them
//! change or none does.
//!
//! Edits of one atom are serialised by an [`EditLock`]: an advisory lock (`flock`) on the atom's
//! directory itself, so no lock file is left in the user's tree. Under it, the files are read
//! afresh, and [`EditLock::replace`] changes `atom.toml` and `atom.lock` together across a crash:
//! the new texts are written to temporaries, then a journal naming the renames to make
//! ([`JOURNAL_FILE`]) is put in place (the commit point), then the renames are made and the
//! journal removed. The next [`EditLock::exclusive`] on the atom finishes the renames of a
//! journal left by a killed process (rolls it forward) and removes stale temporaries; without a
//! journal, nothing was renamed and the temporaries are simply removed.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use toml_edit::{value, DocumentMut, InlineTable, Item, Table};

use crate::id::{Label, Tag};
use crate::manifest::{Mirror, Requirement};

/// Why the journal of an interrupted edit cannot be completed ([`EditError::Journal`]).
#[derive(Debug, thiserror::Error)]
pub enum JournalProblem {
    /// It is not a journal.
    #[error(transparent)]
    Json(serde_json::Error),
    /// It has a version this implementation does not write.
    #[error("unknown journal version {0}")]
    Version(u32),
    /// Its renames and identities do not pair up.
    #[error("its entries do not match")]
    Entries,
    /// It names a rename an edit never makes.
    #[error("it names {tmp:?} -> {file:?}")]
    Foreign {
        /// The temporary file.
        tmp: String,
        /// The file it replaces.
        file: String,
    },
    /// A temporary file is not the one the interrupted edit wrote.
    #[error("{} is not the file the interrupted edit wrote (a copied or checked-out journal?)", .0.display())]
    NotOurs(PathBuf),
    /// Reading it, or completing its renames, failed.
    #[error(transparent)]
    Io(std::io::Error),
}

/// Why an atom's files cannot be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// A file that is edited is not valid TOML.
    #[error("{}: cannot edit it: {}", path.display(), .error.message())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        error: Box<toml_edit::TomlError>,
    },
    /// A key that is edited has another type than the format gives it.
    #[error("{}: cannot edit it: {key} is not a {expected}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What it should be.
        expected: &'static str,
    },
    /// Writing failed (nothing was changed).
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The atom's directory could not be locked for editing.
    #[error("cannot lock {} for editing: {source}", path.display())]
    Lock {
        /// The atom's directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The journal of an interrupted edit cannot be read or replayed.
    #[error("{}: the journal of an interrupted edit cannot be completed ({reason}); check atom.toml and atom.lock, then remove the journal", path.display())]
    Journal {
        /// The journal.
        path: PathBuf,
        /// Why.
        reason: JournalProblem,
    },
    /// An edit was interrupted (its journal is still there) and only a writer may complete it.
    #[error("an edit of the atom in {} was interrupted ({} is still there); run `atom lock` on it to complete the edit", dir.display(), JOURNAL_FILE)]
    Interrupted {
        /// The atom's directory.
        dir: PathBuf,
    },
}

/// The journal of an edit being made, in the atom's directory: present only between an edit's
/// commit point and its last rename, or after a process was killed there.
pub const JOURNAL_FILE: &str = ".atom-edit.journal";

/// The files an [`EditLock`] changes together: they live in the atom's directory.
const EDITED: [&str; 3] = [
    crate::manifest::MANIFEST_FILE,
    crate::lock::LOCK_FILE,
    crate::lock::integrity::INTEGRITY_FILE,
];

/// What the journal records: each rename to make, `(temporary, file)`, both names in the atom's
/// directory, and each temporary's identity on this machine (device and inode).
///
/// A journal and its temporaries are working-tree files: a repository could ship a pair, so that
/// the next edit would swap an unreviewed file in. The identity binds the journal to the very
/// files this machine wrote: a checkout or a copy makes new inodes, and such a journal is refused.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Journal {
    version: u32,
    renames: Vec<(String, String)>,
    identities: Vec<(u64, u64)>,
}

/// The device and inode of `path`.
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// What [`EditLock::exclusive`] found and did before handing over the atom.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// The files an interrupted edit had not yet renamed into place, now renamed (the edit is
    /// complete).
    pub completed: Vec<PathBuf>,
    /// Temporaries of interrupted edits that never reached their commit point, removed.
    pub removed: Vec<PathBuf>,
}

/// An advisory lock on editing the atom in a directory, held until dropped: `flock` on the
/// directory itself (exclusive for writers, shared for readers that must not see half an edit).
/// Processes that do not ask for it (an editor, `git`) are not held back.
#[derive(Debug)]
pub struct EditLock {
    dir: PathBuf,
    _handle: File,
}

fn flock(dir: &Path, operation: libc::c_int) -> Result<File, EditError> {
    let failed = |source| EditError::Lock {
        path: dir.to_owned(),
        source,
    };
    let handle = File::open(dir).map_err(failed)?;
    if !handle.metadata().map_err(failed)?.is_dir() {
        return Err(failed(std::io::Error::other("not a directory")));
    }
    loop {
        // SAFETY: `handle` is an open descriptor for the duration of the call.
        if unsafe { libc::flock(handle.as_raw_fd(), operation) } == 0 {
            return Ok(handle);
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(failed(error));
        }
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl EditLock {
    /// Waits for every other edit of the atom in `dir` to finish, then locks it for editing:
    /// an interrupted edit is completed (its journal rolled forward) and stale temporaries are
    /// removed first. Read the atom's files after this.
    pub fn exclusive(dir: &Path) -> Result<(EditLock, Recovery), EditError> {
        let lock = EditLock {
            dir: dir.to_owned(),
            _handle: flock(dir, libc::LOCK_EX)?,
        };
        let recovery = lock.recover()?;
        Ok((lock, recovery))
    }

    /// Waits for any edit of the atom in `dir` to finish, then keeps edits out while its files
    /// are read. An interrupted edit (its journal is there) is an error: only a writer completes
    /// it.
    pub fn shared(dir: &Path) -> Result<EditLock, EditError> {
        let lock = EditLock {
            dir: dir.to_owned(),
            _handle: flock(dir, libc::LOCK_SH)?,
        };
        if lock.dir.join(JOURNAL_FILE).exists() {
            return Err(EditError::Interrupted {
                dir: dir.to_owned(),
            });
        }
        Ok(lock)
    }

    /// The atom's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn recover(&self) -> Result<Recovery, EditError> {
        let mut recovery = Recovery::default();
        let journal_path = self.dir.join(JOURNAL_FILE);
        let bad = |reason: JournalProblem| EditError::Journal {
            path: journal_path.clone(),
            reason,
        };
        match std::fs::read(&journal_path) {
            Ok(bytes) => {
                let journal: Journal =
                    serde_json::from_slice(&bytes).map_err(|e| bad(JournalProblem::Json(e)))?;
                if journal.version != 2 {
                    return Err(bad(JournalProblem::Version(journal.version)));
                }
                if journal.identities.len() != journal.renames.len() {
                    return Err(bad(JournalProblem::Entries));
                }
                // Every entry is checked before any rename is made.
                let mut renames = Vec::new();
                for ((tmp, file), id) in journal.renames.iter().zip(&journal.identities) {
                    let ours = EDITED.contains(&file.as_str())
                        && tmp.starts_with(&format!(".tmp-{file}-"))
                        && !tmp.contains('/');
                    if !ours {
                        return Err(bad(JournalProblem::Foreign {
                            tmp: tmp.clone(),
                            file: file.clone(),
                        }));
                    }
                    let (tmp, file) = (self.dir.join(tmp), self.dir.join(file));
                    // A temporary already renamed is gone: that rename was made.
                    match identity(&tmp) {
                        Ok(found) if found == *id => renames.push((tmp, file)),
                        Ok(_) => return Err(bad(JournalProblem::NotOurs(tmp))),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(bad(JournalProblem::Io(e))),
                    }
                }
                for (tmp, file) in renames {
                    std::fs::rename(&tmp, &file).map_err(|e| bad(JournalProblem::Io(e)))?;
                    recovery.completed.push(file);
                }
                sync_dir(&self.dir).map_err(|e| bad(JournalProblem::Io(e)))?;
                std::fs::remove_file(&journal_path).map_err(|e| bad(JournalProblem::Io(e)))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(bad(JournalProblem::Io(e))),
        }
        // Under the lock, every temporary of an edit is a killed process's.
        let temporaries = EDITED
            .iter()
            .chain(&[JOURNAL_FILE])
            .map(|name| format!(".tmp-{name}-"))
            .chain(EDITED.iter().map(|name| format!(".{name}.tmp-")))
            .collect::<Vec<_>>();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if temporaries.iter().any(|prefix| name.starts_with(prefix))
                    && std::fs::remove_file(entry.path()).is_ok()
                {
                    recovery.removed.push(entry.path());
                }
            }
        }
        Ok(recovery)
    }

    /// Replaces the files `files` (`(name, text)`, each `atom.toml` or `atom.lock` of the locked
    /// atom) so that after a crash at any point either all of them have their new text (once
    /// the next [`EditLock::exclusive`] has completed the edit) or none has. `between` is called
    /// after the first rename and before the next (a point for tests to kill the process at).
    /// When a rename fails, the files already renamed get their previous content back.
    pub fn replace(
        &self,
        files: &[(&str, &str)],
        between: &mut dyn FnMut(),
    ) -> Result<(), EditError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| EditError::Io { path, source }
        };
        if let Some((name, _)) = files.iter().find(|(name, _)| !EDITED.contains(name)) {
            return Err(io(&self.dir.join(name))(std::io::Error::other(
                "only atom.toml, atom.lock and atom.integrity are edited together",
            )));
        }
        let mut staged: Vec<(String, PathBuf, Option<Vec<u8>>)> = Vec::new();
        let discard = |staged: &[(String, PathBuf, Option<Vec<u8>>)]| {
            for (tmp, ..) in staged {
                let _ = std::fs::remove_file(self.dir.join(tmp));
            }
        };
        fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)?;
            std::io::Write::write_all(&mut file, bytes)?;
            file.sync_all()
        }
        for (name, text) in files {
            let path = self.dir.join(name);
            let tmp = crate::repo::temporary_name(name);
            let previous = std::fs::read(&path).ok();
            if let Err(e) = write(&self.dir.join(&tmp), text.as_bytes()) {
                let _ = std::fs::remove_file(self.dir.join(&tmp));
                discard(&staged);
                return Err(io(&path)(e));
            }
            staged.push((tmp, path, previous));
        }
        // The commit point: once the journal is in place, the edit is made, now or by recovery.
        let identities = staged
            .iter()
            .map(|(tmp, ..)| identity(&self.dir.join(tmp)))
            .collect::<std::io::Result<Vec<_>>>();
        let identities = match identities {
            Ok(identities) => identities,
            Err(e) => {
                discard(&staged);
                return Err(io(&self.dir)(e));
            }
        };
        let journal = Journal {
            version: 2,
            renames: staged
                .iter()
                .zip(files)
                .map(|((tmp, ..), (name, _))| (tmp.clone(), (*name).to_owned()))
                .collect(),
            identities,
        };
        let journal_path = self.dir.join(JOURNAL_FILE);
        let journal_tmp = self.dir.join(crate::repo::temporary_name(JOURNAL_FILE));
        let committed = serde_json::to_vec(&journal)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write(&journal_tmp, &bytes))
            .and_then(|()| std::fs::rename(&journal_tmp, &journal_path))
            .and_then(|()| sync_dir(&self.dir));
        if let Err(e) = committed {
            let _ = std::fs::remove_file(&journal_tmp);
            let _ = std::fs::remove_file(&journal_path);
            discard(&staged);
            return Err(io(&journal_path)(e));
        }
        for i in 0..staged.len() {
            if i > 0 {
                between();
            }
            let (tmp, path, _) = &staged[i];
            if let Err(e) = std::fs::rename(self.dir.join(tmp), path) {
                for (_, done, previous) in &staged[..i] {
                    let _ = match previous {
                        Some(bytes) => std::fs::write(done, bytes),
                        None => std::fs::remove_file(done),
                    };
                }
                discard(&staged[i..]);
                let _ = std::fs::remove_file(&journal_path);
                return Err(io(path)(e));
            }
        }
        sync_dir(&self.dir)
            .and_then(|()| std::fs::remove_file(&journal_path))
            .map_err(io(&journal_path))
    }
}

/// The text of a new atom's `atom.toml`: composed natively from its own directory.
pub fn new_manifest(label: &Label) -> String {
    format!("[package]\nlabel = \"{label}\"\nversion = \"0.1.0\"\n\n[compose.as]\nnix = \".\"\n")
}

/// The `atom.lock` of a new atom ([`new_manifest`]): a trivial atom without dependencies, whose
/// lock still names the locker and `[compose]`, which the reference's loader reads for every
/// atom it evaluates (and `publish` requires).
pub fn new_lock() -> String {
    crate::lock::Lockfile {
        version: crate::lock::LOCK_VERSION,
        sets: Default::default(),
        locker: Some(crate::lock::AtomDep::reference_locker()),
        compose: crate::lock::LockedCompose::Nix { entry: ".".into() },
        deps: Vec::new(),
    }
    .render()
}

/// The file a new atom's `[compose.as] nix = "."` imports.
pub const NEW_ENTRY_FILE: &str = "default.nix";

/// The text of a new atom's `default.nix`, its value as a trivial atom. It uses only what both
/// this implementation's evaluator and the reference's loader give a trivial atom (`cfg.package`,
/// `atoms.deps`), so that it has the same value in both.
pub fn new_entry(label: &Label) -> String {
    format!(
        "# The value of the atom {label}: `[compose.as] nix = \".\"` imports this file.\n# In scope: `cfg.package` (atom.toml's [package]) and `atoms.deps` (its locked dependencies:\n# `atoms.deps.from.<set>.<label>`, `atoms.deps.pins.<name>`).\n{{\n  hello = \"hello from ${{cfg.package.label}}\";\n}}\n"
    )
}

fn parse(text: &str, path: &Path) -> Result<DocumentMut, EditError> {
    text.parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse {
            path: path.to_owned(),
            error: Box::new(e),
        })
}

/// A table at `key` of `table`, created (implicit, so that only its sub-tables show) when
/// missing.
fn table_at<'a>(
    table: &'a mut Table,
    key: &str,
    path: &Path,
    shown: &str,
) -> Result<&'a mut Table, EditError> {
    if !table.contains_key(key) {
        let mut new = Table::new();
        new.set_implicit(true);
        table.insert(key, Item::Table(new));
    }
    table
        .get_mut(key)
        .and_then(Item::as_table_mut)
        .ok_or_else(|| EditError::Shape {
            path: path.to_owned(),
            key: shown.to_owned(),
            expected: "table",
        })
}

/// `ekala.toml` (whose text is `text`, or a new file when `None`) listing the atom directory
/// `member` (relative to the repository root) in `[set] packages`; `None` when it already does.
pub fn add_set_member(
    text: Option<&str>,
    member: &str,
    path: &Path,
) -> Result<Option<String>, EditError> {
    let Some(text) = text else {
        return Ok(Some(format!("[set]\npackages = [\"{member}\"]\n")));
    };
    let mut doc = parse(text, path)?;
    let set = table_at(doc.as_table_mut(), "set", path, "[set]")?;
    set.set_implicit(false);
    if !set.contains_key("packages") {
        set.insert("packages", value(toml_edit::Array::new()));
    }
    let packages = set
        .get_mut("packages")
        .and_then(Item::as_array_mut)
        .ok_or_else(|| EditError::Shape {
            path: path.to_owned(),
            key: "[set] packages".to_owned(),
            expected: "array",
        })?;
    let normal = |p: &str| crate::manifest::set::normalize(p).ok();
    if packages
        .iter()
        .any(|p| p.as_str().and_then(normal) == normal(member))
    {
        return Ok(None);
    }
    packages.push(member);
    Ok(Some(doc.to_string()))
}

/// The set of `[package.sets]` an atom dependency from `mirror` goes in: the tag of a declared
/// set with that mirror, else a new tag (`proposed`, made unique), and whether it is new.
pub fn set_for_mirror(
    manifest: &crate::manifest::Manifest,
    mirror: &Mirror,
    proposed: &str,
) -> (Tag, bool) {
    if let Some((tag, _)) = manifest
        .package
        .sets
        .iter()
        .find(|(_, mirrors)| mirrors.iter().any(|m| same_mirror(m, mirror)))
    {
        return (tag.clone(), false);
    }
    let base = Tag::new(proposed).unwrap_or_else(|_| Tag::new("set").expect("a valid tag"));
    let mut tag = base.clone();
    let mut n = 2;
    while manifest.package.sets.contains_key(&tag) {
        tag = Tag::new(&format!("{base}-{n}")).expect("a valid tag");
        n += 1;
    }
    (tag, true)
}

fn same_mirror(a: &Mirror, b: &Mirror) -> bool {
    match (a, b) {
        (Mirror::Local, Mirror::Local) => true,
        (Mirror::Url(a), Mirror::Url(b)) => a.trim_end_matches('/') == b.trim_end_matches('/'),
        _ => false,
    }
}

/// A tag for a set at `url`: its last path component without `.git`, made a valid tag.
pub fn tag_for_url(url: &str) -> String {
    let last = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("")
        .trim_end_matches(".git");
    let tag: String = last
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    match tag.chars().next() {
        Some(c) if c.is_alphabetic() => tag,
        _ => format!("set-{tag}"),
    }
}

/// `atom.toml` (text `text`) with the atom `label` at `requirement` from the set `tag` in
/// `[deps.from.<tag>]` (replacing a requirement already there), the set declared in
/// `[package.sets]` with `mirror` when `new_set`.
pub fn add_atom_dep(
    text: &str,
    path: &Path,
    tag: &Tag,
    new_set: Option<&Mirror>,
    label: &Label,
    requirement: &Requirement,
) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    if let Some(mirror) = new_set {
        let package = table_at(doc.as_table_mut(), "package", path, "[package]")?;
        let sets = table_at(package, "sets", path, "[package.sets]")?;
        sets.set_implicit(false);
        sets.insert(
            tag.as_str(),
            value(match mirror {
                Mirror::Local => "::".to_owned(),
                Mirror::Url(url) => url.clone(),
            }),
        );
    }
    let deps = table_at(doc.as_table_mut(), "deps", path, "[deps]")?;
    let from = table_at(deps, "from", path, "[deps.from]")?;
    let set = table_at(from, tag.as_str(), path, &format!("[deps.from.{tag}]"))?;
    set.set_implicit(false);
    set.insert(label.as_str(), value(requirement.to_string()));
    Ok(doc.to_string())
}

/// A direct Nix dependency for [`add_direct_dep`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectSource {
    /// `{ git = URL }`, or `{ git = URL, ref = REF }`.
    Git {
        /// The repository.
        url: String,
        /// The ref, when not HEAD.
        reference: Option<String>,
    },
    /// `{ tar = URL }`.
    Tar(String),
}

/// `atom.toml` (text `text`) with the direct dependency `name` in `[deps.direct.nix]`
/// (replacing one of that name).
pub fn add_direct_dep(
    text: &str,
    path: &Path,
    name: &Label,
    source: &DirectSource,
) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    let deps = table_at(doc.as_table_mut(), "deps", path, "[deps]")?;
    let direct = table_at(deps, "direct", path, "[deps.direct]")?;
    let nix = table_at(direct, "nix", path, "[deps.direct.nix]")?;
    nix.set_implicit(false);
    let mut entry = InlineTable::new();
    match source {
        DirectSource::Git { url, reference } => {
            entry.insert("git", url.as_str().into());
            if let Some(reference) = reference {
                entry.insert("ref", reference.as_str().into());
            }
        }
        DirectSource::Tar(url) => {
            entry.insert("tar", url.as_str().into());
        }
    }
    nix.insert(name.as_str(), value(entry));
    Ok(doc.to_string())
}

/// Writes each `(path, text)`: all files change, or none does. Each text goes to a temporary file
/// beside its path first; then they are renamed into place one by one, and when a rename fails,
/// the files already renamed get their previous content back (or are removed, when they did not
/// exist).
pub fn write_all(files: &[(PathBuf, String)]) -> Result<(), EditError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| EditError::Io { path, source }
    };
    let mut staged: Vec<(PathBuf, PathBuf, Option<Vec<u8>>)> = Vec::new();
    let cleanup = |staged: &[(PathBuf, PathBuf, Option<Vec<u8>>)]| {
        for (tmp, ..) in staged {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for (path, text) in files {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(crate::repo::temporary_name(&name));
        let previous = std::fs::read(path).ok();
        if let Err(e) = std::fs::write(&tmp, text) {
            let _ = std::fs::remove_file(&tmp);
            cleanup(&staged);
            return Err(io(path)(e));
        }
        staged.push((tmp, path.clone(), previous));
    }
    for i in 0..staged.len() {
        let (tmp, path, _) = &staged[i];
        if let Err(e) = std::fs::rename(tmp, path) {
            for (_, done, previous) in &staged[..i] {
                let _ = match previous {
                    Some(bytes) => std::fs::write(done, bytes),
                    None => std::fs::remove_file(done),
                };
            }
            cleanup(&staged[i..]);
            return Err(io(path)(e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_is_added_keeping_the_file_as_it_is() {
        let text = "# my atom\n[package]\nlabel = \"app\" # the app\nversion = \"0.1.0\"\n\n[compose.as]\nnix = \".\"\n";
        let path = Path::new("atom.toml");
        let tag = Tag::new("lib").unwrap();
        let mirror = Mirror::Url("file:///srv/lib".to_owned());
        let label = Label::new("lib").unwrap();
        let edited = add_atom_dep(
            text,
            path,
            &tag,
            Some(&mirror),
            &label,
            &Requirement::parse("^1.2.0").unwrap(),
        )
        .unwrap();
        assert_eq!(
            edited,
            "# my atom\n[package]\nlabel = \"app\" # the app\nversion = \"0.1.0\"\n\n[package.sets]\nlib = \"file:///srv/lib\"\n\n[compose.as]\nnix = \".\"\n\n[deps.from.lib]\nlib = \"^1.2.0\"\n"
        );
        let direct = add_direct_dep(
            &edited,
            path,
            &Label::new("src").unwrap(),
            &DirectSource::Git {
                url: "file:///srv/src".to_owned(),
                reference: Some("main".to_owned()),
            },
        )
        .unwrap();
        assert!(
            direct.ends_with(
                "[deps.direct.nix]\nsrc = { git = \"file:///srv/src\", ref = \"main\" }\n"
            ),
            "{direct}"
        );
        crate::manifest::Manifest::parse(&direct, "atom.toml").unwrap();
    }

    #[test]
    fn a_journal_the_repository_ships_is_refused() {
        let dir = std::env::temp_dir().join(format!("atom-edit-planted-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("atom.toml"), "reviewed").unwrap();
        let planted = ".tmp-atom.toml-1-0-0";
        std::fs::write(dir.join(planted), "unreviewed").unwrap();
        std::fs::write(dir.join("NOTES"), "unreviewed").unwrap();
        for (tmp, identity) in [(planted, (1u64, 2u64)), ("NOTES", (0, 0))] {
            let journal = serde_json::json!({
                "version": 2,
                "renames": [[tmp, "atom.toml"]],
                "identities": [[identity.0, identity.1]],
            });
            std::fs::write(dir.join(JOURNAL_FILE), journal.to_string()).unwrap();
            let err = EditLock::exclusive(&dir).unwrap_err().to_string();
            assert!(
                err.contains("not the file the interrupted edit wrote") || err.contains("it names"),
                "{tmp}: {err}"
            );
            assert_eq!(
                std::fs::read_to_string(dir.join("atom.toml")).unwrap(),
                "reviewed"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_edit_interrupted_after_its_commit_point_is_completed_by_the_next_lock() {
        let dir = std::env::temp_dir().join(format!("atom-edit-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("atom.toml"), "old toml").unwrap();
        std::fs::write(dir.join("atom.lock"), "old lock").unwrap();
        // Stopped (by a panic) between the two renames: the journal stays behind.
        let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (lock, recovery) = EditLock::exclusive(&dir).unwrap();
            assert_eq!(recovery, Recovery::default());
            lock.replace(
                &[("atom.toml", "new toml"), ("atom.lock", "new lock")],
                &mut || panic!("stop here"),
            )
        }));
        assert!(interrupted.is_err());
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(
            (read("atom.toml"), read("atom.lock")),
            ("new toml".into(), "old lock".into())
        );
        assert!(matches!(
            EditLock::shared(&dir),
            Err(EditError::Interrupted { .. })
        ));
        let (lock, recovery) = EditLock::exclusive(&dir).unwrap();
        assert_eq!(recovery.completed, vec![dir.join("atom.lock")]);
        assert_eq!(
            (read("atom.toml"), read("atom.lock")),
            ("new toml".into(), "new lock".into())
        );
        // Before the commit point only temporaries exist; they are removed, nothing changes.
        lock.replace(&[("atom.lock", "newer lock")], &mut || {})
            .unwrap();
        drop(lock);
        std::fs::write(dir.join(".tmp-atom.toml-1-0-0"), "never committed").unwrap();
        let (_lock, recovery) = EditLock::exclusive(&dir).unwrap();
        assert_eq!(recovery.removed, vec![dir.join(".tmp-atom.toml-1-0-0")]);
        assert!(recovery.completed.is_empty());
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["atom.lock", "atom.toml"]);
        assert_eq!(read("atom.lock"), "newer lock");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_member_is_listed_once() {
        let path = Path::new("ekala.toml");
        assert_eq!(
            add_set_member(None, "a", path).unwrap().unwrap(),
            "[set]\npackages = [\"a\"]\n"
        );
        let text = "[set]\npackages = [\"a\"] # atoms\n";
        assert_eq!(add_set_member(Some(text), "./a", path).unwrap(), None);
        assert_eq!(
            add_set_member(Some(text), "b", path).unwrap().unwrap(),
            "[set]\npackages = [\"a\", \"b\"] # atoms\n"
        );
        assert_eq!(tag_for_url("https://example.com/org/lib.git"), "lib");
        assert_eq!(tag_for_url("file:///srv/9repo"), "set-9repo");
    }
}
