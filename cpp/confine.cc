// Confinement of parsed module files, and the path checks of the boundary (confine.hh).
//
// After a module file is parsed, its syntax tree is walked once (each node once: the subtree the
// parser shares, the `e` of `inherit (e) a b;`, is remembered):
// - a path literal outside the atom (`/etc/passwd`, `./..` from the root module) is an error at
//   parse time; the others check their symlinks when evaluated, so a dangling link in a branch
//   never taken is no error;
// - every `a + b` (Nix parses it as a string concatenation that keeps the type of `a`) is wrapped
//   so that, when it produces a path, the path is checked where it is produced, before anything
//   (such as string interpolation, which copies a path to the store) can use it;
// - every expression evaluated later than the file itself (attribute values, list elements,
//   function arguments and bodies) is wrapped so that an error raised in it names the atom.
// Any node type this walker does not know is refused, so a new one cannot slip through.

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include "composer.hh"
#include "confine.hh"
#include "lazy.hh"
#include "std.hh"

namespace atom_nix {

using compat::Env;
using compat::EvalState;
using compat::Expr;
using compat::Pos;
using compat::StaticEnv;
using compat::Symbol;
using compat::Value;

std::string resolveSymlinks(const std::string & path, const Pos & pos)
{
    // Components still to resolve, last first.
    std::vector<std::string> todo;
    auto push = [&](const std::string & p) {
        size_t end = p.size();
        while (end > 0) {
            size_t start = p.rfind('/', end - 1);
            size_t from = start == std::string::npos ? 0 : start + 1;
            if (end > from)
                todo.push_back(p.substr(from, end - from));
            if (start == std::string::npos)
                break;
            end = start;
        }
    };
    std::string done;  // resolved so far; empty is `/`
    if (auto * root = writtenRootOf(path)) {
        // An entry the atom store recorded there, reached without a symlink: no look needed.
        if (checkRecorded(path, pos))
            return path;
        done = *root;
        push(path.substr(root->size()));
    } else {
        push(path);
    }
    bool missing = false;
    int links = 0;
    while (!todo.empty()) {
        std::string component = std::move(todo.back());
        todo.pop_back();
        if (component == ".")
            continue;
        if (component == "..") {
            done.resize(done.empty() ? 0 : done.rfind('/'));
            continue;
        }
        std::string next = done + "/" + component;
        struct stat st;
        int status = missing ? -1 : lstat(next.c_str(), &st);
        // Only a path that does not exist may be taken as written: any other failure (a name too
        // long to look up, no permission, ...) leaves its meaning unknown, so it is refused.
        if (!missing && status != 0 && errno != ENOENT && errno != ENOTDIR)
            compat::throwEvalError(pos, "the path '" + path + "' cannot be resolved at '" + next + "': "
                + std::strerror(errno) + "; an atom may only refer to paths it can check");
        if (status == 0 && S_ISLNK(st.st_mode)) {
            if (++links > 40)
                compat::throwEvalError(pos, "the path '" + path + "' cannot be resolved: symlink loop at '" + next + "'");
            std::vector<char> buffer(st.st_size > 0 ? st.st_size + 1 : 4096);
            ssize_t n = readlink(next.c_str(), buffer.data(), buffer.size());
            if (n < 0)
                compat::throwEvalError(pos, "cannot read the symlink '" + next + "': " + std::strerror(errno));
            std::string target(buffer.data(), size_t(n));
            if (!target.empty() && target[0] == '/')
                done.clear();
            push(target);
            continue;
        }
        if (status != 0)
            missing = true;
        done = std::move(next);
    }
    return done.empty() ? "/" : done;
}

namespace {

// The roots of pinned sources seen so far (plain text: no Nix values). The evaluator is
// single-threaded.
std::set<std::string> & pinnedRoots()
{
    static std::set<std::string> roots;
    return roots;
}

// "the path '<path>' is outside <the tree> (<root>): <its code> may only refer to its own files".
std::string outsideMessage(const std::string & path, const std::string & root)
{
    auto subject = subjectOf(root);
    return "the path '" + path + "' is outside " + subject.place + " (" + root + "): " + subject.who
        + " may only refer to its own files";
}

} // namespace

void registerPinnedRoot(const std::string & root)
{
    pinnedRoots().insert(root);
}

Subject subjectOf(const std::string & root)
{
    if (pinnedRoots().count(root))
        return {"the pinned source", "pinned code", "its own source"};
    return {"the atom", "an atom", "its own directory"};
}

std::string requireInside(const std::string & path, const std::string & root, const Pos & pos)
{
    if (!isInside(path, root) || !isInside(resolveSymlinks(path, pos), root))
        compat::throwEvalError(pos, outsideMessage(path, root));
    return path;
}

void requireKind(const std::string & path, FileKind kind, const Pos & pos)
{
    // What the atom store recorded there (and just found unchanged), or the disk.
    auto recorded = checkRecorded(path, pos);
    struct stat st;
    if (recorded)
        st.st_mode = *recorded == FileKind::Directory ? S_IFDIR : S_IFREG;
    else if (stat(path.c_str(), &st) != 0)
        return;  // missing: Nix's own primitive says so
    const char * what = S_ISFIFO(st.st_mode) ? "a FIFO"
        : S_ISSOCK(st.st_mode)                ? "a socket"
        : S_ISCHR(st.st_mode)                 ? "a character device"
        : S_ISBLK(st.st_mode)                 ? "a block device"
                                              : nullptr;
    if (!what && kind == FileKind::Regular && S_ISDIR(st.st_mode))
        what = "a directory";
    if (!what && kind == FileKind::Directory && !S_ISDIR(st.st_mode))
        what = "not a directory";
    if (what)
        compat::throwEvalError(pos, "'" + path + "' is " + what + ": an atom may only read "
            + (kind == FileKind::Directory ? "directories" : "regular files") + " here");
}

namespace {

// What starts the line naming the atom code an error was raised in (see `annotate`).
// (Nix indents the lines of a message when it prints it.)
const std::string originMark = "\n(in ";

} // namespace

void annotate(compat::Error & e, const std::string & text)
{
    if (e.info().msg.str().find(originMark) == std::string::npos)
        compat::appendToMessage(e, "\n(" + text + ")");
}

namespace {

// `a + b` whose result, when it is a path, must stay inside the atom.
struct ExprConfinedPath : compat::CustomExpr
{
    Expr * inner;
    Pos pos;
    std::string root;

    ExprConfinedPath(Expr * inner, const Pos & pos, std::string root) : inner(inner), pos(pos), root(std::move(root)) {}

    void describe(std::ostream & str) const override { compat::showExpr(*inner, str); }

    void eval(EvalState & state, Env & env, Value & v) override
    {
        inner->eval(state, env, v);
        if (compat::isPath(v)) {
            auto path = compat::canonPath(compat::pathText(v));
            requireInside(path, root, pos);
            checkUse(path, pos);
        }
    }
};

// A path literal: the same path in the atom itself (whose files are written first when they are
// not yet), checked with its symlinks resolved when first evaluated.
struct ExprAtomPath : compat::CustomExpr
{
    std::string path;  // inside `root`, lexically
    std::string root;
    Pos pos;
    bool checked = false;

    ExprAtomPath(std::string path, std::string root, const Pos & pos) : path(std::move(path)), root(std::move(root)), pos(pos) {}

    void describe(std::ostream & str) const override { str << path; }

    void eval(EvalState & state, Env &, Value & v) override
    {
        if (!checked) {
            ensureRoot(root);
            requireInside(path, root, pos);
            checkUse(path, pos);
            checked = true;
        }
        compat::mkPath(state, v, path);
    }
};

// `builtins.<name>` or `std.<name>` (a variable and one attribute name, no default): one builtin
// made on its own while the atom's std is not built yet (`stdMember`), the selection otherwise.
struct ExprStdSelect : compat::CustomExpr
{
    nix::ExprSelect * select;
    nix::ExprVar * var;
    Symbol name;

    ExprStdSelect(nix::ExprSelect * select, nix::ExprVar * var, Symbol name) : select(select), var(var), name(name) {}

    void describe(std::ostream & str) const override { compat::showExpr(*select, str); }

    void eval(EvalState & state, Env & env, Value & v) override
    {
        if (auto * slot = compat::varSlot(env, *var))
            if (auto * member = stdMember(state, *slot, name)) {
                v = *member;
                return;
            }
        select->eval(state, env, v);
    }
};

// An expression evaluated after its file (an attribute, a list element, an argument, a function
// body): an error raised in it names the atom code it belongs to.
struct ExprOrigin : compat::CustomExpr
{
    Expr * inner;
    Origin origin;

    ExprOrigin(Expr * inner, Origin origin) : inner(inner), origin(origin) {}

    void describe(std::ostream & str) const override { compat::showExpr(*inner, str); }

    void eval(EvalState & state, Env & env, Value & v) override
    {
        try {
            inner->eval(state, env, v);
        } catch (compat::Error & e) {
            annotate(e, origin);
            throw;
        }
        // A builtin partially applied here (`n: getAttr n`) fails later, when Nix applies it.
        // (std's own wrappers name the atom themselves.)
        if (auto fun = compat::appliedPrimOp(v); fun && !isStdWrapper(fun)) {
            auto * originValue = compat::allocValue(state);
            compat::mkString(*originValue, origin->text());
            auto * f = compat::allocValue(state);
            *f = v;
            v = *annotatedFunction(state, originValue, f, compat::noPos);
        }
    }
};

struct Walker
{
    const std::string & sourceRoot;
    const std::string & root;
    Origin origin;
    // The names std goes by in module scope (`ExprStdSelect`).
    Symbol builtinsName;
    Symbol stdName;
    // The replacement of each subtree the parser shares between several parents (the `e` of
    // `inherit (e) a b;` is the subject of one selection per name), so it is walked once.
    std::unordered_map<Expr *, Expr *> shared;

    // Checks `e` and returns what should stand in its place.
    Expr * walk(Expr * e, const Pos & near)
    {
        return e ? replace(e, near) : e;
    }

    // `walk` of a subtree that may be shared.
    Expr * walkShared(Expr * e, const Pos & near)
    {
        if (auto it = shared.find(e); it != shared.end())
            return it->second;
        Expr * replacement = walk(e, near);
        shared.emplace(e, replacement);
        return replacement;
    }

    // `walk` of an expression evaluated later than its parent.
    Expr * later(Expr * e, const Pos & near)
    {
        Expr * walked = walk(e, near);
        // What cannot fail when forced needs no wrapper: constants, variables, functions (a
        // function's body is wrapped on its own), lists and attribute sets with static names
        // (their elements are wrapped on their own).
        auto * attrs = dynamic_cast<nix::ExprAttrs *>(walked);
        if (!walked || dynamic_cast<nix::ExprVar *>(walked) || dynamic_cast<nix::ExprInt *>(walked)
            || dynamic_cast<nix::ExprFloat *>(walked) || dynamic_cast<nix::ExprString *>(walked)
            || dynamic_cast<nix::ExprLambda *>(walked) || dynamic_cast<nix::ExprPos *>(walked)
            || dynamic_cast<nix::ExprList *>(walked) || (attrs && attrs->dynamicAttrs.empty()))
            return walked;
        return new ExprOrigin(walked, origin);
    }

    Expr * replace(Expr * e, const Pos & near)
    {
        if (auto * p = dynamic_cast<nix::ExprPath *>(e)) {
            if (!isInside(p->s, sourceRoot))
                compat::throwEvalError(near, outsideMessage(p->s, root));
            return new ExprAtomPath(mapToRoot(p->s, sourceRoot, root), root, near);
        }
        if (dynamic_cast<nix::ExprInt *>(e) || dynamic_cast<nix::ExprFloat *>(e) || dynamic_cast<nix::ExprString *>(e)
            || dynamic_cast<nix::ExprVar *>(e) || dynamic_cast<nix::ExprPos *>(e))
            return e;
        if (auto * x = dynamic_cast<nix::ExprSelect *>(e)) {
            x->e = walkShared(x->e, x->pos);
            x->def = walk(x->def, x->pos);
            attrPath(x->attrPath, x->pos);
            auto * var = dynamic_cast<nix::ExprVar *>(x->e);
            if (var && !x->def && x->attrPath.size() == 1 && compat::symbolSet(x->attrPath[0].symbol)
                && (var->name == builtinsName || var->name == stdName))
                return new ExprStdSelect(x, var, x->attrPath[0].symbol);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprOpHasAttr *>(e)) {
            x->e = walk(x->e, near);
            attrPath(x->attrPath, near);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprAttrs *>(e)) {
            attrs(*x);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprList *>(e)) {
            for (auto & elem : x->elems)
                elem = later(elem, near);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprLambda *>(e)) {
            if (x->formals)
                for (auto & formal : x->formals->formals)
                    formal.def = later(formal.def, formal.pos);
            x->body = later(x->body, x->pos);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprCall *>(e)) {
            x->fun = walk(x->fun, x->pos);
            for (auto & arg : x->args)
                arg = later(arg, x->pos);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprLet *>(e)) {
            attrs(*x->attrs);
            x->body = walk(x->body, near);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprWith *>(e)) {
            x->attrs = walk(x->attrs, x->pos);
            x->body = walk(x->body, x->pos);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprIf *>(e)) {
            x->cond = walk(x->cond, x->pos);
            x->then = walk(x->then, x->pos);
            x->else_ = walk(x->else_, x->pos);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprAssert *>(e)) {
            x->cond = walk(x->cond, x->pos);
            x->body = walk(x->body, x->pos);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprOpNot *>(e)) {
            x->e = walk(x->e, near);
            return e;
        }
        if (binary<nix::ExprOpEq>(e, near) || binary<nix::ExprOpNEq>(e, near) || binary<nix::ExprOpAnd>(e, near)
            || binary<nix::ExprOpOr>(e, near) || binary<nix::ExprOpImpl>(e, near) || binary<nix::ExprOpUpdate>(e, near)
            || binary<nix::ExprOpConcatLists>(e, near))
            return e;
        if (auto * x = dynamic_cast<nix::ExprConcatStrings *>(e)) {
            for (auto & [pos, part] : *x->es)
                part = walk(part, pos);
            // `a + b` keeps the type of `a`: a path when `a` is one. Interpolations
            // (forceString) always make strings.
            if (!x->forceString)
                return new ExprConfinedPath(x, x->pos, root);
            return e;
        }
        compat::throwEvalError(near, "internal error in the atom plugin: unknown expression node; refusing to evaluate it");
    }

    template <typename Op>
    bool binary(Expr * e, const Pos & near)
    {
        auto * x = dynamic_cast<Op *>(e);
        if (!x)
            return false;
        const Pos & pos = x->pos ? x->pos : near;
        x->e1 = walk(x->e1, pos);
        x->e2 = walk(x->e2, pos);
        return true;
    }

    void attrPath(nix::AttrPath & path, const Pos & near)
    {
        for (auto & name : path)
            if (!compat::symbolSet(name.symbol))
                name.expr = walk(name.expr, near);
    }

    void attrs(nix::ExprAttrs & x)
    {
        for (auto & [_, def] : x.attrs)
            def.e = later(def.e, def.pos);
        for (auto & def : x.dynamicAttrs) {
            def.nameExpr = walk(def.nameExpr, def.pos);
            def.valueExpr = later(def.valueExpr, def.pos);
        }
        compat::forEachInheritSource(x, [&](Expr * e) { return later(e, x.pos); });
    }
};

} // namespace

Expr * confinePaths(EvalState & state, Expr * e, const std::string & sourceRoot, const std::string & root,
    const Pos & filePos, Origin origin)
{
    Walker walker{sourceRoot, root, origin, compat::symbol(state, "builtins"), compat::symbol(state, "std"), {}};
    return walker.walk(e, filePos);
}

} // namespace atom_nix
