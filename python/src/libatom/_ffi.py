"""Finding and loading libatom, and the C prototypes of every function the binding calls.

The library is looked for, in order:

1. the path given to `libatom.load(path)` before the first call;
2. the file named by the environment variable `ATOM_LIBATOM` (if it is set, nothing else is
   tried: a wrong value is an error, not a silent fallback);
3. `libatom.so.<major>` (the SONAME this binding was written for) through the system's dynamic
   loader: `LD_LIBRARY_PATH`, then the `ldconfig` cache (a system prefix such as /usr/local after
   `ldconfig`), then the default directories. `ctypes.util.find_library("atom")` searches the
   same cache but would accept any major version, so it is not used;
4. `<libdir>/libatom.so.<major>`, where `libdir` is what `pkg-config --variable=libdir atom`
   answers (an install under a private prefix whose `lib/pkgconfig` is on `PKG_CONFIG_PATH`).

The library found must have the ABI major this binding was written for and at least its minor.
"""

import ctypes
import os
import shutil
import subprocess
import threading

# The ABI this binding was written against (include/atom.h: ATOM_ABI_MAJOR, ATOM_ABI_MINOR).
ABI_MAJOR = 0
ABI_MINOR = 1
SONAME = f"libatom.so.{ABI_MAJOR}"
ENV_VAR = "ATOM_LIBATOM"


class LoadError(OSError):
    """libatom could not be found or loaded, or has an incompatible ABI. The message lists what
    was tried."""


_lock = threading.Lock()
_lib = None
_path = None

_str = ctypes.c_char_p
_out = ctypes.POINTER(ctypes.c_void_p)
_status = ctypes.c_int
_u32 = ctypes.c_uint32
_handle = ctypes.c_void_p

# name: (restype, argtypes), exactly as include/atom.h declares them. Strings the library
# returns are received as void pointers, so that they can be handed back to atom_string_free.
PROTOTYPES = {
    "atom_abi_version": (_u32, []),
    "atom_last_error_message": (_status, [_out]),
    "atom_string_free": (None, [ctypes.c_void_p]),
    "atom_label_validate": (_status, [_str, _out]),
    "atom_tag_validate": (_status, [_str, _out]),
    "atom_identifier_validate": (_status, [_str, _out]),
    "atom_id_compute": (_status, [_str, _str, _out]),
    "atom_id_parse": (_status, [_str, ctypes.POINTER(ctypes.c_uint8)]),
    "atom_manifest_parse": (_status, [_str, _str, _out]),
    "atom_manifest_read": (_status, [_str, _out]),
    "atom_set_manifest_parse": (_status, [_str, _str, _out]),
    "atom_lock_parse": (_status, [_str, _str, _out]),
    "atom_uri_parse": (_status, [_str, _out]),
    "atom_lock_render": (_status, [_str, _out]),
    "atom_remote_list": (_status, [_str, _str, _u32, _out]),
    "atom_remote_resolve": (_status, [_str, _str, _str, _u32, _out]),
    "atom_remote_fetch": (_status, [_str, _str, _str, _str, _u32, _out]),
    "atom_repo_open": (_status, [_str, _out]),
    "atom_repo_free": (None, [_handle]),
    "atom_repo_genesis": (_status, [_handle, _out]),
    "atom_repo_init": (_status, [_handle, _out]),
    "atom_repo_list": (_status, [_handle, _str, _out]),
    "atom_repo_resolve": (_status, [_handle, _str, _str, _out]),
    "atom_repo_verify": (_status, [_handle, _str, _str, _str, _out]),
    "atom_repo_digest": (_status, [_handle, _str, _str, _out]),
    "atom_repo_signatures": (_status, [_handle, _str, _str, _out]),
    "atom_repo_publish": (_status, [_handle, _str, _str, _out]),
    "atom_repo_materialize": (_status, [_handle, _str, _str, _str, _out]),
    "atom_fetch": (_status, [_str, _str, _out]),
}


def _open(path, tried):
    """Loads `path` (a file, or a name for the dynamic loader) and checks its ABI; returns the
    library or None after noting in `tried` why not."""
    try:
        lib = ctypes.CDLL(path)
    except OSError as error:
        tried.append(f"{path}: {error}")
        return None
    try:
        for name, (restype, argtypes) in PROTOTYPES.items():
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = argtypes
    except AttributeError as error:
        tried.append(f"{path}: not libatom ({error})")
        return None
    version = lib.atom_abi_version()
    major, minor = version >> 16, version & 0xFFFF
    if major != ABI_MAJOR or minor < ABI_MINOR:
        tried.append(
            f"{path}: ABI {major}.{minor}, but this binding needs {ABI_MAJOR}.{ABI_MINOR} or a later "
            f"{ABI_MAJOR}.x"
        )
        return None
    return lib


def _pkg_config_libdir(tried):
    if shutil.which("pkg-config") is None:
        tried.append("pkg-config: not installed")
        return None
    result = subprocess.run(
        ["pkg-config", "--variable=libdir", "atom"], capture_output=True, text=True, check=False
    )
    libdir = result.stdout.strip()
    if result.returncode != 0 or not libdir:
        tried.append("pkg-config atom: no atom.pc on PKG_CONFIG_PATH")
        return None
    return os.path.join(libdir, SONAME)


def _candidates(path, tried):
    if path is not None:
        yield os.fspath(path)
        return
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        yield from_env
        return
    yield SONAME
    from_pkg_config = _pkg_config_libdir(tried)
    if from_pkg_config:
        yield from_pkg_config


def _resolved(candidate):
    """The file the dynamic loader mapped for `candidate` when it was a bare name (from
    /proc/self/maps on Linux), else `candidate`."""
    if os.sep in candidate:
        return os.path.abspath(candidate)
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                mapped = line.split(maxsplit=5)[-1].strip()
                if os.path.basename(mapped) == candidate or mapped.endswith("/" + candidate):
                    return mapped
    except OSError:
        pass
    return candidate


def load(path=None):
    """Loads libatom now, from `path` if given, else as the module documentation describes, and
    returns the path (or loader name) it was loaded from. Raises `LoadError` if none of the
    places holds a compatible libatom, or if a different library was already loaded."""
    global _lib, _path
    with _lock:
        if _lib is not None:
            if path is not None and _resolved(os.fspath(path)) != _path:
                raise LoadError(f"libatom is already loaded from {_path}; cannot load {os.fspath(path)}")
            return _path
        tried = []
        for candidate in _candidates(path, tried):
            lib = _open(candidate, tried)
            if lib is not None:
                _lib, _path = lib, _resolved(candidate)
                return _path
        raise LoadError(
            "libatom not found; tried:\n  "
            + "\n  ".join(tried)
            + f"\nSet {ENV_VAR} to the library's path (e.g. /usr/local/lib/{SONAME}), install it under a"
            " prefix the dynamic loader knows and run ldconfig, or call libatom.load(path)."
        )


def lib():
    """The loaded library (loading it on first use)."""
    if _lib is None:
        load()
    return _lib


def library_path():
    """Where libatom was loaded from (a path, or the SONAME when the dynamic loader found it),
    loading it first if needed."""
    lib()
    return _path
