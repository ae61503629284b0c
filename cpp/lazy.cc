// Values computed by C++ code when first forced, and the lazy roots of atoms whose files are
// written on first use (see lazy.hh).

#include <map>
#include <string>

#include "confine.hh"
#include "lazy.hh"
#include "atom-nix/src/lib.rs.h"

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
std::map<std::string, std::function<rust::Box<TreeCheck>()>> & lazyRoots()
{
    static std::map<std::string, std::function<rust::Box<TreeCheck>()>> roots;
    return roots;
}

// Lazy roots written, by root directory, with their checks. Roots are never nested (each is a
// tree's own directory in the atom store).
std::map<std::string, rust::Box<TreeCheck>> & checkedRoots()
{
    static std::map<std::string, rust::Box<TreeCheck>> roots;
    return roots;
}

// The written lazy root `path` is in, if any.
std::map<std::string, rust::Box<TreeCheck>>::iterator rootOf(const std::string & path)
{
    auto & roots = checkedRoots();
    auto it = roots.upper_bound(path);
    if (it == roots.begin())
        return roots.end();
    --it;
    return isInside(path, it->first) ? it : roots.end();
}

TreeCheck * checkOf(const std::string & path)
{
    auto it = rootOf(path);
    return it == checkedRoots().end() ? nullptr : &*it->second;
}

} // namespace

const std::string * writtenRootOf(const std::string & path)
{
    auto it = rootOf(path);
    return it == checkedRoots().end() ? nullptr : &it->first;
}

void registerLazyRoot(const std::string & root, std::function<rust::Box<TreeCheck>()> write)
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
    checkedRoots().insert_or_assign(root, write());
}

namespace {

// Runs `check` on the tree check of `path`, if it is under a written lazy root; a failed check is
// an evaluation error at `pos`. `fallback` when there is nothing to check.
template<typename T, typename F>
T withCheck(const std::string & path, const compat::Pos & pos, T fallback, F check)
{
    auto * tree = checkOf(path);
    if (!tree)
        return fallback;
    try {
        return check(*tree, rust::Str(path.data(), path.size()));
    } catch (const rust::Error & e) {
        compat::throwEvalError(pos, std::string("the atom store: ") + e.what());
    } catch (const std::invalid_argument &) {
        // Not UTF-8: not a path of a tree this store wrote (its names are checked as UTF-8).
    }
    return fallback;
}

} // namespace

void checkUse(const std::string & path, const compat::Pos & pos, bool below)
{
    withCheck(path, pos, true, [below](TreeCheck & tree, rust::Str text) {
        below ? tree.check_below(text) : tree.check(text);
        return true;
    });
}

std::optional<FileKind> checkRecorded(const std::string & path, const compat::Pos & pos)
{
    using Kind = std::optional<FileKind>;
    return withCheck(path, pos, Kind{}, [](TreeCheck & tree, rust::Str text) -> Kind {
        switch (tree.check_kind(text)) {
        case RecordedKind::Directory:
            return FileKind::Directory;
        case RecordedKind::Regular:
            return FileKind::Regular;
        default:
            return std::nullopt;
        }
    });
}

void checkCopiedPaths()
{
    auto previous = compat::defaultPathFilter();
    compat::defaultPathFilter() = [previous](const std::string & path) {
        if (auto * check = checkOf(path)) {
            try {
                check->check(rust::Str(path.data(), path.size()));
            } catch (const rust::Error & e) {
                throw compat::Error(std::string("the atom store: ") + e.what());
            }
        }
        return previous(path);
    };
}

} // namespace atom_nix
