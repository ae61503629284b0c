// The native composer: an atom's modules as lazy Nix values in closed scopes (see composer.cc).
#pragma once

#include <algorithm>
#include <functional>
#include <string>

#include "compat.hh"

namespace atom_nix {

/// The value `make` makes, once per evaluator, kept where the collector sees it. Each `Tag` type
/// names one such value.
template <typename Tag>
compat::Value * perEvaluator(compat::EvalState & state, const std::function<void(compat::Value &)> & make)
{
    // Static memory is not scanned; the vector's storage is.
    static compat::GcVector<compat::Value *> value(1, nullptr);
    static compat::EvalState * owner = nullptr;
    if (owner != &state) {
        value[0] = compat::allocValue(state);
        make(*value[0]);
        owner = &state;
    }
    return value[0];
}

/// An attribute with its name as text, for ordering by name.
struct Named
{
    std::string name;
    compat::Symbol symbol;
    compat::Value * value;
};

/// Attributes by name, in storage the collector scans.
using NamedList = compat::GcVector<Named>;

/// The attributes of a forced attribute set.
inline NamedList named(compat::EvalState & state, const compat::Value & attrs)
{
    NamedList list;
    for (auto & [symbol, value] : compat::attrPairs(attrs))
        list.push_back({compat::symbolText(state, symbol), symbol, value});
    return list;
}

/// One attribute per name, the one that comes last in `list`, in name order.
inline compat::Attrs lastByName(NamedList & list)
{
    std::stable_sort(list.begin(), list.end(), [](auto & a, auto & b) { return a.name < b.name; });
    compat::Attrs attrs;
    for (size_t i = 0; i < list.size(); i++)
        if (i + 1 == list.size() || list[i + 1].name != list[i].name)
            attrs.emplace_back(list[i].symbol, list[i].value);
    return attrs;
}

/// Composes the module at `dir` of the atom rooted at `root` (canonical) and makes `result` its
/// public set. Module files are read under `sourceRoot`, which is `root` or holds a copy of the
/// atom's Nix files only; path literals and `mod.outPath` are mapped from it to `root`. `atom` names the atom in messages (`label-version`); `config` is `cfg`, the
/// attributes of `externAttrs` are added to every module's scope, `stdValue` is `std`/`builtins`.
/// With `isFile`, `dir` is one Nix file (a trivial atom, `[compose.as] nix = "file.nix"`): it is
/// evaluated in the scope its directory would have as the root module, and is the result.
void composeAtom(compat::EvalState & state, const compat::Pos & pos, const std::string & atom,
    const std::string & root, const std::string & sourceRoot, const std::string & dir, compat::Value & config, compat::Value & externAttrs,
    compat::Value & stdValue, compat::Value & result, bool isFile = false);

/// `path` (inside `sourceRoot`) as the same path inside `root`.
inline std::string mapToRoot(const std::string & path, const std::string & sourceRoot, const std::string & root)
{
    return sourceRoot == root ? path : root + path.substr(sourceRoot.size());
}

/// `Foo` → `foo`: the first character lower-cased when it is an ASCII capital (any bytes).
inline std::string lowerFirst(std::string name)
{
    if (!name.empty() && name[0] >= 'A' && name[0] <= 'Z')
        name[0] = char(name[0] - 'A' + 'a');
    return name;
}

} // namespace atom_nix
