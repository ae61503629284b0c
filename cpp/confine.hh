// The boundary of an atom: what its code may reach (confine.cc walks parsed files; std.hh builds
// the standard library it sees) and the path checks both use.
#pragma once

#include <string>

#include "compat.hh"

namespace atom_nix {

/// Whether the canonical `path` is `root` or inside it.
inline bool isInside(const std::string & path, const std::string & root)
{
    return root == "/" || path == root
        || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/');
}

/// `path` (absolute) with `.`, `..` and every symlink resolved as far as the path exists; the
/// rest is kept as written (a dangling link resolves to its target). Throws an evaluation error
/// at `pos` on a symlink loop.
std::string resolveSymlinks(const std::string & path, const compat::Pos & pos);

/// Records that `root` is the root of a pinned source (`deps.pins.<name>.import`) rather than of
/// an atom, so that the boundary's messages name it as such.
void registerPinnedRoot(const std::string & root);

/// How the boundary's messages name the tree at `root` and the code in it.
struct Subject
{
    const char * place;  // "the atom", "the pinned source"
    const char * who;    // "an atom", "pinned code"
    const char * own;    // "its own directory", "its own source"
};

/// The subject of the tree at `root` (see `registerPinnedRoot`).
Subject subjectOf(const std::string & root);

/// Throws an evaluation error at `pos` unless `path` is inside `root` both as written
/// (lexically) and with its symlinks resolved; returns the lexically canonical path.
std::string requireInside(const std::string & path, const std::string & root, const compat::Pos & pos);

/// The kind of file a confined primitive expects.
enum class FileKind { Any, Regular, Directory };

/// Throws an evaluation error at `pos` unless `path` (resolved) is of `kind`; a FIFO, socket or
/// device is never read (reading it could block the evaluation forever).
void requireKind(const std::string & path, FileKind kind, const compat::Pos & pos);

/// Where an error raised in an atom's code came from: its `text()`, "in <atom> at <member>,
/// <file>", is appended to the error's message (once, by the innermost atom code). Made only
/// when an error needs it. A source lives as long as the process (as Nix's parsed expressions
/// do).
struct OriginSource
{
    virtual std::string text() const = 0;
    /// Adds what may explain `e` (e.g. why a member is missing) before the origin is named.
    virtual void explain(nix::Error &) const {}
    virtual ~OriginSource() = default;
};

using Origin = const OriginSource *;

/// Names `text` on `e` unless an atom's code already did (see `Origin`).
void annotate(nix::Error & e, const std::string & text);

/// Names `origin` on `e` unless an atom's code already did.
inline void annotate(nix::Error & e, Origin origin)
{
    origin->explain(e);
    annotate(e, origin->text());
}

/// Walks a module file parsed under `sourceRoot`, once per node (parsed trees share subtrees):
/// refuses path literals outside it (at the nearest enclosing position), makes the others
/// evaluate to the same path under `root` after checking their symlinks, wraps every `a + b` so
/// that a path it produces must be inside `root`, and wraps every expression evaluated later (an
/// attribute, a list element, an argument, a function body) so that its errors name `origin`.
/// A selection of one builtin from `builtins` or `std` makes that builtin alone while the atom's
/// std is not built (see `stdMember`). Returns the expression to evaluate in place of `e`.
compat::Expr * confinePaths(compat::EvalState & state, compat::Expr * e, const std::string & sourceRoot,
    const std::string & root, const compat::Pos & filePos, Origin origin);

} // namespace atom_nix
