//! The development workflow with the real `atom` CLI and the real plugin in the real
//! `nix-instantiate`: one store location for both.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::support::{self, git, write};
use common::{nix_command, plugin, scratch, stderr, stdout};

/// The `atom` CLI, checked to be built from the current sources.
fn atom_cli() -> PathBuf {
    support::artifact("atom", &["rust/atom/src", "rust/atom-cli/src"])
}

/// Runs `atom` in `dir` with only `env` (and PATH, HOME) in its environment.
fn atom(dir: &Path, home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(atom_cli());
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("NIX_CONF_DIR", home.join("etc"))
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("atom runs")
}

fn atom_ok(dir: &Path, home: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = atom(dir, home, args, env);
    assert!(
        output.status.success(),
        "atom {args:?} failed:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// `nix-instantiate --eval --strict expr` with the plugin, isolated in `home`, with `env`.
fn eval(home: &Path, expr: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = nix_command("nix-instantiate", home);
    command
        .args(["--store", "dummy://", "--option", "plugin-files"])
        .arg(plugin())
        .args(args)
        .args(["--eval", "--strict", "--expr", expr]);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("nix-instantiate runs")
}

fn eval_ok(home: &Path, expr: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = eval(home, expr, args, env);
    assert!(output.status.success(), "{expr}:\n{}", stderr(&output));
    stdout(&output)
}

/// A manifest composed from its own directory, with `extra` appended.
fn manifest(label: &str, version: &str, extra: &str) -> String {
    format!(
        "[package]\nlabel = \"{label}\"\nversion = \"{version}\"\n{extra}\n[compose.as]\nnix = \".\"\n"
    )
}

#[test]
fn one_atom_store_setting_in_nix_configuration_serves_the_cli_and_the_plugin() {
    let dir = scratch("wf-one-store");
    let home = dir.join("home");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    write(&repo, "ekala.toml", "[set]\npackages = [\"lib\"]\n");
    write(&repo, "lib/atom.toml", &manifest("lib", "1.0.0", ""));
    write(&repo, "lib/mod.nix", "{ Greeting = \"hello from lib\"; }\n");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "lib"]);
    let store = dir.join("configured-store");
    let config = format!("atom-store = {}", store.display());
    let env = [("NIX_CONFIG", config.as_str())];
    atom_ok(&repo, &home, &["publish"], &env);
    let url = format!("file://{}", repo.display());
    atom_ok(&dir, &home, &["fetch", &url], &env);
    assert!(store.is_dir(), "atom fetch filled the configured store");
    let app = dir.join("app");
    write(
        &app,
        "atom.toml",
        &format!(
            "{}\n[deps.from.here]\nlib = \"^1\"\n",
            manifest(
                "app",
                "0.1.0",
                &format!("\n[package.sets]\nhere = \"{url}\"\n")
            )
        ),
    );
    write(
        &app,
        "mod.nix",
        "{ Message = deps.from.here.lib.greeting; }\n",
    );
    atom_ok(&app, &home, &["lock"], &env);
    let expr = format!("(builtins.atom.import {}).message", app.display());
    assert_eq!(eval_ok(&home, &expr, &[], &env), "\"hello from lib\"");
    // Without the setting, the plugin looks elsewhere and says how to fill that store.
    let output = eval(&home, &expr, &[], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("the atom store has no repository for the set"),
        "{}",
        stderr(&output)
    );
}
