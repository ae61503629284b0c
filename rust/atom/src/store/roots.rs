//! The store's garbage-collection roots, as Nix has gcroots: `<store>/roots/<key>`, one file per
//! registered atom directory, holding that directory's absolute path. `atom lock` and `atom fetch`
//! in an atom's directory register it; [`super::Store::gc`] with no directory keeps what the locks
//! of the registered directories need. An entry whose directory or `atom.lock` no longer exists is
//! stale, and dropped when the roots are read.

use std::path::{Path, PathBuf};

use super::{Store, StoreError};

/// The roots directory, in the store's directory.
pub const ROOTS_DIR: &str = "roots";

impl Store {
    /// The directory of the registered roots.
    pub fn roots_dir(&self) -> PathBuf {
        self.dir().join(ROOTS_DIR)
    }

    /// Registers the atom directory `dir` as a root (written to a temporary file and renamed;
    /// registering it again changes nothing).
    pub fn register_root(&self, dir: &Path) -> Result<(), StoreError> {
        let dir = std::fs::canonicalize(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let text = dir.to_string_lossy();
        let key = blake3::hash(text.as_bytes()).to_hex();
        let roots = self.roots_dir();
        let path = roots.join(&key[..32]);
        if std::fs::read_to_string(&path).is_ok_and(|t| t.trim_end_matches('\n') == text) {
            return Ok(());
        }
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&roots).map_err(io)?;
        let tmp = roots.join(crate::repo::temporary_name(&key[..32]));
        std::fs::write(&tmp, format!("{text}\n"))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                io(e)
            })
    }

    /// The registered atom directories that still have an `atom.lock`, sorted; stale entries are
    /// removed (best effort).
    pub fn roots(&self) -> Result<Vec<PathBuf>, StoreError> {
        let roots = self.roots_dir();
        let entries = match std::fs::read_dir(&roots) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StoreError::Io {
                    path: roots,
                    source,
                })
            }
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.len() != 32 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue; // a temporary being written
            }
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let dir = PathBuf::from(text.trim_end_matches('\n'));
            if dir.join(crate::lock::LOCK_FILE).is_file() {
                found.push(dir);
            } else {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        found.sort();
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_registered_once_and_stale_ones_dropped() {
        let base = std::env::temp_dir().join(format!("atom-roots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let store = Store::new(base.join("store"));
        let (a, b) = (base.join("a"), base.join("b"));
        for dir in [&a, &b] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(crate::lock::LOCK_FILE), "").unwrap();
            store.register_root(dir).unwrap();
            store.register_root(dir).unwrap();
        }
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap();
        assert_eq!(store.roots().unwrap(), [canonical(&a), canonical(&b)]);
        assert_eq!(std::fs::read_dir(store.roots_dir()).unwrap().count(), 2);

        std::fs::remove_file(b.join(crate::lock::LOCK_FILE)).unwrap();
        std::fs::remove_dir_all(&a).unwrap();
        assert!(store.roots().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(store.roots_dir()).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&base);
    }
}
