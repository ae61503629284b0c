//! Editing an atom's files in place, keeping their formatting and comments (`toml_edit`):
//! creating an atom (`atom new`), listing it in the repository's `ekala.toml`, adding a
//! dependency to `atom.toml` (`atom add`), and writing several files so that either all of them
//! change or none does.

use std::path::{Path, PathBuf};

use toml_edit::{value, DocumentMut, InlineTable, Item, Table};

use crate::id::{Label, Tag};
use crate::manifest::{Mirror, Requirement};

/// Why an atom's files cannot be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// A file that is edited is not valid TOML.
    #[error("{}: cannot edit it: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        reason: String,
    },
    /// A key that is edited has another type than the format gives it.
    #[error("{}: cannot edit it: {key} is not a {expected}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What it should be.
        expected: &'static str,
    },
    /// Writing failed (nothing was changed).
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The text of a new atom's `atom.toml`: composed natively from its own directory.
pub fn new_manifest(label: &Label) -> String {
    format!("[package]\nlabel = \"{label}\"\nversion = \"0.1.0\"\n\n[compose.as]\nnix = \".\"\n")
}

/// The text of a new atom's `mod.nix`: one public member.
pub fn new_module(label: &Label) -> String {
    format!(
        "{{\n  # Public members start with a capital letter; users of the atom see `Hello` as `hello`.\n  # Members starting with a lower-case letter are private to the atom.\n  Hello = \"hello from {label}\";\n}}\n"
    )
}

fn parse(text: &str, path: &Path) -> Result<DocumentMut, EditError> {
    text.parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse {
            path: path.to_owned(),
            reason: e.message().to_owned(),
        })
}

/// A table at `key` of `table`, created (implicit, so that only its sub-tables show) when
/// missing.
fn table_at<'a>(
    table: &'a mut Table,
    key: &str,
    path: &Path,
    shown: &str,
) -> Result<&'a mut Table, EditError> {
    if !table.contains_key(key) {
        let mut new = Table::new();
        new.set_implicit(true);
        table.insert(key, Item::Table(new));
    }
    table
        .get_mut(key)
        .and_then(Item::as_table_mut)
        .ok_or_else(|| EditError::Shape {
            path: path.to_owned(),
            key: shown.to_owned(),
            expected: "table",
        })
}

/// `ekala.toml` (whose text is `text`, or a new file when `None`) listing the atom directory
/// `member` (relative to the repository root) in `[set] packages`; `None` when it already does.
pub fn add_set_member(
    text: Option<&str>,
    member: &str,
    path: &Path,
) -> Result<Option<String>, EditError> {
    let Some(text) = text else {
        return Ok(Some(format!("[set]\npackages = [\"{member}\"]\n")));
    };
    let mut doc = parse(text, path)?;
    let set = table_at(doc.as_table_mut(), "set", path, "[set]")?;
    set.set_implicit(false);
    if !set.contains_key("packages") {
        set.insert("packages", value(toml_edit::Array::new()));
    }
    let packages = set
        .get_mut("packages")
        .and_then(Item::as_array_mut)
        .ok_or_else(|| EditError::Shape {
            path: path.to_owned(),
            key: "[set] packages".to_owned(),
            expected: "array",
        })?;
    let normal = |p: &str| crate::manifest::set::normalize(p).ok();
    if packages
        .iter()
        .any(|p| p.as_str().and_then(normal) == normal(member))
    {
        return Ok(None);
    }
    packages.push(member);
    Ok(Some(doc.to_string()))
}

/// The set of `[package.sets]` an atom dependency from `mirror` goes in: the tag of a declared
/// set with that mirror, else a new tag (`proposed`, made unique), and whether it is new.
pub fn set_for_mirror(
    manifest: &crate::manifest::Manifest,
    mirror: &Mirror,
    proposed: &str,
) -> (Tag, bool) {
    if let Some((tag, _)) = manifest
        .package
        .sets
        .iter()
        .find(|(_, mirrors)| mirrors.iter().any(|m| same_mirror(m, mirror)))
    {
        return (tag.clone(), false);
    }
    let base = Tag::new(proposed).unwrap_or_else(|_| Tag::new("set").expect("a valid tag"));
    let mut tag = base.clone();
    let mut n = 2;
    while manifest.package.sets.contains_key(&tag) {
        tag = Tag::new(&format!("{base}-{n}")).expect("a valid tag");
        n += 1;
    }
    (tag, true)
}

fn same_mirror(a: &Mirror, b: &Mirror) -> bool {
    match (a, b) {
        (Mirror::Local, Mirror::Local) => true,
        (Mirror::Url(a), Mirror::Url(b)) => a.trim_end_matches('/') == b.trim_end_matches('/'),
        _ => false,
    }
}

/// A tag for a set at `url`: its last path component without `.git`, made a valid tag.
pub fn tag_for_url(url: &str) -> String {
    let last = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("")
        .trim_end_matches(".git");
    let tag: String = last
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    match tag.chars().next() {
        Some(c) if c.is_alphabetic() => tag,
        _ => format!("set-{tag}"),
    }
}

/// `atom.toml` (text `text`) with the atom `label` at `requirement` from the set `tag` in
/// `[deps.from.<tag>]` (replacing a requirement already there), the set declared in
/// `[package.sets]` with `mirror` when `new_set`.
pub fn add_atom_dep(
    text: &str,
    path: &Path,
    tag: &Tag,
    new_set: Option<&Mirror>,
    label: &Label,
    requirement: &Requirement,
) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    if let Some(mirror) = new_set {
        let package = table_at(doc.as_table_mut(), "package", path, "[package]")?;
        let sets = table_at(package, "sets", path, "[package.sets]")?;
        sets.set_implicit(false);
        sets.insert(
            tag.as_str(),
            value(match mirror {
                Mirror::Local => "::".to_owned(),
                Mirror::Url(url) => url.clone(),
            }),
        );
    }
    let deps = table_at(doc.as_table_mut(), "deps", path, "[deps]")?;
    let from = table_at(deps, "from", path, "[deps.from]")?;
    let set = table_at(from, tag.as_str(), path, &format!("[deps.from.{tag}]"))?;
    set.set_implicit(false);
    set.insert(label.as_str(), value(requirement.to_string()));
    Ok(doc.to_string())
}

/// A direct Nix dependency for [`add_direct_dep`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectSource {
    /// `{ git = URL }`, or `{ git = URL, ref = REF }`.
    Git {
        /// The repository.
        url: String,
        /// The ref, when not HEAD.
        reference: Option<String>,
    },
    /// `{ tar = URL }`.
    Tar(String),
}

/// `atom.toml` (text `text`) with the direct dependency `name` in `[deps.direct.nix]`
/// (replacing one of that name).
pub fn add_direct_dep(
    text: &str,
    path: &Path,
    name: &Label,
    source: &DirectSource,
) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    let deps = table_at(doc.as_table_mut(), "deps", path, "[deps]")?;
    let direct = table_at(deps, "direct", path, "[deps.direct]")?;
    let nix = table_at(direct, "nix", path, "[deps.direct.nix]")?;
    nix.set_implicit(false);
    let mut entry = InlineTable::new();
    match source {
        DirectSource::Git { url, reference } => {
            entry.insert("git", url.as_str().into());
            if let Some(reference) = reference {
                entry.insert("ref", reference.as_str().into());
            }
        }
        DirectSource::Tar(url) => {
            entry.insert("tar", url.as_str().into());
        }
    }
    nix.insert(name.as_str(), value(entry));
    Ok(doc.to_string())
}

/// Writes each `(path, text)`: all files change, or none does. Each text goes to a temporary file
/// beside its path first; then they are renamed into place one by one, and when a rename fails,
/// the files already renamed get their previous content back (or are removed, when they did not
/// exist).
pub fn write_all(files: &[(PathBuf, String)]) -> Result<(), EditError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| EditError::Io { path, source }
    };
    let mut staged: Vec<(PathBuf, PathBuf, Option<Vec<u8>>)> = Vec::new();
    let cleanup = |staged: &[(PathBuf, PathBuf, Option<Vec<u8>>)]| {
        for (tmp, ..) in staged {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for (path, text) in files {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(crate::repo::temporary_name(&name));
        let previous = std::fs::read(path).ok();
        if let Err(e) = std::fs::write(&tmp, text) {
            let _ = std::fs::remove_file(&tmp);
            cleanup(&staged);
            return Err(io(path)(e));
        }
        staged.push((tmp, path.clone(), previous));
    }
    for i in 0..staged.len() {
        let (tmp, path, _) = &staged[i];
        if let Err(e) = std::fs::rename(tmp, path) {
            for (_, done, previous) in &staged[..i] {
                let _ = match previous {
                    Some(bytes) => std::fs::write(done, bytes),
                    None => std::fs::remove_file(done),
                };
            }
            cleanup(&staged[i..]);
            return Err(io(path)(e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_is_added_keeping_the_file_as_it_is() {
        let text = "# my atom\n[package]\nlabel = \"app\" # the app\nversion = \"0.1.0\"\n\n[compose.as]\nnix = \".\"\n";
        let path = Path::new("atom.toml");
        let tag = Tag::new("lib").unwrap();
        let mirror = Mirror::Url("file:///srv/lib".to_owned());
        let label = Label::new("lib").unwrap();
        let edited = add_atom_dep(
            text,
            path,
            &tag,
            Some(&mirror),
            &label,
            &Requirement::parse("^1.2.0").unwrap(),
        )
        .unwrap();
        assert_eq!(
            edited,
            "# my atom\n[package]\nlabel = \"app\" # the app\nversion = \"0.1.0\"\n\n[package.sets]\nlib = \"file:///srv/lib\"\n\n[compose.as]\nnix = \".\"\n\n[deps.from.lib]\nlib = \"^1.2.0\"\n"
        );
        let direct = add_direct_dep(
            &edited,
            path,
            &Label::new("src").unwrap(),
            &DirectSource::Git {
                url: "file:///srv/src".to_owned(),
                reference: Some("main".to_owned()),
            },
        )
        .unwrap();
        assert!(
            direct.ends_with(
                "[deps.direct.nix]\nsrc = { git = \"file:///srv/src\", ref = \"main\" }\n"
            ),
            "{direct}"
        );
        crate::manifest::Manifest::parse(&direct, "atom.toml").unwrap();
    }

    #[test]
    fn a_member_is_listed_once() {
        let path = Path::new("ekala.toml");
        assert_eq!(
            add_set_member(None, "a", path).unwrap().unwrap(),
            "[set]\npackages = [\"a\"]\n"
        );
        let text = "[set]\npackages = [\"a\"] # atoms\n";
        assert_eq!(add_set_member(Some(text), "./a", path).unwrap(), None);
        assert_eq!(
            add_set_member(Some(text), "b", path).unwrap().unwrap(),
            "[set]\npackages = [\"a\", \"b\"] # atoms\n"
        );
        assert_eq!(tag_for_url("https://example.com/org/lib.git"), "lib");
        assert_eq!(tag_for_url("file:///srv/9repo"), "set-9repo");
    }
}
