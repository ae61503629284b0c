// Values computed by C++ code when first forced, and the lazy roots of atoms whose files are
// written on first use (see lazy.cc).
#pragma once

#include <functional>
#include <string>

#include "compat.hh"

namespace atom_nix {

/// Records that the files under `root` are written by `write` on first use (an atom from the
/// store, composed from its Nix files alone). `write` runs at most once.
void registerLazyRoot(const std::string & root, std::function<void()> write);

/// Writes the files under `root` now if it is a lazy root not written yet (see
/// `registerLazyRoot`); does nothing otherwise.
void ensureRoot(const std::string & root);

/// Makes `v` a thunk that runs `make` when first forced. `make` must not capture Nix values (the
/// collector does not see inside it).
void mkLazy(compat::EvalState & state, compat::Value & v, std::function<void(compat::EvalState &, compat::Value &)> make);

} // namespace atom_nix
