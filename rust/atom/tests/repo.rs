//! Repositories, publishing and fetching into the atom store, against real repositories made
//! with `git` in temporary directories (the product itself never runs `git`; the tests use it to
//! build fixtures).

use std::fs;
use std::path::{Path, PathBuf};

use atom::id::{AtomDigest, AtomId, Label};
use atom::manifest::{Requirement, Version};
use atom::publish::{self, Outcome, PublishError};
use atom::repo::Files;
use atom::repo::{
    atom_ref, manifest_ref, origin_ref, AtomCommit, InitOutcome, ObjectId, Repo, RepoError,
    VerifyError,
};
use atom::store::{materialize_into, Rejection, Store, VersionStatus};
use support::{git, manifest, write, Scratch};

use atom_test_support as support;

fn scratch(name: &str) -> Scratch {
    support::scratch(&format!("store-{name}"))
}

fn repo(name: &str) -> Scratch {
    let dir = scratch(name);
    support::atom_repo(&dir);
    dir
}

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

fn oid(hex: &str) -> ObjectId {
    ObjectId::from_hex(hex.as_bytes()).unwrap()
}

#[test]
fn the_published_atom_nix_commit_is_reproduced_byte_for_byte() {
    let object = AtomCommit::new(
        oid("b349857f3aa4365d804495243276131933fc68fa"),
        oid("f95ca3379da34594c0492b4bc2796d6923b7d4c0"),
        &label("atom-nix"),
        &Version::parse("0.4.4").unwrap(),
    );
    assert_eq!(object.id(), oid("f26bc47d27643580d14262c17533332f29e225b4"));
    // Written into a real repository, git agrees on the bytes and the id.
    let dir = scratch("vector");
    git(&dir, &["init", "-q", "--bare"]);
    let store = Repo::open(&dir).unwrap();
    let id = store.write_commit(&object).unwrap();
    assert_eq!(id, oid("f26bc47d27643580d14262c17533332f29e225b4"));
    assert_eq!(
        git(&dir, &["cat-file", "commit", &id.to_string()]),
        "tree b349857f3aa4365d804495243276131933fc68fa\nauthor  <> 0 +0000\ncommitter  <> 0 +0000\norigin f95ca3379da34594c0492b4bc2796d6923b7d4c0\nformat pre1\n\npublish(atom-nix): 0.4.4"
    );
}

#[test]
fn genesis_and_init() {
    let dir = repo("init");
    let root = git(&dir, &["rev-list", "--max-parents=0", "HEAD"]);
    write(&dir, "later.txt", "x");
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "second"]);
    let store = Repo::open(&dir).unwrap();
    assert_eq!(store.genesis().unwrap().to_hex(), root);
    assert_eq!(store.init_ref().unwrap(), None);
    let InitOutcome::Created(created) = store.init().unwrap() else {
        panic!("created expected")
    };
    assert_eq!(created.to_hex(), root);
    assert_eq!(git(&dir, &["rev-parse", "refs/ekala/init"]), root);
    assert_eq!(store.init().unwrap(), InitOutcome::Unchanged(created));

    // A repository whose init ref names another root refuses to change it.
    let head = git(&dir, &["rev-parse", "HEAD"]);
    git(&dir, &["update-ref", "refs/ekala/init", &head]);
    let err = Repo::open(&dir).unwrap().init().unwrap_err();
    assert!(matches!(err, RepoError::InitConflict { .. }), "{err}");
    assert_eq!(
        git(&dir, &["rev-parse", "refs/ekala/init"]),
        head,
        "unchanged"
    );
}

#[test]
fn publish_every_atom_of_the_set_then_republish_is_a_no_op() {
    let dir = repo("publish");
    let store = Repo::open(&dir).unwrap();
    store.init().unwrap();
    let head = git(&dir, &["rev-parse", "HEAD"]);
    let outcomes = publish::publish(&store, "HEAD", &[]).unwrap();
    assert_eq!(outcomes.len(), 2);
    for outcome in &outcomes {
        let Outcome::Created(atom) = outcome else {
            panic!("created expected: {outcome:?}")
        };
        assert_eq!(atom.origin.to_string(), head);
        let name = atom_ref(&atom.label, &atom.version);
        assert_eq!(git(&dir, &["rev-parse", &name]), atom.commit.to_string());
        // The atom's tree is the source directory's tree, unchanged.
        let dir_tree = git(
            &dir,
            &["rev-parse", &format!("HEAD:{}", atom.path.display())],
        );
        assert_eq!(
            git(&dir, &["rev-parse", &format!("{name}^{{tree}}")]),
            dir_tree
        );
        assert_eq!(
            git(
                &dir,
                &["rev-parse", &manifest_ref(&atom.label, &atom.version)]
            ),
            git(
                &dir,
                &[
                    "rev-parse",
                    &format!("HEAD:{}/atom.toml", atom.path.display())
                ]
            )
        );
        assert_eq!(
            git(
                &dir,
                &["rev-parse", &origin_ref(&atom.label, &atom.version)]
            ),
            head
        );
        // git itself considers the object well-formed.
        git(&dir, &["fsck", "--no-dangling"]);
    }
    let again = publish::publish(&store, "HEAD", &[]).unwrap();
    assert!(
        again.iter().all(|o| matches!(o, Outcome::Unchanged(_))),
        "{again:?}"
    );
    assert_eq!(again[0].atom(), outcomes[0].atom());
}

#[test]
fn changed_content_under_a_published_version_is_refused_and_changes_nothing() {
    let dir = repo("immutable");
    let store = Repo::open(&dir).unwrap();
    let first = publish::publish(&store, "HEAD", &["pkgs/a".into()]).unwrap();
    let refs_before = git(&dir, &["for-each-ref", "refs/eka"]);
    write(&dir, "pkgs/a/mod.nix", "{ Value = 2; }\n");
    git(
        &dir,
        &["commit", "-q", "-am", "change without a version bump"],
    );
    let err = publish::publish(&store, "HEAD", &["pkgs/a".into()]).unwrap_err();
    let PublishError::VersionExists { existing, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*existing, first[0].atom().commit);
    assert!(
        err.to_string()
            .contains("alpha 1.0.0 is already published as"),
        "{err}"
    );
    assert!(err.to_string().contains("bump the version"), "{err}");
    assert_eq!(git(&dir, &["for-each-ref", "refs/eka"]), refs_before);
}

#[test]
fn publish_rejects_what_is_not_an_atom() {
    let dir = repo("not-atoms");
    let store = Repo::open(&dir).unwrap();
    let cases: &[(&str, &str)] = &[
        ("missing", "missing is not an atom in commit"),
        ("ekala.toml", "ekala.toml is not an atom in commit"),
        ("pkgs", "pkgs is not an atom in commit"),
        (
            "../up",
            "cannot publish \"../up\": it leaves the repository",
        ),
        (
            ".",
            "cannot publish \".\": atoms cannot exist at the repo root",
        ),
    ];
    for (path, message) in cases {
        let err = publish::publish(&store, "HEAD", &[path.to_string()]).unwrap_err();
        assert!(err.to_string().contains(message), "{path}: {err}");
    }
    assert_eq!(
        git(&dir, &["for-each-ref", "refs/eka"]),
        "",
        "nothing was published"
    );
    // Two atoms with one label are refused before anything is written.
    support::trivial_atom(&dir, "c", "alpha", "2.0.0");
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "dup"]);
    let err = publish::publish(&store, "HEAD", &["pkgs/a".into(), "c".into()]).unwrap_err();
    assert!(matches!(err, PublishError::DuplicateLabel { .. }), "{err}");
    assert_eq!(git(&dir, &["for-each-ref", "refs/eka"]), "");
}

#[test]
fn an_evaluated_atom_is_published_only_with_a_lock_that_matches_its_compose() {
    let dir = repo("needs-lock");
    let store = Repo::open(&dir).unwrap();
    let static_manifest =
        "[package]\nlabel = \"conf\"\nversion = \"1.0.0\"\n\n[compose.as]\nstatic = \"config\"\n";
    let composed = "[package]\nlabel = \"comp\"\nversion = \"1.0.0\"\n\n[package.sets]\natom = \"https://github.com/ekala-project/atom\"\n\n[compose.with.atom-nix]\nfrom = \"atom\"\n";
    write(&dir, "conf/atom.toml", static_manifest);
    write(&dir, "comp/atom.toml", composed);
    write(&dir, "bare/atom.toml", &manifest("bare", "1.0.0"));
    // A lock whose [compose] entry is not the manifest's.
    write(
        &dir,
        "moved/atom.toml",
        &manifest("moved", "1.0.0").replace("\".\"", "\"src\""),
    );
    write(&dir, "moved/atom.lock", support::TRIVIAL_LOCK);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "atoms"]);
    let paths = ["conf", "comp", "bare", "moved"].map(String::from);
    let report = publish::publish_report(&store, "HEAD", &paths).unwrap();
    let results: Vec<_> = report
        .atoms
        .iter()
        .map(|a| (a.path.as_str(), &a.result))
        .collect();
    // A static atom is never evaluated: no lock.
    assert!(
        matches!(results[0], ("conf", Ok(Outcome::Created(_)))),
        "{results:?}"
    );
    // A trivial atom and a composed one without dependencies are still evaluated, by a loader
    // that reads their lock.
    for (i, path) in [(1, "comp"), (2, "bare")] {
        let Err(err) = results[i].1 else {
            panic!("{path} was published without a lock")
        };
        assert!(matches!(err, PublishError::StaleLock { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("{path} cannot be published: it is evaluated (its [compose] is not static) but has no atom.lock in the commit, which the reference's loader needs to evaluate it; run `atom lock {path}`, commit atom.lock, and publish again (a published version can never be fixed later)")
        );
    }
    let Err(err) = results[3].1 else {
        panic!("a lock of another entry was accepted")
    };
    assert!(
        err.to_string().contains("moved cannot be published: its atom.lock's [compose] does not match the manifest's [compose]; run `atom lock moved`"),
        "{err}"
    );
    assert_eq!(
        git(
            &dir,
            &["for-each-ref", "--format=%(refname)", "refs/eka/atoms"]
        ),
        "refs/eka/atoms/conf/1.0.0"
    );
    // Locked, they publish.
    write(&dir, "bare/atom.lock", support::TRIVIAL_LOCK);
    write(
        &dir,
        "moved/atom.lock",
        &support::TRIVIAL_LOCK.replace("entry = \".\"", "entry = \"src\""),
    );
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "locked"]);
    let outcomes = publish::publish(&store, "HEAD", &["bare".into(), "moved".into()]).unwrap();
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Created(_))));
}

#[test]
fn publishing_from_a_foreign_history_is_refused() {
    let dir = repo("foreign");
    let store = Repo::open(&dir).unwrap();
    store.init().unwrap();
    // An unrelated history in the same repository.
    git(&dir, &["checkout", "-q", "--orphan", "other"]);
    write(&dir, "pkgs/a/mod.nix", "{ Value = 3; }\n");
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "other root"]);
    let err = publish::publish(&store, "HEAD", &["pkgs/a".into()]).unwrap_err();
    assert!(
        matches!(err, PublishError::InconsistentRoot { .. }),
        "{err}"
    );
}

fn publish_versions(dir: &Path, label: &str, versions: &[&str]) {
    let store = Repo::open(dir).unwrap();
    for version in versions {
        write(dir, "pkgs/a/atom.toml", &manifest(label, version));
        git(
            dir,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-am",
                &format!("{label} {version}"),
            ],
        );
        publish::publish(&store, "HEAD", &["pkgs/a".into()]).unwrap();
    }
}

#[test]
fn resolve_follows_cargo_rules() {
    let dir = repo("resolve");
    publish_versions(
        &dir,
        "alpha",
        &[
            "1.0.0",
            "1.2.0",
            "1.3.0-rc.1",
            "2.0.0-rc.1",
            "2.0.0",
            "0.9.0",
        ],
    );
    let store = Repo::open(&dir).unwrap();
    let resolve = |req: &str| {
        store
            .resolve(&label("alpha"), &Requirement::parse(req).unwrap())
            .map(|a| a.version.to_string())
    };
    assert_eq!(resolve("^1").unwrap(), "1.2.0");
    assert_eq!(resolve("*").unwrap(), "2.0.0");
    assert_eq!(resolve(">=1.3.0-rc.1, <2").unwrap(), "1.3.0-rc.1");
    assert_eq!(resolve("=2.0.0-rc.1").unwrap(), "2.0.0-rc.1");
    assert_eq!(resolve("~0.9").unwrap(), "0.9.0");
    let err = resolve("^3").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no published version of alpha matches ^3 (published: 2.0.0, 2.0.0-rc.1, 1.3.0-rc.1, 1.2.0, 1.0.0, 0.9.0)"
    );
    let err = store
        .resolve(&label("nobody"), &Requirement::parse("*").unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no published version of nobody matches * (no version of it is published here; labels published here, closest first: alpha)"
    );
    let versions: Vec<String> = store
        .versions(&label("alpha"))
        .unwrap()
        .iter()
        .map(|a| a.version.to_string())
        .collect();
    assert_eq!(
        versions,
        [
            "2.0.0",
            "2.0.0-rc.1",
            "1.3.0-rc.1",
            "1.2.0",
            "1.0.0",
            "0.9.0"
        ]
    );
}

#[test]
fn refs_that_do_not_parse_are_ignored() {
    let dir = repo("junk-refs");
    publish_versions(&dir, "alpha", &["1.0.0"]);
    let commit = git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.0.0"]);
    for junk in [
        "refs/eka/atoms/alpha/v1.1.0",
        "refs/eka/atoms/alpha/latest",
        "refs/eka/atoms/9bad/1.0.0",
        "refs/eka/atoms/alpha/x/1.0.0",
    ] {
        git(&dir, &["update-ref", junk, &commit]);
    }
    let store = Repo::open(&dir).unwrap();
    let atoms: Vec<String> = store
        .atoms()
        .unwrap()
        .iter()
        .map(|a| format!("{} {}", a.label, a.version))
        .collect();
    assert_eq!(atoms, ["alpha 1.0.0"]);
    // The same holds once the refs are packed.
    git(&dir, &["pack-refs", "--all"]);
    let store = Repo::open(&dir).unwrap();
    assert_eq!(store.atoms().unwrap().len(), 1);
}

/// A repository of the fixture set, published; alpha 1.0.0 in it.
fn published_alpha(name: &str) -> (Scratch, Repo, atom::repo::AtomRef) {
    let dir = repo(name);
    let store = Repo::open(&dir).unwrap();
    store.init().unwrap();
    publish::publish(&store, "HEAD", &[]).unwrap();
    let atom = store
        .find(&label("alpha"), &Version::parse("1.0.0").unwrap())
        .unwrap();
    (dir, store, atom)
}

#[test]
fn verify_accepts_a_published_atom_and_reports_its_id() {
    let (_dir, store, atom) = published_alpha("verify-ok");
    let genesis = store.genesis().unwrap();
    let id = AtomId::new(genesis, label("alpha")).digest();
    let verified = store.verify(&atom, Some(&id)).unwrap();
    assert_eq!(verified.id, id);
    assert!(verified.origin_checked);
    assert_eq!(verified.package.label, label("alpha"));
}

fn verify_error(dir: &Path, expected: Option<&AtomDigest>) -> VerifyError {
    let store = Repo::open(dir).unwrap();
    let atom = store
        .find(&label("alpha"), &Version::parse("1.0.0").unwrap())
        .unwrap();
    match store.verify(&atom, expected) {
        Err(RepoError::Verify { problem, .. }) => problem,
        other => panic!("expected a verification error, got {other:?}"),
    }
}

/// A [`atom::repo::CommitMemory`] in memory.
#[derive(Default)]
struct Remembered(std::cell::RefCell<std::collections::HashMap<ObjectId, Vec<u8>>>);

impl atom::repo::CommitMemory for Remembered {
    fn get(&self, commit: ObjectId) -> Option<Vec<u8>> {
        self.0.borrow().get(&commit).cloned()
    }
    fn put(&self, commit: ObjectId, record: &[u8]) {
        self.0.borrow_mut().insert(commit, record.to_vec());
    }
}

#[test]
fn a_pinned_load_remembers_a_commit_only_once_it_passed_its_checks() {
    let (dir, store, atom) = published_alpha("load-pinned");
    let id = AtomId::new(store.genesis().unwrap(), label("alpha")).digest();
    let memory = Remembered::default();
    let target = Some(atom.commit);

    // A moved metadata ref, or a wrong id, fails the first read: nothing is remembered.
    let manifest = git(&dir, &["rev-parse", "refs/eka/meta/alpha/1.0.0/manifest"]);
    let beta_manifest = git(&dir, &["rev-parse", "HEAD:b/atom.toml"]);
    git(
        &dir,
        &[
            "update-ref",
            "refs/eka/meta/alpha/1.0.0/manifest",
            &beta_manifest,
        ],
    );
    let problem = |id: &AtomDigest| match store.load_pinned(&atom, id, target, Some(&memory)) {
        Err(RepoError::Verify { problem, .. }) => problem,
        other => panic!("expected a verification error, got {other:?}"),
    };
    assert!(matches!(problem(&id), VerifyError::ManifestRef { .. }));
    git(
        &dir,
        &[
            "update-ref",
            "refs/eka/meta/alpha/1.0.0/manifest",
            &manifest,
        ],
    );
    let other = AtomDigest::from_bytes([7; 32]);
    assert!(matches!(problem(&other), VerifyError::Id { .. }));
    assert!(memory.0.borrow().is_empty());

    // A load that passes is remembered, and the next load gives the same from the record.
    let first = store
        .load_pinned(&atom, &id, target, Some(&memory))
        .unwrap();
    assert!(memory.0.borrow().contains_key(&atom.commit));
    let again = store
        .load_pinned(&atom, &id, target, Some(&memory))
        .unwrap();
    assert_eq!(again.digest, first.digest);
    assert_eq!(again.verified.tree, first.verified.tree);
    // The id is checked every time, record or not.
    assert!(matches!(problem(&other), VerifyError::Id { .. }));
}

#[test]
fn verify_detects_each_kind_of_tampering() {
    let dir = repo("verify-bad");
    let store = Repo::open(&dir).unwrap();
    store.init().unwrap();
    publish::publish(&store, "HEAD", &[]).unwrap();
    let name = "refs/eka/atoms/alpha/1.0.0";
    let good = git(&dir, &["rev-parse", name]);

    // A wrong expected id.
    let other = AtomDigest::from_bytes([7; 32]);
    assert!(matches!(
        verify_error(&dir, Some(&other)),
        VerifyError::Id { .. }
    ));

    // The manifest ref moved.
    let beta_manifest = git(&dir, &["rev-parse", "HEAD:b/atom.toml"]);
    git(
        &dir,
        &[
            "update-ref",
            "refs/eka/meta/alpha/1.0.0/manifest",
            &beta_manifest,
        ],
    );
    assert!(matches!(
        verify_error(&dir, None),
        VerifyError::ManifestRef { .. }
    ));
    let alpha_manifest = git(&dir, &["rev-parse", "HEAD:pkgs/a/atom.toml"]);
    git(
        &dir,
        &[
            "update-ref",
            "refs/eka/meta/alpha/1.0.0/manifest",
            &alpha_manifest,
        ],
    );

    // The atom ref points at a blob.
    git(&dir, &["update-ref", name, &alpha_manifest]);
    assert_eq!(verify_error(&dir, None), VerifyError::NotACommit("blob"));

    // The atom ref points at an ordinary commit.
    git(&dir, &["update-ref", name, "HEAD"]);
    assert!(matches!(verify_error(&dir, None), VerifyError::Format(_)));

    // The atom ref points at the atom commit of another label.
    let beta = git(&dir, &["rev-parse", "refs/eka/atoms/beta/0.1.0"]);
    git(&dir, &["update-ref", name, &beta]);
    assert!(matches!(
        verify_error(&dir, None),
        VerifyError::Format(_) | VerifyError::Mismatch { .. }
    ));

    // A hand-made commit with the right headers but the wrong message.
    let tree = git(&dir, &["rev-parse", "HEAD:pkgs/a"]);
    let forged = forge(&dir, &format!("tree {tree}\nauthor  <> 0 +0000\ncommitter  <> 0 +0000\norigin {good}\nformat pre1\n\npublish(alpha): 9.9.9"));
    git(&dir, &["update-ref", name, &forged]);
    let VerifyError::Format(why) = verify_error(&dir, None) else {
        panic!()
    };
    let why = why.to_string();
    assert!(why.contains("its message is"), "{why}");

    // An origin from another history.
    git(&dir, &["checkout", "-q", "--orphan", "elsewhere"]);
    git(&dir, &["commit", "-q", "-m", "foreign root"]);
    let foreign = git(&dir, &["rev-parse", "HEAD"]);
    git(&dir, &["checkout", "-q", "main"]);
    let forged = forge(&dir, &format!("tree {tree}\nauthor  <> 0 +0000\ncommitter  <> 0 +0000\norigin {foreign}\nformat pre1\n\npublish(alpha): 1.0.0"));
    git(&dir, &["update-ref", name, &forged]);
    // The origin ref still names the real origin: that alone is tampering.
    assert!(matches!(
        verify_error(&dir, None),
        VerifyError::OriginRef { .. }
    ));
    let origin_ref = "refs/eka/meta/alpha/1.0.0/origin";
    let real_origin = git(&dir, &["rev-parse", origin_ref]);
    git(&dir, &["update-ref", origin_ref, &foreign]);
    assert!(matches!(
        verify_error(&dir, None),
        VerifyError::ForeignOrigin { .. }
    ));

    git(&dir, &["update-ref", origin_ref, &real_origin]);
    git(&dir, &["update-ref", name, &good]);
    let store = Repo::open(&dir).unwrap();
    let atom = store
        .find(&label("alpha"), &Version::parse("1.0.0").unwrap())
        .unwrap();
    store.verify(&atom, None).unwrap();
}

/// Writes a raw commit object with `git hash-object` and returns its id.
fn forge(dir: &Path, body: &str) -> String {
    let file = dir.join("forged-commit");
    fs::write(&file, body).unwrap();
    let id = git(
        dir,
        &[
            "hash-object",
            "-t",
            "commit",
            "-w",
            "--literally",
            file.to_str().unwrap(),
        ],
    );
    fs::remove_file(file).unwrap();
    id
}

#[test]
fn a_tree_holding_a_git_directory_is_never_materialised() {
    let dir = repo("dot-git");
    let config = support::git_input(
        &dir,
        &["hash-object", "-w", "--stdin"],
        b"[core]\n\tfsmonitor = touch PWNED\n",
    );
    let dot_git = support::git_input(
        &dir,
        &["mktree"],
        format!("100644 blob {config}\tconfig\n").as_bytes(),
    );
    let store = Repo::open(&dir).unwrap();
    for name in [".git", ".GiT", "git~1", ".git ", ".\u{200d}git"] {
        let tree = support::git_input(
            &dir,
            &["mktree"],
            format!("040000 tree {dot_git}\tsub\n").as_bytes(),
        );
        let tree = support::git_input(
            &dir,
            &["mktree"],
            format!("040000 tree {dot_git}\t{name}\n040000 tree {tree}\tnested\n").as_bytes(),
        );
        let cache = scratch(&format!("dot-git-cache-{}", name.len()));
        let err = materialize_into(&store, oid(&tree), &cache, Files::All)
            .unwrap_err()
            .to_string();
        assert!(err.contains("git's own directory"), "{name:?}: {err}");
        assert!(
            fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0) == 0,
            "{name:?}: something was left in the cache"
        );
    }
}

#[test]
fn materialize_writes_a_tree_once_and_atomically() {
    let dir = repo("materialize");
    write(&dir, "pkgs/a/data/file.txt", "hello\n");
    write(&dir, "pkgs/a/run.sh", "#!/bin/sh\n");
    std::os::unix::fs::symlink("data/file.txt", dir.join("pkgs/a/link")).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["update-index", "--chmod=+x", "pkgs/a/run.sh"]);
    git(&dir, &["commit", "-q", "-m", "data"]);
    let store = Repo::open(&dir).unwrap();
    publish::publish(&store, "HEAD", &["pkgs/a".into()]).unwrap();
    let atom = store
        .find(&label("alpha"), &Version::parse("1.0.0").unwrap())
        .unwrap();
    let tree = store.atom_tree(&atom).unwrap();
    let cache = scratch("materialize-cache");

    // Several threads at once: one tree on disk, no temporary left behind.
    let paths: Vec<PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let repo = Repo::open(&dir).unwrap();
                    materialize_into(&repo, tree, &cache, Files::All).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(paths.iter().all(|p| p == &cache.join(tree.to_string())));
    let out = &paths[0];
    assert_eq!(
        fs::read_to_string(out.join("data/file.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        fs::read_to_string(out.join("mod.nix")).unwrap(),
        "{ Value = 1; }\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(out.join("run.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o555,
        "materialised files are read-only"
    );
    assert_eq!(
        fs::read_link(out.join("link")).unwrap(),
        PathBuf::from("data/file.txt")
    );
    let entries: Vec<_> = fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    // The tree and its stamp.
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(cache.join(format!("{tree}.stamp")).is_file());

    // A later use checks the tree: by its stamp, else against git.
    fs::set_permissions(out.join("run.sh"), fs::Permissions::from_mode(0o644)).unwrap();
    let err = materialize_into(&store, tree, &cache, Files::All)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/run.sh is not executable, but git has it executable"),
        "{err}"
    );
    fs::set_permissions(out.join("run.sh"), fs::Permissions::from_mode(0o555)).unwrap();
    materialize_into(&store, tree, &cache, Files::All).unwrap();
    fs::remove_file(out.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", out.join("link")).unwrap();
    let err = materialize_into(&store, tree, &cache, Files::All)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/link points at /etc/passwd, but git has data/file.txt"),
        "{err}"
    );
}

#[test]
fn fetch_copies_published_atoms_into_a_store_by_root() {
    let source = repo("fetch-source");
    let store = Repo::open(&source).unwrap();
    let root = match store.init().unwrap() {
        InitOutcome::Created(root) => root,
        other => panic!("{other:?}"),
    };
    publish::publish(&store, "HEAD", &[]).unwrap();
    let atom_store = scratch("fetch-store");
    let mut reports = Vec::new();
    let fetched = Store::new(&atom_store)
        .fetch(&format!("file://{}", source.display()), &mut |n| {
            reports.push(n)
        })
        .unwrap();
    assert_eq!(fetched.root, root);
    assert_eq!(fetched.repo, atom_store.join(format!("{root}.git")));
    // refs/ekala/init; per atom its ref, manifest and origin refs, and the mirror's record.
    assert_eq!(fetched.created.len(), 9, "{:?}", fetched.created);
    assert!(fetched.objects > 0 && reports.last() == Some(&fetched.objects));

    // The store resolves and verifies on its own; the source history stays behind (the origin is
    // recorded, not copied).
    let copy = Repo::open(&fetched.repo).unwrap();
    let atom = copy
        .resolve(&label("alpha"), &Requirement::parse("^1").unwrap())
        .unwrap();
    let verified = copy
        .verify(&atom, Some(&AtomId::new(root, label("alpha")).digest()))
        .unwrap();
    assert!(!verified.origin_checked);
    let origin = git(&source, &["rev-parse", "HEAD"]);
    assert!(!copy.has_object(oid(&origin)));
    assert_eq!(
        copy.ref_target("refs/eka/meta/alpha/1.0.0/origin").unwrap(),
        Some(oid(&origin))
    );
    support::fsck_store(&fetched.repo);
    // Written as one pack with its index, checked by git, and nothing loose or temporary.
    let counts = git(&fetched.repo, &["count-objects", "-v"]);
    assert!(
        counts.contains("count: 0\n") && counts.contains("packs: 1\n"),
        "{counts}"
    );
    let pack_files = || {
        let mut names: Vec<String> = std::fs::read_dir(fetched.repo.join("objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let files = pack_files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[0].ends_with(".idx") && files[1].ends_with(".pack"),
        "{files:?}"
    );
    let verified_pack = git(
        &fetched.repo,
        &["verify-pack", "-v", &format!("objects/pack/{}", files[0])],
    );
    assert!(
        verified_pack.contains(&format!("non delta: {}", fetched.objects)),
        "{verified_pack}"
    );

    // Fetching again changes nothing; a plain path works like a file:// URL.
    let again = Store::new(&atom_store)
        .fetch(source.to_str().unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(
        (again.created.len(), again.unchanged, again.objects),
        (0, 9, 0)
    );

    // A new version arrives with the next fetch.
    publish_versions(&source, "alpha", &["1.1.0"]);
    let next = Store::new(&atom_store)
        .fetch(source.to_str().unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(next.created.len(), 4);
    assert_eq!(pack_files().len(), 4);
    support::fsck_store(&next.repo);
    let copy = Repo::open(&next.repo).unwrap();
    assert_eq!(
        copy.resolve(&label("alpha"), &Requirement::parse("^1").unwrap())
            .unwrap()
            .version
            .to_string(),
        "1.1.0"
    );
}

#[test]
fn fetch_errors() {
    let atom_store = scratch("fetch-errors");
    let fetch = |url: &str| {
        Store::new(&atom_store)
            .fetch(url, &mut |_| {})
            .unwrap_err()
            .to_string()
    };
    assert!(fetch("/nonexistent/repo").contains("/nonexistent/repo does not exist"));
    let err = fetch("ftp://example.com/repo");
    assert!(err.contains("not supported"), "{err}");
    let uninitialized = repo("fetch-uninit");
    assert!(fetch(uninitialized.to_str().unwrap()).contains("has no refs/ekala/init"));

    // The store's repository for this root records another root.
    let source = repo("fetch-mismatch");
    let store = Repo::open(&source).unwrap();
    let InitOutcome::Created(root) = store.init().unwrap() else {
        panic!()
    };
    let other = repo("fetch-other");
    git(&other, &["checkout", "-q", "--orphan", "main2"]);
    git(&other, &["commit", "-q", "-m", "another root"]);
    git(&other, &["branch", "-q", "-M", "main"]);
    let other_head = git(&other, &["rev-parse", "HEAD"]);
    let fake = atom_store.join(format!("{root}.git"));
    git(
        &atom_store,
        &["init", "-q", "--bare", fake.to_str().unwrap()],
    );
    git(
        &atom_store,
        &[
            "--git-dir",
            fake.to_str().unwrap(),
            "fetch",
            "-q",
            other.to_str().unwrap(),
            "main",
        ],
    );
    git(
        &atom_store,
        &[
            "--git-dir",
            fake.to_str().unwrap(),
            "update-ref",
            "refs/ekala/init",
            &other_head,
        ],
    );
    let err = fetch(source.to_str().unwrap());
    assert!(err.contains("is recorded for root"), "{err}");

    // A store whose copy of a published atom differs from the remote's: refused, nothing fetched.
    let _ = fs::remove_dir_all(&fake);
    publish::publish(&store, "HEAD", &["pkgs/a".into()]).unwrap();
    Store::new(&atom_store)
        .fetch(source.to_str().unwrap(), &mut |_| {})
        .unwrap();
    let for_each_ref =
        |dir: &Path| git(dir, &["for-each-ref", "--format=%(objectname) %(refname)"]);
    let refs_before = for_each_ref(&fake);
    let beta_manifest = git(&source, &["rev-parse", "HEAD:b/atom.toml"]);
    git(
        &source,
        &[
            "update-ref",
            "refs/eka/meta/alpha/1.0.0/manifest",
            &beta_manifest,
        ],
    );
    // The version is reported, the store keeps its refs, the other versions are not blocked.
    publish::publish(&store, "HEAD", &["b".into()]).unwrap();
    let fetched = Store::new(&atom_store)
        .fetch(source.to_str().unwrap(), &mut |_| {})
        .unwrap();
    let rejected: Vec<_> = fetched.rejected().collect();
    assert_eq!(rejected.len(), 1, "{:?}", fetched.versions);
    assert_eq!(rejected[0].label.as_str(), "alpha");
    match &rejected[0].status {
        VersionStatus::Rejected(reason) => assert!(
            matches!(&**reason, Rejection::MetaRefChanged { name, .. } if name == "refs/eka/meta/alpha/1.0.0/manifest")
                && reason.to_string().contains("possible tampering"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(fetched
        .created
        .contains(&"refs/eka/atoms/beta/0.1.0".to_owned()));
    let after = for_each_ref(&fake);
    for line in refs_before.lines() {
        assert!(after.contains(line), "{line} changed:\n{after}");
    }
}

#[test]
fn corrupt_repositories_give_errors_not_panics() {
    // An empty repository: no HEAD commit, no atoms.
    let empty = scratch("empty");
    git(&empty, &["init", "-q"]);
    let store = Repo::open(&empty).unwrap();
    assert!(store.atoms().unwrap().is_empty());
    assert!(matches!(
        store.genesis().unwrap_err(),
        RepoError::NoCommitYet(_)
    ));
    assert!(publish::publish(&store, "HEAD", &[]).is_err());

    // Not a repository at all.
    let err = Repo::open(&scratch("not-a-repo")).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("cannot open the git repository at"),
        "{err}"
    );

    // A truncated packed-refs file.
    let dir = repo("truncated");
    publish_versions(&dir, "alpha", &["1.0.0"]);
    git(&dir, &["pack-refs", "--all"]);
    let packed = dir.join(".git/packed-refs");
    let text = fs::read_to_string(&packed).unwrap();
    // Cut inside the hash of the atom's ref.
    let cut = text.find(" refs/eka/atoms/").unwrap() - 7;
    fs::write(&packed, &text[..cut]).unwrap();
    let result = Repo::open(&dir).and_then(|s| s.atoms());
    assert!(result.is_err(), "{result:?}");

    // A corrupted loose object: the atom commit's bytes are damaged.
    let dir = repo("corrupt-object");
    publish_versions(&dir, "alpha", &["1.0.0"]);
    let commit = git(&dir, &["rev-parse", "refs/eka/atoms/alpha/1.0.0"]);
    let object = dir.join(format!(".git/objects/{}/{}", &commit[..2], &commit[2..]));
    let mut perms = fs::metadata(&object).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    fs::set_permissions(&object, perms).unwrap();
    fs::write(&object, b"garbage, not zlib").unwrap();
    let store = Repo::open(&dir).unwrap();
    let atom = store
        .find(&label("alpha"), &Version::parse("1.0.0").unwrap())
        .unwrap();
    let err = store.verify(&atom, None).unwrap_err();
    assert!(matches!(err, RepoError::Object { .. }), "{err}");

    // A ref to a missing object.
    let dir = repo("missing-object");
    fs::create_dir_all(dir.join(".git/refs/eka/atoms/alpha")).unwrap();
    fs::write(
        dir.join(".git/refs/eka/atoms/alpha/1.0.0"),
        "1111111111111111111111111111111111111111\n",
    )
    .unwrap();
    let store = Repo::open(&dir).unwrap();
    let atom = store
        .find(&label("alpha"), &Version::parse("1.0.0").unwrap())
        .unwrap();
    assert!(matches!(
        store.verify(&atom, None).unwrap_err(),
        RepoError::Object { .. }
    ));
}

#[test]
fn legacy_layouts_are_recognised_when_reading() {
    let dir = repo("legacy");
    let head = git(&dir, &["rev-parse", "HEAD"]);
    let tree = git(&dir, &["rev-parse", "HEAD:pkgs/a"]);
    // Format `1` under refs/atoms/, with a Unicode label in the ref name (as in the eka repo).
    write(&dir, "pkgs/a/atom.toml", &manifest("ひらがな", "0.1.0"));
    git(&dir, &["commit", "-q", "-am", "hiragana"]);
    let head2 = git(&dir, &["rev-parse", "HEAD"]);
    let tree2 = git(&dir, &["rev-parse", "HEAD:pkgs/a"]);
    let legacy = forge(&dir, &format!("tree {tree2}\nauthor x <x@x> 0 +0000\ncommitter x <x@x> 0 +0000\nsrc {head2}\npath pkgs/a\nformat 1\n\nひらがな: 0.1.0\n"));
    git(&dir, &["update-ref", "refs/atoms/ひらがな/0.1.0", &legacy]);
    git(
        &dir,
        &["update-ref", "refs/atoms/ひらがな/_specs/0.1.0", &tree2],
    );
    // Format `pre1.0` under refs/eka/atoms/.
    let pre10 = forge(&dir, &format!("tree {tree}\nauthor  <> 0 +0000\ncommitter  <> 0 +0000\norigin {head}\npath pkgs/a\nformat pre1.0\n\nalpha: 1.0.0"));
    git(&dir, &["update-ref", "refs/eka/atoms/alpha/1.0.0", &pre10]);

    let store = Repo::open(&dir).unwrap();
    let atoms: Vec<String> = store
        .atoms()
        .unwrap()
        .iter()
        .map(|a| format!("{} {}", a.label, a.version))
        .collect();
    assert_eq!(atoms, ["alpha 1.0.0", "ひらがな 0.1.0"]);
    let hiragana = store
        .find(&label("ひらがな"), &Version::parse("0.1.0").unwrap())
        .unwrap();
    assert_eq!(hiragana.ref_name(), "refs/atoms/ひらがな/0.1.0");
    assert_eq!(
        store.verify(&hiragana, None).unwrap().format,
        atom::repo::CommitFormat::Legacy1
    );
    let alpha = store
        .find(&label("alpha"), &Version::parse("1.0.0").unwrap())
        .unwrap();
    assert_eq!(
        store.verify(&alpha, None).unwrap().format,
        atom::repo::CommitFormat::Pre1_0
    );
}

#[test]
fn fetches_racing_in_threads_into_one_fresh_store_all_succeed() {
    let source = repo("fetch-race-source");
    let store = Repo::open(&source).unwrap();
    store.init().unwrap();
    publish::publish(&store, "HEAD", &[]).unwrap();
    let url = format!("file://{}", source.display());
    for round in 0..10 {
        let atom_store = scratch(&format!("fetch-race-{round}"));
        let barrier = std::sync::Barrier::new(8);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        Store::new(&atom_store).fetch(&url, &mut |_| {})
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for result in results {
            let fetched = result.unwrap_or_else(|e| panic!("round {round}: {e}"));
            // Each ref is created here or found in place (identical refs may be created by
            // several fetches at once: gix accepts an existing ref with the same target).
            assert_eq!(fetched.created.len() + fetched.unchanged, 9);
        }
        let set = fs::read_dir(&atom_store)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        support::fsck_store(&set);
        let refs = git(&set, &["for-each-ref", "--format=%(refname)"]);
        assert_eq!(refs.lines().count(), 9, "{refs}");
    }
}

#[test]
fn a_fetch_waits_for_a_ref_lock_another_process_holds() {
    let source = repo("fetch-lock-source");
    let store = Repo::open(&source).unwrap();
    store.init().unwrap();
    publish::publish(&store, "HEAD", &[]).unwrap();
    let url = format!("file://{}", source.display());
    let atom_store = scratch("fetch-lock");
    Store::new(&atom_store).fetch(&url, &mut |_| {}).unwrap();

    write(&source, "pkgs/a/atom.toml", &manifest("alpha", "1.1.0"));
    git(&source, &["commit", "-q", "-am", "alpha 1.1.0"]);
    publish::publish(&Repo::open(&source).unwrap(), "HEAD", &["pkgs/a".into()]).unwrap();
    // Another process is writing the new ref: its lock file stays longer than the 100 ms gix
    // waits for a lock by itself.
    let set = fs::read_dir(&atom_store)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let lock = set.join("refs/eka/atoms/alpha/1.1.0.lock");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    fs::write(&lock, "").unwrap();
    let fetched = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(400));
            fs::remove_file(&lock).unwrap();
        });
        Store::new(&atom_store).fetch(&url, &mut |_| {}).unwrap()
    });
    assert!(
        fetched
            .created
            .contains(&"refs/eka/atoms/alpha/1.1.0".to_owned()),
        "{:?}",
        fetched.created
    );
}
