// The compat layer's definitions for Nix 2.8 (positions are values, symbols are text, values are
// plain fields, primops are function pointers, paths are strings). Each function is declared,
// with its documentation, in compat.hh; only what is particular to 2.8 is said here. Included by
// compat.hh only.
#pragma once

#ifndef ATOM_NIX_2_8
#error "compat-2.8.hh is included by compat.hh, for Nix 2.8 only"
#endif

#include "util.hh"

namespace atom_nix::compat {

namespace detail {

/// The overrides of `CustomExpr` whose signatures are Nix 2.8's.
struct VersionedExpr : Expr
{
    virtual void describe(std::ostream & str) const = 0;

    void show(std::ostream & str) const override { describe(str); }
    void bindVars(const StaticEnv &) override {}
    void setName(Symbol & name) override { Expr::setName(name); }
};

} // namespace detail

inline std::string symbolText(EvalState &, Symbol s)
{
    return std::string(s);
}

inline bool symbolSet(Symbol s)
{
    return s.set();
}

inline Pos filePos(EvalState & state, const std::string & path)
{
    return Pos(nix::foFile, state.symbols.create(path), 1, 1);
}

[[noreturn]] inline void throwEvalError(const Pos & pos, const std::string & message)
{
    throw nix::EvalError({.msg = nix::hintfmt(message), .errPos = pos});
}

inline void forceAttrs(EvalState & state, Value & v, const Pos & pos)
{
    state.forceAttrs(v, pos);
}

inline std::string_view forceString(EvalState & state, Value & v, const Pos & pos)
{
    return state.forceStringNoCtx(v, pos);
}

inline void forceFunction(EvalState & state, Value & v, const Pos & pos)
{
    state.forceFunction(v, pos);
}

inline bool forceBool(EvalState & state, Value & v, const Pos & pos)
{
    return state.forceBool(v, pos);
}

inline std::string pathOf(EvalState & state, Value & v, const Pos & pos)
{
    nix::PathSet context;
    return nix::canonPath(state.coerceToPath(pos, v, context), false);
}

inline std::string checkReadable(EvalState & state, const std::string & path)
{
    return state.checkSourcePath(path);
}

// Nix 2.8 checks the URL as given (for a local repository: a plain or `file://` URL) against
// `allowed-uris`, or, when it names a path, against the allowed paths.
inline void checkGitFetch(EvalState & state, const std::string & url, const std::string &)
{
    state.checkURI(url);
}

inline bool pureEval(EvalState &)
{
    return nix::evalSettings.pureEval;
}

inline std::vector<std::string> attrNames(EvalState &, const Value & attrs)
{
    std::vector<std::string> names;
    names.reserve(attrs.attrs->size());
    for (auto & attr : *attrs.attrs)
        names.emplace_back(std::string(attr.name));
    return names;
}

inline Value * getAttr(EvalState & state, const Value & attrs, std::string_view name)
{
    auto * attr = attrs.attrs->get(state.symbols.create(name));
    return attr ? attr->value : nullptr;
}

inline Attrs attrPairs(const Value & attrs)
{
    Attrs pairs;
    for (auto & attr : *attrs.attrs)
        pairs.emplace_back(attr.name, attr.value);
    return pairs;
}

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

inline RegisterBuiltin::RegisterBuiltin(const char * name, const char * doc, PrimOpFun fun)
    : registration(nix::RegisterPrimOp::Info{
          .name = name,
          .args = {},
          .arity = 0,
          .doc = doc,
          .fun = fun,
      })
{}

inline std::shared_ptr<StaticEnv> closedStaticEnv(EvalState & state, const std::map<std::string, size_t> & names)
{
    auto env = std::make_shared<StaticEnv>(false, nullptr, names.size());
    for (auto & [name, displ] : names)
        env->vars.emplace_back(state.symbols.create(name), displ);
    // `find` is a binary search: the names must be in symbol order.
    env->sort();
    return env;
}

inline void showExpr(const Expr & e, std::ostream & str)
{
    e.show(str);
}

inline std::string pathText(const Value & v)
{
    return v.path;
}

inline PrimOpFun appliedPrimOp(const Value & v)
{
    if (!v.isPrimOpApp())
        return nullptr;
    const Value * head = &v;
    while (head->isPrimOpApp())
        head = head->primOpApp.left;
    return head->isPrimOp() ? head->primOp->fun : nullptr;
}

inline Expr * thunkExpr(const Value & v)
{
    return v.isThunk() ? v.thunk.expr : nullptr;
}

inline void mkPath(EvalState &, Value & v, const std::string & path)
{
    v.mkPath(std::string_view(path));
}

inline const StaticEnv & staticBaseEnv(EvalState & state)
{
    return state.staticBaseEnv;
}

inline Expr * parseFile(EvalState & state, const std::string & path, std::shared_ptr<StaticEnv> staticEnv)
{
    return state.parseExprFromFile(path, *staticEnv);
}

inline Expr * parseString(EvalState & state, std::string source, std::shared_ptr<StaticEnv> staticEnv)
{
    return state.parseExprFromString(std::move(source), "/", *staticEnv);
}

inline Expr * parseWithBuiltins(EvalState & state, std::string source)
{
    return state.parseExprFromString(std::move(source), "/");
}

inline void callFunction(EvalState & state, Value & fun, size_t count, Value ** args, Value & result, const Pos & pos)
{
    state.callFunction(fun, count, args, result, pos);
}

inline void appendToMessage(nix::Error & e, const std::string & text)
{
    auto & info = const_cast<nix::ErrorInfo &>(e.info());
// hintformat declares a copy constructor but not an assignment; the implicit one assigns its only
// member (a boost::format), which is what is wanted.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-copy"
    info.msg = nix::hintfmt(info.msg.str() + text);
#pragma GCC diagnostic pop
}

inline void addTrace(nix::Error & e, const std::string & message)
{
    e.addTrace(std::nullopt, nix::hintfmt(message));
}

// Nix 2.8 keeps no such expressions apart: the attributes select from a shared subtree.
template <typename F>
inline void forEachInheritSource(nix::ExprAttrs &, F &&)
{}

} // namespace atom_nix::compat
