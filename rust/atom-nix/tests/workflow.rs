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
    write(&repo, "lib/atom.lock", support::TRIVIAL_LOCK);
    write(
        &repo,
        "lib/default.nix",
        "{ greeting = \"hello from lib\"; }\n",
    );
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

/// A repository with `ekala.toml` listing `lib` (published 1.0.0) and `app` (depending on `lib`
/// of this repository, `::`, locked), made with `atom new`, `atom add`; returns the repository.
fn two_atoms(dir: &Path, home: &Path, env: &[(&str, &str)]) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    atom_ok(&repo, home, &["new", "lib"], env);
    write(&repo, "lib/default.nix", "{ greeting = \"published\"; }\n");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "lib"]);
    atom_ok(&repo, home, &["publish"], env);
    atom_ok(&repo, home, &["new", "app"], env);
    atom_ok(&repo, home, &["add", "::lib", "--path", "app"], env);
    write(
        &repo,
        "app/default.nix",
        "{ message = \"app sees: ${atoms.deps.from.local.lib.greeting}\"; }\n",
    );
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "app"]);
    repo
}

#[test]
fn atoms_of_this_repository_load_from_its_working_tree_without_a_store() {
    let dir = scratch("wf-local");
    let home = dir.join("home");
    // The store is empty and stays so: nothing is fetched.
    let store = dir.join("empty-store");
    let config = format!("atom-store = {}", store.display());
    let env = [("NIX_CONFIG", config.as_str())];
    let repo = two_atoms(&dir, &home, &env);
    let expr = format!(
        "(builtins.atom.import {}).message",
        repo.join("app").display()
    );
    assert_eq!(eval_ok(&home, &expr, &[], &env), "\"app sees: published\"");
    // Edit lib, evaluate app: no publish, no fetch.
    write(&repo, "lib/default.nix", "{ greeting = \"edited\"; }\n");
    assert_eq!(eval_ok(&home, &expr, &[], &env), "\"app sees: edited\"");
    assert!(!store.exists(), "the store was not needed");
    // Errors name the working copy.
    write(
        &repo,
        "lib/default.nix",
        "{ greeting = throw \"broken\"; }\n",
    );
    let output = eval(&home, &expr, &[], &env);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    let lib = std::fs::canonicalize(repo.join("lib")).unwrap();
    assert!(
        err.contains(&format!("lib-0.1.0 (local: {})", lib.display())),
        "{err}"
    );
}

#[test]
fn a_local_override_replaces_a_locked_atom_and_says_so() {
    let dir = scratch("wf-override");
    let home = dir.join("home");
    let store = dir.join("store");
    let config = format!("atom-store = {}", store.display());
    let env = [("NIX_CONFIG", config.as_str())];
    let repo = two_atoms(&dir, &home, &env);
    // A consumer outside the repository, from the store.
    let url = format!("file://{}", repo.display());
    atom_ok(&dir, &home, &["fetch", &url], &env);
    let user = dir.join("user");
    // `atom new` lists the atom in the ekala.toml of the repository it is in: this one.
    git(&dir, &["init", "-q"]);
    atom_ok(&dir, &home, &["new", "user"], &env);
    write(
        &user,
        "default.nix",
        "{ message = atoms.deps.from.repo.lib.greeting; }\n",
    );
    atom_ok(
        &dir,
        &home,
        &["add", &format!("{url}::lib"), "--path", "user"],
        &env,
    );
    let expr = format!("(builtins.atom.import {}).message", user.display());
    assert_eq!(eval_ok(&home, &expr, &[], &env), "\"published\"");
    // A working copy of lib, elsewhere.
    let copy = dir.join("lib-copy");
    write(
        &copy,
        "atom.toml",
        &std::fs::read_to_string(repo.join("lib/atom.toml")).unwrap(),
    );
    write(&copy, "mod.nix", "{ Greeting = \"from my copy\"; }\n");
    let spec = format!("lib={}", copy.display());
    let with_env = [
        ("NIX_CONFIG", config.as_str()),
        ("ATOM_OVERRIDE", spec.as_str()),
    ];
    assert_eq!(eval_ok(&home, &expr, &[], &with_env), "\"from my copy\"");
    assert_eq!(
        eval_ok(&home, &expr, &["--option", "atom-override", &spec], &env),
        "\"from my copy\""
    );
    // Visible in errors, so that nobody ships it by accident.
    write(&copy, "mod.nix", "{ Greeting = throw \"unfinished\"; }\n");
    let output = eval(&home, &expr, &[], &with_env);
    let err = stderr(&output);
    assert!(
        err.contains(&format!("lib-0.1.0 (overridden: {})", copy.display())),
        "{err}"
    );
    let output = eval(&home, &expr, &["--option", "atom-override", "lib"], &env);
    assert!(
        stderr(&output).contains("invalid atom override \"lib\": expected label=path"),
        "{}",
        stderr(&output)
    );
    // A label the graph does not load (a typo) is an error, not silently nothing.
    let typo = format!("lbi={}", copy.display());
    let output = eval(&home, &expr, &["--option", "atom-override", &typo], &env);
    assert!(
        stderr(&output).contains(&format!(
            "the atom override lbi={} names no atom this evaluation loads (its atoms: lib, user)",
            copy.display()
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_missing_member_is_explained_by_a_private_file_or_a_directory_without_mod_nix() {
    let dir = scratch("wf-member-hints");
    let home = dir.join("home");
    let atom_dir = dir.join("hints");
    write(&atom_dir, "atom.toml", &manifest("hints", "0.1.0", ""));
    write(
        &atom_dir,
        "mod.nix",
        "{ Viaatom = atom.greet \"x\"; Viamod = mod.util.helper; }\n",
    );
    write(&atom_dir, "greet.nix", "name: \"hello ${name}\"\n");
    write(&atom_dir, "util/Helper.nix", "1\n");
    let import = format!("(builtins.atom.import {})", atom_dir.display());
    let err = stderr(&eval(&home, &format!("{import}.viaatom"), &[], &[]));
    assert!(
        err.contains("attribute 'greet' missing")
            && err.contains("(hint: greet.nix is private to its atom: only names that start with a capital letter are public; rename it Greet.nix to export it as `greet`)"),
        "{err}"
    );
    let err = stderr(&eval(&home, &format!("{import}.viamod"), &[], &[]));
    assert!(
        err.contains("(hint: util/ is not a module: a directory is a module (and a member of its parent) only when it has a mod.nix; add util/mod.nix)"),
        "{err}"
    );
}

#[test]
fn an_unpublished_atom_of_this_repository_is_locked_local_only_and_evaluated_from_its_working_tree()
{
    let dir = scratch("wf-local-only");
    let home = dir.join("home");
    let store = dir.join("empty-store");
    let config = format!("atom-store = {}", store.display());
    let env = [("NIX_CONFIG", config.as_str())];
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    atom_ok(&repo, &home, &["new", "lib"], &env);
    atom_ok(&repo, &home, &["new", "app"], &env);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "lib and app"]);
    atom_ok(&repo, &home, &["init"], &env);
    let root = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "refs/ekala/init"])
            .current_dir(&repo)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let root = root.trim();
    // lib was never published: app locks it from the working tree, without a rev.
    let out = atom_ok(&repo, &home, &["add", "::lib", "--path", "app"], &env);
    assert!(out.contains("locked at 0.1.0"), "{out}");
    let lock = std::fs::read_to_string(repo.join("app/atom.lock")).unwrap();
    // As the reference writes it: `<version>-local`, no rev, no mirror.
    assert!(
        lock.contains(&format!(
            "[[deps]]\ntype = \"atom\"\nlabel = \"lib\"\nversion = \"0.1.0-local\"\nset = \"{root}\"\nid = \""
        )),
        "{lock}"
    );
    atom_ok(&repo, &home, &["lock", "app", "--check"], &env);
    write(
        &repo,
        "app/default.nix",
        "{ message = atoms.deps.from.local.lib.hello; }\n",
    );
    let expr = format!(
        "(builtins.atom.import {}).message",
        repo.join("app").display()
    );
    assert_eq!(eval_ok(&home, &expr, &[], &env), "\"hello from lib\"");
    // Publishing app waits for lib.
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "app uses lib"]);
    let refused = atom(&repo, &home, &["publish", "app"], &env);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused).contains("its atom.lock pins lib 0.1.0-local from this repository's working tree (it was not published when the lock was written): publish lib first"),
        "{}",
        stdout(&refused)
    );
    atom_ok(&repo, &home, &["publish", "lib"], &env);
    atom_ok(&repo, &home, &["lock", "app"], &env);
    assert!(std::fs::read_to_string(repo.join("app/atom.lock"))
        .unwrap()
        .contains("rev = "));
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "app locked"]);
    let published = atom(&repo, &home, &["publish", "app"], &env);
    assert!(published.status.success(), "{}", stderr(&published));
    // Published, with a warning: the reference's loader cannot fetch a `::`-only dependency.
    assert!(
        stderr(&published).contains(
            "warning: app: its atom.lock pins lib 0.1.0 from a \"::\" set without a mirror URL"
        ),
        "{}",
        stderr(&published)
    );
    assert!(!store.exists());
}

#[test]
fn a_stale_store_says_when_and_from_where_it_was_last_fetched() {
    let dir = scratch("wf-stale-store");
    let home = dir.join("home");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    write(&repo, "ekala.toml", "[set]\npackages = [\"lib\"]\n");
    write(&repo, "lib/atom.toml", &manifest("lib", "1.0.0", ""));
    write(&repo, "lib/atom.lock", support::TRIVIAL_LOCK);
    write(&repo, "lib/default.nix", "{ greeting = \"one\"; }\n");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "lib 1"]);
    let old_store = dir.join("old-store");
    let new_store = dir.join("new-store");
    let with_store = |store: &Path| format!("atom-store = {}", store.display());
    let (old_config, new_config) = (with_store(&old_store), with_store(&new_store));
    let old_env = [("NIX_CONFIG", old_config.as_str())];
    let new_env = [("NIX_CONFIG", new_config.as_str())];
    atom_ok(&repo, &home, &["publish"], &old_env);
    let url = format!("file://{}", repo.display());
    atom_ok(&dir, &home, &["fetch", &url], &old_env);
    write(&repo, "lib/atom.toml", &manifest("lib", "2.0.0", ""));
    git(&repo, &["commit", "-q", "-am", "lib 2"]);
    atom_ok(&repo, &home, &["publish"], &new_env);
    atom_ok(&dir, &home, &["fetch", &url], &new_env);
    let app = dir.join("app");
    write(
        &app,
        "atom.toml",
        &format!(
            "{}\n[deps.from.repo]\nlib = \"^2\"\n",
            manifest(
                "app",
                "0.1.0",
                &format!("\n[package.sets]\nrepo = \"{url}\"\n")
            )
        ),
    );
    write(&app, "mod.nix", "{ G = deps.from.repo.lib.greeting; }\n");
    atom_ok(&app, &home, &["lock"], &new_env);
    let expr = format!("(builtins.atom.import {}).g", app.display());
    assert_eq!(eval_ok(&home, &expr, &[], &new_env), "\"one\"");
    // The old store has the set, fetched before lib 2.0.0 was published.
    let output = eval(&home, &expr, &[], &old_env);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("lib-2.0.0 (pinned by app-0.1.0) is not in the atom store: its commit ")
            && err.contains(&format!("(it was last fetched from {url} on "))
            && err.contains(&format!("UTC); update the store with `atom fetch {url}`")),
        "{err}"
    );
}

#[test]
fn the_atom_store_is_found_in_the_documented_order_by_the_plugin_and_the_cli() {
    // docs/design.md#the-atom-store: --option (the CLI's --store), then Nix's configuration with
    // later sources winning (nix.conf, the user's files, NIX_CONFIG), then $ATOM_STORE. Each
    // case names the store that must win and points every other source at a store that must stay
    // absent: `atom fetch` fills the winner, and the plugin reads the set from it.
    let dir = scratch("wf-store-order");
    let home = dir.join("home");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    write(&repo, "ekala.toml", "[set]\npackages = [\"lib\"]\n");
    write(&repo, "lib/atom.toml", &manifest("lib", "1.0.0", ""));
    write(&repo, "lib/atom.lock", support::TRIVIAL_LOCK);
    write(&repo, "lib/mod.nix", "{ }\n");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "lib"]);
    let scratch_store = dir.join("publish-store");
    let env = [("ATOM_STORE", scratch_store.to_str().unwrap())];
    atom_ok(&repo, &home, &["publish"], &env);
    let root = git(&repo, &["rev-parse", "refs/ekala/init"]);
    let url = format!("file://{}", repo.display());
    let versions = format!("builtins.atom.versions {{ set = \"{root}\"; label = \"lib\"; }}");

    struct Case {
        name: &'static str,
        system: bool,     // nix.conf in NIX_CONF_DIR
        user: bool,       // two files in NIX_USER_CONF_FILES, the first listed winning
        nix_config: bool, // NIX_CONFIG
        option: bool,     // --option atom-store (the CLI: --store)
        atom_store: bool, // $ATOM_STORE
    }
    let cases = [
        Case {
            name: "atom-store-variable",
            system: false,
            user: false,
            nix_config: false,
            option: false,
            atom_store: true,
        },
        Case {
            name: "system",
            system: true,
            user: false,
            nix_config: false,
            option: false,
            atom_store: true,
        },
        Case {
            name: "user",
            system: true,
            user: true,
            nix_config: false,
            option: false,
            atom_store: true,
        },
        Case {
            name: "nix-config",
            system: true,
            user: true,
            nix_config: true,
            option: false,
            atom_store: true,
        },
        Case {
            name: "option",
            system: true,
            user: true,
            nix_config: true,
            option: true,
            atom_store: true,
        },
    ];
    for case in cases {
        let base = dir.join(case.name);
        let store = |name: &str| base.join(format!("store-{name}"));
        // The most important source given wins; each other one names a store of its own.
        let winner = if case.option {
            "option"
        } else if case.nix_config {
            "nix-config"
        } else if case.user {
            "user-first"
        } else if case.system {
            "system"
        } else {
            "atom-store-variable"
        };
        let etc = base.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        let conf = |name: &str| format!("# {name}\natom-store = {}\n", store(name).display());
        let mut env: Vec<(String, String)> =
            vec![("NIX_CONF_DIR".into(), etc.display().to_string())];
        if case.system {
            std::fs::write(etc.join("nix.conf"), conf("system")).unwrap();
        }
        if case.user {
            let first = base.join("user-first.conf");
            let second = base.join("user-second.conf");
            std::fs::write(&first, conf("user-first")).unwrap();
            std::fs::write(&second, conf("user-second")).unwrap();
            env.push((
                "NIX_USER_CONF_FILES".into(),
                format!("{}:{}", first.display(), second.display()),
            ));
        }
        if case.nix_config {
            env.push(("NIX_CONFIG".into(), conf("nix-config")));
        }
        if case.atom_store {
            env.push((
                "ATOM_STORE".into(),
                store("atom-store-variable").display().to_string(),
            ));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let option_store = store("option").display().to_string();
        let mut fetch = vec!["fetch", url.as_str()];
        let mut nix_args = vec![];
        if case.option {
            fetch.extend(["--store", option_store.as_str()]);
            nix_args.extend(["--option", "atom-store", option_store.as_str()]);
        }
        atom_ok(&dir, &home, &fetch, &env);
        let filled: Vec<String> = std::fs::read_dir(&base)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("store-"))
            .collect();
        assert_eq!(
            filled,
            [format!("store-{winner}")],
            "{}: atom fetch",
            case.name
        );
        let output = eval(&home, &versions, &nix_args, &env);
        assert!(
            output.status.success(),
            "{}: the plugin did not read store-{winner}:\n{}",
            case.name,
            stderr(&output)
        );
        assert_eq!(stdout(&output), "[ \"1.0.0\" ]", "{}", case.name);
    }
}
