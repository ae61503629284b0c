//! libatom's remote functions from a C program, against real git servers on 127.0.0.1 (`git
//! daemon` and `git http-backend` behind lighttpd), started for the test and stopped after it.

use atom_test_support as support;
use atom_test_support::hostile;
use atom_test_support::servers;

use std::fs;
use std::process::Command;

use hostile::{Behaviour, Hostile, Protocol};
use servers::{serve_bare, Kind, Server};
use support::{atom_repo, git, repo_root, run, scratch, write};

#[test]
fn a_c_program_lists_resolves_and_fetches_over_the_network() {
    let dir = scratch("c-remote");
    let lib_dir = dir.join("lib");
    fs::create_dir_all(&lib_dir).unwrap();
    support::install_libatom(&lib_dir);
    let exe = dir.join("test_remote");
    support::compile_c(
        &repo_root().join("tests/c/remote/test_remote.c"),
        &exe,
        &[
            format!("-L{}", lib_dir.display()),
            "-latom".to_owned(),
            format!("-Wl,-rpath,{}", lib_dir.display()),
        ],
    );

    // A published set: alpha 1.0.0 and 1.1.0, beta 0.1.0.
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    atom_repo(&src);
    let repo = atom_core_publish(&src);
    // What a hostile server does to a library function must not end its host.
    let endless = Hostile::start(Behaviour::EndlessListing, Protocol::Git);
    let bomb = Hostile::start(Behaviour::DeltaBomb, Protocol::Git);
    for kind in [Kind::Daemon, Kind::Http] {
        let server = Server::start(kind, &dir.join(format!("{kind:?}")));
        let served = server.root.join("set.git");
        serve_bare(&served);
        git(
            &repo,
            &["push", "-q", served.to_str().unwrap(), "refs/*:refs/*"],
        );
        let closed = format!("git://127.0.0.1:{}/set.git", servers::free_port());
        let scratch = dir.join(format!("scratch-{kind:?}"));
        fs::create_dir_all(&scratch).unwrap();
        let stdout = run(Command::new(&exe)
            .arg(server.url("set.git"))
            .arg(&scratch)
            .arg(&closed)
            .arg(endless.url("set.git"))
            .arg(bomb.url("set.git")));
        assert!(stdout.contains(" passed, 0 failed"), "{kind:?}: {stdout}");
    }
}

/// Publishes alpha 1.0.0, beta 0.1.0, then alpha 1.1.0 in `src` through the core library (the
/// same code libatom's `atom_repo_publish` runs).
fn atom_core_publish(src: &std::path::Path) -> std::path::PathBuf {
    use atom_core::publish::publish;
    use atom_core::repo::Repo;
    let repo = Repo::open(src).unwrap();
    repo.init().unwrap();
    publish(&repo, "HEAD", &[]).unwrap();
    write(
        src,
        "pkgs/a/atom.toml",
        &support::manifest("alpha", "1.1.0"),
    );
    git(src, &["commit", "-q", "-am", "alpha 1.1.0"]);
    publish(&repo, "HEAD", &["pkgs/a".into()]).unwrap();
    src.to_owned()
}
