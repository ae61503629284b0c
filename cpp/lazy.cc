// Values computed by C++ code when first forced, and the lazy roots of atoms whose files are
// written on first use (see lazy.hh).

#include <map>
#include <string>

#include "lazy.hh"

namespace atom_nix {

using compat::Env;
using compat::EvalState;
using compat::Value;

namespace {

// A value computed by C++ code when first forced.
struct ExprLazy : compat::CustomExpr
{
    std::function<void(EvalState &, Value &)> make;

    explicit ExprLazy(std::function<void(EvalState &, Value &)> make) : make(std::move(make)) {}

    void describe(std::ostream & str) const override { str << "«atom lazy value»"; }
    void eval(EvalState & state, Env &, Value & v) override { make(state, v); }
};

} // namespace

void mkLazy(EvalState & state, Value & v, std::function<void(EvalState &, Value &)> make)
{
    compat::mkThunk(v, compat::baseEnv(state), new ExprLazy(std::move(make)));
}

namespace {

// Lazy roots not written yet, by root directory. The evaluator is single-threaded.
std::map<std::string, std::function<void()>> & lazyRoots()
{
    static std::map<std::string, std::function<void()>> roots;
    return roots;
}

} // namespace

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

} // namespace atom_nix
