//! The `atom` command line: a thin face over the `atom` core. Each command is a module of
//! `commands` (its arguments and its `exec`); this file parses the command line and dispatches.

mod cli;
mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use output::Output;

/// Publish, fetch, list, resolve, lock and verify atoms.
///
/// Exit status: 0 on success, 1 when the command fails (the message says why), 2 on a usage
/// error.
#[derive(Parser)]
#[command(name = "atom", version, about, long_about)]
pub(crate) struct Cli {
    /// The git repository to work in; paths given to commands are relative to it.
    #[arg(short = 'C', long = "repo", global = true, default_value = ".")]
    pub(crate) repo: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Seconds a network connection may take, or a server stay silent, before the command fails.
    #[arg(long, global = true, default_value_t = 30, value_name = "SECS")]
    pub(crate) timeout: u64,
    /// The most pack data one fetch may receive from a server, in MiB; a server that sends more
    /// is cut off and nothing it sent is kept.
    #[arg(long, global = true, default_value_t = 4096, value_name = "MIB")]
    pub(crate) max_fetch_mib: u64,
    /// The most a server may send for its handshake and one ref listing, in MiB.
    #[arg(long, global = true, default_value_t = 128, value_name = "MIB")]
    pub(crate) max_listing_mib: u64,
    /// The most memory one received object may take once inflated, in MiB (and at most 64 times
    /// --max-fetch-mib): a pack's deltas may claim any size.
    #[arg(long, global = true, default_value_t = 1024, value_name = "MIB")]
    pub(crate) max_object_mib: u64,
    /// Seconds one conversation with a server may last in all, however steadily it sends.
    #[arg(long, global = true, default_value_t = 900, value_name = "SECS")]
    pub(crate) deadline: u64,
    #[command(subcommand)]
    command: Command,
}

/// The commands, in the order `atom help` lists them.
#[derive(Subcommand)]
enum Command {
    Init(commands::init::Args),
    Publish(commands::publish::Args),
    Fetch(commands::fetch::Args),
    Lock(commands::lock::Args),
    Outdated(commands::outdated::Args),
    Ls(commands::ls::Args),
    Resolve(commands::resolve::Args),
    Show(commands::show::Args),
    Digest(commands::digest::Args),
    Id(commands::id::Args),
    Verify(commands::verify::Args),
    Trust(commands::trust::Args),
    Add(commands::add::Args),
    New(commands::new::Args),
    Store(commands::store::Args),
    Check(commands::check::Args),
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

/// Runs the command `cli` names.
fn run(cli: &Cli, out: &mut Output) -> cli::Result {
    match &cli.command {
        Command::Init(args) => commands::init::exec(cli, args, out),
        Command::Publish(args) => commands::publish::exec(cli, args, out),
        Command::Fetch(args) => commands::fetch::exec(cli, args, out),
        Command::Lock(args) => commands::lock::exec(cli, args, out),
        Command::Outdated(args) => commands::outdated::exec(cli, args, out),
        Command::Ls(args) => commands::ls::exec(cli, args, out),
        Command::Resolve(args) => commands::resolve::exec(cli, args, out),
        Command::Show(args) => commands::show::exec(cli, args, out),
        Command::Digest(args) => commands::digest::exec(cli, args, out),
        Command::Id(args) => commands::id::exec(cli, args, out),
        Command::Verify(args) => commands::verify::exec(cli, args, out),
        Command::Trust(args) => commands::trust::exec(cli, args, out),
        Command::Add(args) => commands::add::exec(cli, args, out),
        Command::New(args) => commands::new::exec(cli, args, out),
        Command::Store(args) => commands::store::exec(cli, args, out),
        Command::Check(args) => commands::check::exec(cli, args, out),
    }
}
