use super::*;
use crate::id::AtomId;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/locks")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn the_published_build_lock_round_trips_byte_for_byte() {
    let text = fixture("build.atom.lock");
    let lock = Lockfile::parse(&text, "build/atom.lock").unwrap();
    assert_eq!(lock.sets.len(), 2);
    assert_eq!(lock.deps.len(), 2);
    assert!(
        matches!(&lock.compose, LockedCompose::Atom { entry, atom } if entry == "eka" && atom.label.as_str() == "atom-nix")
    );
    assert_eq!(lock.render(), text);
}

#[test]
fn a_lock_without_locker_is_read_and_written_back() {
    // atom-nix publishes this lock; the reference's own parser rejects it for lacking [locker].
    let text = fixture("atom-nix.atom.lock");
    let lock = Lockfile::parse(&text, "atom.lock").unwrap();
    assert_eq!(lock.locker, None);
    assert_eq!(lock.compose, LockedCompose::Nix { entry: ".".into() });
    assert_eq!(lock.render(), text);
}

#[test]
fn locked_ids_match_their_set_and_label() {
    let lock = Lockfile::parse(&fixture("build.atom.lock"), "atom.lock").unwrap();
    let mut atoms: Vec<&AtomDep> = lock.locker.iter().collect();
    if let LockedCompose::Atom { atom, .. } = &lock.compose {
        atoms.push(atom);
    }
    for dep in &lock.deps {
        if let LockedDep::Atom(atom) = dep {
            atoms.push(atom);
        }
    }
    assert_eq!(atoms.len(), 3);
    for atom in atoms {
        assert_eq!(
            AtomId::new(atom.set, atom.label.clone()).digest(),
            atom.id,
            "{}",
            atom.label
        );
    }
}

#[test]
fn deps_are_written_in_the_reference_order() {
    let mut lock = Lockfile::parse(&fixture("build.atom.lock"), "atom.lock").unwrap();
    let expected = lock.render();
    lock.deps.reverse();
    assert_eq!(lock.render(), expected);
}

use atom_test_support::gen;
use gen::Gen;

/// Random lock parts.
trait LockGen {
    fn hex(&mut self, len: usize) -> String;
    fn root(&mut self) -> Root;
    fn label(&mut self) -> Label;
    fn version(&mut self) -> Version;
    fn url(&mut self) -> String;
    fn mirror(&mut self) -> String;
    fn atom(&mut self) -> AtomDep;
    fn hash(&mut self) -> NixHash;
    fn lock(&mut self) -> Lockfile;
}

impl LockGen for Gen {
    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap())
            .collect()
    }
    fn root(&mut self) -> Root {
        Root::from_hex(&self.hex(40)).unwrap()
    }
    fn label(&mut self) -> Label {
        let base = self.pick(&["a", "nix-lock", "ひらがな", "Café_au_lait-123", "x1", "b-2"]);
        Label::new(&format!("{base}{}", self.below(5))).unwrap()
    }
    fn version(&mut self) -> Version {
        let pre = self.pick(&["", "-local", "-rc.1", "+build.5"]);
        Version::parse(&format!(
            "{}.{}.{}{pre}",
            self.below(3),
            self.below(20),
            self.below(9)
        ))
        .unwrap()
    }
    fn url(&mut self) -> String {
        let url = self.pick(&[
            "https://github.com/ekala-project/eka.git",
            "ssh://git@example.com/a/b",
            "file:///tmp/repo",
            "https://example.com/quote\"and\\slash",
        ]);
        format!("{url}{}", self.below(3))
    }
    /// A URL valid as a mirror (those exclude quotes and backslashes, which `url` tests the
    /// rendering of).
    fn mirror(&mut self) -> String {
        loop {
            let url = self.url();
            if !url.contains('"') {
                return url;
            }
        }
    }
    fn atom(&mut self) -> AtomDep {
        let set = self.root();
        let label = self.label();
        AtomDep {
            id: AtomId::new(set, label.clone()).digest(),
            label,
            version: self.version(),
            set,
            rev: (self.below(3) > 0).then(|| GitRev::parse(&self.hex(40)).unwrap()),
            mirror: (self.below(3) > 0).then(|| self.mirror()),
        }
    }
    fn hash(&mut self) -> NixHash {
        let b64: String = (0..43)
            .map(|_| {
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                alphabet[self.below(64) as usize] as char
            })
            .collect();
        NixHash::parse(&format!("sha256-{b64}=")).unwrap()
    }
    fn lock(&mut self) -> Lockfile {
        let mut sets = BTreeMap::new();
        for _ in 0..self.below(4) {
            let mut mirrors = BTreeSet::new();
            if self.below(2) == 0 {
                mirrors.insert(Mirror::Local);
            }
            for _ in 0..=self.below(3) {
                mirrors.insert(Mirror::Url(self.mirror()));
            }
            sets.insert(
                self.root(),
                LockedSet {
                    tag: Tag::new(&format!("t.{}", self.below(9))).unwrap(),
                    mirrors,
                },
            );
        }
        let compose = match self.below(3) {
            0 => LockedCompose::Nix { entry: ".".into() },
            1 => LockedCompose::Atom {
                atom: self.atom(),
                entry: self.pick(&[".", "eka", "sub/dir"]).into(),
            },
            _ => LockedCompose::Static,
        };
        let mut deps = Vec::new();
        let mut names = BTreeSet::new();
        for _ in 0..self.below(6) {
            let name = self.label();
            if !names.insert(name.clone()) {
                continue;
            }
            let url = self.url();
            deps.push(match self.below(5) {
                0 => LockedDep::Atom(self.atom()),
                1 => LockedDep::Nix(HashedDep {
                    name,
                    url,
                    hash: self.hash(),
                }),
                2 => LockedDep::NixTar(HashedDep {
                    name,
                    url,
                    hash: self.hash(),
                }),
                3 => LockedDep::NixSrc(HashedDep {
                    name,
                    url,
                    hash: self.hash(),
                }),
                _ => LockedDep::NixGit(GitDep {
                    name,
                    url,
                    version: (self.below(2) == 0).then(|| self.version()),
                    rev: GitRev::parse(&self.hex(40)).unwrap(),
                }),
            });
        }
        Lockfile {
            version: LOCK_VERSION,
            sets,
            locker: (self.below(2) == 0).then(|| self.atom()),
            compose,
            deps,
        }
    }
}

#[test]
fn property_render_then_parse_is_identity() {
    let mut gen = Gen(0x9e37_79b9_7f4a_7c15);
    for case in 0..2000 {
        let mut lock = gen.lock();
        let text = lock.render();
        let parsed = Lockfile::parse(&text, "atom.lock")
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
        // Parsing keeps the file's (sorted) order; compare with the sorted original.
        lock.deps.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        assert_eq!(parsed, lock, "case {case}:\n{text}");
        assert_eq!(parsed.render(), text, "case {case}");
    }
}

#[test]
fn hashes_and_revs_are_checked() {
    assert!(NixHash::parse("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").is_ok());
    assert!(NixHash::parse("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").is_ok());
    assert!(NixHash::parse("sha256-short=").is_err());
    assert!(NixHash::parse("sha512-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").is_err());
    assert!(NixHash::parse("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7e").is_err());
    assert!(GitRev::parse("aa7399c89d6afae67e2eccd63e242ccd029dccd3").is_ok());
    assert!(GitRev::parse("AA7399C89D6AFAE67E2ECCD63E242CCD029DCCD3").is_err());
}

/// The atom store keeps parsed locks in their serde form (JSON): every fixture reads back as
/// parsed, whatever it pins.
#[test]
fn every_fixture_lock_survives_its_serde_form() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/locks");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let Ok(lock) = Lockfile::parse(&std::fs::read_to_string(&path).unwrap(), "atom.lock")
        else {
            continue;
        };
        let json = serde_json::to_vec(&lock).unwrap();
        assert_eq!(
            serde_json::from_slice::<Lockfile>(&json).unwrap(),
            lock,
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert_eq!(seen, 2, "the fixtures are locks");
    // Every kind of entry, with and without its optional keys.
    let hash = format!("sha256-{}=", "A".repeat(43));
    let rev = "a".repeat(40);
    let text = format!(
        "version = 1\n\n[compose]\nuse = \"static\"\n\n\
         [[deps]]\ntype = \"nix\"\nname = \"f\"\nurl = \"https://example.org/f\"\nhash = \"{hash}\"\n\n\
         [[deps]]\ntype = \"nix+tar\"\nname = \"t\"\nurl = \"https://example.org/t.tar\"\nhash = \"{hash}\"\n\n\
         [[deps]]\ntype = \"nix+src\"\nname = \"s\"\nurl = \"https://example.org/s\"\nhash = \"{hash}\"\n\n\
         [[deps]]\ntype = \"nix+git\"\nname = \"g\"\nurl = \"https://example.org/g.git\"\nversion = \"1.2.3\"\nrev = \"{rev}\"\n\n\
         [[deps]]\ntype = \"nix+git\"\nname = \"h\"\nurl = \"https://example.org/h.git\"\nrev = \"{rev}\"\n"
    );
    let lock = Lockfile::parse(&text, "atom.lock").unwrap();
    assert_eq!(lock.deps.len(), 5);
    let json = serde_json::to_vec(&lock).unwrap();
    assert_eq!(serde_json::from_slice::<Lockfile>(&json).unwrap(), lock);
}
