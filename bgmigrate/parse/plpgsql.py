"""DO blocks: the SQL statements inside a PL/pgSQL body, so guarded DDL is linted too.

Migration folders often wrap DDL in ``DO $$ BEGIN IF NOT EXISTS (…) THEN ALTER TABLE … END IF;
END $$`` to make it re-runnable. The DDL runs all the same, so it is judged like any other
statement. Control flow (IF, LOOP, EXCEPTION handlers, assignments, RAISE, PERFORM) is stepped
over; dynamic SQL (EXECUTE) and anything not recognised keep the whole block unparsed, so
nothing is skipped silently.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bgmigrate.model import operations as ops
from bgmigrate.sql.statements import Statement, split_sql
from bgmigrate.sql.tokens import Cursor, SyntaxProblem

# Statements PL/pgSQL runs as plain SQL and bgmigrate models.
_SQL_STARTS = {
    "ALTER", "CREATE", "DROP", "UPDATE", "DELETE", "INSERT", "TRUNCATE", "LOCK", "REINDEX", "REFRESH",
    "COMMENT", "GRANT", "REVOKE", "SET", "RESET", "SELECT", "WITH", "ANALYZE", "COMMIT", "ROLLBACK",
}  # fmt: skip
# PL/pgSQL statements with no schema effect.
_PLPGSQL_QUIET = {"END", "RAISE", "PERFORM", "RETURN", "NULL", "GET", "ASSERT", "EXIT", "CONTINUE", "CLOSE",
                  "OPEN", "FETCH", "MOVE"}  # fmt: skip
_ASSIGNMENT = re.compile(r"^[A-Za-z_][\w.]*(\[[^\]]*\])?\s*(:=|=)")
_LABEL = re.compile(r"^<<\s*\w+\s*>>\s*")


class _NotUnderstood(Exception):
    """A part of the body bgmigrate does not read; the block stays unparsed."""


def _body(stmt: Statement, cur: Cursor) -> tuple[str, int]:
    """The block's code and its character offset in the statement's text."""
    cur.expect("DO")
    if cur.accept("LANGUAGE"):  # the language may come first or last, as a name or a string
        _language(cur)
    tok = cur.next()
    if cur.accept("LANGUAGE"):
        _language(cur)
    if tok.kind == "dollar":
        opener = tok.text[: tok.text.index("$", 1) + 1]
        return tok.text[len(opener) : len(tok.text) - len(opener)], tok.start + len(opener)
    if tok.kind == "string" and tok.text.startswith("'"):
        return tok.string_value, tok.start + 1
    raise _NotUnderstood("DO block without a body")


def _language(cur: Cursor) -> None:
    tok = cur.next()
    language = tok.string_value if tok.kind == "string" else tok.ident
    if language.lower() != "plpgsql":
        raise _NotUnderstood(f"DO block in {language}")


def _strip_control(text: str) -> str:
    """Remove leading PL/pgSQL control words so a guarded statement stands alone."""
    while True:
        text = _LABEL.sub("", text.lstrip())
        cur = Cursor(text)
        word = cur.peek_upper()
        if word in ("BEGIN", "ELSE", "LOOP"):
            cur.next()
        elif word in ("IF", "ELSIF", "ELSEIF", "WHEN") or cur.looking_at("EXCEPTION", "WHEN"):
            cur.until(("THEN",), stop_ops="")
            if not cur.accept("THEN"):
                raise _NotUnderstood(f"{word} without THEN")
        elif word in ("FOR", "FOREACH", "WHILE"):
            cur.until(("LOOP",), stop_ops="")
            if not cur.accept("LOOP"):
                raise _NotUnderstood(f"{word} without LOOP")
        else:
            return text
        rest = cur.peek()
        text = text[rest.start :] if rest is not None else ""


def _inner(piece: Statement, declaring: bool) -> tuple[Statement | None, bool]:
    """The SQL statement a body piece holds (None for control flow), and whether DECLARE goes on."""
    text = piece.text
    if Cursor(text).peek_upper() == "DECLARE":
        return None, True
    stripped = _strip_control(text)
    if declaring and stripped is text:
        return None, True  # a variable declaration: name type [:= value]
    cur = Cursor(stripped)
    word = cur.peek_upper()
    if not word or word in _PLPGSQL_QUIET or _ASSIGNMENT.match(stripped):
        return None, False
    if word == "EXECUTE":
        raise _NotUnderstood("dynamic SQL (EXECUTE) in a DO block")
    if word not in _SQL_STARTS:
        raise _NotUnderstood(f"{word} in a DO block")
    skipped = text[: len(text) - len(stripped)]
    if "\n" in skipped:
        line, column = piece.line + skipped.count("\n"), len(skipped) - skipped.rindex("\n")
    else:
        line, column = piece.line, piece.column + len(skipped)
    return replace(piece, text=stripped, sql="", line=line, column=column), False


def do_block_operations(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    """The operations a DO block's body performs, placed at their lines in the file."""
    from bgmigrate.parse.parser import StatementSyntaxError, parse_statement

    try:
        body, offset = _body(stmt, cur)
    except (_NotUnderstood, SyntaxProblem) as exc:
        return [ops.Unparsed(stmt, reason=str(exc) if isinstance(exc, _NotUnderstood) else "DO block")]
    first_line = stmt.line + stmt.parse_text.count("\n", 0, offset)
    found: list[ops.Operation] = []
    declaring = False
    try:
        for piece in split_sql(body):
            inner, declaring = _inner(_located(piece, first_line, stmt), declaring)
            if inner is not None:
                found.extend(parse_statement(inner))
    except (_NotUnderstood, StatementSyntaxError) as exc:
        reason = str(exc) if isinstance(exc, _NotUnderstood) else f"DO block: {exc.message}"
        return [ops.Unparsed(stmt, reason=reason)]
    return found or [ops.Other(stmt, kind="do")]


def _located(piece: Statement, first_line: int, outer: Statement) -> Statement:
    """A body piece placed in the file: its lines shifted, the block's suppressions kept."""
    shift = first_line - 1
    return replace(
        piece,
        line=piece.line + shift,
        end_line=piece.end_line + shift,
        column=piece.column if piece.line > 1 else piece.column + outer.column,
        suppressions=(),
        in_autocommit_block=outer.in_autocommit_block,
        owner=outer.owner or outer,
    )
