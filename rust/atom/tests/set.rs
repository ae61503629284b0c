//! `ekala.toml` against real directories: listing a set's atoms.

use std::fs;
use std::path::{Path, PathBuf};

use atom::manifest::set::{SetError, SetManifest, SetWarning};

fn repo(name: &str) -> atom_test_support::Scratch {
    atom_test_support::scratch(&format!("set-{name}"))
}

fn atom(repo: &Path, path: &str, label: &str) {
    let dir = repo.join(path);
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("atom.toml"),
        format!(
            "[package]\nlabel = \"{label}\"\nversion = \"0.1.0\"\n\n[compose.as]\nnix = \".\"\n"
        ),
    )
    .unwrap();
}

#[test]
fn members_are_listed_with_their_labels_and_missing_ones_warned() {
    let repo = repo("members");
    atom(&repo, "pkgs/a", "alpha");
    atom(&repo, "b", "beta");
    let set = SetManifest::parse(
        "[set]\npackages = [\"pkgs/a\", \"./b/\", \"gone\"]\n",
        "ekala.toml",
    )
    .unwrap();
    let (members, warnings) = set.members(&repo).unwrap();
    let found: Vec<_> = members
        .iter()
        .map(|m| (m.path.display().to_string(), m.label.to_string()))
        .collect();
    assert_eq!(
        found,
        [
            ("pkgs/a".to_owned(), "alpha".to_owned()),
            ("b".to_owned(), "beta".to_owned())
        ]
    );
    assert_eq!(warnings, [SetWarning::Missing(PathBuf::from("gone"))]);
}

#[test]
fn duplicate_labels_are_an_error() {
    let repo = repo("dupes");
    atom(&repo, "one", "same");
    atom(&repo, "two", "same");
    let set = SetManifest::parse("[set]\npackages = [\"one\", \"two\"]\n", "ekala.toml").unwrap();
    let err = set.members(&repo).unwrap_err();
    assert!(matches!(err, SetError::DuplicateLabel { .. }));
    assert_eq!(
        err.to_string(),
        "the atoms at one and two are both labelled \"same\": atoms must have unique labels to retain distinct identities"
    );
}

#[test]
fn an_invalid_member_manifest_points_into_its_file() {
    let repo = repo("invalid");
    fs::create_dir_all(repo.join("bad")).unwrap();
    fs::write(repo.join("bad/atom.toml"), "[package]\nlabel = \"-x\"\n").unwrap();
    let set = SetManifest::parse("[set]\npackages = [\"bad\"]\n", "ekala.toml").unwrap();
    let err = set.members(&repo).unwrap_err().to_string();
    assert!(
        err.contains("bad/atom.toml:2:9: invalid label \"-x\": cannot start with: '-'"),
        "{err}"
    );
}
