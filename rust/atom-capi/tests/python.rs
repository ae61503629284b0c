//! The Python package `python/` as a user meets it: a fresh venv (`python3 -m venv`), `pip
//! install ./python` without any package index, then its tests (`python/tests`) run by the venv's
//! interpreter against the real libatom, real git repositories and a real `git daemon`.

use atom_test_support as support;
use atom_test_support::servers;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use servers::{serve_bare, Kind, Server};
use support::{atom_repo, git, repo_root, run, scratch, write};

/// `pip` with no user or site configuration and no package index: installing must need nothing
/// but the venv and the package's directory.
fn pip(venv: &Path) -> Command {
    let mut pip = Command::new(venv.join("bin/pip"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PIP_") {
            pip.env_remove(key);
        }
    }
    pip.env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_CACHE_DIR", "1");
    pip
}

fn venv(dir: &Path) -> PathBuf {
    let venv = dir.join("venv");
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    venv
}

/// Publishes alpha 1.0.0, beta 0.1.0 and alpha 1.1.0 in a new repository under `dir` and serves
/// it from a `git daemon`; returns the server and the set's URL.
fn served_set(dir: &Path) -> (Server, String) {
    use atom_core::publish::publish;
    use atom_core::repo::Repo;
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    atom_repo(&src);
    let repo = Repo::open(&src).unwrap();
    repo.init().unwrap();
    publish(&repo, "HEAD", &[]).unwrap();
    write(
        &src,
        "pkgs/a/atom.toml",
        &support::manifest("alpha", "1.1.0"),
    );
    git(&src, &["commit", "-q", "-am", "alpha 1.1.0"]);
    publish(&repo, "HEAD", &["pkgs/a".into()]).unwrap();
    let server = Server::start(Kind::Daemon, &dir.join("daemon"));
    let served = server.root.join("set.git");
    serve_bare(&served);
    git(
        &src,
        &["push", "-q", served.to_str().unwrap(), "refs/*:refs/*"],
    );
    let url = server.url("set.git");
    (server, url)
}

#[test]
fn pip_installs_the_package_offline_and_its_tests_pass() {
    let dir = scratch("python");
    let lib_dir = dir.join("lib");
    fs::create_dir_all(&lib_dir).unwrap();
    support::install_libatom(&lib_dir);
    let venv = venv(&dir);

    run(pip(&venv).arg("install").arg(repo_root().join("python")));
    let shown = run(pip(&venv).args(["show", "libatom"]));
    assert!(
        shown.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "the package's version is the workspace's: {shown}"
    );

    let (_server, url) = served_set(&dir);
    // Run from an unrelated directory, so that only the installed package can be imported.
    let output = Command::new(venv.join("bin/python"))
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(repo_root().join("python/tests"))
        .current_dir(&dir)
        .env("ATOM_LIBATOM", lib_dir.join("libatom.so.0"))
        .env("ATOM_TEST_REMOTE", &url)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("PKG_CONFIG_PATH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    print!("{stderr}");
    // Every test ran: none was skipped (the git server's test needs ATOM_TEST_REMOTE, the
    // loading tests a `libatom.so.0`).
    assert!(
        stderr.contains("\nOK\n") && !stderr.contains("skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("test_a_git_server") && stderr.contains("test_through_pkg_config"),
        "{stderr}"
    );
}

#[test]
fn the_wheel_is_reproducible_and_holds_only_the_package() {
    let dir = scratch("python-wheel");
    let venv = venv(&dir);
    let mut wheels = Vec::new();
    for n in 0..2 {
        let out = dir.join(format!("wheel{n}"));
        run(pip(&venv)
            .args(["wheel", "--no-deps", "-w"])
            .arg(&out)
            .arg(repo_root().join("python")));
        let name = format!("libatom-{}-py3-none-any.whl", env!("CARGO_PKG_VERSION"));
        wheels.push(fs::read(out.join(&name)).unwrap());
    }
    assert_eq!(wheels[0], wheels[1], "two builds of the wheel differ");
    let listing = run(Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(dir.join("wheel0").join(format!(
            "libatom-{}-py3-none-any.whl",
            env!("CARGO_PKG_VERSION")
        ))));
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        [
            "libatom/__init__.py".to_owned(),
            "libatom/_ffi.py".to_owned(),
            format!("libatom-{version}.dist-info/METADATA"),
            format!("libatom-{version}.dist-info/WHEEL"),
            format!("libatom-{version}.dist-info/RECORD"),
        ]
    );
}

#[test]
fn the_package_covers_every_function_of_the_header() {
    let header = fs::read_to_string(repo_root().join("include/atom.h")).unwrap();
    let ffi = fs::read_to_string(repo_root().join("python/src/libatom/_ffi.py")).unwrap();
    let api = fs::read_to_string(repo_root().join("python/src/libatom/__init__.py")).unwrap();
    let declared: Vec<&str> = header
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('/') && !l.starts_with('#'))
        .filter_map(|l| {
            // `<type> atom_<name>(...`: the word before the parenthesis.
            let name = l[..l.find('(')?].split_whitespace().last()?;
            name.starts_with("atom_").then_some(name)
        })
        .collect();
    assert!(declared.len() >= 28, "{declared:?}");
    for name in declared {
        assert!(
            ffi.contains(&format!("\"{name}\": (")),
            "python/src/libatom/_ffi.py has no prototype for {name}"
        );
        // atom_abi_version, atom_last_error_message, atom_string_free and atom_repo_free are
        // called as attributes; every other function by name through `_call`.
        assert!(
            api.contains(&format!("\"{name}\"")) || api.contains(&format!(".{name}(")),
            "python/src/libatom/__init__.py does not call {name}"
        );
    }
    for name in ["MAJOR", "MINOR"] {
        let define = header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define ATOM_ABI_{name} ")))
            .unwrap();
        assert!(
            ffi.contains(&format!("\nABI_{name} = {define}\n")),
            "python/src/libatom/_ffi.py: ABI_{name} is not {define}, as in include/atom.h"
        );
    }
    let pyproject = fs::read_to_string(repo_root().join("python/pyproject.toml")).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(pyproject.contains(&format!("\nversion = \"{version}\"\n")));
    assert!(api.contains(&format!("\n__version__ = \"{version}\"\n")));
}
