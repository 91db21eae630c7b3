"""Objects a migration drops and creates again: a replacement, not a removal.

``DROP VIEW v; CREATE VIEW v AS …`` (or a function, trigger, index, constraint) inside one
transaction never leaves the old version without the object; what matters is whether the new
shape still serves it (a function's argument types, an index's columns and uniqueness). The
migration's later statements are parsed once per migration and kept for the drops that ask.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bgmigrate.model import operations as ops
from bgmigrate.model.migration import Migration
from bgmigrate.sql.names import Name
from bgmigrate.sql.statements import Statement
from bgmigrate.sql.tokens import Cursor, SyntaxProblem, tokenize
from bgmigrate.sql.type_facts import normalize_type

_CACHE_SIZE = 4


@dataclass(frozen=True)
class _Later:
    """What a migration creates, indexed: every CREATE/ALTER operation with its statement position.

    Only statements that can create something (CREATE, ALTER, DO) are parsed again, once per
    migration, and looked up by name, so judging many drops stays linear.
    """

    migration: Migration
    operations: tuple[tuple[int, ops.Operation], ...]
    by_statement: dict[int, list[int]]  # position → indexes of its operations
    by_name: dict[tuple[str, tuple[str, str]], list[int]]  # (kind, name) → CreateObject indexes
    by_table: dict[tuple[str, str], list[int]]  # table → unique constraint / index additions


_cache: list[_Later] = []
_CREATING = ("CREATE", "ALTER", "DO")


def _later(entry: _Later, after: ops.Operation, candidates: list[int]) -> Iterator[ops.Operation]:
    """The candidates that come after ``after``: later in its statement, or in later statements."""
    position = _position(after.stmt)
    same = entry.by_statement.get(position, [])
    own = next((i for i in same if entry.operations[i][1] == after), None)
    for index in candidates:
        at = entry.operations[index][0]
        if at > position or (at == position and own is not None and index > own):
            yield entry.operations[index][1]


def _position(stmt: Statement) -> int:
    top = stmt
    while top.owner is not None:
        top = top.owner
    # Statements inside a DO block share their owner's line: order them by their own line too.
    return top.line * 1_000_000 + (stmt.line - top.line) * 1000 + stmt.column


def _operations(migration: Migration) -> _Later:
    for entry in _cache:
        if entry.migration is migration:
            return entry
    from bgmigrate.parse.parser import StatementSyntaxError, parse_statement

    found: list[tuple[int, ops.Operation]] = []
    for stmt in migration.statements:
        if stmt.parse_text.lstrip()[:6].upper().startswith(_CREATING):
            try:
                parsed = parse_statement(stmt)
            except (StatementSyntaxError, SyntaxProblem, RecursionError):
                continue
            found.extend((_position(op.stmt), op) for op in parsed)
    entry = _Later(migration, tuple(found), {}, {}, {})
    for index, (position, op) in enumerate(found):
        entry.by_statement.setdefault(position, []).append(index)
        if isinstance(op, ops.CreateObject):
            entry.by_name.setdefault((op.kind, op.name.key), []).append(index)
        elif isinstance(op, ops.AddConstraint | ops.CreateIndex):
            entry.by_table.setdefault(op.target.key, []).append(index)
    _cache.insert(0, entry)
    del _cache[_CACHE_SIZE:]
    return entry


def recreated_object(migration: Migration, drop: ops.DropObject) -> ops.CreateObject | None:
    """The later CREATE of the same kind and name (a trigger on the same table), if any."""
    entry = _operations(migration)
    for op in _later(entry, drop, entry.by_name.get((drop.kind, drop.name.key), [])):
        if isinstance(op, ops.CreateObject) and _same_table(drop.on_table, op.on_table):
            return op
    return None


def recreated_unique(
    migration: Migration, drop: ops.Operation, table: Name, name: str, columns: tuple[str, ...]
) -> bool:
    """Whether a later operation adds a unique constraint or index on ``table`` over the same columns."""
    entry = _operations(migration)
    for op in _later(entry, drop, entry.by_table.get(table.key, [])):
        if isinstance(op, ops.AddConstraint):
            spec = op.constraint
            unique, new_columns, new_name = spec.kind in ("unique", "primary_key"), spec.columns, spec.name
        elif isinstance(op, ops.CreateIndex):
            unique, new_columns, new_name = op.unique and not op.partial, op.columns, op.name
        else:
            continue
        if unique and _covers(new_columns, new_name, name, columns):
            return True
    return False


def recreated_under_name(migration: Migration, drop: ops.Operation, table: Name, name: str) -> tuple[str, ...] | None:
    """The columns of a later unique constraint or index on ``table`` under the dropped name."""
    entry = _operations(migration)
    for op in _later(entry, drop, entry.by_table.get(table.key, [])):
        if isinstance(op, ops.AddConstraint) and op.constraint.name == name:
            return op.constraint.columns if op.constraint.kind in ("unique", "primary_key") else None
        if isinstance(op, ops.CreateIndex) and op.name == name:
            return op.columns if op.unique and not op.partial else None
    return None


def _covers(new_columns: tuple[str, ...], new_name: str | None, old_name: str, old_columns: tuple[str, ...]) -> bool:
    if old_columns:
        return set(new_columns) == set(old_columns)
    return new_name == old_name  # the old columns are unknown: the same name is the best evidence


def _same(a: Name, b: Name) -> bool:
    return a.key == b.key


def _same_table(a: Name | None, b: Name | None) -> bool:
    return a is None or b is None or _same(a, b)


# ---- function signatures ------------------------------------------------------------------

_MODES = ("IN", "OUT", "INOUT", "VARIADIC")


def argument_types(stmt_text: str, name: Name) -> tuple[str, ...] | None:
    """The input argument types after ``name`` in a DROP/CREATE FUNCTION statement, or None if not written.

    >>> argument_types("CREATE FUNCTION f(a int, OUT b text, c varchar(5) DEFAULT 'x') RETURNS int", Name("f"))
    ('integer', 'character varying(5)')
    >>> argument_types("DROP FUNCTION f(integer, character varying(5))", Name("f"))
    ('integer', 'character varying(5)')
    """
    toks = tokenize(stmt_text)
    for i, tok in enumerate(toks):
        if tok.kind in ("word", "qident") and tok.ident == name.name and i + 1 < len(toks) and toks[i + 1].text == "(":
            cur = Cursor(stmt_text, toks, i + 1)
            try:
                inner = cur.skip_parens()
            except SyntaxProblem:
                return None
            return tuple(t for t in (_argument_type(a) for a in _split(inner)) if t is not None)
    return None


def _split(text: str) -> list[str]:
    cur = Cursor(text)
    return [cur.text_between(a, b) for a, b in cur.split_top_level()]


def _argument_type(text: str) -> str | None:
    words = Cursor(text)
    mode = words.accept_any(_MODES)
    if mode == "OUT":
        return None  # not part of the signature
    rest = Cursor(words.text_between(words.pos, words.stop))
    body = rest.until(("DEFAULT",), stop_ops="=")
    parts = body.split(None, 1)
    # "name type" or just "type": a known type as the first word means no argument name.
    if len(parts) == 2 and not _starts_type(parts[0], parts[1]):
        body = parts[1]
    return normalize_type(body.strip())


def _starts_type(first: str, rest: str) -> bool:
    two = f"{first} {rest.split()[0].split('(')[0]}".lower()
    return two in ("double precision", "character varying", "bit varying") or first.lower() in (
        "timestamp",
        "time",
        "interval",
        "national",
    )
