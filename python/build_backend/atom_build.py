"""A PEP 517 build backend (with the PEP 660 editable hook) for this pure-Python package.

It needs only the standard library, so `pip install ./python` works without a network and
without setuptools or wheel: bookworm's venv has setuptools 66 but not `wheel`, which setuptools
of that age needs to build any wheel. The wheel holds `src/libatom/` and the metadata of
`pyproject.toml`'s `[project]` table; files are written in sorted order with a fixed date, so a
build is reproducible.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "libatom"
# Zip entries need a date; a fixed one makes builds reproducible (1980 is zip's epoch).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
WHEEL_TAG = "py3-none-any"


def _project():
    """The `[project]` table of pyproject.toml (tomllib on Python 3.11+; before that, the
    table's `key = "string"` lines, which is all this file uses)."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        data = f.read()
    try:
        import tomllib
    except ImportError:
        project, inside = {}, False
        for line in data.decode("utf-8").splitlines():
            line = line.strip()
            if line.startswith("["):
                inside = line == "[project]"
            elif inside:
                match = re.fullmatch(r'([A-Za-z0-9_-]+)\s*=\s*"((?:[^"\\]|\\.)*)"', line)
                if match:
                    project[match.group(1)] = match.group(2).replace('\\"', '"')
        return project
    return tomllib.loads(data.decode("utf-8"))["project"]


def _metadata():
    project = _project()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
        f"License: {project['license']}",
        "Description-Content-Type: text/markdown",
    ]
    with open(os.path.join(ROOT, project["readme"]), encoding="utf-8") as f:
        readme = f.read()
    return project, "\n".join(lines) + "\n\n" + readme


def _dist_info(project):
    return f"{project['name']}-{project['version']}.dist-info"


def _package_files():
    """(path inside the wheel, path on disk) for every file of the package, sorted."""
    files = []
    base = os.path.join(ROOT, "src")
    for directory, dirs, names in os.walk(os.path.join(base, PACKAGE)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".py", ".typed")):
                path = os.path.join(directory, name)
                files.append((os.path.relpath(path, base).replace(os.sep, "/"), path))
    return sorted(files)


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _write_wheel(wheel_directory, entries):
    """Writes a wheel of `entries` ((name, bytes), the package's files) plus its dist-info."""
    project, metadata = _metadata()
    info = _dist_info(project)
    wheel = f"Wheel-Version: 1.0\nGenerator: atom_build\nRoot-Is-Purelib: true\nTag: {WHEEL_TAG}\n"
    entries = list(entries) + [
        (f"{info}/METADATA", metadata.encode("utf-8")),
        (f"{info}/WHEEL", wheel.encode("utf-8")),
    ]
    record = [_record_line(name, data) for name, data in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode("utf-8")))
    filename = f"{project['name']}-{project['version']}-{WHEEL_TAG}.whl"
    # Written under a temporary name and renamed: never a half-written wheel.
    target = os.path.join(wheel_directory, filename)
    with zipfile.ZipFile(target + ".part", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            entry = zipfile.ZipInfo(name, ZIP_DATE)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    os.replace(target + ".part", target)
    return filename


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    project, metadata = _metadata()
    info = _dist_info(project)
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    with open(os.path.join(metadata_directory, info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(metadata)
    return info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, [(name, _read(path)) for name, path in _package_files()])


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # An editable install is a .pth file naming the source directory.
    pth = (os.path.join(ROOT, "src") + "\n").encode("utf-8")
    return _write_wheel(wheel_directory, [(f"_{PACKAGE}_editable.pth", pth)])


def build_sdist(sdist_directory, config_settings=None):
    project, metadata = _metadata()
    base = f"{project['name']}-{project['version']}"
    paths = ["pyproject.toml", project["readme"], "build_backend/atom_build.py"]
    paths += [os.path.relpath(path, ROOT) for _, path in _package_files()]
    for directory, dirs, names in os.walk(os.path.join(ROOT, "tests")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        paths += [os.path.relpath(os.path.join(directory, n), ROOT) for n in names if n.endswith(".py")]
    filename = f"{base}.tar.gz"
    target = os.path.join(sdist_directory, filename)
    with tarfile.open(target + ".part", "w:gz", format=tarfile.PAX_FORMAT) as archive:

        def add(name, data):
            entry = tarfile.TarInfo(f"{base}/{name}")
            entry.size, entry.mode, entry.mtime = len(data), 0o644, 0
            archive.addfile(entry, io.BytesIO(data))

        add("PKG-INFO", metadata.encode("utf-8"))
        for path in sorted(paths):
            add(path.replace(os.sep, "/"), _read(os.path.join(ROOT, path)))
    os.replace(target + ".part", target)
    return filename
