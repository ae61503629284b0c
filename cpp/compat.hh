// Nix's C++ API as the shim uses it: every call, type and override that changed between Nix
// releases goes through here (primops, positions, errors, forcing and calling, value
// construction, environments, parsing, settings, access checks of restricted and pure
// evaluation, and the overrides of custom `Expr` nodes, see `CustomExpr`). The one other
// version-sensitive part is the syntax tree walk of confine.cc, which names Nix's node types and
// their fields (and asks this layer for the few fields that differ).
//
// Two Nix versions are supported, chosen at compile time: build.rs finds the Nix it builds
// against and defines ATOM_NIX_VERSION (major * 10000 + minor * 100 + patch) and
// ATOM_NIX_VERSION_STRING. Versions in between are not supported: 2.9 (PosIdx), 2.13 (Value and
// Bindings helpers), 2.17 (EvalError construction) and 2.19-2.24 (SourcePath, source accessors,
// error builders, `show` and `bindVars` signatures) each changed parts of this layer.
//
// The layer is three files. This one declares every shape once, with its documentation: the
// types, the functions (whose definitions differ per version), and what is written the same way
// for both on top of them. compat-2.8.hh and compat-2.26.hh hold only the definitions of one
// version; this file includes the one that build.rs selected. The shim includes this file only.
#pragma once

#if !defined(ATOM_NIX_VERSION) || !defined(ATOM_NIX_VERSION_STRING)
#error "ATOM_NIX_VERSION and ATOM_NIX_VERSION_STRING must be defined (build.rs does it)"
#endif

#if ATOM_NIX_VERSION >= 22600 && ATOM_NIX_VERSION < 22700
#define ATOM_NIX_2_26 1
#elif ATOM_NIX_VERSION >= 20800 && ATOM_NIX_VERSION < 20900
#define ATOM_NIX_2_8 1
#else
#error "this plugin builds against Nix 2.8 or Nix 2.26 only (see compat.hh)"
#endif

#include <dlfcn.h>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gc/gc_allocator.h>
#include <nlohmann/json.hpp>

#include "eval.hh"
#include "eval-inline.hh"
#include "json-to-value.hh"
#include "primops.hh"
#include "value.hh"
#include "config.hh"
#include "nixexpr.hh"

namespace atom_nix::compat {

using nix::EvalState;
using nix::Symbol;
using nix::Value;

/// The Nix version this plugin was compiled against, e.g. "2.26.3".
inline constexpr const char * builtAgainst = ATOM_NIX_VERSION_STRING;

// Containers for `Value *`. The garbage collector scans the stack, its own heap and Nix's roots,
// not memory from `malloc`/`new`: a `Value *` held only in a `std::vector` or `std::map` while
// anything allocates may be freed and reused. These containers allocate their storage with
// `traceable_allocator` (uncollectable, scanned), so what they hold stays alive. Every container
// of the shim that holds Nix values is one of these (a test checks the sources for others).

/// A vector the collector scans.
template <typename T>
using GcVector = std::vector<T, traceable_allocator<T>>;

/// A map the collector scans.
template <typename K, typename V>
using GcMap = std::map<K, V, std::less<K>, traceable_allocator<std::pair<const K, V>>>;

/// Attributes as (symbol, value) pairs.
using Attrs = GcVector<std::pair<Symbol, Value *>>;

/// Attributes as (name, value) pairs.
using NamedAttrs = GcVector<std::pair<std::string, Value *>>;

/// The errors Nix throws during evaluation.
using Error = nix::Error;

/// The environment types of the evaluator.
using nix::Env;
using nix::Expr;
using nix::StaticEnv;

namespace detail {
// The evaluator the shim is running in. Errors of 2.26 need it (positions are indices into its
// table), and the boundary checks (confine.cc) and the checks Rust asks for while planning a graph
// (`check_readable`) run where none is at hand. Every way into the shim's code (a primop, the lazy
// `builtins.atom` constant) records it here; Nix evaluates on one thread.
inline EvalState * current = nullptr;
}

/// Records the evaluator the shim is running in (see `detail::current`).
inline void enter(EvalState & state)
{
    detail::current = &state;
}

/// The evaluator recorded by `enter`.
inline EvalState & currentState()
{
    return *detail::current;
}

// ---------------------------------------------------------------------------------------------
// Positions: a value on Nix 2.8, an index into the evaluator's position table on Nix 2.26.

#ifdef ATOM_NIX_2_26
/// The position type.
using Pos = nix::PosIdx;
/// How primops receive their position.
using PosArg = const nix::PosIdx;
/// No position.
inline const Pos noPos = nix::noPos;
#else
/// The position type.
using Pos = nix::Pos;
/// How primops receive their position.
using PosArg = const nix::Pos &;
/// No position.
inline const Pos & noPos = nix::noPos;
#endif

/// The signature of a primop implementation (a function pointer on Nix 2.8; Nix 2.26 keeps it in
/// a `std::function`).
using PrimOpFun = void (*)(EvalState &, PosArg, Value **, Value &);

// ---------------------------------------------------------------------------------------------
// Declared here, defined per version (compat-2.8.hh, compat-2.26.hh).

/// The text of a symbol.
inline std::string symbolText(EvalState & state, Symbol s);

/// Whether an attribute name is static (a symbol) rather than computed.
inline bool symbolSet(Symbol s);

/// The position of the start of the file `path`.
inline Pos filePos(EvalState & state, const std::string & path);

/// Throws a Nix evaluation error at `pos`; `message` is shown verbatim (no format directives).
[[noreturn]] inline void throwEvalError(const Pos & pos, const std::string & message);

/// Forces `v` to an attribute set (Nix's own type error otherwise).
inline void forceAttrs(EvalState & state, Value & v, const Pos & pos);

/// Forces `v` to a string without context and returns it.
inline std::string_view forceString(EvalState & state, Value & v, const Pos & pos);

/// Forces `v` to a function (Nix's own type error otherwise).
inline void forceFunction(EvalState & state, Value & v, const Pos & pos);

/// Forces `v` to a Boolean and returns it.
inline bool forceBool(EvalState & state, Value & v, const Pos & pos);

/// A path or string value coerced to an absolute path, lexically canonical (`..` resolved,
/// symlinks not). A string's context is dropped: the path is only text.
inline std::string pathOf(EvalState & state, Value & v, const Pos & pos);

/// Checks that the evaluation may read `path` (absolute), as Nix checks its own reads: in
/// restricted and pure evaluation, the path and its symlink-resolved form must be under an
/// allowed prefix (`-I`, `NIX_PATH`, store paths the evaluation obtained, `allowPath`);
/// otherwise Nix's own error is thrown. Returns the path with its symlinks resolved.
inline std::string checkReadable(EvalState & state, const std::string & path);

/// Checks that the evaluation may fetch the git revision `rev` of `url`, as Nix checks
/// `builtins.fetchGit { url; rev; }` in restricted evaluation; otherwise Nix's own error is thrown.
/// What is checked against `allowed-uris` is the URL that version's `fetchGit` checks.
inline void checkGitFetch(EvalState & state, const std::string & url, const std::string & rev);

/// Whether the evaluation is pure (`pure-eval`: `nix eval` without `--impure`, every flake).
inline bool pureEval(EvalState & state);

/// The names of a forced attribute set, in its (symbol) order.
inline std::vector<std::string> attrNames(EvalState & state, const Value & attrs);

/// The value of attribute `name` of a forced attribute set, or nullptr.
inline Value * getAttr(EvalState & state, const Value & attrs, std::string_view name);

/// The attributes of a forced attribute set, as (name, value) pairs in its order.
inline Attrs attrPairs(const Value & attrs);

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
inline void mkPrimOp(EvalState & state, Value & v, const PrimOpSpec & spec);

/// Registers a global builtin. Arity 0 makes a lazy constant, computed on first use.
struct RegisterBuiltin
{
    RegisterBuiltin(const char * name, const char * doc, PrimOpFun fun);

    nix::RegisterPrimOp registration;
};

/// A static environment with no parent naming `names` at their displacements: code parsed with
/// it sees those names and nothing else (any other free variable is a parse error).
inline std::shared_ptr<StaticEnv> closedStaticEnv(EvalState & state, const std::map<std::string, size_t> & names);

/// Prints an expression as Nix shows it.
inline void showExpr(const Expr & e, std::ostream & str);

/// The text of the path value `v`.
inline std::string pathText(const Value & v);

/// The implementation of the builtin that the primop application `v` applies (its leftmost
/// primop), or nullptr when `v` is not a primop application (or applies a builtin that is not a
/// plain function).
inline PrimOpFun appliedPrimOp(const Value & v);

/// The expression of the thunk `v` (not forced yet, or being forced: then Nix's black hole), or
/// nullptr when `v` is not a thunk.
inline Expr * thunkExpr(const Value & v);


/// Makes `v` a path value (on Nix 2.26 readable through Nix's root file system, so Nix's access
/// rules apply to reads of it).
inline void mkPath(EvalState & state, Value & v, const std::string & path);

/// The evaluator's global static environment.
inline const StaticEnv & staticBaseEnv(EvalState & state);

/// Parses a file with `staticEnv` as its only static environment (Nix's access rules apply to
/// reading it).
inline Expr * parseFile(EvalState & state, const std::string & path, std::shared_ptr<StaticEnv> staticEnv);

/// Parses Nix source held in memory (no path literals expected: the base path is `/`).
inline Expr * parseString(EvalState & state, std::string source, std::shared_ptr<StaticEnv> staticEnv);

/// Parses Nix source held in memory in Nix's ordinary base environment (all builtins).
inline Expr * parseWithBuiltins(EvalState & state, std::string source);

/// Calls the function `fun` with `count` arguments into `result`.
inline void callFunction(EvalState & state, Value & fun, size_t count, Value ** args, Value & result, const Pos & pos);

/// Appends `text` to an error's message, keeping the error's type (so that `tryEval` still
/// catches a `throw` or a failed `assert`). `err` is a mutable member and `e` is not const, so
/// writing through `info()` is well defined.
inline void appendToMessage(nix::Error & e, const std::string & text);

/// Adds a trace line to an error on its way out.
inline void addTrace(nix::Error & e, const std::string & message);

/// Calls `f` on every expression of `inherit (e) ...` of an attribute set, letting it replace
/// each (Nix 2.26 keeps them apart from the attributes, which select from them; Nix 2.8 shares
/// the subtree and keeps none apart).
template <typename F>
inline void forEachInheritSource(nix::ExprAttrs & attrs, F && f);

} // namespace atom_nix::compat

#ifdef ATOM_NIX_2_26
#include "compat-2.26.hh"
#else
#include "compat-2.8.hh"
#endif

namespace atom_nix::compat {

// ---------------------------------------------------------------------------------------------
// The same for both versions, written with the definitions above.

/// The base of the shim's own expression nodes (thunk bodies and replacements in parsed
/// files): it implements the overrides whose signatures change between Nix versions (`show`,
/// `bindVars`, `setName`, in `detail::VersionedExpr`). A node only implements `eval` and
/// `describe` (what `show` prints for it); it is never bound (`bindVars`), as it is made after
/// parsing.
struct CustomExpr : detail::VersionedExpr
{
    // Every other virtual function of Expr that Nix defines out of line is overridden here (and
    // calls Nix's), so that the plugin's virtual tables name only the plugin's own functions: a
    // virtual table is bound when the plugin is loaded, and one naming a function that another
    // Nix version lacks would stop the plugin from loading there at all (see `Registration`).
    Value * maybeThunk(EvalState & state, Env & env) override { return Expr::maybeThunk(state, env); }
};

/// Lets the evaluation read `path` and everything under it in restricted and pure evaluation (a
/// no-op otherwise).
inline void allowPath(EvalState & state, const std::string & path)
{
    state.allowPath(path);
}

/// The filter Nix applies to every path it copies to the store when no other filter is given
/// (`"${./dir}"`, a derivation's `src`): called with each entry below the copied path (not with
/// the path itself). Declared by both versions (util.hh in 2.8, file-system.hh in 2.26).
inline nix::PathFilter & defaultPathFilter()
{
    return nix::defaultPathFilter;
}

/// The version of the Nix this plugin is loaded into (`nix::nixVersion`, defined by Nix 2.8 and
/// 2.26 alike), looked up by name at run time so that no version's symbols are needed to ask:
/// nullptr when the process has no such symbol.
inline const std::string * runningNixVersion()
{
    // dlsym returns the address of the variable (a std::string, the same type in both versions)
    // or nullptr; the process's global scope holds Nix's libraries, which loaded this plugin.
    // The name is `nix::nixVersion` mangled, with the ABI tag of std::string.
    return static_cast<const std::string *>(dlsym(RTLD_DEFAULT, "_ZN3nix10nixVersionB5cxx11E"));
}

/// Coerces `v` to a file system path (a path value, or a string holding an absolute path) and
/// checks that the evaluation may read it (pure and restricted evaluation modes apply). Returns
/// the path with its symlinks resolved.
inline std::string forceReadablePath(EvalState & state, Value & v, const Pos & pos)
{
    return checkReadable(state, pathOf(state, v, pos));
}

/// Makes `v` the Nix value of a JSON text.
inline void parseJSON(EvalState & state, std::string_view json, Value & v)
{
    nix::parseJSON(state, json, v);
}

/// Allocates a fresh value owned by the garbage collector.
inline Value * allocValue(EvalState & state)
{
    return state.allocValue();
}

/// Makes `v` an attribute set of the given (name, value) pairs.
inline void mkAttrs(EvalState & state, Value & v, const NamedAttrs & attrs)
{
    auto bindings = state.buildBindings(attrs.size());
    for (auto & [name, value] : attrs)
        bindings.insert(state.symbols.create(name), value);
    v.mkAttrs(bindings.finish());
}

/// Makes `v` an attribute set from (name, value) pairs whose names are distinct.
inline void mkAttrsFrom(EvalState & state, Value & v, const Attrs & attrs)
{
    auto bindings = state.buildBindings(attrs.size());
    for (auto & [name, value] : attrs)
        bindings.insert(name, value);
    v.mkAttrs(bindings.finish());
}

/// The attributes of a forced attribute set, as (name, value) pairs in its order.
inline NamedAttrs namedAttrPairs(EvalState & state, const Value & attrs)
{
    NamedAttrs pairs;
    for (auto & [name, value] : attrPairs(attrs))
        pairs.emplace_back(symbolText(state, name), value);
    return pairs;
}

/// The symbol of `name`.
inline Symbol symbol(EvalState & state, std::string_view name)
{
    return state.symbols.create(name);
}

/// Forces `v` to weak head normal form.
inline void forceValue(EvalState & state, Value & v, const Pos & pos)
{
    state.forceValue(v, pos);
}

/// Whether the forced value `v` is a path, a null.
inline bool isPath(const Value & v)
{
    return v.type() == nix::nPath;
}
inline bool isNull(const Value & v)
{
    return v.type() == nix::nNull;
}

/// Whether `v` is (after forcing) an attribute set.
inline bool isAttrs(EvalState & state, Value & v, const Pos & pos)
{
    forceValue(state, v, pos);
    return v.type() == nix::nAttrs;
}

/// Whether the forced value `v` is a builtin function or a partial application of one (not a
/// lambda of Nix code).
inline bool isBuiltinFunction(const Value & v)
{
    return v.isPrimOp() || v.isPrimOpApp();
}

/// Makes `v` a string (without context), a Boolean.
inline void mkString(Value & v, std::string_view s)
{
    v.mkString(s);
}
inline void mkBool(Value & v, bool b)
{
    v.mkBool(b);
}

/// Makes `v` a thunk: `expr` evaluated in `env` when first forced.
inline void mkThunk(Value & v, Env & env, Expr * expr)
{
    v.mkThunk(&env, expr);
}

/// Makes `v` the partial application of the primop (or primop application) `fun` to `arg`.
inline void mkPrimOpApp(Value & v, Value * fun, Value * arg)
{
    v.mkPrimOpApp(fun, arg);
}

/// Makes `v` the lazy application `fun arg` (evaluated when forced).
inline void mkApp(Value & v, Value * fun, Value * arg)
{
    v.mkApp(fun, arg);
}

/// Calls the function `fun` with `arg` into `result`.
inline void callFunction(EvalState & state, Value & fun, Value & arg, Value & result, const Pos & pos)
{
    state.callFunction(fun, arg, result, pos);
}

/// The evaluator's base environment (Nix's global scope).
inline Env & baseEnv(EvalState & state)
{
    return state.baseEnv;
}

/// The value the variable `var` names, evaluated in `env` (where the parser bound it), without
/// forcing it, as Nix looks it up; nullptr for a variable that comes from a `with`. (`fromWith` is
/// a flag in Nix 2.8 and a pointer in 2.26: both test as it.)
inline Value * varSlot(Env & env, const nix::ExprVar & var)
{
    if (var.fromWith)
        return nullptr;
    Env * at = &env;
    for (auto level = var.level; level; --level)
        at = at->up;
    return at->values[var.displ];
}

/// `path` with `.` and `..` resolved lexically (symlinks not followed).
inline std::string canonPath(const std::string & path)
{
    return nix::canonPath(path, false);
}

/// The last component of `path`, and the path without it.
inline std::string baseNameOf(const std::string & path)
{
    return std::string(nix::baseNameOf(path));
}
inline std::string dirOf(const std::string & path)
{
    return nix::dirOf(path);
}

/// An environment of `size` slots with no parent, every slot set to `fill`.
inline Env & allocClosedEnv(EvalState & state, size_t size, Value * fill)
{
    Env & env = state.allocEnv(size);
    env.up = nullptr;
    for (size_t i = 0; i < size; i++)
        env.values[i] = fill;
    return env;
}

/// A global value (`true`, `map`, `__sub`, ...), or nullptr.
inline Value * globalValue(EvalState & state, std::string_view name)
{
    auto sym = state.symbols.create(name);
    for (auto & [s, displ] : staticBaseEnv(state).vars)
        if (s == sym)
            return state.baseEnv.values[displ];
    return nullptr;
}

/// Sets the value Nix holds for the setting `name`, which no registered configuration knows yet,
/// to `value`: Nix applies such values to a setting when the plugin that defines it has been
/// loaded (see `Registration` in plugin.cc).
inline void setPendingSetting(const std::string & name, const std::string & value)
{
    // `unknownSettings` is a protected member of AbstractConfig: a class derived from it may name
    // it, and the pointer to member it gets reads it in any AbstractConfig. Never instantiated.
    struct Pending : nix::AbstractConfig
    {
        static nix::StringMap & of(nix::AbstractConfig & config) { return config.*(&Pending::unknownSettings); }
    };
    Pending::of(nix::globalConfig)[name] = value;
}

/// A string setting of the plugin, settable with `--option <name> <value>` or in nix.conf.
///
/// Nix's own `Setting<std::string>` is not used: its virtual table would be made in the plugin and
/// name functions that differ between Nix versions, so the plugin could not even be loaded into
/// another version to refuse there. This one overrides every virtual function itself.
struct StringSetting : nix::Config
{
    struct Text : nix::AbstractSetting
    {
        std::string value;

        Text(nix::Config * config, const std::string & name, const std::string & description)
            : AbstractSetting(name, description, {})
        {
            config->addSetting(this);
        }

        void set(const std::string & text, bool) override { value = text; }
        bool isAppendable() override { return false; }
        std::string to_string() const override { return value; }
#ifdef ATOM_NIX_2_26
        std::map<std::string, nlohmann::json> toJSONObject() const override
#else
        std::map<std::string, nlohmann::json> toJSONObject() override
#endif
        {
            auto object = AbstractSetting::toJSONObject();
            object.emplace("value", value);
            object.emplace("defaultValue", "");
            return object;
        }
        // No `--<name>` command-line flag; `--option <name> <value>` works.
        void convertToArg(nix::Args &, const std::string &) override {}
    };

    StringSetting(const std::string & name, const std::string & description)
        : setting(this, name, description)
        , registration(this)
    {}

    const std::string & get() const { return setting.value; }

    Text setting;
    nix::GlobalConfig::Register registration;
};

} // namespace atom_nix::compat
