// `std` (also `builtins`), the standard library atom modules see: part of the boundary, with
// confine.hh (see std.cc).
#pragma once

#include <string>

#include "compat.hh"

namespace atom_nix {

/// Makes `std` the standard library modules see: the reviewed pure builtins of an allow-list,
/// the file primitives confined to `root`, and the library of nix/std/std.nix. `atom` names the
/// atom (`label-version`) in errors raised by builtins its code hands to `map` & co.
void makeStd(compat::EvalState & state, const std::string & root, const std::string & atom, compat::Value & std);

/// Makes `v` a thunk of `makeStd(root, atom)`: an atom's `std`, built when first forced.
/// (Unlike a thunk of `mkLazy`, `stdMember` recognises it.)
void mkStdThunk(compat::EvalState & state, compat::Value & v, const std::string & root, const std::string & atom);

/// `std.<name>` of the std `stdValue` would be once forced, made on its own without forcing it
/// when `stdValue` is still a thunk of `mkStdThunk` and `name` is a builtin of std that the
/// library does not replace; nullptr otherwise (then select from the forced set). Selecting one
/// builtin (`builtins.readFile`) thus does not build the whole set of every atom that does.
compat::Value * stdMember(compat::EvalState & state, compat::Value & stdValue, compat::Symbol name);

/// `f` as a function whose errors name `origin` (a string value, see `Origin`) when `f` is a
/// builtin or a partial application of one: Nix applies such a function on an atom's behalf
/// (the elements of `map head lists`), outside any atom code. Nix code is returned as it is (its
/// own expressions name their atom).
compat::Value * annotatedFunction(
    compat::EvalState & state, compat::Value * origin, compat::Value * f, const compat::Pos & pos);

/// Whether `fun` is one of std's own wrappers (confined primitives, `map` & co., annotated
/// builtins), which name the atom in their errors themselves.
bool isStdWrapper(compat::PrimOpFun fun);

} // namespace atom_nix
