//! Running the real plugin in the real Nix: shared by the plugin's integration tests.

#![allow(dead_code)]

pub use atom_test_support as support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(unused_imports)]
pub use support::{repo_root, scratch, Scratch};

/// The plugin under test, checked to be built from the current sources.
pub fn plugin() -> PathBuf {
    support::artifact(
        "libatom_nix.so",
        &["rust/atom/src", "rust/atom-nix/src", "cpp", "nix"],
    )
}

/// The Nix version the plugin under test was built against (found by its build script).
pub const NIX_VERSION: &str = env!("ATOM_NIX_VERSION");

/// Where the binaries of that Nix are (`nix-instantiate`, `nix`): set by the build script when it
/// built against a Nix other than the system's (pkg-config, `ATOM_NIX_BIN_DIR`); else `PATH`'s.
pub const NIX_BIN_DIR: Option<&str> = option_env!("ATOM_NIX_BIN_DIR");

/// The search path for the Nix commands of the tests: the Nix the plugin was built for first.
pub fn search_path() -> std::ffi::OsString {
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    match NIX_BIN_DIR {
        Some(bin) => {
            let mut path = std::ffi::OsString::from(bin);
            path.push(":");
            path.push(inherited);
            path
        }
        None => inherited,
    }
}

/// A Nix command isolated from the machine: scratch HOME and XDG directories, no user or
/// system configuration, the dummy store. `program` is looked up in [`search_path`], so the tests
/// run the Nix the plugin was built for.
pub fn nix_command(program: &str, home: &Path) -> Command {
    let program = match NIX_BIN_DIR {
        Some(bin) if Path::new(bin).join(program).exists() => Path::new(bin).join(program),
        _ => PathBuf::from(program),
    };
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", search_path())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("NIX_CONF_DIR", home.join("etc"))
        .env("NIX_REMOTE", "dummy://")
        .env("GC_INITIAL_HEAP_SIZE", "1000000");
    command
}

/// `nix-instantiate --eval --strict` of `expr` with the plugin loaded.
pub fn instantiate(expr: &str) -> Output {
    instantiate_with(expr, &[])
}

/// `nix-instantiate --eval --strict` of `expr` with the plugin and extra arguments.
pub fn instantiate_with_args(expr: &str, args: &[&str]) -> Output {
    let home = scratch("instantiate");
    let mut command = nix_command("nix-instantiate", &home);
    command
        .args(["--store", "dummy://", "--option", "plugin-files"])
        .arg(plugin())
        .args(args)
        .args(["--eval", "--strict", "--expr", expr]);
    command.output().expect("nix-instantiate runs")
}

pub fn instantiate_with(expr: &str, env: &[(&str, &str)]) -> Output {
    let home = scratch("instantiate");
    let mut command = nix_command("nix-instantiate", &home);
    command
        .args(["--store", "dummy://", "--option", "plugin-files"])
        .arg(plugin())
        .args(["--eval", "--strict", "--expr", expr]);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("nix-instantiate runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The value `expr` evaluates to, printed by Nix.
pub fn eval_ok(expr: &str) -> String {
    let output = instantiate(expr);
    assert!(
        output.status.success(),
        "{expr} failed:\n{}",
        stderr(&output)
    );
    stdout(&output)
}

/// The error `expr` fails with. Asserts a clean evaluation failure (exit 1), not a crash.
pub fn eval_err(expr: &str) -> String {
    let output = instantiate(expr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{expr}: expected an evaluation error, got {:?}\n{}{}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    stderr(&output)
}

/// A part of the README meant to be run: the `sh` blocks between the lines `begin` and `end`,
/// joined into one script, and the lines of those blocks that start with `# => ` (what the
/// command before prints), in order. Any other kind of block in the part is an error.
pub fn readme_part(begin: &str, end: &str) -> (String, Vec<String>) {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find(begin)
        .unwrap_or_else(|| panic!("the README has no {begin}"));
    let stop = start + readme[start..].find(end).expect("the part ends");
    let mut script = String::new();
    let mut outputs = Vec::new();
    let mut in_block = false;
    for line in readme[start..stop].lines() {
        if in_block {
            if line == "```" {
                in_block = false;
                continue;
            }
            if let Some(output) = line.strip_prefix("# => ") {
                outputs.push(output.to_owned());
            }
            script.push_str(line);
            script.push('\n');
        } else if line == "```sh" {
            in_block = true;
        } else {
            assert!(
                !line.starts_with("```"),
                "unexpected block {line} in {begin}"
            );
        }
    }
    (script, outputs)
}

/// Asserts that each of `expected` is a line of `out`, in order.
pub fn assert_lines_in_order(out: &str, expected: &[String], context: &str) {
    let mut lines = out.lines();
    for line in expected {
        assert!(
            lines.any(|l| l == line),
            "expected {line:?} (in order) in:\n{out}\n{context}"
        );
    }
}
