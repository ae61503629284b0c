// What Rust asks the C++ shim while it works for a primop (declared for the cxx bridge in
// rust/atom-nix/src/lib.rs; defined in plugin.cc).
#pragma once

#include "rust/cxx.h"

namespace atom_nix {

/// Throws (a `std::runtime_error` with Nix's message) unless the running evaluation may read the
/// directory `path`, by Nix's access rules of restricted and pure evaluation.
void check_readable(rust::Str path);

} // namespace atom_nix
