// Pinned code: the files of a direct Nix dependency that an atom imports
// (`deps.pins.<name>.import "path"`, docs/design.md#pinned-code), at any depth of the graph.
//
// A pinned file gets the same kind of closed scope as an atom's module file, confined to the
// pinned source instead of the atom: it is parsed with a static environment that names only
// `builtins` (std, the allow-list of cpp/std.cc, its file primitives confined to the source),
// `import` (below), `dirOf` (std's) and the pure globals an atom sees. Any other name
// (`fetchGit`, `__getEnv`, `scopedImport`, `<nixpkgs>`, ...) is an `undefined variable` error when
// the file is parsed. Its path literals and the paths `a + b` produces must be inside the source
// (confine.cc). `import` takes a path inside the source (as written and with symlinks resolved;
// a directory means its `default.nix`) and evaluates that file the same way, once per
// evaluation.
//
// Garbage collection: the scope of a source is one `Env` and the imported values are kept in a
// collector-scanned map; the custom nodes hold only text.

#include <map>
#include <memory>
#include <string>
#include <sys/stat.h>

#include "composer.hh"
#include "confine.hh"
#include "pinned.hh"
#include "std.hh"

namespace atom_nix {

using compat::Env;
using compat::EvalState;
using compat::Expr;
using compat::Pos;
using compat::StaticEnv;
using compat::Value;

namespace {

// The pure globals pinned code sees besides `builtins`, `import` and `dirOf`: those an atom's
// module sees (composer.cc), values of Nix's base environment.
const char * const pinnedGlobals[] = {
    "true", "false", "null", "__sub", "__mul", "__div", "__lessThan", "abort", "baseNameOf", "derivation",
    "isNull", "map", "placeholder", "removeAttrs", "throw", "toString",
};

// Slots of a pinned source's scope after the globals.
enum PinnedSlot : size_t {
    BUILTINS = std::size(pinnedGlobals),
    IMPORT,
    DIROF,
    SLOTS,
};

// Where an error raised in pinned code came from: "in <pin>, <file>".
struct PinnedFile : OriginSource
{
    std::string label;
    std::string file;

    PinnedFile(std::string label, std::string file) : label(std::move(label)), file(std::move(file)) {}

    std::string text() const override { return "in " + label + ", " + file; }
};

// What one evaluator keeps: the static scope (the same names for every source), the scope of
// each source (by root and label), and every file imported (by root, label and file).
struct PinnedState
{
    EvalState * state = nullptr;
    std::shared_ptr<StaticEnv> staticEnv;
    compat::GcMap<std::string, Env *> scopes;
    compat::GcMap<std::string, Value *> imported;
};

PinnedState & pinnedState(EvalState & state)
{
    // Static memory is not scanned: the maps' storage is (traceable_allocator).
    static auto * kept = new PinnedState;
    if (kept->state != &state) {
        kept->scopes.clear();
        kept->imported.clear();
        kept->state = &state;
        std::map<std::string, size_t> visible;
        for (size_t i = 0; i < std::size(pinnedGlobals); i++)
            visible[pinnedGlobals[i]] = i;
        visible["builtins"] = BUILTINS;
        visible["import"] = IMPORT;
        visible["dirOf"] = DIROF;
        kept->staticEnv = compat::closedStaticEnv(state, visible);
    }
    return *kept;
}

void primPinnedImport(EvalState & state, compat::PosArg pos, Value ** args, Value & v);

// The scope of the pinned source at `root` (canonical), named `label` in messages.
Env & pinnedScope(EvalState & state, const std::string & root, const std::string & label)
{
    auto & kept = pinnedState(state);
    auto key = root + '\0' + label;
    if (auto it = kept.scopes.find(key); it != kept.scopes.end())
        return *it->second;
    registerPinnedRoot(root);
    Env & env = compat::allocClosedEnv(state, SLOTS, compat::globalValue(state, "null"));
    for (size_t i = 0; i < std::size(pinnedGlobals); i++)
        env.values[i] = compat::globalValue(state, pinnedGlobals[i]);
    auto * stdValue = compat::allocValue(state);
    makeStd(state, root, label, *stdValue);
    env.values[BUILTINS] = stdValue;
    auto * dirOf = compat::getAttr(state, *stdValue, "dirOf");
    if (!dirOf)
        compat::throwEvalError(compat::noPos, "internal error in the atom plugin: std has no dirOf");
    env.values[DIROF] = dirOf;
    // `import` is the primop applied to the source's root and label.
    struct PinnedImportPrimOp;
    auto * primOp = perEvaluator<PinnedImportPrimOp>(state, [&](Value & fun) {
        compat::mkPrimOp(
            state, fun, {.name = "import", .args = {"root", "label", "path"}, .doc = nullptr, .fun = primPinnedImport});
    });
    auto * rootValue = compat::allocValue(state);
    compat::mkString(*rootValue, root);
    auto * labelValue = compat::allocValue(state);
    compat::mkString(*labelValue, label);
    auto * withRoot = compat::allocValue(state);
    compat::mkPrimOpApp(*withRoot, primOp, rootValue);
    auto * import = compat::allocValue(state);
    compat::mkPrimOpApp(*import, withRoot, labelValue);
    env.values[IMPORT] = import;
    kept.scopes.emplace(key, &env);
    return env;
}

// `import path` inside pinned code: args[0] the source's root, args[1] its label, args[2] the
// path (a path value, or a string holding an absolute path).
void primPinnedImport(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    std::string root(compat::forceString(state, *args[0], pos));
    std::string label(compat::forceString(state, *args[1], pos));
    importPinned(state, root, label, compat::pathOf(state, *args[2], pos), pos, v);
}

} // namespace

void importPinned(EvalState & state, const std::string & root, const std::string & label, const std::string & path,
    const Pos & pos, Value & v)
{
    auto refuse = [&](const std::string & why) {
        compat::throwEvalError(pos, "import: cannot import '" + path + "' in " + label + ": " + why);
    };
    auto outside = "outside the pinned source (" + root + "): pinned code may only import files of its own source";
    auto resolved = resolveSymlinks(path, pos);
    if (!isInside(path, root) || !isInside(resolved, root))
        refuse("it is " + outside);
    struct stat st;
    if (stat(resolved.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        resolved = resolveSymlinks(resolved + "/default.nix", pos);
        if (!isInside(resolved, root))
            refuse("its default.nix is " + outside);
    }
    requireKind(resolved, FileKind::Regular, pos);

    auto & kept = pinnedState(state);
    auto key = root + '\0' + label + '\0' + resolved;
    if (auto it = kept.imported.find(key); it != kept.imported.end()) {
        v = *it->second;
        return;
    }
    Env & env = pinnedScope(state, root, label);
    auto * origin = new PinnedFile(label, resolved);
    try {
        auto * expr = compat::parseFile(state, resolved, kept.staticEnv);
        auto * confined = confinePaths(state, expr, root, root, compat::filePos(state, resolved), origin);
        auto * value = compat::allocValue(state);
        confined->eval(state, env, *value);
        compat::forceValue(state, *value, pos);
        kept.imported.emplace(key, value);
        v = *value;
    } catch (compat::Error & e) {
        annotate(e, Origin(origin));
        compat::addTrace(e, "while evaluating " + resolved + " (" + label + ")");
        throw;
    }
}

} // namespace atom_nix
