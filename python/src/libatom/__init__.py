"""The Atom format for Nix from Python: pure Python over libatom's C ABI (include/atom.h).

    import libatom
    libatom.atom_id("68b63bd131acd23bdfd57983fe85ba7c092ce02f", "atom-nix")
    # 'r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0'

    with libatom.Repo("/src/project") as repo:
        repo.init()
        print(repo.publish())
        print(repo.resolve("hello", "^1"))

Documents (manifests, locks, URIs, listings and reports) come back as the JSON the C ABI
returns, decoded (dicts and lists shaped like the files). Every failure of a C function is
raised as an `AtomError` (a subclass per status, e.g. `NotFoundError`) whose message is the
library's own. The library is found as `libatom._ffi` describes: `ATOM_LIBATOM`, then the
dynamic loader (`libatom.so.0`), then `pkg-config atom`; or call `libatom.load(path)` first.

Every function may be called from several threads at once; calls on one `Repo` are serialised.
"""

import ctypes
import enum
import json
import os
import threading

from . import _ffi
from ._ffi import ABI_MAJOR, ABI_MINOR, LoadError, library_path, load

__version__ = "0.1.0"

__all__ = [
    "ABI_MAJOR",
    "ABI_MINOR",
    "AtomError",
    "AtomIOError",
    "GitError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidIdError",
    "InvalidLockError",
    "InvalidManifestError",
    "InvalidNameError",
    "InvalidRootError",
    "InvalidUriError",
    "InvalidUtf8Error",
    "LoadError",
    "NotFoundError",
    "NullArgumentError",
    "PublishError",
    "Repo",
    "Status",
    "VerifyError",
    "WrongHandleError",
    "abi_version",
    "atom_id",
    "fetch",
    "library_path",
    "load",
    "parse_atom_id",
    "parse_lock",
    "parse_manifest",
    "parse_set_manifest",
    "parse_uri",
    "read_manifest",
    "remote_fetch",
    "remote_list",
    "remote_resolve",
    "render_lock",
    "validate_identifier",
    "validate_label",
    "validate_tag",
]


class Status(enum.IntEnum):
    """The `atom_status` codes of include/atom.h."""

    OK = 0
    NULL_ARGUMENT = 1
    INVALID_UTF8 = 2
    INVALID_NAME = 3
    INVALID_ROOT = 4
    INVALID_ID = 5
    INVALID_MANIFEST = 6
    INVALID_LOCK = 7
    INVALID_URI = 8
    IO = 9
    GIT = 10
    NOT_FOUND = 11
    VERIFY = 12
    PUBLISH = 13
    INVALID_ARGUMENT = 14
    WRONG_HANDLE = 15
    INTERNAL = 255


class AtomError(Exception):
    """A libatom function failed. `status` is its `Status` (or the plain number of a code this
    binding does not know), `message` the library's message, which is also `str(error)`."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self):
        status = self.status.name if isinstance(self.status, Status) else self.status
        return f"{type(self).__name__}({status}, {self.message!r})"


class NullArgumentError(AtomError, TypeError):
    """A required argument was None."""


class InvalidUtf8Error(AtomError, ValueError):
    """A string was not valid UTF-8 (e.g. a path with undecodable bytes)."""


class InvalidNameError(AtomError, ValueError):
    """A label, tag or identifier failed validation."""


class InvalidRootError(AtomError, ValueError):
    """A root commit id was not 40 hexadecimal digits."""


class InvalidIdError(AtomError, ValueError):
    """An atom id was not 52 canonical base32hex characters."""


class InvalidManifestError(AtomError, ValueError):
    """An `atom.toml` or `ekala.toml` is invalid; the message points into the text."""


class InvalidLockError(AtomError, ValueError):
    """An `atom.lock` is invalid; the message points into the text."""


class InvalidUriError(AtomError, ValueError):
    """An atom URI is invalid."""


class AtomIOError(AtomError):
    """A file could not be read or written."""


class GitError(AtomError):
    """A git repository or server could not be read or written."""


class NotFoundError(AtomError):
    """What was asked for is not published."""


class VerifyError(AtomError):
    """A published atom failed verification."""


class PublishError(AtomError):
    """An atom could not be published."""


class InvalidArgumentError(AtomError, ValueError):
    """An argument has the wrong form (e.g. a version that is not semver)."""


class WrongHandleError(AtomError):
    """A handle is not of the expected kind, or was freed."""


class InternalError(AtomError):
    """A bug inside libatom (a caught panic); the message says where."""


_ERRORS = {
    Status.NULL_ARGUMENT: NullArgumentError,
    Status.INVALID_UTF8: InvalidUtf8Error,
    Status.INVALID_NAME: InvalidNameError,
    Status.INVALID_ROOT: InvalidRootError,
    Status.INVALID_ID: InvalidIdError,
    Status.INVALID_MANIFEST: InvalidManifestError,
    Status.INVALID_LOCK: InvalidLockError,
    Status.INVALID_URI: InvalidUriError,
    Status.IO: AtomIOError,
    Status.GIT: GitError,
    Status.NOT_FOUND: NotFoundError,
    Status.VERIFY: VerifyError,
    Status.PUBLISH: PublishError,
    Status.INVALID_ARGUMENT: InvalidArgumentError,
    Status.WRONG_HANDLE: WrongHandleError,
    Status.INTERNAL: InternalError,
}


def _take(pointer):
    """The text of a string libatom returned, which is then freed."""
    lib = _ffi.lib()
    try:
        return ctypes.string_at(pointer).decode("utf-8")
    finally:
        lib.atom_string_free(pointer)


def _error(code):
    """The exception for a failed call: its status and the calling thread's last message (read
    at once, on the thread that made the call)."""
    out = ctypes.c_void_p()
    _ffi.lib().atom_last_error_message(ctypes.byref(out))
    message = _take(out) if out.value else f"libatom failed with status {code} (no message)"
    try:
        status = Status(code)
    except ValueError:
        return AtomError(code, message)
    return _ERRORS.get(status, AtomError)(status, message)


def _arg(value):
    """A str, bytes or path-like argument as the NUL-terminated bytes C receives (None stays
    NULL). Text is encoded as UTF-8; undecodable bytes of a path (`surrogateescape`) go through
    as they are, for libatom to refuse as invalid UTF-8."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if not isinstance(value, bytes):
        raise TypeError(f"expected str, bytes or a path, not {type(value).__name__}")
    if b"\0" in value:
        raise ValueError(f"embedded NUL byte in {value!r}")
    return value


def _timeout(seconds):
    """Seconds as the `uint32_t` libatom takes: None (or 0) is its default of 30 s."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds < 2**32:
        raise ValueError(f"timeout must be a whole number of seconds (0 to 2**32-1), not {seconds!r}")
    return seconds


def _call(name, *args):
    """Calls the libatom function `name` with `args` and a final string out-parameter, and
    returns that string; raises the `AtomError` for a failure."""
    out = ctypes.c_void_p()
    code = getattr(_ffi.lib(), name)(*args, ctypes.byref(out))
    if code != Status.OK:
        raise _error(code)
    return _take(out)


def _json(name, *args):
    return json.loads(_call(name, *args))


def abi_version():
    """The loaded library's ABI version as `(major, minor)`."""
    version = _ffi.lib().atom_abi_version()
    return version >> 16, version & 0xFFFF


# Names and ids.


def validate_label(label):
    """Validates an atom label (docs/format.md#names) and returns it NFKC-normalised; raises
    `InvalidNameError`."""
    return _call("atom_label_validate", _arg(label))


def validate_tag(tag):
    """Like `validate_label`, for tags (set names and `meta.tags`)."""
    return _call("atom_tag_validate", _arg(tag))


def validate_identifier(identifier):
    """Like `validate_label`, for strict UAX #31 identifiers (no `-`)."""
    return _call("atom_identifier_validate", _arg(identifier))


def atom_id(root, label):
    """The AtomId (52 base32hex characters) of `label` in the repository whose root commit is
    `root` (40 hexadecimal digits)."""
    return _call("atom_id_compute", _arg(root), _arg(label))


def parse_atom_id(text):
    """The 32 bytes of an AtomId text; raises `InvalidIdError` unless it is canonical."""
    digest = (ctypes.c_uint8 * 32)()
    code = _ffi.lib().atom_id_parse(_arg(text), digest)
    if code != Status.OK:
        raise _error(code)
    return bytes(digest)


# Documents.


def parse_manifest(text, path="atom.toml"):
    """Parses and validates the text of an `atom.toml` (`path` only names it in messages) and
    returns it as a dict shaped like the file; raises `InvalidManifestError`."""
    return _json("atom_manifest_parse", _arg(text), _arg(path))


def read_manifest(path):
    """Reads the manifest of the atom at `path` (its directory or its `atom.toml`)."""
    return _json("atom_manifest_read", _arg(path))


def parse_set_manifest(text, path="ekala.toml"):
    """Like `parse_manifest`, for a set manifest (`ekala.toml`)."""
    return _json("atom_set_manifest_parse", _arg(text), _arg(path))


def parse_lock(text, path="atom.lock"):
    """Parses an `atom.lock` and returns it as a dict shaped like the file; raises
    `InvalidLockError`."""
    return _json("atom_lock_parse", _arg(text), _arg(path))


def render_lock(lock):
    """The `atom.lock` text of `lock` (a dict as `parse_lock` returns, or its JSON text), as the
    reference writes it."""
    if not isinstance(lock, (str, bytes)):
        lock = json.dumps(lock)
    return _call("atom_lock_render", _arg(lock))


def parse_uri(uri):
    """Parses an atom URI (`[url]::label[@requirement]`, default aliases expanded) into
    `{"url", "label", "version", "uri"}`."""
    return _json("atom_uri_parse", _arg(uri))


# Remotes.


def remote_list(url, label=None, timeout=None):
    """The atoms published at `url` (any git URL or a path), of `label` only if given:
    `{"root", "atoms": [{"label", "version", "rev"}]}`. Nothing is downloaded. `timeout`
    bounds connecting and each silence of the server, in seconds (default 30)."""
    return _json("atom_remote_list", _arg(url), _arg(label), _timeout(timeout))


def remote_resolve(url, label, requirement=None, timeout=None):
    """The highest version of `label` at `url` that `requirement` (Cargo syntax; None: any)
    accepts: `{"label", "version", "rev", "id"}`; raises `NotFoundError`."""
    return _json(
        "atom_remote_resolve", _arg(url), _arg(label), _arg(requirement), _timeout(timeout)
    )


def remote_fetch(url, store, label=None, requirement=None, timeout=None):
    """Fetches the atoms published at `url` (only `label` at the versions `requirement` accepts,
    if given) into the atom store directory `store`, verifying each, and returns the report
    (`{"root", "repo", "created", "unchanged", "objects", "bytes", "versions": [...]}`; a
    version the store has at another commit is `"rejected"` there, not raised)."""
    return _json(
        "atom_remote_fetch",
        _arg(url),
        _arg(store),
        _arg(label),
        _arg(requirement),
        _timeout(timeout),
    )


def fetch(url, store):
    """`remote_fetch` of every atom at `url` with the default time-out."""
    return _json("atom_fetch", _arg(url), _arg(store))


# Repositories.


class Repo:
    """A git repository holding atoms (a work tree, its `.git`, or a bare repository), opened in
    isolation from user and system git configuration. Close it with `close()` or use it as a
    context manager; it is also closed when collected."""

    def __init__(self, path):
        handle = ctypes.c_void_p()
        self._lock = threading.Lock()
        self._handle = None
        code = _ffi.lib().atom_repo_open(_arg(path), ctypes.byref(handle))
        if code != Status.OK:
            raise _error(code)
        self._handle = handle
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit the module may be half torn down
            pass

    def __repr__(self):
        state = "closed" if self._handle is None else "open"
        return f"<libatom.Repo {self.path!r} ({state})>"

    def close(self):
        """Frees the handle; further calls raise `ValueError`. Closing twice does nothing."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if self._handle is not None:
                _ffi.lib().atom_repo_free(self._handle)
                self._handle = None

    def _call(self, name, *args, decode=True):
        # The lock keeps `close` from freeing the handle while a call uses it.
        with self._lock:
            if self._handle is None:
                raise ValueError(f"{self!r} is closed")
            text = _call(name, self._handle, *args)
        return json.loads(text) if decode else text

    def genesis(self):
        """The repository's root commit (40 hex digits): `refs/ekala/init`, else the root of
        HEAD's history."""
        return self._call("atom_repo_genesis", decode=False)

    def init(self):
        """Creates `refs/ekala/init` at the root of HEAD (idempotent) and returns that root;
        raises `GitError` if it already points at another root."""
        return self._call("atom_repo_init", decode=False)

    def list(self, label=None):
        """The published atoms (of `label` only, if given), newest first per label:
        `[{"label", "version", "rev"}]`."""
        return self._call("atom_repo_list", _arg(label))

    def resolve(self, label, requirement=None):
        """The highest published version of `label` that `requirement` (Cargo syntax; None:
        any) accepts: `{"label", "version", "rev", "id"}`; raises `NotFoundError`."""
        return self._call("atom_repo_resolve", _arg(label), _arg(requirement))

    def verify(self, label, version, expected_id=None):
        """Verifies the published `label` at `version` (and its id, if `expected_id` is given):
        `{"label", "version", "rev", "tree", "origin", "origin_checked", "id"}`; raises
        `NotFoundError` or `VerifyError`."""
        return self._call("atom_repo_verify", _arg(label), _arg(version), _arg(expected_id))

    def digest(self, label, version):
        """The content digest of the published `label` at `version`:
        `{"label", "version", "rev", "tree", "digest"}`."""
        return self._call("atom_repo_digest", _arg(label), _arg(version))

    def signatures(self, label, version):
        """The signature tags of the published `label` at `version`, checked in-process:
        `{"label", "version", "rev", "digest", "signers": [{"fingerprint", "key", "tag"}],
        "invalid": ["why", ...]}`. An unsigned atom has no signers; trust is the caller's."""
        return self._call("atom_repo_signatures", _arg(label), _arg(version))

    def publish(self, rev=None, path=None):
        """Publishes, from the commit `rev` (default HEAD), the atom at `path` (relative to the
        repository's root; default every atom of its `ekala.toml`):
        `[{"label", "version", "path", "rev", "origin", "created"}]`."""
        return self._call("atom_repo_publish", _arg(rev), _arg(path))

    def materialize(self, label, version, cache_dir):
        """Writes the files of the published `label` at `version` into
        `<cache_dir>/<tree id>` (once) and returns that directory."""
        return self._call(
            "atom_repo_materialize", _arg(label), _arg(version), _arg(cache_dir), decode=False
        )
