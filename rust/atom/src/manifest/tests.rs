use super::*;

/// `build/atom.toml` from the reference repository (docs/format.md#the-atom-manifest).
const BUILD: &str = r#"[package]
label   = "build"
version = "0.3.0"

[package.sets]
atom = "https://github.com/ekala-project/atom"
eka  = ["::", "https://github.com/ekala-project/eka.git"]

[compose.with.atom-nix]
entry = "eka"
from  = "atom"

[deps.direct.nix]
eka.git = "https://github.com/ekala-project/eka.git"

[deps.from.eka]
dev = "^0.1.0"
"#;

/// atom-nix 0.4.4's published manifest (docs/format.md#the-atom-manifest).
const ATOM_NIX: &str = r#"[package]
label = "atom-nix"
version = "0.4.4"

[package.meta]
tags = ["atom:composer"]
description = "A purpose built, unopinionated, and performant module system for Nix code."

[compose.as]
nix = "."
"#;

#[test]
fn the_reference_build_manifest() {
    let m = Manifest::parse(BUILD, "build/atom.toml").unwrap();
    assert_eq!(m.package.label.as_str(), "build");
    assert_eq!(m.package.version.to_string(), "0.3.0");
    let eka = &m.package.sets[&Tag::new("eka").unwrap()];
    assert_eq!(
        eka.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        ["::", "https://github.com/ekala-project/eka.git"]
    );
    let Compose::With(with) = &m.compose else {
        panic!("compose.with expected")
    };
    assert_eq!(with.label.as_str(), "atom-nix");
    assert_eq!(with.composer.entry, "eka");
    assert_eq!(with.composer.version, None);
    let deps = m.dependencies().unwrap();
    assert_eq!(deps.from.len(), 1);
    let eka_dep = &deps.direct.nix[&Label::new("eka").unwrap()];
    assert_eq!(
        eka_dep.source,
        NixSource::Git {
            url: "https://github.com/ekala-project/eka.git".into(),
            at: GitRef::Head
        }
    );
}

#[test]
fn the_published_atom_nix_manifest_and_its_json() {
    let m = Manifest::parse(ATOM_NIX, "atom.toml").unwrap();
    assert_eq!(m.compose, Compose::As(ComposeAs::Nix(".".into())));
    assert_eq!(
        m.to_json(),
        serde_json::json!({
            "package": {
                "label": "atom-nix",
                "version": "0.4.4",
                "meta": {
                    "tags": ["atom:composer"],
                    "description": "A purpose built, unopinionated, and performant module system for Nix code."
                }
            },
            "compose": { "as": { "nix": "." } }
        })
    );
}

#[test]
fn json_keeps_the_shape_of_the_file() {
    let m = Manifest::parse(BUILD, "atom.toml").unwrap();
    assert_eq!(
        m.to_json(),
        serde_json::json!({
            "package": {
                "label": "build",
                "version": "0.3.0",
                "sets": {
                    "atom": "https://github.com/ekala-project/atom",
                    "eka": ["::", "https://github.com/ekala-project/eka.git"]
                }
            },
            "compose": { "with": { "atom-nix": { "from": "atom", "entry": "eka" } } },
            "deps": {
                "from": { "eka": { "dev": "^0.1.0" } },
                "direct": { "nix": { "eka": { "git": "https://github.com/ekala-project/eka.git" } } }
            }
        })
    );
}

#[test]
fn every_direct_dependency_shape() {
    let text = r#"[package]
label = "x"
version = "1.0.0"

[package.sets]
s = "::"

[compose.as]
nix = "."

[deps.from.s]
a = "1.2.3"

[deps.direct.nix]
flat = { url = "https://example.com/f" }
tarball = { tar = "https://example.com/t.tar.gz" }
head = { git = "https://example.com/r.git" }
branch = { git = "https://example.com/r.git", ref = "refs/heads/main" }
tagged = { git = "https://example.com/r.git", version = "^2" }
late = { build = "https://example.com/__VERSION__/b.tar", unpack = true, from_version = ["s", "a"] }
"#;
    let m = Manifest::parse(text, "atom.toml").unwrap();
    let deps = m.dependencies().unwrap();
    let source = |name: &str| deps.direct.nix[&Label::new(name).unwrap()].source.clone();
    assert_eq!(
        source("flat"),
        NixSource::Url("https://example.com/f".into())
    );
    assert_eq!(
        source("tarball"),
        NixSource::Tar("https://example.com/t.tar.gz".into())
    );
    assert!(matches!(
        source("head"),
        NixSource::Git {
            at: GitRef::Head,
            ..
        }
    ));
    assert!(
        matches!(source("branch"), NixSource::Git { at: GitRef::Ref(r), .. } if r == "refs/heads/main")
    );
    assert!(
        matches!(source("tagged"), NixSource::Git { at: GitRef::Version(v), .. } if v.to_string() == "^2")
    );
    assert_eq!(
        source("late"),
        NixSource::Build {
            url: "https://example.com/__VERSION__/b.tar".into(),
            unpack: true
        }
    );
    // A bare version requirement means `^`, as in Cargo.
    assert_eq!(
        deps.from.values().next().unwrap()[&Label::new("a").unwrap()].to_string(),
        "^1.2.3"
    );
    let late = &deps.direct.nix[&Label::new("late").unwrap()];
    assert_eq!(late.from_version.as_ref().unwrap().as_ref().1.as_str(), "a");
}

#[test]
fn meta_tolerates_unknown_keys_and_static_atoms_parse() {
    let text = "[package]\nlabel = \"cfg\"\nversion = \"0.1.0\"\n[package.meta]\nlicense = \"MIT\"\n[compose.as]\nstatic = \"config\"\n";
    let m = Manifest::parse(text, "atom.toml").unwrap();
    assert_eq!(
        m.compose,
        Compose::As(ComposeAs::Static(StaticFormat::Config))
    );
}

#[test]
fn bare_path_mirrors_are_flagged() {
    assert!(Mirror::parse("../other").unwrap().is_bare_path());
    assert!(!Mirror::parse("git@github.com:o/r").unwrap().is_bare_path());
    assert!(!Mirror::parse("https://github.com/o/r")
        .unwrap()
        .is_bare_path());
    assert!(!Mirror::Local.is_bare_path());
    assert!(Mirror::Local < Mirror::parse("/abs/path").unwrap());
}
