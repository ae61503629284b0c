// The plugin's C++ side: registers `builtins.atom` and builds every Nix value it returns.
//
// Rust (rust/atom-nix) does the work and returns plain data; this file owns all Nix values, so
// the garbage collector sees every one of them. Every call into Nix's API goes through compat.hh.

#include <initializer_list>
#include <string>

#include "compat.hh"
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

    compat::mkAttrs(state, v, {{"version", version}, {"id", id}, {"manifest", manifest}});
}

const char * const atomDoc = R"(
    The Atom format, natively: an attribute set of functions provided by the atom plugin
    (`libatom_nix.so`).

    - `builtins.atom.version`: the plugin's version.
    - `builtins.atom.id { root, label }`: the AtomId of an atom.
    - `builtins.atom.manifest path`: an atom's validated `atom.toml` as an attribute set.
)";

compat::RegisterBuiltin registerAtom("__atom", atomDoc, primAtom);

} // namespace
} // namespace atom_nix
