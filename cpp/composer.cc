// The native composer (SPEC 6.3): builds an atom's modules as lazy Nix values in closed scopes.
//
// Each module has one environment (`Env`) whose slots hold its scope: `cfg`, `mod`, `builtins`
// and `std` (the curated standard library), `atom`, `pre`, the `extern` attributes and the
// allowed pure globals, plus hidden slots (raw members, the merged module, its public set). Every
// file of the module is parsed with a `StaticEnv` naming exactly the visible slots and no parent,
// so any other free variable is a parse-time error, and evaluated in that environment. Members
// are thunks: a file is read and parsed only when its member is forced.
//
// Garbage collection: every `Value *` lives in an `Env` or in `Bindings`; the custom `Expr`
// nodes below hold only names, paths and the module's (immutable) static description.

#include <map>
#include <memory>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "composer.hh"
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

// Fixed slots of a module environment. Visible ones are named in the StaticEnv; hidden ones are
// not, so module code cannot reach them.
enum Slot : size_t {
    CFG,      // visible: cfg
    MOD,      // visible: mod
    STD,      // visible: std and builtins
    ATOM,     // visible: atom
    PRE,      // visible: pre (non-root modules)
    EXTERN,   // hidden: the extern attribute set, passed to submodules
    RAW,      // hidden: the members (files and submodules)
    MODNIX,   // hidden: the value of mod.nix
    ALL,      // hidden: members // mod.nix
    PUBLIC,   // hidden: the public interface
    ROOTDIR,  // hidden: the atom's root directory (a string)
    PARENT_MOD,  // hidden: the parent's `mod` (non-root modules)
    PARENT_PRE,  // hidden: the parent's `pre` (modules two levels down or deeper)
    FIXED,    // extern attributes and globals follow
};

// What every module of one composition shares.
struct Composition
{
    std::string atom;  // label-version, for messages
    std::string root;  // the atom's root directory (canonical)
    std::string sourceRoot;  // where its module files are read: `root`, or a copy of its Nix files
    // Every module of a composition sees the same names at the same slots (the root lacks only
    // `pre`), so their static environments are built once.
    mutable std::shared_ptr<StaticEnv> rootScope, childScope;
    // The values of `pureGlobals`, in order, and `null`. They live in Nix's base environment,
    // which the collector always sees, so holding them here is safe.
    std::vector<Value *> globals;
    Value * null;
};

// The static description of one module: shared by its member thunks; holds no Nix values.
struct Module
{
    std::shared_ptr<const Composition> composition;
    std::string dir;
    std::string dotted;  // the module path, e.g. "buzz.fuzz"; empty at the root
    bool isRoot;
    std::shared_ptr<StaticEnv> staticEnv;
    size_t envSize;

    std::string where(const std::string & member) const
    {
        std::string path = dotted.empty() ? member : dotted + "." + member;
        return "in " + composition->atom + " at " + (path.empty() ? "<root>" : path);
    }
};

Value * slot(Env & env, Slot s)
{
    return env.values[s];
}

// What starts the line naming the atom and module of an error raised in an atom's file.
// (Nix indents the lines of a message when it prints it.)
const std::string annotationMark = "\n(in ";

// A member file (or mod.nix), parsed on first evaluation with the module's static scope.
struct ExprAtomFile : Expr
{
    std::shared_ptr<const Module> module;
    std::string fileName;  // in the module's directory
    std::string member;
    bool isModFile;
    Expr * parsed = nullptr;

    ExprAtomFile(std::shared_ptr<const Module> module, std::string fileName, std::string member, bool isModFile)
        : module(std::move(module)), fileName(std::move(fileName)), member(std::move(member)), isModFile(isModFile)
    {}

    void show(std::ostream & str) const override { str << "«atom file " << module->dir << "/" << fileName << "»"; }
    void bindVars(const StaticEnv &) override {}

    void eval(EvalState & state, Env & env, Value & v) override
    {
        std::string path = module->dir + "/" + fileName;
        try {
            if (!parsed) {
                auto * expr = compat::parseFile(state, path, *module->staticEnv);
                nix::Pos filePos(nix::foFile, state.symbols.create(path), 1, 1);
                parsed = confinePaths(expr, module->composition->sourceRoot, module->composition->root, filePos);
            }
            parsed->eval(state, env, v);
            if (isModFile && !compat::isAttrs(state, v, nix::noPos))
                compat::throwEvalError(nix::noPos,
                    "The following module does not evaluate to a valid attribute set:\n       " + path);
        } catch (nix::Error & e) {
            // The innermost atom file names itself on the error's first lines; the others add
            // trace lines (`--show-trace`), so the module chain is visible there.
            std::string where = module->where(member);
            if (e.info().msg.str().find(annotationMark) == std::string::npos)
                compat::appendToMessage(e, "\n(" + where + ", " + path + ")");
            compat::addTrace(e, "while evaluating " + path + " (" + where + ")");
            throw;
        }
    }
};

Value * moduleValue(EvalState & state, std::shared_ptr<const Composition> composition, const std::string & dir,
    const std::string & dotted, Env * parent);

// A submodule member: composed on first use, with its parent's scope; its value is its public set.
struct ExprAtomModule : Expr
{
    std::shared_ptr<const Module> parent;
    std::string dir;
    std::string name;

    ExprAtomModule(std::shared_ptr<const Module> parent, std::string dir, std::string name)
        : parent(std::move(parent)), dir(std::move(dir)), name(std::move(name))
    {}

    void show(std::ostream & str) const override { str << "«atom module " << dir << "»"; }
    void bindVars(const StaticEnv &) override {}

    void eval(EvalState & state, Env & env, Value & v) override
    {
        auto dotted = parent->dotted.empty() ? name : parent->dotted + "." + name;
        Value * child = moduleValue(state, parent->composition, dir, dotted, &env);
        state.forceValue(*child, nix::noPos);
        v = *child;
    }
};

// The hidden slots computed from others, lazily.
struct ExprAtomDerived : Expr
{
    enum Kind { All, ModScope, Public, Top, Pre } kind;
    std::shared_ptr<const Module> module;

    ExprAtomDerived(Kind kind, std::shared_ptr<const Module> module) : kind(kind), module(std::move(module)) {}

    void show(std::ostream & str) const override { str << "«atom scope»"; }
    void bindVars(const StaticEnv &) override {}

    void eval(EvalState & state, Env & env, Value & v) override
    {
        switch (kind) {
        case All: return merge(state, env, v);
        case ModScope: return modScope(state, env, v);
        case Public: return publicSet(state, env, v);
        case Top: return top(state, env, v);
        case Pre: return pre(state, env, v);
        }
    }

    // `pre`: the parent's members (lower-cased, as its `mod`, without `outPath`), with `pre` the
    // grandparent's when there is one.
    void pre(EvalState & state, Env & env, Value & v)
    {
        Value & parentMod = *slot(env, PARENT_MOD);
        state.forceValue(parentMod, nix::noPos);
        std::vector<std::pair<Symbol, Value *>> pairs;
        for (auto & pair : compat::attrPairs(parentMod))
            if (std::string(pair.first) != "pre" && std::string(pair.first) != "outPath")
                pairs.push_back(pair);
        Value * grand = slot(env, PARENT_PRE);
        if (grand->type() != nix::nNull)
            pairs.emplace_back(state.symbols.create("pre"), grand);
        compat::mkAttrsFrom(state, v, pairs);
    }

    // members // mod.nix (mod.nix wins).
    void merge(EvalState & state, Env & env, Value & v)
    {
        Value & modnix = *slot(env, MODNIX);
        compat::isAttrs(state, modnix, nix::noPos);
        std::map<std::string, std::pair<Symbol, Value *>> all;
        for (auto & [name, value] : compat::attrPairs(*slot(env, RAW)))
            all[std::string(name)] = {name, value};
        for (auto & [name, value] : compat::attrPairs(modnix))
            all[std::string(name)] = {name, value};
        std::vector<std::pair<Symbol, Value *>> pairs;
        for (auto & [_, pair] : all)
            pairs.push_back(pair);
        compat::mkAttrsFrom(state, v, pairs);
        // Everything now lives in the merged set: let the collector have the parts.
        env.values[RAW] = env.values[MODNIX] = module->composition->null;
    }

    // Every member, first letter lower-cased (a later name in attrNames order wins), without
    // `mod`, with `outPath` the module's directory.
    void modScope(EvalState & state, Env & env, Value & v)
    {
        Value & all = *slot(env, ALL);
        state.forceValue(all, nix::noPos);
        // Bindings are ordered by symbol, not by name: sort by name so that, as in `attrNames`
        // order, `foo` overrides `Foo`.
        std::map<std::string, Value *> byName;
        for (auto & [name, value] : compat::attrPairs(all))
            byName[std::string(name)] = value;
        std::map<std::string, Value *> lowered;
        for (auto & [name, value] : byName)
            lowered[std::string(lower_first(name))] = value;
        lowered.erase("mod");
        auto * outPath = compat::allocValue(state);
        outPath->mkString(mapToRoot(module->dir, module->composition->sourceRoot, module->composition->root));
        lowered["outPath"] = outPath;
        std::vector<std::pair<Symbol, Value *>> pairs;
        for (auto & [name, value] : lowered)
            pairs.emplace_back(state.symbols.create(name), value);
        compat::mkAttrsFrom(state, v, pairs);
    }

    // Names starting with an ASCII capital, first letter lower-cased.
    void publicSet(EvalState & state, Env & env, Value & v)
    {
        Value & all = *slot(env, ALL);
        state.forceValue(all, nix::noPos);
        std::vector<std::pair<Symbol, Value *>> pairs;
        for (auto & [name, value] : compat::attrPairs(all)) {
            std::string text(name);
            if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z')
                pairs.emplace_back(state.symbols.create(std::string(lower_first(text))), value);
        }
        compat::mkAttrsFrom(state, v, pairs);
    }

    // `atom`: the root's public set without `atom` and the root directory's name.
    void top(EvalState & state, Env & env, Value & v)
    {
        Value & pub = *slot(env, PUBLIC);
        state.forceValue(pub, nix::noPos);
        auto base = nix::baseNameOf(module->dir);
        std::vector<std::pair<Symbol, Value *>> pairs;
        for (auto & [name, value] : compat::attrPairs(pub))
            if (std::string(name) != "atom" && std::string(name) != base)
                pairs.emplace_back(name, value);
        compat::mkAttrsFrom(state, v, pairs);
    }
};

// The allowed pure globals, by name (looked up in Nix's base environment).
const char * const pureGlobals[] = {
    "true", "false", "null", "__sub", "__mul", "__div", "__lessThan", "abort", "baseNameOf", "derivation",
    "isNull", "map", "placeholder", "removeAttrs", "throw", "toString",
};

// Builds the environment of the module at `dir`, whose parent environment is `parent` (nullptr at
// the root, where `cfg`, `std`, `extern` come from `rootScope`), and returns its public set.
//
// With `entryFile` (a file name in `dir`, for an atom whose entry is one Nix file), the module's
// scope is built the same way but the value returned is that file's, evaluated in it.
Value * buildModule(EvalState & state, std::shared_ptr<const Composition> composition, const std::string & dir,
    const std::string & dotted, Env * parent, Value ** rootScope, const std::string * entryFile = nullptr)
{
    auto plan = plan_module(rust::Str(dir.data(), dir.size()));
    bool isRoot = parent == nullptr;
    if (!plan.has_mod && !entryFile) {
        auto * empty = compat::allocValue(state);
        compat::mkAttrsFrom(state, *empty, {});
        return empty;
    }

    Value * cfg = isRoot ? rootScope[0] : slot(*parent, CFG);
    Value * stdValue = isRoot ? rootScope[1] : slot(*parent, STD);
    Value * externSet = isRoot ? rootScope[2] : slot(*parent, EXTERN);
    compat::isAttrs(state, *externSet, nix::noPos);
    auto externs = compat::attrPairs(*externSet);

    // The slots after FIXED hold the pure globals, then the extern attributes: the same values
    // for every module of the composition.
    std::vector<Value *> extra(composition->globals);
    for (auto & [name, value] : externs)
        extra.push_back(value);
    size_t next = FIXED + extra.size();

    auto & cached = isRoot ? composition->rootScope : composition->childScope;
    if (!cached) {
        // Visible names → slots; later entries override earlier ones (extern overrides all).
        std::map<std::string, size_t> visible;
        for (size_t i = 0; i < std::size(pureGlobals); i++)
            visible[pureGlobals[i]] = FIXED + i;
        visible["cfg"] = CFG;
        visible["mod"] = MOD;
        visible["builtins"] = STD;
        visible["std"] = STD;
        visible["atom"] = ATOM;
        if (!isRoot)
            visible["pre"] = PRE;
        for (size_t i = 0; i < externs.size(); i++)
            visible[std::string(externs[i].first)] = FIXED + std::size(pureGlobals) + i;
        cached = std::make_shared<StaticEnv>(false, nullptr, visible.size());
        for (auto & [name, displ] : visible)
            cached->vars.emplace_back(state.symbols.create(name), displ);
        cached->sort();
    }
    auto staticEnv = cached;

    auto module = std::make_shared<Module>(Module{composition, dir, dotted, isRoot, staticEnv, next});
    Env & env = compat::allocClosedEnv(state, next, composition->null);
    env.values[CFG] = cfg;
    env.values[STD] = stdValue;
    env.values[EXTERN] = externSet;
    for (size_t i = 0; i < extra.size(); i++)
        env.values[FIXED + i] = extra[i];
    auto * rootDir = compat::allocValue(state);
    rootDir->mkString(composition->root);
    env.values[ROOTDIR] = rootDir;

    // Members, each a thunk.
    std::vector<std::pair<Symbol, Value *>> raw;
    for (auto & member : plan.members) {
        auto * value = compat::allocValue(state);
        std::string name(member.name);
        std::string path(member.path);
        Expr * expr = member.is_module ? (Expr *) new ExprAtomModule(module, path, name)
                                       : (Expr *) new ExprAtomFile(module, std::string(nix::baseNameOf(path)), name, false);
        value->mkThunk(&env, expr);
        raw.emplace_back(state.symbols.create(name), value);
    }
    env.values[RAW] = compat::allocValue(state);
    compat::mkAttrsFrom(state, *env.values[RAW], raw);

    auto thunk = [&](Expr * expr) {
        auto * value = compat::allocValue(state);
        value->mkThunk(&env, expr);
        return value;
    };
    env.values[MODNIX] = thunk(new ExprAtomFile(module, "mod.nix", "mod.nix", true));
    env.values[ALL] = thunk(new ExprAtomDerived(ExprAtomDerived::All, module));
    env.values[MOD] = thunk(new ExprAtomDerived(ExprAtomDerived::ModScope, module));
    env.values[PUBLIC] = thunk(new ExprAtomDerived(ExprAtomDerived::Public, module));

    if (isRoot) {
        env.values[ATOM] = thunk(new ExprAtomDerived(ExprAtomDerived::Top, module));
    } else {
        env.values[ATOM] = slot(*parent, ATOM);
        env.values[PARENT_MOD] = slot(*parent, MOD);
        env.values[PARENT_PRE] = slot(*parent, PRE);
        env.values[PRE] = thunk(new ExprAtomDerived(ExprAtomDerived::Pre, module));
    }
    if (entryFile)
        return thunk(new ExprAtomFile(module, *entryFile, *entryFile, false));
    return env.values[PUBLIC];
}

Value * moduleValue(EvalState & state, std::shared_ptr<const Composition> composition, const std::string & dir,
    const std::string & dotted, Env * parent)
{
    return buildModule(state, std::move(composition), dir, dotted, parent, nullptr);
}


// Names of Nix builtins a module never sees (SPEC 6.3's impurity list, matched against the whole
// name, plus what this implementation also closes: process execution and search-path lookups).
const std::regex impure("import|scopedImport|builtins|fetch.*|current.*|nixPath|storePath|getEnv|getFlake|exec|"
                        "findFile|importNative");

// Primitives whose last argument is a path that must be inside the atom, by arity.
const char * const confinedUnary[] = {"readFile", "readDir", "pathExists", "toPath"};
const char * const confinedBinary[] = {"hashFile", "filterSource"};

// The path `v` names, refused unless it is inside `root` both as written and with its symlinks
// resolved.
std::string confined(EvalState & state, Value & root, Value & v, const Pos & pos)
{
    auto rootDir = std::string(compat::forceString(state, root, pos));
    ensureRoot(rootDir);
    auto path = compat::pathOf(state, v, pos);
    auto resolved = compat::resolvedPath(path);
    for (auto & p : {path, resolved})
        if (!isInside(p, rootDir))
            compat::throwEvalError(pos, "access to '" + p + "' is forbidden: an atom may only read files inside its own directory (" + rootDir + ")");
    return path;
}

// A path value for the confined path named by `v`.
Value * confinedArg(EvalState & state, Value & root, Value & v, const Pos & pos)
{
    auto * arg = compat::allocValue(state);
    arg->mkPath(confined(state, root, v, pos));
    return arg;
}

// (original, root, path) → original(path), the path confined to the atom.
void primConfinedUnary(EvalState & state, const Pos & pos, Value ** args, Value & v)
{
    state.callFunction(*args[0], *confinedArg(state, *args[1], *args[2], pos), v, pos);
}

// (original, root, a, path) → original(a, path), the path confined to the atom.
void primConfinedBinary(EvalState & state, const Pos & pos, Value ** args, Value & v)
{
    Value * callArgs[] = {args[2], confinedArg(state, *args[1], *args[3], pos)};
    state.callFunction(*args[0], 2, callArgs, v, pos);
}

// `path { path, ... }`: the `path` attribute confined to the atom.
void primConfinedPathAttrs(EvalState & state, const Pos & pos, Value ** args, Value & v)
{
    compat::forceAttrs(state, *args[2], pos);
    auto * path = compat::getAttr(state, *args[2], "path");
    if (path)
        confined(state, *args[1], *path, pos);
    state.callFunction(*args[0], *args[2], v, pos);
}

// `dirOf`: a path it produces must stay inside the atom (strings are only strings).
void primConfinedDirOf(EvalState & state, const Pos & pos, Value ** args, Value & v)
{
    state.callFunction(*args[0], *args[2], v, pos);
    state.forceValue(v, pos);
    if (v.type() == nix::nPath) {
        auto root = std::string(compat::forceString(state, *args[1], pos));
        std::string path(v.path);
        if (!isInside(path, root))
            compat::throwEvalError(pos, "the path '" + path + "' is outside the atom (" + root
                + "): an atom may only refer to its own files");
    }
}

} // namespace

namespace {

// How std treats one of Nix's builtins.
enum class StdKind { Plain, ConfinedUnary, ConfinedBinary, PathAttrs, DirOf };

// What every std of one evaluator shares: which builtins it holds and how, and the parsed library
// (nix/std/std.nix). Only the confined primitives and the library's evaluation depend on the root.
struct StdPlan
{
    EvalState * state = nullptr;
    std::vector<std::tuple<std::string, Symbol, Value *, StdKind>> builtins;  // sorted by name
    StaticEnv * libraryScope = nullptr;
    Expr * library = nullptr;
    size_t builtinsSlot = 0;
};

const StdPlan & stdPlan(EvalState & state)
{
    // One evaluator per process in practice; a different one rebuilds the plan. The parsed
    // expression and static environment are kept for the process's lifetime, as Nix keeps its own.
    static StdPlan plan;
    if (plan.state == &state)
        return plan;
    plan = StdPlan{};
    plan.state = &state;
    Value * builtins = compat::globalValue(state, "builtins");
    state.forceValue(*builtins, nix::noPos);
    auto among = [](const std::string & name, auto & list) {
        for (auto * entry : list)
            if (name == entry)
                return true;
        return false;
    };
    std::map<std::string, std::tuple<std::string, Symbol, Value *, StdKind>> chosen;
    for (auto & [name, value] : compat::attrPairs(*builtins)) {
        std::string text(name);
        StdKind kind = StdKind::Plain;
        if (among(text, confinedUnary))
            kind = StdKind::ConfinedUnary;
        else if (among(text, confinedBinary))
            kind = StdKind::ConfinedBinary;
        else if (text == "path")
            kind = StdKind::PathAttrs;
        else if (text == "dirOf")
            kind = StdKind::DirOf;
        else if (std::regex_match(text, impure))
            continue;
        chosen[text] = {text, name, value, kind};
    }
    for (auto & [_, entry] : chosen)
        plan.builtins.push_back(entry);

    std::map<std::string, size_t> visible;
    for (size_t i = 0; i < std::size(pureGlobals); i++)
        visible[pureGlobals[i]] = i;
    plan.builtinsSlot = std::size(pureGlobals);
    visible["builtins"] = plan.builtinsSlot;
    plan.libraryScope = new StaticEnv(false, nullptr, visible.size());
    for (auto & [name, displ] : visible)
        plan.libraryScope->vars.emplace_back(state.symbols.create(name), displ);
    plan.libraryScope->sort();
    auto source = std_source();
    plan.library = compat::parseString(state, std::string(source.data(), source.size()), *plan.libraryScope);
    return plan;
}

} // namespace

void makeStd(EvalState & state, const std::string & root, Value & result)
{
    const StdPlan & plan = stdPlan(state);
    auto * rootValue = compat::allocValue(state);
    rootValue->mkString(root);
    auto guard = [&](Value * original, compat::PrimOpFun fun, const std::string & name, size_t arity) {
        auto * wrapper = compat::allocValue(state);
        std::vector<std::string> args(arity);
        compat::mkPrimOp(state, *wrapper, {.name = name.c_str(), .args = args, .doc = nullptr, .fun = fun});
        auto * withOriginal = compat::allocValue(state);
        withOriginal->mkPrimOpApp(wrapper, original);
        auto * withRoot = compat::allocValue(state);
        withRoot->mkPrimOpApp(withOriginal, rootValue);
        return withRoot;
    };
    std::map<std::string, std::pair<Symbol, Value *>> chosen;
    for (auto & [text, name, value, kind] : plan.builtins) {
        switch (kind) {
        case StdKind::Plain: chosen[text] = {name, value}; break;
        case StdKind::ConfinedUnary: chosen[text] = {name, guard(value, primConfinedUnary, text, 3)}; break;
        case StdKind::ConfinedBinary: chosen[text] = {name, guard(value, primConfinedBinary, text, 4)}; break;
        case StdKind::PathAttrs: chosen[text] = {name, guard(value, primConfinedPathAttrs, "path", 3)}; break;
        case StdKind::DirOf: chosen[text] = {name, guard(value, primConfinedDirOf, "dirOf", 3)}; break;
        }
    }
    auto pairs = [&] {
        std::vector<std::pair<Symbol, Value *>> out;
        for (auto & [_, pair] : chosen)
            out.push_back(pair);
        return out;
    };

    // The library part, written in Nix, evaluated with these builtins and merged over them.
    auto * curated = compat::allocValue(state);
    compat::mkAttrsFrom(state, *curated, pairs());
    Env & env = compat::allocClosedEnv(state, plan.builtinsSlot + 1, curated);
    for (size_t i = 0; i < std::size(pureGlobals); i++)
        env.values[i] = compat::globalValue(state, pureGlobals[i]);
    env.values[plan.builtinsSlot] = curated;
    auto * library = compat::allocValue(state);
    plan.library->eval(state, env, *library);
    state.forceValue(*library, nix::noPos);
    for (auto & [name, value] : compat::attrPairs(*library))
        chosen[std::string(name)] = {name, value};
    compat::mkAttrsFrom(state, result, pairs());
}

namespace {

// A value computed by C++ code when first forced.
struct ExprLazy : Expr
{
    std::function<void(EvalState &, Value &)> make;

    explicit ExprLazy(std::function<void(EvalState &, Value &)> make) : make(std::move(make)) {}

    void show(std::ostream & str) const override { str << "«atom lazy value»"; }
    void bindVars(const StaticEnv &) override {}
    void eval(EvalState & state, Env &, Value & v) override { make(state, v); }
};

} // namespace

void mkLazy(EvalState & state, Value & v, std::function<void(EvalState &, Value &)> make)
{
    v.mkThunk(&state.baseEnv, new ExprLazy(std::move(make)));
}

// Lazy roots not written yet, by root directory. The evaluator is single-threaded.
std::map<std::string, std::function<void()>> & lazyRoots()
{
    static std::map<std::string, std::function<void()>> roots;
    return roots;
}

void registerLazyRoot(const std::string & root, std::function<void()> write)
{
    lazyRoots().emplace(root, std::move(write));
}

void ensureRoot(const std::string & root)
{
    auto & roots = lazyRoots();
    if (roots.empty())
        return;
    auto it = roots.find(root);
    if (it == roots.end())
        return;
    auto write = std::move(it->second);
    roots.erase(it);
    write();
}

void composeAtom(EvalState & state, const Pos & pos, const std::string & atom, const std::string & root,
    const std::string & sourceRoot, const std::string & dir, Value & config, Value & externAttrs, Value & stdValue,
    Value & result, bool isFile)
{
    auto composition =
        std::make_shared<Composition>(Composition{atom, root, sourceRoot, nullptr, nullptr, {}, nullptr});
    for (auto * name : pureGlobals)
        composition->globals.push_back(compat::globalValue(state, name));
    composition->null = compat::globalValue(state, "null");
    Value * rootScope[] = {&config, &stdValue, &externAttrs};
    try {
        Value * value;
        if (isFile) {
            std::string file(nix::baseNameOf(dir));
            value = buildModule(state, composition, std::string(nix::dirOf(dir)), "", nullptr, rootScope, &file);
        } else {
            value = buildModule(state, composition, dir, "", nullptr, rootScope);
        }
        state.forceValue(*value, pos);
        result = *value;
    } catch (const rust::Error & e) {
        compat::throwEvalError(pos, std::string("builtins.atom: ") + e.what());
    }
}

} // namespace atom_nix
