//! Atoms on a remote: listing, resolving and fetching over the network (or from a path), with a
//! time-out the caller chooses.

use std::ffi::c_char;
use std::time::Duration;

use atom_core::id::{AtomId, Label};
use atom_core::manifest::Requirement;
use atom_core::remote::Options;
use atom_core::repo::select;
use atom_core::store::{list, FetchOptions, Listing, Store};
use serde_json::json;

use crate::ffi::{arg, optional_arg, returning_string, AtomStatus, Error};

/// Connection settings with `timeout_secs` (0: the default, 30 s).
fn options(timeout_secs: u32) -> FetchOptions {
    let mut remote = Options::default();
    if timeout_secs > 0 {
        remote.timeout = Duration::from_secs(u64::from(timeout_secs));
    }
    FetchOptions {
        remote,
        ..Default::default()
    }
}

fn label(text: &str) -> Result<Label, Error> {
    Label::parse(text).map_err(|e| Error::with_status(AtomStatus::InvalidName, e.to_string()))
}

fn requirement(text: Option<&str>) -> Result<Option<Requirement>, Error> {
    text.map(|r| {
        Requirement::parse(r)
            .map_err(|e| Error::with_status(AtomStatus::InvalidArgument, e.to_string()))
    })
    .transpose()
}

fn listing(url: &str, label: Option<&Label>, timeout_secs: u32) -> Result<Listing, Error> {
    Ok(list(url, label, &options(timeout_secs))?)
}

/// Lists the atoms published at `url` (https://, http://, git://, ssh://, scp-like, a path or
/// file://), of `label` only when it is not NULL, without downloading any object, and writes
/// `{"root": "<hex>" or null, "atoms": [{"label", "version", "rev"}]}` (newest first per label) to
/// `*out_json`. `timeout_secs` bounds connecting and each silence of the server (0: 30 s).
///
/// Fails with `ATOM_STATUS_GIT` for an unreachable server, a time-out, refused credentials or a
/// URL that is not a repository; the message names the URL and what to do.
///
/// # Safety
/// `url` must be NULL (an error) or NUL-terminated; `label` NULL or NUL-terminated; `out_json`
/// NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn atom_remote_list(
    url: *const c_char,
    label: *const c_char,
    timeout_secs: u32,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let label = optional_arg!(label).map(self::label).transpose()?;
        let listing = listing(arg!(url), label.as_ref(), timeout_secs)?;
        Ok(json!({
            "root": listing.root.map(|r| r.to_hex()),
            "atoms": listing.atoms.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
        })
        .to_string())
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// Resolves `label` at `url` to the highest published version `requirement` accepts (NULL: any),
/// from the remote's refs alone, and writes `{"label", "version", "rev", "id"}` to `*out_json`.
///
/// Fails with `ATOM_STATUS_NOT_FOUND` when no version matches or the remote publishes no atoms,
/// and as [`atom_remote_list`] otherwise.
///
/// # Safety
/// `url` and `label` must be NULL (an error) or NUL-terminated; `requirement` NULL or
/// NUL-terminated; `out_json` NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn atom_remote_resolve(
    url: *const c_char,
    label: *const c_char,
    requirement: *const c_char,
    timeout_secs: u32,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let url = arg!(url);
        let label = self::label(arg!(label))?;
        let requirement = self::requirement(optional_arg!(requirement))?
            .unwrap_or_else(|| Requirement::parse("*").expect("* is a requirement"));
        let listing = listing(url, Some(&label), timeout_secs)?;
        let not_found = |what: String| Error::with_status(AtomStatus::NotFound, what);
        let root = listing.root.ok_or_else(|| {
            not_found(format!(
                "{url} has no refs/ekala/init: it publishes no atoms"
            ))
        })?;
        let atom = select(&listing.atoms, &requirement).ok_or_else(|| {
            not_found(format!(
                "{url} publishes no version of {label} matching {requirement}"
            ))
        })?;
        let mut value = atom.to_json();
        value["id"] = json!(AtomId::new(root, label.clone()).digest().to_string());
        Ok(value.to_string())
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// Fetches atoms from `url` into the atom store `store_dir`: every published atom, or only
/// `label` (when not NULL) at the versions `requirement` accepts (NULL: all). Only atom commits,
/// trees and manifests are received; each version is verified before its refs are written.
/// Writes `{"root", "repo", "created", "unchanged", "objects", "bytes", "versions": [{"label",
/// "version", "rev", "status": "fetched"|"unchanged"|"rejected", "reason"?}]}` to `*out_json`. A
/// version the store has at another commit is "rejected" (possible tampering) without failing the
/// call: check `versions`.
///
/// # Safety
/// `url` and `store_dir` must be NULL (an error) or NUL-terminated; `label` and `requirement`
/// NULL or NUL-terminated; `out_json` NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn atom_remote_fetch(
    url: *const c_char,
    store_dir: *const c_char,
    label: *const c_char,
    requirement: *const c_char,
    timeout_secs: u32,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let mut options = options(timeout_secs);
        if let Some(label) = optional_arg!(label) {
            let requirement = self::requirement(optional_arg!(requirement))?;
            options.atoms.push((self::label(label)?, requirement));
        }
        let fetched = Store::new(arg!(store_dir)).fetch_with(arg!(url), &options, &mut |_| {})?;
        Ok(fetched.to_json().to_string())
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}
