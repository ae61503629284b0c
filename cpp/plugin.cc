// The plugin's C++ side: registers `builtins.atom` and builds every Nix value it returns.
//
// Rust (rust/atom-nix) does the work and returns plain data; this file owns all Nix values, so
// the garbage collector sees every one of them. Every call into Nix's API goes through compat.hh.

#include <initializer_list>
#include <string>

#include "compat.hh"
#include "composer.hh"
#include "rust/cxx.h"
#include "atom-nix/src/lib.rs.h"

namespace atom_nix {
namespace {

using compat::EvalState;
using compat::Pos;
using compat::Value;

rust::Str toRust(std::string_view s)
{
    return rust::Str(s.data(), s.size());
}

// Runs a bridge call; a Rust error becomes a Nix evaluation error at the caller's position,
// prefixed with the name of the builtin.
template <typename F>
auto callRust(const Pos & pos, const std::string & builtin, F && f) -> decltype(f())
{
    try {
        return f();
    } catch (const rust::Error & e) {
        compat::throwEvalError(pos, builtin + ": " + e.what());
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
        for (auto & name : compat::attrNames(v)) {
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

void primId(EvalState & state, const Pos & pos, Value ** args, Value & v)
{
    const std::string builtin = "builtins.atom.id";
    ArgSet set(state, *args[0], pos, builtin, "{ root = \"<40-hex root commit>\"; label = \"<label>\"; }",
        {"root", "label"});
    auto root = set.requireString("root");
    auto label = set.requireString("label");
    auto id = callRust(pos, builtin, [&] { return atom_id(toRust(root), toRust(label)); });
    v.mkString(std::string_view(id.data(), id.size()));
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

void primManifest(EvalState & state, const Pos & pos, Value ** args, Value & v)
{
    const std::string builtin = "builtins.atom.manifest";
    auto path = compat::forceReadablePath(state, *args[0], pos);
    auto json = callRust(pos, builtin, [&] { return manifest_json(toRust(path)); });
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

void primCompose(EvalState & state, const Pos & pos, Value ** args, Value & v)
{
    const std::string builtin = "builtins.atom.compose";
    auto given = compat::pathOf(state, *args[0], pos);
    std::string dir(callRust(pos, builtin, [&] { return canonical_dir(toRust(given)); }));
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
    makeStd(state, dir, *stdValue);
    composeAtom(state, pos, atomName(state, *config, pos), dir, dir, *config, *externAttrs, *stdValue, v);
}

const char * const composeDoc = R"(
    Compose the module at directory *dir* the way the Atom format's composer does, and return
    its public interface: the members whose names start with a capital, first letter
    lower-cased.

    ```nix
    builtins.atom.compose ./src { config = { package.label = "demo"; }; extern = { inherit deps; }; }
    ```

    Every file is evaluated in a closed scope: `cfg` (*config*), `mod`, `pre`, `atom`, `std` (also
    `builtins`: Nix's pure builtins; file reads are confined to *dir*), the attributes of
    *extern*, and `true`, `false`, `null`, `map`, `toString`, `throw`, `abort`, `derivation`, ... An
    unknown name is an error when the file is parsed; `import`, fetchers, `getEnv`,
    `currentSystem` and the like are not reachable.
)";

void primImport(EvalState & state, const Pos & pos, Value ** args, Value & v)
{
    const std::string builtin = "builtins.atom.import";
    auto path = compat::pathOf(state, *args[0], pos);
    auto plan = callRust(pos, builtin, [&] { return import_plan(toRust(path)); });
    auto * config = compat::allocValue(state);
    compat::parseJSON(state, std::string_view(plan.manifest_json.data(), plan.manifest_json.size()), *config);
    if (plan.is_static) {
        v = *config;
        return;
    }
    auto * empty = compat::allocValue(state);
    compat::mkAttrs(state, *empty, {});
    auto * stdValue = compat::allocValue(state);
    std::string root(plan.root);
    makeStd(state, root, *stdValue);
    composeAtom(state, pos, std::string(plan.atom), root, std::string(plan.entry), *config, *empty, *stdValue, v);
}

const char * const importDoc = R"(
    Load the atom at directory *path*: read and validate its `atom.toml` (which becomes `cfg`) and
    compose its modules from the manifest's entry (`[compose.as] nix = "<dir>"`, or the `entry` of
    `[compose.with.<composer>]`). A static atom (`[compose.as] static = "config"`) evaluates to its
    manifest.

    ```nix
    (builtins.atom.import ./my-atom).greeting
    ```
)";

void primAtom(EvalState & state, const Pos & pos, Value ** args, Value & v)
{
    auto * version = compat::allocValue(state);
    auto versionText = plugin_version();
    version->mkString(std::string_view(versionText.data(), versionText.size()));

    auto * id = compat::allocValue(state);
    compat::mkPrimOp(state, *id, {.name = "atom.id", .args = {"{ root, label }"}, .doc = idDoc, .fun = primId});

    auto * manifest = compat::allocValue(state);
    compat::mkPrimOp(
        state, *manifest, {.name = "atom.manifest", .args = {"path"}, .doc = manifestDoc, .fun = primManifest});

    auto * compose = compat::allocValue(state);
    compat::mkPrimOp(state, *compose,
        {.name = "atom.compose", .args = {"dir", "{ config, extern }"}, .doc = composeDoc, .fun = primCompose});
    auto * import = compat::allocValue(state);
    compat::mkPrimOp(state, *import, {.name = "atom.import", .args = {"path"}, .doc = importDoc, .fun = primImport});

    compat::mkAttrs(state, v,
        {{"version", version}, {"id", id}, {"manifest", manifest}, {"compose", compose}, {"import", import}});
}

const char * const atomDoc = R"(
    The Atom format, natively: an attribute set of functions provided by the atom plugin
    (`libatom_nix.so`).

    - `builtins.atom.version`: the plugin's version.
    - `builtins.atom.id { root, label }`: the AtomId of an atom.
    - `builtins.atom.manifest path`: an atom's validated `atom.toml` as an attribute set.
    - `builtins.atom.import path`: load an atom and return its public interface.
    - `builtins.atom.compose dir { config, extern }`: the bare composer.
)";

compat::RegisterBuiltin registerAtom("__atom", atomDoc, primAtom);

} // namespace
} // namespace atom_nix
