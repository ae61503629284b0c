//! Repository handles and fetching into the atom store through the C ABI.

use std::ffi::c_char;
use std::path::Path;
use std::sync::Mutex;

use atom_core::id::{AtomDigest, Label};
use atom_core::manifest::{Requirement, Version};
use atom_core::publish::{self, Outcome};
use atom_core::repo::{AtomRef, Files, InitOutcome, Repo};
use atom_core::store::{materialize_into, Store};
use serde_json::json;

use crate::ffi::{arg, guard, optional_arg, returning_string, AtomStatus, Error};

/// Marks live repository handles, so a pointer to anything else is refused.
const REPO_MAGIC: u64 = 0x6174_6f6d_7265_706f; // "atomrepo"

/// An open git repository holding atoms. Opaque to C; created by `atom_repo_open`, freed by
/// `atom_repo_free`. Calls on one handle from several threads are serialised.
#[repr(C)]
pub struct AtomRepo {
    // First, so that it can be read before the rest of the handle is trusted.
    magic: u64,
    repo: Mutex<Repo>,
}

/// Runs `body` with the repository of a live handle.
///
/// # Safety
/// `repo` is NULL or a pointer returned by `atom_repo_open` and not yet freed.
unsafe fn with_handle<T>(
    repo: *const AtomRepo,
    body: impl FnOnce(&Repo) -> Result<T, Error>,
) -> Result<T, Error> {
    if repo.is_null() {
        return Err(Error::null("repo"));
    }
    let wrong = || {
        Error::with_status(
            AtomStatus::WrongHandle,
            "`repo` is not a repository handle (freed, or of another kind)".into(),
        )
    };
    if !repo.cast::<u64>().is_aligned() {
        return Err(wrong());
    }
    // SAFETY: non-NULL and aligned; by this function's contract it points to readable memory of
    // at least a handle's size. Only the leading magic number is read before it is trusted.
    if unsafe { repo.cast::<u64>().read() } != REPO_MAGIC {
        return Err(wrong());
    }
    // SAFETY: the magic number says this is a live `AtomRepo` (this function's contract rules out
    // freed memory that happens to keep it).
    let handle = unsafe { &*repo };
    let repo = handle
        .repo
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    body(&repo)
}

/// `with_handle` on the handle argument `$repo`. Only for exported functions whose contract says
/// `$repo` is NULL or a live handle.
macro_rules! with_repo {
    ($repo:ident, $body:expr) => {
        // SAFETY: the enclosing function's contract makes `$repo` NULL or a live handle.
        unsafe { with_handle($repo, $body) }
    };
}

fn label(text: &str) -> Result<Label, Error> {
    Ok(Label::parse(text)?)
}

/// Opens the git repository at `path` (a work tree, its `.git`, or a bare repository) in
/// isolation from user and system git configuration, and writes a handle to `*out_repo` (free it
/// with `atom_repo_free`).
///
/// Fails with `ATOM_STATUS_GIT` when `path` is not a readable repository.
///
/// # Safety
/// `path` must be NULL (an error) or NUL-terminated; `out_repo` must be NULL (an error) or point
/// to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_open(
    path: *const c_char,
    out_repo: *mut *mut AtomRepo,
) -> AtomStatus {
    if !out_repo.is_null() {
        // SAFETY: non-NULL and writable by this function's contract.
        unsafe { out_repo.write(std::ptr::null_mut()) };
    }
    guard(|| {
        let path = arg!(path);
        if out_repo.is_null() {
            return Err(Error::null("out_repo"));
        }
        let repo = Repo::open(Path::new(path))?;
        let handle = Box::new(AtomRepo {
            magic: REPO_MAGIC,
            repo: Mutex::new(repo),
        });
        // SAFETY: non-NULL and writable by this function's contract.
        unsafe { out_repo.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Frees a repository handle. NULL is ignored.
///
/// # Safety
/// `repo` must be NULL or a handle from `atom_repo_open` that was not freed yet, and no other
/// thread may be using it.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_free(repo: *mut AtomRepo) {
    if repo.is_null() {
        return;
    }
    // SAFETY: by this function's contract `repo` came from `Box::into_raw` in `atom_repo_open`
    // and is freed once; the magic is cleared so a use after free is more likely to be caught.
    unsafe {
        (*repo).magic = 0;
        drop(Box::from_raw(repo));
    }
}

/// Writes the repository's genesis (root commit, 40 hex digits) to `*out_root`: the target of
/// `refs/ekala/init`, else the root found by walking the history of HEAD.
///
/// # Safety
/// `repo` must be NULL (an error) or a live handle; `out_root` must be NULL (an error) or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_genesis(
    repo: *const AtomRepo,
    out_root: *mut *mut c_char,
) -> AtomStatus {
    let body = || with_repo!(repo, |s| Ok(s.genesis()?.to_hex()));
    // SAFETY: `out_root` is NULL or writable by this function's contract.
    unsafe { returning_string(out_root, "out_root", body) }
}

/// Records the repository's identity: creates `refs/ekala/init` at the root of HEAD (idempotent)
/// and writes that root (40 hex digits) to `*out_root`. Fails with `ATOM_STATUS_GIT` when
/// `refs/ekala/init` already points at another root (nothing is changed).
///
/// # Safety
/// `repo` must be NULL (an error) or a live handle; `out_root` must be NULL (an error) or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_init(
    repo: *const AtomRepo,
    out_root: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let root = match with_repo!(repo, |s| Ok(s.init()?))? {
            InitOutcome::Created(root) | InitOutcome::Unchanged(root) => root,
        };
        Ok(root.to_hex())
    };
    // SAFETY: `out_root` is NULL or writable by this function's contract.
    unsafe { returning_string(out_root, "out_root", body) }
}

/// Lists published atoms as a JSON array of `{"label", "version", "rev"}`, newest first per
/// label: every atom when `label` is NULL, else the versions of `label`.
///
/// # Safety
/// `repo` must be NULL (an error) or a live handle; `label` NULL or NUL-terminated; `out_json`
/// NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_list(
    repo: *const AtomRepo,
    label: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let filter = optional_arg!(label).map(self::label).transpose()?;
        let atoms = with_repo!(repo, |s| match &filter {
            Some(l) => Ok(s.versions(l)?),
            None => Ok(s.atoms()?),
        })?;
        Ok(serde_json::Value::Array(atoms.iter().map(AtomRef::to_json).collect()).to_string())
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// Resolves the highest published version of `label` matching `requirement` (Cargo syntax;
/// NULL means any) and writes `{"label", "version", "rev", "id"}` to `*out_json`.
///
/// Fails with `ATOM_STATUS_NOT_FOUND` when nothing matches (the message lists what is published).
///
/// # Safety
/// `repo` must be NULL (an error) or a live handle; `label` NULL (an error) or NUL-terminated;
/// `requirement` NULL or NUL-terminated; `out_json` NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_resolve(
    repo: *const AtomRepo,
    label: *const c_char,
    requirement: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let label = self::label(arg!(label))?;
        let requirement = Requirement::parse(optional_arg!(requirement).unwrap_or("*"))
            .map_err(|e| Error::with_status(AtomStatus::InvalidArgument, e.to_string()))?;
        with_repo!(repo, |s| {
            let atom = s.resolve(&label, &requirement)?;
            let id = atom_core::id::AtomId::new(s.genesis()?, atom.label.clone()).digest();
            let mut value = atom.to_json();
            value["id"] = json!(id.to_string());
            Ok(value.to_string())
        })
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// Verifies the published atom `label` at `version` (commit format, manifest, metadata refs,
/// origin, and `expected_id` when non-NULL) and writes `{"label", "version", "rev", "tree",
/// "origin", "origin_checked", "id"}` to `*out_json`.
///
/// Fails with `ATOM_STATUS_NOT_FOUND` when the version is not published, `ATOM_STATUS_VERIFY`
/// when a check fails (the message says which, and "possible tampering" where it applies).
///
/// # Safety
/// `repo` must be NULL (an error) or a live handle; `label` and `version` NULL (an error) or
/// NUL-terminated; `expected_id` NULL or NUL-terminated; `out_json` NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_verify(
    repo: *const AtomRepo,
    label: *const c_char,
    version: *const c_char,
    expected_id: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let (label, version) = label_and_version(arg!(label), arg!(version))?;
        let expected = optional_arg!(expected_id)
            .map(|text| AtomDigest::parse(text).map_err(Error::from))
            .transpose()?;
        with_repo!(repo, |s| {
            let atom = s.find(&label, &version)?;
            let verified = s.verify(&atom, expected.as_ref())?;
            Ok(verified.to_json(&atom).to_string())
        })
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// A label and a version given through the ABI, parsed.
fn label_and_version(label: &str, version: &str) -> Result<(Label, Version), Error> {
    let label = self::label(label)?;
    let version = Version::parse(version)
        .map_err(|e| Error::with_status(AtomStatus::InvalidArgument, e.to_string()))?;
    Ok((label, version))
}

/// The published atom `label` at `version` of `repo`, verified: its ref, its tree and the
/// tree's content digest.
fn hashed(
    repo: &Repo,
    label: &Label,
    version: &Version,
) -> Result<
    (
        AtomRef,
        atom_core::repo::ObjectId,
        atom_core::digest::ContentDigest,
    ),
    Error,
> {
    let atom = repo.find(label, version)?;
    let verified = repo.verify(&atom, None)?;
    let digest = repo.tree_digest(verified.tree)?;
    Ok((atom, verified.tree, digest))
}

/// Verifies the published atom `label` at `version` (as `atom_repo_verify` without an expected
/// id) and writes `{"label", "version", "rev", "tree", "digest"}` to `*out_json`, where `digest`
/// is the content digest of its tree, `blake3-<64 hex digits>` (docs/format.md#content-digest).
///
/// Fails with `ATOM_STATUS_NOT_FOUND` when the version is not published, `ATOM_STATUS_VERIFY`
/// when a check fails or the tree has no digest (a submodule, a refused name).
///
/// # Safety
/// `repo` must be NULL (an error) or a live handle; `label` and `version` NULL (an error) or
/// NUL-terminated; `out_json` NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_digest(
    repo: *const AtomRepo,
    label: *const c_char,
    version: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let (label, version) = label_and_version(arg!(label), arg!(version))?;
        with_repo!(repo, |s| {
            let (atom, tree, digest) = hashed(s, &label, &version)?;
            let mut value = atom.to_json();
            value["tree"] = json!(tree.to_string());
            value["digest"] = json!(digest.to_string());
            Ok(value.to_string())
        })
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// Verifies the published atom `label` at `version` (as `atom_repo_digest`) and checks its
/// signature tags (docs/format.md#signatures), in-process: writes `{"label", "version", "rev",
/// "digest", "signers": [{"fingerprint", "key", "tag"}], "invalid": ["why", ...]}` to
/// `*out_json`. `signers` lists the keys whose signature verified (empty: unsigned); `invalid`
/// says why each other tag found for the atom is not a valid signature of it. Trust is the
/// caller's: compare the fingerprints with the keys it trusts.
///
/// Fails with `ATOM_STATUS_NOT_FOUND` when the version is not published, `ATOM_STATUS_VERIFY`
/// when the atom fails verification.
///
/// # Safety
/// `repo` must be NULL (an error) or a live handle; `label` and `version` NULL (an error) or
/// NUL-terminated; `out_json` NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_signatures(
    repo: *const AtomRepo,
    label: *const c_char,
    version: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let (label, version) = label_and_version(arg!(label), arg!(version))?;
        with_repo!(repo, |s| {
            let (atom, _, digest) = hashed(s, &label, &version)?;
            let root = s.genesis()?;
            let (mut signers, mut invalid) = (Vec::new(), Vec::new());
            let expected =
                atom_core::sign::TagFields::new(&root, &label, &version, atom.commit, digest);
            for found in atom_core::sign::find(s, &expected) {
                match found {
                    Ok(signed) => signers.push(json!({
                        "fingerprint": signed.signer.fingerprint,
                        "key": signed.signer.key,
                        "tag": signed.tag.id.to_string(),
                    })),
                    Err(why) => invalid.push(why.to_string()),
                }
            }
            let mut value = atom.to_json();
            value["digest"] = json!(digest.to_string());
            value["signers"] = json!(signers);
            value["invalid"] = json!(invalid);
            Ok(value.to_string())
        })
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// Publishes from the commit `rev` (NULL means HEAD) the atom at `path` (relative to the
/// repository root; NULL means every atom of the commit's `ekala.toml`), and writes a JSON array
/// of `{"label", "version", "path", "rev", "origin", "created"}` to `*out_json`. Republishing
/// identical content reports `"created": false`; different content under a published version
/// fails with `ATOM_STATUS_PUBLISH` and changes nothing.
///
/// # Safety
/// `repo` must be NULL (an error) or a live handle; `rev` and `path` NULL or NUL-terminated;
/// `out_json` NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_publish(
    repo: *const AtomRepo,
    rev: *const c_char,
    path: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let rev = optional_arg!(rev).unwrap_or("HEAD");
        let paths: Vec<String> = optional_arg!(path).into_iter().map(str::to_owned).collect();
        let outcomes = with_repo!(repo, |s| {
            publish::publish(s, rev, &paths)
                .map_err(|e| Error::with_status(AtomStatus::Publish, e.to_string()))
        })?;
        let json: Vec<_> = outcomes.iter().map(Outcome::to_json).collect();
        Ok(serde_json::Value::Array(json).to_string())
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}

/// Writes the files of the published atom `label` at `version` into `<cache_dir>/<tree id>`
/// (once: an existing directory is reused; written under a temporary name and renamed, so it is
/// never seen half-written) and writes that directory's path to `*out_path`.
///
/// # Safety
/// `repo` must be NULL (an error) or a live handle; `label`, `version` and `cache_dir` NULL (an
/// error) or NUL-terminated; `out_path` NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn atom_repo_materialize(
    repo: *const AtomRepo,
    label: *const c_char,
    version: *const c_char,
    cache_dir: *const c_char,
    out_path: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let (label, version) = label_and_version(arg!(label), arg!(version))?;
        let cache = arg!(cache_dir);
        let dir = with_repo!(repo, |s| {
            let atom = s.find(&label, &version)?;
            let tree = s.atom_tree(&atom)?;
            Ok(materialize_into(s, tree, Path::new(cache), Files::All)?)
        })?;
        dir.into_os_string()
            .into_string()
            .map_err(|_| Error::with_status(AtomStatus::Io, "the cache path is not UTF-8".into()))
    };
    // SAFETY: `out_path` is NULL or writable by this function's contract.
    unsafe { returning_string(out_path, "out_path", body) }
}

/// Fetches the published atoms of the repository at `url` (a path, `file://`, or a network URL:
/// see `atom_remote_fetch`, which this is with every atom and the default time-out) into the atom
/// store `store_dir` (one bare repository per set root) and writes its report to `*out_json`.
///
/// Fails with `ATOM_STATUS_GIT`, e.g. for an unreachable or uninitialised remote.
///
/// # Safety
/// `url` and `store_dir` must be NULL (an error) or NUL-terminated; `out_json` NULL (an error) or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn atom_fetch(
    url: *const c_char,
    store_dir: *const c_char,
    out_json: *mut *mut c_char,
) -> AtomStatus {
    let body = || {
        let fetched = Store::new(arg!(store_dir)).fetch(arg!(url), &mut |_| {})?;
        Ok(fetched.to_json().to_string())
    };
    // SAFETY: `out_json` is NULL or writable by this function's contract.
    unsafe { returning_string(out_json, "out_json", body) }
}
