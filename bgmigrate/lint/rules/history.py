"""What a migration did before each operation, as views over one shared history.

Every ``OpContext`` describes the moment before its operation: the operations before it and
the tables created so far. Copying those for each operation made a file of N statements cost
N² in time and memory; these views share one growing record and cost O(1) to take.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from itertools import islice
from typing import Any, overload

from bgmigrate.model import operations as ops

TableKey = tuple[str, str]


class Prefix(Sequence[ops.Operation]):
    """The first ``length`` items of a list that only ever grows (a read-only view, not a copy).

    >>> items = ["a", "b"]
    >>> view = Prefix(items, 1)  # type: ignore[arg-type]
    >>> items.append("c")
    >>> list(view), len(view), list(reversed(Prefix(items, 3)))
    (['a'], 1, ['c', 'b', 'a'])
    """

    __slots__ = ("_items", "_length", "added_columns", "marks", "names", "types")

    def __init__(
        self,
        items: list[ops.Operation],
        length: int,
        added_columns: SetAt | None = None,
        names: SetAt | None = None,
        marks: Marks | None = None,
        types: ColumnTypes | None = None,
    ) -> None:
        self._items = items
        self._length = length
        # The columns these operations added (``compat_columns.added_in_migration`` asks it).
        self.added_columns = added_columns
        # The objects and enum values they named (``TracedNames``), and their first BEGIN, ….
        self.names = names
        self.marks = marks
        self.types = types  # the types columns were given, for lock_transactions

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> ops.Operation: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ops.Operation]: ...

    def __getitem__(self, index: int | slice) -> ops.Operation | Sequence[ops.Operation]:
        if isinstance(index, slice):
            return self._items[: self._length][index]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("operation index out of range")
        return self._items[index]

    def __iter__(self) -> Iterator[ops.Operation]:
        return islice(self._items, self._length)

    def __reversed__(self) -> Iterator[ops.Operation]:
        items = self._items
        for i in range(self._length - 1, -1, -1):
            yield items[i]

    def __repr__(self) -> str:
        return f"Prefix({list(self)!r})"


def new_table_changes(op: ops.Operation, current: AbstractSet[TableKey]) -> list[tuple[TableKey, bool]]:
    """How ``op`` changes the set of tables created in this migration: ``(table, now present)``.

    A renamed new table is still new under its new name (the old key stays, as a rename back
    would find it).
    """
    if isinstance(op, ops.CreateTable):
        return [(op.target.key, True)]
    if isinstance(op, ops.RenameTable) and op.target.key in current:
        return [((op.target.key[0], op.new_name), True)]
    if isinstance(op, ops.DropTable):
        return [(op.target.key, False)]
    return []


class _SetHistory:
    """A set that changes operation by operation, with every change kept so views can look back."""

    def __init__(self) -> None:
        self.current: set[Any] = set()
        self.steps = 0  # operations tracked so far
        self._events: dict[Any, tuple[list[int], list[bool]]] = {}

    def change(self, key: Any, present: bool) -> None:
        steps, states = self._events.setdefault(key, ([], []))
        steps.append(self.steps)
        states.append(present)
        if present:
            self.current.add(key)
        else:
            self.current.discard(key)

    def present_at(self, key: Any, step: int) -> bool:
        events = self._events.get(key)
        if events is None:
            return False
        steps, states = events
        last = bisect.bisect_left(steps, step) - 1  # the last change made before ``step``
        return last >= 0 and states[last]

    def recorded(self) -> Iterator[Any]:
        return iter(self._events)


class SetAt(AbstractSet[Any]):
    """A read-only set: a history's members as they were before operation number ``step``."""

    __slots__ = ("_history", "_step")

    def __init__(self, history: _SetHistory, step: int) -> None:
        self._history = history
        self._step = step

    def __contains__(self, key: object) -> bool:
        return self._history.present_at(key, self._step)

    def __iter__(self) -> Iterator[Any]:
        return (k for k in self._history.recorded() if self._history.present_at(k, self._step))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"SetAt({set(self)!r})"


class NewTables(_SetHistory):
    """Tables created so far in a migration (no traffic reaches them yet)."""

    def track(self, op: ops.Operation) -> None:
        """Record what ``op`` (the next operation) did to the set."""
        for key, present in new_table_changes(op, self.current):
            self.change(key, present)
        self.steps += 1

    def now(self) -> SetAt:
        """The set as it is now (before the next operation), unchanged by what comes later."""
        return SetAt(self, self.steps)


class AddedColumns(_SetHistory):
    """``(table key, column)`` pairs added so far in a migration, following renames.

    What ``compat_columns.added_in_migration`` computes by scanning the earlier operations,
    kept up to date one operation at a time instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self._by_table: dict[TableKey, set[str]] = {}

    def track(self, op: ops.Operation) -> None:
        if isinstance(op, ops.CreateTable):
            for column in op.columns:
                self._set(op.target.key, column.name, True)
        elif isinstance(op, ops.AddColumn):
            self._set(op.target.key, op.column.name, True)
        elif isinstance(op, ops.DropColumn):
            self._set(op.target.key, op.column, False)
        elif isinstance(op, ops.RenameColumn) and (op.target.key, op.column) in self.current:
            self._set(op.target.key, op.column, False)
            self._set(op.target.key, op.new_name, True)
        elif isinstance(op, ops.RenameTable):
            new_key = (op.target.key[0], op.new_name)
            for name in sorted(self._by_table.get(op.target.key, set())):
                self._set(op.target.key, name, False)
                self._set(new_key, name, True)
        self.steps += 1

    def _set(self, table: TableKey, column: str, present: bool) -> None:
        self.change((table, column), present)
        columns = self._by_table.setdefault(table, set())
        if present:
            columns.add(column)
        else:
            columns.discard(column)

    def now(self) -> SetAt:
        return SetAt(self, self.steps)


_ANY = ("*", "*")  # stands for "on any table" among the on-table keys of one name


class TracedNames(_SetHistory):
    """Names given in this migration (objects created, enum values added), following renames.

    What a walk back through the earlier operations answers (a rename leads back to the name
    it came from, and that name's CREATE), kept up to date one operation at a time instead.
    Members are ``(group, name, on_table)``; ``on_table`` is None unless a trigger or rule.
    """

    def __init__(self) -> None:
        super().__init__()
        self._tables: dict[tuple[Any, Any], set[Any]] = {}  # (group, name) → on-table keys present

    def track(self, op: ops.Operation) -> None:
        if isinstance(op, ops.CreateObject):
            self._give(op.kind, op.name.key, op.on_table.key if op.on_table else None)
        elif isinstance(op, ops.CreateEnum):
            self._give("type", op.type_name.key, None)
        elif isinstance(op, ops.RenameObject):
            self._rename(op.kind, op.name.key, (op.name.key[0], op.new_name))
        elif isinstance(op, ops.AddEnumValue):
            self._give(("enum value", op.type_name.key), op.value, None)
        elif isinstance(op, ops.RenameEnumValue):
            self._rename(("enum value", op.type_name.key), op.value, op.new_value)
        self.steps += 1

    def _give(self, group: Any, name: Any, on_table: Any) -> None:
        tables = self._tables.setdefault((group, name), set())
        for key in (on_table, _ANY):
            if key not in tables:
                tables.add(key)
                self.change((group, name, key), True)

    def _rename(self, group: Any, old: Any, new: Any) -> None:
        # The new name now means whatever the old one meant; the old name keeps its own past.
        carried = set(self._tables.get((group, old), set()))
        for key in self._tables.get((group, new), set()) - carried:
            self.change((group, new, key), False)
        for key in carried:
            self.change((group, new, key), True)
        self._tables[(group, new)] = carried

    def now(self) -> SetAt:
        return SetAt(self, self.steps)


def named_here(names: AbstractSet[Any], group: Any, name: Any, on_table: Any = None) -> bool:
    """Whether ``names`` (a ``TracedNames`` view) holds the name, on ``on_table`` if given."""
    if on_table is None:
        return (group, name, _ANY) in names
    return (group, name, None) in names or (group, name, on_table) in names


class Marks:
    """The first operation of each kind that matters later (BEGIN, an unparsed statement)."""

    LABELS = ("begin", "unparsed")

    def __init__(self) -> None:
        self.first: dict[str, int] = {}
        self.steps = 0

    def track(self, op: ops.Operation) -> None:
        label = mark_of(op)
        if label is not None:
            self.first.setdefault(label, self.steps)
        self.steps += 1


def mark_of(op: ops.Operation) -> str | None:
    if isinstance(op, ops.TransactionControl) and op.action == "begin":
        return "begin"
    if isinstance(op, ops.Unparsed):
        return "unparsed"
    return None


def earlier_has(earlier: Sequence[ops.Operation], label: str) -> bool:
    """Whether an operation before this one carries ``label`` (see ``mark_of``)."""
    marks: Marks | None = getattr(earlier, "marks", None)  # the linter keeps the answer: no scan
    if marks is not None:
        return marks.first.get(label, len(earlier)) < len(earlier)
    return any(mark_of(o) == label for o in earlier)


def last_creates(seen: Sequence[tuple[ops.Operation, Any]]) -> dict[tuple[str, tuple[str, str]], int]:
    """The position of the last CREATE of each (kind, name) among a migration's operations.

    A migration rule asking "is it created again later?" for each operation looks it up here
    rather than scanning the rest of the migration each time.
    """
    found: dict[tuple[str, tuple[str, str]], int] = {}
    for i, (op, _ctx) in enumerate(seen):
        if isinstance(op, ops.CreateObject):
            found[(op.kind, op.name.key)] = i
    return found


class ColumnTypes:
    """The type this migration last gave each column, step by step, and each operation's step.

    What ``lock_transactions`` finds by walking back from an earlier operation (the type a
    column had just before it), answered by a binary search instead.
    """

    def __init__(self) -> None:
        self.steps = 0
        self._positions: dict[int, int] = {}  # id(operation) → its step
        # (table, column) → steps and types; a CREATE TABLE also resets its table's columns.
        self._columns: dict[tuple[TableKey, str], tuple[list[int], list[str]]] = {}
        self._creates: dict[TableKey, tuple[list[int], list[dict[str, str]]]] = {}

    def track(self, op: ops.Operation) -> None:
        self._positions[id(op)] = self.steps
        if isinstance(op, ops.AlterColumnType):
            self._set(op.target.key, op.column, op.new_type)
        elif isinstance(op, ops.AddColumn):
            self._set(op.target.key, op.column.name, op.column.type)
        elif isinstance(op, ops.CreateTable):
            steps, tables = self._creates.setdefault(op.target.key, ([], []))
            steps.append(self.steps)
            # The first column of a name wins, as a walk through the column list finds it.
            tables.append({c.name: c.type for c in reversed(op.columns)})
        self.steps += 1

    def _set(self, table: TableKey, column: str, kind: str) -> None:
        steps, types = self._columns.setdefault((table, column), ([], []))
        steps.append(self.steps)
        types.append(kind)

    def position(self, op: ops.Operation) -> int | None:
        return self._positions.get(id(op))

    def type_before(self, step: int, table: TableKey, column: str) -> str | None:
        """The column's type just before operation ``step``, when this migration set it; else None."""
        set_at, kind = _last_before(self._columns.get((table, column)), step)
        created_at, columns = _last_before(self._creates.get(table), step)
        if created_at is not None and (set_at is None or created_at > set_at):
            found: str | None = columns.get(column) if columns is not None else None
            return found
        return str(kind) if kind is not None else None


def _last_before(events: tuple[list[int], list[Any]] | None, step: int) -> tuple[int | None, Any]:
    if events is None:
        return None, None
    steps, values = events
    at = bisect.bisect_left(steps, step) - 1
    return (steps[at], values[at]) if at >= 0 else (None, None)
