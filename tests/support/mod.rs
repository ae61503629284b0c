//! Helpers shared by the integration tests of several crates (included with `#[path]`).
//!
//! The artifacts under test (`libatom_nix.so`, `libatom.so`, `libatom.a`) are cdylibs and
//! staticlibs, which `cargo test` does not build for integration tests: the test command runs
//! `cargo build --workspace` first, and [`artifact`] refuses a stale one rather than silently
//! testing old code.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The directory cargo builds into for this profile: the test binary lives in its `deps/`.
pub fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The newest modification time of the files under `dir`, recursively.
fn newest_under(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_under(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).unwrap()
        };
        newest = newest.max(time);
    }
    newest
}

/// The built artifact `name`, checked to be newer than every source it is built from
/// (`sources` are directories relative to the repository root).
pub fn artifact(name: &str, sources: &[&str]) -> PathBuf {
    let path = artifacts_dir().join(name);
    let built = fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build --workspace` first",
                path.display()
            )
        });
    let root = repo_root();
    for source in sources {
        assert!(
            newest_under(&root.join(source)) <= built,
            "{} is older than {source}: run `cargo build --workspace` first",
            path.display()
        );
    }
    path
}

/// A fresh, empty directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `command`, asserts it succeeded, and returns its standard output.
pub fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
