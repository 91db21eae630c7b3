"""Lint's fix text, rendered from this planner's rewrite of the statement: one recipe per hazard.

``PlannerRecipes`` is the ``bgmigrate.lint.recipes.RecipeSource`` the commands hand into a lint
run. For a finding of a rule in ``RULES`` it plans the finding's statement alone, against the
schema as the statement finds it, and abbreviates the phases: each step's SQL on one line, in
the user's real names (the planner quotes them), capped, with a pointer to ``bgmigrate plan``
for the full phases. Where the planner refuses, the fix is its refusal; where it leaves the
statement as written in expand (no rewrite), the rule keeps its own fix. Pure: no I/O, and the
planner's passes load only when a finding asks for them.

One statement at a time, as the schema holds it then (lint's replay): where `bgmigrate plan`
reads several statements as one change (the replace-column pattern), the fix of one of them
shows that statement's own rewrite. Index texts the planner learns from earlier files (partial
and expression indexes) are not in lint's replay: a rename of a column under such an index
gets the planner's refusal to guess its definition. A finding judged together with a later
statement (an object dropped and created again in another shape) keeps the rule's own fix
(``Hit.context_fix``): the drop planned alone would read as a plain contract-phase drop.

The plan is made on a focused view of the schema (``focus``), but the names it creates are
checked against every table and index (``Unfocused``), as `bgmigrate plan` checks them. Triggers
are the exception: lint's schema does not record a trigger's table, so a name a trigger of the
same table holds is refused by `bgmigrate plan` only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from bgmigrate.plan.evolve import evolve

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values

    from bgmigrate.lint.settings import LintSettings
    from bgmigrate.model import operations as ops
    from bgmigrate.model.schema import Index, Schema, Table
    from bgmigrate.plan.draft import Draft, Item
    from bgmigrate.plan.facts import Facts
    from bgmigrate.plan.phases import Plan, Step
    from bgmigrate.plan.request import PlanRequest
    from bgmigrate.sql.names import Name

# Rules whose hazard the planner rewrites (or refuses with a recipe of its own).
RULES = frozenset(
    {"add-required-column", "change-column-type", "drop-column", "drop-default", "drop-object", "drop-table",
     "drop-unique-constraint", "non-concurrent-index", "rename-column", "rename-enum-value", "rename-object",
     "rename-table", "set-not-null", "table-rewrite", "unique-without-index", "validating-constraint"}
)  # fmt: skip
MAX_LINES = 12  # SQL lines shown before "… n more"
MAX_WIDTH = 90  # characters of one SQL line: it fits a 100-column terminal under "fix: "
PLACEHOLDER = "<value>"  # stands for the --backfill expression lint cannot know
_BACKFILL_ASKED = re.compile(r"give --backfill (\S+?)=SQL_EXPR")
_LINE_PREFIX = re.compile(r"^(lines? [\d, and to]+: )?(no safe plan: )?")


def _migration_ops() -> tuple[type, ...]:
    from bgmigrate.model import operations as ops

    return (ops.RenameTable, ops.AlterTableSet, ops.RenameObject)  # rename-table, rename-object


@dataclass
class PlannerRecipes:
    """Renders fixes from the planner; remembers the last statement's outcome (two rules may ask)."""

    key: str = "planner-recipes-1"
    rules: frozenset[str] = RULES
    migration_ops: tuple[type, ...] = field(default_factory=_migration_ops)
    _last: tuple[ops.Operation, str | None] | None = field(default=None, repr=False)

    def __call__(self, rule: str, op: ops.Operation, schema: Schema, settings: LintSettings) -> str | None:
        # Holding the operation itself, not its id: a freed operation's id may come back for another.
        if self._last is None or self._last[0] is not op:
            self._last = (op, recipe_for(op, schema, schema.server_version or settings.pg_version))
        text = self._last[1]
        if text is not None and text.startswith(_REFUSED):
            return f"{text}\nThe general recipe: bgmigrate explain {rule}"
        return text


_REFUSED = "No safe plan for this statement:"


def recipe_for(op: ops.Operation, schema: Schema, pg_version: int) -> str | None:
    """The fix text for ``op`` planned alone on ``schema``; None when the planner keeps it as written.

    >>> from bgmigrate.model.schema import Schema
    >>> from bgmigrate.plan.testing import operations_of
    >>> print(recipe_for(operations_of("CREATE INDEX i ON t (a);")[0], Schema(), 15))
    bgmigrate plan rewrites it:
    expand (old and new versions run):
       CREATE INDEX CONCURRENTLY i ON t (a);
    Every step with its locks and checks: bgmigrate plan FILE --out DIR
    """
    from bgmigrate.plan.request import PlanError

    if op.stmt.owner is not None:
        return None  # a statement in a DO block: the planner carries the block over as written
    backfill: tuple[tuple[str, str], ...] = ()
    for _ in range(4):  # each round may learn one more column that needs a --backfill value
        try:
            plan = _plan(op, schema, pg_version, backfill)
        except PlanError as exc:
            asked = _BACKFILL_ASKED.search(str(exc))
            if asked is None or any(column == asked[1] for column, _ in backfill):
                return f"{_REFUSED} {_LINE_PREFIX.sub('', str(exc), count=1)}"
            backfill += ((asked[1], PLACEHOLDER),)
            continue
        return None if _as_written(plan, op) else render(plan, backfill)
    return None


def _plan(op: ops.Operation, schema: Schema, pg_version: int, backfill: tuple[tuple[str, str], ...]) -> Plan:
    """``plan_operations`` for one operation, on the schema as it finds it.

    The passes, assembly and name guard are the planner's own; only the replay before the
    operation is skipped (there is none), which spares two copies of the schema.
    """
    planner = _planner()
    request = planner.request("lint", op.stmt.text, backfill=backfill, pg_version=pg_version)
    focused = focus(schema, op)
    # Recipes only read their facts, and the guard replays onto its own copy: ``schema`` stays as it is.
    item = planner.item(0, op, planner.facts(focused, {}, frozenset(), schema.from_live))
    draft = planner.draft(request=request, items=(item,))
    for run in planner.passes:
        draft = run(draft)
    # The names the plan creates are checked against the whole schema, as `bgmigrate plan` checks them.
    outside = None if focused is schema else Unfocused(schema, focused)
    return planner.guard(planner.assemble(draft), focused, own=own_for, outside=outside)


@dataclass(frozen=True)
class _Planner:
    """The planner's parts a recipe uses, imported once (a lint asks thousands of times)."""

    request: type[PlanRequest]
    item: type[Item]
    facts: type[Facts]
    draft: type[Draft]
    passes: tuple[Callable[[Draft], Draft], ...]
    assemble: Callable[[Draft], Plan]
    guard: Callable[..., Plan]


@functools.cache
def _planner() -> _Planner:
    from bgmigrate.plan.assemble import assemble
    from bgmigrate.plan.collisions import guard
    from bgmigrate.plan.draft import Draft, Item
    from bgmigrate.plan.facts import Facts
    from bgmigrate.plan.passes import PASSES
    from bgmigrate.plan.request import PlanRequest

    return _Planner(PlanRequest, Item, Facts, Draft, PASSES, assemble, guard)


def focus(schema: Schema, op: ops.Operation) -> Schema:
    """The part of ``schema`` a rewrite of ``op`` reads: its table, the tables its foreign keys
    join it to, and their indexes; enums and other objects whole.

    The planner copies its schema a few times per plan, and a long history holds thousands of
    tables: measured on the 1000-file bench corpus, planning against the whole schema made a
    cold lint 100 times slower. An operation on no table (an enum value, a view) gets it all.
    Whether a table is part of it is decided when a recipe first asks for it, by its own
    constraints: finding every table whose foreign key joins it cost more than the recipe.
    """
    from bgmigrate.model.schema import Schema

    table = op.table
    if table is None:
        return schema
    related = _Related(schema, table.key, _named_by(op))
    return Schema(
        tables=Admitted(schema.tables, lambda key, _table: related(key)),
        indexes=Admitted(schema.indexes, lambda _key, index: related(index.table.key)),
        enums=schema.enums,
        objects=schema.objects,
        server_version=schema.server_version,
        from_live=schema.from_live,
    )


@dataclass(frozen=True, eq=False)
class Unfocused:
    """The tables and indexes of ``whole`` that ``focused`` leaves out, for the name guard (read-only).

    The guard replays a statement's plan onto a copy of the focus alone and still sees every name
    the schema holds. A step that removes an index by name (``DROP INDEX``, ``DROP CONSTRAINT``,
    ``ADD CONSTRAINT … USING INDEX``) or touches another table first gets that entry lent into the
    copy, so the guard frees exactly the names a replay of the whole schema frees.
    """

    whole: Schema
    focused: Schema

    def table(self, name: Name) -> Table | None:
        return None if name.key in self.focused.tables else self.whole.table(name)

    def index(self, name: Name) -> Index | None:
        return None if name.key in self.focused.indexes else self.whole.index(name)

    def lend(self, schema: Schema, op: ops.Operation, lent: set[tuple[str, ...]]) -> None:
        for key in _tables_named(op):
            if ("table", *key) not in lent:
                lent.add(("table", *key))
                found = self.table(_name(key))
                if found is not None and key not in schema.tables:
                    schema.tables[key] = _table_copy(found)
                    # Replay drops and moves a table's indexes with it (rare: steps touch the focus).
                    for index in [k for k, i in self.whole.indexes.items() if i.table.key == key]:
                        self._lend_index(schema, index, lent)
        for key in _indexes_removed(op):
            self._lend_index(schema, key, lent)

    def _lend_index(self, schema: Schema, key: tuple[str, str], lent: set[tuple[str, ...]]) -> None:
        if ("index", *key) in lent:
            return
        lent.add(("index", *key))
        found = self.index(_name(key))
        if found is not None and key not in schema.indexes:
            schema.indexes[key] = evolve(found)


def _name(key: tuple[str, str]) -> Name:
    from bgmigrate.sql.names import Name

    return Name(key[1], key[0])


def _tables_named(op: ops.Operation) -> list[tuple[str, str]]:
    return ([op.table.key] if op.table is not None else []) + _named_by(op)


def _indexes_removed(op: ops.Operation) -> list[tuple[str, str]]:
    """Indexes replaying ``op`` removes by name (or, IF NOT EXISTS, keeps when one exists): read from
    ``model/replay.py``. Adding one over another of the same name leaves the name held either way."""
    from bgmigrate.model import operations as ops
    from bgmigrate.sql.names import Name

    if isinstance(op, ops.DropIndex):
        return [op.index.key]
    name = None
    if isinstance(op, ops.AddConstraint):
        name = op.constraint.using_index
    elif isinstance(op, ops.DropConstraint):
        name = op.name  # the index behind a UNIQUE or PRIMARY KEY
    elif isinstance(op, ops.CreateIndex) and op.if_not_exists:
        name = op.name
    table = op.table
    return [Name(name, table.schema).key] if name and table is not None else []


class _Related:
    """Whether a table (by key) is joined to one table: itself, one the operation names, one its
    foreign keys reference, or one with a foreign key to it (asked once per key)."""

    def __init__(self, schema: Schema, key: tuple[str, str], named: list[tuple[str, str]]) -> None:
        self._tables = schema.tables
        self._key = key
        own = schema.tables.get(key)
        refs = [c.references.key for c in own.constraints.values() if c.references is not None] if own else []
        self._known: dict[tuple[str, str], bool] = dict.fromkeys((key, *named, *refs), True)

    def __call__(self, key: tuple[str, str]) -> bool:
        found = self._known.get(key)
        if found is None:
            other = self._tables.get(key)
            found = other is not None and any(
                c.references is not None and c.references.key == self._key for c in other.constraints.values()
            )
            self._known[key] = found
        return found


_K = TypeVar("_K")
_V = TypeVar("_V")


class Admitted(dict[_K, _V]):
    """The entries of ``source`` that ``admit`` lets in, each decided when first looked up.

    Read-only. Iterating, measuring or copying it decides every entry first (in ``source``'s
    order), so it then holds what filtering ``source`` at once would have.
    """

    def __init__(self, source: dict[_K, _V], admit: Callable[[_K, _V], bool]) -> None:
        super().__init__()
        self._source = source
        self._admit = admit
        self._decided: set[_K] = set()
        self._whole = False

    def _has(self, key: _K) -> bool:
        if dict.__contains__(self, key):
            return True
        if self._whole or key in self._decided:
            return False
        self._decided.add(key)
        if key not in self._source:
            return False
        value = self._source[key]
        if not self._admit(key, value):
            return False
        dict.__setitem__(self, key, value)
        return True

    def _all(self) -> Admitted[_K, _V]:
        if not self._whole:
            admitted = [(k, v) for k, v in self._source.items() if self._has(k)]
            dict.clear(self)
            dict.update(self, admitted)  # in the source's order, as an eager filter keeps it
            self._whole = True
        return self

    def get(self, key: _K, default: Any = None) -> Any:
        return dict.__getitem__(self, key) if self._has(key) else default

    def __getitem__(self, key: _K) -> _V:
        if not self._has(key):
            raise KeyError(key)
        return dict.__getitem__(self, key)

    def __contains__(self, key: object) -> bool:
        return self._has(key)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[_K]:
        return dict.__iter__(self._all())

    def __len__(self) -> int:
        return dict.__len__(self._all())

    def keys(self) -> dict_keys[_K, _V]:
        return dict.keys(self._all())

    def values(self) -> dict_values[_K, _V]:
        return dict.values(self._all())

    def items(self) -> dict_items[_K, _V]:
        return dict.items(self._all())

    def copy(self) -> dict[_K, _V]:
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        return dict.__eq__(self._all(), other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return dict.__repr__(self._all())

    def __reduce__(self) -> Any:
        return (dict, (self.copy(),))  # a copy (``copy.deepcopy``, pickle) is a plain dict

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a focused view of the schema is read-only")

    __setitem__ = __delitem__ = pop = popitem = clear = update = setdefault = __ior__ = _read_only


def own_for(schema: Schema, replayed: Sequence[ops.Operation]) -> Schema:
    """A copy of ``schema`` that replaying ``replayed`` may change: the tables they name, and the indexes
    on those, copied; every other table and index shared (replay changes only the dicts holding them).

    Read from ``model/replay.py``: each kind in ``_LOCAL`` changes in place only its own table (its
    columns, constraints, name) and the indexes on it; the rest of what it does is adding, removing
    or re-keying entries of the schema's dicts. Any other kind (REINDEX marks any index valid, a
    schema rename moves every table in it) gets a whole copy.
    """
    if not all(type(op) in _LOCAL and not _renames_a_schema(op) for op in replayed):
        return own_copy(schema)
    from dataclasses import replace

    named = {op.table.key for op in replayed if op.table is not None}
    tables = dict(schema.tables)
    for key in named & tables.keys():
        tables[key] = _table_copy(tables[key])
    indexes = {key: evolve(i) if i.table.key in named else i for key, i in schema.indexes.items()}
    return replace(schema, tables=tables, indexes=indexes, **_containers(schema))


def _renames_a_schema(op: ops.Operation) -> bool:
    return getattr(op, "kind", None) == "schema"  # ALTER SCHEMA … RENAME, DROP SCHEMA: many tables at once


def _local_kinds() -> frozenset[type]:
    from bgmigrate.model import operations as ops
    from bgmigrate.model.replay import HANDLERS, _no_model_change

    changes_own_table = (
        ops.CreateTable, ops.DropTable, ops.RenameTable, ops.AlterTableSet, ops.AddColumn, ops.DropColumn,
        ops.RenameColumn, ops.AlterColumnType, ops.SetNotNull, ops.DropNotNull, ops.SetDefault, ops.DropDefault,
        ops.AddConstraint, ops.ValidateConstraint, ops.DropConstraint, ops.RenameConstraint, ops.CreateIndex,
        ops.DropIndex, ops.CreateEnum, ops.AddEnumValue, ops.RenameEnumValue, ops.CreateObject, ops.DropObject,
        ops.RenameObject,
    )  # fmt: skip
    return frozenset((*changes_own_table, *(kind for kind, run in HANDLERS.items() if run is _no_model_change)))


_LOCAL = _local_kinds()


def own_copy(schema: Schema) -> Schema:
    """A copy of ``schema`` that replay may change, made field by field.

    Columns, constraints and indexes hold only immutable values (strings, tuples, frozen
    ``Name``s), so a shallow copy of each is a deep copy, at a fraction of ``copy.deepcopy``'s cost.

    >>> from bgmigrate.model.schema import Column, Schema, Table
    >>> from bgmigrate.sql.names import Name
    >>> s = Schema(tables={("public", "t"): Table(Name("t"), {"a": Column("a", "int")})})
    >>> c = own_copy(s); c.tables["public", "t"].columns["a"].nullable = False
    >>> s.tables["public", "t"].columns["a"].nullable
    True
    """
    from dataclasses import replace

    tables = {key: _table_copy(table) for key, table in schema.tables.items()}
    indexes = {key: evolve(index) for key, index in schema.indexes.items()}
    return replace(schema, tables=tables, indexes=indexes, **_containers(schema))


def _table_copy(table: Table) -> Table:
    from dataclasses import replace

    return replace(
        table,
        columns={name: evolve(c) for name, c in table.columns.items()},
        constraints={name: evolve(c) for name, c in table.constraints.items()},
        triggers=set(table.triggers),
    )


def _containers(schema: Schema) -> dict[str, Any]:
    """The schema's enums, objects and definitions, copied: replay adds to and removes from them."""
    return {
        "enums": {key: list(values) for key, values in schema.enums.items()},
        "objects": {kind: set(names) for kind, names in schema.objects.items()},
        "definitions": dict(schema.definitions),  # replay moves a renamed view's text
    }


def _named_by(op: ops.Operation) -> list[tuple[str, str]]:
    """Other tables the operation names: the one a foreign key references, a rename's new name."""
    from bgmigrate.model import operations as ops
    from bgmigrate.sql.names import Name

    found = []
    references = getattr(getattr(op, "constraint", None), "references", None) or getattr(
        getattr(op, "column", None), "references", None
    )
    if isinstance(references, Name):
        found.append(references.key)
    if isinstance(op, ops.RenameTable):
        found.append(Name(op.new_name, op.target.schema).key)
    return found


def _normal(sql: str) -> str:
    return " ".join(_without_comments(sql).split()).rstrip(";").strip()


def _as_written(plan: Plan, op: ops.Operation) -> bool:
    """Whether the plan only carries the statement over, unchanged, into expand (no rewrite)."""
    steps = [(phase.name, step) for phase in plan.phases for step in phase.steps]
    return all(name == "expand" and _normal(step.sql) == _normal(op.stmt.text) for name, step in steps)


def _without_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


# What happens between the phases, from docs/planning.md.
_BETWEEN = {
    "migrate": "deploy the new version (both versions run), then",
    "contract": "switch traffic to the new version and retire the old one, then",
}
_SERVES = {"expand": "old and new versions run", "migrate": "old and new versions run", "contract": "new version only"}


def render(plan: Plan, backfill: tuple[tuple[str, str], ...] = ()) -> str:
    """The phases in a few lines: each step's SQL abbreviated to one line, at most ``MAX_LINES``."""
    lines = ["bgmigrate plan rewrites it:"]
    shown = hidden = 0
    started = False
    for phase in plan.phases:
        sql = [line for step in phase.steps for line in step_lines(step)]
        if not sql:
            continue
        if (started or phase.name == "contract") and phase.name in _BETWEEN:
            lines.append(_BETWEEN[phase.name])  # a drop alone still waits for the switch
        started = True
        room = max(MAX_LINES - shown, 0)
        lines.append(f"{phase.name} ({_SERVES.get(phase.name, '')}):")
        lines += ["   " + line for line in sql[:room]]
        shown += min(room, len(sql))
        hidden += max(len(sql) - room, 0)
        if len(sql) > room:
            lines.append(f"   … {len(sql) - room} more")
    if backfill:
        columns = ", ".join(column for column, _ in backfill)
        lines.append(f"{PLACEHOLDER}: the value for rows where {columns} is NULL (plan --backfill COL=SQL_EXPR)")
    lines.append("Every step with its locks and checks: bgmigrate plan FILE --out DIR")
    return "\n".join(lines)


def step_lines(step: Step) -> list[str]:
    """One line per statement of a step: its first line, marked ``…`` when cut.

    >>> from bgmigrate.plan.phases import Step
    >>> step_lines(Step("sql", "d", "-- why\\nDROP TRIGGER x ON t;\\nCREATE FUNCTION f() RETURNS trigger AS $$\\nBEGIN\\nEND $$"))
    ['DROP TRIGGER x ON t;', 'CREATE FUNCTION f() RETURNS trigger AS $$ …']
    """
    if step.backfill is not None:
        fill = step.backfill
        sets = ", ".join(f"{column} = {value}" for column, value in fill.assignments)
        return [
            _cut(
                f"UPDATE {fill.table} SET {sets} WHERE {fill.where};",
                f"  -- batches of {fill.batch_size}",
            )
        ]
    from bgmigrate.sql.statements import statement_texts

    found = []
    for statement in statement_texts(step.sql):
        text = _without_comments(statement).strip().rstrip(";").strip()
        if not text:
            continue
        first, *rest = text.splitlines()
        if first.upper().startswith("DO "):
            first = f"DO … -- {step.description}"  # the block's first line says nothing
        elif rest and first.upper().startswith("CREATE") and " LANGUAGE " in first.upper():
            first = first[: first.upper().index(" LANGUAGE ")]  # the signature says enough; the body follows
        found.append(_cut(first.rstrip() + ("" if rest else ";"), " …" if rest else ""))
    return found


def _cut(line: str, tail: str) -> str:
    """``line`` plus ``tail``, shortened to ``MAX_WIDTH`` characters."""
    if len(line) + len(tail) <= MAX_WIDTH:
        return line + tail
    return line[: MAX_WIDTH - len(tail) - 1].rstrip() + "…" + tail
