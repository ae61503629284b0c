//! libatom's ABI, checked against the committed baseline `rust/atom-capi/abi/libatom.abi` with
//! libabigail (Debian's `abigail-tools`): `abidw` describes the freshly built `libatom.so`, and
//! `abidiff` compares the baseline with it. The test fails when a function was removed or changed
//! (its parameters, its return type, a type they reach) while the SONAME stayed the same; added
//! functions are compatible. An incompatible change has to bump `ATOM_ABI_MAJOR` (src/lib.rs and
//! build.rs), which changes the SONAME.
//!
//! After an intended change (a new function, or a new major version), update the baseline with
//! `cargo build --workspace && ATOM_BLESS=1 cargo test -p atom-capi --test abi` and commit it.
//!
//! The description is deterministic: no paths, no locations, type ids by hash. What it leaves out
//! is in `abi/abidw.suppr`; what the comparison ignores (the layout of the opaque `atom_repo`) in
//! `abi/abidiff.suppr`.

use atom_test_support as support;

use std::path::Path;
use std::process::Command;

/// Describes `library` into `out` with `abidw`, deterministically (no paths, no locations, type
/// ids by hash), leaving out what `abi/abidw.suppr` names.
fn abidw(abi_dir: &Path, library: &Path, out: &Path) {
    let output = Command::new("abidw")
        .args([
            "--no-corpus-path",
            "--no-comp-dir-path",
            "--no-show-locs",
            "--drop-undefined-syms",
            "--type-id-style",
            "hash",
            "--suppressions",
        ])
        .arg(abi_dir.join("abidw.suppr"))
        .arg("--out-file")
        .arg(out)
        .arg(library)
        .output()
        .expect("abidw runs (Debian package abigail-tools; scripts/setup.sh installs it)");
    assert!(
        output.status.success(),
        "abidw failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `soname='...'` of an abidw corpus.
fn soname(corpus: &str) -> Option<&str> {
    let start = corpus.find("soname='")? + "soname='".len();
    let len = corpus[start..].find('\'')?;
    Some(&corpus[start..start + len])
}

#[test]
fn the_abi_matches_the_baseline_or_the_soname_changed() {
    let abi_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("abi");
    let baseline = abi_dir.join("libatom.abi");
    let library = support::artifact("libatom.so", &["rust/atom/src", "rust/atom-capi/src"]);
    let fresh = support::scratch("abi").nest("libatom.abi");

    abidw(&abi_dir, &library, &fresh);

    if std::env::var_os("ATOM_BLESS").is_some() {
        std::fs::copy(&fresh, &baseline).expect("write abi/libatom.abi");
        return;
    }
    let committed = std::fs::read_to_string(&baseline).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; create it with `ATOM_BLESS=1 cargo test -p atom-capi --test abi`",
            baseline.display()
        )
    });
    let now = std::fs::read_to_string(&fresh).unwrap();
    assert!(
        soname(&now).is_some(),
        "the fresh library has no SONAME (build.rs sets it)"
    );

    let (code, report) = abidiff(&abi_dir, &baseline, &fresh);
    if code & 12 != 0 {
        assert!(
            soname(&committed) != soname(&now),
            "libatom's ABI changed incompatibly but its SONAME is still {}:\n{report}\nbump ATOM_ABI_MAJOR (src/lib.rs and build.rs) and update the baseline with `ATOM_BLESS=1 cargo test -p atom-capi --test abi`, or undo the change",
            soname(&now).unwrap_or_default()
        );
    }
}

/// `abidiff` of two corpora, as the test runs it: its exit status (a bit set: 1 error, 2 usage
/// error, 4 ABI change, 8 incompatible change, i.e. a removed symbol) and its report. Added
/// functions are not reported.
fn abidiff(abi_dir: &Path, old: &Path, new: &Path) -> (i32, String) {
    let output = Command::new("abidiff")
        .arg("--no-added-syms")
        .arg("--suppressions")
        .arg(abi_dir.join("abidiff.suppr"))
        .arg(old)
        .arg(new)
        .output()
        .expect("abidiff runs");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    let code = output.status.code().expect("abidiff exits");
    assert!(
        code & 3 == 0,
        "abidiff failed ({code}): {}{report}",
        String::from_utf8_lossy(&output.stderr)
    );
    (code, report)
}

/// The check sees what breaks C callers: in a copy of the fresh corpus, a function that lost a
/// parameter is a change, and a removed function an incompatible one; an added function is
/// neither.
#[test]
fn the_comparison_catches_removed_parameters_and_functions() {
    let abi_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("abi");
    let library = support::artifact("libatom.so", &["rust/atom/src", "rust/atom-capi/src"]);
    let dir = support::scratch("abi-mutations");
    let fresh = dir.join("libatom.abi");
    abidw(&abi_dir, &library, &fresh);
    let corpus = std::fs::read_to_string(&fresh).unwrap();

    let decl = |corpus: &str, name: &str| {
        let start = corpus
            .find(&format!("<function-decl name='{name}'"))
            .unwrap_or_else(|| panic!("{name} is in the corpus"));
        let end =
            start + corpus[start..].find("</function-decl>").unwrap() + "</function-decl>".len();
        (start, end)
    };
    // atom_label_validate(input, out_normalized) without its second parameter.
    let (start, end) = decl(&corpus, "atom_label_validate");
    let body = &corpus[start..end];
    let second = body.match_indices("<parameter ").nth(1).unwrap().0;
    let second_end = second + body[second..].find("/>").unwrap() + 2;
    let fewer = format!(
        "{}{}{}{}",
        &corpus[..start],
        &body[..second],
        &body[second_end..],
        &corpus[end..]
    );
    let changed = dir.join("changed.abi");
    std::fs::write(&changed, &fewer).unwrap();
    let (code, report) = abidiff(&abi_dir, &fresh, &changed);
    assert!(code & 4 != 0, "a removed parameter is reported:\n{report}");

    // atom_uri_parse removed: its symbol and its declaration.
    let (start, end) = decl(&corpus, "atom_uri_parse");
    let mut removed = format!("{}{}", &corpus[..start], &corpus[end..]);
    let symbol = removed.find("<elf-symbol name='atom_uri_parse'").unwrap();
    let symbol_end = symbol + removed[symbol..].find("/>").unwrap() + 2;
    removed.replace_range(symbol..symbol_end, "");
    let smaller = dir.join("removed.abi");
    std::fs::write(&smaller, &removed).unwrap();
    let (code, report) = abidiff(&abi_dir, &fresh, &smaller);
    assert!(
        code & 8 != 0,
        "a removed function is incompatible:\n{report}"
    );

    // The other way round, the function is added: compatible.
    let (code, report) = abidiff(&abi_dir, &smaller, &fresh);
    assert_eq!(code, 0, "an added function is compatible:\n{report}");
}

#[test]
fn soname_is_read_from_the_corpus() {
    assert_eq!(
        soname("<abi-corpus version='2.1' architecture='elf-amd-x86_64' soname='libatom.so.0'>"),
        Some("libatom.so.0")
    );
    assert_eq!(soname("<abi-corpus version='2.1'>"), None);
}
