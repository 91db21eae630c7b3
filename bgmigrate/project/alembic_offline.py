"""Alembic revision scripts → a Migration: run ``upgrade()`` offline and record every ``op.*`` call.

Each operation is rendered to PostgreSQL by Alembic's own offline (``as_sql``) machinery and
becomes one or more Statements located at the ``op.`` call in the script. Nothing here touches
a database: ``op.get_bind()`` hands out a connection that records writes and stops the analysis
at the first read. When the script cannot even be imported, ``alembic_static`` reads its
``op.*`` calls one statement at a time instead.

alembic and SQLAlchemy are imported lazily so that merely importing this module stays cheap.
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import functools
import io
import itertools
import logging
import os
import re
import sys
import sysconfig
import threading
import tokenize
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from bgmigrate.model.migration import Migration, Notice
from bgmigrate.sql.statements import Statement, split_sql
from bgmigrate.sql.suppressions import Suppression, parse_suppressions

RULE = "unparsed-statement"
NOT_ANALYSED = "the rest of the migration was not analysed"
LIVE_DATABASE = f"upgrade() needs a live database from here (op.get_bind()); {NOT_ANALYSED}"

# Alembic's op proxy, sys.path and sys.modules are process-wide: one script at a time.
_LOCK = threading.RLock()

_REVISION_RE = re.compile(r"^revision\s*(?::[^=\n]*)?=", re.MULTILINE)
_UPGRADE_RE = re.compile(r"^(?:async\s+)?def\s+upgrade\s*\(", re.MULTILINE)
_QUOTE_RE = re.compile(r"([rRuU]?)('''|\"\"\"|'|\")")


class AlembicInputError(Exception):
    """The file cannot be read as an Alembic revision at all (not Python, no ``upgrade()``)."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


class _NeedsDatabase(Exception):
    """Raised by the offline connection where a real database would have to answer."""


def is_alembic_revision(text: str) -> bool:
    """Whether source text looks like an Alembic revision: it sets ``revision`` and defines ``upgrade()``.

    >>> is_alembic_revision('revision: str = "ab12"\\n\\ndef upgrade() -> None:\\n    pass\\n')
    True
    >>> is_alembic_revision("def upgrade():\\n    pass\\n")
    False
    """
    return bool(_REVISION_RE.search(text) and _UPGRADE_RE.search(text))


def load_alembic(path: Path, *, search_paths: Sequence[Path] = (), text: str | None = None) -> Migration:
    """Read one Alembic revision script into a Migration (runs its ``upgrade()`` offline).

    ``text``: the script's content when the caller read it already (then it is what is analysed).
    """
    text = _read(path) if text is None else text
    tree = _parse(path, text)
    if not any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "upgrade" for node in tree.body
    ):
        raise AlembicInputError(path, 1, "not an Alembic revision: it defines no upgrade() function")
    source = _Source(path, text, tree)
    with _LOCK, _quiet(), _import_paths(path, search_paths):
        statements, notices, namespace = _analyse(source)
    revision, down_revisions = _revision_ids(tree, namespace)
    return Migration(
        path=str(path),
        kind="alembic",
        statements=tuple(statements),
        implicit_transaction=True,
        revision=revision,
        down_revisions=down_revisions,
        notices=tuple(notices),
        file_suppressions=source.file_suppressions,
        text=text,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AlembicInputError(path, 1, f"cannot read the file ({exc})") from exc


def _parse(path: Path, text: str) -> ast.Module:
    try:
        return ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise AlembicInputError(path, exc.lineno or 1, f"not valid Python: {exc.msg}") from exc


# --- the script's text --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Location:
    """Where an expression stands in the script; columns are 1-based characters, end inclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


class _Source:
    """The script's text and syntax tree, with its suppression comments indexed by line."""

    def __init__(self, path: Path, text: str, tree: ast.Module) -> None:
        self.path = path
        self.filename = str(path.resolve())
        self.text = text
        self.tree = tree
        self.lines = re.split(r"\r\n|\r|\n", text)
        self.by_line, self.comment_lines, self.file_suppressions = _index_comments(text)
        self._calls: dict[tuple[int, int], ast.Call] | None = None

    def char_column(self, line: int, byte_column: int) -> int:
        """0-based character column of a 0-based UTF-8 byte column (what code positions count)."""
        if not 1 <= line <= len(self.lines):
            return byte_column
        return len(self.lines[line - 1].encode()[:byte_column].decode("utf-8", errors="ignore"))

    def location(self, code: types.CodeType, lasti: int, fallback_line: int) -> _Location:
        """The span of the expression a frame is executing (the whole call, for a call)."""
        positions = next(itertools.islice(code.co_positions(), max(lasti, 0) // 2, None), None)
        if positions is None or positions[0] is None:
            return _Location(fallback_line, 1, fallback_line, 1)
        line, end_line, col, end_col = positions
        line = line or fallback_line
        end_line = end_line or line
        column = self.char_column(line, col) + 1 if col is not None else 1
        end_column = self.char_column(end_line, end_col) if end_col is not None else column
        return _Location(line, column, end_line, max(end_column, 1))

    def frame_location(self, frame: types.FrameType | None) -> _Location | None:
        """Location of the innermost frame (from ``frame`` outwards) that runs this script's code."""
        while frame is not None and frame.f_code.co_filename != self.filename:
            frame = frame.f_back
        if frame is None:
            return None
        return self.location(frame.f_code, frame.f_lasti, frame.f_lineno)

    def traceback_location(self, exc: BaseException) -> _Location | None:
        """Location of the innermost traceback entry inside this script."""
        found: _Location | None = None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self.filename:
                found = self.location(tb.tb_frame.f_code, tb.tb_lasti, tb.tb_lineno)
            tb = tb.tb_next
        if found is None and isinstance(exc, SyntaxError) and exc.filename == self.filename:
            found = _Location(exc.lineno or 1, exc.offset or 1, exc.lineno or 1, exc.offset or 1)
        return found

    def suppressions_for(self, where: _Location) -> tuple[Suppression, ...]:
        """Suppressions on the lines of a call and on the comment lines directly above it."""
        found: list[Suppression] = []
        for line in range(where.line, where.end_line + 1):
            found.extend(self.by_line.get(line, ()))
        above = where.line - 1
        while above in self.comment_lines:
            found[:0] = self.by_line.get(above, ())
            above -= 1
        return tuple(s for s in found if not s.file_level)

    def call_at(self, where: _Location) -> ast.Call | None:
        """The call expression that starts at a location."""
        if self._calls is None:
            self._calls = {}
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Call):
                    key = (node.lineno, self.char_column(node.lineno, node.col_offset) + 1)
                    self._calls.setdefault(key, node)
        return self._calls.get((where.line, where.column))

    def literal_anchor(self, where: _Location, value: str) -> tuple[int, int] | None:
        """(line, column) where the SQL string literal of the call at ``where`` starts its text.

        Only when the literal maps character for character onto the source (no escapes, no
        implicit concatenation), so positions inside the SQL can be moved onto the script.
        """
        call = self.call_at(where)
        literal = _sql_literal(call) if call is not None else None
        if literal is None or literal.value != value:
            return None
        segment = ast.get_source_segment(self.text, literal) or ""
        match = _QUOTE_RE.match(segment)
        if match is None:
            return None
        opening = len(match.group(0))
        if segment[opening : len(segment) - len(match.group(2))] != value:
            return None
        return literal.lineno, self.char_column(literal.lineno, literal.col_offset) + opening + 1


def _sql_literal(call: ast.Call) -> ast.Constant | None:
    """The string literal a call passes as its SQL: ``f("...")`` or ``f(sa.text("..."))``."""
    arg: ast.expr | None = call.args[0] if call.args else None
    if arg is None:
        arg = next((k.value for k in call.keywords if k.arg in ("sqltext", "statement")), None)
    if isinstance(arg, ast.Call) and arg.args and _called_name(arg) == "text":
        arg = arg.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg
    return None


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _index_comments(text: str) -> tuple[dict[int, list[Suppression]], set[int], tuple[Suppression, ...]]:
    """Suppressions by line, the lines holding only a comment, and the file-level suppressions."""
    by_line: dict[int, list[Suppression]] = {}
    comment_lines: set[int] = set()
    file_level: list[Suppression] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type != tokenize.COMMENT:
                continue
            line = token.start[0]
            if not token.line[: token.start[1]].strip():
                comment_lines.add(line)
            for suppression in parse_suppressions(token.string, line):
                by_line.setdefault(line, []).append(suppression)
                if suppression.file_level:
                    file_level.append(suppression)
    except (tokenize.TokenError, SyntaxError):
        pass  # the text already parsed; a tokenizer hiccup only costs suppressions after it
    return by_line, comment_lines, tuple(file_level)


def _revision_ids(tree: ast.Module, namespace: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """``revision`` and ``down_revision`` as literals from the source, else from the executed module."""
    values: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                with contextlib.suppress(ValueError, TypeError, SyntaxError):
                    values[target.id] = ast.literal_eval(value)
    for name in ("revision", "down_revision"):
        if name not in values and name in namespace:
            values[name] = namespace[name]
    revision = values.get("revision")
    return (revision if isinstance(revision, str) else None), _as_revisions(values.get("down_revision"))


def _as_revisions(value: Any) -> tuple[str, ...]:
    """``down_revision`` as a tuple: None → (), "a" → ("a",), ("a", "b") stays.

    >>> _as_revisions(None), _as_revisions("a1"), _as_revisions(["a1", "b2"])
    ((), ('a1',), ('a1', 'b2'))
    """
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(v for v in value if isinstance(v, str))
    return ()


# --- recording operations ------------------------------------------------------------------------


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _op_name(operation: Any) -> str:
    """The ``op.`` method an operation object stands for: ``AddColumnOp`` → ``add_column``.

    >>> class CreateForeignKeyOp: ...
    >>> _op_name(CreateForeignKeyOp())
    'create_foreign_key'
    """
    name = type(operation).__name__
    if name == "ExecuteSQLOp":
        return "execute"
    name = name.removesuffix("Op")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _Recorder:
    """Receives every operation the script invokes and turns the SQL it renders into Statements."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.buffer = io.StringIO()
        self.statements: list[Statement] = []
        self.notices: list[Notice] = []
        self.get_bind_called = False
        self._depth = 0
        self._autocommit = 0
        self._batch_suppressions: list[tuple[Suppression, ...]] = []
        self._invoke_main: Callable[[Any], Any] = lambda operation: None
        self._impl: Any = None
        self.dialect: Any = None
        # Where the operation being recorded was written, when no frame of the script runs it
        # (the static reader, which executes nothing of the script).
        self.at: _Location | None = None

    def attach(self, operations: Any, context: Any) -> None:
        """Install the recording hooks on one Operations instance and its MigrationContext."""
        original_invoke = operations.invoke
        original_batch = operations.batch_alter_table

        def invoke(operation: Any) -> Any:
            return self.invoke(original_invoke, operation)

        self._invoke_main = invoke
        self._impl = context.impl
        self.dialect = context.dialect
        # Instance attributes: the module-level op proxy looks methods up on the instance.
        operations.invoke = invoke
        operations.batch_alter_table = functools.partial(self.batch_alter_table, original_batch)
        operations.get_bind = self.connection
        # Replaces Alembic's block, which in as_sql mode would print COMMIT / BEGIN around it.
        context.autocommit_block = self.autocommit_block

    def caller(self) -> _Location:
        if self.at is not None:
            return self.at
        return self.source.frame_location(sys._getframe(1)) or _Location(1, 1, 1, 1)

    def invoke(self, original: Callable[[Any], Any], operation: Any) -> Any:
        """Record one operation object, rendered, at the line of the script that asked for it."""
        origin = f"op.{_op_name(operation)}"
        where = self.caller()
        if self._depth == 0 and type(operation).__name__ == "ExecuteSQLOp":
            raw = _raw_sql(operation.sqltext)
            if raw is not None:
                self.add_raw_sql(origin, where, raw)
                return None
        return self.capture(origin, where, lambda: original(operation))

    def capture(self, origin: str, where: _Location, render: Callable[[], Any]) -> Any:
        """Run ``render`` and keep what it wrote to the SQL buffer as statements of ``where``."""
        if self._depth:
            return render()  # an operation inside an operation belongs to the outer call
        start = len(self.buffer.getvalue())
        self._depth += 1
        try:
            result = render()
        except _NeedsDatabase:
            raise
        except Exception as exc:
            self.notices.append(
                Notice(
                    RULE,
                    f"could not render {origin}() offline ({_summary(exc)}); this operation was not analysed",
                    where.line,
                    where.column,
                    "warning",
                )
            )
            result = None
        finally:
            self._depth -= 1
        rendered = self.buffer.getvalue()[start:]
        for piece in split_sql(rendered):
            self.statements.append(self._statement(piece, origin, where, where))
        return result

    def add_raw_sql(self, origin: str, where: _Location, raw: str) -> None:
        """SQL the script wrote itself: split it and place each piece on the script's lines if possible."""
        anchor = self.source.literal_anchor(where, raw)
        for piece in split_sql(raw):
            if anchor is None:
                self.statements.append(self._statement(piece, origin, where, where))
                continue
            line, column = anchor
            start = _shift(line, column, piece.line, piece.column)
            end = _shift(line, column, piece.end_line, piece.end_column)
            span = _Location(start[0], start[1], end[0], end[1])
            self.statements.append(self._statement(piece, origin, where, span, line - 1))

    def _statement(
        self, piece: Statement, origin: str, call: _Location, span: _Location, line_offset: int | None = None
    ) -> Statement:
        own = tuple(
            replace(s, line=call.line if line_offset is None else s.line + line_offset) for s in piece.suppressions
        )
        suppressions = self.source.suppressions_for(call) + tuple(
            s for batch in self._batch_suppressions for s in batch
        )
        return replace(
            piece,
            line=span.line,
            column=span.column,
            end_line=span.end_line,
            end_column=span.end_column,
            suppressions=suppressions + own,
            origin=origin,
            in_autocommit_block=self._autocommit > 0,
        )

    @contextlib.contextmanager
    def autocommit_block(self) -> Iterator[None]:
        """Stand-in for ``MigrationContext.autocommit_block``: marks what runs inside it."""
        self._autocommit += 1
        try:
            yield
        finally:
            self._autocommit -= 1

    @contextlib.contextmanager
    def batch_alter_table(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        """``op.batch_alter_table``: on PostgreSQL each batch op is a plain ALTER, emitted where written."""
        where = self.caller()
        recreate = kwargs.get("recreate", args[2] if len(args) > 2 else "auto")
        self._batch_suppressions.append(self.source.suppressions_for(where))
        try:
            if recreate == "always":
                with self._rebuilding_batch(original, where, args, kwargs) as batch_op:
                    yield batch_op
            else:
                with original(*args, **kwargs) as batch_op:
                    # Alembic would queue the ops and flush them at the end of the block; PostgreSQL
                    # never needs the table rebuilt, so sending each op straight on keeps its line.
                    batch_op.invoke = self._invoke_main
                    yield batch_op
        finally:
            self._batch_suppressions.pop()

    @contextlib.contextmanager
    def _rebuilding_batch(
        self, original: Callable[..., Any], where: _Location, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[Any]:
        """``recreate="always"``: the copy-and-move SQL only exists at the end of the block."""
        manager = original(*args, **kwargs)
        batch_op = manager.__enter__()
        try:
            yield batch_op
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            self.capture("op.batch_alter_table", where, lambda: manager.__exit__(None, None, None))

    def connection(self) -> _OfflineConnection:
        """``op.get_bind()``: a connection that records writes and refuses reads."""
        self.get_bind_called = True
        return _OfflineConnection(self)

    def connection_sql(self, statement: Any, parameters: Any) -> None:
        """SQL sent through ``op.get_bind().execute(...)``."""
        where = self.caller()
        origin = "connection.execute"
        raw = statement if isinstance(statement, str) else None if parameters else _raw_sql(statement)
        if raw is not None:
            self.add_raw_sql(origin, where, raw)
            return
        param_sets = parameters if isinstance(parameters, list | tuple) else [parameters]
        for params in param_sets:
            self.capture(origin, where, functools.partial(self._execute, statement, params))

    def _execute(self, statement: Any, params: Any) -> None:
        self._impl._exec(_bind(statement, params))

    def stopped_notice(self, exc: BaseException) -> Notice:
        """The notice for an ``upgrade()`` that raised before its end."""
        where = self.source.traceback_location(exc) or _Location(1, 1, 1, 1)
        if self._needs_database(exc):
            message = LIVE_DATABASE
        else:
            message = f"upgrade() stopped here offline ({_summary(exc)}); {NOT_ANALYSED}"
        return Notice(RULE, message, where.line, where.column, "warning")

    def _needs_database(self, exc: BaseException) -> bool:
        if isinstance(exc, _NeedsDatabase):
            return True
        from sqlalchemy.exc import NoInspectionAvailable

        # sa.inspect(op.get_bind()) is the other way scripts ask the database questions.
        return self.get_bind_called and isinstance(exc, NoInspectionAvailable)


def _shift(line: int, column: int, piece_line: int, piece_column: int) -> tuple[int, int]:
    """Move a position inside a string literal onto the script (the literal's text starts at line/column)."""
    if piece_line == 1:
        return line, column + piece_column - 1
    return line + piece_line - 1, piece_column


def _raw_sql(sqltext: Any) -> str | None:
    """SQL the script wrote as text: a str, or ``sa.text()`` without bound values."""
    if isinstance(sqltext, str):
        return sqltext
    from sqlalchemy.sql.elements import TextClause

    # Parameters without values stay ":name" placeholders; rendering them as literals would say NULL.
    if isinstance(sqltext, TextClause) and all(
        bind.value is None and bind.callable is None for bind in sqltext._bindparams.values()
    ):
        return sqltext.text
    return None


def _bind(statement: Any, params: Any) -> Any:
    """Give ``connection.execute(text, {...})`` parameters to the text so it renders with literals."""
    from sqlalchemy.sql.elements import TextClause

    if isinstance(statement, str):
        from sqlalchemy import text

        statement = text(statement)
    if isinstance(statement, TextClause) and isinstance(params, dict) and params:
        return statement.bindparams(**params)
    return statement


class _OfflineResult:
    """The result of an offline ``connection.execute()``: any use of it needs the database."""

    def __getattr__(self, name: str) -> NoReturn:
        raise _NeedsDatabase(f"result.{name}")

    def __iter__(self) -> NoReturn:
        raise _NeedsDatabase("iterating a result")


class _OfflineConnection:
    """What ``op.get_bind()`` returns here: its dialect is real, its data is not."""

    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder

    @property
    def dialect(self) -> Any:
        return self._recorder.dialect

    @property
    def engine(self) -> _OfflineConnection:
        return self

    def execute(self, statement: Any, parameters: Any = None, execution_options: Any = None) -> _OfflineResult:
        self._recorder.connection_sql(statement, parameters)
        return _OfflineResult()

    def exec_driver_sql(self, statement: str, parameters: Any = None, execution_options: Any = None) -> _OfflineResult:
        self._recorder.connection_sql(statement, None)
        return _OfflineResult()

    def execution_options(self, **options: Any) -> _OfflineConnection:
        return self

    def begin(self) -> contextlib.nullcontext[_OfflineConnection]:
        return contextlib.nullcontext(self)

    def begin_nested(self) -> contextlib.nullcontext[_OfflineConnection]:
        return contextlib.nullcontext(self)

    def __getattr__(self, name: str) -> NoReturn:
        raise _NeedsDatabase(f"connection.{name}")


# --- running the script --------------------------------------------------------------------------


def _analyse(source: _Source) -> tuple[list[Statement], list[Notice], dict[str, Any]]:
    """Import the script and run its upgrade() offline; fall back to the static reader if it cannot import."""
    recorder = _Recorder(source)
    module_name = f"_bgmigrate_revision_{abs(hash(source.filename)):x}"
    try:
        try:
            namespace = _exec_module(source, module_name)
        except (Exception, SystemExit) as exc:
            notice = _import_failure_notice(source, exc)
            with _offline_operations(recorder):
                _run_static(source, recorder, module_name)
            return recorder.statements, [notice, *recorder.notices], {}
        upgrade = namespace.get("upgrade")
        with _offline_operations(recorder):
            try:
                if not callable(upgrade):
                    raise TypeError("upgrade is not a function")
                upgrade()
            except (Exception, SystemExit) as exc:
                recorder.notices.append(recorder.stopped_notice(exc))
        return recorder.statements, recorder.notices, namespace
    finally:
        sys.modules.pop(module_name, None)


def _exec_module(source: _Source, module_name: str) -> dict[str, Any]:
    """Execute the script as a module (its imports and definitions; upgrade() is not called)."""
    module = types.ModuleType(module_name)
    module.__file__ = source.filename
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    exec(compile(source.tree, source.filename, "exec", dont_inherit=True), module.__dict__)
    return module.__dict__


def _import_failure_notice(source: _Source, exc: BaseException) -> Notice:
    where = source.traceback_location(exc) or _Location(1, 1, 1, 1)
    message = f"could not run upgrade() ({_summary(exc)}); analysed its op.* calls statically, analysis is partial"
    return Notice(RULE, message, where.line, where.column, "warning")


def _run_static(source: _Source, recorder: _Recorder, module_name: str) -> None:
    from bgmigrate.project import alembic_stepwise as alembic_static

    def on_failure(stmt: ast.stmt, exc: BaseException, mentions_op: bool) -> bool:
        if recorder._needs_database(exc):
            recorder.notices.append(recorder.stopped_notice(exc))
            return False
        if mentions_op:
            where = source.traceback_location(exc) or _Location(stmt.lineno, stmt.col_offset + 1, stmt.lineno, 1)
            message = f"could not analyse this statement statically ({_summary(exc)}); it was skipped"
            recorder.notices.append(Notice(RULE, message, where.line, where.column, "warning"))
        return True

    alembic_static.run_statically(source.tree, source.filename, module_name, on_failure)


@functools.cache
def _dialect_class() -> type[Any]:
    """A PostgreSQL dialect for offline rendering that can write literals of untyped values.

    ``sa.table("t", sa.column("x"))`` columns have no type, and the stock compiler refuses to
    render their values as literals; guessing the type from the Python value is enough here.
    """
    from sqlalchemy.dialects.postgresql.base import PGCompiler, PGDialect
    from sqlalchemy.sql import sqltypes

    class OfflineCompiler(PGCompiler):
        def render_literal_value(self, value: Any, type_: Any) -> str:
            if value is not None and getattr(type_, "_isnull", False):
                type_ = sqltypes._resolve_value_to_type(value)
            rendered: str = super().render_literal_value(value, type_)  # type: ignore[no-untyped-call]
            return rendered

    class OfflineDialect(PGDialect):
        statement_compiler = OfflineCompiler

    return OfflineDialect


@contextlib.contextmanager
def _offline_operations(recorder: _Recorder) -> Iterator[Any]:
    """An offline PostgreSQL MigrationContext whose ``alembic.op`` records into ``recorder``."""
    from alembic import context as context_module
    from alembic import op as op_module
    from alembic.config import Config
    from alembic.operations import Operations
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext

    # "named" parameters: no %-doubling in rendered text, and unbound parameters stay readable.
    dialect = _dialect_class()(paramstyle="named")
    opts = {
        "as_sql": True,
        "output_buffer": recorder.buffer,
        "literal_binds": True,
        "transactional_ddl": True,
    }
    context = MigrationContext.configure(dialect=dialect, opts=opts)
    operations = Operations(context)
    recorder.attach(operations, context)
    # Some scripts ask ``alembic.context`` whether they run offline. They are told no: the branch
    # production takes (online) is the one worth linting, and a database question still stops it.
    environment = EnvironmentContext(Config(), None, as_sql=False)
    environment._migration_context = context
    environment.get_bind = recorder.connection
    with _proxy_installed(op_module, operations), _proxy_installed(context_module, environment):
        yield operations


@contextlib.contextmanager
def _proxy_installed(module: types.ModuleType, target: Any) -> Iterator[None]:
    """Point one of alembic's proxy modules at ``target``, then put back whatever was there."""
    previous = getattr(module, "_proxy", None)
    target._install_proxy()
    try:
        yield
    finally:
        target._remove_proxy()
        if previous is not None:
            previous._install_proxy()


# --- the process around the script ---------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep the script, alembic and SQLAlchemy from printing, logging or warning."""
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _import_paths(path: Path, search_paths: Sequence[Path]) -> Iterator[None]:
    """Let the script import its project; afterwards forget the path entries and the project's modules."""
    # Import these before the project's directories go first on sys.path, so they cannot be shadowed.
    import alembic.operations  # noqa: F401
    import sqlalchemy  # noqa: F401

    added = _script_paths(path, search_paths)
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    saved_bytecode = sys.dont_write_bytecode
    sys.path[:0] = [str(p) for p in added if str(p) not in sys.path]
    sys.dont_write_bytecode = True  # a linter leaves no __pycache__ in the project it reads
    try:
        yield
    finally:
        sys.dont_write_bytecode = saved_bytecode
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if _from_project(name, sys.modules.get(name), added):
                del sys.modules[name]


def _script_paths(path: Path, search_paths: Sequence[Path]) -> list[Path]:
    """Directories the script may import from, most specific first."""
    script_dir = path.resolve().parent
    ini = _find_alembic_ini(script_dir)
    dirs: list[Path] = [Path(p).resolve() for p in search_paths]
    if ini is not None:
        dirs.extend(_prepend_sys_path(ini))
        dirs.extend(d for d in [script_dir, *script_dir.parents] if d == ini.parent or ini.parent in d.parents)
    else:
        dirs.append(script_dir)
    dirs.append(Path.cwd().resolve())
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _find_alembic_ini(start: Path) -> Path | None:
    for directory in [start, *start.parents]:
        candidate = directory / "alembic.ini"
        if candidate.is_file():
            return candidate
    return None


def _prepend_sys_path(ini: Path) -> list[Path]:
    """``prepend_sys_path`` of an alembic.ini, relative to the ini's directory."""
    here = ini.parent
    parser = configparser.ConfigParser(defaults={"here": str(here)})
    try:
        parser.read(ini, encoding="utf-8")
        value = parser.get("alembic", "prepend_sys_path", fallback="") or ""
    except (configparser.Error, OSError, UnicodeDecodeError):
        return []
    entries = value.split(os.pathsep) if os.pathsep in value else re.split(r"[,\s]+", value)
    return [(here / entry.strip()).resolve() for entry in entries if entry.strip()]


@functools.cache
def _installed_roots() -> tuple[Path, ...]:
    """Where the interpreter's own and installed packages live (never the project's)."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    roots.update(Path(p) for key in ("stdlib", "platstdlib", "purelib", "platlib") if (p := sysconfig.get_path(key)))
    return tuple(r.resolve() for r in roots)


def _from_project(name: str, module: types.ModuleType | None, added: Sequence[Path]) -> bool:
    """Whether a module imported while the script ran came from the project's own directories."""
    if module is None or name == "bgmigrate" or name.startswith("bgmigrate."):
        return False
    location = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", []) or []), None)
    if not isinstance(location, str):
        return False
    file = Path(location).resolve()
    if any(root == file or root in file.parents for root in _installed_roots()):
        return False
    return any(d in file.parents for d in added)
