//! The README's "Installing" part, run as written: every `sh` block between
//! `<!-- install:begin -->` and `<!-- install:end -->`, in order, in one `bash` started in the
//! repository, with a scratch `HOME` (so the prefix, `$HOME/.local`, is scratch too) and `TMPDIR`,
//! the Nix the plugin was built for on `PATH` and no Nix store. Each `# => ` line must be a line
//! of the output, in order. Then the per-version configuration is checked against the other
//! supported Nix version.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::support::{self, repo_root};
use common::{scratch, search_path, stderr, stdout, NIX_VERSION};

/// A command with only what the README's reader has: a scratch `HOME`, `TMPDIR` and XDG
/// directories, no Nix configuration and no Nix store, and the toolchain and plugin build
/// settings of this test run (so that `cargo build` inside `install.sh` finds the build fresh
/// rather than rebuilding the plugin for another Nix).
fn user_command(program: &str, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", search_path())
        .env("HOME", home)
        .env("TMPDIR", home.join("tmp"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("NIX_CONF_DIR", home.join("etc-nix"))
        .env("NIX_REMOTE", "dummy://")
        .env("GC_INITIAL_HEAP_SIZE", "1000000")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    let real_home = std::env::var_os("HOME").map(PathBuf::from).unwrap();
    command
        .env(
            "CARGO_HOME",
            std::env::var_os("CARGO_HOME").unwrap_or_else(|| real_home.join(".cargo").into()),
        )
        .env(
            "RUSTUP_HOME",
            std::env::var_os("RUSTUP_HOME").unwrap_or_else(|| real_home.join(".rustup").into()),
        );
    // The plugin's build settings. `cargo test` also sets the build script's outputs
    // ATOM_NIX_VERSION and ATOM_NIX_BIN_DIR in this process's environment; as inputs they only
    // count beside ATOM_NIX_INCLUDE (passing them otherwise would make the build script run again
    // and relink the plugin under the other tests).
    let explicit = std::env::var_os("ATOM_NIX_INCLUDE").is_some();
    for (key, value) in std::env::vars_os() {
        let name = key.to_string_lossy();
        let build_setting = match name.as_ref() {
            "ATOM_NIX_VERSION" | "ATOM_NIX_BIN_DIR" => explicit,
            "ATOM_NIX_INCLUDE" | "ATOM_NIX_LIB_DIR" | "ATOM_NIX_PREFIX" | "PKG_CONFIG_PATH"
            | "CARGO_TARGET_DIR" => true,
            _ => name.starts_with("RUSTUP_"),
        };
        if build_setting {
            command.env(&key, value);
        }
    }
    if cfg!(debug_assertions) {
        command.env("PROFILE", "dev");
    }
    command
}

/// The binaries of the other supported Nix version (as `eval.rs` finds them).
fn other_nix_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("ATOM_TEST_OTHER_NIX_BIN") {
        return dir.into();
    }
    if NIX_VERSION.starts_with("2.26.") {
        return "/usr/bin".into();
    }
    let mut caches: Vec<PathBuf> = std::env::var_os("ATOM_DEV_CACHE")
        .map(Into::into)
        .into_iter()
        .collect();
    caches.push("/var/cache/atom-dev".into());
    if let Some(home) = std::env::var_os("HOME") {
        caches.push(PathBuf::from(home).join(".cache/atom-dev"));
    }
    let bins: Vec<_> = caches.iter().map(|c| c.join("nix-2.26.3/bin")).collect();
    bins.iter()
        .find(|bin| bin.join("nix-instantiate").exists())
        .unwrap_or(&bins[0])
        .clone()
}

fn has_atom(nix_instantiate: &Path, home: &Path, conf_files: &str) -> Output {
    user_command(nix_instantiate.to_str().unwrap(), home)
        .env("NIX_USER_CONF_FILES", conf_files)
        .args(["--eval", "--expr", "builtins ? atom"])
        .output()
        .unwrap()
}

#[test]
fn the_readme_install_part_runs_as_written() {
    let (script, outputs) = common::readme_part("<!-- install:begin -->", "<!-- install:end -->");
    assert!(
        script.contains("scripts/install.sh") && outputs.len() >= 4,
        "{script}"
    );
    // Built artifacts are current (install.sh's cargo build then has nothing to do).
    let built_plugin = common::plugin();
    let plugin_time = || {
        std::fs::metadata(&built_plugin)
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = plugin_time();
    support::artifact("atom", &["rust/atom/src", "rust/atom-cli/src"]);
    support::artifact("libatom.so", &["rust/atom/src", "rust/atom-capi/src"]);

    let home = scratch("install-home");
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    // The user's own nix.conf, shared by every Nix version: an ordinary setting, no plugin.
    support::write(&home, ".config/nix/nix.conf", "cores = 1\n");
    let output = user_command("bash", &home)
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let out = stdout(&output);
    let err = stderr(&output);
    assert!(
        output.status.success(),
        "the install part failed:\n{out}\n{err}"
    );
    common::assert_lines_in_order(&out, &outputs, &err);
    // install.sh's `cargo build` found everything fresh: the plugin the other tests load was not
    // rebuilt under them.
    assert_eq!(
        plugin_time(),
        before,
        "install.sh rebuilt the plugin: its build settings differ from the test run's"
    );
    // No warning from Nix: the plugin matched the Nix that loaded it.
    assert!(!err.contains("warning"), "{err}");

    let prefix = home.join(".local");
    let plugin = prefix.join(format!("lib/atom/nix-{NIX_VERSION}/libatom_nix.so"));
    let conf = prefix.join(format!("share/atom/nix-{NIX_VERSION}.conf"));
    assert!(plugin.is_file() && conf.is_file());
    assert!(std::fs::read_to_string(&conf)
        .unwrap()
        .contains(&format!("\nextra-plugin-files = {}\n", plugin.display())));
    // The C program found libatom through the rpath atom.pc gave it.
    let pc = std::fs::read_to_string(prefix.join("lib/pkgconfig/atom.pc")).unwrap();
    assert!(
        pc.contains("Libs: -L${libdir} -Wl,-rpath,${libdir} -latom"),
        "{pc}"
    );

    // The other Nix version: with only the shared nix.conf it loads nothing and says nothing;
    // with this version's file it would load the wrong plugin (the warning the README describes).
    let other = other_nix_bin().join("nix-instantiate");
    assert!(
        other.exists(),
        "{} is missing: this test checks the configuration against the other supported Nix version (run scripts/setup.sh, or set ATOM_TEST_OTHER_NIX_BIN)",
        other.display()
    );
    let shared = home.join(".config/nix/nix.conf");
    let alone = has_atom(&other, &home, shared.to_str().unwrap());
    assert!(alone.status.success(), "{}", stderr(&alone));
    assert_eq!(stdout(&alone), "false");
    assert_eq!(stderr(&alone), "");
    let wrong = has_atom(
        &other,
        &home,
        &format!("{}:{}", shared.display(), conf.display()),
    );
    assert_eq!(stdout(&wrong), "false");
    assert!(
        stderr(&wrong).contains(&format!(
            "was built for Nix {NIX_VERSION} but is loaded into Nix"
        )),
        "{}",
        stderr(&wrong)
    );
}
