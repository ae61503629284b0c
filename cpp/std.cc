// `std` (also `builtins`), the standard library atom modules see: part of the boundary, with
// confine.cc.
//
// It is an allow-list: each builtin below was reviewed and is either pure (its result depends on
// its arguments only, it reads nothing and builds nothing) or a file primitive confined to the
// atom. Any other builtin — `import`, fetchers, `getEnv`, `builtins.atom` itself, and whatever a
// later Nix adds — is not in `std`. The confined primitives build their arguments afresh from
// the checked path: nothing the caller passes (a string carrying a derivation in its context, an
// attribute set) reaches Nix's own primitive, so no call can make Nix build at evaluation time.

#include <algorithm>
#include <map>
#include <typeinfo>
#include <string>
#include <sys/stat.h>

#include "composer.hh"
#include "confine.hh"
#include "lazy.hh"
#include "std.hh"
#include "rust/cxx.h"
#include "atom-nix/src/lib.rs.h"

namespace atom_nix {

using compat::Env;
using compat::EvalState;
using compat::Expr;
using compat::Pos;
using compat::StaticEnv;
using compat::Symbol;
using compat::Value;

namespace {

// How std holds one of Nix's builtins.
enum class StdKind {
    Pure,          // as it is
    ReadFile,      // readFile path: a regular file inside the atom
    ReadDir,       // readDir path: a directory inside the atom
    PathExists,    // pathExists path, toPath path: a path inside the atom
    HashFile,      // hashFile type path: a regular file inside the atom
    FilterSource,  // filterSource filter path: a path inside the atom
    PathAttrs,     // path { path, name, filter, recursive }: `path` inside the atom
    DirOf,         // dirOf x: a path it returns stays inside the atom
    HigherOrder,   // map f ... & co.: a builtin `f` applied later names the atom in its errors
};

struct Allowed
{
    const char * name;
    StdKind kind;
};

// The reviewed builtins. Left out on purpose: `import`, `scopedImport`, `fetch*`, `getEnv`,
// `currentSystem`, `currentTime`, `nixPath`, `findFile`, `storePath` (impure or reading outside
// the atom); `builtins` (the unconfined set itself); `derivationStrict` (`derivation` is the
// interface); `appendContext` (forges references to arbitrary store paths);
// `unsafeGetAttrPos` (reveals files outside the atom); `atom` (the plugin: an atom reaches its
// dependencies through `deps`, not by loading other atoms).
const Allowed allowList[] = {
    // Values and types.
    {"true", StdKind::Pure}, {"false", StdKind::Pure}, {"null", StdKind::Pure},
    {"typeOf", StdKind::Pure}, {"isAttrs", StdKind::Pure}, {"isBool", StdKind::Pure},
    {"isFloat", StdKind::Pure}, {"isFunction", StdKind::Pure}, {"isInt", StdKind::Pure},
    {"isList", StdKind::Pure}, {"isNull", StdKind::Pure}, {"isPath", StdKind::Pure},
    {"isString", StdKind::Pure}, {"functionArgs", StdKind::Pure},
    // Control and errors.
    {"abort", StdKind::Pure}, {"throw", StdKind::Pure}, {"tryEval", StdKind::Pure},
    {"addErrorContext", StdKind::Pure}, {"trace", StdKind::Pure}, {"seq", StdKind::Pure},
    {"deepSeq", StdKind::Pure},
    // Numbers.
    {"add", StdKind::Pure}, {"sub", StdKind::Pure}, {"mul", StdKind::Pure}, {"div", StdKind::Pure},
    {"lessThan", StdKind::Pure}, {"bitAnd", StdKind::Pure}, {"bitOr", StdKind::Pure},
    {"bitXor", StdKind::Pure}, {"ceil", StdKind::Pure}, {"floor", StdKind::Pure},
    // Attribute sets.
    {"attrNames", StdKind::Pure}, {"attrValues", StdKind::Pure}, {"catAttrs", StdKind::Pure},
    {"getAttr", StdKind::Pure}, {"hasAttr", StdKind::Pure}, {"intersectAttrs", StdKind::Pure},
    {"listToAttrs", StdKind::Pure}, {"mapAttrs", StdKind::HigherOrder}, {"removeAttrs", StdKind::Pure},
    {"zipAttrsWith", StdKind::HigherOrder}, {"groupBy", StdKind::HigherOrder},
    // Lists.
    {"all", StdKind::HigherOrder}, {"any", StdKind::HigherOrder}, {"concatLists", StdKind::Pure},
    {"concatMap", StdKind::HigherOrder}, {"elem", StdKind::Pure}, {"elemAt", StdKind::Pure},
    {"filter", StdKind::HigherOrder}, {"foldl'", StdKind::HigherOrder}, {"genList", StdKind::HigherOrder},
    {"genericClosure", StdKind::Pure}, {"head", StdKind::Pure}, {"length", StdKind::Pure},
    {"map", StdKind::HigherOrder}, {"partition", StdKind::HigherOrder}, {"sort", StdKind::HigherOrder},
    {"tail", StdKind::Pure},
    // Strings.
    {"baseNameOf", StdKind::Pure}, {"compareVersions", StdKind::Pure},
    {"concatStringsSep", StdKind::Pure}, {"hashString", StdKind::Pure}, {"match", StdKind::Pure},
    {"parseDrvName", StdKind::Pure}, {"replaceStrings", StdKind::Pure}, {"split", StdKind::Pure},
    {"splitVersion", StdKind::Pure}, {"stringLength", StdKind::Pure}, {"substring", StdKind::Pure},
    {"toString", StdKind::Pure},
    // String context: reading or dropping it grants nothing.
    {"getContext", StdKind::Pure}, {"hasContext", StdKind::Pure},
    {"unsafeDiscardStringContext", StdKind::Pure}, {"unsafeDiscardOutputDependency", StdKind::Pure},
    // Data formats.
    {"fromJSON", StdKind::Pure}, {"toJSON", StdKind::Pure}, {"fromTOML", StdKind::Pure},
    {"toXML", StdKind::Pure},
    // Derivations: describing one builds nothing; `toFile` writes its text to the store
    // (content-addressed, and Nix refuses text that refers to derivation outputs).
    {"derivation", StdKind::Pure}, {"placeholder", StdKind::Pure}, {"toFile", StdKind::Pure},
    {"storeDir", StdKind::Pure}, {"nixVersion", StdKind::Pure}, {"langVersion", StdKind::Pure},
    // Files: confined to the atom.
    {"readFile", StdKind::ReadFile}, {"readDir", StdKind::ReadDir},
    {"pathExists", StdKind::PathExists}, {"toPath", StdKind::PathExists},
    {"hashFile", StdKind::HashFile}, {"filterSource", StdKind::FilterSource},
    {"path", StdKind::PathAttrs}, {"dirOf", StdKind::DirOf},
};

const Allowed * findAllowed(const std::string & name)
{
    for (auto & entry : allowList)
        if (name == entry.name)
            return &entry;
    return nullptr;
}

// The path `v` names, refused unless it is inside `root` (a string value) as written and with
// its symlinks resolved, and of `kind`; checked against the atom store's record of it (with
// everything below it when the primitive `copies` it). Returns a fresh path value (no string
// context).
Value * confinedPath(EvalState & state, Value & root, Value & v, FileKind kind, const Pos & pos, bool copies = false)
{
    auto rootDir = std::string(compat::forceString(state, root, pos));
    ensureRoot(rootDir);
    auto path = compat::pathOf(state, v, pos);
    if (!isInside(path, rootDir) || !isInside(resolveSymlinks(path, pos), rootDir)) {
        auto subject = subjectOf(rootDir);
        compat::throwEvalError(pos, "access to '" + path + "' is forbidden: " + subject.who
            + " may only read files inside " + subject.own + " (" + rootDir + ")");
    }
    requireKind(path, kind, pos);
    checkUse(path, pos, copies);
    auto * fresh = compat::allocValue(state);
    compat::mkPath(state, *fresh, path);
    return fresh;
}

// A fresh string value holding the text of `v` (which must have no context).
Value * freshString(EvalState & state, Value & v, const Pos & pos)
{
    auto * fresh = compat::allocValue(state);
    compat::mkString(*fresh, compat::forceString(state, v, pos));
    return fresh;
}

// Errors raised by a builtin that Nix applies on the atom's behalf later (the elements of
// `map head lists`, say) happen outside any atom code, so they are annotated here. args[0] is
// the origin text (a string), args[1] the builtin, args[2] its argument.
void primAnnotatedCall(EvalState & state, compat::PosArg pos, Value ** args, Value & v);

} // namespace

Value * annotatedFunction(EvalState & state, Value * origin, Value * f, const Pos & pos)
{
    compat::forceValue(state, *f, pos);
    if (!compat::isBuiltinFunction(*f))
        return f;
    struct Wrapper;
    auto * wrapper = perEvaluator<Wrapper>(state, [&](Value & v) {
        compat::mkPrimOp(
            state, v, {.name = "std (annotated)", .args = {"origin", "f", "x"}, .doc = nullptr, .fun = primAnnotatedCall});
    });
    auto * withOrigin = compat::allocValue(state);
    compat::mkPrimOpApp(*withOrigin, wrapper, origin);
    auto * result = compat::allocValue(state);
    compat::mkPrimOpApp(*result, withOrigin, f);
    return result;
}

namespace {

void primAnnotatedCall(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    try {
        compat::callFunction(state, *args[1], *args[2], v, pos);
        compat::forceValue(state, v, pos);
        // A builtin of several arguments: its partial application is annotated too.
        if (compat::isBuiltinFunction(v)) {
            auto * partial = compat::allocValue(state);
            *partial = v;
            v = *annotatedFunction(state, args[0], partial, pos);
        }
    } catch (compat::Error & e) {
        annotate(e, std::string(compat::forceString(state, *args[0], pos)));
        throw;
    }
}

// `map f` & co. (args[0] Nix's builtin, args[1] the origin text, args[2] `f`).
void primHigherOrder(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    compat::callFunction(state, *args[0], *annotatedFunction(state, args[1], args[2], pos), v, pos);
}

// The confined primitives are partial applications `wrapper original root`: args[0] is Nix's
// primitive, args[1] the atom's root (a string), the rest the caller's arguments.

void primReadFile(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    compat::callFunction(state, *args[0], *confinedPath(state, *args[1], *args[2], FileKind::Regular, pos), v, pos);
}

void primReadDir(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    compat::callFunction(state, *args[0], *confinedPath(state, *args[1], *args[2], FileKind::Directory, pos), v, pos);
}

void primPathExists(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    compat::callFunction(state, *args[0], *confinedPath(state, *args[1], *args[2], FileKind::Any, pos), v, pos);
}

void primHashFile(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    Value * callArgs[] = {
        freshString(state, *args[2], pos), confinedPath(state, *args[1], *args[3], FileKind::Regular, pos)};
    compat::callFunction(state, *args[0], 2, callArgs, v, pos);
}

void primFilterSource(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    compat::forceFunction(state, *args[2], pos);
    Value * callArgs[] = {args[2], confinedPath(state, *args[1], *args[3], FileKind::Any, pos, true)};
    compat::callFunction(state, *args[0], 2, callArgs, v, pos);
}

// `path { path, name ? ..., filter ? ..., recursive ? ... }`, rebuilt from checked parts. No
// `sha256`: with it, Nix returns an existing store path of that hash without reading `path`,
// which would let an atom name (and depend on) any store path whose hash it knows.
void primPathAttrs(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    Value & given = *args[2];
    compat::forceAttrs(state, given, pos);
    compat::NamedAttrs attrs;
    bool hasPath = false;
    for (auto & [name, value] : compat::attrPairs(given)) {
        std::string key = compat::symbolText(state, name);
        if (key == "path") {
            attrs.emplace_back(key, confinedPath(state, *args[1], *value, FileKind::Any, pos, true));
            hasPath = true;
        } else if (key == "name") {
            attrs.emplace_back(key, freshString(state, *value, pos));
        } else if (key == "recursive") {
            auto * fresh = compat::allocValue(state);
            compat::mkBool(*fresh, compat::forceBool(state, *value, pos));
            attrs.emplace_back(key, fresh);
        } else if (key == "filter") {
            compat::forceFunction(state, *value, pos);
            attrs.emplace_back(key, value);
        } else {
            compat::throwEvalError(pos, "std.path: unsupported attribute '" + key
                + "' (expected path, name, filter or recursive)");
        }
    }
    if (!hasPath)
        compat::throwEvalError(pos, "std.path: missing attribute 'path'");
    auto * fresh = compat::allocValue(state);
    compat::mkAttrs(state, *fresh, attrs);
    compat::callFunction(state, *args[0], *fresh, v, pos);
}

// `dirOf`: of a string, a string (Nix's own); of a path, its parent, which must be in the atom
// as written and with its symlinks resolved (a link inside the atom can make a parent's text
// look inside while it means a directory outside).
void primDirOf(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    compat::callFunction(state, *args[0], *args[2], v, pos);
    compat::forceValue(state, v, pos);
    if (compat::isPath(v))
        requireInside(compat::pathText(v), std::string(compat::forceString(state, *args[1], pos)), pos);
}

struct Wrapper
{
    StdKind kind;
    compat::PrimOpFun fun;
    size_t arity;  // with the original and the root
};

const Wrapper wrappers[] = {
    {StdKind::ReadFile, primReadFile, 3},
    {StdKind::ReadDir, primReadDir, 3},
    {StdKind::PathExists, primPathExists, 3},
    {StdKind::HashFile, primHashFile, 4},
    {StdKind::FilterSource, primFilterSource, 4},
    {StdKind::PathAttrs, primPathAttrs, 3},
    {StdKind::DirOf, primDirOf, 3},
    {StdKind::HigherOrder, primHigherOrder, 3},
};

// What every std of one evaluator shares: the allowed builtins and how std holds them, the
// wrapper primops, and the parsed library (nix/std/std.nix). Only the partial applications to an
// atom's root and the library's evaluation are per atom.
struct StdPlan
{
    EvalState * state = nullptr;
    struct Entry
    {
        Symbol name;
        Value * value;  // Nix's builtin (kept alive by Nix's base environment)
        StdKind kind;
    };
    compat::GcVector<Entry> builtins;
    // The wrapper primop of each confined kind, by `StdKind`. The plan is static memory, which
    // the collector does not scan: the values live in a scanned vector.
    compat::GcVector<Value *> wrapperValues;
    // The library, parsed when the first std is made (`parsedLibrary`): a builtin selected on
    // its own (`stdMember`) needs none of it.
    std::shared_ptr<StaticEnv> libraryScope;
    Expr * library = nullptr;
    size_t builtinsSlot = 0;
    // Where each attribute of an atom's std comes from, worked out by the first one (the names
    // are the same for every atom; only the values differ): `curated` lists the builtins of the
    // set the library sees, in order; `merged`, the attributes of std, each a builtin (an index
    // into `builtins`) or the library's attribute at that position of its attribute set. Plain
    // indices: no values here.
    struct Slot
    {
        Symbol name;
        bool fromLibrary;
        size_t index;
    };
    bool laidOut = false;
    std::vector<size_t> curated;
    std::vector<Slot> merged;
    size_t libraryAttrs = 0;
    // The builtins (indices into `builtins`) that std holds as they are, which `stdMember` may
    // make on their own: those whose names the library does not define (`libraryNames`).
    std::vector<size_t> direct;
};

// The pure globals the library's scope names, besides `builtins`.
const char * const libraryGlobals[] = {"true", "false", "null", "__sub", "__mul", "__div", "__lessThan", "map",
    "toString", "throw", "abort", "isNull", "removeAttrs", "baseNameOf"};

// The attributes the library (nix/std/std.nix) defines, which replace builtins of the same name.
// Known before the library is parsed, so that a builtin selected on its own needs no library;
// every std laid out checks them against the library itself (`makeStd`).
const char * const libraryNames[] = {"fix", "file", "set", "path", "string", "list"};

bool isLibraryName(const std::string & name)
{
    for (auto * known : libraryNames)
        if (name == known)
            return true;
    return false;
}

StdPlan & stdPlan(EvalState & state)
{
    // One evaluator per process in practice; a different one rebuilds the plan. The parsed
    // expression and static environment are kept for the process's lifetime, as Nix keeps its own.
    static StdPlan plan;
    if (plan.state == &state)
        return plan;
    plan = StdPlan{};
    plan.state = &state;
    Value * builtins = compat::globalValue(state, "builtins");
    compat::forceValue(state, *builtins, compat::noPos);
    for (auto & [name, value] : compat::attrPairs(*builtins))
        if (auto * allowed = findAllowed(compat::symbolText(state, name)))
            plan.builtins.push_back({name, value, allowed->kind});

    plan.wrapperValues.assign(std::size(wrappers) + 1, nullptr);
    for (auto & wrapper : wrappers) {
        auto * value = compat::allocValue(state);
        std::vector<std::string> argNames(wrapper.arity);
        compat::mkPrimOp(state, *value, {.name = "std (confined)", .args = argNames, .doc = nullptr, .fun = wrapper.fun});
        plan.wrapperValues[size_t(wrapper.kind)] = value;
    }

    for (size_t i = 0; i < plan.builtins.size(); i++)
        if (!isLibraryName(compat::symbolText(state, plan.builtins[i].name)))
            plan.direct.push_back(i);
    return plan;
}

// The library of `plan`, parsed on first use (in a closed scope of the pure globals it names and
// `builtins`).
Expr * parsedLibrary(EvalState & state, StdPlan & plan)
{
    if (plan.library)
        return plan.library;
    std::map<std::string, size_t> visible;
    for (size_t i = 0; i < std::size(libraryGlobals); i++)
        visible[libraryGlobals[i]] = i;
    plan.builtinsSlot = std::size(libraryGlobals);
    visible["builtins"] = plan.builtinsSlot;
    plan.libraryScope = compat::closedStaticEnv(state, visible);
    auto source = std_source();
    plan.library = compat::parseString(state, std::string(source.data(), source.size()), plan.libraryScope);
    return plan.library;
}

} // namespace

bool isStdWrapper(compat::PrimOpFun fun)
{
    if (fun == primAnnotatedCall)
        return true;
    for (auto & wrapper : wrappers)
        if (fun == wrapper.fun)
            return true;
    return false;
}

namespace {

// The text of `root`, and the origin text that names `atom` in errors of builtins its code hands
// to `map` & co., as string values.
std::pair<Value *, Value *> stdArguments(EvalState & state, const std::string & root, const std::string & atom)
{
    auto * rootValue = compat::allocValue(state);
    compat::mkString(*rootValue, root);
    auto * originValue = compat::allocValue(state);
    compat::mkString(*originValue, "in " + atom + ", in a builtin its code applied");
    return {rootValue, originValue};
}

// The builtin `entry` as an atom's std holds it: as it is, or confined (applied to its root or
// origin, `stdArguments`).
Value * stdBuiltin(EvalState & state, const StdPlan & plan, const StdPlan::Entry & entry, Value * rootValue, Value * originValue)
{
    if (entry.kind == StdKind::Pure)
        return entry.value;
    auto * withOriginal = compat::allocValue(state);
    compat::mkPrimOpApp(*withOriginal, plan.wrapperValues[size_t(entry.kind)], entry.value);
    auto * value = compat::allocValue(state);
    compat::mkPrimOpApp(*value, withOriginal, entry.kind == StdKind::HigherOrder ? originValue : rootValue);
    return value;
}

// The thunk of an atom's std (`mkStdThunk`): plain text, no Nix values.
struct ExprStdSet : compat::CustomExpr
{
    std::string root;
    std::string atom;

    ExprStdSet(std::string root, std::string atom) : root(std::move(root)), atom(std::move(atom)) {}

    void describe(std::ostream & str) const override { str << "«atom std»"; }
    void eval(EvalState & state, Env &, Value & v) override { makeStd(state, root, atom, v); }
};

} // namespace

void mkStdThunk(EvalState & state, Value & v, const std::string & root, const std::string & atom)
{
    compat::mkThunk(v, compat::baseEnv(state), new ExprStdSet(root, atom));
}

Value * stdMember(EvalState & state, Value & stdValue, Symbol name)
{
    auto * expr = compat::thunkExpr(stdValue);
    if (!expr || typeid(*expr) != typeid(ExprStdSet))
        return nullptr;
    StdPlan & plan = stdPlan(state);
    for (size_t i : plan.direct)
        if (plan.builtins[i].name == name) {
            auto & set = static_cast<ExprStdSet &>(*expr);
            auto [rootValue, originValue] = stdArguments(state, set.root, set.atom);
            return stdBuiltin(state, plan, plan.builtins[i], rootValue, originValue);
        }
    return nullptr;
}

void makeStd(EvalState & state, const std::string & root, const std::string & atom, Value & result)
{
    StdPlan & plan = stdPlan(state);
    auto [rootValue, originValue] = stdArguments(state, root, atom);
    // Each builtin as this atom sees it (confined ones applied to its root), in scanned memory.
    compat::GcVector<Value *> values;
    values.reserve(plan.builtins.size());
    for (auto & entry : plan.builtins)
        values.push_back(stdBuiltin(state, plan, entry, rootValue, originValue));

    // The library part, written in Nix, evaluated with these builtins and merged over them (a
    // library attribute replaces a builtin of the same name).
    Expr * libraryExpr = parsedLibrary(state, plan);
    auto evalLibrary = [&](Value * curated) {
        Env & env = compat::allocClosedEnv(state, plan.builtinsSlot + 1, curated);
        for (size_t i = 0; i < std::size(libraryGlobals); i++)
            env.values[i] = compat::globalValue(state, libraryGlobals[i]);
        env.values[plan.builtinsSlot] = curated;
        auto * library = compat::allocValue(state);
        libraryExpr->eval(state, env, *library);
        compat::forceValue(state, *library, compat::noPos);
        return library;
    };

    auto * curated = compat::allocValue(state);
    if (plan.laidOut) {
        compat::Attrs attrs;
        for (size_t i : plan.curated)
            attrs.emplace_back(plan.builtins[i].name, values[i]);
        compat::mkAttrsFrom(state, *curated, attrs);
        auto * library = evalLibrary(curated);
        auto libraryValues = compat::attrPairs(*library);
        if (libraryValues.size() == plan.libraryAttrs) {
            compat::Attrs all;
            for (auto & slot : plan.merged)
                all.emplace_back(slot.name, slot.fromLibrary ? libraryValues[slot.index].second : values[slot.index]);
            compat::mkAttrsFrom(state, result, all);
            return;
        }
    }

    // The first std of this evaluator (or a library whose attributes changed): merged by name,
    // and the layout kept for the next ones.
    NamedList chosen;
    for (size_t i = 0; i < plan.builtins.size(); i++)
        chosen.push_back({compat::symbolText(state, plan.builtins[i].name), plan.builtins[i].name, values[i]});
    auto curatedAttrs = lastByName(chosen);
    compat::mkAttrsFrom(state, *curated, curatedAttrs);
    auto * library = evalLibrary(curated);
    auto libraryValues = compat::attrPairs(*library);
    for (auto & entry : named(state, *library))
        chosen.push_back(entry);
    auto mergedAttrs = lastByName(chosen);
    compat::mkAttrsFrom(state, result, mergedAttrs);

    // Where each value came from: the builtins' values are this atom's own, so their pointers
    // say which builtin they are.
    auto builtinOf = [&](Value * value) -> std::optional<size_t> {
        for (size_t i = 0; i < values.size(); i++)
            if (values[i] == value)
                return i;
        return std::nullopt;
    };
    plan.curated.clear();
    for (auto & [name, value] : curatedAttrs)
        plan.curated.push_back(*builtinOf(value));
    plan.merged.clear();
    std::vector<size_t> direct;
    for (auto & [name, value] : mergedAttrs) {
        size_t position = 0;
        while (position < libraryValues.size() && libraryValues[position].second != value)
            position++;
        if (position < libraryValues.size())
            plan.merged.push_back({name, true, position});
        else {
            plan.merged.push_back({name, false, *builtinOf(value)});
            direct.push_back(*builtinOf(value));
        }
    }
    // `stdMember` made the builtins it took for these on their own: they must be these. (A
    // library whose attributes differ from `libraryNames` is a mistake in this build.)
    std::sort(direct.begin(), direct.end());
    if (direct != plan.direct) {
        std::string names;
        for (auto & [name, value] : compat::attrPairs(*library))
            names += " " + compat::symbolText(state, name);
        throw compat::Error("internal error in the atom plugin: std's library defines" + names
            + ", which is not what std.cc's libraryNames lists");
    }
    plan.libraryAttrs = libraryValues.size();
    plan.laidOut = true;
}

} // namespace atom_nix
