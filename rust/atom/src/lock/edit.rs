//! Rewriting an existing `atom.lock` in place: only the entries that change are touched, and the
//! rest of the file keeps its bytes (section order, comments, layout), so that a lock written by
//! another tool or another version does not churn in review.

use std::fmt;

use toml_edit::{DocumentMut, Item, Table};

use super::{LockedCompose, LockedDep, Lockfile};
use crate::id::Label;
use crate::manifest::Version;

/// The text to write for the lock `new` over a file holding `old`: `old` itself when it already
/// says what `new` says (nothing to write); otherwise `old` with only the entries that differ
/// replaced, added or removed. When `old` does not parse, the text is `new` rendered afresh
/// ([`Lockfile::render`]).
pub fn rewrite(old: &str, new: &Lockfile) -> String {
    let Ok(current) = Lockfile::parse(old, "atom.lock") else {
        return new.render();
    };
    if same(&current, new) {
        return old.to_owned();
    }
    match edit(old, &current, new) {
        // Checked: the edited text must read back as exactly `new`.
        Some(text)
            if Lockfile::parse(&text, "atom.lock")
                .ok()
                .is_some_and(|l| same(&l, new)) =>
        {
            text
        }
        _ => new.render(),
    }
}

/// Whether two locks say the same thing, whatever the order of their `[[deps]]` entries.
pub fn same(a: &Lockfile, b: &Lockfile) -> bool {
    a.render() == b.render()
}

/// An atom whose locked version differs between two locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionChange {
    /// The atom's label.
    pub label: Label,
    /// Its version in the old lock.
    pub from: Version,
    /// Its version in the new lock.
    pub to: Version,
}

impl fmt::Display for VersionChange {
    /// `label from -> to`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.label, self.from, self.to)
    }
}

/// The atoms (`type = "atom"` dependencies, then the composer atom) of `new` that `old` locks at
/// another version, in the order of `new`; an atom `old` does not lock is not a change.
pub fn version_changes(old: &Lockfile, new: &Lockfile) -> Vec<VersionChange> {
    let atoms = |lock: &Lockfile| -> Vec<(Label, Version)> {
        let mut atoms: Vec<(Label, Version)> = lock
            .deps
            .iter()
            .filter_map(|d| match d {
                LockedDep::Atom(a) => Some((a.label.clone(), a.version.clone())),
                _ => None,
            })
            .collect();
        if let LockedCompose::Atom { atom, .. } = &lock.compose {
            atoms.push((atom.label.clone(), atom.version.clone()));
        }
        atoms
    };
    let before = atoms(old);
    atoms(new)
        .into_iter()
        .filter_map(|(label, to)| {
            let (_, from) = before.iter().find(|(l, _)| l == &label)?;
            (from != &to).then(|| VersionChange {
                label,
                from: from.clone(),
                to,
            })
        })
        .collect()
}

/// What identifies a `[[deps]]` entry across versions of a lock: an atom by set and label, a
/// direct dependency by name.
fn identity(dep: &LockedDep) -> String {
    match dep {
        LockedDep::Atom(atom) => format!("atom {} {}", atom.set, atom.label),
        other => format!(
            "direct {}",
            other.direct_name().map(|n| n.as_str()).unwrap_or_default()
        ),
    }
}

fn edit(old: &str, current: &Lockfile, new: &Lockfile) -> Option<String> {
    let mut doc: DocumentMut = old.parse().ok()?;
    let fresh: DocumentMut = new.render().parse().ok()?;

    // [sets.<root>]
    if current.sets != new.sets {
        let fresh_sets = fresh.get("sets").and_then(Item::as_table);
        if new.sets.is_empty() {
            doc.remove("sets");
        } else {
            if doc.get("sets").is_none() {
                let mut table = Table::new();
                table.set_implicit(true);
                doc.insert("sets", Item::Table(table));
            }
            let sets = doc.get_mut("sets")?.as_table_mut()?;
            for (root, _) in current
                .sets
                .iter()
                .filter(|(r, _)| !new.sets.contains_key(r))
            {
                sets.remove(&root.to_string());
            }
            for (root, set) in &new.sets {
                if current.sets.get(root) != Some(set) {
                    let item = fresh_sets?.get(&root.to_string())?.clone();
                    replace(sets, &root.to_string(), item);
                }
            }
        }
    }

    // [locker] and [compose]
    if current.locker != new.locker {
        match fresh.get("locker") {
            Some(item) if doc.get("locker").is_none() => {
                // A new table goes where the reference writes it: just before [compose].
                let mut item = item.clone();
                let compose = doc.get("compose").and_then(Item::as_table);
                if let (Some(position), Item::Table(table)) =
                    (compose.and_then(Table::position), &mut item)
                {
                    shift_positions(doc.as_table_mut(), position);
                    table.set_position(Some(position));
                }
                doc.insert("locker", item);
            }
            Some(item) => replace(doc.as_table_mut(), "locker", item.clone()),
            None => {
                doc.remove("locker");
            }
        }
    }
    if current.compose != new.compose {
        replace(doc.as_table_mut(), "compose", fresh.get("compose")?.clone());
    }

    // [[deps]]
    if current.deps != new.deps {
        let fresh_deps = fresh.get("deps").and_then(Item::as_array_of_tables);
        let fresh_table = |i: usize| fresh_deps.and_then(|a| a.get(i)).cloned();
        if new.deps.is_empty() {
            doc.remove("deps");
        } else {
            if doc.get("deps").is_none() {
                doc.insert("deps", Item::ArrayOfTables(Default::default()));
            }
            let deps = doc.get_mut("deps")?.as_array_of_tables_mut()?;
            // Entries are matched by identity; `current.deps` is in the file's order.
            for (i, dep) in current.deps.iter().enumerate().rev() {
                let id = identity(dep);
                match new.deps.iter().position(|d| identity(d) == id) {
                    None => {
                        deps.remove(i);
                    }
                    Some(j) if &new.deps[j] != dep => {
                        let mut table = fresh_table(j)?;
                        *table.decor_mut() = deps.get(i)?.decor().clone();
                        *deps.get_mut(i)? = table;
                    }
                    Some(_) => {}
                }
            }
            for (j, dep) in new.deps.iter().enumerate() {
                let id = identity(dep);
                if !current.deps.iter().any(|d| identity(d) == id) {
                    deps.push(fresh_table(j)?);
                }
            }
        }
    }
    Some(doc.to_string())
}

/// Puts `item` at `key` of `table`, in place of what is there (keeping its comments before it)
/// or at the end.
/// Moves every table of `table` (at any depth) at `from` or later one place down, to make room
/// for a new table at `from`.
fn shift_positions(table: &mut Table, from: isize) {
    let shift = |t: &mut Table| {
        if let Some(position) = t.position().filter(|p| *p >= from) {
            t.set_position(Some(position + 1));
        }
    };
    for (_, item) in table.iter_mut() {
        match item {
            Item::Table(t) => {
                shift(t);
                shift_positions(t, from);
            }
            Item::ArrayOfTables(array) => {
                for t in array.iter_mut() {
                    shift(t);
                    shift_positions(t, from);
                }
            }
            _ => {}
        }
    }
}

fn replace(table: &mut Table, key: &str, mut item: Item) {
    if let (Some(Item::Table(old)), Item::Table(new)) = (table.get(key), &mut item) {
        *new.decor_mut() = old.decor().clone();
        if let Some(position) = old.position() {
            new.set_position(Some(position));
        }
    }
    table.insert(key, item);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "68b63bd131acd23bdfd57983fe85ba7c092ce02f";
    const ID: &str = "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0";

    fn dep(label: &str, version: &str, rev: char) -> String {
        format!(
            "[[deps]]\ntype = \"atom\"\nlabel = \"{label}\"\nversion = \"{version}\"\nset = \"{ROOT}\"\nrev = \"{}\"\nid = \"{ID}\"\n",
            rev.to_string().repeat(40)
        )
    }

    /// A lock in another tool's order: `[compose]` before `[sets]`, with comments.
    fn text(b: &str, c: &str) -> String {
        format!(
            "# hand-made\nversion = 1\n\n[compose] # how\nuse = \"nix\"\nentry = \".\"\n\n[sets.{ROOT}]\ntag = \"bs\"\nmirrors = [\"::\"]\n\n# b is the library\n{}\n{}",
            dep("b", b, '1'),
            dep("c", c, '2')
        )
    }

    #[test]
    fn an_update_changes_only_the_entries_that_change() {
        let old = text("1.0.0", "1.0.0");
        let mut new = Lockfile::parse(&old, "atom.lock").unwrap();
        assert_eq!(rewrite(&old, &new), old, "in sync: the same bytes");
        let LockedDep::Atom(b) = &mut new.deps[0] else {
            panic!()
        };
        b.version = crate::manifest::Version::parse("1.2.0").unwrap();
        let written = rewrite(&old, &new);
        assert_eq!(written, text("1.2.0", "1.0.0"));
        // A removed entry goes, a new one is appended; the rest stays.
        new.deps.remove(1);
        let rendered = rewrite(&old, &new);
        assert!(rendered.starts_with("# hand-made\nversion = 1\n\n[compose] # how\n"));
        assert!(
            rendered.contains("# b is the library\n[[deps]]"),
            "{rendered}"
        );
        assert!(!rendered.contains("label = \"c\""), "{rendered}");
        assert_eq!(Lockfile::parse(&rendered, "atom.lock").unwrap(), new);
    }

    #[test]
    fn version_changes_name_the_atoms_locked_at_another_version() {
        let old = Lockfile::parse(&text("1.0.0", "1.0.0"), "atom.lock").unwrap();
        let new = Lockfile::parse(&text("1.2.0", "1.0.0"), "atom.lock").unwrap();
        let changes = version_changes(&old, &new);
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["b 1.0.0 -> 1.2.0"]);
        assert!(version_changes(&old, &old).is_empty());
        // An atom the old lock did not pin is added, not changed.
        let mut fewer = old.clone();
        fewer.deps.remove(0);
        assert!(version_changes(&fewer, &new).is_empty());
    }

    #[test]
    fn an_unreadable_lock_is_rendered_afresh() {
        let new = Lockfile::parse(&text("1.0.0", "1.0.0"), "atom.lock").unwrap();
        assert_eq!(rewrite("version = 2\n", &new), new.render());
    }
}
