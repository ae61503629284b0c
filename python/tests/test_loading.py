"""How the package finds libatom: ATOM_LIBATOM, the dynamic loader, pkg-config, load(path).

Each case runs a fresh interpreter with a controlled environment. `ATOM_LIBATOM` must name the
library under test, as `libatom.so.0` in a directory (an install's layout).
"""

import ctypes.util
import os
import subprocess
import sys
import tempfile
import unittest

LIBRARY = os.environ.get("ATOM_LIBATOM", "")
PROBE = "import libatom; print(libatom.library_path()); print(libatom.atom_id('%s', 'x'))" % ("0" * 40)


def python(code, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("ATOM_LIBATOM", "LD_LIBRARY_PATH", "PKG_CONFIG_PATH")}
    clean.update(env)
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, cwd="/")


@unittest.skipUnless(os.path.basename(LIBRARY) == "libatom.so.0", "ATOM_LIBATOM must name a libatom.so.0")
class Loading(unittest.TestCase):
    def setUp(self):
        self.libdir = os.path.dirname(os.path.abspath(LIBRARY))
        self.tmp = tempfile.TemporaryDirectory()
        self.empty = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def assertLoadedFrom(self, result, path):
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines()[0], path)

    def test_from_the_environment_variable(self):
        self.assertLoadedFrom(python(PROBE, ATOM_LIBATOM=LIBRARY), os.path.abspath(LIBRARY))

    def test_a_wrong_environment_variable_is_an_error_not_a_fallback(self):
        result = python(PROBE, ATOM_LIBATOM="/nonexistent/libatom.so.0", LD_LIBRARY_PATH=self.libdir)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("libatom._ffi.LoadError: libatom not found; tried:\n  /nonexistent/libatom.so.0: ", result.stderr)
        self.assertIn("Set ATOM_LIBATOM", result.stderr)

    def test_something_that_is_not_libatom(self):
        libc = ctypes.util.find_library("c")
        result = python(PROBE, ATOM_LIBATOM=libc)
        self.assertIn(f"{libc}: not libatom", result.stderr)

    def test_through_the_dynamic_loader(self):
        self.assertLoadedFrom(python(PROBE, LD_LIBRARY_PATH=self.libdir), os.path.join(self.libdir, "libatom.so.0"))

    def test_through_pkg_config(self):
        with open(os.path.join(self.empty, "atom.pc"), "w", encoding="utf-8") as f:
            f.write(
                f"prefix={os.path.dirname(self.libdir)}\nlibdir={self.libdir}\n\n"
                "Name: atom\nDescription: test\nVersion: 0.1.0\nLibs: -L${libdir} -latom\n"
            )
        self.assertLoadedFrom(python(PROBE, PKG_CONFIG_PATH=self.empty), os.path.join(self.libdir, "libatom.so.0"))

    def test_load_before_the_first_call(self):
        code = f"import libatom; libatom.load({LIBRARY!r}); " + PROBE.split("; ", 1)[1]
        self.assertLoadedFrom(python(code), os.path.abspath(LIBRARY))
        # Another library once one is loaded is refused.
        code = f"import libatom; libatom.load({LIBRARY!r}); libatom.load('/elsewhere/libatom.so.0')"
        result = python(code)
        self.assertIn("libatom is already loaded from", result.stderr)

    @unittest.skipIf(ctypes.util.find_library("atom"), "a libatom is installed system-wide")
    def test_nowhere(self):
        result = python(PROBE, PKG_CONFIG_PATH=self.empty)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("libatom not found; tried:\n  libatom.so.0: ", result.stderr)
        self.assertIn("pkg-config atom: no atom.pc on PKG_CONFIG_PATH", result.stderr)
        # Importing works without the library: it is loaded on first use.
        self.assertEqual(python("import libatom", PKG_CONFIG_PATH=self.empty).returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
