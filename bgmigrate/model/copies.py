"""One-shot copies of data the migration then drops: a column moved, split or merged.

``INSERT INTO profiles SELECT id, bio FROM users; ALTER TABLE users DROP COLUMN bio`` and
``UPDATE people SET first_name = split_part(name, ' ', 1); ALTER TABLE people DROP COLUMN
name`` copy a column's values once and then remove the column. Under blue-green the old
version keeps writing the dropped column until it is retired, so every write after the copy
is lost; and the new version writes only the copy, which the old version never reads. Lint
(``move-column``) and the planner both find these pairs here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from bgmigrate.model import operations as ops
from bgmigrate.sql.names import Name, fold_ascii
from bgmigrate.sql.tokens import Tok, tokenize

_COPIES = (ops.InsertRows, ops.UpdateRows, ops.CreateTable)
_SOURCE_WORDS = ("FROM", "JOIN")


@dataclass(frozen=True)
class OneShotCopy:
    """``copy`` reads ``column`` of ``source`` into ``into``; ``drop`` (later) drops that column."""

    copy: ops.Operation
    drop: ops.DropColumn
    source: Name
    column: str
    into: Name

    @property
    def within_table(self) -> bool:
        """A split or merge inside one table (``UPDATE t SET a = f(c)``), not a move to another table."""
        return self.into.key == self.source.key


def _name_at(toks: list[Tok], i: int) -> tuple[Name | None, int]:
    """A possibly schema-qualified name starting at ``toks[i]``."""
    if i >= len(toks) or toks[i].kind not in ("word", "qident"):
        return None, i
    parts = [toks[i].ident]
    i += 1
    while i + 1 < len(toks) and toks[i].text == "." and toks[i + 1].kind in ("word", "qident"):
        parts.append(toks[i + 1].ident)
        i += 2
    return (Name(parts[-1], parts[-2]) if len(parts) > 1 else Name(parts[0])), i


def read_tables(op: ops.Operation, toks: list[Tok] | None = None) -> list[Name]:
    """Tables a data statement reads rows from: after FROM and JOIN, and an UPDATE's own table.
    ``toks``: the statement's text tokenized already.

    >>> from bgmigrate.plan.testing import op_of
    >>> [str(n) for n in read_tables(op_of("INSERT INTO p (a) SELECT u.a FROM s.users u JOIN t ON true"))]
    ['s.users', 't']
    """
    if toks is None:
        toks = tokenize(op.stmt.text)
    found: list[Name] = [op.target] if isinstance(op, ops.UpdateRows) else []
    for i, tok in enumerate(toks):
        if tok.upper in _SOURCE_WORDS:
            name, _ = _name_at(toks, i + 1)
            if name is not None and name.key not in {n.key for n in found}:
                found.append(name)
    return found


def _target(op: ops.Operation) -> Name | None:
    if isinstance(op, ops.InsertRows | ops.UpdateRows | ops.CreateTable):
        return op.target
    return None


def _read_columns(op: ops.Operation, toks: list[Tok]) -> set[str]:
    """The names a statement mentions, less those only assigned by the UPDATE's SET."""
    found: set[str] = set()
    for i, tok in enumerate(toks):
        if tok.kind in ("word", "qident"):
            assigned = isinstance(op, ops.UpdateRows) and i + 1 < len(toks) and toks[i + 1].text == "="
            before = toks[i - 1].upper if i else ""
            if not (assigned and before in ("SET", ",")):
                found.add(tok.ident)
    return found


def one_shot_copies(
    operations: Sequence[ops.Operation],
    existing: Callable[[int, Name], bool],
    added_here: Callable[[int, Name, str], bool],
) -> Iterator[OneShotCopy]:
    """Each (copy, later drop of a column it reads) pair on tables that serve traffic.

    ``existing(i, table)``: the table serves traffic at operation ``i`` (not created in this
    migration); ``added_here(i, table, column)``: the column was added earlier in it.

    >>> from bgmigrate.plan.testing import operations_of
    >>> found = list(one_shot_copies(operations_of(
    ...     "CREATE TABLE p (id int, bio text); INSERT INTO p SELECT id, bio FROM users;"
    ...     "ALTER TABLE users DROP COLUMN bio;"), lambda i, t: t.name == "users", lambda i, t, c: False))
    >>> [(f.copy.stmt.line, str(f.source), f.column, str(f.into)) for f in found]
    [(1, 'users', 'bio', 'p')]
    """
    # Each statement is read once and indexed by (table, column) it reads, and renames by the
    # name they give: a drop looks up its candidates instead of rereading every earlier
    # statement (2,000 drops were 2 million reads).
    dropped = {op.column for op in operations if isinstance(op, ops.DropColumn)}
    if not dropped:
        return
    reads: dict[tuple[str, str], list[tuple[int, ops.Operation, Name]]] = {}
    renames = _renames_by_name(operations)
    # Copies are read only when a drop comes after them: a file's data changes mostly follow its
    # DROP COLUMNs, and reading every INSERT and UPDATE was half of this rule's time.
    pending: list[int] = []
    for j, op in enumerate(operations):
        if isinstance(op, ops.DropColumn):
            _index_reads(operations, pending, reads, dropped)
            yield from _copies_dropped(j, op, reads, renames, existing, added_here)
        elif _is_copy(op):
            pending.append(j)


# With a handful of dropped columns, a copy whose text names none of them is not read at all;
# with more, checking each copy against each name would grow as their product: all are read.
_FEW_DROPS = 8


def _index_reads(
    operations: Sequence[ops.Operation],
    pending: list[int],
    reads: dict[tuple[str, str], list[tuple[int, ops.Operation, Name]]],
    dropped: set[str],
) -> None:
    """Index the pending copies (in order) by the (table, column) they read; none stay pending."""
    few = len(dropped) <= _FEW_DROPS
    for j in pending:
        op = operations[j]
        if few and not may_name_any(op.stmt.text, dropped):
            continue
        for key, source in _read_keys(op):
            reads.setdefault(key, []).append((j, op, source))
    pending.clear()


def may_name_any(text: str, columns: set[str]) -> bool:
    """Whether ``text`` may name one of ``columns`` (False only when it surely names none).

    A name as the server folds it (ASCII letters to lower case, the rest as written) appears in
    the text as written, or in the text with its ASCII letters lowered. Not so for ``U&"…"``
    escapes or a quoted name holding a doubled quote: then the answer is yes.

    >>> may_name_any('UPDATE t SET "Note" = 1', {"Note"}), may_name_any("UPDATE T SET NOTE = 1", {"note"})
    (True, True)
    >>> may_name_any("UPDATE t SET a = 1 WHERE id < 9", {"note", "É"})
    False
    """
    if "&" in text or any('"' in column for column in columns):
        return True
    folded = fold_ascii(text)
    return any(column in folded or column in text for column in columns)


def _is_copy(op: ops.Operation) -> bool:
    if not isinstance(op, _COPIES) or _target(op) is None:
        return False
    return not (isinstance(op, ops.CreateTable) and not op.as_select)


def _read_keys(op: ops.Operation) -> Iterator[tuple[tuple[str, str], Name]]:
    """(table name, column) for every source table and every column the copy reads."""
    if isinstance(op, ops.InsertRows) and not _may_name_a_source(op.stmt.text):
        return  # INSERT … VALUES reads no table: not worth tokenizing (seed files hold hundreds)
    toks = tokenize(op.stmt.text)  # once for both readers
    columns = _read_columns(op, toks)
    for source in read_tables(op, toks):
        for column in columns:
            yield (source.name, column), source


def _may_name_a_source(text: str) -> bool:
    """Whether a token of ``text`` may be FROM or JOIN (``read_tables``'s test): a token's upper
    case is a piece of the whole text's, as ``str.upper`` maps each character on its own.

    >>> _may_name_a_source("INSERT INTO t VALUES (1)"), _may_name_a_source("insert into t select * from u")
    (False, True)
    """
    upper = text.upper()
    return any(word in upper for word in _SOURCE_WORDS)


def _copies_dropped(
    j: int,
    drop: ops.DropColumn,
    reads: dict[tuple[str, str], list[tuple[int, ops.Operation, Name]]],
    renames: dict[tuple[str, str], list[tuple[int, Name]]],
    existing: Callable[[int, Name], bool],
    added_here: Callable[[int, Name, str], bool],
) -> Iterator[OneShotCopy]:
    """The earlier copies that read the column ``drop`` (operation ``j``) removes."""
    candidates = reads.get((drop.target.name, drop.column))
    if not candidates or not existing(j, drop.target):
        return
    if added_here(j, drop.target, drop.column) or _renamed_onto(j, drop, renames):
        return
    done: set[int] = set()
    for _, op, source in candidates:
        into = _target(op)
        if into is not None and id(op) not in done and _same(source, drop.target):
            done.add(id(op))
            yield OneShotCopy(op, drop, drop.target, drop.column, into)


def _renames_by_name(operations: Sequence[ops.Operation]) -> dict[tuple[str, str], list[tuple[int, Name]]]:
    found: dict[tuple[str, str], list[tuple[int, Name]]] = {}
    for i, op in enumerate(operations):
        if isinstance(op, ops.RenameColumn):
            found.setdefault((op.target.name, op.new_name), []).append((i, op.target))
    return found


def _renamed_onto(j: int, drop: ops.DropColumn, renames: dict[tuple[str, str], list[tuple[int, Name]]]) -> bool:
    """Another column takes the dropped name later: the replace-column pattern, a type change (and
    ``mixed-phase-migration`` names that incident), not a move."""
    later = renames.get((drop.target.name, drop.column), [])
    return any(i > j and _same(target, drop.target) for i, target in later)


def _same(a: Name, b: Name) -> bool:
    """The same table, an unqualified name matching any schema (lint does not resolve search_path)."""
    return a.name == b.name and (a.schema is None or b.schema is None or a.schema == b.schema)
