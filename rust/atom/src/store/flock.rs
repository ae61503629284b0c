//! The store-wide lock: the store's directory itself, locked with `flock(2)` (no file of its
//! own, so a fetch that fails leaves an empty store as it found it). Fetching, filling and
//! materialising hold it shared (any number at once); garbage collection ([`super::Store::gc`])
//! holds it exclusively, so it never removes what one of them is writing, and they never see a
//! set half collected. The lock is released when the guard is dropped, or when its process dies.

use std::fs::File;
use std::os::unix::io::AsRawFd;

use super::{Store, StoreError};

/// A held store lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl Store {
    /// Waits for and takes the store lock shared (see the module's documentation).
    pub fn lock_shared(&self) -> Result<StoreLock, StoreError> {
        self.take_lock(libc::LOCK_SH)
    }

    /// Waits for and takes the store lock exclusively (see the module's documentation).
    pub fn lock_exclusive(&self) -> Result<StoreLock, StoreError> {
        self.take_lock(libc::LOCK_EX)
    }

    fn take_lock(&self, operation: libc::c_int) -> Result<StoreLock, StoreError> {
        let io = |source| StoreError::Io {
            path: self.dir().to_owned(),
            source,
        };
        std::fs::create_dir_all(self.dir()).map_err(io)?;
        // A directory opens read-only, which is all flock needs.
        let file = File::open(self.dir()).map_err(io)?;
        loop {
            // SAFETY: the descriptor is open for the duration of the call.
            if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
                return Ok(StoreLock { _file: file });
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(io(error));
            }
        }
    }
}
