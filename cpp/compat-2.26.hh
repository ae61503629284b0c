// The compat layer's definitions for Nix 2.26 (positions are indices into the evaluator's table,
// values have accessors, primops are `std::function`s, paths carry a source accessor). Each
// function is declared, with its documentation, in compat.hh; only what is particular to 2.26 is
// said here. Included by compat.hh only.
#pragma once

#ifndef ATOM_NIX_2_26
#error "compat-2.26.hh is included by compat.hh, for Nix 2.26 only"
#endif

#include "config-global.hh"
#include "eval-error.hh"
#include "fetchers.hh"
#include "url.hh"
#include "file-system.hh"
#include "source-path.hh"

namespace atom_nix::compat {

namespace detail {

/// The context Nix 2.26 adds to a type error of a forced argument.
inline constexpr std::string_view forcing = "while evaluating an argument of builtins.atom";

/// The overrides of `CustomExpr` whose signatures are Nix 2.26's.
struct VersionedExpr : Expr
{
    virtual void describe(std::ostream & str) const = 0;

    void show(const nix::SymbolTable &, std::ostream & str) const override { describe(str); }
    void bindVars(EvalState &, const std::shared_ptr<const StaticEnv> &) override {}
    void setName(Symbol name) override { Expr::setName(name); }
};

} // namespace detail

inline std::string symbolText(EvalState & state, Symbol s)
{
    return std::string(std::string_view(state.symbols[s]));
}

inline bool symbolSet(Symbol s)
{
    return bool(s);
}

inline Pos filePos(EvalState & state, const std::string & path)
{
    auto origin = state.positions.addOrigin(nix::Pos::Origin(state.rootPath(nix::CanonPath(path))), 1);
    return state.positions.add(origin, 0);
}

[[noreturn]] inline void throwEvalError(const Pos & pos, const std::string & message)
{
    auto & state = currentState();
    state.error<nix::EvalError>("%s", nix::Uncolored(message)).atPos(pos).debugThrow();
}

inline void forceAttrs(EvalState & state, Value & v, const Pos & pos)
{
    state.forceAttrs(v, pos, detail::forcing);
}

inline std::string_view forceString(EvalState & state, Value & v, const Pos & pos)
{
    return state.forceStringNoCtx(v, pos, detail::forcing);
}

inline void forceFunction(EvalState & state, Value & v, const Pos & pos)
{
    state.forceFunction(v, pos, detail::forcing);
}

inline bool forceBool(EvalState & state, Value & v, const Pos & pos)
{
    return state.forceBool(v, pos, detail::forcing);
}

inline std::string pathOf(EvalState & state, Value & v, const Pos & pos)
{
    nix::NixStringContext context;
    return nix::canonPath(state.coerceToPath(pos, v, context, detail::forcing).path.abs(), false);
}

inline std::string checkReadable(EvalState & state, const std::string & path)
{
    auto source = state.rootPath(nix::CanonPath(path));
    // Reading through the root accessor is what applies the rules: stat the path as written,
    // then every component while resolving symlinks, then the result.
    source.maybeLstat();
    auto resolved = source.resolveSymlinks();
    resolved.maybeLstat();
    return resolved.path.abs();
}

// Nix 2.26 checks the URL of the git input `fetchGit` makes (`git+file:///…?exportIgnore=1&rev=…`)
// against `allowed-uris`, or, when that is a path, against the allowed paths.
inline void checkGitFetch(EvalState & state, const std::string & url, const std::string & rev)
{
    nix::fetchers::Attrs attrs;
    attrs.emplace("type", "git");
    attrs.emplace("url", nix::fixGitURL(url));
    attrs.emplace("rev", rev);
    attrs.emplace("exportIgnore", nix::Explicit<bool>{true});
    auto input = nix::fetchers::Input::fromAttrs(state.fetchSettings, std::move(attrs));
    state.checkURI(input.toURLString());
}

inline bool pureEval(EvalState & state)
{
    return state.settings.pureEval;
}

inline std::vector<std::string> attrNames(EvalState & state, const Value & attrs)
{
    std::vector<std::string> names;
    names.reserve(attrs.attrs()->size());
    for (auto & attr : *attrs.attrs())
        names.emplace_back(symbolText(state, attr.name));
    return names;
}

inline Value * getAttr(EvalState & state, const Value & attrs, std::string_view name)
{
    auto * attr = attrs.attrs()->get(state.symbols.create(name));
    return attr ? attr->value : nullptr;
}

inline Attrs attrPairs(const Value & attrs)
{
    Attrs pairs;
    for (auto & attr : *attrs.attrs())
        pairs.emplace_back(attr.name, attr.value);
    return pairs;
}

inline void mkPrimOp(EvalState &, Value & v, const PrimOpSpec & spec)
{
    v.mkPrimOp(new nix::PrimOp{
        .name = spec.name,
        .args = spec.args,
        .arity = spec.args.size(),
        .doc = spec.doc,
        .fun = spec.fun,
    });
}

inline RegisterBuiltin::RegisterBuiltin(const char * name, const char * doc, PrimOpFun fun)
    : registration(nix::PrimOp{
          .name = name,
          .args = {},
          .arity = 0,
          .doc = doc,
          .fun = fun,
      })
{}

inline std::shared_ptr<StaticEnv> closedStaticEnv(EvalState & state, const std::map<std::string, size_t> & names)
{
    auto env = std::make_shared<StaticEnv>(nullptr, nullptr, names.size());
    for (auto & [name, displ] : names)
        env->vars.emplace_back(state.symbols.create(name), displ);
    // `find` is a binary search: the names must be in symbol order.
    env->sort();
    return env;
}

inline void showExpr(const Expr & e, std::ostream & str)
{
    e.show(currentState().symbols, str);
}

inline std::string pathText(const Value & v)
{
    return v.path().path.abs();
}

// A builtin that is not a plain function (a `std::function` holding something else) is not one
// the shim knows: nullptr.
inline PrimOpFun appliedPrimOp(const Value & v)
{
    if (!v.isPrimOpApp())
        return nullptr;
    auto * primOp = v.primOpAppPrimOp();
    if (!primOp)
        return nullptr;
    auto * target = primOp->fun.target<PrimOpFun>();
    return target ? *target : nullptr;
}

inline Expr * thunkExpr(const Value & v)
{
    return v.isThunk() ? v.payload.thunk.expr : nullptr;
}

// The path is made on the evaluator's root accessor, so Nix's access rules apply to reads of it.
inline void mkPath(EvalState & state, Value & v, const std::string & path)
{
    v.mkPath(state.rootPath(nix::CanonPath(path)));
}

inline const StaticEnv & staticBaseEnv(EvalState & state)
{
    return *state.staticBaseEnv;
}

// Read through the root accessor: Nix's access rules apply.
inline Expr * parseFile(EvalState & state, const std::string & path, std::shared_ptr<StaticEnv> staticEnv)
{
    return state.parseExprFromFile(state.rootPath(nix::CanonPath(path)), staticEnv);
}

inline Expr * parseString(EvalState & state, std::string source, std::shared_ptr<StaticEnv> staticEnv)
{
    return state.parseExprFromString(std::move(source), state.rootPath(nix::CanonPath("/")), staticEnv);
}

inline Expr * parseWithBuiltins(EvalState & state, std::string source)
{
    return state.parseExprFromString(std::move(source), state.rootPath(nix::CanonPath("/")));
}

inline void callFunction(EvalState & state, Value & fun, size_t count, Value ** args, Value & result, const Pos & pos)
{
    state.callFunction(fun, std::span<Value *>(args, count), result, pos);
}

inline void appendToMessage(nix::Error & e, const std::string & text)
{
    auto & info = const_cast<nix::ErrorInfo &>(e.info());
    info.msg = nix::HintFmt(info.msg.str() + text);
}

inline void addTrace(nix::Error & e, const std::string & message)
{
    e.addTrace(nullptr, nix::HintFmt(message));
}

// Nix 2.26 keeps the expressions of `inherit (e) ...` apart from the attributes, which select
// from them.
template <typename F>
inline void forEachInheritSource(nix::ExprAttrs & attrs, F && f)
{
    if (attrs.inheritFromExprs)
        for (auto & e : *attrs.inheritFromExprs)
            e = f(e);
}

} // namespace atom_nix::compat
