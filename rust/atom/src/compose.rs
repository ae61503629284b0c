//! Module planning for the composer (docs/format.md#modules): which entries of a directory are members of a
//! module, what they are called, and which are public.
//!
//! The evaluator (the plugin's C++ side) builds Nix values from these plans; everything here is
//! plain file system and naming logic.

use std::fs;
use std::path::{Path, PathBuf};

use crate::store::stamp::{EntryKind, Listing};

/// The file that makes a directory a module.
pub const MODULE_FILE: &str = "mod.nix";

/// A member of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name as written (`Foo`, `bar`, `.hidden`).
    pub name: String,
    /// The `.nix` file, or the submodule's directory.
    pub path: PathBuf,
    /// Whether it is a submodule (a directory with `mod.nix`) rather than a file.
    pub is_module: bool,
}

/// What a directory holds, as a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModulePlan {
    /// Whether the directory has `mod.nix` (otherwise it is not a module and composes to `{}`).
    pub has_mod: bool,
    /// Its members, sorted by name.
    pub members: Vec<Member>,
}

/// Why a directory could not be planned.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the module directory {}: {source}", path.display())]
pub struct PlanError {
    /// The directory.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// The member name of a file name: `foo.nix` → `foo`, `.hidden.nix` → `.hidden`; `None` when the
/// extension is not exactly `nix` (`foo.bar.nix` has the extension `bar.nix`) or the file is
/// `mod.nix`. This is the reference's split `(\.*[^.]+)\.?(.+)?`.
pub fn member_name(file_name: &str) -> Option<&str> {
    if file_name == MODULE_FILE {
        return None;
    }
    let dots = file_name.len() - file_name.trim_start_matches('.').len();
    let rest = &file_name[dots..];
    let stem_end = rest.find('.').unwrap_or(rest.len());
    if stem_end == 0 {
        return None;
    }
    let name = &file_name[..dots + stem_end];
    let extension = file_name[dots + stem_end..].strip_prefix('.')?;
    (extension == "nix").then_some(name)
}

/// Whether a member name is public: its first character is an ASCII capital.
pub fn is_public(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
}

/// The name with its first character lower-cased when it is an ASCII capital (`Foo` → `foo`).
pub fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_uppercase() => c.to_ascii_lowercase().to_string() + chars.as_str(),
        _ => name.to_owned(),
    }
}

/// Plans the module at `dir`: regular `*.nix` files other than `mod.nix` and subdirectories
/// holding `mod.nix` are members; everything else (data files, symlinks, directories without
/// `mod.nix`) is not.
pub fn plan_module(dir: &Path) -> Result<ModulePlan, PlanError> {
    plan_module_listed(dir, None)
}

/// [`plan_module`], taking what is in `dir` from `listing` (a verified stamp's record of the tree
/// `dir` is in) where it can say, and from the disk otherwise.
pub fn plan_module_listed(dir: &Path, listing: Option<&Listing>) -> Result<ModulePlan, PlanError> {
    if let Some(plan) = listing.and_then(|listing| plan_in(dir, &View::Listed(listing))) {
        return plan;
    }
    plan_in(dir, &View::Disk).expect("the disk always answers")
}

/// Where a plan looks at a directory: the disk, or a verified stamp's listing (which cannot say
/// about paths outside its tree, `..`, or names that were not UTF-8).
enum View<'a> {
    Disk,
    Listed(&'a Listing),
}

impl View<'_> {
    /// Whether `path` is a regular file (a symlink is not); `None` when the view cannot say.
    fn is_file(&self, path: &Path) -> Option<bool> {
        match self {
            View::Disk => Some(fs::symlink_metadata(path).is_ok_and(|m| m.is_file())),
            View::Listed(listing) => listing.kind(path).map(|k| k == Some(EntryKind::File)),
        }
    }

    /// The entries of the directory `dir` whose names are UTF-8, with their types (symlinks not
    /// followed); `None` when the view cannot say.
    fn children(&self, dir: &Path) -> Option<std::io::Result<Vec<(String, EntryKind)>>> {
        let View::Listed(listing) = self else {
            return Some(disk_children(dir));
        };
        listing.children(dir).map(Ok)
    }
}

fn disk_children(dir: &Path) -> std::io::Result<Vec<(String, EntryKind)>> {
    let mut children = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let kind = if kind.is_dir() {
            EntryKind::Dir
        } else if kind.is_file() {
            EntryKind::File
        } else if kind.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        };
        children.push((name, kind));
    }
    Ok(children)
}

/// [`plan_module`] as `view` shows `dir`; `None` when the view cannot say.
fn plan_in(dir: &Path, view: &View) -> Option<Result<ModulePlan, PlanError>> {
    if !view.is_file(&dir.join(MODULE_FILE))? {
        return Some(Ok(ModulePlan {
            has_mod: false,
            members: Vec::new(),
        }));
    }
    let children = match view.children(dir)? {
        Ok(children) => children,
        Err(source) => {
            return Some(Err(PlanError {
                path: dir.to_owned(),
                source,
            }))
        }
    };
    let mut members = Vec::new();
    for (file_name, kind) in children {
        let path = dir.join(&file_name);
        match kind {
            EntryKind::Dir if view.is_file(&path.join(MODULE_FILE))? => members.push(Member {
                name: file_name,
                path,
                is_module: true,
            }),
            EntryKind::File => {
                if let Some(name) = member_name(&file_name) {
                    members.push(Member {
                        name: name.to_owned(),
                        path,
                        is_module: false,
                    });
                }
            }
            _ => {}
        }
    }
    // By name, then path: two members of one name (`Foo.nix` and `Foo/`) come in the same order
    // whatever order the directory lists them in.
    members.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.path.cmp(&b.path)));
    Some(Ok(ModulePlan {
        has_mod: true,
        members,
    }))
}

/// Why the atom whose module files are under `root` may lack a member `name` that some code
/// asked for (an `attribute 'name' missing` error): a file that would be that member if its name
/// started with a capital letter (`greet.nix` is private; `Greet.nix` would be exported as
/// `greet`), or a directory of that name that is not a module (it has no `mod.nix`). `None` when
/// neither is found. Looks at most a few levels deep.
pub fn missing_member_hint(root: &Path, name: &str) -> Option<String> {
    fn visit(dir: &Path, name: &str, depth: usize, found: &mut Vec<String>, root: &Path) {
        if depth > 6 || found.len() >= 3 {
            return;
        }
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        let capital = capitalised(name);
        for entry in entries {
            let file = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let shown = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let is_module = path.join(MODULE_FILE).is_file();
                if (file == name || Some(&file) == capital.as_ref()) && !is_module {
                    found.push(format!(
                        "{shown}/ is not a module: a directory is a module (and a member of its parent) only when it has a {MODULE_FILE}; add {shown}/{MODULE_FILE}"
                    ));
                }
                visit(&path, name, depth + 1, found, root);
            } else if file == format!("{name}.nix") && name != "mod" {
                if let Some(capital) = &capital {
                    found.push(format!(
                        "{shown} is private to its atom: only names that start with a capital letter are public; rename it {capital}.nix to export it as `{name}`"
                    ));
                }
            }
        }
    }
    let mut found = Vec::new();
    visit(root, name, 0, &mut found, root);
    (!found.is_empty()).then(|| found.join("; "))
}

/// `name` with its first letter upper-cased, when it starts with a lower-case ASCII letter (what
/// makes a public name, docs/format.md#modules).
fn capitalised(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let first = chars.next().filter(char::is_ascii_lowercase)?;
    Some(first.to_ascii_uppercase().to_string() + chars.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_follow_the_reference_split() {
        assert_eq!(member_name("foo.nix"), Some("foo"));
        assert_eq!(member_name("Foo.nix"), Some("Foo"));
        assert_eq!(member_name(".hidden.nix"), Some(".hidden"));
        assert_eq!(member_name("..x.nix"), Some("..x"));
        assert_eq!(member_name("foo.bar.nix"), None);
        assert_eq!(member_name("mod.nix"), None);
        assert_eq!(member_name("foo"), None);
        assert_eq!(member_name("foo.txt"), None);
        assert_eq!(member_name(".nix"), None);
        assert_eq!(member_name("foo."), None);
    }

    #[test]
    fn visibility_and_lowering() {
        assert!(is_public("Foo") && !is_public("foo") && !is_public("Ñu") && !is_public(".Foo"));
        assert_eq!(lower_first("Foo"), "foo");
        assert_eq!(lower_first("FOO"), "fOO");
        assert_eq!(lower_first("Ñu"), "Ñu");
        assert_eq!(lower_first(""), "");
    }

    #[test]
    fn plans_members_and_skips_data() {
        let dir = std::env::temp_dir().join(format!("atom-plan-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for (path, text) in [
            ("mod.nix", "{}"),
            ("Foo.nix", "1"),
            ("bar.nix", "2"),
            ("data.txt", "x"),
            ("x.y.nix", "3"),
            ("Sub/mod.nix", "{}"),
            ("plain/file.nix", "4"),
        ] {
            fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
            fs::write(dir.join(path), text).unwrap();
        }
        let plan = plan_module(&dir).unwrap();
        assert!(plan.has_mod);
        let names: Vec<(&str, bool)> = plan
            .members
            .iter()
            .map(|m| (m.name.as_str(), m.is_module))
            .collect();
        assert_eq!(names, [("Foo", false), ("Sub", true), ("bar", false)]);
        assert!(!plan_module(&dir.join("plain")).unwrap().has_mod);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A module tree's plan is the same from a verified stamp's listing as from the disk, for
    /// every directory of it, whatever sorts between a directory and its entries.
    #[test]
    fn a_plan_from_the_listing_is_the_plan_from_the_disk() {
        let dir = atom_test_support::scratch("plan-listed").nest("tree");
        for (path, text) in [
            ("mod.nix", "{}"),
            ("Foo.nix", "1"),
            ("bar.nix", "2"),
            ("data.txt", "x"),
            ("Sub/mod.nix", "{}"),
            ("Sub/Deep.nix", "{}"),
            ("Sub-x/mod.nix", "{}"),
            ("Sub.nix", "{}"),
            ("plain/file.nix", "4"),
            ("plain/Nested/mod.nix", "{}"),
            ("linked/mod.nix", "{}"),
        ] {
            fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
            fs::write(dir.join(path), text).unwrap();
        }
        std::os::unix::fs::symlink("Foo.nix", dir.join("Link.nix")).unwrap();
        std::os::unix::fs::symlink("linked", dir.join("Alias")).unwrap();
        crate::store::stamp::write(&dir, Path::new("/nowhere")).unwrap();
        let listing = crate::store::stamp::verified(&dir).unwrap();
        for sub in [
            "",
            "Sub",
            "Sub-x",
            "plain",
            "plain/Nested",
            "linked",
            "missing",
        ] {
            let at = dir.join(sub);
            let listed = plan_in(&at, &View::Listed(&listing))
                .expect("the listing says")
                .unwrap();
            assert_eq!(listed, plan_module(&at).unwrap(), "{sub:?}");
        }
        // Outside the tree, the listing cannot say.
        assert!(plan_in(dir.parent().unwrap(), &View::Listed(&listing)).is_none());
        assert_eq!(
            plan_module_listed(&dir, Some(&listing)).unwrap(),
            plan_module(&dir).unwrap()
        );
    }
}
