// Pinned code: the files of a direct Nix dependency that an atom imports
// (`deps.pins.<name>.import "path"`), in a closed scope confined to the source (see pinned.cc).
#pragma once

#include <string>

#include "compat.hh"

namespace atom_nix {

/// Imports the file `path` (absolute) of the pinned source at `root` (canonical) as pinned code:
/// in a closed scope confined to the source (see pinned.cc), once per evaluation. `label` names
/// the pin in messages (`pin <name> of <atom>`). Refuses a path outside the source, as written
/// or with its symlinks resolved; a directory means its `default.nix`.
void importPinned(compat::EvalState & state, const std::string & root, const std::string & label,
    const std::string & path, const compat::Pos & pos, compat::Value & v);

} // namespace atom_nix
