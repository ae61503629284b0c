//! The `atom` command line.

use std::process::ExitCode;

use atom::id::{AtomId, Label, Root};
use clap::{Parser, Subcommand};

/// Publish, fetch, list, resolve, lock and verify atoms.
#[derive(Parser)]
#[command(name = "atom", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the AtomId of LABEL in the repository whose root commit is ROOT.
    Id {
        /// The repository's root commit (40 hexadecimal digits).
        root: String,
        /// The atom's label.
        label: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Id { root, label } => {
            let root = Root::from_hex(&root).map_err(|e| format!("invalid root {root:?}: {e}"))?;
            let label = Label::new(&label).map_err(|e| format!("invalid label {label:?}: {e}"))?;
            println!("{}", AtomId::new(root, label));
            Ok(())
        }
    }
}
