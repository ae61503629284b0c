//! The `atom` command line: a thin face over the `atom` core.

mod add;
mod new;
mod output;
mod publish_report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use atom::diagnostic::shell_quote;
use atom::id::{AtomDigest, AtomId, Label, Root};
use atom::lock::{Lockfile, LOCK_FILE};
use atom::manifest::{Manifest, Requirement, Version, MANIFEST_FILE};
use atom::repo::{AtomRef, InitOutcome, Repo, RepoError};
use atom::resolve::locking;
use atom::store::{local_path, Store};
use atom::uri::{Aliases, AtomUri};
use clap::{Parser, Subcommand};
use serde_json::json;

use output::Output;

/// Publish, fetch, list, resolve, lock and verify atoms.
///
/// Exit status: 0 on success, 1 when the command fails (the message says why), 2 on a usage
/// error.
#[derive(Parser)]
#[command(name = "atom", version, about, long_about)]
struct Cli {
    /// The git repository to work in; paths given to commands are relative to it.
    #[arg(short = 'C', long = "repo", global = true, default_value = ".")]
    repo: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record the repository's identity: create refs/ekala/init at the root of HEAD.
    ///
    /// Idempotent; refuses to change an existing refs/ekala/init that points elsewhere.
    Init,
    /// Publish atoms from a commit (default HEAD) as refs/eka/atoms/<label>/<version>.
    ///
    /// With no PATH, publishes every atom listed in the commit's ekala.toml. Published versions
    /// never change: an atom whose files are those of its published version is reported
    /// "unchanged" and skipped (whatever commit it was published from); different content under a
    /// published version is an error. Prints one line per atom (published, unchanged, failed and
    /// why) and a summary; exits 1 when any atom failed.
    ///
    /// Refused: an atom that declares dependencies without an atom.lock in the commit that
    /// satisfies them (run `atom lock PATH` and commit it). A repository without refs/ekala/init
    /// is initialised first (as `atom init` does), and says so.
    Publish {
        /// Atom directories, relative to the repository root.
        paths: Vec<String>,
        /// The commit to publish from.
        #[arg(long, default_value = "HEAD")]
        rev: String,
    },
    /// Copy the published atoms of a repository into the atom store.
    ///
    /// The store holds one bare repository per set root. Only local repositories (a path or a
    /// file:// URL) can be fetched by this build.
    ///
    /// With --git, mirrors a plain git repository instead (a direct `nix+git` dependency), so
    /// that the evaluator reads its locked revision from the store rather than fetching it.
    Fetch {
        /// The repository to fetch from.
        url: String,
        /// The atom store [default: the `atom-store` setting of Nix's configuration (nix.conf,
        /// NIX_CONFIG), as the plugin reads it; else $ATOM_STORE; else
        /// $XDG_CACHE_HOME/atom/store; else ~/.cache/atom/store].
        #[arg(long)]
        store: Option<PathBuf>,
        /// Mirror a direct git dependency rather than fetch an atom set.
        #[arg(long)]
        git: bool,
    },
    /// Write atom.lock for an atom: resolve its dependencies against the atom store.
    ///
    /// Entries that still satisfy the manifest are kept; dependencies the manifest no longer
    /// declares are dropped. A static atom has no lock. A lock that is already in sync is not
    /// written at all; otherwise only the entries that change are rewritten, and the rest of the
    /// file (order of sections, comments) is kept.
    Lock {
        /// The atom's directory (relative to -C DIR when given).
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Fail if atom.lock is out of date, without writing it.
        #[arg(long)]
        check: bool,
        /// Re-resolve every dependency, or only the NAMEs given (labels of atoms, names of
        /// direct dependencies), to the highest version its requirement allows. Give PATH
        /// before it: `atom lock app --update lib`.
        #[arg(long, value_name = "NAME", num_args = 0..)]
        update: Option<Vec<String>>,
        /// The atom store [default: as for `fetch`].
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// List published atoms and their versions, newest first.
    Ls {
        /// Only this label.
        label: Option<String>,
    },
    /// Resolve `[url]::label[@requirement]` or `label[@requirement]` to the highest matching
    /// published version.
    Resolve {
        /// What to resolve.
        uri: String,
    },
    /// Print the manifest of a published version (`label@version`), or of the latest version
    /// of a label (`label`).
    Show {
        /// `label@version` or `label`.
        atom: String,
    },
    /// Print an AtomId: of LABEL in this repository, or of LABEL under ROOT.
    Id {
        /// The repository's root commit (40 hexadecimal digits), or the label when only one
        /// argument is given.
        first: String,
        /// The atom's label.
        label: Option<String>,
    },
    /// Verify published atoms: commit format, manifest, metadata refs, origin and id.
    Verify {
        /// Only this atom: `label` (every version) or `label@version`.
        atom: Option<String>,
        /// The id the atom must have (e.g. from a lock).
        #[arg(long)]
        id: Option<String>,
    },
    /// Add a dependency to an atom's atom.toml and lock it: both files change, or neither.
    ///
    /// atom.toml keeps its formatting and comments. An atom from a set not yet declared gets a
    /// `[package.sets]` entry.
    Add(AddArgs),
    /// Create an atom: atom.toml, a mod.nix with one public member, and its entry in the
    /// repository's ekala.toml (created when missing).
    New {
        /// The atom's directory (relative to -C DIR when given).
        path: PathBuf,
        /// Its label [default: the directory's name].
        #[arg(long)]
        label: Option<String>,
    },
    /// Manage the atom store.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Validate an atom's manifest (atom.toml) and, if present, its lock (atom.lock).
    ///
    /// Errors point into the file (`atom.toml:2:9: ...`) and show the offending line. Also
    /// reported, as by `atom lock --check`: a path the manifest names (`[compose.as] nix`, a
    /// composer's entry) that does not exist, and a lock that is missing (when dependencies are
    /// declared) or no longer satisfies the manifest.
    Check {
        /// The atom's directory, or its atom.toml.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
}

/// `atom add`'s arguments.
#[derive(clap::Args)]
struct AddArgs {
    /// The atom to add: `[url]::label[@requirement]` (e.g. `::lib`, `file:///srv/repo::lib@^1`,
    /// `gh:owner/repo::lib`); without a requirement, `^` the version it locks.
    #[arg(required_unless_present_any = ["git", "tar"], conflicts_with_all = ["git", "tar"])]
    uri: Option<String>,
    /// A direct Nix dependency: a git repository (at HEAD, or at --ref).
    #[arg(long, value_name = "URL", conflicts_with = "tar")]
    git: Option<String>,
    /// The ref of --git to lock (a branch, a tag).
    #[arg(long = "ref", value_name = "REF", requires = "git")]
    reference: Option<String>,
    /// A direct Nix dependency: a tarball.
    #[arg(long, value_name = "URL")]
    tar: Option<String>,
    /// The name of a direct dependency [default: from its URL].
    #[arg(long, conflicts_with = "uri")]
    name: Option<String>,
    /// The atom's directory (relative to -C DIR when given).
    #[arg(long, default_value = ".")]
    path: PathBuf,
    /// The atom store [default: as for `fetch`].
    #[arg(long)]
    store: Option<PathBuf>,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Check the atom store, like `nix store verify`: deep-check every materialised tree
    /// (trees/<tree> and trees/nix/<tree>: every file's content hash, modes, symlink targets, no
    /// extra or missing entry) against the git tree it was written from, and verify every
    /// published atom of every set repository.
    ///
    /// Reports each problem; exits 1 if any is found (and, with --repair, not repaired).
    Verify {
        /// Delete each tree that differs and write it again from git.
        #[arg(long)]
        repair: bool,
        /// The atom store [default: as for `fetch`].
        #[arg(long)]
        store: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = Output::new(cli.json);
    match run(&cli, &mut out) {
        Ok(()) => {
            out.finish();
            ExitCode::SUCCESS
        }
        Err(message) => {
            out.fail(&message);
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn open(cli: &Cli) -> Result<Repo> {
    Repo::open(&cli.repo).map_err(err)
}

/// A path given on the command line, relative to `-C DIR` when one is given.
fn in_repo(cli: &Cli, path: &Path) -> PathBuf {
    if cli.repo == Path::new(".") {
        path.to_owned()
    } else {
        cli.repo.join(path)
    }
}

fn parse_label(text: &str) -> Result<Label> {
    Label::parse(text).map_err(err)
}

/// `label@version` or `label`.
fn split_at_version(text: &str) -> Result<(Label, Option<&str>)> {
    match text.split_once('@') {
        Some((label, version)) => Ok((parse_label(label)?, Some(version))),
        None => Ok((parse_label(text)?, None)),
    }
}

fn run(cli: &Cli, out: &mut Output) -> Result {
    match &cli.command {
        Command::Init => init(&open(cli)?, out),
        Command::Publish { paths, rev } => publish_report::publish(&open(cli)?, rev, paths, out),
        Command::Fetch {
            url,
            store,
            git: true,
        } => fetch_git(url, &atom_store(store)?, out),
        Command::Fetch { url, store, .. } => fetch(url, &atom_store(store)?, out),
        Command::Lock {
            path,
            check,
            update,
            store,
        } => {
            let update = match update {
                None => locking::Update::Nothing,
                Some(names) if names.is_empty() => locking::Update::All,
                Some(names) => locking::Update::Only(
                    names
                        .iter()
                        .map(|n| parse_label(n))
                        .collect::<Result<_>>()?,
                ),
            };
            lock(
                &in_repo(cli, path),
                *check,
                &update,
                &atom_store(store)?,
                out,
            )
        }
        Command::Ls { label } => ls(&open(cli)?, label.as_deref(), out),
        Command::Resolve { uri } => resolve(cli, uri, out),
        Command::Show { atom } => show(&open(cli)?, atom, out),
        Command::Id { first, label } => id(cli, first, label.as_deref(), out),
        Command::Verify { atom, id } => verify(&open(cli)?, atom.as_deref(), id.as_deref(), out),
        Command::Check { path } => check(&in_repo(cli, path), out),
        Command::Add(args) => {
            let dependency = match (&args.uri, &args.git, &args.tar) {
                (Some(uri), ..) => add::Dependency::Atom(uri),
                (None, Some(url), _) => add::Dependency::Direct {
                    name: args.name.as_deref(),
                    source: atom::edit::DirectSource::Git {
                        url: url.clone(),
                        reference: args.reference.clone(),
                    },
                },
                (None, None, Some(url)) => add::Dependency::Direct {
                    name: args.name.as_deref(),
                    source: atom::edit::DirectSource::Tar(url.clone()),
                },
                (None, None, None) => return Err("give an atom URI, --git URL or --tar URL".into()),
            };
            add::add(
                &in_repo(cli, &args.path),
                dependency,
                &atom_store(&args.store)?,
                out,
            )
        }
        Command::New { path, label } => new::new(&in_repo(cli, path), label.as_deref(), out),
        Command::Store {
            command: StoreCommand::Verify { repair, store },
        } => store_verify(&atom_store(store)?, *repair, out),
    }
}

/// `atom init`: record the repository's genesis in `refs/ekala/init`.
fn init(repo: &Repo, out: &mut Output) -> Result {
    let (root, created) = match repo.init().map_err(err)? {
        InitOutcome::Created(root) => (root, true),
        InitOutcome::Unchanged(root) => (root, false),
    };
    out.json(json!({ "root": root.to_hex(), "created": created }));
    out.line(if created {
        format!("initialized: refs/ekala/init -> {root}")
    } else {
        format!("already initialized: refs/ekala/init -> {root}")
    });
    Ok(())
}

/// `atom fetch --git`: mirror a plain git repository into the store.
fn fetch_git(url: &str, store: &Store, out: &mut Output) -> Result {
    let mut progress = |n: usize| out.progress(&format!("mirroring {url}: {n} objects"));
    let (mirror, objects) = store.fetch_git(url, &mut progress).map_err(err)?;
    out.json(json!({ "repo": mirror, "objects": objects }));
    out.line(format!(
        "mirrored {url} into {}: {objects} objects",
        mirror.display()
    ));
    Ok(())
}

/// `atom fetch`: copy a repository's published atoms into the store.
fn fetch(url: &str, store: &Store, out: &mut Output) -> Result {
    let mut progress = |n: usize| out.progress(&format!("fetching {url}: {n} objects"));
    let fetched = store.fetch(url, &mut progress).map_err(err)?;
    store.record_fetch(&fetched.root, url).map_err(err)?;
    out.json(fetched.to_json());
    out.line(format!(
        "fetched {url} into {}: {} new refs, {} unchanged, {} objects",
        fetched.repo.display(),
        fetched.created.len(),
        fetched.unchanged,
        fetched.objects
    ));
    Ok(())
}

/// `atom ls`: the published atoms, or the versions of one label.
fn ls(repo: &Repo, label: Option<&str>, out: &mut Output) -> Result {
    let atoms = match label {
        Some(label) => repo.versions(&parse_label(label)?).map_err(err)?,
        None => repo.atoms().map_err(err)?,
    };
    out.json(json!(atoms
        .iter()
        .map(AtomRef::to_json)
        .collect::<Vec<_>>()));
    if atoms.is_empty() {
        out.line(match label {
            Some(label) => format!("no version of {label} is published in this repository"),
            None => {
                "no atom is published in this repository (publish with `atom publish`)".to_owned()
            }
        });
    }
    for atom in &atoms {
        out.line(format!("{} {} {}", atom.label, atom.version, atom.commit));
    }
    Ok(())
}

/// `atom resolve`: the highest published version an atom URI accepts.
fn resolve(cli: &Cli, uri: &str, out: &mut Output) -> Result {
    let parsed = AtomUri::parse(uri, &Aliases::default()).map_err(err)?;
    let repo = match &parsed.url {
        Some(url) => {
            let text = url.to_string();
            let path = local_path(&text)
                .filter(|p| p.exists())
                .ok_or_else(|| format!("{text} is not a local repository; `atom fetch {}` first, then resolve from the store", shell_quote(&text)))?;
            Repo::open(&path).map_err(err)?
        }
        None => open(cli)?,
    };
    let requirement = parsed
        .version
        .clone()
        .unwrap_or(Requirement::parse("*").map_err(err)?);
    let atom = repo.resolve(&parsed.label, &requirement).map_err(err)?;
    let id = AtomId::new(repo.genesis().map_err(err)?, atom.label.clone()).digest();
    let mut value = atom.to_json();
    value["id"] = json!(id.to_string());
    out.json(value);
    out.line(format!(
        "{} {} {} {id}",
        atom.label, atom.version, atom.commit
    ));
    Ok(())
}

/// `atom show`: the manifest of a published atom, verified first.
fn show(repo: &Repo, atom: &str, out: &mut Output) -> Result {
    let (label, version) = split_at_version(atom)?;
    let found = match version {
        Some(version) => repo.find(&label, &Version::parse(version)?).map_err(err)?,
        // The newest version, pre-releases included; none is the resolve error (which lists
        // the labels there are).
        None => match repo.versions(&label).map_err(err)?.into_iter().next() {
            Some(newest) => newest,
            None => repo
                .resolve(&label, &Requirement::parse("*").map_err(err)?)
                .map_err(err)?,
        },
    };
    let verified = repo.verify(&found, None).map_err(err)?;
    let entry = repo
        .entry(verified.tree, Path::new(MANIFEST_FILE))
        .map_err(err)?
        .ok_or("the atom has no atom.toml")?;
    let text = repo.read_text(entry.id).map_err(|e| match e {
        RepoError::NotText(_) => "atom.toml is not UTF-8".to_owned(),
        other => other.to_string(),
    })?;
    let manifest =
        Manifest::parse(&text, &format!("{}:{MANIFEST_FILE}", found.ref_name())).map_err(err)?;
    out.json(manifest.to_json());
    out.raw(text);
    Ok(())
}

/// `atom id`: the AtomId of a label, in a given root or in the repository's.
fn id(cli: &Cli, first: &str, label: Option<&str>, out: &mut Output) -> Result {
    let (root, label) = match label {
        Some(label) => (Root::parse(first).map_err(err)?, label),
        None => (open(cli)?.genesis().map_err(err)?, first),
    };
    let id = AtomId::new(root, parse_label(label)?);
    out.json(json!({ "root": root.to_hex(), "label": id.label().as_str(), "id": id.to_string() }));
    out.line(id.to_string());
    Ok(())
}

/// `atom verify`: verify published atoms (all, a label's versions, or one version).
fn verify(repo: &Repo, atom: Option<&str>, id: Option<&str>, out: &mut Output) -> Result {
    let expected = id
        .map(|text| AtomDigest::parse(text).map_err(err))
        .transpose()?;
    let atoms = match atom {
        None => repo.atoms().map_err(err)?,
        Some(text) => {
            let (label, version) = split_at_version(text)?;
            match version {
                Some(v) => vec![repo.find(&label, &Version::parse(v)?).map_err(err)?],
                None => repo.versions(&label).map_err(err)?,
            }
        }
    };
    if atoms.is_empty() {
        return Err("no published atom to verify".into());
    }
    let mut items = Vec::new();
    let mut bad = Vec::new();
    for atom in &atoms {
        let legacy = repo
            .atom_format(atom)
            .filter(|f| f.is_legacy())
            .map(|f| f.name());
        let legacy = legacy.or((atom.layout == atom::repo::RefLayout::Legacy).then_some("1"));
        let mut item = atom.to_json();
        match repo.verify(atom, expected.as_ref()) {
            Ok(verified) => {
                item = verified.to_json(atom);
                item["status"] = "ok".into();
                out.line(format!(
                    "ok {} {} {} {}{}",
                    atom.label,
                    atom.version,
                    atom.commit,
                    verified.id,
                    legacy
                        .map(|f| format!(" (legacy format {f})"))
                        .unwrap_or_default()
                ));
            }
            // A legacy atom is verified as far as its format allows; what it lacks is reported,
            // not a failure.
            Err(error) if legacy.is_some() && expected.is_none() => {
                item["status"] = "legacy".into();
                item["problem"] = error.to_string().into();
                out.line(format!(
                    "legacy {} {} {} (format {}, {}): {error}",
                    atom.label,
                    atom.version,
                    atom.commit,
                    legacy.unwrap_or_default(),
                    atom.ref_name()
                ));
            }
            Err(error) => {
                item["status"] = "bad".into();
                item["error"] = error.to_string().into();
                out.line(format!(
                    "bad {} {} {}: {error}",
                    atom.label, atom.version, atom.commit
                ));
                bad.push(error.to_string());
            }
        }
        if let Some(format) = legacy {
            item["format"] = format.into();
        }
        items.push(item);
    }
    out.json(json!(items));
    match bad.len() {
        0 => Ok(()),
        1 => Err(bad.remove(0)),
        n => Err(format!(
            "{n} of {} atoms failed verification:\n  {}",
            atoms.len(),
            bad.join("\n  ")
        )),
    }
}

/// The atom store: `--store`, else the `atom-store` setting of Nix's configuration (as the
/// plugin reads it), else `$ATOM_STORE`, else `$XDG_CACHE_HOME/atom/store`, else
/// `~/.cache/atom/store`.
fn atom_store(given: &Option<PathBuf>) -> Result<Store> {
    match given {
        Some(dir) => Ok(Store::new(dir)),
        None => atom::nix_config::store_from_env().map_err(err),
    }
}

/// `atom lock`: compute the lock; write it when it differs (through a temporary file, renamed
/// into place, changing only the entries that change), or with `--check` only compare it with the
/// file.
fn lock(
    path: &Path,
    check: bool,
    update: &locking::Update,
    store: &Store,
    out: &mut Output,
) -> Result {
    let lock_path = path.join(LOCK_FILE);
    let Some(lock) = locking::lock_updating(path, store, update).map_err(err)? else {
        out.json(json!({ "lock": null, "changed": false }));
        out.line(format!(
            "{} is a static atom: it has no lock",
            path.display()
        ));
        return Ok(());
    };
    atom::check::entries_exist(path).map_err(err)?;
    let current = atom::diagnostic::read_text_if_present(&lock_path).map_err(err)?;
    let previous = current
        .as_deref()
        .and_then(|text| Lockfile::parse(text, &lock_path.to_string_lossy()).ok());
    let changed = !previous
        .as_ref()
        .is_some_and(|p| atom::lock::edit::same(p, &lock));
    if check {
        if changed {
            return Err(format!(
                "{} is out of date{}; run `atom lock {}`",
                lock_path.display(),
                if current.is_none() {
                    " (it does not exist)"
                } else {
                    ""
                },
                shell_quote(&path.to_string_lossy())
            ));
        }
        out.json(json!({ "lock": lock_path, "changed": false }));
        out.line(format!("{} is up to date", lock_path.display()));
        return Ok(());
    }
    let updates = version_changes(previous.as_ref(), &lock);
    if changed {
        let text = match &current {
            Some(current) => atom::lock::edit::rewrite(current, &lock),
            None => lock.render(),
        };
        let tmp = path.join(format!(".{LOCK_FILE}.tmp-{}", std::process::id()));
        std::fs::write(&tmp, &text)
            .and_then(|()| std::fs::rename(&tmp, &lock_path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot write {}: {e}", lock_path.display())
            })?;
    }
    for update in &updates {
        out.line(format!("updated {update}"));
    }
    out.json(json!({ "lock": lock_path, "changed": changed, "updated": updates }));
    out.line(format!(
        "{} {}",
        if changed { "wrote" } else { "unchanged:" },
        lock_path.display()
    ));
    Ok(())
}

/// `label old -> new` for each atom whose locked version differs between `old` and `new`.
fn version_changes(old: Option<&Lockfile>, new: &Lockfile) -> Vec<String> {
    let atoms = |lock: &Lockfile| -> Vec<(String, String)> {
        let mut atoms: Vec<(String, String)> = lock
            .deps
            .iter()
            .filter_map(|d| match d {
                atom::lock::LockedDep::Atom(a) => {
                    Some((a.label.to_string(), a.version.to_string()))
                }
                _ => None,
            })
            .collect();
        if let atom::lock::LockedCompose::Atom { atom, .. } = &lock.compose {
            atoms.push((atom.label.to_string(), atom.version.to_string()));
        }
        atoms
    };
    let Some(old) = old else {
        return Vec::new();
    };
    let before = atoms(old);
    atoms(new)
        .into_iter()
        .filter_map(|(label, version)| {
            let (_, previous) = before.iter().find(|(l, _)| l == &label)?;
            (previous != &version).then(|| format!("{label} {previous} -> {version}"))
        })
        .collect()
}

/// `atom store verify`: report every problem of the store; fail if any is left.
fn store_verify(store: &Store, repair: bool, out: &mut Output) -> Result {
    let report = store.verify(repair).map_err(err)?;
    for tree in &report.trees {
        if let Some(problem) = &tree.problem {
            out.line(format!("bad: {problem}"));
            if tree.repaired {
                out.line(format!("repaired: {}", tree.dir.display()));
            }
        }
    }
    for atom in report.atoms.iter().filter(|a| a.problem.is_some()) {
        out.line(format!(
            "bad: {} in {}: {}",
            atom.atom,
            atom.repo.display(),
            atom.problem
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ));
    }
    let problems = report.trees.iter().filter(|t| t.problem.is_some()).count()
        + report.atoms.iter().filter(|a| a.problem.is_some()).count();
    let repaired = report.trees.iter().filter(|t| t.repaired).count();
    out.json(report.to_json());
    out.line(format!(
        "checked {} trees and {} atoms in {}: {problems} problems, {repaired} repaired",
        report.trees.len(),
        report.atoms.len(),
        store.dir().display()
    ));
    match report.unrepaired() {
        0 => Ok(()),
        n => Err(format!(
            "{n} problem{} in the atom store {}{}",
            if n == 1 { "" } else { "s" },
            store.dir().display(),
            if repair {
                ""
            } else {
                "; run `atom store verify --repair` to rewrite altered trees from git"
            }
        )),
    }
}

/// `atom check`: parse and validate the manifest, then the lock beside it if there is one.
fn check(path: &Path, out: &mut Output) -> Result {
    let (dir, manifest_path) = if path.is_dir() {
        (path.to_owned(), path.join(MANIFEST_FILE))
    } else {
        (
            path.parent().unwrap_or(Path::new(".")).to_owned(),
            path.to_owned(),
        )
    };
    let manifest = Manifest::read(&manifest_path).map_err(err)?;
    let mut checked = vec![manifest_path.display().to_string()];
    let lock_path = dir.join(LOCK_FILE);
    let lock = Lockfile::read_if_present(&lock_path).map_err(err)?;
    if lock.is_some() {
        checked.push(lock_path.display().to_string());
    }
    atom::check::manifest_paths_exist(&dir, &manifest).map_err(err)?;
    if !matches!(
        manifest.compose,
        atom::manifest::Compose::As(atom::manifest::ComposeAs::Static(_))
    ) {
        atom::check::lock_covers(&dir, &manifest, lock.as_ref()).map_err(err)?;
    }
    out.json(json!({ "label": manifest.package.label.as_str(), "version": manifest.package.version.to_string(), "checked": checked }));
    out.line(format!(
        "ok: {} {}: {} {} valid",
        manifest.package.label,
        manifest.package.version,
        checked.join(" and "),
        if checked.len() == 1 { "is" } else { "are" }
    ));
    Ok(())
}
