// Path confinement of parsed module files (DESIGN.md, "Scope boundaries").
//
// After a module file is parsed, its syntax tree is walked once:
// - a path literal outside the atom's root (`/etc/passwd`, `./..` from the root module) is an
//   error at parse time;
// - every `a + b` (Nix parses it as a string concatenation that keeps the type of `a`) is wrapped
//   so that, when it produces a path, the path is checked where it is produced, before anything
//   (such as string interpolation, which copies a path to the store) can use it.
// Any node type this walker does not know is refused, so a new one cannot slip through.

#include <string>

#include "composer.hh"

namespace atom_nix {

using compat::Env;
using compat::EvalState;
using compat::Expr;
using compat::Pos;
using compat::StaticEnv;
using compat::Value;

namespace {

[[noreturn]] void outside(const Pos & pos, const std::string & path, const std::string & root)
{
    compat::throwEvalError(pos, "the path '" + path + "' is outside the atom (" + root
        + "): an atom may only refer to its own files");
}

// `a + b` whose result, when it is a path, must stay inside the atom.
struct ExprConfinedPath : Expr
{
    Expr * inner;
    Pos pos;
    std::string root;

    ExprConfinedPath(Expr * inner, const Pos & pos, std::string root) : inner(inner), pos(pos), root(std::move(root)) {}

    void show(std::ostream & str) const override { inner->show(str); }
    void bindVars(const StaticEnv &) override {}

    void eval(EvalState & state, Env & env, Value & v) override
    {
        inner->eval(state, env, v);
        if (v.type() == nix::nPath) {
            std::string path = nix::canonPath(v.path, false);
            if (!isInside(path, root) || !isInside(compat::resolvedPath(path), root))
                outside(pos, path, root);
        }
    }
};

// A path literal of a module read from a copy of the atom's Nix files: evaluates to the same path
// in the atom itself, whose files are written first if they are not yet.
struct ExprAtomPath : Expr
{
    std::string path;  // inside `root`
    std::string root;
    Pos pos;

    ExprAtomPath(std::string path, std::string root, const Pos & pos) : path(std::move(path)), root(std::move(root)), pos(pos) {}

    void show(std::ostream & str) const override { str << path; }
    void bindVars(const StaticEnv &) override {}

    void eval(EvalState & state, Env & env, Value & v) override
    {
        (void) state;
        (void) env;
        ensureRoot(root);
        if (!isInside(compat::resolvedPath(path), root))
            outside(pos, path, root);
        compat::mkPath(v, path);
    }
};

struct Walker
{
    const std::string & sourceRoot;
    const std::string & root;

    // Checks `e` and returns what should stand in its place.
    Expr * walk(Expr * e, const Pos & near)
    {
        if (!e)
            return e;
        if (auto * p = dynamic_cast<nix::ExprPath *>(e)) {
            if (!isInside(p->s, sourceRoot) || !isInside(compat::resolvedPath(p->s), sourceRoot))
                outside(near, p->s, root);
            if (sourceRoot != root)
                return new ExprAtomPath(mapToRoot(p->s, sourceRoot, root), root, near);
            return e;
        }
        if (dynamic_cast<nix::ExprInt *>(e) || dynamic_cast<nix::ExprFloat *>(e) || dynamic_cast<nix::ExprString *>(e)
            || dynamic_cast<nix::ExprVar *>(e) || dynamic_cast<nix::ExprPos *>(e))
            return e;
        if (auto * x = dynamic_cast<nix::ExprSelect *>(e)) {
            x->e = walk(x->e, x->pos);
            x->def = walk(x->def, x->pos);
            attrPath(x->attrPath, x->pos);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprOpHasAttr *>(e)) {
            x->e = walk(x->e, near);
            attrPath(x->attrPath, near);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprAttrs *>(e)) {
            attrs(*x, near);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprList *>(e)) {
            for (auto & elem : x->elems)
                elem = walk(elem, near);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprLambda *>(e)) {
            if (x->formals)
                for (auto & formal : x->formals->formals)
                    formal.def = walk(formal.def, formal.pos);
            x->body = walk(x->body, x->pos);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprCall *>(e)) {
            x->fun = walk(x->fun, x->pos);
            for (auto & arg : x->args)
                arg = walk(arg, x->pos);
            return e;
        }
        if (auto * x = dynamic_cast<nix::ExprLet *>(e)) {
            attrs(*x->attrs, near);
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
            if (!name.symbol.set())
                name.expr = walk(name.expr, near);
    }

    void attrs(nix::ExprAttrs & x, const Pos & near)
    {
        for (auto & [_, def] : x.attrs)
            def.e = walk(def.e, def.pos);
        for (auto & def : x.dynamicAttrs) {
            def.nameExpr = walk(def.nameExpr, def.pos);
            def.valueExpr = walk(def.valueExpr, def.pos);
        }
        (void) near;
    }
};

} // namespace

Expr * confinePaths(Expr * e, const std::string & sourceRoot, const std::string & root, const Pos & filePos)
{
    Walker walker{sourceRoot, root};
    return walker.walk(e, filePos);
}

} // namespace atom_nix
