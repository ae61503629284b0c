//! libatom: the C ABI of the Atom format core.
//!
//! A thin face over the `atom` crate. The conventions every function follows are stated once in
//! the header comment of `include/atom.h` (see `cbindgen.toml`): status codes, out-parameters
//! written only on success, a per-thread last error, one free function per returned string,
//! NULL and invalid UTF-8 reported as errors, and no panic crossing the boundary.

mod ffi;
mod remote;
mod repo;

pub use repo::AtomRepo;

use std::ffi::c_char;

use std::path::Path;

use atom_core::diagnostic::{FileError, SourceError};
use atom_core::id::{AtomDigest, AtomId, Label, NameKind, Root};
use atom_core::lock::Lockfile;
use atom_core::manifest::set::SetManifest;
use atom_core::manifest::Manifest;
use atom_core::uri::{Aliases, AtomUri};

pub use ffi::AtomStatus;
use ffi::{arg, guard, returning_string, write_string, Error};

/// The ABI major version: bumped on any incompatible change; also the SONAME's suffix.
pub const ATOM_ABI_MAJOR: u32 = 0;
/// The ABI minor version: bumped when functions are added.
pub const ATOM_ABI_MINOR: u32 = 1;

/// The ABI version of this library: `(major << 16) | minor`.
///
/// A program built against header major M and minor N works with a library whose major is M and
/// whose minor is at least N. Never fails; safe from any thread.
#[no_mangle]
pub extern "C" fn atom_abi_version() -> u32 {
    (ATOM_ABI_MAJOR << 16) | ATOM_ABI_MINOR
}

/// Copies the message of the most recent failure on the calling thread into `*out_message`
/// (free it with `atom_string_free`), or sets it to NULL if no call on this thread has failed.
/// Calling this function does not change the last error.
///
/// # Safety
/// `out_message` must be NULL (an error) or point to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn atom_last_error_message(out_message: *mut *mut c_char) -> AtomStatus {
    // SAFETY: the caller guarantees `out_message` is NULL or writable (this function's contract).
    unsafe { ffi::last_error_message(out_message) }
}

/// Frees a string returned by any libatom function. NULL is ignored.
///
/// # Safety
/// `s` must be NULL or a string returned by libatom that was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn atom_string_free(s: *mut c_char) {
    // SAFETY: the caller guarantees `s` came from libatom and is freed once (this function's contract).
    unsafe { ffi::free_string(s) }
}

/// Validates a name of `kind` and writes its NFKC-normalised form to `out` (if `out` is non-NULL).
///
/// # Safety
/// `input` is NULL or NUL-terminated; `out` is NULL or writable.
unsafe fn validate_name(kind: NameKind, input: *const c_char, out: *mut *mut c_char) -> AtomStatus {
    // SAFETY: forwarded from the callers' contracts.
    unsafe { ffi::clear_out(out) };
    guard(|| {
        let input = arg!(input);
        let name = kind.parse(input)?;
        if !out.is_null() {
            // SAFETY: `out` is non-NULL and writable by the callers' contracts.
            unsafe { write_string(out, name, "out_normalized")? };
        }
        Ok(())
    })
}

/// Validates `input` as an atom label (docs/format.md#names). On success, if `out_normalized` is non-NULL,
/// writes the NFKC-normalised label there (free it with `atom_string_free`).
/// Fails with `ATOM_STATUS_INVALID_NAME` and a message such as
/// `invalid label "9atom": cannot start with: '9'`.
///
/// # Safety
/// `input` must be NULL (an error) or a NUL-terminated string; `out_normalized` must be NULL or
/// point to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn atom_label_validate(
    input: *const c_char,
    out_normalized: *mut *mut c_char,
) -> AtomStatus {
    // SAFETY: same contract as this function's.
    unsafe { validate_name(NameKind::Label, input, out_normalized) }
}

/// Like `atom_label_validate`, for tags (set names and `meta.tags`: label characters plus `.`
/// and `:`, never `..`).
///
/// # Safety
/// As for `atom_label_validate`.
#[no_mangle]
pub unsafe extern "C" fn atom_tag_validate(
    input: *const c_char,
    out_normalized: *mut *mut c_char,
) -> AtomStatus {
    // SAFETY: same contract as this function's.
    unsafe { validate_name(NameKind::Tag, input, out_normalized) }
}

/// Like `atom_label_validate`, for strict UAX #31 identifiers (no `-`).
///
/// # Safety
/// As for `atom_label_validate`.
#[no_mangle]
pub unsafe extern "C" fn atom_identifier_validate(
    input: *const c_char,
    out_normalized: *mut *mut c_char,
) -> AtomStatus {
    // SAFETY: same contract as this function's.
    unsafe { validate_name(NameKind::Identifier, input, out_normalized) }
}

/// Computes the AtomId text (52 lowercase base32hex characters) of the atom `label` in the
/// repository whose root commit is `root_hex` (40 hexadecimal digits), and writes it to
/// `*out_id` (free it with `atom_string_free`).
///
/// Fails with `ATOM_STATUS_INVALID_ROOT` or `ATOM_STATUS_INVALID_NAME`.
///
/// # Safety
/// `root_hex` and `label` must be NULL (an error) or NUL-terminated; `out_id` must be NULL (an
/// error) or point to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn atom_id_compute(
    root_hex: *const c_char,
    label: *const c_char,
    out_id: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let (root_text, label_text) = (arg!(root_hex), arg!(label));
        let root = Root::parse(root_text)?;
        let label = Label::parse(label_text)?;
        Ok(AtomId::new(root, label).to_string())
    };
    // SAFETY: `out_id` is NULL or writable by this function's contract.
    unsafe { returning_string(out_id, "out_id", body) }
}

/// Parses an AtomId text and writes its 32 raw bytes to `out_digest`.
///
/// Fails with `ATOM_STATUS_INVALID_ID` unless the text is exactly 52 lowercase base32hex
/// characters in canonical form.
///
/// # Safety
/// `id` must be NULL (an error) or NUL-terminated; `out_digest` must be NULL (an error) or point to
/// 32 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn atom_id_parse(id: *const c_char, out_digest: *mut u8) -> AtomStatus {
    guard(|| {
        let text = arg!(id);
        if out_digest.is_null() {
            return Err(Error::null("out_digest"));
        }
        let digest = AtomDigest::parse(text)?;
        // SAFETY: `out_digest` is non-NULL and points to 32 writable bytes by this function's
        // contract; the source is a distinct local array.
        unsafe { std::ptr::copy_nonoverlapping(digest.as_bytes().as_ptr(), out_digest, 32) };
        Ok(())
    })
}

/// Parses a document with `parse` and writes its JSON to `out_json`: the shared body of the
/// `*_parse` functions.
///
/// # Safety
/// `text` and `path` are NULL or NUL-terminated; `out_json` is NULL or writable.
unsafe fn parse_to_json(
    text: *const c_char,
    path: *const c_char,
    out_json: *mut *mut c_char,
    status: AtomStatus,
    parse: impl FnOnce(&str, &str) -> Result<serde_json::Value, SourceError>,
) -> AtomStatus {
    let body = || {
        let json =
            parse(arg!(text), arg!(path)).map_err(|e| Error::with_status(status, e.to_string()))?;
        Ok(json.to_string())
    };
    // SAFETY: forwarded from the callers' contracts.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// Parses and validates the text of an `atom.toml` and writes it as JSON (shaped like the file)
/// to `*out_json` (free it with `atom_string_free`). `path` only names the file in messages.
///
/// Fails with `ATOM_STATUS_INVALID_MANIFEST`; the message starts with `<path>:<line>:<column>: `
/// and shows the offending line with a caret.
///
/// # Safety
/// `text` and `path` must be NULL (an error) or NUL-terminated; `out_json` must be NULL (an
/// error) or point to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn atom_manifest_parse(
    text: *const c_char,
    path: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    // SAFETY: same contract as this function's.
    unsafe {
        parse_to_json(text, path, out_json, AtomStatus::InvalidManifest, |t, p| {
            Manifest::parse(t, p).map(|m| m.to_json())
        })
    }
}

/// Reads the manifest of the atom at `path` (its directory, or its `atom.toml`) and writes it as
/// JSON to `*out_json` (free it with `atom_string_free`).
///
/// Fails with `ATOM_STATUS_IO` when the file cannot be read, `ATOM_STATUS_INVALID_MANIFEST`
/// when it is invalid.
///
/// # Safety
/// `path` must be NULL (an error) or NUL-terminated; `out_json` must be NULL (an error) or point
/// to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn atom_manifest_read(
    path: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let manifest = Manifest::read_atom(Path::new(arg!(path))).map_err(|e| {
            let status = match e {
                FileError::Invalid(_) => AtomStatus::InvalidManifest,
                _ => AtomStatus::Io,
            };
            Error::with_status(status, e.to_string())
        })?;
        Ok(manifest.to_json().to_string())
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// Like `atom_manifest_parse`, for a set manifest (`ekala.toml`).
///
/// # Safety
/// As for `atom_manifest_parse`.
#[no_mangle]
pub unsafe extern "C" fn atom_set_manifest_parse(
    text: *const c_char,
    path: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    // SAFETY: same contract as this function's.
    unsafe {
        parse_to_json(text, path, out_json, AtomStatus::InvalidManifest, |t, p| {
            SetManifest::parse(t, p).map(|m| serde_json::to_value(m).expect("JSON"))
        })
    }
}

/// Parses the text of an `atom.lock` and writes it as JSON (shaped like the file) to
/// `*out_json` (free it with `atom_string_free`). Locks without `[locker]` are accepted.
///
/// Fails with `ATOM_STATUS_INVALID_LOCK`, with a message pointing into the text.
///
/// # Safety
/// As for `atom_manifest_parse`.
#[no_mangle]
pub unsafe extern "C" fn atom_lock_parse(
    text: *const c_char,
    path: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    // SAFETY: same contract as this function's.
    unsafe {
        parse_to_json(text, path, out_json, AtomStatus::InvalidLock, |t, p| {
            Lockfile::parse(t, p).map(|l| l.to_json())
        })
    }
}

/// Parses an atom URI (`[url]::label[@requirement]`, with the default aliases such as `gh:`)
/// and writes `{"url": <string or null>, "label": ..., "version": <string or null>,
/// "uri": <normalised text>}` to `*out_json` (free it with `atom_string_free`).
///
/// Fails with `ATOM_STATUS_INVALID_URI`.
///
/// # Safety
/// `uri` must be NULL (an error) or NUL-terminated; `out_json` must be NULL (an error) or point to
/// writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn atom_uri_parse(
    uri: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let parsed = AtomUri::parse(arg!(uri), &Aliases::default())
            .map_err(|e| Error::with_status(AtomStatus::InvalidUri, e.to_string()))?;
        let json = serde_json::json!({
            "url": parsed.url.as_ref().map(|u| u.to_string()),
            "label": parsed.label.as_str(),
            "version": parsed.version.as_ref().map(|v| v.to_string()),
            "uri": parsed.to_string(),
        });
        Ok(json.to_string())
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// Writes a lock: `json` is a lock as `atom_lock_parse` returns it (shaped like the file), and
/// `*out_text` receives the `atom.lock` text exactly as the reference writes it (header comment,
/// section and key order, sorted dependencies). Free it with `atom_string_free`.
///
/// Fails with `ATOM_STATUS_INVALID_LOCK` when the JSON does not describe a valid lock (the
/// message gives the JSON line and column).
///
/// # Safety
/// `json` must be NULL (an error) or NUL-terminated; `out_text` must be NULL (an error) or point
/// to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn atom_lock_render(
    json: *const c_char,
    out_text: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let lock: Lockfile = serde_json::from_str(arg!(json)).map_err(|e| {
            Error::with_status(AtomStatus::InvalidLock, format!("invalid lock JSON: {e}"))
        })?;
        Ok(lock.render())
    };
    // SAFETY: `out_text` is NULL or writable by this function's contract.
    unsafe { returning_string(out_text, "out_text", body) }
}
