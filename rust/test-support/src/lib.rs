//! Helpers shared by the integration tests of several crates (a dev-dependency of each): the
//! repository's fixtures and artifacts here, real git servers in [`servers`], misbehaving ones in
//! [`hostile`], a deterministic generator in [`gen`].
//!
//! The artifacts under test (`libatom_nix.so`, `libatom.so`, `libatom.a`) are cdylibs and
//! staticlibs, which `cargo test` does not build for integration tests: the test command runs
//! `cargo build --workspace` first, and [`artifact`] refuses a stale one rather than silently
//! testing old code.

pub mod gen;
pub mod hostile;
pub mod servers;

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

/// Where tests make their scratch directories: `tmp/` of cargo's target directory (what cargo
/// names `CARGO_TARGET_TMPDIR` for integration tests).
pub fn target_tmp() -> PathBuf {
    artifacts_dir()
        .parent()
        .map(|target| target.join("tmp"))
        .unwrap_or_else(std::env::temp_dir)
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
    // The plugin is built alone (scripts/test.sh says why).
    let build = match name {
        "libatom_nix.so" => "cargo build --workspace` and then `cargo build -p atom-nix",
        _ => "cargo build --workspace",
    };
    let built = fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: run `{build}` first", path.display()));
    let root = repo_root();
    for source in sources {
        assert!(
            newest_under(&root.join(source)) <= built,
            "{} is older than {source}: run `{build}` first",
            path.display()
        );
    }
    path
}

/// A fresh, empty directory for one test, removed when the guard is dropped unless the thread is
/// panicking: a failed test leaves its files for inspection, a passing one leaves nothing (the
/// debug builds and stores the suite writes came to gigabytes per run).
pub fn scratch(name: &str) -> Scratch {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = target_tmp().join(format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    Scratch {
        root: dir.clone(),
        path: dir,
    }
}

/// A test's scratch directory (see [`scratch`]). It reads as the `PathBuf` it holds; it is not
/// `Clone`, so that one guard alone removes it (`.to_path_buf()` gives a plain path).
#[derive(Debug)]
pub struct Scratch {
    /// The directory [`scratch`] made, and removes.
    root: PathBuf,
    /// The path it reads as: `root`, or a path inside it (see [`Scratch::nest`]).
    path: PathBuf,
}

impl Scratch {
    /// The path `sub` inside this one (not created), carrying the guard: dropping it removes the
    /// whole scratch directory.
    pub fn nest(self, sub: &str) -> Scratch {
        let mut this = self;
        let path = this.path.join(sub);
        Scratch {
            root: std::mem::take(&mut this.root),
            path,
        }
    }
}

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.path
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A guard whose root moved on (`nest`) has nothing to remove.
        if self.root.as_os_str().is_empty() {
            return;
        }
        if std::thread::panicking() {
            eprintln!("kept for inspection: {}", self.root.display());
            return;
        }
        if fs::remove_dir_all(&self.root).is_err() {
            // Read-only directories (a Nix store's, a test's own `chmod`) refuse their entries'
            // removal to anyone but root: give the owner write access back and try once more.
            make_writable(&self.root);
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// Gives the owner write and search access to every directory under `dir` (not following links).
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode();
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700));
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        make_writable(&entry.path());
    }
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

/// Runs `git` in `dir` with a fixed identity and date and no user or system configuration, and
/// returns its trimmed output. Tests build fixture repositories with it; the product never runs
/// git.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// [`git`] with `input` on its standard input (`hash-object --stdin`, `mktree`).
pub fn git_input(dir: &Path, args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// What a hostile publisher can make: the atom commit `rev` of the repository `repo` with its
/// tree replaced by `tree`, every header and the message kept (so that it is still an atom
/// commit in form). Returns the new commit's id; no ref is changed.
pub fn with_tree(repo: &Path, rev: &str, tree: &str) -> String {
    let old_tree = git(repo, &["rev-parse", &format!("{rev}^{{tree}}")]);
    let commit = Command::new("git")
        .current_dir(repo)
        .args(["cat-file", "commit", rev])
        .output()
        .unwrap()
        .stdout;
    let commit = String::from_utf8(commit)
        .unwrap()
        .replacen(&old_tree, tree, 1);
    git_input(
        repo,
        &["hash-object", "-t", "commit", "-w", "--stdin"],
        commit.as_bytes(),
    )
}

/// Writes `text` to `dir/path`, creating directories.
pub fn write(dir: &Path, path: &str, text: &str) {
    let file = dir.join(path);
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(file, text).unwrap();
}

/// A minimal `atom.toml`.
pub fn manifest(label: &str, version: &str) -> String {
    format!(
        "[package]\nlabel = \"{label}\"\nversion = \"{version}\"\n\n[compose.as]\nnix = \".\"\n"
    )
}

/// The `atom.lock` that `atom lock` writes for an atom of [`manifest`] (a trivial atom, entry
/// `.`, without dependencies): `atom publish` refuses an evaluated atom without one.
/// `new_creates_a_publishable_atom_and_lists_it` (rust/atom-cli/tests/workflow.rs) checks it.
pub const TRIVIAL_LOCK: &str = "# This file is automatically @generated by eka.
# It is not intended for manual editing.
version = 1

[locker]
label = \"nix-lock\"
version = \"0.1.6\"
set = \"4abbd2644bc3585e9be95deb277ccf48f6ed26ac\"
rev = \"e711aa1f48d877652dd2ba724d4af752be7b5371\"
mirror = \"https://github.com/ekala-project/eka\"
id = \"r3rlam6bd31t9i04ggug7avs8vf8981q7a3b6gobemk1gfs50qm0\"

[compose]
use = \"nix\"
entry = \".\"
";

/// Writes a trivial atom without dependencies at `dir/path`: its `atom.toml` ([`manifest`]) and
/// its `atom.lock` ([`TRIVIAL_LOCK`]).
pub fn trivial_atom(dir: &Path, path: &str, label: &str, version: &str) {
    write(dir, &format!("{path}/atom.toml"), &manifest(label, version));
    write(dir, &format!("{path}/atom.lock"), TRIVIAL_LOCK);
}

/// A repository whose `ekala.toml` lists `pkgs/a` (label `alpha` 1.0.0) and `b` (label `beta`
/// 0.1.0), with one commit on `main`.
pub fn atom_repo(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    write(dir, "ekala.toml", "[set]\npackages = [\"pkgs/a\", \"b\"]\n");
    trivial_atom(dir, "pkgs/a", "alpha", "1.0.0");
    write(dir, "pkgs/a/mod.nix", "{ Value = 1; }\n");
    trivial_atom(dir, "b", "beta", "0.1.0");
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "init"]);
}

/// Runs `git fsck --strict --no-dangling` on a repository of the atom store and asserts that its
/// only complaints are the refs a fetch records without their objects: `refs/ekala/init` and the
/// `origin` metadata refs, which name source commits the store deliberately does not download.
pub fn fsck_store(dir: &Path) {
    let output = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["fsck", "--strict", "--no-dangling"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines() {
        let recorded = line.starts_with("error: refs/ekala/init: invalid sha1 pointer")
            || (line.starts_with("error: refs/eka/meta/")
                && line.contains("/origin: invalid sha1 pointer"));
        assert!(
            recorded || line.starts_with("notice: HEAD points to an unborn branch"),
            "git fsck in {}: {line}\n{stderr}",
            dir.display()
        );
    }
}

/// Lays libatom out in `dir` as an install would: `libatom.so.0` (the SONAME) and the development
/// link `libatom.so` pointing at it; returns `dir`.
pub fn install_libatom(dir: &Path) -> PathBuf {
    fs::copy(
        artifact("libatom.so", &["rust/atom/src", "rust/atom-capi/src"]),
        dir.join("libatom.so.0"),
    )
    .unwrap();
    std::os::unix::fs::symlink("libatom.so.0", dir.join("libatom.so")).unwrap();
    dir.to_owned()
}

/// Compiles the C program `source` into `output` as the project's C tests are (`cc -std=c99`,
/// every warning an error, `-pedantic`), against `include/atom.h` and `tests/c/check.h`, with
/// `link` (the library and its flags) last.
pub fn compile_c(source: &Path, output: &Path, link: &[String]) {
    let root = repo_root();
    run(Command::new("cc")
        .args([
            "-std=c99",
            "-D_POSIX_C_SOURCE=200809L",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-g",
            "-pthread",
        ])
        .arg("-I")
        .arg(root.join("include"))
        .arg("-I")
        .arg(root.join("tests/c"))
        .arg(source)
        .arg("-o")
        .arg(output)
        .args(link));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A guard removes its directory when dropped, read-only parts and all; one nested inside
    /// removes the whole directory; a panicking thread keeps it.
    #[test]
    fn a_scratch_directory_goes_with_its_guard_unless_the_test_panics() {
        let dir = scratch("guard");
        let root = dir.to_path_buf();
        fs::create_dir_all(dir.join("ro/sub")).unwrap();
        fs::write(dir.join("ro/sub/f"), "x").unwrap();
        fs::set_permissions(dir.join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
        drop(dir);
        assert!(!root.exists(), "{} is left", root.display());

        let nested = scratch("guard-nested").nest("inner");
        let outer = nested.parent().unwrap().to_path_buf();
        fs::create_dir(&*nested).unwrap();
        drop(nested);
        assert!(!outer.exists(), "{} is left", outer.display());

        let kept = std::thread::spawn(|| {
            let dir = scratch("guard-panic");
            let path = dir.to_path_buf();
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                let _dir = dir;
                panic!("a failing test");
            }));
            path
        })
        .join()
        .unwrap();
        assert!(kept.exists(), "a failed test's directory is kept");
        fs::remove_dir_all(kept).unwrap();
    }
}
