//! HTTP(S) servers' capability advertisements, remembered between connections.
//!
//! Over smart HTTP a conversation starts with a `GET …/info/refs?service=git-upload-pack` whose
//! only answer, with protocol v2, is the server's list of capabilities; each command is then a
//! request of its own. The list hardly ever changes, so a connection made within a day of the
//! last one takes it from here and starts with its first command: one request and response (and
//! a round trip) fewer. [`super::Remote`] decides what is kept and when a remembered list is
//! set aside (docs/design.md, "What travels when"): only a v2 list without refs, received in one
//! response without credentials by a conversation that received objects without a failed
//! request. A request that fails after a remembered list is made again when a fresh one differs.
//!
//! One file per URL, written under a temporary name and renamed into place.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Bytes a server sent, copied while they are read, up to [`MAX_SIZE`] (`None` once there were
/// more).
pub(super) type Captured = std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>;

/// What the `GET` of the advertisement brought: its response headers (curl passes each
/// response's header lines, without the status line, then an empty line) and its body.
#[derive(Clone)]
pub(super) struct Captures {
    /// The header lines.
    pub(super) headers: Captured,
    /// The body: the advertisement.
    pub(super) body: Captured,
}

impl Captures {
    /// Nothing yet.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(super) fn new() -> Captures {
        let empty = || std::sync::Arc::new(std::sync::Mutex::new(Some(Vec::new())));
        Captures {
            headers: empty(),
            body: empty(),
        }
    }

    /// The advertisement, when it came in one response: a redirect (a response before it)
    /// means the next connection would not be told where it went.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(super) fn single_response(&self) -> Option<Vec<u8>> {
        let take = |c: &Captured| c.lock().unwrap_or_else(|e| e.into_inner()).take();
        let headers = take(&self.headers)?;
        let blocks = headers
            .split(|&b| b == b'\n')
            .filter(|line| line.is_empty() || *line == b"\r")
            .count();
        // The last split is what follows the final newline: empty.
        (blocks == 2).then(|| take(&self.body)).flatten()
    }
}

/// How long a remembered list is used.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The most a remembered list may hold (a v2 advertisement is a few hundred bytes).
pub const MAX_SIZE: usize = 64 << 10;

/// What starts a record, before its URL, the time it was received and the list itself.
const MAGIC: &str = "atom advertisement 1\n";

/// Where advertisements are remembered: a directory (the atom store's `servers/`), created
/// when the first is kept (inside a directory that exists).
#[derive(Debug, Clone)]
pub struct Advertisements {
    dir: PathBuf,
}

impl Advertisements {
    /// Advertisements kept in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Advertisements {
        Advertisements { dir: dir.into() }
    }

    /// The file of `url`'s advertisement.
    fn path(&self, url: &str) -> PathBuf {
        let hash = blake3::hash(url.as_bytes());
        self.dir.join(&hash.to_hex()[..32])
    }

    /// The advertisement `url` sent within [`MAX_AGE`], if one is remembered.
    pub fn recall(&self, url: &str) -> Option<Vec<u8>> {
        let bytes = crate::diagnostic::read_small(&self.path(url)).ok()?;
        let rest = bytes.strip_prefix(MAGIC.as_bytes())?;
        let rest = rest.strip_prefix(url.as_bytes())?.strip_prefix(b"\n")?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        let seconds: u64 = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
        let received = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        let age = SystemTime::now().duration_since(received).ok()?;
        let list = &rest[end + 1..];
        (age <= MAX_AGE && list.len() <= MAX_SIZE).then(|| list.to_vec())
    }

    /// Keeps `list` as `url`'s advertisement (best effort: a list not kept is asked for again).
    pub fn remember(&self, url: &str, list: &[u8]) {
        if list.len() > MAX_SIZE || url.contains('\n') {
            return;
        }
        let Ok(now) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) else {
            return;
        };
        let mut record = format!("{MAGIC}{url}\n{}\n", now.as_secs()).into_bytes();
        record.extend_from_slice(list);
        let _ = write_new(&self.dir, &self.path(url), &record);
    }

    /// Forgets `url`'s advertisement.
    pub fn forget(&self, url: &str) {
        let _ = std::fs::remove_file(self.path(url));
    }
}

/// Writes `bytes` to `path` in `dir` through a temporary file renamed over it. `dir` is made
/// when missing, its parent (the atom store) never: a command that failed before it made the
/// store leaves none behind for this.
fn write_new(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Writable by nobody else whatever the umask: the store refuses a cache others can write.
    let made =
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o755).create(dir);
    match made {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let tmp = dir.join(crate::repo::temporary_name("advertisement"));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_recalled_for_its_url_only_and_forgotten() {
        let dir = atom_test_support::scratch("advertisements");
        let memory = Advertisements::new(dir.join("servers"));
        let url = "http://127.0.0.1:1/r.git";
        assert_eq!(memory.recall(url), None);
        memory.remember(url, b"000eversion 2\n0000");
        assert_eq!(
            memory.recall(url).as_deref(),
            Some(&b"000eversion 2\n0000"[..])
        );
        assert_eq!(memory.recall("http://127.0.0.1:1/other.git"), None);
        memory.forget(url);
        assert_eq!(memory.recall(url), None);
    }

    #[test]
    fn an_old_or_foreign_record_is_not_recalled() {
        let dir = atom_test_support::scratch("advertisements-old");
        let memory = Advertisements::new(&dir);
        let url = "http://127.0.0.1:1/r.git";
        let old = SystemTime::now() - MAX_AGE - Duration::from_secs(60);
        let seconds = old
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        std::fs::write(memory.path(url), format!("{MAGIC}{url}\n{seconds}\nlist")).unwrap();
        assert_eq!(memory.recall(url), None);
        // A record of another URL under this one's name (or any other text) says nothing.
        std::fs::write(
            memory.path(url),
            format!("{MAGIC}http://elsewhere\n0\nlist"),
        )
        .unwrap();
        assert_eq!(memory.recall(url), None);
        std::fs::write(memory.path(url), "list").unwrap();
        assert_eq!(memory.recall(url), None);
        // Too large to keep: nothing is written.
        memory.forget(url);
        memory.remember(url, &vec![b'0'; MAX_SIZE + 1]);
        assert!(!memory.path(url).exists());
    }
}
