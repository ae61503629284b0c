"""libatom from Python through ctypes: publish in a temporary repository, resolve, read the
manifest as JSON. Run as `python3 tests/python/test_libatom.py <path to libatom.so>`."""

import ctypes
import json
import os
import subprocess
import sys
import tempfile
import unittest

LIB = None


class Atom:
    """A minimal binding: every call returns the decoded string result or raises with the
    library's message."""

    OK = 0

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.atom_string_free.argtypes = [ctypes.c_void_p]
        self.lib.atom_repo_free.argtypes = [ctypes.c_void_p]

    def _take(self, ptr):
        try:
            return ctypes.string_at(ptr).decode("utf-8")
        finally:
            self.lib.atom_string_free(ptr)

    def _error(self, status):
        out = ctypes.c_void_p()
        self.lib.atom_last_error_message(ctypes.byref(out))
        return AtomError(status, self._take(out) if out.value else "")

    def call(self, name, *args):
        out = ctypes.c_void_p()
        func = getattr(self.lib, name)
        status = func(*args, ctypes.byref(out))
        if status != self.OK:
            raise self._error(status)
        return self._take(out)

    def open_repo(self, path):
        handle = ctypes.c_void_p()
        status = self.lib.atom_repo_open(path.encode(), ctypes.byref(handle))
        if status != self.OK:
            raise self._error(status)
        return handle

    def abi_version(self):
        self.lib.atom_abi_version.restype = ctypes.c_uint32
        return self.lib.atom_abi_version()


class AtomError(Exception):
    def __init__(self, status, message):
        super().__init__(f"status {status}: {message}")
        self.status = status
        self.message = message


def git(cwd, *args):
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
               GIT_AUTHOR_NAME="Py", GIT_AUTHOR_EMAIL="py@example.com",
               GIT_COMMITTER_NAME="Py", GIT_COMMITTER_EMAIL="py@example.com")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


class LibatomTest(unittest.TestCase):
    def setUp(self):
        self.atom = Atom(LIB)
        self.tmp = tempfile.TemporaryDirectory()
        self.repo = self.tmp.name
        git(self.repo, "init", "-q", "-b", "main")
        os.makedirs(os.path.join(self.repo, "hello"))
        with open(os.path.join(self.repo, "hello", "atom.toml"), "w") as f:
            f.write('[package]\nlabel = "hello"\nversion = "1.2.3"\n\n[compose.as]\nnix = "."\n')
        with open(os.path.join(self.repo, "ekala.toml"), "w") as f:
            f.write('[set]\npackages = ["hello"]\n')
        # Publishing needs the lock of an evaluated atom; libatom renders it.
        lock = json.dumps({"version": 1, "compose": {"use": "nix", "entry": "."}})
        with open(os.path.join(self.repo, "hello", "atom.lock"), "w") as f:
            f.write(self.atom.call("atom_lock_render", lock.encode()))
        git(self.repo, "add", ".")
        git(self.repo, "commit", "-q", "-m", "init")

    def tearDown(self):
        self.tmp.cleanup()

    def test_abi_version(self):
        self.assertEqual(self.atom.abi_version() >> 16, 0)

    def test_publish_resolve_and_read_the_manifest(self):
        repo = self.atom.open_repo(self.repo)
        try:
            root = self.atom.call("atom_repo_init", repo)
            self.assertEqual(root, git(self.repo, "rev-list", "--max-parents=0", "HEAD"))
            published = json.loads(self.atom.call("atom_repo_publish", repo, None, None))
            self.assertEqual([(p["label"], p["version"], p["created"]) for p in published],
                             [("hello", "1.2.3", True)])
            resolved = json.loads(self.atom.call("atom_repo_resolve", repo, b"hello", b"^1"))
            self.assertEqual(resolved["version"], "1.2.3")
            self.assertEqual(resolved["rev"], git(self.repo, "rev-parse", "refs/eka/atoms/hello/1.2.3"))
            expected_id = self.atom.call("atom_id_compute", root.encode(), b"hello")
            self.assertEqual(resolved["id"], expected_id)
            manifest = json.loads(self.atom.call("atom_manifest_read", os.path.join(self.repo, "hello").encode()))
            self.assertEqual(manifest["package"], {"label": "hello", "version": "1.2.3"})
            self.assertEqual(manifest["compose"], {"as": {"nix": "."}})
        finally:
            self.atom.lib.atom_repo_free(repo)

    def test_errors_carry_messages(self):
        with self.assertRaises(AtomError) as caught:
            self.atom.call("atom_manifest_parse", b'[package]\nlabel = "9x"\n', b"atom.toml")
        self.assertTrue(caught.exception.message.startswith(
            "atom.toml:2:9: invalid label \"9x\": cannot start with: '9'"), caught.exception.message)
        with self.assertRaises(AtomError) as caught:
            self.atom.call("atom_id_compute", None, b"hello")
        self.assertEqual(caught.exception.message, "argument `root_hex` is NULL")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_libatom.py <path to libatom.so>")
    LIB = sys.argv.pop(1)
    unittest.main(verbosity=2)
