"""The one lexer and statement splitter: statement boundaries exactly where PostgreSQL and psql put them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgmigrate.sql.lexer import lex, literal_value
from bgmigrate.sql.statements import split_sql, statement_texts, take_tokens
from bgmigrate.sql.tokens import tokenize

FUNCTION = "CREATE FUNCTION f() RETURNS int LANGUAGE sql"


def texts(sql: str) -> list[str]:
    return [s.text for s in split_sql(sql)]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # A bare carriage return ends a -- comment, as in PostgreSQL's scanner.
        ("SELECT 1; -- note\rDROP TABLE t;", ["SELECT 1", "DROP TABLE t"]),
        ("-- one\r-- two\rDROP TABLE t", ["DROP TABLE t"]),
        # A byte-order mark at the start is white space.
        ("\ufeffDROP TABLE t;", ["DROP TABLE t"]),
        # E'' strings honour backslash escapes; standard, U&'' and identifier-glued ones do not.
        ("SELECT E'\\'; DROP TABLE d'; SELECT 2", ["SELECT E'\\'; DROP TABLE d'", "SELECT 2"]),
        ("SELECT e'it\\'s;'; SELECT 2", ["SELECT e'it\\'s;'", "SELECT 2"]),
        ("SELECT U&'\\'; DROP TABLE t; --'", ["SELECT U&'\\'", "DROP TABLE t"]),
        ("SELECT note'\\'; DROP TABLE t;", ["SELECT note'\\'", "DROP TABLE t"]),
        ("SELECT 'it''s; x'; SELECT 2", ["SELECT 'it''s; x'", "SELECT 2"]),
        ('SELECT 1 AS "a"";b"; SELECT 2', ['SELECT 1 AS "a"";b"', "SELECT 2"]),
        ("SELECT U&\"d;\" UESCAPE '!'; SELECT 2", ["SELECT U&\"d;\" UESCAPE '!'", "SELECT 2"]),
        # Dollar quotes: any identifier letter in the tag, and only at a token start.
        ("SELECT $é$;DROP TABLE t;$é$; SELECT 1", ["SELECT $é$;DROP TABLE t;$é$", "SELECT 1"]),
        ("SELECT $a$ $$; $a$; SELECT 1", ["SELECT $a$ $$; $a$", "SELECT 1"]),
        ("SELECT 1 AS €$$; DROP TABLE t; SELECT 2", ["SELECT 1 AS €$$", "DROP TABLE t", "SELECT 2"]),
        ("SELECT 1 AS a$b$; DROP TABLE t", ["SELECT 1 AS a$b$", "DROP TABLE t"]),
        # Block comments nest.
        ("/* a /* b */ DROP TABLE x; */ SELECT 1;", ["SELECT 1"]),
        # psql: \; separates statements the server runs; a backslash starts a meta-command.
        ("SELECT 1 \\; DROP TABLE t;", ["SELECT 1", "DROP TABLE t"]),
        (
            "SELECT format('DROP TABLE %I', 't') \\gexec\nSELECT 2;",
            ["SELECT format('DROP TABLE %I', 't')", "\\gexec", "SELECT 2"],
        ),
        # COPY … FROM STDIN: psql reads the following lines, up to \., as data.
        ("COPY t (a) FROM stdin;\nit's; DROP TABLE x\n\\.\nDROP TABLE y;", ["COPY t (a) FROM stdin", "DROP TABLE y"]),
        # A semicolon inside parentheses does not end a statement (CREATE RULE … DO (a; b)).
        (
            "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 1",
            [
                "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))",
                "SELECT 1",
            ],
        ),
    ],
)
def test_statement_boundaries(sql: str, expected: list[str]) -> None:
    assert texts(sql) == expected


@pytest.mark.parametrize(
    "body",
    [
        "SELECT 1; SELECT 2;",
        "SELECT CASE WHEN true THEN 1 ELSE 2 END; SELECT (CASE 1 WHEN 1 THEN 2 END);",
        "SELECT 1 AS case; SELECT 2 AS end;",  # keywords used as column labels
        "SELECT t.end FROM (SELECT 1 AS end) t;",
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; SELECT 2;",
    ],
)
@pytest.mark.parametrize(
    "head",
    [FUNCTION, "create or replace procedure p() language sql", "CREATE /* c */ OR REPLACE FUNCTION f() RETURNS int"],
)
def test_begin_atomic_bodies_are_one_statement(head: str, body: str) -> None:
    create = f"{head} BEGIN ATOMIC {body} END"
    assert texts(f"{create};\nDROP TABLE t;\nDELETE FROM u;") == [create, "DROP TABLE t", "DELETE FROM u"]
    spaced = f"{head} BEGIN /* x */ ATOMIC\n{body}\nEND"
    assert texts(f"{spaced}; DROP TABLE t") == [spaced, "DROP TABLE t"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT begin atomic FROM (SELECT 1 AS begin) s",  # words, not a routine body
        "SELECT 1 AS begin\u00a0atomic",  # a no-break space is part of an identifier
        f"{FUNCTION} AS 'SELECT 1 AS begin atomic'",
        "CREATE TABLE begin (atomic int)",
    ],
)
def test_begin_atomic_outside_a_routine_body_does_not_swallow_statements(sql: str) -> None:
    assert texts(f"{sql}; DROP TABLE t; COMMIT; DELETE FROM u") == [sql, "DROP TABLE t", "COMMIT", "DELETE FROM u"]


def test_tokens_follow_the_same_lexer() -> None:
    toks = tokenize("ALTER TABLE t -- x\rDROP COLUMN c, ADD d text DEFAULT E'it\\'s' /* a /* b */ c */")
    assert [t.text for t in toks] == [
        "ALTER",
        "TABLE",
        "t",
        "DROP",
        "COLUMN",
        "c",
        ",",
        "ADD",
        "d",
        "text",
        "DEFAULT",
        "E'it\\'s'",
    ]
    assert toks[-1].string_value == "it's"
    [ident] = tokenize('U&"d\\0061t"')
    assert ident.kind == "qident" and ident.ident == "dat"
    [label] = tokenize("U&'caf\\00e9'")
    assert label.kind == "string" and label.string_value == "café"
    [body] = tokenize("$q$ a; b $q$")
    assert body.kind == "dollar" and body.string_value == " a; b "


def test_literal_values() -> None:
    assert literal_value("'a''b'") == "a'b"
    assert literal_value("E'\\n\\x41\\101\\\\'") == "\nAA\\"
    assert literal_value("U&'\\+01F600'") == "\U0001f600"


def test_positions_count_lines() -> None:
    [first, second] = split_sql("\ufeffSELECT 1;\n\n  DROP TABLE t;")
    assert (first.line, first.column) == (1, 2) and (second.line, second.column) == (3, 3)


# ---- property-based: never raises, never loses or invents text, agrees with PostgreSQL's parser ----

PIECES = [
    "SELECT", " ", "\n", "\r", ";", "'", '"', "$", "$$", "$a$", "--", "/*", "*/", "\\", "E'", "U&'", "e", "(", ")",
    "BEGIN", "ATOMIC", "END", "CASE", "CREATE", "FUNCTION", "é", "\u00a0", "\ufeff", "x", ":", "::",
]  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
def test_any_text_splits_into_ordered_pieces_of_itself(text: str) -> None:
    statements = split_sql(text)
    tokens = list(lex(text))
    assert "".join(text[t.start : t.end] for t in tokens) == text  # tokens tile the text
    offset = 0
    lines = text.split("\n")
    for stmt in statements:
        assert stmt.text and stmt.text == stmt.text.rstrip(" \t\n\r\f\v")
        start = sum(len(line) + 1 for line in lines[: stmt.line - 1]) + stmt.column - 1
        assert start >= offset and text[start : start + len(stmt.text)] == stmt.text
        offset = start + len(stmt.text)
    tokenize(text)  # never raises either


VALID = [
    "SELECT 1",
    "SELECT 'a;b''c'",
    "SELECT E'x\\';y'",
    "SELECT U&'d\\0061t'",
    "SELECT U&'d!0061t' UESCAPE '!'",
    'SELECT 1 AS "we;ird"""',
    "SELECT $$a;b$$",
    "SELECT $tag$ $$ ; $tag$",
    "SELECT $é$ ; $é$",
    "SELECT 1 AS a$b",
    "SELECT 1 /* c; /* nested; */ d; */ + 2",
    f"{FUNCTION} BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END",
    f"{FUNCTION} BEGIN ATOMIC SELECT 1 AS case; END",
    "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END",
    "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))",
    "SELECT begin atomic FROM (SELECT 1 AS begin) s",
    "DO $$BEGIN PERFORM 1; END$$",
    "DROP TABLE t",
]
SEPARATORS = [";\n", ";", "; -- c\r", ";\n-- c; d\n", "; /* a /* ; */ */ ", ";\r\n", ";\t"]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(VALID), st.sampled_from(SEPARATORS)), min_size=1, max_size=8))
def test_agrees_with_postgresql_parser_on_valid_sql(parts: list[tuple[str, str]]) -> None:
    parser = pytest.importorskip("pglast.parser")
    text = "".join(stmt + sep for stmt, sep in parts)
    expected = [text[s].strip() for s in parser.split(text, with_parser=True, only_slices=True)]
    assert texts(text) == expected == [stmt for stmt, _ in parts]


def test_the_docstring_examples_hold() -> None:
    import doctest

    from bgmigrate.sql import lexer as sql_lexer
    from bgmigrate.sql import statements
    from bgmigrate.sql import tokens as sql_tokens
    from bgmigrate.trace import traceable

    for module in (sql_lexer, sql_tokens, statements, traceable):
        assert doctest.testmod(module).failed == 0, module.__name__


LEADING = ["", " ", "\n", "\r", "\t", "-- c\r", "-- c\n", "/* c */", "/* a /* b */ c */", "/**/", "\f"]
CONTROL = ["COMMIT", "commit", "End", "ROLLBACK", "abort", "BEGIN", "START TRANSACTION", "SAVEPOINT s",
           "RELEASE s", "PREPARE TRANSACTION 'x'", "COMMIT PREPARED 'x'"]  # fmt: skip


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from(LEADING), max_size=4).map("".join),
    st.sampled_from(CONTROL),
    st.sampled_from(["", " WORK", " AND CHAIN"]),
)
def test_transaction_control_is_forbidden_however_it_is_written(lead: str, control: str, tail: str) -> None:
    from bgmigrate.trace.traceable import FORBIDDEN, verdict

    statements = split_sql(f"SELECT 1;{lead}{control}{tail};SELECT 2;")
    assert len(statements) == 3
    found = verdict(statements[1], 15)
    assert found is not None and found.kind == FORBIDDEN


COMMENTS = ["/*", "*/", "/**/", "/*/", "--", "\n", "$", "$q$", "a", "'", "E'", "\\", " ", ";", "(", ")", "é", "1", ".5"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES + COMMENTS), max_size=60).map("".join))
def test_tokenize_cuts_text_where_lex_does(text: str) -> None:
    # The splitter reads lex's cut and the parsers tokenize's: one regex pass each, two loops.
    merged = {"param": "op", "backslash": "op", "other": "op"}
    expected = [
        (merged.get(t.kind, t.kind), text[t.start : t.end], t.start, t.end)
        for t in lex(text)
        if t.kind not in ("space", "comment")
    ]
    assert [tuple(tok) for tok in tokenize(text)] == expected


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*PIECES, *COMMENTS, "\\:", "\\;", ":v", ":'v'", "COPY", "STDIN", "\\."]), max_size=60))
def test_the_splitters_tokens_are_what_tokenize_gives(pieces: list[str]) -> None:
    # The parsers take the splitter's tokens instead of lexing again: they must be the same.
    for stmt in split_sql("".join(pieces)):
        kept = take_tokens(stmt)
        if kept is not None:
            assert kept == tokenize(stmt.parse_text)
        assert take_tokens(stmt) is None  # handed out once


def test_plain_statements_keep_their_tokens_and_others_do_not() -> None:
    plain, variable, colon, unterminated = split_sql("ALTER TABLE t ADD x int; SELECT :v; SELECT \\: 1; SELECT 'a  ")
    assert [t.text for t in take_tokens(plain) or []] == ["ALTER", "TABLE", "t", "ADD", "x", "int"]
    assert take_tokens(variable) is None and take_tokens(colon) is None and take_tokens(unterminated) is None


def test_the_splitter_keeps_tokens_up_to_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # Memory: a large file keeps tokens for its first statements only; the rest are tokenized when parsed.
    from bgmigrate.sql import statements

    monkeypatch.setattr(statements, "_KEPT_TOKENS", 10)
    kept = [take_tokens(s) for s in split_sql("SELECT 1, 2, 3; SELECT 4, 5, 6; SELECT 7")]
    assert [t.text for t in kept[0] or []] == ["SELECT", "1", ",", "2", ",", "3"]
    assert kept[1] is not None and kept[2] is None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([*PIECES, *COMMENTS, "\\:", "\\;", ":v", "COPY", "STDIN", "\\.", "\ufeff"]), max_size=60)
)
def test_statement_texts_are_the_texts_split_sql_gives(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert statement_texts(text) == [s.text for s in split_sql(text)]


_ONE_STATEMENT = [
    p for p in [*PIECES, *COMMENTS, "\t", "\f", "\v", "-- c\n", "-- c\r"] if ";" not in p and "\\" not in p
]


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_ONE_STATEMENT), max_size=40))
def test_statement_texts_without_a_semicolon_are_the_texts_split_sql_gives(pieces: list[str]) -> None:
    text = "".join(pieces)  # the shortcut's case: at most one statement, leading comments skipped
    assert statement_texts(text) == [s.text for s in split_sql(text)]
