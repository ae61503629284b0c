// The native composer (docs/format.md#modules): builds an atom's modules as lazy Nix values in closed scopes.
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
#include <string>
#include <vector>

#include "composer.hh"
#include "confine.hh"
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
// An "attribute 'x' missing" error raised in atom code (and not yet explained) gets the likely
// reason, when the atom has one: `x.nix` is private (public names start with a capital), or a
// directory `x` is not a module (it has no mod.nix).
void explainMissingMember(compat::Error & e, const std::string & root)
{
    const std::string message = e.info().msg.str();
    const std::string start = "attribute '", end = "' missing";
    auto from = message.find(start);
    // Only where the error is raised: not yet named by atom code (see `annotate`), no hint yet.
    if (from == std::string::npos || message.find("\n(in ") != std::string::npos
        || message.find("\n(hint: ") != std::string::npos)
        return;
    from += start.size();
    auto to = message.find(end, from);
    if (to == std::string::npos)
        return;
    // Nix may colour the name (ANSI escapes): keep the name's own characters only.
    std::string name;
    for (size_t i = from; i < to; i++) {
        if (message[i] == '\x1b') {
            while (i < to && message[i] != 'm')
                i++;
            continue;
        }
        name += message[i];
    }
    try {
        auto hint = missing_member_hint(rust::Str(root.data(), root.size()), rust::Str(name.data(), name.size()));
        if (!hint.empty())
            compat::appendToMessage(e, "\n(hint: " + std::string(hint) + ")");
    } catch (const std::exception &) {
        // Not UTF-8: no hint.
    }
}

struct Composition
{
    std::string atom;  // label-version, for messages
    std::string root;  // the atom's root directory (canonical)
    std::string sourceRoot;  // where its module files are read: `root`, or a copy of its Nix files
    // Every module of a composition sees the same names at the same slots (the root lacks only
    // `pre`), so their static environments are built once.
    mutable std::shared_ptr<StaticEnv> rootScope, childScope;
    // The values of `pureGlobals`, in order, and `null` (values of Nix's base environment).
    compat::GcVector<Value *> globals;
    Value * null;
};

// The static description of one module: shared by its member thunks; holds no Nix values.
struct Module
{
    std::shared_ptr<const Composition> composition;
    std::string dir;
    std::string dotted;  // the module path, e.g. "buzz.fuzz"; empty at the root
    std::shared_ptr<StaticEnv> staticEnv;

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

// A member file (or mod.nix), parsed on first evaluation with the module's static scope.
struct ExprAtomFile : compat::CustomExpr, OriginSource
{
    std::shared_ptr<const Module> module;
    std::string fileName;  // in the module's directory
    std::string member;
    bool isModFile;
    Expr * parsed = nullptr;

    ExprAtomFile(std::shared_ptr<const Module> module, std::string fileName, std::string member, bool isModFile)
        : module(std::move(module)), fileName(std::move(fileName)), member(std::move(member)), isModFile(isModFile)
    {}

    std::string text() const override { return module->where(member) + ", " + path(); }

    std::string path() const { return module->dir + "/" + fileName; }

    void describe(std::ostream & str) const override { str << "«atom file " << path() << "»"; }

    void explain(compat::Error & e) const override { explainMissingMember(e, module->composition->sourceRoot); }

    void eval(EvalState & state, Env & env, Value & v) override
    {
        std::string path = this->path();
        try {
            if (!parsed) {
                // Only regular files are members (see the module's plan): nothing here can be a
                // FIFO that would block the evaluation.
                auto filePos = compat::filePos(state, path);
                auto * expr = compat::parseFile(state, path, module->staticEnv);
                parsed = confinePaths(state, expr, module->composition->sourceRoot, module->composition->root, filePos, this);
            }
            parsed->eval(state, env, v);
            if (isModFile && !compat::isAttrs(state, v, compat::noPos))
                compat::throwEvalError(compat::noPos,
                    "The following module does not evaluate to a valid attribute set:\n       " + path);
        } catch (compat::Error & e) {
            // The innermost atom code names itself on the error's first lines; every atom file on
            // the way adds a trace line (`--show-trace`), so the module chain is visible there.
            annotate(e, Origin(this));
            compat::addTrace(e, "while evaluating " + path + " (" + module->where(member) + ")");
            throw;
        }
    }
};

Value * moduleValue(EvalState & state, std::shared_ptr<const Composition> composition, const std::string & dir,
    const std::string & dotted, Env * parent);

// A submodule member: composed on first use, with its parent's scope; its value is its public set.
struct ExprAtomModule : compat::CustomExpr
{
    std::shared_ptr<const Module> parent;
    std::string dir;
    std::string name;

    ExprAtomModule(std::shared_ptr<const Module> parent, std::string dir, std::string name)
        : parent(std::move(parent)), dir(std::move(dir)), name(std::move(name))
    {}

    void describe(std::ostream & str) const override { str << "«atom module " << dir << "»"; }

    void eval(EvalState & state, Env & env, Value & v) override
    {
        auto dotted = parent->dotted.empty() ? name : parent->dotted + "." + name;
        Value * child = moduleValue(state, parent->composition, dir, dotted, &env);
        compat::forceValue(state, *child, compat::noPos);
        v = *child;
    }
};

// The hidden slots computed from others, lazily.
struct ExprAtomDerived : compat::CustomExpr
{
    enum Kind { All, ModScope, Public, Top, Pre } kind;
    std::shared_ptr<const Module> module;

    ExprAtomDerived(Kind kind, std::shared_ptr<const Module> module) : kind(kind), module(std::move(module)) {}

    void describe(std::ostream & str) const override { str << "«atom scope»"; }

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
        compat::forceValue(state, parentMod, compat::noPos);
        compat::Attrs pairs;
        for (auto & pair : compat::attrPairs(parentMod))
            if (auto text = compat::symbolText(state, pair.first); text != "pre" && text != "outPath")
                pairs.push_back(pair);
        Value * grand = slot(env, PARENT_PRE);
        if (!compat::isNull(*grand))
            pairs.emplace_back(compat::symbol(state, "pre"), grand);
        compat::mkAttrsFrom(state, v, pairs);
    }

    // members // mod.nix (mod.nix wins).
    void merge(EvalState & state, Env & env, Value & v)
    {
        Value & modnix = *slot(env, MODNIX);
        compat::isAttrs(state, modnix, compat::noPos);
        NamedList all = named(state, *slot(env, RAW));
        for (auto & entry : named(state, modnix))
            all.push_back(entry);
        compat::mkAttrsFrom(state, v, lastByName(all));
        // Everything now lives in the merged set: let the collector have the parts.
        env.values[RAW] = env.values[MODNIX] = module->composition->null;
    }

    // Every member, first letter lower-cased (a later name in attrNames order wins), without
    // `mod`, with `outPath` the module's directory.
    void modScope(EvalState & state, Env & env, Value & v)
    {
        Value & all = *slot(env, ALL);
        compat::forceValue(state, all, compat::noPos);
        // Bindings are ordered by symbol, not by name: in name order (as `attrNames`), `foo`
        // comes after `Foo` and wins.
        NamedList lowered = named(state, all);
        std::stable_sort(lowered.begin(), lowered.end(), [](auto & a, auto & b) { return a.name < b.name; });
        for (auto & entry : lowered) {
            auto lower = lowerFirst(entry.name);
            if (lower != entry.name)
                entry = {lower, compat::symbol(state, lower), entry.value};
        }
        auto * outPath = compat::allocValue(state);
        compat::mkString(*outPath, mapToRoot(module->dir, module->composition->sourceRoot, module->composition->root));
        NamedList scope;
        for (auto & entry : lowered)
            if (entry.name != "mod" && entry.name != "outPath")
                scope.push_back(entry);
        scope.push_back({"outPath", compat::symbol(state, "outPath"), outPath});
        compat::mkAttrsFrom(state, v, lastByName(scope));
    }

    // Names starting with an ASCII capital, first letter lower-cased.
    void publicSet(EvalState & state, Env & env, Value & v)
    {
        Value & all = *slot(env, ALL);
        compat::forceValue(state, all, compat::noPos);
        compat::Attrs pairs;
        for (auto & [name, value] : compat::attrPairs(all)) {
            std::string text = compat::symbolText(state, name);
            if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z')
                pairs.emplace_back(compat::symbol(state, lowerFirst(text)), value);
        }
        compat::mkAttrsFrom(state, v, pairs);
    }

    // `atom`: the root's public set without `atom` and the root directory's name.
    void top(EvalState & state, Env & env, Value & v)
    {
        Value & pub = *slot(env, PUBLIC);
        compat::forceValue(state, pub, compat::noPos);
        auto base = compat::baseNameOf(module->dir);
        compat::Attrs pairs;
        for (auto & [name, value] : compat::attrPairs(pub))
            if (auto text = compat::symbolText(state, name); text != "atom" && text != base)
                pairs.emplace_back(name, value);
        compat::mkAttrsFrom(state, v, pairs);
    }
};

// A member of the module's std (slot STD), when first forced.
struct ExprStdMember : compat::CustomExpr
{
    std::string name;

    explicit ExprStdMember(std::string name) : name(std::move(name)) {}

    void describe(std::ostream & str) const override { str << "«std." << name << "»"; }

    void eval(EvalState & state, Env & env, Value & v) override
    {
        Value & stdValue = *slot(env, STD);
        compat::forceValue(state, stdValue, compat::noPos);
        auto * member = compat::getAttr(state, stdValue, name);
        if (!member)
            compat::throwEvalError(compat::noPos, "internal error in the atom plugin: std has no " + name);
        compat::forceValue(state, *member, compat::noPos);
        v = *member;
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
    compat::isAttrs(state, *externSet, compat::noPos);
    auto externs = compat::attrPairs(*externSet);

    // The slots after FIXED hold the pure globals, then the extern attributes: the same values
    // for every module of the composition.
    compat::GcVector<Value *> extra(composition->globals);
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
            visible[compat::symbolText(state, externs[i].first)] = FIXED + std::size(pureGlobals) + i;
        cached = compat::closedStaticEnv(state, visible);
    }
    auto staticEnv = cached;

    auto module = std::make_shared<Module>(Module{composition, dir, dotted, staticEnv});
    Env & env = compat::allocClosedEnv(state, next, composition->null);
    env.values[CFG] = cfg;
    env.values[STD] = stdValue;
    env.values[EXTERN] = externSet;
    for (size_t i = 0; i < extra.size(); i++)
        env.values[FIXED + i] = extra[i];
    // The global `map` is std's, whose errors in builtins it applies name the atom.
    for (size_t i = 0; i < std::size(pureGlobals); i++)
        if (pureGlobals[i] == std::string_view("map"))
            compat::mkThunk(*(env.values[FIXED + i] = compat::allocValue(state)), env, new ExprStdMember("map"));
    auto * rootDir = compat::allocValue(state);
    compat::mkString(*rootDir, composition->root);
    env.values[ROOTDIR] = rootDir;

    // Members, each a thunk.
    compat::Attrs raw;
    for (auto & member : plan.members) {
        auto * value = compat::allocValue(state);
        std::string name(member.name);
        std::string path(member.path);
        Expr * expr = member.is_module ? (Expr *) new ExprAtomModule(module, path, name)
                                       : (Expr *) new ExprAtomFile(module, compat::baseNameOf(path), name, false);
        compat::mkThunk(*value, env, expr);
        raw.emplace_back(compat::symbol(state, name), value);
    }
    env.values[RAW] = compat::allocValue(state);
    compat::mkAttrsFrom(state, *env.values[RAW], raw);

    auto thunk = [&](Expr * expr) {
        auto * value = compat::allocValue(state);
        compat::mkThunk(*value, env, expr);
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


} // namespace

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
            std::string file(compat::baseNameOf(dir));
            value = buildModule(state, composition, compat::dirOf(dir), "", nullptr, rootScope, &file);
        } else {
            value = buildModule(state, composition, dir, "", nullptr, rootScope);
        }
        compat::forceValue(state, *value, pos);
        result = *value;
    } catch (const rust::Error & e) {
        compat::throwEvalError(pos, std::string("builtins.atom: ") + e.what());
    }
}

} // namespace atom_nix
