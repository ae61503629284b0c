//! The machinery shared by every exported function: status codes, the per-thread last error,
//! panic containment and C string conversion.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The result of every libatom function. New codes may be added in minor versions: treat an
/// unknown non-zero code as a failure and read `atom_last_error_message`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// An input string was not valid UTF-8.
    InvalidUtf8 = 2,
    /// A label, tag or identifier failed validation.
    InvalidName = 3,
    /// A root commit id was not 40 hexadecimal digits.
    InvalidRoot = 4,
    /// An atom id text was not 52 canonical base32hex characters.
    InvalidId = 5,
    /// A manifest (`atom.toml` or `ekala.toml`) is invalid; the message points into the text.
    InvalidManifest = 6,
    /// A lock (`atom.lock`) is invalid; the message points into the text.
    InvalidLock = 7,
    /// An atom URI is invalid.
    InvalidUri = 8,
    /// A file could not be read or written.
    Io = 9,
    /// A git repository could not be read or written.
    Git = 10,
    /// What was asked for is not published.
    NotFound = 11,
    /// A published atom failed verification.
    Verify = 12,
    /// An atom could not be published.
    Publish = 13,
    /// An argument has the wrong form (e.g. a version that is not semver).
    InvalidArgument = 14,
    /// A handle is not of the expected kind, or was freed.
    WrongHandle = 15,
    /// A bug inside libatom (a caught panic). The message says where; please report it.
    Internal = 255,
}

/// A failure on its way to the caller: the status to return and the message to keep.
pub(crate) struct Error {
    status: AtomStatus,
    message: String,
}

impl Error {
    fn new(status: AtomStatus, message: String) -> Self {
        Error { status, message }
    }
    /// A NULL pointer was passed for the named argument.
    pub(crate) fn null(argument: &str) -> Self {
        Self::new(
            AtomStatus::NullArgument,
            format!("argument `{argument}` is NULL"),
        )
    }
    /// Any other failure, with its status.
    pub(crate) fn with_status(status: AtomStatus, message: String) -> Self {
        Self::new(status, message)
    }
}

impl From<atom_core::id::InvalidName> for Error {
    /// An invalid name; the message says which kind, the text and why.
    fn from(e: atom_core::id::InvalidName) -> Self {
        Error::new(AtomStatus::InvalidName, e.to_string())
    }
}

impl From<atom_core::id::InvalidRoot> for Error {
    /// An invalid root commit id.
    fn from(e: atom_core::id::InvalidRoot) -> Self {
        Error::new(AtomStatus::InvalidRoot, e.to_string())
    }
}

impl From<atom_core::id::InvalidDigest> for Error {
    /// An invalid atom id text.
    fn from(e: atom_core::id::InvalidDigest) -> Self {
        Error::new(AtomStatus::InvalidId, e.to_string())
    }
}

impl From<atom_core::repo::RepoError> for Error {
    /// The status of a git repository failure: what is not published, what fails verification,
    /// and everything else (the repository itself).
    fn from(e: atom_core::repo::RepoError) -> Self {
        use atom_core::repo::RepoError;
        let status = match &e {
            RepoError::NoMatchingVersion { .. } | RepoError::NoSuchAtom { .. } => {
                AtomStatus::NotFound
            }
            RepoError::Verify { .. } | RepoError::Digest(_) => AtomStatus::Verify,
            RepoError::Io { .. } => AtomStatus::Io,
            _ => AtomStatus::Git,
        };
        Error::new(status, e.to_string())
    }
}

impl From<atom_core::store::StoreError> for Error {
    /// The status of an atom store failure: that of its repository's failure, an I/O status for
    /// writing, and a git status for everything else (a fetch that cannot be done).
    fn from(e: atom_core::store::StoreError) -> Self {
        use atom_core::store::StoreError;
        match e {
            StoreError::Repo(e) => e.into(),
            StoreError::Io { .. } => Error::new(AtomStatus::Io, e.to_string()),
            e => Error::new(AtomStatus::Git, e.to_string()),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: String) {
    // Messages never contain NUL in practice; if one does, cut it there rather than lose it all.
    let message = CString::new(message).unwrap_or_else(|e| {
        let end = e.nul_position();
        CString::new(&e.into_vec()[..end]).unwrap_or_default()
    });
    LAST_ERROR.with(|slot| *slot.borrow_mut() = Some(message));
}

/// Runs the body of an exported function: turns its error into a status and the thread's last
/// error, and a panic into `AtomStatus::Internal`, so nothing unwinds into C.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Error>) -> AtomStatus {
    // The body only touches its own arguments, and a panic abandons them: no state it could leave
    // broken is observed after the unwind.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => AtomStatus::Ok,
        Ok(Err(error)) => {
            set_last_error(error.message);
            error.status
        }
        Err(payload) => {
            let what = atom_core::panic_message(payload.as_ref());
            set_last_error(format!("internal error in libatom (please report): {what}"));
            AtomStatus::Internal
        }
    }
}

/// Borrows a C string argument as UTF-8.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the returned borrow.
pub(crate) unsafe fn input_str<'a>(ptr: *const c_char, argument: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::null(argument));
    }
    // SAFETY: non-NULL and NUL-terminated by this function's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|e| {
        Error::new(
            AtomStatus::InvalidUtf8,
            format!(
                "argument `{argument}` is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// The body of an exported function that hands one string to the caller through `out`
/// (`argument` names it in messages), with the whole contract of such a function:
/// - `*out` is set to NULL first, so it is NULL after any failure;
/// - a NULL `out` is refused before `body` does any work (a call that cannot deliver its result
///   has no effect);
/// - the string `body` returns is written to `*out` (the caller frees it with
///   `atom_string_free`);
/// - an error or a panic in `body` becomes the returned status and the thread's last error.
///
/// # Safety
/// `out` is NULL or points to writable storage for one pointer.
pub(crate) unsafe fn returning_string(
    out: *mut *mut c_char,
    argument: &str,
    body: impl FnOnce() -> Result<String, Error>,
) -> AtomStatus {
    // SAFETY: NULL or writable by this function's contract.
    unsafe { clear_out(out) };
    guard(|| {
        require_out(out, argument)?;
        let value = body()?;
        // SAFETY: non-NULL (checked above) and writable by this function's contract.
        unsafe { write_string(out, value, argument) }
    })
}

/// The text of the C string argument `$arg` (`&str`), or an early return of why it has none
/// (NULL, not UTF-8). Only for exported functions whose contract says `$arg` is NULL or
/// NUL-terminated and outlives the call.
macro_rules! arg {
    ($arg:ident) => {
        // SAFETY: the enclosing function's contract makes `$arg` NULL or NUL-terminated.
        unsafe { $crate::ffi::input_str($arg, stringify!($arg))? }
    };
}

/// Like `arg!`, for an optional argument: NULL is `None`.
macro_rules! optional_arg {
    ($arg:ident) => {
        if $arg.is_null() {
            None
        } else {
            Some(arg!($arg))
        }
    };
}

pub(crate) use {arg, optional_arg};

/// Sets an output pointer to NULL if it is non-NULL, so it is NULL after any failure.
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn clear_out(out: *mut *mut c_char) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable by this function's contract.
        unsafe { out.write(std::ptr::null_mut()) };
    }
}

/// Fails unless a required output pointer is non-NULL: checked before any work is done, so a
/// call that cannot deliver its result has no effect.
pub(crate) fn require_out<T>(out: *mut T, argument: &str) -> Result<(), Error> {
    if out.is_null() {
        Err(Error::null(argument))
    } else {
        Ok(())
    }
}

/// Hands `value` to the caller through `out` as a string it must free with `atom_string_free`.
///
/// # Safety
/// `out` is NULL (an error) or writable.
pub(crate) unsafe fn write_string(
    out: *mut *mut c_char,
    value: String,
    argument: &str,
) -> Result<(), Error> {
    if out.is_null() {
        return Err(Error::null(argument));
    }
    let value = CString::new(value).map_err(|_| {
        Error::new(
            AtomStatus::Internal,
            "internal error in libatom: a result contains a NUL byte".to_owned(),
        )
    })?;
    // SAFETY: non-NULL and writable by this function's contract.
    unsafe { out.write(value.into_raw()) };
    Ok(())
}

/// Implements `atom_last_error_message`.
///
/// # Safety
/// `out` is NULL (an error) or writable.
pub(crate) unsafe fn last_error_message(out: *mut *mut c_char) -> AtomStatus {
    if out.is_null() {
        // Reporting this through the last error would replace the message being asked for.
        return AtomStatus::NullArgument;
    }
    let message = LAST_ERROR.with(|slot| slot.borrow().clone());
    let raw = message.map_or(std::ptr::null_mut(), CString::into_raw);
    // SAFETY: non-NULL and writable by this function's contract.
    unsafe { out.write(raw) };
    AtomStatus::Ok
}

/// Implements `atom_string_free`.
///
/// # Safety
/// `s` is NULL or came from `CString::into_raw` in this library and was not freed yet.
pub(crate) unsafe fn free_string(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` came from `CString::into_raw` and is freed once (this function's contract).
        drop(unsafe { CString::from_raw(s) });
    }
}
