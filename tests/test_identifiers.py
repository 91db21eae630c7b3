"""Quoting, display text and derived names, checked against psycopg and a real PostgreSQL.

``bgmigrate.sql.quote`` is the one place generated SQL quotes names and strings; these tests
hold it to what PostgreSQL itself does (``quote_ident()``, reading a name or string back) and to
psycopg's ``sql.Identifier`` for many hostile names.
"""

from __future__ import annotations

import ast
import random
import unicodedata
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pg import PgServer
from psycopg import sql

from bgmigrate.plan.contract_guard import contract_guard
from bgmigrate.plan.phases import Phase, Plan, Step
from bgmigrate.plan.render_alembic import render_alembic
from bgmigrate.plan.render_md import render_md
from bgmigrate.plan.render_sql import render_sql
from bgmigrate.plan.sqlgen import MAX_IDENT, short_name
from bgmigrate.safetext import display
from bgmigrate.sql.implicit_names import constraint_name, index_name
from bgmigrate.sql.names import Name, split_qualified
from bgmigrate.sql.quote import LATER_KEYWORDS, dollar_quote, quote_ident, quote_literal
from bgmigrate.sql.statements import split_sql

HOSTILE_PARTS = [
    "\n", "\r", "\r\n", "*/", "/*", "--", ";", "'", '"', '""', "$$", "$bgmigrate$", "$1", "\\", " ", "\t",
    "DROP TABLE decoy; ", "é", "€", "😀", "\u2028", "\u202e", "\x1b[2J", "\x7f", ".", "`", "[bold]", "%s", "%(x)s",
    "=", ":x", "A", "Z", "_", "0", "9", "$", "bgm_", "select", "user", "int",
]  # fmt: skip


def _hostile_names(count: int, seed: int = 9) -> list[str]:
    """Names built from the parts above, plus some random Unicode; all at most 63 bytes."""
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < count:
        parts = [rng.choice(HOSTILE_PARTS) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.3:
            parts.append(
                "".join(chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xA0, 0x2FFF)])) for _ in range(3))
            )
        name = "".join(parts)
        if len(name.encode()) <= MAX_IDENT and not any(unicodedata.category(c) == "Cs" for c in name):
            names.append(name)
    return names


PLAIN_NAMES = ["orders", "a", "_x", "x1", "a$b", "Order", "1abc", "ümlaut", "a b", "café", "", "$x", "with_$"]


@pytest.fixture(scope="module")
def conn(pg_server: PgServer) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with pg_server.connect() as connection:
        yield connection


def _server_keywords(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    return [str(row[0]) for row in conn.execute("SELECT word FROM pg_get_keywords()").fetchall()]


def _candidates(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    keywords = _server_keywords(conn)
    return PLAIN_NAMES + keywords + [k.upper() for k in keywords[:20]] + sorted(LATER_KEYWORDS) + _hostile_names(400)


def test_quote_ident_is_postgresql_quote_ident(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    names = _candidates(conn)
    rows = conn.execute("SELECT n, quote_ident(n) FROM unnest(%s::text[]) WITH ORDINALITY AS u(n, i)", (names,))
    server = {str(n): str(quoted) for n, quoted in rows.fetchall()}
    differ = {
        n: (quote_ident(n), server[n])
        for n in names
        # Keywords of later PostgreSQL versions are quoted even though 15 would not: always safe.
        if quote_ident(n) != server[n] and not (n in LATER_KEYWORDS and quote_ident(n) == f'"{n}"')
    }
    assert differ == {}


def _read_back(conn: psycopg.Connection[tuple[object, ...]], quoted: list[str]) -> list[str]:
    """The names PostgreSQL reads from the quoted texts (as column aliases of one SELECT)."""
    query = "SELECT " + ", ".join(f"1 AS {q}" for q in quoted)
    cursor = conn.execute(query)
    assert cursor.description is not None
    return [column.name for column in cursor.description]


def test_quote_ident_reads_back_like_psycopg_identifier(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    names = [n for n in _candidates(conn) if n]
    ours = [quote_ident(n) for n in names]
    theirs = [sql.Identifier(n).as_string(conn) for n in names]
    assert _read_back(conn, ours) == names
    assert _read_back(conn, theirs) == names
    # Where we quote at all, we quote exactly as psycopg does.
    assert [o for o, t in zip(ours, theirs, strict=True) if o.startswith('"') and o != t] == []


def test_literals_and_dollar_quotes_read_back_unchanged(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    texts = [*_hostile_names(200, seed=3), "", "it's", "\\", "E'\\n'", "$$", "$bgmigrate$x$bgmigrate_1$", "$b"]
    conn.execute("SET standard_conforming_strings = on")
    literals = conn.execute("SELECT " + ", ".join(quote_literal(t) for t in texts)).fetchone()
    assert literals is not None and list(literals) == texts
    dollars = conn.execute("SELECT " + ", ".join(dollar_quote(t, "") for t in texts)).fetchone()
    assert dollars is not None and list(dollars) == texts


def test_a_nul_in_a_name_is_never_sent(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """No PostgreSQL name holds NUL; quoting one from a hostile file must not crash lint, and it never runs."""
    quoted = quote_ident("a\x00b")
    with pytest.raises(psycopg.Error):  # the server reads up to the NUL: an unterminated quoted name
        conn.execute(f"SELECT 1 AS {quoted}")


@given(st.text(max_size=80))
def test_display_is_one_safe_line(text: str) -> None:
    shown = display(text)
    assert "*/" not in shown and "/*" not in shown
    assert all(c.isprintable() or c == " " for c in shown), repr(shown)
    assert "\n" not in shown and "\r" not in shown
    if text.isprintable() and "*/" not in text and "/*" not in text:
        assert shown == text


names_strategy = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=90)


@settings(max_examples=300)
@given(st.lists(names_strategy, min_size=1, max_size=3), st.lists(names_strategy, min_size=1, max_size=3))
def test_short_names_are_safe_short_and_distinct(a: list[str], b: list[str]) -> None:
    for parts in (a, b):
        made = short_name("bgm", *parts)
        assert len(made.encode()) <= MAX_IDENT
        assert quote_ident(made) == made  # never needs quoting, so it carries nothing anywhere
    if a != b:
        assert short_name("bgm", *a) != short_name("bgm", *b)


def test_short_names_differ_after_byte_63() -> None:
    long_a, long_b = "é" * 40 + "a", "é" * 40 + "b"  # equal in their first 80 bytes
    assert short_name("bgm", "sync", long_a) != short_name("bgm", "sync", long_b)
    assert short_name("bgm", "sync", "status") == "bgm_sync_status"  # plain names stay readable


@given(st.one_of(st.none(), names_strategy), names_strategy)
def test_table_names_round_trip_through_their_text(schema: str | None, name: str) -> None:
    assert split_qualified(str(Name(name, schema))) == (schema, name)


@pytest.mark.parametrize(
    ("table", "columns"),
    [("é" * 40, ("ü" * 30,)), ("a" + "é" * 40, ("b" * 10, "c")), ("t", ("€" * 25,)), ("x" * 60, ("y",))],
)
def test_default_names_match_postgresql(
    conn: psycopg.Connection[tuple[object, ...]], table: str, columns: tuple[str, ...]
) -> None:
    schema = "bgm_ident_names"
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE; CREATE SCHEMA {}").format(*[sql.Identifier(schema)] * 2))
    try:
        t = sql.Identifier(schema, table)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        conn.execute(
            sql.SQL("CREATE TABLE {} ({})").format(
                t, sql.SQL(", ").join(sql.SQL("{} int").format(sql.Identifier(c)) for c in columns)
            )
        )
        conn.execute(sql.SQL("ALTER TABLE {} ADD UNIQUE ({})").format(t, cols))
        conn.execute(sql.SQL("CREATE INDEX ON {} ({})").format(t, cols))
        found = conn.execute(
            "SELECT c.relname, x.indisunique FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            (schema,),
        ).fetchall()
        stored = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND relkind = 'r'",
            (schema,),
        ).fetchone()
        assert stored is not None
        table_as_stored = str(stored[0])  # PostgreSQL cut it to 63 bytes
        by_kind = {bool(unique): str(name) for name, unique in found}
        assert by_kind[True] == constraint_name(table_as_stored, "unique", columns)
        assert by_kind[False] == index_name(table_as_stored, columns)
    finally:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


HOSTILE_TEXT = 'x\nimport os; os.system(\'echo pwned\')\r\n"""\\N{x} */ --'


def _hostile_plan() -> Plan:
    step = Step(kind="sql", description=HOSTILE_TEXT, sql="SELECT 1", rollback_sql="SELECT 2")
    phases = tuple(
        Phase(name, steps=(step,), serves=("old", "new"), notes=(HOSTILE_TEXT,))
        for name in ("expand", "migrate", "contract")
    )
    return Plan(
        id=HOSTILE_TEXT, source=HOSTILE_TEXT, phases=phases, rewrites=(HOSTILE_TEXT,), assumptions=(HOSTILE_TEXT,)
    )


def test_alembic_revisions_keep_names_out_of_the_code() -> None:
    for source in render_alembic(_hostile_plan()).values():
        tree = ast.parse(source)
        assert not any(
            isinstance(node, ast.Import | ast.ImportFrom)
            and node.module not in ("alembic", "bgmigrate.switch.alembic_gate")  # contract's gate (issue 9 C7)
            for node in ast.walk(tree)
        )
        assert [type(node).__name__ for node in tree.body][:2] == ["Expr", "ImportFrom"]  # docstring, then the import
        assert "\r" not in source


def test_alembic_hook_comments_keep_names_out_of_the_code() -> None:
    from bgmigrate.plan.alembic_hook import _upgrade_lines

    plan = _hostile_plan()
    lines = _upgrade_lines(plan, plan.phases[0])
    assert all("\n" not in line and "\r" not in line for line in lines)  # a comment line cannot end early
    code = [line for line in lines if not line.startswith("#")]
    assert code == [
        "with op.get_context().autocommit_block():",
        *(f'op.execute("""{s}""")' for s in ("SET lock_timeout = '300ms'", "SELECT 1")),
    ]


def test_plan_md_and_phase_files_keep_names_on_their_line() -> None:
    plan = _hostile_plan()
    markdown = render_md(plan)
    assert all(line.isprintable() for line in markdown.split("\n"))
    for name, text in render_sql(plan).items():
        assert all(line.isprintable() for line in text.split("\n")), name
        guard = [s.text for s in split_sql("\n".join(contract_guard(plan.id)))] if "contract" in name else []
        assert [s.text for s in split_sql(text)] == ["SET lock_timeout = '300ms'", *guard, "SELECT 1"]
