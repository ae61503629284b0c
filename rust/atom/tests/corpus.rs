//! The corpus of malformed manifests, set manifests and locks under `tests/corpus/`: each
//! `<case>.toml` must fail with exactly the message in `<case>.err` (the whole rendered error:
//! position, message, the offending line with its caret, and help).
//!
//! `ATOM_BLESS=1 cargo test -p atom --test corpus` writes the `.err` files from the current
//! messages; review the diff before committing it.

use std::fs;
use std::path::Path;

use atom::lock::Lockfile;
use atom::manifest::set::SetManifest;
use atom::manifest::Manifest;

fn error_of(kind: &str, name: &str, text: &str) -> Option<String> {
    let path = format!("{kind}/{name}");
    match kind {
        "manifest" => Manifest::parse(text, &path).err(),
        "set" => SetManifest::parse(text, &path).err(),
        "lock" => Lockfile::parse(text, &path).err(),
        _ => panic!("unknown corpus kind {kind}"),
    }
    .map(|e| e.to_string())
}

#[test]
fn every_malformed_file_fails_with_its_exact_message() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let bless = std::env::var_os("ATOM_BLESS").is_some();
    let mut checked = 0;
    let mut failures = Vec::new();
    for kind in ["manifest", "set", "lock"] {
        let mut cases: Vec<_> = fs::read_dir(corpus.join(kind))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        cases.sort();
        for case in cases {
            let name = case.file_name().unwrap().to_str().unwrap();
            let text = fs::read_to_string(&case).unwrap();
            let expected_path = case.with_extension("err");
            let Some(actual) = error_of(kind, name, &text) else {
                failures.push(format!("{kind}/{name}: parsed without error"));
                continue;
            };
            let prefix = format!("{kind}/{name}:");
            if !actual.starts_with(&prefix) {
                failures.push(format!("{kind}/{name}: the error does not start with `{prefix}<line>:<column>: `:\n{actual}"));
            }
            if bless {
                fs::write(&expected_path, format!("{actual}\n")).unwrap();
            }
            let expected = fs::read_to_string(&expected_path).unwrap_or_default();
            if expected.trim_end_matches('\n') != actual {
                failures.push(format!(
                    "{kind}/{name}:\n--- expected\n{expected}\n--- actual\n{actual}\n"
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 40, "the corpus has only {checked} cases");
}
