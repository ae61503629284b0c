//! The Atom format, as a plain Rust library.
//!
//! An *atom* is a versioned slice of a git repository, published as an orphan commit under
//! `refs/eka/atoms/<label>/<version>` and identified by an [`id::AtomId`]: a BLAKE3 digest of the
//! repository's root commit and the atom's label.
//!
//! This crate is the core that every face of the project (the Nix plugin, the C ABI `libatom`,
//! the `atom` CLI) is built on. It has no FFI, no printing and no global state.
//!
//! Modules:
//! - [`id`]: names (labels, tags, identifiers) and atom identity;
//! - [`manifest`]: `atom.toml` and the set manifest `ekala.toml`;
//! - [`lock`]: `atom.lock`, read and written byte-compatibly with the reference;
//! - [`uri`]: atom URIs (`gh:owner/repo::label@^1`) and URL aliases;
//! - [`repo`]: atoms in one git repository; [`publish`]: putting them there; [`remote`]: a git
//!   remote over the network (these two are the only modules that use gix);
//! - [`store`]: the atom store, the directory on this machine atoms are fetched into and loaded
//!   from;
//! - [`resolve`]: finding atoms and their locked dependencies (resolution, graph, locking);
//! - [`compose`]: planning an atom's modules; [`check`]: checks of an atom on disk;
//! - [`diagnostic`]: errors that point into a file; [`edit`]: editing an atom's files in place;
//! - [`nix_config`]: a setting of Nix's configuration (`atom-store`), read as Nix reads it.

/// This build of the core: its version and a hash of its sources (`build.rs`). Part of the key
/// of everything the atom store remembers in a form this code defines (parsed files, loaded
/// graphs), so that no build reads what a different one wrote.
pub const BUILD_ID: &str = env!("ATOM_BUILD_ID");

pub mod check;
pub mod compose;
pub mod diagnostic;
pub mod digest;
pub mod edit;
pub mod entry_name;
pub mod id;
pub mod lock;
pub mod manifest;
pub mod nix_config;
pub mod publish;
pub mod remote;
pub mod repo;
pub mod resolve;
pub mod sign;
pub mod store;
pub mod uri;

/// The message of a caught panic's payload (what `std::panic::catch_unwind` returns): the text
/// given to `panic!`, or `unknown panic` when the payload is not text.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_message_is_its_text() {
        let message =
            |f: fn()| super::panic_message(std::panic::catch_unwind(f).unwrap_err().as_ref());
        assert_eq!(message(|| panic!("static")), "static");
        assert_eq!(message(|| panic!("formatted {}", 1)), "formatted 1");
        assert_eq!(message(|| std::panic::panic_any(7)), "unknown panic");
    }
}
