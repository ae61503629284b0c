// The one place that touches Nix's C++ API where it changed between Nix releases.
//
// Everything here is written against Nix 2.8 (Debian bookworm). Known breaks ahead, for whoever
// ports this: 2.9 (PosIdx replaces `const Pos &` in primops), 2.13 (Value/Bindings helpers),
// 2.17 (EvalError construction), 2.22 and later (SourcePath, error builders). Porting means
// changing this header, not the shim.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eval.hh"
#include "eval-inline.hh"
#include "json-to-value.hh"
#include "primops.hh"
#include "value.hh"

namespace atom_nix::compat {

using nix::EvalState;
using nix::Value;

/// The position type primops receive.
using Pos = nix::Pos;

/// The signature of a primop implementation.
using PrimOpFun = void (*)(EvalState &, const Pos &, Value **, Value &);

/// Throws a Nix evaluation error at `pos`; `message` is shown verbatim (no format directives).
[[noreturn]] inline void throwEvalError(const Pos & pos, const std::string & message)
{
    throw nix::EvalError({.msg = nix::hintfmt(message), .errPos = pos});
}

/// Forces `v` to an attribute set (Nix's own type error otherwise).
inline void forceAttrs(EvalState & state, Value & v, const Pos & pos)
{
    state.forceAttrs(v, pos);
}

/// Forces `v` to a string without context and returns it.
inline std::string_view forceString(EvalState & state, Value & v, const Pos & pos)
{
    return state.forceStringNoCtx(v, pos);
}

/// Coerces `v` to a file system path (a path value, or a string holding an absolute path) and
/// checks that the evaluation may read it (pure and restricted evaluation modes apply).
inline std::string forceReadablePath(EvalState & state, Value & v, const Pos & pos)
{
    nix::PathSet context;
    auto path = state.coerceToPath(pos, v, context);
    return state.checkSourcePath(path);
}

/// Makes `v` the Nix value of a JSON text.
inline void parseJSON(EvalState & state, std::string_view json, Value & v)
{
    nix::parseJSON(state, json, v);
}

/// The names of a forced attribute set, in its (symbol) order.
inline std::vector<std::string> attrNames(const Value & attrs)
{
    std::vector<std::string> names;
    names.reserve(attrs.attrs->size());
    for (auto & attr : *attrs.attrs)
        names.emplace_back(std::string(attr.name));
    return names;
}

/// The value of attribute `name` of a forced attribute set, or nullptr.
inline Value * getAttr(EvalState & state, const Value & attrs, std::string_view name)
{
    auto * attr = attrs.attrs->get(state.symbols.create(name));
    return attr ? attr->value : nullptr;
}

/// A primop to put into an attribute set.
struct PrimOpSpec
{
    const char * name;
    std::vector<std::string> args;
    const char * doc;
    PrimOpFun fun;
};

/// Makes `v` a primop value (with documentation for `:doc`). One PrimOp object is allocated per
/// call and lives as long as the process, like Nix's own builtins.
inline void mkPrimOp(EvalState & state, Value & v, const PrimOpSpec & spec)
{
    v.mkPrimOp(new nix::PrimOp{
        .fun = spec.fun,
        .arity = spec.args.size(),
        .name = state.symbols.create(spec.name),
        .args = spec.args,
        .doc = spec.doc,
    });
}

/// Allocates a fresh value owned by the garbage collector.
inline Value * allocValue(EvalState & state)
{
    return state.allocValue();
}

/// Makes `v` an attribute set of the given (name, value) pairs.
inline void mkAttrs(EvalState & state, Value & v, const std::vector<std::pair<std::string, Value *>> & attrs)
{
    auto bindings = state.buildBindings(attrs.size());
    for (auto & [name, value] : attrs)
        bindings.insert(state.symbols.create(name), value);
    v.mkAttrs(bindings.finish());
}

/// Registers a global builtin. Arity 0 makes a lazy constant, computed on first use.
struct RegisterBuiltin
{
    RegisterBuiltin(const char * name, const char * doc, PrimOpFun fun)
        : registration(nix::RegisterPrimOp::Info{
              .name = name,
              .args = {},
              .arity = 0,
              .doc = doc,
              .fun = fun,
          })
    {}

    nix::RegisterPrimOp registration;
};

} // namespace atom_nix::compat
