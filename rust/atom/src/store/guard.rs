//! Who else can write the atom store.
//!
//! A materialised tree is trusted while its stamp says it is unchanged, and the stamp is a plain
//! file: a user who can write the store's directories could change a dependency's files and
//! write a matching stamp. So the directories the store's trust rests on are checked before the
//! store is used: the store itself, `trees/`, `trees/nix/`, `git/` and each set repository
//! (with its `objects/` and `refs/`) must belong to this user or to root, must not be writable by
//! everyone, and may be writable by their group only when they belong to this user. Stamps that
//! someone else could have written are not trusted (the tree gets the deep check instead).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::StoreError;
use crate::diagnostic::shell_quote;

/// Why a directory of the store is writable by other users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exposure {
    /// It belongs to another user (not root) with this uid.
    Owner(u32),
    /// Everyone can write it (mode bits shown in octal).
    WorldWritable(u32),
    /// Its group can write it, and it does not belong to this user.
    GroupWritable(u32),
}

impl std::fmt::Display for Exposure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exposure::Owner(uid) => write!(f, "it belongs to the user with uid {uid}, not to you"),
            Exposure::WorldWritable(mode) => {
                write!(f, "everyone can write it (mode {mode:04o})")
            }
            Exposure::GroupWritable(mode) => write!(
                f,
                "its group can write it and it does not belong to you (mode {mode:04o})"
            ),
        }
    }
}

/// How `metadata` (of a file or directory) lets users other than this one and root write it,
/// if it does.
pub fn exposure(metadata: &std::fs::Metadata) -> Option<Exposure> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let (owner, mode) = (metadata.uid(), metadata.mode() & 0o7777);
    if owner != me && owner != 0 {
        Some(Exposure::Owner(owner))
    } else if mode & 0o002 != 0 {
        Some(Exposure::WorldWritable(mode))
    } else if mode & 0o020 != 0 && owner != me {
        Some(Exposure::GroupWritable(mode))
    } else {
        None
    }
}

/// What to do about the directory `dir` being writable by others as `exposure` says.
pub(super) fn fix(dir: &Path, exposure: &Exposure) -> String {
    let shown = dir.to_string_lossy();
    let quoted = shell_quote(&shown);
    match exposure {
        Exposure::Owner(_) => format!(
            "use a store of your own (ATOM_STORE, the atom-store setting, or the CLI's --store), or make it yours: `chown -R \"$(id -u)\" {quoted}` as root"
        ),
        _ => format!("run `chmod go-w {quoted}`"),
    }
}

/// Checks each directory of `dirs` that exists (a missing one is created by whoever fills the
/// store, with this user's rights).
pub fn check(dirs: &[&Path]) -> Result<(), StoreError> {
    for dir in dirs {
        let metadata = match std::fs::metadata(dir) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(StoreError::Io {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        };
        if let Some(exposure) = exposure(&metadata) {
            return Err(StoreError::Exposed {
                path: dir.to_path_buf(),
                exposure,
            });
        }
    }
    Ok(())
}
