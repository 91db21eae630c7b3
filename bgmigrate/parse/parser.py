"""Statements → operations for PostgreSQL SQL.

DDL is read by keyword patterns (``sql_ddl``, ``sql_alter`` and the handlers here); data
changes and queries go to sqlglot, imported only when a migration has one. A statement whose
first word PostgreSQL does not know is a syntax error; one that is valid but outside the model
becomes an ``Unparsed`` operation, which the ``unparsed-statement`` rule reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

from bgmigrate.model import operations as ops
from bgmigrate.parse.alter import parse_alter_table
from bgmigrate.parse.ddl import parse_create_table, parse_table_constraint
from bgmigrate.parse.strict import (
    OBJECT_KINDS,
    NotUnderstood,
    check_after_created_name,
    check_alter_action,
    check_arguments,
    check_created_body,
    check_expression,
    check_items,
    constraint_attributes,
    expect_end,
    items,
    routine_attributes,
    skip_group,
)
from bgmigrate.sql.names import Name
from bgmigrate.sql.statements import Statement, take_tokens
from bgmigrate.sql.tokens import Cursor, SyntaxProblem, Tok, tokenize

_Handler = Callable[[Statement, Cursor], list[ops.Operation]]

# Statements understood to have no blue-green effect on their own.
_BENIGN = {
    "ANALYZE", "CALL", "CHECKPOINT", "CLOSE", "COMMENT", "COPY", "DEALLOCATE", "DECLARE",
    "DISCARD", "EXECUTE", "EXPLAIN", "FETCH", "GRANT", "IMPORT", "LISTEN", "LOAD", "MOVE",
    "NOTIFY", "PREPARE", "REASSIGN", "REVOKE", "SECURITY", "SHOW", "UNLISTEN", "VALUES",
}  # fmt: skip

# psql meta-commands that change nothing in the database.
_PSQL_BENIGN = {"set", "unset", "echo", "qecho", "warn", "timing", "pset", "x", "o", "out", "conninfo",
                "encoding", "t", "a", "f", "h", "q", "if", "elif", "else", "endif", "getenv", "prompt"}  # fmt: skip


class StatementSyntaxError(Exception):
    """A statement that is not valid PostgreSQL; the linter reports it as an input error."""

    def __init__(self, stmt: Statement, message: str) -> None:
        super().__init__(message)
        self.stmt = stmt
        self.message = message


def parse_statement(stmt: Statement) -> list[ops.Operation]:
    """The operations one statement performs.

    >>> from bgmigrate.sql.statements import split_sql
    >>> [type(o).__name__ for o in parse_statement(split_sql("ALTER TABLE t RENAME a TO b")[0])]
    ['RenameColumn']
    """
    if stmt.kind == "psql-meta":
        return _psql_meta(stmt)
    sql = stmt.parse_text
    toks = take_tokens(stmt)  # the splitter's: lexing the statement again cost a sixth of parsing
    cur = Cursor(sql, tokenize(sql) if toks is None else toks)
    first = cur.peek()
    if first is None:
        return [ops.Other(stmt, kind="empty")]
    if first.text == "(":
        return _dml(stmt, sql)
    handler = _HANDLERS.get(first.upper)
    try:
        if handler is not None:
            found = handler(stmt, cur)
            expect_end(cur, first.upper)
            return found
        if first.upper in _BENIGN:
            return [ops.Other(stmt, kind=first.upper.lower())]
    except NotUnderstood as exc:
        return [ops.Unparsed(stmt, reason=f"not fully understood: {exc}")]
    except SyntaxProblem as exc:
        raise StatementSyntaxError(stmt, f"syntax error: {exc}") from None
    raise StatementSyntaxError(stmt, f"syntax error at or near {first.text!r}")


def _psql_meta(stmt: Statement) -> list[ops.Operation]:
    command = stmt.text[1:].split(None, 1)[0].lower() if len(stmt.text) > 1 else ""
    if command in ("i", "ir", "include", "include_relative"):
        return [ops.Unparsed(stmt, reason=f"psql \\{command} includes another file, which was not read")]
    if command in _PSQL_BENIGN:
        return [ops.Other(stmt, kind="psql-meta")]
    return [ops.Unparsed(stmt, reason=f"psql meta-command \\{command} is not analysed")]


# ---- transactions and settings ------------------------------------------------------------


def _transaction(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    word = cur.next().upper
    action: ops.TransactionAction
    if word == "END" or word == "COMMIT":
        action = "commit"
    elif word in ("ROLLBACK", "ABORT"):
        action = "rollback_to" if cur.accept("TO") or cur.looking_at("TRANSACTION", "TO") else "rollback"
        if cur.accept("PREPARED"):
            action = "rollback"
    elif word == "SAVEPOINT":
        action = "savepoint"
    elif word == "RELEASE":
        action = "release"
    else:
        if word == "START" and not cur.accept("TRANSACTION"):
            raise SyntaxProblem("expected TRANSACTION after START")
        action = "begin"
    return [ops.TransactionControl(stmt, action=action)]


def _set(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("SET")
    local = bool(cur.accept("LOCAL"))
    cur.accept("SESSION")
    if cur.looking_at("TRANSACTION") or cur.looking_at("CONSTRAINTS") or cur.looking_at("ROLE"):
        return [ops.Other(stmt, kind="set " + cur.next().text.lower())]
    if cur.accept("TIME", "ZONE"):
        return [ops.SetConfig(stmt, setting="timezone", value=cur.rest(), local=local)]
    setting = cur.identifier()
    while cur.peek() is not None and cur.peek().text == ".":  # type: ignore[union-attr]
        cur.next()
        setting += "." + cur.identifier()
    if not (cur.accept("TO") or (cur.peek() is not None and cur.next().text == "=")):
        raise SyntaxProblem(f"expected TO or = after SET {setting}")
    value = cur.rest().strip().strip("'\"")
    return [ops.SetConfig(stmt, setting=setting, value=value, local=local)]


def _reset(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("RESET")
    setting = "all" if cur.accept("ALL") else cur.identifier()
    return [ops.SetConfig(stmt, setting=setting, value=None)]


# ---- CREATE ------------------------------------------------------------------------------


def _create(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("CREATE")
    cur.accept("OR", "REPLACE")
    if cur.looking_at("UNIQUE", "INDEX") or cur.looking_at("INDEX"):
        return _create_index(stmt, cur)
    if (
        cur.looking_at("TABLE")
        or cur.looking_at("TEMP|TEMPORARY|UNLOGGED|GLOBAL|LOCAL", "TABLE")
        or (cur.looking_at("GLOBAL|LOCAL", "TEMP|TEMPORARY", "TABLE"))
    ):
        return parse_create_table(stmt, cur)
    if cur.looking_at("TYPE"):
        return _create_type(stmt, cur)
    cur.accept_any(("TEMP", "TEMPORARY", "RECURSIVE", "TRUSTED", "PROCEDURAL", "CONSTRAINT", "DEFAULT"))
    if cur.accept("MATERIALIZED") and not cur.looking_at("VIEW"):
        raise SyntaxProblem("expected VIEW after CREATE MATERIALIZED")
    kind_tok = cur.next()
    kind = kind_tok.upper.lower()
    if kind in ("event", "foreign", "text", "access", "user", "operator"):
        kind += " " + cur.next().text.lower()
    if not kind or kind.split()[0] not in OBJECT_KINDS:
        raise SyntaxProblem(f"unexpected {kind_tok.text!r} after CREATE")
    if kind == "trigger":
        return _create_trigger(stmt, cur)
    cur.accept("IF", "NOT", "EXISTS")
    named = cur.peek() is not None and cur.peek().kind in ("word", "qident")  # type: ignore[union-attr]
    if kind == "schema" and cur.looking_at("AUTHORIZATION"):
        named = False  # CREATE SCHEMA AUTHORIZATION role: the role names the schema
    name = cur.name() if named else Name("")
    if kind == "view" and stmt.text.upper().startswith("CREATE MATERIALIZED"):
        kind = "materialized view"
    if name.name:
        check_after_created_name(cur, kind)
        check_created_body(cur, kind)
        if kind in ("function", "procedure"):
            check_arguments(skip_group(cur, kind), f"the {kind}'s arguments")
            routine_attributes(cur)
            return [ops.CreateObject(stmt, kind=kind, name=name)]
    elif kind not in ("schema", "statistics", "cast", "transform", "user mapping") and not kind.startswith("operator"):
        raise SyntaxProblem(f"CREATE {kind.upper()} needs a name")
    elif kind == "schema" and not cur.looking_at("AUTHORIZATION"):
        raise SyntaxProblem("CREATE SCHEMA needs a name or AUTHORIZATION")
    cur.rest()
    return [ops.CreateObject(stmt, kind=kind, name=name)]


def _create_trigger(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    name = cur.name()
    if not cur.looking_at("BEFORE|AFTER|INSTEAD"):
        raise NotUnderstood("expected BEFORE, AFTER or INSTEAD OF after the trigger's name")
    cur.next()
    cur.accept("OF")
    _trigger_events(cur)
    cur.expect("ON")
    table = cur.name()
    _trigger_tail(cur)
    return [ops.CreateObject(stmt, kind="trigger", name=name, on_table=table)]


def _trigger_tail(cur: Cursor) -> None:
    """[FROM t] [DEFERRABLE …] [REFERENCING …] [FOR [EACH] ROW|STATEMENT] [WHEN (…)] EXECUTE FUNCTION f(…)."""
    if cur.accept("FROM"):
        cur.name()
    constraint_attributes(cur)
    if cur.accept("REFERENCING"):
        while cur.accept_any(("OLD", "NEW")):
            cur.expect("TABLE")
            cur.accept("AS")
            cur.identifier()
    if cur.accept("FOR"):
        cur.accept("EACH")
        if not cur.accept_any(("ROW", "STATEMENT")):
            raise NotUnderstood("expected ROW or STATEMENT after FOR EACH")
    if cur.accept("WHEN"):
        check_expression(skip_group(cur, "WHEN"), "WHEN")
    cur.expect("EXECUTE")
    if not cur.accept_any(("FUNCTION", "PROCEDURE")):
        raise NotUnderstood("expected FUNCTION or PROCEDURE after EXECUTE")
    cur.name()
    skip_group(cur, "the trigger function")


def _trigger_events(cur: Cursor) -> None:
    """``INSERT OR UPDATE [OF a, b] OR DELETE``, up to ON."""
    while True:
        if cur.accept("UPDATE"):
            if cur.accept("OF"):
                cur.identifier()
                while cur.peek() is not None and cur.peek().text == ",":  # type: ignore[union-attr]
                    cur.next()
                    cur.identifier()
        elif not cur.accept_any(("INSERT", "DELETE", "TRUNCATE")):
            raise NotUnderstood("expected INSERT, UPDATE, DELETE or TRUNCATE in CREATE TRIGGER")
        if not cur.accept("OR"):
            break


def _create_type(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("TYPE")
    name = cur.name()
    if cur.accept("AS", "ENUM"):
        labels = Cursor(skip_group(cur, "ENUM"))
        values: list[str] = []
        for first, stop in items(labels, "ENUM"):
            if stop - first != 1 or labels.toks[first].kind != "string":
                raise NotUnderstood("ENUM labels are single strings")
            values.append(labels.toks[first].string_value)
        return [ops.CreateEnum(stmt, type_name=name, values=tuple(values))]
    composite = cur.accept("AS") and not cur.accept("RANGE")
    if composite or (cur.peek() is not None and cur.peek().text == "("):  # type: ignore[union-attr]
        attributes = Cursor(skip_group(cur, f"CREATE TYPE {name.name}"))
        for first, _stop in items(attributes, "CREATE TYPE") if composite else ():
            if attributes.toks[first].kind not in ("word", "qident"):
                raise NotUnderstood("a composite type's attributes start with their names")
    return [ops.CreateObject(stmt, kind="type", name=name)]


def _create_index(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    unique = cur.accept("UNIQUE")
    cur.expect("INDEX")
    concurrently = cur.accept("CONCURRENTLY")
    if_not_exists = cur.accept("IF", "NOT", "EXISTS")
    if if_not_exists and cur.looking_at("ON"):
        raise SyntaxProblem("CREATE INDEX IF NOT EXISTS needs the index's name")
    name = None if cur.looking_at("ON") else cur.identifier()
    cur.expect("ON")
    cur.accept("ONLY")
    target = cur.name()
    method = cur.identifier() if cur.accept("USING") else "btree"
    first = cur.pos
    columns = cur.identifier_list()
    check_items(cur, first, "CREATE INDEX", plain=False)
    partial = _index_tail(cur)
    expression = any(not _is_plain(c) for c in columns)
    return [
        ops.CreateIndex(
            stmt,
            target=target,
            name=name,
            columns=columns,
            unique=unique,
            concurrently=concurrently,
            if_not_exists=if_not_exists,
            partial=partial,
            expression=expression,
            method=method,
        )
    ]


def _index_tail(cur: Cursor) -> bool:
    """INCLUDE, NULLS [NOT] DISTINCT, WITH, TABLESPACE and WHERE after the columns; whether WHERE came."""
    if cur.accept("INCLUDE"):
        skip_group(cur, "INCLUDE")
    cur.accept("NULLS", "NOT", "DISTINCT") or cur.accept("NULLS", "DISTINCT")
    if cur.accept("WITH"):
        skip_group(cur, "WITH")
    if cur.accept("TABLESPACE"):
        cur.identifier()
    if cur.accept("WHERE"):
        check_expression(cur.rest(), "CREATE INDEX … WHERE")
        return True
    return False


def _is_plain(column: str) -> bool:
    return bool(column) and "(" not in column and " " not in column


# ---- DROP ---------------------------------------------------------------------------------

_TWO_WORD_KINDS = {"MATERIALIZED": "VIEW", "FOREIGN": "TABLE|DATA", "EVENT": "TRIGGER", "TEXT": "SEARCH",
                   "ACCESS": "METHOD", "USER": "MAPPING", "OPERATOR": "CLASS|FAMILY"}  # fmt: skip
# Kinds whose names are not plain identifiers (operators, casts) or whose syntax varies a lot:
# understood as drops of that kind, named by their text.
_DROP_BY_TEXT = {"operator", "cast", "transform", "user mapping", "operator class", "operator family",
                 "aggregate", "access method", "foreign data"}  # fmt: skip


def _drop(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("DROP")
    first = cur.next().upper
    if not first or first.lower() not in OBJECT_KINDS:
        raise SyntaxProblem("expected an object kind after DROP")
    kind = first.lower()
    follow = _TWO_WORD_KINDS.get(first)
    if follow and cur.peek_upper() in follow.split("|"):
        kind += " " + cur.next().text.lower()
        if kind == "text search":
            kind += " " + cur.next().text.lower()
        if kind == "foreign data":
            cur.accept("WRAPPER")
    if kind in ("owned", "role", "user", "group"):
        cur.rest()
        return [ops.Other(stmt, kind=f"drop {kind}")]
    if kind in _DROP_BY_TEXT:
        if_exists = cur.accept("IF", "EXISTS")
        text = cur.rest()
        return [
            ops.DropObject(
                stmt, kind=kind, name=Name(text), if_exists=if_exists, cascade=text.upper().endswith("CASCADE")
            )
        ]
    concurrently = cur.accept("CONCURRENTLY")
    if_exists = cur.accept("IF", "EXISTS")
    start = cur.pos
    cascade = False
    names: list[Name] = []
    on_table: Name | None = None
    for first_tok, stop in items(cur, f"DROP {kind.upper()}"):
        item = cur.within(first_tok, stop)
        names.append(item.name())
        if item.peek() is not None and item.peek().text == "(":  # type: ignore[union-attr]
            arguments = item.skip_parens()
            if kind in ("function", "procedure", "routine"):
                check_arguments(arguments, f"DROP {kind.upper()}")
        if item.accept("ON"):
            on_table = item.name()
        if item.accept("CASCADE"):
            cascade = True
        item.accept("RESTRICT")
        expect_end(item, f"DROP {kind.upper()} {names[-1].name}")
    if not names:
        raise SyntaxProblem(f"DROP {kind.upper()} names nothing")
    del start
    return [_drop_op(stmt, kind, n, if_exists, cascade, concurrently, on_table) for n in names]


def _drop_op(
    stmt: Statement, kind: str, name: Name, if_exists: bool, cascade: bool, concurrently: bool, on: Name | None
) -> ops.Operation:
    if kind == "table":
        return ops.DropTable(stmt, target=name, if_exists=if_exists, cascade=cascade)
    if kind == "index":
        return ops.DropIndex(stmt, index=name, concurrently=concurrently, if_exists=if_exists)
    if kind in ("schema", "database"):
        # DROP SCHEMA s / DROP DATABASE d: the name is the whole object, not a table in a schema.
        name = Name(name.name)
    return ops.DropObject(stmt, kind=kind, name=name, if_exists=if_exists, cascade=cascade, on_table=on)


# ---- ALTER (other than TABLE) -------------------------------------------------------------

_RENAMABLE = {"SCHEMA": "schema", "VIEW": "view", "FUNCTION": "function", "PROCEDURE": "procedure",
              "SEQUENCE": "sequence", "DOMAIN": "domain", "TYPE": "type", "AGGREGATE": "aggregate",
              "ROUTINE": "function"}  # fmt: skip


def _alter(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("ALTER")
    if cur.accept("TABLE"):
        return parse_alter_table(stmt, cur)
    if cur.accept("TYPE"):
        return _alter_type(stmt, cur)
    kind_word = cur.next().upper
    if kind_word.lower() not in OBJECT_KINDS:
        raise SyntaxProblem(f"unexpected {kind_word or 'text'!r} after ALTER")
    kind = _RENAMABLE.get(kind_word, kind_word.lower())
    if kind_word == "MATERIALIZED" and cur.accept("VIEW"):
        kind = "materialized view"
    elif kind_word == "FOREIGN" and cur.accept("TABLE"):
        kind = "foreign table"
    cur.accept("IF", "EXISTS")
    if cur.peek() is None or cur.peek().kind not in ("word", "qident"):  # type: ignore[union-attr]
        if kind_word not in ("DEFAULT", "SYSTEM", "LARGE"):
            raise SyntaxProblem(f"ALTER {kind_word} needs a name")
        cur.rest()
        return [ops.Other(stmt, kind=f"alter {kind}")]
    name = cur.name()
    if cur.peek() is not None and cur.peek().text == "(":  # type: ignore[union-attr]
        arguments = cur.skip_parens()
        if kind in ("function", "procedure"):
            check_arguments(arguments, f"ALTER {kind.upper()}")
    if kind_word in ("INDEX", "TRIGGER", "RULE", "POLICY") and cur.accept("ON"):
        cur.name()
    check_alter_action(cur, kind)
    renamable = kind in (*_RENAMABLE.values(), "materialized view")
    if cur.accept("RENAME", "TO") and renamable:
        return [ops.RenameObject(stmt, kind=kind, name=name, new_name=cur.identifier())]
    if cur.accept("SET", "SCHEMA") and renamable:
        schema = cur.identifier()
        return [ops.RenameObject(stmt, kind=kind, name=name, new_name=name.name, new_schema=schema)]
    if cur.looking_at("RENAME") and not cur.looking_at("RENAME", "COLUMN|ATTRIBUTE|CONSTRAINT|VALUE|TO"):
        raise NotUnderstood(f"unexpected {cur.peek_upper(1) or 'end'!r} after RENAME")
    if kind == "domain" and cur.looking_at("ADD"):
        return _alter_domain_add(stmt, cur, name)
    if kind == "domain" and cur.accept("SET", "NOT", "NULL"):
        spec = ops.ConstraintSpec("not_null", sql="NOT NULL")
        return [ops.AlterDomainAddConstraint(stmt, domain=name, constraint=spec)]
    cur.rest()
    return [ops.Other(stmt, kind=f"alter {kind}")]


def _alter_type(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    name = cur.name()
    check_alter_action(cur, "type")
    if cur.looking_at("ADD") and not cur.looking_at("ADD", "VALUE|ATTRIBUTE"):
        raise NotUnderstood("expected VALUE or ATTRIBUTE after ALTER TYPE … ADD")
    if cur.looking_at("RENAME") and not cur.looking_at("RENAME", "VALUE|TO|ATTRIBUTE"):
        raise NotUnderstood("expected VALUE, TO or ATTRIBUTE after ALTER TYPE … RENAME")
    if cur.accept("ADD", "VALUE"):
        if_not_exists = cur.accept("IF", "NOT", "EXISTS")
        value = _string(cur)
        if cur.accept_any(("BEFORE", "AFTER")):
            _string(cur)
        expect_end(cur, "ADD VALUE")
        return [ops.AddEnumValue(stmt, type_name=name, value=value, if_not_exists=if_not_exists)]
    if cur.accept("RENAME", "VALUE"):
        old = _string(cur)
        cur.expect("TO")
        return [ops.RenameEnumValue(stmt, type_name=name, value=old, new_value=_string(cur))]
    if cur.accept("RENAME", "TO"):
        return [ops.RenameObject(stmt, kind="type", name=name, new_name=cur.identifier())]
    if cur.accept("SET", "SCHEMA"):
        schema = cur.identifier()
        return [ops.RenameObject(stmt, kind="type", name=name, new_name=name.name, new_schema=schema)]
    cur.rest()
    return [ops.Other(stmt, kind="alter type")]


def _string(cur: Cursor) -> str:
    tok = cur.next()
    if tok.kind not in ("string", "dollar"):  # $tag$…$tag$ is a string constant too
        raise SyntaxProblem(f"expected a string, found {tok.text!r}")
    return tok.string_value


def _alter_domain_add(stmt: Statement, cur: Cursor, name: Name) -> list[ops.Operation]:
    """ALTER DOMAIN d ADD CONSTRAINT: checks every column of the domain unless NOT VALID."""
    cur.expect("ADD")
    constraint = parse_table_constraint(cur)
    return [ops.AlterDomainAddConstraint(stmt, domain=name, constraint=constraint)]


# ---- maintenance and locking statements -----------------------------------------------------


_REINDEX_KINDS: dict[str, ops.ReindexKind] = {k: k for k in get_args(ops.ReindexKind)}
_LOCK_MODES: dict[str, ops.LockMode] = {m: m for m in ops.LOCK_MODES}


def _reindex(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("REINDEX")
    concurrently = False
    if cur.peek() is not None and cur.peek().text == "(":  # type: ignore[union-attr]
        concurrently = "CONCURRENTLY" in cur.skip_parens().upper()
    kind = _REINDEX_KINDS.get(cur.next().upper.lower())
    if kind is None:
        raise SyntaxProblem("REINDEX needs INDEX, TABLE, SCHEMA, DATABASE or SYSTEM")
    concurrently = cur.accept("CONCURRENTLY") or concurrently
    name = cur.name() if not cur.at_end() else Name("")
    return [ops.Reindex(stmt, kind=kind, target_name=name, concurrently=concurrently)]


def _lock(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("LOCK")
    cur.accept("TABLE")
    cur.accept("ONLY")
    names = [cur.name()]
    while cur.peek() is not None and cur.peek().text == ",":  # type: ignore[union-attr]
        cur.next()
        names.append(cur.name())
    written = "ACCESS EXCLUSIVE"
    if cur.accept("IN"):
        written = " ".join(cur.until(("MODE",)).upper().split())
        cur.expect("MODE")
    mode = _LOCK_MODES.get(written)
    if mode is None:
        raise SyntaxProblem(f"LOCK TABLE: unknown lock mode {written!r}")
    return [ops.LockTable(stmt, target=n, mode=mode) for n in names]


def _refresh(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("REFRESH", "MATERIALIZED", "VIEW")
    concurrently = cur.accept("CONCURRENTLY")
    view = cur.name()
    cur.rest()
    return [ops.RefreshMaterializedView(stmt, view=view, concurrently=concurrently)]


def _vacuum(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("VACUUM")
    full = False
    if cur.peek() is not None and cur.peek().text == "(":  # type: ignore[union-attr]
        options = cur.skip_parens().upper().replace(",", " ").split()
        full = "FULL" in options and "FALSE" not in options[options.index("FULL") + 1 : options.index("FULL") + 2]
    while (word := cur.accept_any(("FULL", "FREEZE", "VERBOSE", "ANALYZE", "ANALYSE"))) is not None:
        full = full or word == "FULL"
    if not full:
        cur.rest()
        return [ops.Other(stmt, kind="vacuum")]
    if cur.at_end():
        return [ops.VacuumFull(stmt, target=None)]
    result: list[ops.Operation] = []
    for first, stop in cur.split_top_level():
        result.append(ops.VacuumFull(stmt, target=cur.within(first, stop).name()))
    return result


def _cluster(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("CLUSTER")
    cur.accept("VERBOSE")
    if cur.at_end():
        return [ops.Cluster(stmt, target=None)]
    target = cur.name()
    cur.rest()
    return [ops.Cluster(stmt, target=target)]


def _truncate(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    cur.expect("TRUNCATE")
    cur.accept("TABLE")
    targets: list[Name] = []
    for first, stop in cur.split_top_level():
        item = cur.within(first, stop)
        item.accept("ONLY")
        targets.append(item.name())
    cascade = any(t.upper == "CASCADE" for t in cur.toks)
    return [ops.Truncate(stmt, target=t, cascade=cascade) for t in targets]


def _table_query(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    """``TABLE [ONLY] name [*]``: a query, read to its end."""
    cur.expect("TABLE")
    cur.accept("ONLY")
    cur.name()
    if cur.peek() is not None and cur.peek().text == "*":  # type: ignore[union-attr]
        cur.next()
    return [ops.Other(stmt, kind="table")]


def _do(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    from bgmigrate.parse.plpgsql import do_block_operations

    return do_block_operations(stmt, cur)


# ---- data changes and queries (sqlglot) ------------------------------------------------------


def _dml_handler(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    found = _dml(stmt, cur.sql, cur.toks)
    cur.pos = cur.stop  # the DML readers take the statement whole
    return found


def _dml(stmt: Statement, sql: str, toks: list[Tok] | None = None) -> list[ops.Operation]:
    from bgmigrate.parse.dml_fast import fast_dml  # plain INSERT/UPDATE/DELETE: no sqlglot needed

    found = fast_dml(stmt, sql, toks)
    if found is not None:
        return found
    from bgmigrate.parse.dml import parse_dml

    return parse_dml(stmt, sql)


_HANDLERS: dict[str, _Handler] = {
    "BEGIN": _transaction,
    "START": _transaction,
    "COMMIT": _transaction,
    "END": _transaction,
    "ROLLBACK": _transaction,
    "ABORT": _transaction,
    "SAVEPOINT": _transaction,
    "RELEASE": _transaction,
    "SET": _set,
    "RESET": _reset,
    "CREATE": _create,
    "DROP": _drop,
    "ALTER": _alter,
    "REINDEX": _reindex,
    "LOCK": _lock,
    "REFRESH": _refresh,
    "VACUUM": _vacuum,
    "CLUSTER": _cluster,
    "TRUNCATE": _truncate,
    "DO": _do,
    "TABLE": _table_query,
    "SELECT": _dml_handler,
    "WITH": _dml_handler,
    "UPDATE": _dml_handler,
    "DELETE": _dml_handler,
    "INSERT": _dml_handler,
    "MERGE": _dml_handler,
}
