//! Compiles the C programs under `tests/c/` against `include/atom.h`, links them against the real
//! libatom (shared, through its SONAME, and static), and runs them.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::{repo_root, run, scratch};

/// Sources libatom is built from.
const SOURCES: &[&str] = &["rust/atom/src", "rust/atom-capi/src"];

/// A library directory laid out as an install would: `libatom.so.0` (the SONAME) and the
/// development link `libatom.so` pointing at it. Made once per test process.
fn shared_lib_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("libatom");
        fs::copy(
            support::artifact("libatom.so", SOURCES),
            dir.join("libatom.so.0"),
        )
        .unwrap();
        symlink("libatom.so.0", dir.join("libatom.so")).unwrap();
        dir
    })
    .clone()
}

/// The arguments every C program gets: the bundled example atom's directory, a fresh git
/// repository holding atoms (see `support::atom_repo`), and a scratch directory.
fn program_args() -> Vec<PathBuf> {
    let repo = scratch("c-repo");
    support::atom_repo(&repo);
    vec![
        repo_root().join("nix/examples/hello"),
        repo,
        scratch("c-scratch"),
    ]
}

fn c_programs() -> Vec<PathBuf> {
    let mut programs: Vec<_> = fs::read_dir(repo_root().join("tests/c"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    programs.sort();
    assert!(!programs.is_empty(), "no C programs found under tests/c");
    programs
}

fn compile(source: &Path, output: &Path, link: &[String]) {
    let root = repo_root();
    run(Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(root.join("include"))
        .arg("-I")
        .arg(root.join("tests/c"))
        .arg(source)
        .arg("-o")
        .arg(output)
        .args(link));
}

#[test]
fn c_programs_pass_against_the_shared_library() {
    let lib = shared_lib_dir();
    for source in c_programs() {
        let exe = lib.join(source.file_stem().unwrap());
        let link = [
            format!("-L{}", lib.display()),
            "-latom".to_owned(),
            format!("-Wl,-rpath,{}", lib.display()),
        ];
        compile(&source, &exe, &link);
        let stdout = run(Command::new(&exe).args(program_args()));
        assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
        print!("{}: {stdout}", source.display());
    }
}

#[test]
fn c_programs_pass_against_the_static_library() {
    let dir = scratch("static");
    for source in c_programs() {
        let exe = dir.join(source.file_stem().unwrap());
        let link = [
            support::artifact("libatom.a", SOURCES)
                .display()
                .to_string(),
            "-lpthread".to_owned(),
            "-ldl".to_owned(),
            "-lm".to_owned(),
            "-lgcc_s".to_owned(),
        ];
        compile(&source, &exe, &link);
        let stdout = run(Command::new(&exe).args(program_args()));
        assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    }
}

#[test]
fn the_c_example_prints_a_spec_vector() {
    let lib = shared_lib_dir();
    let exe = lib.join("test_id_vector");
    let link = [
        format!("-L{}", lib.display()),
        "-latom".to_owned(),
        format!("-Wl,-rpath,{}", lib.display()),
    ];
    compile(&repo_root().join("tests/c/test_id.c"), &exe, &link);
    let stdout = run(&mut Command::new(&exe));
    assert!(
        stdout.contains(
            "AtomId(68b63bd131acd23bdfd57983fe85ba7c092ce02f, atom-nix) = \
             r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0"
        ),
        "{stdout}"
    );
}

#[test]
fn header_compiles_as_cplusplus() {
    let dir = scratch("cplusplus");
    let source = dir.join("header_check.cc");
    fs::write(
        &source,
        "#include \"atom.h\"\nint main() { return atom_abi_version() == 0 ? 1 : 0; }\n",
    )
    .unwrap();
    run(Command::new("c++")
        .args([
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsyntax-only",
            "-I",
        ])
        .arg(repo_root().join("include"))
        .arg(&source));
}

#[test]
fn shared_library_has_a_versioned_soname() {
    let dynamic = run(Command::new("readelf")
        .arg("-d")
        .arg(support::artifact("libatom.so", SOURCES)));
    assert!(
        dynamic.contains("Library soname: [libatom.so.0]"),
        "{dynamic}"
    );
}
