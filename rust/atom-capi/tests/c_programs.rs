//! Compiles the C programs under `tests/c/` against `include/atom.h`, links them against the real
//! libatom (shared, through its SONAME, and static), and runs them.

use atom_test_support as support;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use support::{repo_root, run, scratch, Scratch};

/// Sources libatom is built from.
const SOURCES: &[&str] = &["rust/atom/src", "rust/atom-capi/src"];

/// A library directory laid out as an install would: `libatom.so.0` (the SONAME) and the
/// development link `libatom.so` pointing at it. Made once per test process.
fn shared_lib_dir() -> PathBuf {
    // Kept for the process (a static is never dropped): every test links against it.
    static DIR: OnceLock<Scratch> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("libatom");
        support::install_libatom(&dir);
        dir
    })
    .to_path_buf()
}

/// The arguments every C program gets: the bundled example atom's directory, a fresh git
/// repository holding atoms (see `support::atom_repo`), a scratch directory, then a repository
/// whose atoms are published and signed with a new SSH key, and that key's fingerprint. The
/// directories live as long as the value.
struct ProgramArgs {
    args: Vec<PathBuf>,
    _dirs: [Scratch; 3],
}

fn program_args() -> ProgramArgs {
    let repo = scratch("c-repo");
    support::atom_repo(&repo);
    let (signed, fingerprint) = signed_repo();
    let work = scratch("c-scratch");
    ProgramArgs {
        args: vec![
            repo_root().join("nix/examples/hello"),
            repo.to_path_buf(),
            work.to_path_buf(),
            signed.to_path_buf(),
            PathBuf::from(fingerprint),
        ],
        _dirs: [repo, work, signed],
    }
}

/// A repository holding atoms, published and signed (by the core, as `atom publish` signs) with
/// a key made by `ssh-keygen`; and the key's fingerprint as `ssh-keygen -l` prints it.
fn signed_repo() -> (Scratch, String) {
    let repo = scratch("c-signed");
    support::atom_repo(&repo);
    let keys = scratch("c-signing-key");
    let key = keys.join("signing.key");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key));
    let listed = run(Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("key.pub")));
    let fingerprint = listed.split_whitespace().nth(1).unwrap().to_owned();
    let key = atom_core::sign::SigningKey::file(&key);
    let signing = atom_core::publish::Signing {
        key: &key,
        tagger: "Test <test@example.org>".to_owned(),
        time: 0,
    };
    let published = atom_core::repo::Repo::open(&repo).unwrap();
    published.init().unwrap();
    atom_core::publish::publish_signed(&published, "HEAD", &[], Some(&signing)).unwrap();
    (repo, fingerprint)
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
        support::compile_c(&source, &exe, &link);
        let stdout = run(Command::new(&exe).args(&program_args().args));
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
            // The network transport's HTTP client is the system's libcurl, and its TLS library
            // OpenSSL, which the core initialises itself.
            "-lcurl".to_owned(),
            "-lssl".to_owned(),
            "-lcrypto".to_owned(),
            "-lpthread".to_owned(),
            "-ldl".to_owned(),
            "-lm".to_owned(),
            "-lgcc_s".to_owned(),
        ];
        support::compile_c(&source, &exe, &link);
        let stdout = run(Command::new(&exe).args(&program_args().args));
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
    support::compile_c(&repo_root().join("tests/c/test_id.c"), &exe, &link);
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

#[test]
fn the_library_exports_exactly_the_atom_functions() {
    let symbols = run(Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(support::artifact("libatom.so", SOURCES)));
    let names: Vec<&str> = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert!(names.len() >= 20, "{symbols}");
    let foreign: Vec<&&str> = names.iter().filter(|n| !n.starts_with("atom_")).collect();
    assert!(foreign.is_empty(), "symbols outside atom_*: {foreign:?}");
    // Every function the header declares is exported, and nothing else.
    let header = fs::read_to_string(repo_root().join("include/atom.h")).unwrap();
    // Declarations are the lines (outside comments) of the form `<type> atom_<name>(...`.
    let mut declared: Vec<String> = header
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with('/') && !l.starts_with('*'))
        .filter_map(|l| {
            let start = l.find(" atom_").or_else(|| l.find("*atom_"))? + 1;
            let name = &l[start..];
            let end = name.find('(')?;
            let name = &name[..end];
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                .then(|| name.to_owned())
        })
        .collect();
    declared.sort();
    let mut exported: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    exported.sort();
    assert_eq!(declared, exported);
}

#[test]
fn c_programs_are_clean_under_valgrind() {
    let lib = shared_lib_dir();
    for source in c_programs() {
        let exe = lib.join(format!(
            "{}-valgrind",
            source.file_stem().unwrap().to_str().unwrap()
        ));
        let link = [
            format!("-L{}", lib.display()),
            "-latom".to_owned(),
            format!("-Wl,-rpath,{}", lib.display()),
        ];
        support::compile_c(&source, &exe, &link);
        let output = Command::new("valgrind")
            .args([
                "--error-exitcode=99",
                "--leak-check=full",
                // "Possibly lost" blocks are process-lifetime globals of the Rust runtime and of
                // gix's lock-file registry (pointers into their middle); real leaks are
                // "definitely" or "indirectly" lost.
                "--errors-for-leak-kinds=definite,indirect",
                "--quiet",
            ])
            .arg(&exe)
            .args(&program_args().args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{}: valgrind reported errors or leaks ({}):\n{stderr}",
            source.display(),
            output.status
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains(" passed, 0 failed"));
    }
}

/// `scripts/install.sh` (libatom alone, from the current build) under a scratch prefix: the C
/// program built with `pkg-config --cflags --libs atom` runs without `LD_LIBRARY_PATH`, through
/// the rpath the `.pc` file carries for a prefix the dynamic loader does not search.
#[test]
fn an_installed_copy_works_through_pkg_config_without_ld_library_path() {
    support::artifact("libatom.so", SOURCES);
    let prefix = scratch("prefix");
    run(Command::new(repo_root().join("scripts/install.sh"))
        .args(["--no-build", "--no-cli", "--no-plugin", "--profile"])
        .arg(if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        })
        .arg(&prefix));
    for file in [
        "lib/libatom.so.0",
        "lib/libatom.so",
        "lib/libatom.a",
        "include/atom.h",
        "lib/pkgconfig/atom.pc",
    ] {
        assert!(prefix.join(file).exists(), "{file} was not installed");
    }
    let flags = run(Command::new("pkg-config")
        .args(["--cflags", "--libs", "atom"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
    assert!(
        flags.contains(&format!("-Wl,-rpath,{}/lib", prefix.display())),
        "{flags}"
    );
    let exe = prefix.join("test_id");
    run(Command::new("cc")
        .arg(repo_root().join("tests/c/test_id.c"))
        .arg("-I")
        .arg(repo_root().join("tests/c"))
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace()));
    let stdout = run(Command::new(&exe).env_remove("LD_LIBRARY_PATH"));
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // `pkg-config --static` adds what the static library needs (Libs.private).
    let flags = run(Command::new("pkg-config")
        .args(["--static", "--cflags", "--libs", "atom"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
    assert!(flags.contains("-lcurl"), "{flags}");
}

/// `scripts/install.sh` into a system prefix (`/usr/local`, a directory the dynamic loader
/// searches): `atom.pc` carries no rpath, `ldconfig` is run, and a program built through
/// pkg-config's default search path runs without `LD_LIBRARY_PATH`. The machine is not touched:
/// everything happens in a private mount namespace (`unshare --mount`) with a tmpfs over
/// `/usr/local` and a copy of `/etc` (where `ldconfig` writes its cache). Needs root, as the test
/// command runs; as another user it says so and checks nothing.
#[test]
fn a_system_prefix_is_found_through_ldconfig() {
    let uid = run(Command::new("id").arg("-u"));
    if uid.trim() != "0" {
        eprintln!("not root: the ldconfig install is not checked (it needs a mount namespace)");
        return;
    }
    support::artifact("libatom.so", SOURCES);
    let dir = scratch("system-prefix");
    let system_copy = std::path::Path::new("/usr/local/lib/libatom.so.0");
    let installed_before = system_copy.exists();
    let script = r#"
set -euo pipefail
dir=$1 root=$2 profile=$3
mkdir "$dir/etc" && cp -a /etc/. "$dir/etc/"
mount --bind "$dir/etc" /etc
mount -t tmpfs tmpfs /usr/local
"$root/scripts/install.sh" --no-build --no-cli --no-plugin --profile "$profile" /usr/local
grep '^Libs: ' /usr/local/lib/pkgconfig/atom.pc
ldconfig -p | grep 'libatom\.so\.0 '
env -u PKG_CONFIG_PATH cc "$root/tests/c/test_id.c" -I "$root/tests/c" -o "$dir/test_id" \
  $(env -u PKG_CONFIG_PATH pkg-config --cflags --libs atom)
env -u LD_LIBRARY_PATH "$dir/test_id"
"#;
    let output = run(Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            script,
            "bash",
        ])
        .arg(&dir)
        .arg(repo_root())
        .arg(if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }));
    assert!(
        output.contains(
            "install: ran ldconfig: the dynamic loader finds libatom.so.0 in /usr/local/lib"
        ),
        "{output}"
    );
    assert!(
        output.contains("\nLibs: -L${libdir} -latom\n"),
        "no rpath for a system prefix: {output}"
    );
    assert!(
        output.contains(") => /usr/local/lib/libatom.so.0"),
        "{output}"
    );
    assert!(output.contains(" passed, 0 failed"), "{output}");
    // pkg-config's default path covers /usr/local: no PKG_CONFIG_PATH hint.
    assert!(!output.contains("export PKG_CONFIG_PATH"), "{output}");
    // Nothing leaked out of the namespace.
    assert_eq!(installed_before, system_copy.exists());
}
