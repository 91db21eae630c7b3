"""CREATE TABLE and ALTER TABLE read token by token into operations.

PostgreSQL's table DDL is the part of the grammar that decides blue-green safety, and the part
where a generic parser's guesses are most costly, so it is read here with its own rules:
optional COLUMN keywords, NOT VALID, USING INDEX, PostgreSQL 18 ``CONSTRAINT c NOT NULL col``.
"""

from __future__ import annotations

import functools
import re

from bgmigrate.model import operations as ops
from bgmigrate.parse.strict import (
    NotUnderstood,
    check_exclusion_elements,
    check_expression,
    check_items,
    check_type,
    constraint_attributes,
    constraint_name,
    expect_end,
    index_parameters,
    items,
    referential_actions,
    skip_group,
)
from bgmigrate.sql.names import Name
from bgmigrate.sql.statements import Statement
from bgmigrate.sql.tokens import Cursor, SyntaxProblem
from bgmigrate.sql.type_facts import SERIAL_TYPES, is_null_expression, is_volatile_default, normalize_type

# Words that end a column's type and start its constraints.
_COLUMN_CONSTRAINT_WORDS = (
    "CONSTRAINT",
    "NOT",
    "NULL",
    "DEFAULT",
    "PRIMARY",
    "UNIQUE",
    "REFERENCES",
    "CHECK",
    "GENERATED",
    "COLLATE",
    "COMPRESSION",
    "STORAGE",
    "DEFERRABLE",
    "INITIALLY",
)


_DEFAULT_SCHEMAS = re.compile(r'^\s*(?:"?public"?|"?pg_catalog"?)\s*\.\s*', re.IGNORECASE)


@functools.lru_cache(maxsize=4096)  # pure, and a folder repeats a few type names thousands of times
def column_type(type_text: str) -> str:
    """The normalised type; ``public.citext`` and ``pg_catalog.int4`` name the same types as ``citext`` and ``int4``.

    >>> column_type("public.citext"), column_type('"my schema".mytype'), column_type("pg_catalog.int4")
    ('citext', '"my schema".mytype', 'integer')
    """
    return normalize_type(_DEFAULT_SCHEMAS.sub("", type_text, count=1))


def parse_column_def(cur: Cursor) -> ops.ColumnSpec:
    """``name type [constraints]`` up to the end of the cursor's range."""
    first = cur.pos
    name = cur.identifier()
    type_text = cur.until(_COLUMN_CONSTRAINT_WORDS, stop_ops=",")
    if not type_text:
        raise SyntaxProblem(f"column {name!r} has no type")
    check_type(type_text)
    col_type = column_type(type_text)
    serial = col_type in SERIAL_TYPES
    spec: dict[str, object] = {}
    while not cur.at_end():
        _column_constraint(cur, spec)
    default = spec.get("default")
    # PostgreSQL makes identity and serial columns NOT NULL by itself.
    not_null = spec.get("not_null") or spec.get("primary_key") or spec.get("identity") or serial
    return ops.ColumnSpec(
        name=name,
        type=SERIAL_TYPES.get(col_type, col_type),
        nullable=not not_null,
        default=default if isinstance(default, str) else None,
        default_volatile=serial or is_volatile_default(default if isinstance(default, str) else None),
        serial=serial,
        identity=bool(spec.get("identity")),
        generated_stored=bool(spec.get("generated")),
        generated_virtual="generated_expression" in spec and not spec.get("generated"),
        primary_key=bool(spec.get("primary_key")),
        unique=bool(spec.get("unique")),
        references=spec.get("references") if isinstance(spec.get("references"), Name) else None,  # type: ignore[arg-type]
        references_sql=str(spec.get("references_sql", "")),
        check=spec.get("check") if isinstance(spec.get("check"), str) else None,  # type: ignore[arg-type]
        sql=cur.text_between(first, cur.pos),
    )


def _column_constraint(cur: Cursor, spec: dict[str, object]) -> None:
    if cur.accept("CONSTRAINT"):
        constraint_name(cur)
    if cur.accept("NOT", "NULL"):
        spec["not_null"] = True
    elif cur.accept("NULL"):
        spec["not_null"] = False
    elif cur.accept("DEFAULT"):
        # DEFAULT NULL (or (NULL), NULL::type) is no default at all; NULL would otherwise end the expression.
        if cur.accept("NULL"):
            cast = cur.peek()
            if cast is not None and cast.text == "::":
                cur.until(_COLUMN_CONSTRAINT_WORDS)  # the cast's type: still no default
            spec["default"] = None
        else:
            expression = cur.until(_COLUMN_CONSTRAINT_WORDS).strip()
            spec["default"] = None if is_null_expression(expression) else expression
        if spec["default"] is not None:
            check_expression(str(spec["default"]), "DEFAULT")
    elif cur.accept("PRIMARY", "KEY"):
        spec["primary_key"] = True
        _skip_index_parameters(cur)
    elif cur.accept("UNIQUE"):
        spec["unique"] = True
        cur.accept("NULLS", "NOT", "DISTINCT") or cur.accept("NULLS", "DISTINCT")
        _skip_index_parameters(cur)
    elif cur.looking_at("REFERENCES"):
        first = cur.pos
        cur.next()
        spec["references"] = cur.name()
        if cur.peek() is not None and cur.peek().text == "(":  # type: ignore[union-attr]
            _column_names(cur, "REFERENCES")
        # ON DELETE SET NULL / SET DEFAULT: the NULL and DEFAULT belong to the action.
        referential_actions(cur)
        spec["references_sql"] = cur.text_between(first, cur.pos)
    elif cur.accept("CHECK"):
        spec["check"] = cur.skip_parens()
        check_expression(str(spec["check"]), "CHECK")
        cur.accept("NO", "INHERIT")
    elif cur.accept("GENERATED"):
        _generated(cur, spec)
    elif cur.accept("COLLATE") or cur.accept("COMPRESSION") or cur.accept("STORAGE"):
        cur.next()
    elif cur.accept_any(("DEFERRABLE", "INITIALLY", "DEFERRED", "IMMEDIATE")) or cur.accept("NOT", "DEFERRABLE"):
        pass
    else:
        tok = cur.next()
        raise SyntaxProblem(f"unexpected {tok.text!r} in a column definition")


def _generated(cur: Cursor, spec: dict[str, object]) -> None:
    if not (cur.accept("ALWAYS") or cur.accept("BY", "DEFAULT")):
        raise NotUnderstood("expected ALWAYS or BY DEFAULT after GENERATED")
    cur.expect("AS")
    if cur.accept("IDENTITY"):
        spec["identity"] = True
        if cur.peek() is not None and cur.peek().text == "(":  # type: ignore[union-attr]
            cur.skip_parens()
        return
    spec["generated_expression"] = cur.skip_parens()
    check_expression(str(spec["generated_expression"]), "GENERATED ALWAYS AS")
    # PostgreSQL 18 adds VIRTUAL (the new default); only STORED rewrites the table.
    spec["generated"] = not cur.accept("VIRTUAL")
    cur.accept("STORED")


def _skip_index_parameters(cur: Cursor) -> None:
    while cur.accept("INCLUDE") or cur.accept("WITH"):
        cur.skip_parens()
    if cur.accept("USING", "INDEX", "TABLESPACE"):
        cur.next()


def parse_table_constraint(cur: Cursor) -> ops.ConstraintSpec:
    """A table constraint (``CONSTRAINT name`` optional) up to the end of the cursor's range."""
    first = cur.pos
    name = constraint_name(cur) if cur.accept("CONSTRAINT") else None
    kind, fields = _constraint_body(cur)
    not_valid = constraint_attributes(cur)
    expect_end(cur, f"the {kind.replace('_', ' ')} constraint")
    return ops.ConstraintSpec(kind=kind, name=name, not_valid=not_valid, sql=cur.text_between(first, cur.pos), **fields)  # type: ignore[arg-type]


def _constraint_body(cur: Cursor) -> tuple[str, dict[str, object]]:
    if cur.accept("CHECK"):
        expression = skip_group(cur, "CHECK")
        check_expression(expression, "CHECK")
        return "check", {"expression": expression}
    if cur.accept("FOREIGN", "KEY"):
        columns = _column_names(cur, "FOREIGN KEY")
        cur.expect("REFERENCES")
        ref = cur.name()
        ref_cols = _column_names(cur, "REFERENCES") if cur.peek() is not None and cur.peek().text == "(" else ()  # type: ignore[union-attr]
        referential_actions(cur)
        return "foreign_key", {"columns": columns, "references": ref, "ref_columns": ref_cols}
    for words, kind in ((("PRIMARY", "KEY"), "primary_key"), (("UNIQUE",), "unique")):
        if cur.accept(*words):
            cur.accept("NULLS", "NOT", "DISTINCT") or cur.accept("NULLS", "DISTINCT")
            if cur.accept("USING", "INDEX"):
                return kind, {"using_index": cur.identifier()}
            columns = _column_names(cur, kind.replace("_", " ").upper())
            index_parameters(cur)
            return kind, {"columns": columns}
    if cur.accept("EXCLUDE"):
        if cur.accept("USING"):
            cur.identifier()
        first = cur.pos
        skip_group(cur, "EXCLUDE")
        check_exclusion_elements(cur, first)
        index_parameters(cur)
        if cur.accept("WHERE"):
            check_expression(skip_group(cur, "WHERE"), "EXCLUDE … WHERE")
        return "exclude", {}
    if cur.accept("NOT", "NULL"):
        return "not_null", {"columns": (cur.identifier(),)}
    tok = cur.peek()
    raise SyntaxProblem(f"unknown constraint near {tok.text if tok else 'end of statement'!r}")


_TABLE_CONSTRAINT_START = ("CONSTRAINT", "CHECK", "FOREIGN", "PRIMARY", "UNIQUE", "EXCLUDE")


def parse_create_table(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    """``CREATE [TEMP|UNLOGGED] TABLE [IF NOT EXISTS] name (...)`` after CREATE."""
    cur.accept_any(("GLOBAL", "LOCAL"))
    temporary = bool(cur.accept_any(("TEMP", "TEMPORARY")))
    cur.accept("UNLOGGED")
    cur.expect("TABLE")
    if_not_exists = cur.accept("IF", "NOT", "EXISTS")
    target = cur.name()
    if temporary:
        cur.rest()
        return [ops.Other(stmt, kind="create temporary table")]
    if cur.accept("PARTITION", "OF"):
        parent = cur.name()
        cur.rest()
        return [ops.CreateTable(stmt, target=target, if_not_exists=if_not_exists, partition_of=parent)]
    if cur.accept("AS") or cur.looking_at("OF"):
        cur.rest()
        return [ops.CreateTable(stmt, target=target, if_not_exists=if_not_exists, as_select=True)]
    elements = cur.within(*cur.parens_range())  # the statement's own tokens, not lexed again
    _create_table_options(cur)
    columns, constraints = _table_elements(elements)
    return [ops.CreateTable(stmt, target=target, columns=columns, constraints=constraints, if_not_exists=if_not_exists)]


def _column_names(cur: Cursor, what: str) -> tuple[str, ...]:
    """``(a, "B")``: a parenthesised list of plain column names, nothing else."""
    first = cur.pos
    columns = cur.identifier_list()
    check_items(cur, first, what, plain=True)
    return columns


def _create_table_options(cur: Cursor) -> None:
    """What may follow the column list: INHERITS, PARTITION BY, USING, WITH, ON COMMIT, TABLESPACE."""
    if cur.accept("INHERITS"):
        skip_group(cur, "INHERITS")
    if cur.accept("PARTITION", "BY"):
        if not cur.accept_any(("RANGE", "LIST", "HASH")):
            raise NotUnderstood("expected RANGE, LIST or HASH after PARTITION BY")
        skip_group(cur, "PARTITION BY")
    if cur.accept("USING"):
        cur.identifier()
    if cur.accept("WITH"):
        skip_group(cur, "WITH")
    elif cur.accept("WITHOUT", "OIDS"):
        pass
    on_commit = cur.accept("ON", "COMMIT")
    if on_commit and not (cur.accept("PRESERVE", "ROWS") or cur.accept("DELETE", "ROWS") or cur.accept("DROP")):
        raise NotUnderstood("expected PRESERVE ROWS, DELETE ROWS or DROP after ON COMMIT")
    if cur.accept("TABLESPACE"):
        cur.identifier()
    expect_end(cur, "the table definition")


def _table_elements(outer: Cursor) -> tuple[tuple[ops.ColumnSpec, ...], tuple[ops.ConstraintSpec, ...]]:
    columns: list[ops.ColumnSpec] = []
    constraints: list[ops.ConstraintSpec] = []
    for first, stop in items(outer, "the table's columns"):
        item = outer.within(first, stop)
        if item.looking_at("LIKE"):
            continue
        # An unquoted CONSTRAINT/CHECK/… word always starts a table constraint; a column of
        # that name must be quoted, and a quoted name tokenizes as an identifier.
        if item.peek_upper() in _TABLE_CONSTRAINT_START:
            constraints.append(parse_table_constraint(item))
        else:
            columns.append(parse_column_def(item))
    return tuple(_apply_not_null_constraints(columns, constraints)), tuple(constraints)


def _apply_not_null_constraints(
    columns: list[ops.ColumnSpec], constraints: list[ops.ConstraintSpec]
) -> list[ops.ColumnSpec]:
    """Fold table-level NOT NULL / PRIMARY KEY into the columns they constrain."""
    forced: set[str] = set()
    for con in constraints:
        if con.kind in ("not_null", "primary_key"):
            forced.update(con.columns)
    if not forced:
        return columns
    from dataclasses import replace

    return [replace(c, nullable=False) if c.name in forced else c for c in columns]
