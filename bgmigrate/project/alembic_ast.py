"""``--alembic-mode static``: read a revision's ``op.*`` calls from its syntax tree, executing nothing.

No line of the revision runs: not its imports, not its helpers, not ``upgrade()``. Instead the
body of ``upgrade()`` is walked and each ``op.*`` call is evaluated by a small interpreter that
knows literals, names the module binds to literals or SQLAlchemy constructs, and calls into
SQLAlchemy's SQL-construction API (``sa.Column``, ``sa.String(20)``, ``sa.text``, the
PostgreSQL types, ``sa.func``). Everything else (the project's own models and enums, arithmetic,
f-strings) becomes a placeholder named after the expression, which still renders as a column
type. The operations are then rendered to SQL by Alembic offline, as in ``run`` mode.

What this cannot see is reported, never passed silently: SQL run through ``op.get_bind()``
(a connection), SQL built at run time, calls it cannot evaluate. Both branches of an ``if``
whose condition is not a literal are read, and a loop's body once.
"""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path
from types import ModuleType
from typing import Any

from bgmigrate.model.migration import Migration, Notice
from bgmigrate.project.alembic_offline import (
    _LOCK,
    RULE,
    AlembicInputError,
    _Location,
    _offline_operations,
    _parse,
    _quiet,
    _Recorder,
    _revision_ids,
    _Source,
    _summary,
)

CONNECTION = "not analysed: runs SQL through a connection (op.get_bind()); what it runs is not seen"
_SAFE_MODULES = ("sqlalchemy.sql.", "sqlalchemy.types", "sqlalchemy.dialects.postgresql")
_SAFE_BUILTINS = {"dict": dict, "list": list, "tuple": tuple, "set": set, "str": str, "int": int,
                  "float": float, "bool": bool, "True": True, "False": False, "None": None}  # fmt: skip
_MAX_HELPER_DEPTH = 4


def load_alembic_static(path: Path, text: str, shown: str | None = None) -> Migration:
    """A revision as a Migration, from its ``op.*`` calls read statically."""
    tree = _parse(path, text)
    upgrade = _upgrade(tree)
    if upgrade is None:
        raise AlembicInputError(path, 1, "not an Alembic revision: it defines no upgrade() function")
    source = _Source(path, text, tree)
    recorder = _Recorder(source)
    with _LOCK, _quiet(), _offline_operations(recorder) as operations:
        reader = _Reader(source, recorder, operations, _module_names(tree))
        with contextlib.suppress(_Return):
            reader.run(upgrade.body)
    revision, down_revisions = _revision_ids(tree, {})
    return Migration(
        path=shown or str(path),
        kind="alembic",
        statements=tuple(recorder.statements),
        implicit_transaction=True,
        revision=revision,
        down_revisions=down_revisions,
        notices=tuple(recorder.notices),
        file_suppressions=source.file_suppressions,
        text=text,
    )


def _upgrade(tree: ast.Module) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "upgrade":
            return node
    return None


# ---- values -------------------------------------------------------------------------------------


class Unknown:
    """A value the reader cannot know (the project's names, computed values)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def type_placeholder(self) -> Any:
        from bgmigrate.project.alembic_stepwise import Placeholder

        return Placeholder(self.label)


class _Op:
    """The ``alembic.op`` module as the script names it."""


class _Batch:
    """The object ``with op.batch_alter_table(...) as batch`` binds."""

    def __init__(self, real: Any) -> None:
        self.real = real


class _Connection:
    """What ``op.get_bind()`` returns: nothing it is asked is analysed."""


class _Helper:
    """A function the revision defines at module level (its body is read, not run)."""

    def __init__(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.node = node


class _Return(Exception):
    """A ``return`` in upgrade()."""


def _module_names(tree: ast.Module) -> dict[str, Any]:
    """What the module's top level binds, as far as it can be known without running it."""
    names: dict[str, Any] = dict(_SAFE_BUILTINS)
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                names[alias.asname or alias.name.split(".")[0]] = _imported(alias.name, alias.asname is None)
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = _imported(f"{stmt.module or ''}.{alias.name}", False)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            names[stmt.name] = _Helper(stmt)
    return names


def _imported(dotted: str, top_only: bool) -> Any:
    """An imported name: SQLAlchemy's modules and constructs as themselves, ``op`` as the op proxy."""
    import importlib

    if dotted == "alembic.op":
        return _Op()
    parts = dotted.split(".")
    if top_only and parts[0] == "alembic":
        return importlib.import_module("alembic")  # only its ``op`` is ever read
    if parts[0] != "sqlalchemy":
        return Unknown(dotted if not top_only else parts[0])

    if top_only:
        return importlib.import_module("sqlalchemy")
    with contextlib.suppress(ImportError):
        return importlib.import_module(dotted)  # a module: sqlalchemy.dialects.postgresql
    with contextlib.suppress(ImportError, AttributeError):
        owner = importlib.import_module(".".join(parts[:-1]))
        value = getattr(owner, parts[-1])
        if _safe(value):
            return value
    return Unknown(dotted)


def _safe(value: Any) -> bool:
    """Whether calling or reading ``value`` stays inside SQLAlchemy's SQL-construction API."""
    if isinstance(value, ModuleType):
        return value.__name__ in ("sqlalchemy", "sqlalchemy.dialects") or value.__name__.startswith(_SAFE_MODULES)
    module = getattr(value, "__module__", None)
    if not isinstance(module, str):
        module = type(value).__module__
    return module.startswith(_SAFE_MODULES)


# ---- the reader ---------------------------------------------------------------------------------


class _Reader:
    """Walks ``upgrade()``'s statements and evaluates their ``op.*`` calls."""

    def __init__(self, source: _Source, recorder: _Recorder, operations: Any, names: dict[str, Any]) -> None:
        self.source = source
        self.recorder = recorder
        self.operations = operations
        self.scopes: list[dict[str, Any]] = [names, {}]
        self.depth = 0
        self.connection_reported = False

    # statements

    def run(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            try:
                self._statement(stmt)
            except _Return:
                raise
            except Exception as exc:  # one unreadable statement costs only itself
                if self._mentions_op(stmt):
                    self._notice(stmt, f"could not read this statement statically ({_summary(exc)}); it was skipped")

    def _statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Return):
            raise _Return
        if isinstance(stmt, ast.Expr):
            self.eval(stmt.value)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            value = self.eval(stmt.value)
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                self._bind(target, value)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            self._with(stmt)
        elif isinstance(stmt, ast.If):
            self._if(stmt)
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            self._bind(stmt.target, Unknown("loop variable"))
            self.run(stmt.body)
        elif isinstance(stmt, ast.While):
            self.run(stmt.body)
        elif isinstance(stmt, ast.Try):
            self.run(stmt.body)
            self.run(stmt.finalbody)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            self.scopes[-1][stmt.name] = _Helper(stmt)

    def _bind(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.scopes[-1][target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._bind(element, Unknown("unpacked value"))

    def _if(self, stmt: ast.If) -> None:
        try:
            test = ast.literal_eval(stmt.test)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            self.run(stmt.body)  # undecidable without running: read both branches
            self.run(stmt.orelse)
            return
        self.run(stmt.body if test else stmt.orelse)

    def _with(self, stmt: ast.With | ast.AsyncWith) -> None:
        with contextlib.ExitStack() as stack:
            for item in stmt.items:
                value = self._context(item.context_expr, stack)
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, value)
            self.run(stmt.body)

    def _context(self, expr: ast.expr, stack: contextlib.ExitStack) -> Any:
        """Enter what a ``with`` names, when it is Alembic's (a batch, an autocommit block)."""
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            owner = self.eval(expr.func.value) if not _is_get_context(expr.func.value) else None
            if isinstance(owner, _Op) and expr.func.attr == "batch_alter_table":
                args, kwargs = self._arguments(expr)
                self.recorder.at = self._location(expr)
                manager = self.operations.batch_alter_table(*args, **kwargs)
                return _Batch(stack.enter_context(manager))
            if _is_get_context(expr.func.value) and expr.func.attr == "autocommit_block":
                stack.enter_context(self.recorder.autocommit_block())
                return None
        self.eval(expr)
        return Unknown("context")

    # expressions

    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            values = [self.eval(e) for e in node.elts]
            return (
                tuple(values) if isinstance(node, ast.Tuple) else values if isinstance(node, ast.List) else set(values)
            )
        if isinstance(node, ast.Dict):
            return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values, strict=True) if k is not None}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = self.eval(node.operand)
            return -operand if isinstance(operand, int | float) else Unknown("expression")
        return Unknown(ast.unparse(node)[:60])

    def _name(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return Unknown(name)

    def _attribute(self, node: ast.Attribute) -> Any:
        owner = self.eval(node.value)
        if node.attr.startswith("_"):
            return Unknown(node.attr)
        if isinstance(owner, Unknown):
            return Unknown(f"{owner.label}.{node.attr}")
        if isinstance(owner, _Op | _Batch | _Connection):
            return (owner, node.attr)  # a method, called right away
        if isinstance(owner, ModuleType) and owner.__name__ == "alembic" and node.attr == "op":
            return _Op()
        if _safe(owner):
            value = getattr(owner, node.attr, None)
            if value is not None and _safe(value):
                return value
        return Unknown(node.attr)

    def _call(self, node: ast.Call) -> Any:
        func = self.eval(node.func)
        if isinstance(func, tuple) and len(func) == 2 and isinstance(func[0], _Op | _Batch | _Connection):
            return self._method(node, func[0], func[1])
        if isinstance(func, _Helper):
            return self._helper(func)
        if isinstance(func, Unknown):
            self._arguments(node)  # an op call among the arguments still counts
            return func
        if callable(func) and (_safe(func) or func in _SAFE_BUILTINS.values()):
            args, kwargs = self._arguments(node, as_types=True)
            return func(*args, **kwargs)
        return Unknown(ast.unparse(node.func)[:60])

    def _arguments(self, node: ast.Call, as_types: bool = True) -> tuple[list[Any], dict[str, Any]]:
        args = [self._argument(a, as_types) for a in node.args if not isinstance(a, ast.Starred)]
        kwargs = {k.arg: self._argument(k.value, as_types) for k in node.keywords if k.arg is not None}
        return args, kwargs

    def _argument(self, node: ast.expr, as_types: bool) -> Any:
        value = self.eval(node)
        # An unknown value where SQLAlchemy expects a type renders as its name (``status OrderStatus``).
        return value.type_placeholder() if as_types and isinstance(value, Unknown) else value

    def _method(self, node: ast.Call, owner: Any, name: str) -> Any:
        if isinstance(owner, _Connection):
            self._report_connection(node)
            return Unknown("result")
        if isinstance(owner, _Op) and name == "get_bind":
            self._report_connection(node)
            return _Connection()
        if isinstance(owner, _Op) and name == "get_context":
            return Unknown("migration context")
        args, kwargs = self._arguments(node)
        if name == "execute" and not _plain_sql(args, kwargs):
            self._notice(node, "op.execute() with SQL built at run time: not analysed statically")
            return None
        target = self.operations if isinstance(owner, _Op) else owner.real
        method = getattr(target, name, None)
        if method is None or not callable(method):
            raise AttributeError(f"op.{name} is not an Alembic operation")
        self.recorder.at = self._location(node)
        try:
            return method(*args, **kwargs)
        finally:
            self.recorder.at = None

    def _helper(self, helper: _Helper) -> Any:
        """A call to a function of the revision: read its body in place (its parameters unknown)."""
        if self.depth >= _MAX_HELPER_DEPTH:
            return Unknown(helper.node.name)
        arguments = helper.node.args
        params = [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]
        self.scopes.append({p: Unknown(p) for p in params})
        self.depth += 1
        try:
            with contextlib.suppress(_Return):
                self.run(helper.node.body)
        finally:
            self.depth -= 1
            self.scopes.pop()
        return Unknown(helper.node.name)

    # reporting

    def _report_connection(self, node: ast.AST) -> None:
        if not self.connection_reported:
            self.connection_reported = True
            self._notice(node, CONNECTION)

    def _notice(self, node: ast.AST, message: str) -> None:
        where = self._location(node)
        self.recorder.notices.append(Notice(RULE, message, where.line, where.column, "warning"))

    def _location(self, node: ast.AST) -> _Location:
        line = getattr(node, "lineno", 1)
        end_line = getattr(node, "end_lineno", None) or line
        column = self.source.char_column(line, getattr(node, "col_offset", 0)) + 1
        end = getattr(node, "end_col_offset", None)
        end_column = self.source.char_column(end_line, end) if end is not None else column
        return _Location(line, column, end_line, max(end_column, 1))

    def _mentions_op(self, stmt: ast.stmt) -> bool:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(self._name(node.id), _Op | _Batch | _Connection | _Helper):
                return True
        return False


def _is_get_context(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "get_context"


def _plain_sql(args: list[Any], kwargs: dict[str, Any]) -> bool:
    """Whether ``op.execute`` was given SQL written out in the revision (a string or ``sa.text``)."""
    sql = args[0] if args else kwargs.get("sqltext")
    if isinstance(sql, str):
        return True
    from sqlalchemy.sql.elements import ClauseElement

    return isinstance(sql, ClauseElement)
