//! The `atom` command line: a thin face over the `atom` core.

mod add;
mod new;
mod output;
mod publish_report;
mod trust;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use atom::remote;

use atom::diagnostic::shell_quote;
use atom::id::{AtomDigest, AtomId, Label, Root};
use atom::lock::integrity::INTEGRITY_FILE;
use atom::lock::{Lockfile, LOCK_FILE};
use atom::manifest::{Manifest, Requirement, Version, MANIFEST_FILE};
use atom::remote::push::{self, PushStatus};
use atom::repo::{AtomRef, InitOutcome, Repo, RepoError};
use atom::resolve::locking;
use atom::store::{local_path, FetchOptions, FillStatus, Store, VersionStatus};
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
    /// Seconds a network connection may take, or a server stay silent, before the command fails.
    #[arg(long, global = true, default_value_t = 30, value_name = "SECS")]
    timeout: u64,
    /// The most pack data one fetch may receive from a server, in MiB; a server that sends more
    /// is cut off and nothing it sent is kept.
    #[arg(long, global = true, default_value_t = 4096, value_name = "MIB")]
    max_fetch_mib: u64,
    /// The most a server may send for its handshake and one ref listing, in MiB.
    #[arg(long, global = true, default_value_t = 128, value_name = "MIB")]
    max_listing_mib: u64,
    /// The most memory one received object may take once inflated, in MiB (and at most 64 times
    /// --max-fetch-mib): a pack's deltas may claim any size.
    #[arg(long, global = true, default_value_t = 1024, value_name = "MIB")]
    max_object_mib: u64,
    /// Seconds one conversation with a server may last in all, however steadily it sends.
    #[arg(long, global = true, default_value_t = 900, value_name = "SECS")]
    deadline: u64,
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
    /// Refused: an evaluated atom (any but `[compose.as] static`) without an atom.lock in the
    /// commit that matches its manifest (run `atom lock PATH` and commit it). A repository without refs/ekala/init
    /// is initialised first (as `atom init` does), and says so.
    Publish {
        /// Atom directories, relative to the repository root.
        paths: Vec<String>,
        /// The commit to publish from.
        #[arg(long, default_value = "HEAD")]
        rev: String,
        /// Then push the atoms and refs/ekala/init to REMOTE (a git remote or a URL; default: the
        /// current branch's push remote, else `origin`), with must-not-exist semantics: a version
        /// already there at the same commit is left alone, one there at another commit is
        /// refused. Runs `git push`.
        #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "")]
        push: Option<String>,
        /// Sign each atom with this SSH key (a private key, or a public key an agent holds)
        /// [default: git's `user.signingKey` when `gpg.format = ssh`]. The signature is an
        /// annotated tag at refs/eka/meta/<label>/<version>/signature, made by `ssh-keygen -Y
        /// sign` as git signs tags, so `git verify-tag` checks it too.
        #[arg(long, value_name = "FILE")]
        sign_key: Option<PathBuf>,
        /// Do not sign, even when git is set up to sign with SSH.
        #[arg(long, conflicts_with = "sign_key")]
        no_sign: bool,
    },
    /// Fetch published atoms into the atom store.
    ///
    /// The store holds one bare repository per set root. Only what atoms are made of is
    /// received (atom commits, trees, manifests); the set's root and each version's source
    /// commit are recorded, not downloaded. Each version is verified before it becomes visible.
    ///
    /// With --git, mirrors a plain git repository instead (a direct `nix+git` dependency), so
    /// that the evaluator reads its locked revision from the store rather than fetching it.
    ///
    /// With no URL, fills the store from the lock of the atom in --atom DIR (default: -C DIR):
    /// exactly the versions it pins, transitively through each dependency's own lock, each from
    /// the mirror its lock entry records, else from the set's other mirrors, one listing per
    /// mirror at each level of the dependency graph; and the pinned revisions of its direct git
    /// dependencies. Prints one line per entry (present, fetched, local, failed and where it was
    /// tried); exits 1 when anything the lock needs is still missing.
    Fetch {
        /// Where from: https://…, http://…, git://…, ssh://…, user@host:path, gh:owner/repo, a
        /// path, or a git remote of the repository (-C) [default: what the atom's lock needs].
        url: Option<String>,
        /// Only these atoms: `label` or `label@requirement` [default: every published atom].
        atoms: Vec<String>,
        /// The atom store [default: the `atom-store` setting of Nix's configuration (nix.conf,
        /// NIX_CONFIG), as the plugin reads it; else $ATOM_STORE; else
        /// $XDG_CACHE_HOME/atom/store; else ~/.cache/atom/store].
        #[arg(long)]
        store: Option<PathBuf>,
        /// Mirror a direct git dependency rather than fetch an atom set.
        #[arg(long)]
        git: bool,
        /// With no URL: the atom whose lock to fill (relative to -C DIR when given).
        #[arg(long, value_name = "DIR", default_value = ".", conflicts_with_all = ["url", "git"])]
        atom: PathBuf,
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
        /// Use only what the atom store has; never fetch from the sets' mirrors.
        #[arg(long)]
        offline: bool,
        /// Re-resolve every dependency, or only the NAMEs given (labels of atoms, names of
        /// direct dependencies), to the highest version its requirement allows. Give PATH
        /// before it: `atom lock app --update lib`.
        #[arg(long, value_name = "NAME", num_args = 0..)]
        update: Option<Vec<String>>,
        /// The atom store [default: as for `fetch`].
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Show which locked atoms have newer versions published: the newest the requirement
    /// accepts (`atom lock --update` takes it) and the newest of all (taking it means changing
    /// the requirement in atom.toml). Lists each set's mirrors (refs only), or with --offline
    /// reads the atom store.
    Outdated {
        /// The atom's directory (relative to -C DIR when given).
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Use only what the atom store has.
        #[arg(long)]
        offline: bool,
        /// The atom store [default: as for `fetch`].
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// List published atoms and their versions, newest first: of the repository (-C), or of
    /// URL (a network URL, a path, or a git remote), without downloading any object.
    #[command(override_usage = "atom ls [URL] [LABEL]")]
    Ls {
        /// `[URL] [LABEL]`: one argument is a label unless it contains `/` or `:` or names a git
        /// remote of the repository.
        #[arg(num_args = 0..=2, value_name = "URL|LABEL")]
        args: Vec<String>,
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
    /// Print the content digest (BLAKE3, docs/format.md#content-digest) of a published version
    /// (`label@version`), or of the latest version of a label (`label`), verified first.
    Digest {
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
    ///
    /// With --recursive, verify the locked closure of the atom in PATH instead: every atom its
    /// atom.lock pins, transitively through each dependency's own lock, as the evaluator checks
    /// it (AtomId, content digest and signer against atom.integrity, the keys atom.signers
    /// trusts) and, where its source commit is on this machine, that the atom is that commit's
    /// subtree. One line per atom and a summary; exits 1 when any fails.
    Verify {
        /// Only this atom: `label` (every version) or `label@version`; with --recursive, the
        /// atom's directory [default: .].
        atom: Option<String>,
        /// The id the atom must have (e.g. from a lock).
        #[arg(long, conflicts_with = "recursive")]
        id: Option<String>,
        /// Verify the locked closure of the atom in PATH.
        #[arg(long)]
        recursive: bool,
        /// The atom store [default: as for `fetch`].
        #[arg(long, requires = "recursive")]
        store: Option<PathBuf>,
    },
    /// The keys whose atom signatures this repository trusts (atom.signers at its top, in
    /// git's allowed-signers format).
    ///
    /// A set with trusted keys accepts only versions one of them signed: `atom lock`, `add`
    /// and `--update` skip the others and say why, and the evaluator refuses them. A set
    /// without trusted keys is trusted on first use: the lock records the signer it saw, and a
    /// later version signed otherwise is refused until a key is trusted here.
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
    /// Add a dependency to an atom's atom.toml and lock it: both files change, or neither.
    ///
    /// atom.toml keeps its formatting and comments. An atom from a set not yet declared gets a
    /// `[package.sets]` entry.
    Add(AddArgs),
    /// Create an atom: atom.toml, the default.nix its `[compose.as] nix = "."` imports (the same
    /// value in this evaluator and the reference's loader), and its entry in the repository's
    /// ekala.toml (created when missing).
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
enum TrustCommand {
    /// Trust KEY for SET: a set tag of the atom's manifest, one of the set's mirror URLs, or
    /// its root (the commit id).
    Add {
        /// Whom the key is trusted for.
        set: String,
        /// A public key file, or an OpenSSH public key line (`ssh-ed25519 AAAA…`).
        key: String,
    },
    /// List the trusted keys: the sets each is trusted for and its fingerprint.
    Ls,
    /// Stop trusting the keys of SET (only KEY, when given: a fingerprint, key line or file).
    Rm {
        /// The set.
        set: String,
        /// The key [default: every key trusted for SET].
        key: Option<String>,
    },
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
    /// List what the atom store holds: each set (its root, where it was last fetched from, its
    /// versions and the mirrors that served each), the materialised trees and the git mirrors,
    /// with their sizes.
    Ls {
        /// The atom store [default: as for `fetch`].
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Remove what no lock needs from the atom store, and say what was freed.
    ///
    /// Keeps what the locks of the given atom directories need, transitively (through the
    /// published lock of each locked atom); with none, what the locks of the registered roots
    /// need (`atom lock` and `atom fetch` register the atom directory they run in, in
    /// <store>/roots/; entries whose directory or lock is gone are dropped). Removes the other
    /// versions, the sets left with none, and the git mirrors and materialised trees no lock
    /// needs. Waits for running fetches; fetches started meanwhile wait for it.
    Gc {
        /// The atom directories whose locks to keep [default: the registered roots].
        atom_dirs: Vec<PathBuf>,
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
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

/// The repository `-C DIR` (default: the current directory) is in, found upwards as git does.
fn open(cli: &Cli) -> Result<Repo> {
    Repo::discover(&cli.repo).map_err(err)
}

/// Atom paths given on the command line (relative to the current directory, or to `-C DIR`),
/// made relative to the work tree of `repo`, as publishing names them; a path outside it is
/// passed on as given (and refused there).
fn in_work_tree(cli: &Cli, repo: &Repo, paths: &[String]) -> Vec<String> {
    let Some(top) = repo.work_tree().and_then(|t| std::fs::canonicalize(t).ok()) else {
        return paths.to_vec();
    };
    paths
        .iter()
        .map(|path| {
            std::fs::canonicalize(in_repo(cli, Path::new(path)))
                .ok()
                .and_then(|full| {
                    full.strip_prefix(&top)
                        .ok()
                        .map(|p| p.to_string_lossy().into_owned())
                })
                .map(|p| if p.is_empty() { ".".to_owned() } else { p })
                .unwrap_or_else(|| path.clone())
        })
        .collect()
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
        Command::Publish {
            paths,
            rev,
            push,
            sign_key,
            no_sign,
        } => {
            // `--push lib` where lib is an atom directory: almost surely meant as the atom to
            // publish; refused before anything is published.
            if let Some(remote) = push.as_deref().filter(|r| !r.is_empty()) {
                let explicit = std::env::args().any(|a| a == format!("--push={remote}"));
                if !explicit
                    && in_repo(cli, Path::new(remote))
                        .join(MANIFEST_FILE)
                        .is_file()
                {
                    return Err(format!(
                        "`--push {remote}` takes {remote} for the remote to push to, but it is an atom directory here; to publish it and push, write `atom publish {remote} --push`; to push to a remote named so, `--push={remote}`",
                        remote = shell_quote(remote)
                    ));
                }
            }
            let repo = open(cli)?;
            let paths = in_work_tree(cli, &repo, paths);
            let key = match (sign_key, no_sign) {
                (_, true) => None,
                (Some(file), _) => Some(atom::sign::SigningKey::file(in_repo(cli, file))),
                (None, false) => {
                    let top = repo.work_tree().unwrap_or(repo.git_dir()).to_path_buf();
                    atom::sign::SigningKey::from_git_config(&top).map_err(err)?
                }
            };
            let tagger = atom::sign::key::tagger(repo.work_tree().unwrap_or(repo.git_dir()));
            let signing = key.as_ref().map(|key| atom::publish::Signing {
                key,
                tagger,
                time: atom::sign::key::tag_time(),
            });
            let (published, failure) =
                publish_report::publish(&repo, rev, &paths, signing.as_ref(), out)?;
            let pushed = match push {
                Some(remote) => push_published(cli, &repo, remote, &published, out),
                None => Ok(()),
            };
            match failure {
                Some(failure) => Err(failure),
                None => pushed,
            }
        }
        Command::Fetch {
            url: Some(url),
            store,
            git: true,
            ..
        } => fetch_git(cli, url, &atom_store(store)?, out),
        Command::Fetch {
            url: Some(url),
            atoms,
            store,
            ..
        } => fetch(cli, url, atoms, &atom_store(store)?, out),
        Command::Fetch { git: true, .. } => Err("--git needs the URL to mirror".into()),
        Command::Fetch {
            url: None,
            atoms,
            store,
            atom,
            ..
        } => {
            if !atoms.is_empty() {
                return Err("give the URL to fetch those atoms from".into());
            }
            fetch_lock(cli, &in_repo(cli, atom), &atom_store(store)?, out)
        }
        Command::Lock {
            path,
            check,
            offline,
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
            let options = fetch_options(cli)?;
            let (dir, store) = (in_repo(cli, path), atom_store(store)?);
            let fetch = (!*offline).then_some(&options);
            lock(&dir, *check, &update, fetch, &store, out)?;
            register_root(&store, &dir, false, out);
            // As `cargo update` does: the newer versions the requirements keep out.
            if !matches!(update, locking::Update::Nothing) {
                if let Ok(found) = atom::resolve::outdated::outdated(&dir, &store, fetch) {
                    for o in found.iter().filter(|o| o.compatible.is_none()) {
                        if let Some(latest) = &o.latest {
                            out.warn(&format!(
                                "{} {latest} is published, outside the requirement {} (locked: {}); change it in atom.toml to use it (see `atom outdated`)",
                                o.label, o.requirement, o.locked
                            ));
                        }
                    }
                }
            }
            Ok(())
        }
        Command::Outdated {
            path,
            offline,
            store,
        } => {
            let options = fetch_options(cli)?;
            let found = atom::resolve::outdated::outdated(
                &in_repo(cli, path),
                &atom_store(store)?,
                (!*offline).then_some(&options),
            )
            .map_err(err)?;
            out.json(json!(found.iter().map(|o| o.to_json()).collect::<Vec<_>>()));
            if found.is_empty() {
                out.line("every locked atom is at its newest published version".into());
            }
            for o in &found {
                let show =
                    |v: &Option<Version>| v.as_ref().map_or("-".to_owned(), ToString::to_string);
                out.line(format!(
                    "{} {} -> compatible {} ({}), latest {} (at {})",
                    o.label,
                    o.locked,
                    show(&o.compatible),
                    o.requirement,
                    show(&o.latest),
                    remote::redact(&o.seen_at)
                ));
            }
            Ok(())
        }
        Command::Ls { args } => ls(cli, args, out),
        Command::Resolve { uri } => resolve(cli, uri, out),
        Command::Show { atom } => show(&open(cli)?, atom, out),
        Command::Digest { atom } => digest(&open(cli)?, atom, out),
        Command::Id { first, label } => id(cli, first, label.as_deref(), out),
        Command::Verify {
            atom,
            recursive: true,
            store,
            ..
        } => verify_recursive(
            &in_repo(cli, Path::new(atom.as_deref().unwrap_or("."))),
            &atom_store(store)?,
            out,
        ),
        Command::Verify { atom, id, .. } => {
            verify(&open(cli)?, atom.as_deref(), id.as_deref(), out)
        }
        Command::Trust { command } => {
            let dir = in_repo(cli, Path::new("."));
            match command {
                TrustCommand::Add { set, key } => trust::add(&dir, set, key, out),
                TrustCommand::Ls => trust::ls(&dir, out),
                TrustCommand::Rm { set, key } => trust::rm(&dir, set, key.as_deref(), out),
            }
        }
        Command::Check { path } => check(&in_repo(cli, path), out),
        Command::Add(args) => {
            // A password typed in a URL serves this command and is never written down.
            let mut options = fetch_options(cli)?;
            let mut recorded = |url: &String| {
                options.remote.credentials.remember(url);
                remote::without_credentials(url)
            };
            let dependency = match (&args.uri, &args.git, &args.tar) {
                (Some(uri), ..) => add::Dependency::Atom(uri),
                (None, Some(url), _) => add::Dependency::Direct {
                    name: args.name.as_deref(),
                    source: atom::edit::DirectSource::Git {
                        url: recorded(url),
                        reference: args.reference.clone(),
                    },
                },
                (None, None, Some(url)) => add::Dependency::Direct {
                    name: args.name.as_deref(),
                    source: atom::edit::DirectSource::Tar(recorded(url)),
                },
                (None, None, None) => return Err("give an atom URI, --git URL or --tar URL".into()),
            };
            add::add(
                &in_repo(cli, &args.path),
                dependency,
                &atom_store(&args.store)?,
                &options,
                out,
            )
        }
        Command::New { path, label } => new::new(&in_repo(cli, path), label.as_deref(), out),
        Command::Store {
            command: StoreCommand::Verify { repair, store },
        } => store_verify(&atom_store(store)?, *repair, out),
        Command::Store {
            command: StoreCommand::Ls { store },
        } => store_ls(&atom_store(store)?, out),
        Command::Store {
            command:
                StoreCommand::Gc {
                    atom_dirs,
                    dry_run,
                    store,
                },
        } => {
            let dirs: Vec<PathBuf> = atom_dirs.iter().map(|d| in_repo(cli, d)).collect();
            store_gc(&atom_store(store)?, &dirs, *dry_run, out)
        }
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

/// URL aliases: the defaults, then the user's `[aliases]` of `$XDG_CONFIG_HOME/eka.toml` (else
/// `~/.config/eka.toml`), then the repository's `.git/info/eka.toml`. A configuration file that
/// does not parse is an error naming it.
fn aliases(cli: &Cli) -> Result<Aliases> {
    let mut aliases = Aliases::default();
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    let files = [
        config_home.map(|d| d.join("eka.toml")),
        // Not in a worktree or a submodule, whose `.git` is a file.
        Some(cli.repo.join(".git/info/eka.toml")).filter(|_| cli.repo.join(".git").is_dir()),
    ];
    for file in files.into_iter().flatten() {
        if let Some(text) = atom::diagnostic::read_text_if_present(&file).map_err(err)? {
            aliases
                .merge_toml(&text)
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    Ok(aliases)
}

/// The connection settings: `--timeout`, `--deadline`, the size limits, the URL aliases, and
/// the ssh command of `GIT_SSH_COMMAND`, `GIT_SSH` or the repository's `core.sshCommand`.
fn fetch_options(cli: &Cli) -> Result<FetchOptions> {
    let mut remote = remote::Options {
        // From 1 s to a day: curl and sockets take the value in narrower types.
        timeout: Duration::from_secs(cli.timeout.clamp(1, 86_400)),
        max_pack_bytes: cli.max_fetch_mib.saturating_mul(1 << 20),
        max_listing_bytes: cli.max_listing_mib.saturating_mul(1 << 20),
        max_object_bytes: cli.max_object_mib.saturating_mul(1 << 20),
        deadline: Duration::from_secs(cli.deadline.clamp(1, 7 * 86_400)),
        ..Default::default()
    };
    if remote.ssh_command.is_none() {
        remote.ssh_command = git_config(&cli.repo, "core.sshCommand").map(Into::into);
    }
    Ok(FetchOptions {
        remote,
        aliases: aliases(cli)?,
        ..Default::default()
    })
}

/// A value of the git configuration seen from `dir` (system, global and the repository's), when
/// git is installed and the key is set.
fn git_config(dir: &Path, key: &str) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["config", "--get", key])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let value = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !value.is_empty()).then_some(value)
}

/// What a URL argument names: a URL or path as given, or the URL of a git remote of the
/// repository (-C) when the argument is a remote's name.
fn location(cli: &Cli, text: &str) -> String {
    remote_name_url(cli, text).unwrap_or_else(|| text.to_owned())
}

/// The URL of the git remote named `text` in the repository (-C), as `git remote get-url` gives
/// it (`insteadOf` applied), when `text` is such a name and not an existing path.
fn remote_name_url(cli: &Cli, text: &str) -> Option<String> {
    let is_name = !text.is_empty()
        && !text.starts_with('-')
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !Path::new(text).exists();
    if !is_name {
        return None;
    }
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(&cli.repo)
        .args(["remote", "get-url", "--", text])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let url = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !url.is_empty()).then_some(url)
}

/// `n thing` or `n things`.
fn counted(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// `atom publish --push`: push the atoms just published.
fn push_published(
    cli: &Cli,
    repo: &Repo,
    remote: &str,
    atoms: &[(Label, Version)],
    out: &mut Output,
) -> Result {
    let work_tree = &cli.repo;
    let options = fetch_options(cli)?;
    let aliases = options.aliases;
    let remote = if remote.is_empty() {
        push::default_remote(work_tree).map_err(err)?
    } else {
        remote.to_owned()
    };
    let url = push::remote_url(work_tree, &remote, &aliases).map_err(err)?;
    let shown = remote::redact(&url);
    out.progress(&format!("pushing to {shown}"));
    let pushed =
        push::push(repo, work_tree, &url, atoms, &options.remote, &aliases).map_err(err)?;
    let mut refused = 0;
    let mut items = Vec::new();
    for p in &pushed {
        let (word, reason) = match &p.status {
            PushStatus::Pushed => ("pushed", None),
            PushStatus::Unchanged => ("already there", None),
            PushStatus::Refused(reason) => {
                refused += 1;
                ("refused", Some(reason.as_str()))
            }
        };
        items.push(json!({ "label": p.label.as_str(), "version": p.version.to_string(), "push": word, "reason": reason }));
        out.line(match reason {
            Some(reason) => format!("{word} {} {}: {reason}", p.label, p.version),
            None => format!("{word} {} {} -> {shown}", p.label, p.version),
        });
    }
    let published = out.take_json();
    out.json(json!({ "published": published, "push": { "remote": remote::without_credentials(&url), "atoms": items } }));
    match refused {
        0 => Ok(()),
        n => Err(format!(
            "{n} of {} atoms not pushed to {shown} (see above)",
            pushed.len()
        )),
    }
}

/// `atom fetch --git`: mirror a plain git repository into the store.
fn fetch_git(cli: &Cli, url: &str, store: &Store, out: &mut Output) -> Result {
    let url = location(cli, url);
    let url = url.as_str();
    let shown = remote::redact(url);
    let mut progress = |n: usize| out.progress(&format!("mirroring {shown}: {n} objects"));
    let (mirror, objects) = store
        .fetch_git_with(url, &fetch_options(cli)?, &mut progress)
        .map_err(err)?;
    out.json(json!({ "repo": mirror, "objects": objects }));
    out.line(format!(
        "mirrored {shown} into {}: {objects} objects",
        mirror.display()
    ));
    Ok(())
}

/// `atom fetch`: fetch published atoms into the store.
fn fetch(cli: &Cli, url: &str, atoms: &[String], store: &Store, out: &mut Output) -> Result {
    let url = location(cli, url);
    let url = url.as_str();
    let mut options = fetch_options(cli)?;
    for atom in atoms {
        let (label, requirement) = split_at_version(atom)?;
        let requirement = requirement
            .map(|r| Requirement::parse(r).map_err(err))
            .transpose()?;
        options.atoms.push((label, requirement));
    }
    let shown = remote::redact(url);
    let mut progress = |n: usize| out.progress(&format!("fetching {shown}: {n} objects"));
    // Held until the fetch is recorded: a collection does not remove the set in between.
    let lock = store.lock_shared().map_err(err)?;
    let fetched = store
        .fetch_with(url, &options, &mut progress)
        .map_err(err)?;
    store.record_fetch(&fetched.root, url).map_err(err)?;
    drop(lock);
    out.json(fetched.to_json());
    for version in &fetched.versions {
        match &version.status {
            VersionStatus::Rejected(reason) => out.line(format!(
                "rejected {} {}: {reason}",
                version.label, version.version
            )),
            VersionStatus::Diverged(reason) => out.warn(reason),
            _ => {}
        }
    }
    out.line(format!(
        "fetched {shown} into {}: {} new refs, {} unchanged, {} objects{}",
        fetched.repo.display(),
        fetched.created.len(),
        fetched.unchanged,
        fetched.objects,
        match (fetched.bytes, fetched.filtered) {
            (0, _) => String::new(),
            (bytes, true) => format!(" ({bytes} bytes; trees first, then only the missing files)"),
            (bytes, false) => format!(
                " ({bytes} bytes; the server does not filter, so every file of a new version was sent)"
            ),
        }
    ));
    for (label, _) in &options.atoms {
        if !fetched.versions.iter().any(|v| &v.label == label) {
            return Err(format!("{shown} publishes no matching version of {label}"));
        }
    }
    let rejected = fetched.rejected().count();
    match (rejected, fetched.versions.len() - rejected) {
        (0, _) => Ok(()),
        (n, 0) => Err(format!(
            "{n} version{} not fetched from {shown} (see above)",
            if n == 1 { "" } else { "s" }
        )),
        (n, _) => Err(format!(
            "{n} version{} not fetched from {shown} (see above); the others were",
            if n == 1 { "" } else { "s" }
        )),
    }
}

/// `atom fetch` with no URL: fill the store with what the lock of the atom in `dir` needs.
fn fetch_lock(cli: &Cli, dir: &Path, store: &Store, out: &mut Output) -> Result {
    let lock_path = dir.join(LOCK_FILE);
    let Some(lock) = Lockfile::read_if_present(&lock_path).map_err(err)? else {
        return Err(format!(
            "{} does not exist: give the URL to fetch from, or run `atom lock {}` first",
            lock_path.display(),
            shell_quote(&dir.to_string_lossy())
        ));
    };
    let options = fetch_options(cli)?;
    // Before filling: a collection that starts meanwhile keeps what this lock needs.
    register_root(store, dir, true, out);
    let mut progress = |n: usize| out.progress(&format!("fetching: {n} objects"));
    let filled = store
        .fill_from_lock(&lock, &lock_path.to_string_lossy(), &options, &mut progress)
        .map_err(err)?;
    out.json(filled.to_json());
    for entry in &filled.entries {
        let what = match (&entry.version, &entry.kind) {
            (Some(version), _) => format!("{} {version}", entry.label),
            (None, _) => entry.label.to_string(),
        };
        let rev = entry.rev.map(|r| format!(" at {r}")).unwrap_or_default();
        let line = match &entry.status {
            FillStatus::Present => format!("present {what}{rev}"),
            FillStatus::Fetched => format!(
                "fetched {what}{rev} from {}",
                entry
                    .mirror
                    .as_deref()
                    .map(remote::redact)
                    .unwrap_or_default()
            ),
            FillStatus::Local => format!("local {what}: read from the working tree"),
            FillStatus::Failed(tried) => {
                let mut text = format!("missing {what}{rev} (locked by {})", entry.by);
                if tried.is_empty() {
                    text.push_str(": the lock names no mirror for its set");
                }
                for attempt in tried {
                    text.push_str(&format!("\n  tried {}: {}", attempt.mirror, attempt.reason));
                }
                text
            }
        };
        out.line(line);
    }
    let failed = filled.failed().count();
    let fetched = filled
        .entries
        .iter()
        .filter(|e| e.status == FillStatus::Fetched)
        .count();
    let bytes = if filled.bytes > 0 {
        format!(" ({} bytes)", filled.bytes)
    } else {
        String::new()
    };
    match failed {
        0 => {
            out.line(format!(
                "the store has everything {} needs: {fetched} fetched, {} objects{bytes}",
                lock_path.display(),
                filled.objects
            ));
            Ok(())
        }
        n => Err(format!(
            "{n} of the entries {} needs {} still missing (see above); {fetched} fetched",
            lock_path.display(),
            if n == 1 { "is" } else { "are" }
        )),
    }
}

/// `atom ls [URL] [LABEL]`: the published atoms, or the versions of one label, of the repository
/// or of URL.
fn ls(cli: &Cli, args: &[String], out: &mut Output) -> Result {
    let looks_like_url = |a: &str| a.contains('/') || a.contains(':');
    let (url, label) = match args {
        [] => (None, None),
        [one] if looks_like_url(one) || remote_name_url(cli, one).is_some() => {
            (Some(one.as_str()), None)
        }
        [one] => (None, Some(one.as_str())),
        [url, label, ..] => (Some(url.as_str()), Some(label.as_str())),
    };
    let label = label.map(parse_label).transpose()?;
    let mut listed = Vec::new();
    let atoms = match url {
        Some(url) => {
            let url = location(cli, url);
            let atoms = atom::store::list(&url, label.as_ref(), &fetch_options(cli)?)
                .map_err(err)?
                .atoms;
            listed.extend(atoms.iter().map(AtomRef::to_json));
            atoms
        }
        None => {
            let repo = open(cli)?;
            let atoms = match &label {
                Some(label) => repo.versions(label).map_err(err)?,
                None => repo.atoms().map_err(err)?,
            };
            // Here the objects are at hand: each atom's digest and signer too (JSON only).
            if out.is_json() {
                for atom in &atoms {
                    let mut json = atom.to_json();
                    if let Ok((digest, signer)) = digest_and_signer(&repo, atom) {
                        json["digest"] = digest.into();
                        json["signer"] = signer.into();
                    }
                    listed.push(json);
                }
            }
            atoms
        }
    };
    out.json(json!(listed));
    if atoms.is_empty() {
        let place = match url {
            Some(url) => format!("at {}", remote::redact(url)),
            None => "in this repository".to_owned(),
        };
        out.line(match label {
            Some(label) => format!("no version of {label} is published {place}"),
            None if url.is_some() => format!("no atom is published {place}"),
            None => format!("no atom is published {place} (publish with `atom publish`)"),
        });
    }
    for atom in &atoms {
        out.line(format!("{} {} {}", atom.label, atom.version, atom.commit));
    }
    Ok(())
}

/// `atom resolve`: the highest published version an atom URI accepts.
fn resolve(cli: &Cli, uri: &str, out: &mut Output) -> Result {
    let aliases = aliases(cli)?;
    let parsed = AtomUri::parse(uri, &aliases).map_err(err)?;
    let requirement = parsed
        .version
        .clone()
        .unwrap_or(Requirement::parse("*").map_err(err)?);
    let repo = match &parsed.url {
        Some(url) => {
            // The URL as written (an ssh port survives), a git remote's name, or with aliases
            // expanded.
            let written = uri.split_once("::").map(|(u, _)| u).unwrap_or_default();
            let text = match remote_name_url(cli, written) {
                Some(remote) => remote,
                None => match remote::network_url(written, &aliases) {
                    Ok(network) => network,
                    Err(_) => url.to_string(),
                },
            };
            // A bare word (`alice::lib`) that is no remote, alias or existing path: say so,
            // rather than report it as a malformed file URL.
            let missing = !written.is_empty()
                && remote::is_local(written)
                && !written.starts_with("file://")
                && !in_repo(cli, Path::new(written)).exists();
            if missing && text == url.to_string() {
                return Err(if written.contains(['/', '.']) {
                    format!("no repository at {written:?} (in {uri:?}): it does not exist")
                } else {
                    format!(
                        "{written:?} in {uri:?} is not a git remote of this repository, a URL alias, or a directory here; write a URL (https://host/path, user@host:path), a path, or define the alias in $XDG_CONFIG_HOME/eka.toml"
                    )
                });
            }
            match local_path(&text).filter(|p| p.exists()) {
                Some(path) => Repo::open(&path).map_err(err)?,
                None => return resolve_remote(cli, &text, &parsed.label, &requirement, out),
            }
        }
        None => open(cli)?,
    };
    let atom = repo.resolve(&parsed.label, &requirement).map_err(err)?;
    resolved(&atom, repo.genesis().map_err(err)?, out);
    Ok(())
}

/// Reports a resolved atom: `label version rev id`, or the atom's JSON with its `id`.
fn resolved(atom: &AtomRef, root: Root, out: &mut Output) {
    let id = AtomId::new(root, atom.label.clone()).digest();
    let mut value = atom.to_json();
    value["id"] = json!(id.to_string());
    out.json(value);
    out.line(format!(
        "{} {} {} {id}",
        atom.label, atom.version, atom.commit
    ));
}

/// `atom resolve URL::label@req` for a network URL: from the remote's refs, no object.
fn resolve_remote(
    cli: &Cli,
    url: &str,
    label: &Label,
    requirement: &Requirement,
    out: &mut Output,
) -> Result {
    let listing = atom::store::list(url, Some(label), &fetch_options(cli)?).map_err(err)?;
    let root = listing.root.ok_or_else(|| {
        format!(
            "{} has no refs/ekala/init: it publishes no atoms (run `atom init` there first)",
            remote::redact(url)
        )
    })?;
    let atom = atom::repo::select(&listing.atoms, requirement).ok_or_else(|| {
        let versions: Vec<String> = listing
            .atoms
            .iter()
            .map(|a| a.version.to_string())
            .collect();
        if versions.is_empty() {
            format!("{} publishes no version of {label}", remote::redact(url))
        } else {
            format!(
                "{} publishes no version of {label} matching {requirement}; it has {}",
                remote::redact(url),
                versions.join(", ")
            )
        }
    })?;
    resolved(atom, root, out);
    Ok(())
}

/// The published atom `label@version`, or the newest version of `label`.
fn published(repo: &Repo, atom: &str) -> Result<AtomRef> {
    if let Some((url, rest)) = atom.rsplit_once("::") {
        return Err(format!(
            "this command takes an atom published in this repository (LABEL[@VERSION]), and {atom:?} names one at {}; `atom resolve {}` tells its version there, `atom fetch {} {rest}` brings it into the atom store",
            remote::redact(url),
            shell_quote(atom),
            shell_quote(url),
        ));
    }
    let (label, version) = split_at_version(atom)?;
    Ok(match version {
        Some(version) => repo.find(&label, &Version::parse(version)?).map_err(err)?,
        // The newest version, pre-releases included; none is the resolve error (which lists
        // the labels there are).
        None => match repo.versions(&label).map_err(err)?.into_iter().next() {
            Some(newest) => newest,
            None => repo
                .resolve(&label, &Requirement::parse("*").map_err(err)?)
                .map_err(err)?,
        },
    })
}

/// `atom show`: the manifest of a published atom, verified first.
fn show(repo: &Repo, atom: &str, out: &mut Output) -> Result {
    let found = published(repo, atom)?;
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
    let mut json = manifest.to_json();
    let (digest, signer) = digest_and_signer(repo, &found)?;
    json["digest"] = digest.into();
    json["signer"] = signer.into();
    out.json(json);
    out.raw(text);
    Ok(())
}

/// The content digest of a published atom and the fingerprint of the first key whose signature
/// of it verifies (`None`: unsigned).
fn digest_and_signer(repo: &Repo, atom: &AtomRef) -> Result<(String, Option<String>)> {
    let root = repo.genesis().map_err(err)?;
    let assessment =
        atom::resolve::trust::Assessment::of(repo, &root, &atom.label, &atom.version, atom.commit)
            .map_err(err)?;
    Ok((
        assessment.digest.map(|d| d.to_string()).unwrap_or_default(),
        assessment
            .signed
            .first()
            .map(|s| s.signer.fingerprint.clone()),
    ))
}

/// `atom digest`: the content digest of a published atom's tree, the atom verified first.
fn digest(repo: &Repo, atom: &str, out: &mut Output) -> Result {
    let found = published(repo, atom)?;
    let verified = repo.verify(&found, None).map_err(err)?;
    let digest = repo.tree_digest(verified.tree).map_err(err)?;
    let mut json = found.to_json();
    json["tree"] = verified.tree.to_string().into();
    json["digest"] = digest.to_string().into();
    out.json(json);
    out.line(digest.to_string());
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
    // A ref whose label is spelled differently from its canonical form (not NFKC) is no atom:
    // every reader skips it, and here it is reported, so that a look-alike never passes.
    let look_alikes = match atom {
        None => repo.non_canonical_refs().map_err(err)?,
        Some(_) => Vec::new(),
    };
    if atoms.is_empty() && look_alikes.is_empty() {
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
    for name in look_alikes {
        let error = format!(
            "{name}: its label or version is not in canonical (NFKC) form, so it is not an atom ref (a look-alike of another label)"
        );
        out.line(format!("bad {error}"));
        items.push(json!({ "ref": name, "status": "bad", "error": error }));
        bad.push(error);
    }
    out.json(json!(items));
    match bad.len() {
        0 => Ok(()),
        1 => Err(bad.remove(0)),
        n => Err(format!(
            "{n} of {} atoms failed verification:\n  {}",
            items.len(),
            bad.join("\n  ")
        )),
    }
}

/// `atom verify --recursive`: the locked closure of the atom in `dir`, one line per atom.
fn verify_recursive(dir: &Path, store: &Store, out: &mut Output) -> Result {
    let entries = atom::resolve::closure::verify_closure(dir, store).map_err(err)?;
    let failed = entries.iter().filter(|e| e.problem.is_some()).count();
    out.json(json!({
        "atoms": entries.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        "failed": failed,
    }));
    for entry in &entries {
        let rev = entry
            .rev
            .map(|r| r.to_string())
            .unwrap_or_else(|| "local".into());
        match &entry.problem {
            None => out.line(format!(
                "ok      {} {rev} {} {}{}",
                entry.atom,
                entry
                    .digest
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                entry
                    .signer
                    .as_deref()
                    .map(|s| format!("signed by {s}"))
                    .unwrap_or_else(|| "unsigned".into()),
                match entry.source {
                    Some(true) => ", source verified",
                    _ => "",
                }
            )),
            Some(problem) => out.line(format!("FAILED  {} {rev}: {problem}", entry.atom)),
        }
    }
    let n = entries.len();
    match failed {
        0 => {
            out.line(format!(
                "{n} atom{} verified",
                if n == 1 { "" } else { "s" }
            ));
            Ok(())
        }
        _ => Err(format!("{failed} of {n} atoms failed verification")),
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

/// `atom lock`: compute the lock (fetching what the store lacks from the mirrors unless `fetch`
/// is `None`); write it when it differs (through a temporary file, renamed into place, changing
/// only the entries that change), or with `--check` only compare it with the file.
fn lock(
    path: &Path,
    check: bool,
    update: &locking::Update,
    fetch: Option<&FetchOptions>,
    store: &Store,
    out: &mut Output,
) -> Result {
    let lock_path = path.join(LOCK_FILE);
    // Another `atom lock` or `atom add` of this atom finishes first; the files are read after.
    let editing = match check {
        true if path.is_dir() => Some(atom::edit::EditLock::shared(path).map_err(err)?),
        false if path.is_dir() => Some(edit_lock(path, out)?),
        _ => None,
    };
    let Some(locked) = locking::lock_with(path, store, update, fetch).map_err(err)? else {
        out.json(json!({ "lock": null, "changed": false }));
        out.line(format!(
            "{} is a static atom: it has no lock",
            path.display()
        ));
        return Ok(());
    };
    let lock = locked.lock;
    atom::check::entries_exist(path).map_err(err)?;
    let current = atom::diagnostic::read_text_if_present(&lock_path).map_err(err)?;
    let previous = current
        .as_deref()
        .and_then(|text| Lockfile::parse(text, &lock_path.to_string_lossy()).ok());
    let changed = !previous
        .as_ref()
        .is_some_and(|p| atom::lock::edit::same(p, &lock));
    // The integrity record: written beside a lock that pins atoms, or one that had it.
    let integrity_path = path.join(INTEGRITY_FILE);
    let integrity_now = atom::diagnostic::read_text_if_present(&integrity_path).map_err(err)?;
    let integrity_text = locked.integrity.render();
    let integrity_changed = (integrity_now.is_some() || !locked.integrity.atoms.is_empty())
        && integrity_now.as_deref() != Some(integrity_text.as_str())
        && locked.unrecorded.is_empty();
    if !locked.unrecorded.is_empty() && !check {
        out.warn(&format!(
            "{INTEGRITY_FILE} not written: {} {} not in the atom store, so {} digest and signer cannot be recorded; run `atom fetch`, then `atom lock`",
            locked.unrecorded.join(", "),
            if locked.unrecorded.len() == 1 { "is" } else { "are" },
            if locked.unrecorded.len() == 1 { "its" } else { "their" },
        ));
    }
    for skipped in &locked.skipped {
        out.warn(skipped);
    }
    if check {
        if changed || (integrity_changed && integrity_now.is_some()) {
            let (file, missing) = match changed {
                true => (&lock_path, current.is_none()),
                false => (&integrity_path, false),
            };
            return Err(format!(
                "{} is out of date{}; run `atom lock {}`",
                file.display(),
                if missing { " (it does not exist)" } else { "" },
                shell_quote(&path.to_string_lossy())
            ));
        }
        out.json(json!({ "lock": lock_path, "changed": false }));
        out.line(format!("{} is up to date", lock_path.display()));
        return Ok(());
    }
    let updates = version_changes(previous.as_ref(), &lock);
    let mut files: Vec<(&str, String)> = Vec::new();
    if changed {
        let text = match &current {
            Some(current) => atom::lock::edit::rewrite(current, &lock),
            None => lock.render(),
        };
        files.push((LOCK_FILE, text));
    }
    if integrity_changed {
        files.push((INTEGRITY_FILE, integrity_text));
    }
    if !files.is_empty() {
        let named: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        match &editing {
            Some(editing) => editing.replace(&named, &mut test_pause).map_err(err)?,
            None => atom::edit::write_all(
                &files
                    .iter()
                    .map(|(n, t)| (path.join(n), t.clone()))
                    .collect::<Vec<_>>(),
            )
            .map_err(err)?,
        }
    }
    for update in &updates {
        out.line(format!("updated {update}"));
    }
    out.json(json!({
        "lock": lock_path,
        "changed": changed,
        "integrity_changed": integrity_changed,
        "updated": updates,
        "skipped": locked.skipped,
    }));
    out.line(format!(
        "{} {}",
        if changed { "wrote" } else { "unchanged:" },
        lock_path.display()
    ));
    if integrity_changed {
        out.line(format!("wrote {}", integrity_path.display()));
    }
    Ok(())
}

/// Locks the atom in `dir` for editing (waiting for other edits of it to finish), saying on
/// stderr what an interrupted edit left that was completed.
pub(crate) fn edit_lock(dir: &Path, out: &mut Output) -> Result<atom::edit::EditLock> {
    let (lock, recovery) = atom::edit::EditLock::exclusive(dir).map_err(err)?;
    if !recovery.completed.is_empty() {
        let files: Vec<String> = recovery
            .completed
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        out.warn(&format!(
            "completed an edit that was interrupted (renamed into place: {})",
            files.join(", ")
        ));
    }
    Ok(lock)
}

/// A test hook, inert unless `ATOM_TEST_PAUSE_BETWEEN_RENAMES` names a file: between the renames
/// of an edit, that file is created and the process waits (a minute) for the test to kill it.
pub(crate) fn test_pause() {
    if let Some(marker) = std::env::var_os("ATOM_TEST_PAUSE_BETWEEN_RENAMES") {
        if std::fs::write(&marker, std::process::id().to_string()).is_ok() {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
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
/// Registers the atom directory `dir` (when it has a lock) as a root of `store`, so that `atom
/// store gc` keeps what its lock needs; a failure only warns. Unless `create`, a store that does
/// not exist yet is not created for this (`atom lock` of an atom that needed nothing from it).
fn register_root(store: &Store, dir: &Path, create: bool, out: &mut Output) {
    if !dir.join(LOCK_FILE).is_file() || !(create || store.dir().is_dir()) {
        return;
    }
    if let Err(error) = store.register_root(dir) {
        out.warn(&format!(
            "cannot register {} as a root of the atom store, so `atom store gc` without arguments will not keep what it needs: {error}",
            dir.display()
        ));
    }
}

/// `atom store ls`: what the store holds.
fn store_ls(store: &Store, out: &mut Output) -> Result {
    let inventory = store.inventory().map_err(err)?;
    out.json(inventory.to_json());
    for set in &inventory.sets {
        let from = set
            .fetched
            .as_ref()
            .map(|r| format!(", last fetched from {} on {}", r.url, r.date()))
            .unwrap_or_default();
        out.line(format!("set {} ({} bytes{from})", set.root, set.bytes));
        for v in &set.versions {
            let mirrors = if v.mirrors.is_empty() {
                String::new()
            } else {
                format!(" from {}", v.mirrors.join(", "))
            };
            out.line(format!(
                "  {} {} at {}{mirrors}",
                v.label, v.version, v.commit
            ));
        }
    }
    for tree in &inventory.trees {
        let kind = if tree.nix_only {
            "nix files of tree"
        } else {
            "tree"
        };
        let atoms = if tree.atoms.is_empty() {
            String::new()
        } else {
            format!(" ({})", tree.atoms.join(", "))
        };
        out.line(format!("{kind} {} {} bytes{atoms}", tree.tree, tree.bytes));
    }
    for git in &inventory.git {
        out.line(format!(
            "git mirror {} {} bytes{}",
            git.path.display(),
            git.bytes,
            git.url
                .as_ref()
                .map(|u| format!(" of {u}"))
                .unwrap_or_default()
        ));
    }
    let total: u64 = inventory.sets.iter().map(|s| s.bytes).sum::<u64>()
        + inventory.trees.iter().map(|t| t.bytes).sum::<u64>()
        + inventory.git.iter().map(|g| g.bytes).sum::<u64>();
    out.line(format!(
        "{}, {}, {} and {}: {total} bytes in {}",
        counted(inventory.sets.len(), "set"),
        counted(
            inventory.sets.iter().map(|s| s.versions.len()).sum(),
            "version"
        ),
        counted(inventory.trees.len(), "tree"),
        counted(inventory.git.len(), "git mirror"),
        store.dir().display()
    ));
    Ok(())
}

/// `atom store gc`: remove what no lock needs.
fn store_gc(store: &Store, dirs: &[PathBuf], dry_run: bool, out: &mut Output) -> Result {
    let collected = store.gc(dirs, dry_run).map_err(err)?;
    out.json(collected.to_json());
    let verb = if dry_run { "would remove" } else { "removed" };
    for (root, label, version) in &collected.removed_versions {
        out.line(format!("{verb} {label} {version} (set {root})"));
    }
    for path in &collected.removed_sets {
        out.line(format!("{verb} set {}", path.display()));
    }
    for path in &collected.removed_mirrors {
        out.line(format!("{verb} git mirror {}", path.display()));
    }
    for path in &collected.removed_trees {
        out.line(format!("{verb} tree {}", path.display()));
    }
    if collected.missing > 0 {
        out.warn(&format!(
            "{} the locks need {} not in the store (`atom fetch` in the atom's directory brings them)",
            counted(collected.missing, "entry"),
            if collected.missing == 1 { "is" } else { "are" }
        ));
    }
    out.line(format!(
        "kept {} for {}; {verb} {}, {}, {} and {}: {} bytes {}",
        counted(collected.kept.len(), "version"),
        counted(collected.roots.len(), "root"),
        counted(collected.removed_versions.len(), "version"),
        counted(collected.removed_sets.len(), "set"),
        counted(collected.removed_trees.len(), "tree"),
        counted(collected.removed_mirrors.len(), "git mirror"),
        collected.freed,
        if dry_run {
            "to free (repacking not counted)"
        } else {
            "freed"
        }
    ));
    Ok(())
}

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
        "checked {} and {} in {}: {}, {repaired} repaired",
        counted(report.trees.len(), "tree"),
        counted(report.atoms.len(), "atom"),
        store.dir().display(),
        counted(problems, "problem"),
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
    // Not in the middle of an `atom add` or `atom lock` of the atom.
    let _reading = match manifest_path.is_file() && dir.is_dir() {
        true => Some(atom::edit::EditLock::shared(&dir).map_err(err)?),
        false => None,
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
