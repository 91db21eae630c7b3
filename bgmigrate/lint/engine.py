"""The pure core: migrations → operations → findings, replaying each onto the schema.

No I/O here: front-ends hand in ``Migration`` values, the CLI renders what comes back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace

from bgmigrate.lint.catalogue import Catalogue
from bgmigrate.lint.findings import Finding, InputError, Severity
from bgmigrate.lint.recipes import RecipeSource
from bgmigrate.lint.rules import discover
from bgmigrate.lint.rules.api import Hit, OpContext, RegisteredRule
from bgmigrate.lint.rules.history import (
    AddedColumns,
    ColumnTypes,
    Marks,
    NewTables,
    Prefix,
    TracedNames,
    new_table_changes,
)
from bgmigrate.lint.selection import RuleSelection
from bgmigrate.lint.settings import LintSettings
from bgmigrate.model import operations as ops
from bgmigrate.model.locks import ACCESS_EXCLUSIVE, lock_taken
from bgmigrate.model.migration import Migration
from bgmigrate.model.replay import apply
from bgmigrate.model.schema import Schema
from bgmigrate.model.table_size import TableSize
from bgmigrate.parse.parser import StatementSyntaxError, parse_statement
from bgmigrate.sql.statements import Statement
from bgmigrate.sql.suppressions import Suppression


def parse_migration(migration: Migration) -> tuple[list[ops.Operation], list[InputError]]:
    """Every statement's operations; a statement with a syntax error becomes an input error."""
    operations: list[ops.Operation] = []
    errors: list[InputError] = []
    for stmt in migration.statements:
        try:
            operations.extend(parse_statement(stmt))
        except StatementSyntaxError as exc:
            errors.append(InputError(migration.path, stmt.line, f"{exc.message} (statement skipped)"))
        except (Exception, RecursionError) as exc:  # one unreadable statement never blinds the file
            reason = f"bgmigrate could not read it ({type(exc).__name__})"
            operations.append(ops.Unparsed(stmt, reason=reason))
    return operations, errors


@dataclass
class _TxState:
    """Transaction and session state while walking a migration."""

    in_transaction: bool
    lock_timeout: bool = False  # set for the session
    local_lock_timeout: bool = False  # SET LOCAL: until the transaction ends
    holder: ops.Operation | None = None

    def end_transaction(self) -> None:
        self.in_transaction = False
        self.local_lock_timeout = False
        self.holder = None

    def observe(self, op: ops.Operation) -> None:
        if isinstance(op, ops.TransactionControl):
            if op.action == "begin":
                self.in_transaction = True
            elif op.action in ("commit", "rollback"):
                self.end_transaction()
        elif isinstance(op, ops.SetConfig) and op.setting.lower() in ("lock_timeout", "all"):
            enabled = op.value is not None and op.value.strip().strip("'") not in ("0", "")
            if op.local:
                self.local_lock_timeout = enabled and self.in_transaction
            else:
                self.lock_timeout = enabled


def analyse(
    migration: Migration,
    operations: Sequence[ops.Operation],
    schema: Schema,
    settings: LintSettings,
    recipes: RecipeSource | None = None,
) -> list[tuple[str, Hit]]:
    """Run every rule over a migration's operations, replaying each onto ``schema``.

    ``recipes`` renders the fix of the hits it covers (see ``bgmigrate.lint.recipes``).
    """
    registry = discover()
    hits: list[tuple[str, Hit]] = []
    state = _TxState(in_transaction=migration.implicit_transaction)
    # Each context sees the operations and new tables *before* it as views over one shared
    # history, never as copies: a copy per operation made a file of N statements cost N².
    new_tables = NewTables()
    added_columns = AddedColumns()
    names = TracedNames()
    marks = Marks()
    types = ColumnTypes()
    done: list[ops.Operation] = []
    seen: list[tuple[ops.Operation, OpContext]] = []
    # Recipes of operations that migration rules report, rendered while the schema is as each finds it.
    early: dict[int, dict[str, str | None]] = {}
    migration_level = [r for r in registry.values() if r.on_migration is not None]
    migration_rules = {r.name for r in migration_level}
    block: Statement | None = None  # the DO block whose statements are being walked
    rules_by_type = _RULES_BY_TYPE
    for op in operations:
        stmt = op.stmt
        if stmt.in_autocommit_block:
            # Alembic commits the open transaction when an autocommit block starts.
            state.holder, state.local_lock_timeout = None, False
        if stmt.owner is not block and not state.in_transaction:
            state.holder = None  # a DO block outside a transaction ended: its locks went with it
        block = stmt.owner
        # A DO block is one statement: its body always runs inside a transaction.
        in_tx = (state.in_transaction or block is not None) and not stmt.in_autocommit_block
        ctx = object.__new__(OpContext)  # every field set here, by name (see _CONTEXT_FIELDS)
        ctx.__dict__.update(
            schema=schema, migration=migration, settings=settings, in_transaction=in_tx,
            lock_timeout_set=state.lock_timeout or state.local_lock_timeout,
            earlier=Prefix(done, len(done), added_columns.now(), names.now(), marks, types),
            exclusive_lock_holder=state.holder if in_tx else None, new_tables=new_tables.now(),
        )  # fmt: skip
        rules = rules_by_type.get(type(op))
        for rule in rules if rules is not None else _rules_for(type(op)):
            # A plain loop, not extend() over a generator expression: most rules find nothing,
            # and the expression cost an object per rule and operation (140,000 in a large folder).
            for hit in rule.on_op(op, ctx):  # type: ignore[misc]  # _rules_for keeps rules with on_op
                hits.append((rule.name, _with_recipe(rule.name, _with_size(hit, ctx), ctx, recipes)))
        if recipes is not None and isinstance(op, recipes.migration_ops):
            early[id(op)] = {name: recipes(name, op, schema, settings) for name in recipes.rules & migration_rules}
        seen.append((op, ctx))
        done.append(op)
        new_tables.track(op)
        added_columns.track(op)
        names.track(op)
        marks.track(op)
        types.track(op)
        if in_tx and state.holder is None and _takes_exclusive_on_existing(op, ctx):
            state.holder = op
        state.observe(op)
        apply(schema, op, migration.path)
    for rule in migration_level:
        assert rule.on_migration is not None
        hits.extend((rule.name, _early_recipe(rule.name, hit, early)) for hit in rule.on_migration(seen))
    return hits


# analyse makes each OpContext without the frozen dataclass's ``__init__`` (which calls
# ``object.__setattr__`` once per field, for every operation), setting every field by name: a
# field added to OpContext must be set there too.
_CONTEXT_FIELDS = ("schema", "migration", "settings", "in_transaction", "lock_timeout_set", "earlier",
                   "exclusive_lock_holder", "new_tables")  # fmt: skip
if tuple(f.name for f in fields(OpContext)) != _CONTEXT_FIELDS:
    raise TypeError("OpContext's fields changed: update lint.engine.analyse")


_RULES_BY_TYPE: dict[type, tuple[RegisteredRule, ...]] = {}


def _rules_for(op_type: type) -> tuple[RegisteredRule, ...]:
    """The operation rules that apply to one operation type (looked up once per type)."""
    found = _RULES_BY_TYPE.get(op_type)
    if found is None:
        rules = discover().values()
        found = tuple(r for r in rules if r.on_op is not None and issubclass(op_type, r.op_types))
        _RULES_BY_TYPE[op_type] = found
    return found


def _with_size(hit: Hit, ctx: OpContext) -> Hit:
    """Attach the locked table's size when the schema came from a live database."""
    if not ctx.schema.from_live or ctx.is_new_table(hit.op.table):
        return hit
    name = ctx.lock_table(hit.op) or hit.op.table
    table = ctx.table(name)
    if table is None or table.rows_estimate is None:
        return hit
    return replace(hit, table_size=TableSize(str(table.name.name), table.rows_estimate, table.size_bytes))


def _with_recipe(rule: str, hit: Hit, ctx: OpContext, recipes: RecipeSource | None) -> Hit:
    """The hit with its fix rendered by ``recipes`` (asked now: ``ctx.schema`` is as ``hit.op`` finds it)."""
    if recipes is None or rule not in recipes.rules or hit.context_fix:
        return hit
    fix = recipes(rule, hit.op, ctx.schema, ctx.settings)
    return hit if fix is None else replace(hit, fix=fix)


def _early_recipe(rule: str, hit: Hit, early: dict[int, dict[str, str | None]]) -> Hit:
    """A migration rule's hit with the fix rendered when its operation ran (if one was)."""
    fix = None if hit.context_fix else early.get(id(hit.op), {}).get(rule)
    return hit if fix is None else replace(hit, fix=fix)


def track_new_tables(op: ops.Operation, new_tables: set[tuple[str, str]]) -> None:
    """Keep ``new_tables`` (created in this migration, so no traffic yet) up to date after ``op``."""
    for key, present in new_table_changes(op, new_tables):
        if present:
            new_tables.add(key)
        else:
            new_tables.discard(key)


def _takes_exclusive_on_existing(op: ops.Operation, ctx: OpContext) -> bool:
    taken = lock_taken(op)
    return taken is not None and taken.mode == ACCESS_EXCLUSIVE and ctx.is_existing_table(taken.table)


# ---- from hits to findings ------------------------------------------------------------------


@dataclass
class _SuppressionUse:
    suppression: Suppression
    used: bool = False


def to_findings(
    migration: Migration,
    hits: Iterable[tuple[str, Hit]],
    catalogue: Catalogue,
    selection: RuleSelection,
) -> list[Finding]:
    """Apply rule selection, severities and inline suppressions; report misused suppressions."""
    file_level = [_SuppressionUse(s) for s in migration.file_suppressions]
    by_statement: dict[int, list[_SuppressionUse]] = {}
    findings: list[Finding] = []
    all_hits = list(hits) + _notice_hits(migration)
    for rule, hit in all_hits:
        if not selection.active(rule, migration.path):
            continue
        written = hit.op.stmt.owner or hit.op.stmt  # a DO block's statements answer to the block
        uses = by_statement.setdefault(id(written), [_SuppressionUse(s) for s in _own(written)])
        if _suppressed(rule, catalogue, uses) or _suppressed(rule, catalogue, file_level):
            continue
        findings.append(_finding(migration, rule, hit, catalogue, selection))
    all_uses = file_level + [u for uses in by_statement.values() for u in uses]
    all_uses += [_SuppressionUse(s) for s in _unvisited(migration, by_statement)]
    findings.extend(_suppression_findings(migration, all_uses, catalogue, selection))
    return _dedupe(findings)


def _own(stmt: Statement) -> list[Suppression]:
    return [s for s in stmt.suppressions if not s.file_level]


def _unvisited(migration: Migration, visited: dict[int, list[_SuppressionUse]]) -> list[Suppression]:
    """Suppressions on statements that raised nothing at all: every one of them is unused."""
    seen: set[tuple[int, str]] = set()
    found: list[Suppression] = []
    for stmt in migration.statements:
        if id(stmt) in visited:
            continue
        for s in _own(stmt):
            if (s.line, ",".join(s.rules)) not in seen:
                seen.add((s.line, ",".join(s.rules)))
                found.append(s)
    return found


def _suppressed(rule: str, catalogue: Catalogue, uses: list[_SuppressionUse]) -> bool:
    hit = False
    for use in uses:
        if not use.suppression.rules or any(
            rule in {e.name for e in catalogue.select(sel)} for sel in use.suppression.rules
        ):
            use.used = True
            hit = True
    return hit


def _suppression_findings(
    migration: Migration, uses: list[_SuppressionUse], catalogue: Catalogue, selection: RuleSelection
) -> list[Finding]:
    hits: list[tuple[str, Hit]] = []
    seen: set[int] = set()
    for use in uses:
        s = use.suppression
        if s.line in seen:
            continue
        seen.add(s.line)
        stmt = Statement("", s.line, 1, s.line, 1)
        label = ", ".join(s.rules) or "every rule"
        unknown = [sel for sel in s.rules if not catalogue.select(sel)]
        if unknown:
            msg = f"ignore comment names no rule: {', '.join(unknown)}"
            hits.append(("unused-ignore", Hit(ops.Other(stmt), msg, "Use a rule name from `bgmigrate rules`.")))
        elif not use.used:
            msg = f"ignore comment for {label} suppresses nothing here"
            fix = "Remove the comment, or move it onto the statement it is meant for."
            hits.append(("unused-ignore", Hit(ops.Other(stmt), msg, fix)))
        if not s.reason:
            msg = f"ignore comment for {label} gives no reason"
            fix = f"Say why it is safe: `bgmigrate: ignore[{label}] <reason>`."
            hits.append(("ignore-without-reason", Hit(ops.Other(stmt), msg, fix)))
    return [
        _finding(migration, rule, hit, catalogue, selection)
        for rule, hit in hits
        if selection.active(rule, migration.path)
    ]


def _notice_hits(migration: Migration) -> list[tuple[str, Hit]]:
    hits: list[tuple[str, Hit]] = []
    for notice in migration.notices:
        stmt = Statement("", notice.line, notice.column, notice.line, notice.column)
        severity = Severity.parse(notice.severity) if notice.severity else None
        hits.append((notice.rule, Hit(ops.Unparsed(stmt, reason=notice.message), notice.message, "", severity)))
    return hits


def _finding(migration: Migration, rule: str, hit: Hit, catalogue: Catalogue, selection: RuleSelection) -> Finding:
    entry = catalogue.entries[rule]
    severity = selection.severity(rule) if rule in selection.severities else entry.severity
    if hit.severity is not None and not _overridden(rule, selection, entry.severity):
        severity = hit.severity
    message = hit.message
    if hit.table_size is not None and entry.group == "locking":
        severity, message = _weigh(severity, message, hit.table_size, selection)
    stmt = hit.op.stmt
    table = hit.op.table
    return Finding(
        rule=rule,
        code=entry.code,
        severity=severity,
        path=migration.path,
        line=stmt.line,
        column=stmt.column,
        end_line=stmt.end_line,
        end_column=stmt.end_column,
        message=message,
        fix=hit.fix,
        table=str(table) if table else None,
    )


def _weigh(severity: Severity, message: str, size: TableSize, selection: RuleSelection) -> tuple[Severity, str]:
    """Lock findings on small tables drop to info; on large ones they say how large."""
    if size.rows < selection.small_table_rows:
        return Severity.INFO, f"{message} ({size.describe()}: below the small-table threshold, the lock is brief)"
    return severity, f"{message} ({size.describe()})"


def _overridden(rule: str, selection: RuleSelection, default: Severity) -> bool:
    """Whether configuration changed a rule's severity (then it wins over a rule's own choice)."""
    return rule in selection.severities and selection.severities[rule] != default


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int, int, str]] = set()
    unique: list[Finding] = []
    for f in sorted(findings, key=Finding.sort_key):
        key = (f.rule, f.line, f.column, f.message)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def lint_migrations(
    migrations: Sequence[Migration],
    catalogue: Catalogue,
    settings: LintSettings,
    selection: RuleSelection,
    *,
    schema: Schema | None = None,
    report: set[str] | None = None,
    parsed: Sequence[tuple[list[ops.Operation], list[InputError]]] | None = None,
    recipes: RecipeSource | None = None,
) -> tuple[list[Finding], list[InputError]]:
    """Lint migrations in order, each against the schema the earlier ones built.

    ``report`` limits which migrations' findings are returned (``--diff``); the others are
    still replayed for their schema. ``parsed`` holds each migration's operations when the
    caller parsed them already (in parallel, or from the cache). ``recipes`` renders fixes,
    only for the migrations reported (it plans the statement: not worth it for context files).
    """
    schema = schema if schema is not None else Schema()
    findings: list[Finding] = []
    errors: list[InputError] = []
    for i, migration in enumerate(migrations):
        operations, parse_errors = parsed[i] if parsed is not None else parse_migration(migration)
        reported = report is None or migration.path in report
        hits = analyse(migration, operations, schema, settings, recipes if reported else None)
        if reported:
            errors.extend(parse_errors)
            findings.extend(to_findings(migration, hits, catalogue, selection))
    return findings, errors
