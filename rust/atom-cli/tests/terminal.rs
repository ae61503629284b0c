//! Long waits say what they wait for, as a user meets them: progress on a real terminal (a
//! pseudo-terminal made by `script`), none when stderr is a pipe, and the setup's build of Nix
//! 2.26 saying that it waits for another build.

use atom_test_support as support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{atom_repo, repo_root, scratch};

fn atom() -> String {
    env!("CARGO_BIN_EXE_atom").to_owned()
}

/// Runs `command` (a shell command line) on a pseudo-terminal; returns what the terminal showed.
fn on_a_terminal(dir: &Path, command: &str) -> String {
    let output = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(dir)
        .env_remove("ATOM_STORE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{command}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn fetching_shows_progress_on_a_terminal_and_nothing_in_a_pipe() {
    let dir = scratch("terminal-fetch");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    atom_repo(&repo);
    let ok = |args: &[&str]| {
        let output = Command::new(atom())
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        output
    };
    ok(&["init"]);
    ok(&["publish"]);

    let store = dir.join("store");
    let shown = on_a_terminal(
        &dir,
        &format!(
            "{} fetch {} --store {}",
            atom(),
            repo.display(),
            store.display()
        ),
    );
    // The transient line, then cleared before the result.
    assert!(shown.contains("fetching"), "{shown:?}");
    assert!(shown.contains("objects"), "{shown:?}");
    assert!(shown.contains("\r\x1b[K"), "{shown:?}");

    // Into a pipe: no progress, only the result.
    let piped = Command::new(atom())
        .args(["fetch"])
        .arg(&repo)
        .arg("--store")
        .arg(dir.join("store2"))
        .output()
        .unwrap();
    assert!(piped.status.success());
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains("fetching"),
        "{stderr:?}"
    );
}

#[test]
fn the_nix_build_says_when_it_waits_for_another() {
    let cache = scratch("terminal-nix-cache");
    std::fs::create_dir_all(&cache).unwrap();
    // Another build holds the lock (a fresh cache: nothing is built yet).
    let lock = cache.join("nix-2.26.3.lock");
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !lock.exists() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // It waits (killed after 5 s), having said what for; it builds nothing meanwhile.
    let waiting = Command::new("timeout")
        .arg("5")
        .arg(repo_root().join("scripts/build-nix-2.26.sh"))
        .env("ATOM_DEV_CACHE", &cache)
        .output()
        .unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(waiting.status.code(), Some(124), "{waiting:?}");
    let stderr = String::from_utf8_lossy(&waiting.stderr);
    assert!(
        stderr.contains(&format!(
            "another build of Nix 2.26.3 holds {}; waiting for it to finish",
            lock.display()
        )),
        "{stderr}"
    );
    assert!(!cache.join("nix-2.26.3").exists());
    assert!(!cache.join("build-nix-2.26.3").exists());
}
