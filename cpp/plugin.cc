// The plugin's C++ side: registers `builtins.atom` and builds every Nix value it returns.
//
// Rust (rust/atom-nix) does the work and returns plain data; this file owns all Nix values, so
// the garbage collector sees every one of them. Every call into Nix's API goes through compat.hh.

#include <initializer_list>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <sys/stat.h>

#include "checks.hh"
#include "compat.hh"
#include "composer.hh"
#include "confine.hh"
#include "lazy.hh"
#include "pinned.hh"
#include "std.hh"
#include "rust/cxx.h"
#include "atom-nix/src/lib.rs.h"

namespace atom_nix {
namespace {

using compat::Env;
using compat::EvalState;
using compat::Expr;
using compat::Pos;
using compat::StaticEnv;
using compat::Value;

// `--option atom-store <dir>`: where the atom store is (default: $ATOM_STORE, else the XDG cache).
// Made when the plugin registers itself (see `Registration` at the end of this file).
compat::StringSetting * atomStore = nullptr;

// `--option atom-override 'label=path ...'`: working copies loaded instead of locked atoms.
// Made when the plugin registers itself, like `atomStore`.
compat::StringSetting * atomOverride = nullptr;

// Text that cannot cross into Rust (which takes UTF-8 only).
struct NotUtf8 : std::exception
{
    std::string message;
    explicit NotUtf8(std::string message) : message(std::move(message)) {}
    const char * what() const noexcept override { return message.c_str(); }
};

// `s` as Rust text; throws `NotUtf8` naming `what` when it is not UTF-8. Call it inside
// `callRust`, which turns that into an evaluation error.
rust::Str toRust(std::string_view s, const char * what = "an argument")
{
    try {
        return rust::Str(s.data(), s.size());
    } catch (const std::invalid_argument &) {
        std::string shown;
        for (unsigned char c : s) {
            if (c >= 0x20 && c < 0x7f) {
                shown += char(c);
            } else {
                char hex[5];
                snprintf(hex, sizeof hex, "\\x%02x", c);
                shown += hex;
            }
        }
        throw NotUtf8(std::string(what) + " is not valid UTF-8: \"" + shown + "\"");
    }
}

rust::Str storeSetting()
{
    return toRust(atomStore->get(), "the atom-store setting");
}

// Runs a bridge call; a Rust error (or text Rust cannot take) becomes a Nix evaluation error at
// the caller's position, prefixed with the name of the builtin.
template <typename F>
auto callRust(const Pos & pos, const std::string & builtin, F && f) -> decltype(f())
{
    try {
        return f();
    } catch (const rust::Error & e) {
        compat::throwEvalError(pos, builtin + ": " + e.what());
    } catch (const NotUtf8 & e) {
        compat::throwEvalError(pos, builtin + ": " + e.what());
    }
}

} // namespace

void check_readable(rust::Str path)
{
    // Called by Rust while it plans a graph for `builtins.atom.import`, inside that primop.
    try {
        compat::checkReadable(compat::currentState(), std::string(path.data(), path.size()));
    } catch (const compat::Error & e) {
        throw std::runtime_error(e.info().msg.str());
    }
}

namespace {

// A primop that never lets a C++ exception other than Nix's own errors out: anything else (a bug)
// becomes an evaluation error at the caller's position, which `nix repl` survives.
template <compat::PrimOpFun F>
void guarded(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    compat::enter(state);
    try {
        F(state, pos, args, v);
    } catch (compat::Error &) {
        throw;
    } catch (const std::exception & e) {
        compat::throwEvalError(pos, std::string("internal error in the atom plugin (please report it): ") + e.what());
    }
}

// The argument set of a builtin taking `{ name = value; ... }`: forced, with unknown attributes
// rejected, and required string attributes read with a message that shows the expected shape.
class ArgSet
{
public:
    ArgSet(EvalState & state, Value & v, const Pos & pos, std::string builtin, std::string shape,
        std::initializer_list<const char *> allowed)
        : state(state), v(v), pos(pos), builtin(std::move(builtin)), shape(std::move(shape))
    {
        compat::forceAttrs(state, v, pos);
        for (auto & name : compat::attrNames(state, v)) {
            bool known = false;
            for (auto * a : allowed)
                known = known || name == a;
            if (!known)
                fail("unexpected attribute '" + name + "'");
        }
    }

    std::string requireString(const char * name)
    {
        auto * value = compat::getAttr(state, v, name);
        if (!value)
            fail(std::string("missing attribute '") + name + "'");
        return std::string(compat::forceString(state, *value, pos));
    }

    std::string optionalString(const char * name, const std::string & fallback)
    {
        auto * value = compat::getAttr(state, v, name);
        return value ? std::string(compat::forceString(state, *value, pos)) : fallback;
    }

    // A path attribute (a path, or a string holding an absolute path), or "" when absent.
    std::string optionalPath(const char * name)
    {
        auto * value = compat::getAttr(state, v, name);
        return value ? compat::forceReadablePath(state, *value, pos) : std::string();
    }

    [[noreturn]] void fail(const std::string & what)
    {
        compat::throwEvalError(pos, builtin + ": " + what + " (expected " + shape + ")");
    }

private:
    EvalState & state;
    Value & v;
    const Pos & pos;
    std::string builtin;
    std::string shape;
};

void primId(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    const std::string builtin = "builtins.atom.id";
    ArgSet set(state, *args[0], pos, builtin, "{ root = \"<40-hex root commit>\"; label = \"<label>\"; }",
        {"root", "label"});
    auto root = set.requireString("root");
    auto label = set.requireString("label");
    auto id = callRust(pos, builtin, [&] { return atom_id(toRust(root, "root"), toRust(label, "label")); });
    compat::mkString(v, std::string_view(id.data(), id.size()));
}

const char * const idDoc = R"(
    Return the AtomId of the atom *label* in the repository whose root commit is *root*
    (40 hexadecimal digits): 52 lowercase base32hex characters.

    ```nix
    builtins.atom.id {
      root = "68b63bd131acd23bdfd57983fe85ba7c092ce02f";
      label = "atom-nix";
    }
    # => "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0"
    ```

    The id is `BLAKE3.keyed_hash(BLAKE3.derive_key("AtomId", root), NFKC(label))`. An invalid
    root or label is an evaluation error that says why.
)";

void primManifest(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    const std::string builtin = "builtins.atom.manifest";
    auto path = compat::forceReadablePath(state, *args[0], pos);
    auto json = callRust(pos, builtin, [&] { return manifest_json(toRust(path, "the path")); });
    compat::parseJSON(state, std::string_view(json.data(), json.size()), v);
}

const char * const manifestDoc = R"(
    Read and validate the manifest (`atom.toml`) of the atom at *path* (the atom's directory, or
    the file itself) and return it as an attribute set shaped like the file.

    ```nix
    (builtins.atom.manifest ./my-atom).package.version
    # => "0.1.0"
    ```

    Every rule of the Atom format is checked (unknown fields, labels, versions, the single
    `compose` form, declared sets, ...). An invalid manifest is an evaluation error that points
    into the file, e.g. `atom.toml:2:9: invalid label "9atom": cannot start with: '9'`, with the
    offending line.
)";

// The name of a composition for messages: `label-version` from `config.package`, or `<anon>`.
std::string atomName(EvalState & state, Value & config, const Pos & pos)
{
    if (!compat::isAttrs(state, config, pos))
        return "<anon>";
    auto * package = compat::getAttr(state, config, "package");
    if (!package || !compat::isAttrs(state, *package, pos))
        return "<anon>";
    auto * label = compat::getAttr(state, *package, "label");
    auto * version = compat::getAttr(state, *package, "version");
    if (!label)
        return "<anon>";
    std::string name(compat::forceString(state, *label, pos));
    if (version)
        name += "-" + std::string(compat::forceString(state, *version, pos));
    return name;
}

void primCompose(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    const std::string builtin = "builtins.atom.compose";
    // Nix's access rules (restricted and pure evaluation) apply to the directory given.
    auto given = compat::pathOf(state, *args[0], pos);
    compat::checkReadable(state, given);
    std::string dir(callRust(pos, builtin, [&] { return canonical_dir(toRust(given, "the path")); }));
    ArgSet set(state, *args[1], pos, builtin, "{ config ? {}; extern ? {}; }", {"config", "extern"});
    auto * config = compat::getAttr(state, *args[1], "config");
    auto * externAttrs = compat::getAttr(state, *args[1], "extern");
    auto * empty = compat::allocValue(state);
    compat::mkAttrs(state, *empty, {});
    if (!config)
        config = empty;
    if (!externAttrs)
        externAttrs = empty;
    if (!compat::isAttrs(state, *externAttrs, pos))
        set.fail("`extern` must be an attribute set");
    auto * stdValue = compat::allocValue(state);
    auto name = atomName(state, *config, pos);
    mkStdThunk(state, *stdValue, dir, name);
    composeAtom(state, pos, name, dir, dir, dir, *config, *externAttrs, *stdValue, v);
}

const char * const composeDoc = R"(
    Compose the module at directory *dir* the way the Atom format's composer does, and return
    its public interface: the members whose names start with a capital, first letter
    lower-cased.

    ```nix
    builtins.atom.compose ./src { config = { package.label = "demo"; }; extern = { inherit deps; }; }
    ```

    Every file is evaluated in a closed scope: `cfg` (*config*), `mod`, `pre`, `atom`, `std` (also
    `builtins`: an allow-list of pure builtins; file reads are confined to *dir*), the attributes of
    *extern*, and `true`, `false`, `null`, `map`, `toString`, `throw`, `abort`, `derivation`, ... An
    unknown name is an error when the file is parsed; `import`, fetchers, `getEnv`,
    `currentSystem` and the like are not reachable.
)";

// The atoms `builtins.atom.import` loads (Rust's `LoadedGraph`), each composed when first
// forced. Every atom of the graph has a slot in one environment, so dependencies are shared: an
// atom reached along several paths is composed once. The environment's last slot holds the pins
// function (nix/pins.nix).
struct Graph
{
    rust::Box<LoadedGraph> loaded;
    Pos pos;  // the `builtins.atom.import` call, for errors
};

const std::string importBuiltin = "builtins.atom.import";

// Runs `f` on the loaded graph, errors becoming evaluation errors at the import's position.
template <typename F>
auto onGraph(const Graph & graph, F && f) -> decltype(f(*graph.loaded))
{
    return callRust(graph.pos, importBuiltin, [&] { return f(*graph.loaded); });
}

// The `extern` of a node: `{ deps = { from.<tag>.<label>; pins.<name>; get.<name>; }; }`.
Value * nodeExtern(EvalState & state, const std::shared_ptr<const Graph> & shared, size_t node, Env & env)
{
    const Graph & graph = *shared;
    compat::GcMap<std::string, compat::NamedAttrs> byTag;
    for (auto & edge : onGraph(graph, [&](auto & g) { return g.deps(node); }))
        byTag[std::string(edge.tag)].emplace_back(std::string(edge.label), env.values[edge.node]);
    compat::NamedAttrs from, pins, get;
    for (auto & [tag, atoms] : byTag) {
        auto * set = compat::allocValue(state);
        compat::mkAttrs(state, *set, atoms);
        from.emplace_back(tag, set);
    }
    Value * pinsFun = env.values[graph.loaded->len()];
    std::string atomName(onGraph(graph, [&](auto & g) { return g.name(node); }));
    auto plans = onGraph(graph, [&](auto & g) { return g.pins(node); });
    for (size_t i = 0; i < plans.size(); i++) {
        auto & pin = plans[i];
        auto * locked = compat::allocValue(state);
        compat::parseJSON(state, std::string_view(pin.attrs_json.data(), pin.attrs_json.size()), *locked);
        auto attrs = compat::namedAttrPairs(state, *locked);
        auto * label = compat::allocValue(state);
        compat::mkString(*label, "pin " + std::string(pin.name) + " of " + atomName);
        attrs.emplace_back("label", label);
        if (pin.local) {
            // Read from git on this machine when a module forces it, after the check Nix makes of
            // `fetchGit { url; rev; }` (restricted evaluation: allowed URIs and paths), so that
            // the plugin never reads a repository that Nix's fetcher would refuse.
            auto text = [&](const char * name) {
                auto * value = compat::getAttr(state, *locked, name);
                return std::string(value ? compat::forceString(state, *value, graph.pos) : std::string_view());
            };
            std::string url = text("url"), rev = text("rev");
            auto * local = compat::allocValue(state);
            mkLazy(state, *local, [shared, node, i, url, rev](EvalState & state, Value & v) {
                compat::checkGitFetch(state, url, rev);
                auto dir = onGraph(*shared, [&](auto & g) { return g.materialize_pin(node, i); });
                // Written from a verified git object, like an atom of the store: readable in every mode.
                compat::allowPath(state, std::string(dir));
                compat::mkPath(state, v, std::string(dir));
            });
            attrs.emplace_back("local", local);
        }
        auto * arg = compat::allocValue(state);
        compat::mkAttrs(state, *arg, attrs);
        auto * value = compat::allocValue(state);
        compat::mkApp(*value, pinsFun, arg);
        (pin.is_src ? get : pins).emplace_back(std::string(pin.name), value);
    }
    auto attrs = [&](const compat::NamedAttrs & pairs) {
        auto * value = compat::allocValue(state);
        compat::mkAttrs(state, *value, pairs);
        return value;
    };
    auto * fromSet = attrs(from);
    auto * pinsSet = attrs(pins);
    auto * getSet = attrs(get);
    auto * deps = attrs({{"from", fromSet}, {"pins", pinsSet}, {"get", getSet}});
    return attrs({{"deps", deps}});
}

void evalNode(EvalState & state, const std::shared_ptr<const Graph> & shared, size_t node, Env & env, Value & v)
{
    const Graph & graph = *shared;
    std::string name(onGraph(graph, [&](auto & g) { return g.name(node); }));
    try {
        auto dirs = onGraph(graph, [&](auto & g) { return g.dirs(node); });
        std::string root(dirs.root), sourceRoot(dirs.source_root), entry(dirs.entry);
        if (!dirs.lazy) {
            // A directory (the atom imported, a `::` working copy, an `atom-override`): Nix's
            // access rules apply to it as to the atom given to `builtins.atom.import`, before
            // its files are parsed (Nix 2.26 would refuse them when parsing; Nix 2.8 would not).
            compat::checkReadable(state, root);
        } else {
            // An atom of the store, verified against the lock when the graph was loaded: its code
            // may read its own files in every evaluation mode (restricted, pure).
            compat::allowPath(state, root);
            compat::allowPath(state, sourceRoot);
            // The atom's data files are written when a path into it is first used.
            registerLazyRoot(root, [shared, node] { return onGraph(*shared, [&](auto & g) { return g.materialize(node); }); });
        }
        // `cfg` and `std` are built only if a module uses them.
        auto * config = compat::allocValue(state);
        mkLazy(state, *config, [shared, node](EvalState & state, Value & v) {
            auto json = onGraph(*shared, [&](auto & g) { return g.manifest_json(node); });
            compat::parseJSON(state, std::string_view(json.data(), json.size()), v);
        });
        auto kind = onGraph(graph, [&](auto & g) { return g.kind(node); });
        if (kind == ComposeKind::Static) {
            compat::forceValue(state, *config, graph.pos);
            v = *config;
            return;
        }
        auto * externAttrs = nodeExtern(state, shared, node, env);
        if (dirs.trivial) {
            // The reference's loader imports a trivial atom with `atoms` (its extern set) and
            // `cfg` in scope: `atoms.deps` is the same set as `deps`.
            auto pairs = compat::namedAttrPairs(state, *externAttrs);
            pairs.emplace_back("atoms", externAttrs);
            auto * withAtoms = compat::allocValue(state);
            compat::mkAttrs(state, *withAtoms, pairs);
            externAttrs = withAtoms;
        }
        if (kind == ComposeKind::Native) {
            auto * stdValue = compat::allocValue(state);
            mkStdThunk(state, *stdValue, root, name);
            composeAtom(
                state, graph.pos, name, root, sourceRoot, entry, *config, *externAttrs, *stdValue, v, dirs.entry_is_file);
            return;
        }
        // Composed by another atom: its value is the composer, called as `composer entry { config, extern }`.
        Value & composer = *env.values[onGraph(graph, [&](auto & g) { return g.composer(node); })];
        compat::forceValue(state, composer, graph.pos);
        ensureRoot(root);
        auto entryFile = mapToRoot(entry, sourceRoot, root);
        checkUse(entryFile, graph.pos);
        auto * entryPath = compat::allocValue(state);
        compat::mkPath(state, *entryPath, entryFile);
        auto * partial = compat::allocValue(state);
        compat::callFunction(state, composer, *entryPath, *partial, graph.pos);
        auto * args = compat::allocValue(state);
        compat::mkAttrs(state, *args, {{"config", config}, {"extern", externAttrs}});
        compat::callFunction(state, *partial, *args, v, graph.pos);
    } catch (compat::Error & e) {
        compat::addTrace(e, "while loading the atom " + name);
        throw;
    }
}

struct ExprAtomNode : compat::CustomExpr
{
    std::shared_ptr<const Graph> graph;
    size_t node;

    ExprAtomNode(std::shared_ptr<const Graph> graph, size_t node) : graph(std::move(graph)), node(node) {}

    void describe(std::ostream & str) const override { str << "«atom " << node << " of a loaded graph»"; }
    void eval(EvalState & state, Env & env, Value & v) override { evalNode(state, graph, node, env, v); }
};

// The atoms from the store already loaded by this evaluator, by store and tree: an atom reached
// from several `builtins.atom.import` calls is composed once per evaluation. A tree fixes the
// atom's files and its atom.lock, so everything below it is the same whoever reaches it.
using LoadedAtoms = compat::GcMap<std::string, Value *>;

LoadedAtoms & loadedAtoms(EvalState & state)
{
    static EvalState * owner = nullptr;
    static auto * loaded = new LoadedAtoms;
    if (owner != &state) {
        loaded->clear();
        owner = &state;
    }
    return *loaded;
}

// `importIn label src path`: `import` of the file `path` (a relative string) of a pinned source
// `src` (`deps.pins.<name>.import path`), named `label` (`pin <name> of <atom>`) in messages. The
// file must be inside `src` as written and with its symlinks resolved; a directory means its
// `default.nix`. It is pinned code: evaluated in a closed scope confined to `src` (pinned.cc),
// never with Nix's own builtins.
void primImportIn(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    std::string label(compat::forceString(state, *args[0], pos));
    auto src = resolveSymlinks(compat::pathOf(state, *args[1], pos), pos);
    std::string relative(compat::forceString(state, *args[2], pos));
    auto refuse = [&](const std::string & why) {
        compat::throwEvalError(pos, "deps.pins.<name>.import: cannot import '" + relative + "' from " + src + ": " + why);
    };
    if (relative.empty() || relative[0] == '/')
        refuse("the path must be relative to the pinned source");
    auto target = compat::canonPath(src + "/" + relative);
    auto resolved = resolveSymlinks(target, pos);
    if (!isInside(target, src) || !isInside(resolved, src))
        refuse("it is outside the pinned source");
    struct stat st;
    if (stat(resolved.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (!isInside(resolveSymlinks(resolved + "/default.nix", pos), src))
            refuse("its default.nix is outside the pinned source");
    }
    importPinned(state, src, label, target, pos, v);
}

// Loads the atom at the path `arg` with its locked dependencies, for `builtin`.
std::shared_ptr<Graph> loadGraph(EvalState & state, Value & arg, const Pos & pos, const std::string & builtin)
{
    auto path = compat::pathOf(state, arg, pos);
    // Nix's access rules (restricted and pure evaluation) apply to the atom given, as to any file
    // Nix reads; what the plugin loads from the atom store after verifying it is allowed later.
    compat::checkReadable(state, path);
    return std::make_shared<Graph>(
        Graph{callRust(pos, builtin, [&] { return load_atom(toRust(path, "the path"), storeSetting(),
                                      toRust(atomOverride->get(), "the atom-override setting"), compat::pureEval(state)); }), pos});
}

void primGraph(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    auto graph = loadGraph(state, *args[0], pos, "builtins.atom.graph");
    auto json = callRust(pos, "builtins.atom.graph", [&] { return graph->loaded->graph_json(); });
    compat::parseJSON(state, std::string_view(json.data(), json.size()), v);
}

void primImport(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    auto graph = loadGraph(state, *args[0], pos, importBuiltin);
    size_t count = graph->loaded->len();
    auto * null = compat::globalValue(state, "null");
    Env & env = compat::allocClosedEnv(state, count + 1, null);
    auto & loaded = loadedAtoms(state);
    for (size_t i = 0; i < count; i++) {
        rust::String key;
        bool inStore = onGraph(*graph, [&](auto & g) { return g.store_key(i, key); });
        if (inStore) {
            if (auto it = loaded.find(std::string(key)); it != loaded.end()) {
                env.values[i] = it->second;
                continue;
            }
        }
        env.values[i] = compat::allocValue(state);
        compat::mkThunk(*env.values[i], env, new ExprAtomNode(graph, i));
        if (inStore)
            loaded.emplace(std::string(key), env.values[i]);
    }
    // nix/pins.nix, given the confined import for pinned sources: made once per evaluator.
    struct PinsFunction;
    auto * pinsFun = perEvaluator<PinsFunction>(state, [&](Value & fun) {
        auto source = pins_source();
        auto * pinsModule = compat::allocValue(state);
        compat::parseWithBuiltins(state, std::string(source.data(), source.size()))
            ->eval(state, compat::baseEnv(state), *pinsModule);
        auto * importIn = compat::allocValue(state);
        compat::mkPrimOp(state, *importIn,
            {.name = "importIn", .args = {"label", "src", "path"}, .doc = nullptr, .fun = guarded<primImportIn>});
        auto * pinsArg = compat::allocValue(state);
        compat::mkAttrs(state, *pinsArg, {{"importIn", importIn}});
        compat::callFunction(state, *pinsModule, *pinsArg, fun, pos);
    });
    env.values[count] = pinsFun;
    compat::forceValue(state, *env.values[count - 1], pos);
    v = *env.values[count - 1];
}

const char * const importDoc = R"(
    Load the atom at directory *path*: read and validate its `atom.toml` (which becomes `cfg`). A
    trivial atom (`[compose.as] nix = "<path>"`) is the value of that file, or of the directory's
    `default.nix` (a directory with only a `mod.nix` is composed as a module), with `cfg` and
    `atoms` (`{ deps }`) in scope, as the reference's loader gives it; `[compose.with.<composer>]`
    composes its modules from its `entry`. A static atom (`[compose.as] static = "config"`)
    evaluates to its manifest.

    ```nix
    (builtins.atom.import ./my-atom).greeting
    ```

    Dependencies come from the atom's `atom.lock` (write it with `atom lock`): every locked atom
    is read from the atom store (`--option atom-store <dir>`, else `$ATOM_STORE`, else
    `~/.cache/atom/store`; fill it with `atom fetch <url>`), checked against the lock (a
    mismatch is a "possible tampering" error), composed with its own lock, and given to modules
    as `deps.from.<set tag>.<label>`. Direct Nix dependencies are `deps.pins.<name>` and
    `deps.get.<name>`, fetched by Nix's fetchers only when forced; the code a module imports from
    one (`deps.pins.<name>.import "file.nix"`) runs confined to the pinned source, with std's
    allow-list as `builtins`. No fetcher, git process or network is used for atoms.
)";

// `{ repo = <path>; ... }` or `{ set = "<root>"; ... }`: the repository to query, as Rust wants it.
struct Query
{
    std::string repo, set, label;
};

Query readQuery(ArgSet & args)
{
    Query q{args.optionalPath("repo"), args.optionalString("set", ""), args.requireString("label")};
    if (q.repo.empty() == q.set.empty())
        args.fail("give exactly one of `repo` and `set`");
    return q;
}

void primResolve(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    const std::string builtin = "builtins.atom.resolve";
    ArgSet set(state, *args[0], pos, builtin,
        "{ repo = <path>; label = \"<label>\"; version ? \"<requirement>\"; rev ? \"<commit>\"; } or { set = \"<root hex>\"; ... }",
        {"repo", "set", "label", "version", "rev"});
    auto q = readQuery(set);
    auto version = set.optionalString("version", "*");
    auto rev = set.optionalString("rev", "");
    // Which versions are published is what the repository or the atom store holds now: in pure
    // evaluation, only an exact revision gives an answer that cannot change (as `fetchGit`
    // needs `rev` there).
    if (rev.empty() && compat::pureEval(state))
        compat::throwEvalError(pos, builtin
            + ": in pure evaluation mode `rev` is required (the atom commit, 40 hexadecimal digits): without it the "
              "answer depends on which versions are published now; lock the atom in atom.lock, give `rev`, or "
              "evaluate with --impure");
    auto json = callRust(pos, builtin, [&] {
        return resolve_atom(toRust(q.repo, "repo"), toRust(q.set, "set"), toRust(q.label, "label"),
            toRust(version, "version"), toRust(rev, "rev"), storeSetting());
    });
    auto * parsed = compat::allocValue(state);
    compat::parseJSON(state, std::string_view(json.data(), json.size()), *parsed);
    compat::NamedAttrs attrs;
    for (auto & [name, value] : compat::attrPairs(*parsed)) {
        std::string key = compat::symbolText(state, name);
        if (key == "src") {
            auto * path = compat::allocValue(state);
            std::string src(compat::forceString(state, *value, pos));
            // Materialised from a verified git tree in the atom store: readable in every mode.
            compat::allowPath(state, src);
            compat::mkPath(state, *path, src);
            value = path;
        }
        attrs.emplace_back(key, value);
    }
    compat::mkAttrs(state, v, attrs);
}

const char * const resolveDoc = R"(
    Find the highest published version of an atom matching a requirement, in a git repository
    on this machine (`repo`, a path) or in the atom store (`set`, the set's root commit in hex):
    verify it, materialise its files once (content-addressed, in the atom store's `trees/`) and
    return `{ label, version, rev, id, digest, signer, src, manifest }` (`digest`: the BLAKE3
    content digest of its tree; `signer`: the SHA-256 fingerprint of the key whose signature of it
    verifies, or null). `version` defaults to `"*"`.

    ```nix
    builtins.atom.resolve { repo = ./.; label = "b"; version = "^1"; }
    # => { label = "b"; version = "1.2.0"; rev = "..."; id = "..."; src = /...; manifest = { ... }; }
    ```

    With `rev` (an atom commit, 40 hexadecimal digits), the version published at exactly that
    revision is chosen (and must match `version`): the answer then depends on that commit alone.
    Pure evaluation requires `rev`.

    No fetcher runs: when no version matches, the error lists the published ones and says how to
    get more (`atom fetch`).
)";

void primVersions(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    const std::string builtin = "builtins.atom.versions";
    ArgSet set(state, *args[0], pos, builtin, "{ repo = <path>; label = \"<label>\"; } or { set = \"<root hex>\"; label = \"<label>\"; }",
        {"repo", "set", "label"});
    auto q = readQuery(set);
    // The answer is what the repository or the atom store holds now: not a pure function.
    if (compat::pureEval(state))
        compat::throwEvalError(pos, builtin
            + " is not available in pure evaluation mode: the versions published change over time; lock the atom "
              "in atom.lock, use builtins.atom.resolve with an exact `rev`, or evaluate with --impure");
    auto json = callRust(pos, builtin, [&] {
        return atom_versions(toRust(q.repo, "repo"), toRust(q.set, "set"), toRust(q.label, "label"), storeSetting());
    });
    compat::parseJSON(state, std::string_view(json.data(), json.size()), v);
}

const char * const versionsDoc = R"(
    The published versions of the atom *label*, newest first, in a git repository on this
    machine (`repo`) or in the atom store (`set`, a root in hex).

    ```nix
    builtins.atom.versions { repo = ./.; label = "b"; }
    # => [ "2.0.0" "1.2.0" "1.0.0" ]
    ```

    Not available in pure evaluation mode: the answer changes as versions are published.
)";

const char * const graphDoc = R"(
    The atoms `builtins.atom.import path` would load: every atom of the locked closure of the
    atom at *path*, each after the atoms it depends on (so the atom at *path* is last), each
    loaded and checked as `import` checks it (AtomId, content digest, signature), without
    evaluating any of them.

    ```nix
    map (a: "${a.name} ${toString a.signer}") (builtins.atom.graph ./.)
    # => [ "lib-1.0.0 SHA256:…" "app-0.1.0 " ]
    ```

    Each element is `{ name, label, version, dir, rev, id, digest, signer, deps }`: `dir` is the
    directory of an atom loaded from one (else null); `rev`, `id`, `digest` and `signer` are those
    of an atom of the atom store (its pinned commit, AtomId, content digest and the fingerprint of
    the key whose signature verified, null when unsigned); `deps` are the indices of its atom
    dependencies in the list.
)";

void primAtom(EvalState & state, compat::PosArg pos, Value ** args, Value & v)
{
    compat::enter(state);
    auto * version = compat::allocValue(state);
    auto versionText = plugin_version();
    compat::mkString(*version, std::string_view(versionText.data(), versionText.size()));

    auto * id = compat::allocValue(state);
    compat::mkPrimOp(state, *id, {.name = "atom.id", .args = {"{ root, label }"}, .doc = idDoc, .fun = guarded<primId>});

    auto * manifest = compat::allocValue(state);
    compat::mkPrimOp(
        state, *manifest, {.name = "atom.manifest", .args = {"path"}, .doc = manifestDoc, .fun = guarded<primManifest>});

    auto * compose = compat::allocValue(state);
    compat::mkPrimOp(state, *compose,
        {.name = "atom.compose", .args = {"dir", "{ config, extern }"}, .doc = composeDoc, .fun = guarded<primCompose>});
    auto * import = compat::allocValue(state);
    compat::mkPrimOp(state, *import, {.name = "atom.import", .args = {"path"}, .doc = importDoc, .fun = guarded<primImport>});
    auto * resolve = compat::allocValue(state);
    compat::mkPrimOp(state, *resolve,
        {.name = "atom.resolve", .args = {"{ repo or set, label, version }"}, .doc = resolveDoc, .fun = guarded<primResolve>});
    auto * versions = compat::allocValue(state);
    compat::mkPrimOp(state, *versions,
        {.name = "atom.versions", .args = {"{ repo or set, label }"}, .doc = versionsDoc, .fun = guarded<primVersions>});
    auto * graph = compat::allocValue(state);
    compat::mkPrimOp(state, *graph, {.name = "atom.graph", .args = {"path"}, .doc = graphDoc, .fun = guarded<primGraph>});

    compat::mkAttrs(state, v,
        {{"version", version}, {"id", id}, {"manifest", manifest}, {"compose", compose}, {"import", import},
            {"resolve", resolve}, {"versions", versions}, {"graph", graph}});
}

const char * const atomDoc = R"(
    The Atom format, natively: an attribute set of functions provided by the atom plugin
    (`libatom_nix.so`).

    - `builtins.atom.version`: the plugin's version.
    - `builtins.atom.id { root, label }`: the AtomId of an atom.
    - `builtins.atom.manifest path`: an atom's validated `atom.toml` as an attribute set.
    - `builtins.atom.import path`: load an atom and return its public interface.
    - `builtins.atom.compose dir { config, extern }`: the bare composer.
    - `builtins.atom.resolve { repo or set, label, version }`: the highest matching published
      version, verified and materialised, from git refs on this machine.
    - `builtins.atom.versions { repo or set, label }`: a label's published versions.
    - `builtins.atom.graph path`: the atoms `import` loads, each with its revision, digest and signer.
)";

// The plugin registers `builtins.atom` (and its setting) only in the Nix it was built against:
// Nix's C++ API has no stable ABI, so in another version the first call would corrupt memory or
// crash. In a mismatch it registers nothing and says so on one line; the rest of Nix works.
struct Registration
{
    Registration()
    {
        const std::string * running = compat::runningNixVersion();
        if (!running || *running != compat::builtAgainst) {
            std::cerr << "warning: the atom plugin (libatom_nix.so) was built for Nix " << compat::builtAgainst
                      << " but is loaded into Nix " << (running ? *running : std::string("of an unknown version"))
                      << "; builtins.atom is not available (rebuild the plugin against this Nix)" << std::endl;
            return;
        }
        atomStore = new compat::StringSetting("atom-store",
            "The atom store: the directory of git repositories (one per set root) that `atom fetch` fills and "
            "`builtins.atom` reads locked dependencies from. Empty: $ATOM_STORE, else $XDG_CACHE_HOME/atom/store, "
            "else ~/.cache/atom/store.");
        atomOverride = new compat::StringSetting("atom-override",
            "Working copies of atoms to load instead of what locks pin, as `label=path` entries separated by "
            "spaces (merged over $ATOM_OVERRIDE). For developing against a dependency without publishing it; "
            "an overridden atom is named `label-version (overridden: path)` in errors and traces.");
        new compat::RegisterBuiltin("__atom", atomDoc, guarded<primAtom>);
        checkCopiedPaths();
        // Nix read its configuration and command line before it loaded this plugin, keeping the
        // *first* value each source gave a setting it did not know yet (nix.conf before
        // NIX_CONFIG before --option) and applying it once the plugin registers. The documented
        // order is the reverse, later sources winning as for Nix's own settings: put the value
        // that order gives in place of Nix's before Nix applies it.
        for (const char * name : {"atom-store", "atom-override"}) {
            auto found = startup_setting(name);
            if (found.found)
                compat::setPendingSetting(name, std::string(found.value));
        }
    }
};

Registration registration;

} // namespace
} // namespace atom_nix
