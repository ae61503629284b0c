//! `atom init`: record the repository's identity in `refs/ekala/init`.

use atom::repo::{InitOutcome, Repo};
use serde_json::json;

use crate::cli::{err, open, Result};
use crate::output::Output;
use crate::Cli;

/// Record the repository's identity: create refs/ekala/init at the root of HEAD.
///
/// Idempotent; refuses to change an existing refs/ekala/init that points elsewhere.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `atom init`.
pub fn exec(cli: &Cli, _args: &Args, out: &mut Output) -> Result {
    init(&open(cli)?, out)
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
