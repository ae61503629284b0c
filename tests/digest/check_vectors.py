#!/usr/bin/env python3
"""An independent check of the content digest's test vectors (docs/format.md#content-digest).

It shares no code with the Rust implementation: BLAKE3 is written out below from the algorithm's
specification, and the canonical encoding from the format's description. It encodes each vector's
tree, hashes it, and compares the encoded bytes and digests with those written in docs/format.md.

    python3 tests/digest/check_vectors.py            # check docs/format.md; exit 1 on a mismatch
    python3 tests/digest/check_vectors.py --json     # also print the vectors and digests as JSON
    python3 tests/digest/check_vectors.py --markdown # print the vectors' documentation
    python3 tests/digest/check_vectors.py --dir DIR  # print the digest of the directory DIR

Only the standard library is used.
"""

import json
import os
import re
import struct
import sys

# --- BLAKE3 (hash mode, 32-byte output), after the specification --------------------------------

IV = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19]
PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]
CHUNK_START, CHUNK_END, PARENT, ROOT = 1, 2, 4, 8
CHUNK_LEN, BLOCK_LEN = 1024, 64
MASK = 0xFFFFFFFF


def rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & MASK


def mix(v, a, b, c, d, x, y):
    v[a] = (v[a] + v[b] + x) & MASK
    v[d] = rotr(v[d] ^ v[a], 16)
    v[c] = (v[c] + v[d]) & MASK
    v[b] = rotr(v[b] ^ v[c], 12)
    v[a] = (v[a] + v[b] + y) & MASK
    v[d] = rotr(v[d] ^ v[a], 8)
    v[c] = (v[c] + v[d]) & MASK
    v[b] = rotr(v[b] ^ v[c], 7)


def compress(cv, block, counter, block_len, flags):
    """The 16 output words of compressing one 64-byte block."""
    m = list(struct.unpack("<16I", block.ljust(BLOCK_LEN, b"\0")))
    v = list(cv) + IV[:4] + [counter & MASK, (counter >> 32) & MASK, block_len, flags]
    for r in range(7):
        mix(v, 0, 4, 8, 12, m[0], m[1])
        mix(v, 1, 5, 9, 13, m[2], m[3])
        mix(v, 2, 6, 10, 14, m[4], m[5])
        mix(v, 3, 7, 11, 15, m[6], m[7])
        mix(v, 0, 5, 10, 15, m[8], m[9])
        mix(v, 1, 6, 11, 12, m[10], m[11])
        mix(v, 2, 7, 8, 13, m[12], m[13])
        mix(v, 3, 4, 9, 14, m[14], m[15])
        m = [m[i] for i in PERMUTATION]
    return [v[i] ^ v[i + 8] for i in range(8)] + [v[i + 8] ^ cv[i] for i in range(8)]


def chunk_node(chunk, index):
    """The last compression's inputs of a chunk (its root flag still to be decided)."""
    blocks = [chunk[i:i + BLOCK_LEN] for i in range(0, len(chunk), BLOCK_LEN)] or [b""]
    cv = IV
    for i, block in enumerate(blocks):
        flags = (CHUNK_START if i == 0 else 0) | (CHUNK_END if i == len(blocks) - 1 else 0)
        if i == len(blocks) - 1:
            return (cv, block, index, len(block), flags)
        cv = compress(cv, block, index, len(block), flags)[:8]


def subtree_node(chunks, first):
    """The last compression's inputs of the subtree over `chunks` (indexes from `first`)."""
    if len(chunks) == 1:
        return chunk_node(chunks[0], first)
    left = 1
    while left * 2 < len(chunks):
        left *= 2
    halves = (subtree_node(chunks[:left], first), subtree_node(chunks[left:], first + left))
    words = [w for node in halves for w in compress(*node)[:8]]
    return (IV, struct.pack("<16I", *words), 0, BLOCK_LEN, PARENT)


def blake3(data):
    chunks = [data[i:i + CHUNK_LEN] for i in range(0, len(data), CHUNK_LEN)] or [b""]
    cv, block, counter, block_len, flags = subtree_node(chunks, 0)
    return struct.pack("<8I", *compress(cv, block, counter, block_len, flags | ROOT)[:8])


# Published BLAKE3 outputs, so that a mistake above cannot hide behind a matching mistake in the
# encoding: the empty input, and "abc".
assert blake3(b"").hex() == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
assert blake3(b"abc").hex() == "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"

# --- The canonical encoding ----------------------------------------------------------------------

HEADER = b"atom-digest-v1\0"
KINDS = {"file": b"f", "executable": b"x", "symlink": b"l", "directory": b"d"}


def u64(n):
    return struct.pack("<Q", n)


def encode_leaf(kind, content):
    return HEADER + KINDS[kind] + u64(len(content)) + content


def encode_directory(children):
    """`children`: (name bytes, kind, 32-byte digest); sorted here by the names' bytes."""
    out = HEADER + b"d" + u64(len(children))
    for name, kind, digest in sorted(children):
        out += u64(len(name)) + name + KINDS[kind] + digest
    return out


def content_of(entry):
    """A file's content: `content`, repeated `repeat` times (1 by default)."""
    return entry.get("content", "").encode() * entry.get("repeat", 1)


def tree_of(files):
    """The nested directories of a vector's flat list of files."""
    root = {}
    for entry in files:
        *dirs, name = entry["path"].encode().split(b"/")
        node = root
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = (entry["kind"], content_of(entry))
    return root


def encodings(node):
    """(digest, [encoded bytes of every node, the directory's own last])."""
    children, encoded = [], []
    for name, value in node.items():
        if isinstance(value, dict):
            digest, below = encodings(value)
            encoded += below
            children.append((name, "directory", digest))
        else:
            kind, content = value
            leaf = encode_leaf(kind, content)
            encoded.append(leaf)
            children.append((name, kind, blake3(leaf)))
    own = encode_directory(children)
    return blake3(own), encoded + [own]


# --- The vectors -----------------------------------------------------------------------------------

VECTORS = [
    {"name": "empty-tree", "files": []},
    {"name": "empty-file", "files": [{"path": "a", "kind": "file", "content": ""}]},
    {"name": "executable", "files": [{"path": "run.sh", "kind": "executable", "content": "#!/bin/sh\necho hi\n"}]},
    {"name": "symlink", "files": [
        {"path": "target.nix", "kind": "file", "content": "{ }\n"},
        {"path": "link.nix", "kind": "symlink", "content": "target.nix"}]},
    {"name": "nested", "files": [
        {"path": "atom.toml", "kind": "file", "content": "[atom]\nlabel = \"hello\"\nversion = \"0.1.0\"\n"},
        {"path": "nix/default.nix", "kind": "file", "content": "{ }\n"},
        {"path": "nix/lib/a.nix", "kind": "file", "content": "1\n"},
        {"path": "nix-a", "kind": "file", "content": "x"}]},
    {"name": "unicode", "files": [
        {"path": "\u00e9t\u00e9.txt", "kind": "file", "content": "\u00e9t\u00e9\n"},
        {"path": "\u65e5\u672c/\u8a9e.nix", "kind": "file", "content": ""}]},
    {"name": "large-file", "files": [{"path": "big.txt", "kind": "file", "content": "0123456789", "repeat": 410}]},
]


def directory_digest(path):
    """The digest of a directory on disk (files, executables, symlinks, subdirectories)."""
    children = []
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.islink(full):
            kind, digest = "symlink", blake3(encode_leaf("symlink", os.fsencode(os.readlink(full))))
        elif os.path.isdir(full):
            kind, digest = "directory", directory_digest(full)
        else:
            kind = "executable" if os.stat(full).st_mode & 0o100 else "file"
            with open(full, "rb") as f:
                digest = blake3(encode_leaf(kind, f.read()))
        children.append((os.fsencode(name), kind, digest))
    return blake3(encode_directory(children))


def compute():
    out = []
    for vector in VECTORS:
        digest, encoded = encodings(tree_of(vector["files"]))
        out.append(dict(vector, root_encoding=encoded[-1].hex(), digest="blake3-" + digest.hex()))
    return out


def markdown(results):
    lines = []
    for v in results:
        lines.append("- `%s`: %s" % (v["name"], describe(v["files"])))
        lines.append("  - root encoding: `%s`" % v["root_encoding"])
        lines.append("  - digest: `%s`" % v["digest"])
    return "\n".join(lines)


def describe(files):
    if not files:
        return "the empty tree"
    return "; ".join(
        "%s `%s` holding %s%s" % (f["kind"], f["path"], json.dumps(f.get("content", ""), ensure_ascii=False),
                                  " repeated %d times" % f["repeat"] if "repeat" in f else "")
        for f in files)


def main():
    results = compute()
    if "--dir" in sys.argv:
        print("blake3-" + directory_digest(sys.argv[sys.argv.index("--dir") + 1]).hex())
        return 0
    if "--markdown" in sys.argv:
        print(markdown(results))
        return 0
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "docs", "format.md"), encoding="utf-8") as f:
        doc = f.read()
    failures = []
    for v in results:
        m = re.search(r"^- `%s`:.*\n  - root encoding: `([0-9a-f]*)`\n  - digest: `(blake3-[0-9a-f]{64})`" % re.escape(v["name"]), doc, re.M)
        if not m:
            failures.append("docs/format.md has no vector %s" % v["name"])
        elif (m.group(1), m.group(2)) != (v["root_encoding"], v["digest"]):
            failures.append("vector %s: docs/format.md says %s, computed %s" % (v["name"], m.group(2), v["digest"]))
    if "--json" in sys.argv:
        print(json.dumps(results, ensure_ascii=False))
    for failure in failures:
        print("check_vectors: " + failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
