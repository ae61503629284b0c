// Values computed by C++ code when first forced, and the lazy roots of atoms whose files are
// written on first use and checked when they are used (see lazy.cc).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "compat.hh"
#include "confine.hh"
#include "rust/cxx.h"

namespace atom_nix {

struct TreeCheck;

/// Records that the files under `root` are written by `write` on first use (an atom from the
/// store, composed from its Nix files alone). `write` runs at most once; what it returns checks
/// each file of the root before it is used (`checkUse`, `checkCopy`).
void registerLazyRoot(const std::string & root, std::function<rust::Box<TreeCheck>()> write);

/// Writes the files under `root` now if it is a lazy root not written yet (see
/// `registerLazyRoot`); does nothing otherwise.
void ensureRoot(const std::string & root);

/// Before atom code uses `path` (a path value it made, or a file a confined primitive reads):
/// when it is under a written lazy root, compares it with the record written with it (and with
/// `below`, everything under it too, which copying it reads). Throws an evaluation error at `pos`
/// when the tree changed in a way its repository does not account for.
void checkUse(const std::string & path, const compat::Pos & pos, bool below = false);

/// `checkUse` of `path`, saying what the record vouches for: `Regular` or `Directory` when its
/// tree records that entry at `path`, reached without a symlink, so that `path` is its own
/// resolution; nothing when `path` is not under a written lazy root or the record cannot say.
std::optional<FileKind> checkRecorded(const std::string & path, const compat::Pos & pos);

/// The written lazy root `path` is in, if any: a directory the atom store made, whose own path
/// has no symlinks (the store's directory is canonical), so resolving a path under it can start
/// there.
const std::string * writtenRootOf(const std::string & path);

/// Replaces Nix's default filter of paths copied to the store with one that checks each path
/// under a written lazy root first (`checkUse` without a position): what Nix copies on its own
/// (`"${./dir}"`, a derivation's `src`) is checked entry by entry as it is read.
void checkCopiedPaths();

/// Makes `v` a thunk that runs `make` when first forced. `make` must not capture Nix values (the
/// collector does not see inside it).
void mkLazy(compat::EvalState & state, compat::Value & v, std::function<void(compat::EvalState &, compat::Value &)> make);

} // namespace atom_nix
