//! The README's flake example, run as written: every `sh` block between `<!-- flake:begin -->`
//! and `<!-- flake:end -->`, in order, in one `bash` in a fresh directory, with the real `atom`
//! CLI on `PATH`, the real plugin in `ATOM_PLUGIN` and the Nix it was built for first on `PATH`
//! (2.26.3 or 2.8, in the run of each). Each `# => ` line must be a line of the output, in order.

mod common;

use std::process::Command;

use common::support;
use common::{plugin, scratch, search_path, stderr, stdout, NIX_VERSION};

#[test]
fn the_readme_flake_example_evaluates_purely() {
    let (script, outputs) = common::readme_part("<!-- flake:begin -->", "<!-- flake:end -->");
    assert!(
        script.contains("flake.nix") && script.contains(" eval ") && !outputs.is_empty(),
        "{script}"
    );
    let atom = support::artifact("atom", &["rust/atom/src", "rust/atom-cli/src"]);
    let top = scratch("readme-flake");
    let dir = top.join("demo");
    let home = top.join("home");
    std::fs::create_dir_all(&dir).unwrap();
    let path = format!(
        "{}:{}",
        atom.parent().unwrap().display(),
        search_path().to_string_lossy()
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        // No user or system Nix configuration (and so no flake registry to download).
        .env("NIX_CONF_DIR", home.join("etc"))
        .env("GC_INITIAL_HEAP_SIZE", "1000000")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Example")
        .env("GIT_AUTHOR_EMAIL", "example@example.com")
        .env("GIT_COMMITTER_NAME", "Example")
        .env("GIT_COMMITTER_EMAIL", "example@example.com")
        .env("ATOM_PLUGIN", plugin())
        .output()
        .unwrap();
    let out = stdout(&output);
    let err = stderr(&output);
    assert!(
        output.status.success(),
        "the flake example failed (Nix {NIX_VERSION}):\n{out}\n{err}"
    );
    println!("{out}\n{err}");
    common::assert_lines_in_order(&out, &outputs, &err);
    // The plugin was loaded into the Nix it was built for (no version-mismatch warning), and the
    // evaluation really was of the flake: its source went into the throwaway Nix store.
    assert!(!err.contains("atom plugin"), "{err}");
    let store = dir.join("nix/store");
    let sources: Vec<_> = std::fs::read_dir(&store)
        .unwrap_or_else(|e| panic!("{}: {e}", store.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with("-source"))
        .collect();
    assert!(
        !sources.is_empty(),
        "nothing was copied into {}",
        store.display()
    );
    let source = store.join(&sources[0]);
    assert!(
        source.join("flake.nix").is_file() && source.join("app/atom.lock").is_file(),
        "{}",
        source.display()
    );
}
