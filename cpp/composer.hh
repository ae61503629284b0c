// The native composer: an atom's modules as lazy Nix values in closed scopes (see composer.cc).
#pragma once

#include <string>

#include "compat.hh"

namespace atom_nix {

/// Whether the canonical `path` is `root` or inside it.
inline bool isInside(const std::string & path, const std::string & root)
{
    return path == root
        || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/');
}

/// Makes `std` the standard library modules see: Nix's pure builtins, with the file primitives
/// (`readFile`, `readDir`, `pathExists`, `hashFile`) refusing paths outside `root`.
void makeStd(compat::EvalState & state, const std::string & root, compat::Value & std);

/// Composes the module at `dir` of the atom rooted at `root` (canonical) and makes `result` its
/// public set. `atom` names the atom in messages (`label-version`); `config` is `cfg`, the
/// attributes of `externAttrs` are added to every module's scope, `stdValue` is `std`/`builtins`.
/// With `isFile`, `dir` is one Nix file (a trivial atom, `[compose.as] nix = "file.nix"`): it is
/// evaluated in the scope its directory would have as the root module, and is the result.
void composeAtom(compat::EvalState & state, const compat::Pos & pos, const std::string & atom,
    const std::string & root, const std::string & dir, compat::Value & config, compat::Value & externAttrs,
    compat::Value & stdValue, compat::Value & result, bool isFile = false);

/// Walks a parsed module file: refuses path literals outside `root` (at `filePos` or the nearest
/// enclosing position) and wraps every `a + b` so that a path it produces must be inside `root`.
/// Returns the expression to evaluate in place of `e`.
compat::Expr * confinePaths(compat::Expr * e, const std::string & root, const compat::Pos & filePos);

} // namespace atom_nix
