"""Fallback for revision scripts that cannot be imported: run their ``upgrade()`` one statement at a time.

When a script's imports fail (typically its project's package is not installed where the linter
runs), the rest of it is usually fine: SQLAlchemy and alembic are real, only the project's names
are missing. So each top-level statement runs on its own, and the names a failing one would have
defined become placeholders; then the body of ``upgrade()`` runs statement by statement, so an
``op.*`` call that cannot be evaluated costs only itself. The caller installs the recording
``op`` proxy beforehand; this module never imports alembic.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.types import UserDefinedType

# (statement, exception, whether the statement uses op / a batch_op) -> keep going?
OnFailure = Callable[[ast.stmt, BaseException, bool], bool]


class Placeholder(UserDefinedType[Any]):
    """Stands for a name the script could not import.

    It can be called and have attributes (each giving another placeholder), and it is a column
    type that renders as its own dotted name: ``sa.Column("status", OrderStatus)`` with an
    unknown ``OrderStatus`` still becomes ``status OrderStatus`` in the DDL.

    >>> Placeholder("models").OrderStatus(length=3).get_col_spec()
    'models.OrderStatus'
    """

    cache_ok = True

    def __init__(self, name: str) -> None:
        # A private name: a public one (``name``) would answer ``OrderStatus.name`` with "OrderStatus".
        self._bgmigrate_label = name

    def get_col_spec(self, **kw: Any) -> str:
        return self._bgmigrate_label

    def __call__(self, *args: Any, **kwargs: Any) -> Placeholder:
        return Placeholder(self._bgmigrate_label)

    def __getattr__(self, attr: str) -> Placeholder:
        # Private and dunder lookups are SQLAlchemy's and Python's own probes: answer them honestly.
        if attr.startswith("_"):
            raise AttributeError(attr)
        return Placeholder(f"{self._bgmigrate_label}.{attr}")

    def __repr__(self) -> str:
        return f"<unknown {self._bgmigrate_label}>"


_FAILED = object()  # what a failed step returns (None is a legitimate value)


class _Stop(Exception):
    """Ends the run (a ``return`` in upgrade(), or the caller asked to stop)."""


def run_statically(tree: ast.Module, filename: str, module_name: str, on_failure: OnFailure) -> None:
    """Run the statements of ``upgrade()`` one by one in a namespace built leniently from the module."""
    upgrade = next(
        (s for s in tree.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and s.name == "upgrade"),
        None,
    )
    if upgrade is None:
        return
    flags = _future_flags(tree)
    namespace = build_namespace(tree, filename, module_name, flags)
    runner = _Runner(namespace, filename, flags, on_failure, _op_aliases(tree))
    with contextlib.suppress(_Stop):
        runner.run(upgrade.body)


def build_namespace(tree: ast.Module, filename: str, module_name: str, flags: int = 0) -> dict[str, Any]:
    """Module globals from running each top-level statement alone; what fails to define is a placeholder."""
    namespace: dict[str, Any] = {"__name__": module_name, "__file__": filename, "__builtins__": builtins}
    for stmt in tree.body:
        try:
            exec(_compile_stmt(stmt, filename, flags), namespace)
        except (Exception, SystemExit):
            for name in _bound_names(stmt):
                namespace[name] = Placeholder(name)
    # Names read anywhere but defined nowhere (e.g. a star import that failed) become placeholders
    # too, in the globals so that comprehensions and helper functions see them as well.
    for name in _loaded_names(tree):
        if name not in namespace and not hasattr(builtins, name):
            namespace[name] = Placeholder(name)
    return namespace


class _Runner:
    """Executes a function body statement by statement, descending into ``with`` and ``if``."""

    def __init__(
        self, namespace: dict[str, Any], filename: str, flags: int, on_failure: OnFailure, op_names: set[str]
    ) -> None:
        self.namespace = namespace
        self.filename = filename
        self.flags = flags
        self.on_failure = on_failure
        self.op_names = op_names

    def run(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Return):
                raise _Stop
            if isinstance(stmt, ast.With):
                self._with(stmt)
            elif isinstance(stmt, ast.If):
                self._if(stmt)
            else:
                self._guarded(stmt, functools.partial(self._exec, stmt))

    def _exec(self, stmt: ast.stmt) -> None:
        exec(_compile_stmt(stmt, self.filename, self.flags), self.namespace)

    def _guarded(self, stmt: ast.stmt, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except _Stop:
            raise
        except (Exception, SystemExit) as exc:
            if not self.on_failure(stmt, exc, self._mentions_op(stmt)):
                raise _Stop from exc
            return _FAILED

    def _eval(self, expr: ast.expr) -> Any:
        code = compile(ast.Expression(expr), self.filename, "eval", self.flags, dont_inherit=True)
        return eval(code, self.namespace)

    def _with(self, stmt: ast.With) -> None:
        managers = []
        for item in stmt.items:
            manager = self._guarded(stmt, functools.partial(self._eval, item.context_expr))
            value = _FAILED if manager is _FAILED else self._guarded(stmt, manager.__enter__)
            if isinstance(item.optional_vars, ast.Name) and _calls_method(item.context_expr, "batch_alter_table"):
                # Even when the batch could not start: its body's calls then fail, and are reported.
                self.op_names.add(item.optional_vars.id)
            if value is _FAILED:
                continue  # run the body anyway: its op calls are what matters
            managers.append(manager)
            if isinstance(item.optional_vars, ast.Name):
                self.namespace[item.optional_vars.id] = value
        try:
            self.run(stmt.body)
        finally:
            for manager in reversed(managers):
                self._guarded(stmt, functools.partial(manager.__exit__, None, None, None))

    def _if(self, stmt: ast.If) -> None:
        try:
            taken = bool(self._eval(stmt.test))
        except Exception:
            taken = True  # undecidable offline: the body is where the work usually is
        self.run(stmt.body if taken else stmt.orelse)

    def _mentions_op(self, stmt: ast.stmt) -> bool:
        return any(isinstance(node, ast.Name) and node.id in self.op_names for node in ast.walk(stmt))


def _compile_stmt(stmt: ast.stmt, filename: str, flags: int) -> Any:
    # Compiled under the script's own file name, so recorded calls find their line in it.
    return compile(ast.Module(body=[stmt], type_ignores=[]), filename, "exec", flags, dont_inherit=True)


def _future_flags(tree: ast.Module) -> int:
    flags = 0
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            for alias in stmt.names:
                feature = getattr(__future__, alias.name, None)
                flags |= getattr(feature, "compiler_flag", 0)
    return flags


def _op_aliases(tree: ast.Module) -> set[str]:
    """Names the script gave ``alembic.op`` (``op`` unless imported under another name)."""
    names = {"op"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "alembic":
            names.update(a.asname or a.name for a in node.names if a.name == "op")
        elif isinstance(node, ast.Import):
            names.update(a.asname for a in node.names if a.name == "alembic.op" and a.asname)
    return names


def _calls_method(expr: ast.expr, method: str) -> bool:
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == method


def _bound_names(stmt: ast.stmt) -> Iterator[str]:
    """Names a top-level statement defines.

    >>> list(_bound_names(ast.parse("from myproject.models import Order as O, User").body[0]))
    ['O', 'User']
    """
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            yield alias.asname or alias.name.split(".")[0]
    elif isinstance(stmt, ast.ImportFrom):
        yield from (alias.asname or alias.name for alias in stmt.names if alias.name != "*")
    elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield stmt.name
    elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            yield from (n.id for n in ast.walk(target) if isinstance(n, ast.Name))


def _loaded_names(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
