"""Source text → statements: the SQL lexer that splits a migration into located statements.

The splitter understands what PostgreSQL and psql understand: ``--`` and nested ``/* */``
comments, standard and ``E''`` strings, quoted identifiers, dollar quoting, ``BEGIN ATOMIC``
bodies, psql meta-commands (``\\set``, ``\\i``) and psql variables (``:name``, ``:'name'``).
It never raises: whatever text it is given comes back as statements with positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bgmigrate.suppressions import Suppression, parse_suppressions


@dataclass(frozen=True)
class Statement:
    """One statement of a migration, with where it stands in its file.

    ``text`` is the statement as written (without the terminating semicolon);
    ``sql`` is the same text prepared for parsing (psql variables replaced).
    Lines and columns are 1-based; ``end_line``/``end_column`` point at its last character.
    """

    text: str
    line: int
    column: int
    end_line: int
    end_column: int
    sql: str = ""
    kind: str = "sql"  # "sql" | "psql-meta"
    suppressions: tuple[Suppression, ...] = ()
    # Set by a front-end whose statement was generated rather than written (Alembic ops).
    origin: str = ""
    # Statements a front-end generated with an explicit transaction mode (Alembic autocommit_block).
    in_autocommit_block: bool = False
    # For a statement inside another (a DO block's body): the one written in the file, whose
    # comments hold the suppressions.
    owner: Statement | None = field(default=None, repr=False, compare=False)

    @property
    def parse_text(self) -> str:
        """The text handed to the parser."""
        return self.sql or self.text


_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_PSQL_VAR = re.compile(r"(?<![:\w]):(?:'([A-Za-z_]\w*)'|\"([A-Za-z_]\w*)\"|([A-Za-z_]\w*))")
_BEGIN_ATOMIC = re.compile(r"\bBEGIN\s+ATOMIC\b", re.IGNORECASE)
# A word starts with a letter (of any alphabet) or an underscore; letters, digits, _ and $ follow.
_WORD = re.compile(r"[^\W\d][\w$]*")
_SUPPRESSION_HINT = re.compile("bgmigrate", re.IGNORECASE)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for match in re.finditer("\n", text):
        starts.append(match.end())
    return starts


def position(line_starts: list[int], offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset.

    >>> position([0, 4, 9], 5)
    (2, 2)
    """
    lo, hi = 0, len(line_starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if line_starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo + 1, offset - line_starts[lo] + 1


def _skip_quoted(text: str, i: int, quote: str, backslash: bool) -> int:
    """Index just past the closing quote of a literal opened at ``i``."""
    n = len(text)
    i += 1
    while i < n:
        ch = text[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_block_comment(text: str, i: int) -> int:
    depth = 0
    n = len(text)
    while i < n:
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def _is_e_string(text: str, i: int) -> bool:
    return i > 0 and text[i - 1] in "eE" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] == "_"))


@dataclass
class _Chunk:
    start: int
    end: int
    comments: list[tuple[int, int]]
    kind: str = "sql"


def _scan(text: str) -> tuple[list[_Chunk], list[tuple[int, int]]]:
    """Split into statement chunks; also return every comment span."""
    chunks: list[_Chunk] = []
    comments: list[tuple[int, int]] = []
    n = len(text)
    i = 0
    start: int | None = None
    chunk_comments: list[tuple[int, int]] = []
    atomic_depth = 0

    def close(end: int) -> None:
        nonlocal start, chunk_comments
        if start is not None:
            chunks.append(_Chunk(start, end, chunk_comments))
        start = None
        chunk_comments = []

    while i < n:
        ch = text[i]
        if ch == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            comments.append((i, j))
            if start is not None:
                chunk_comments.append((i, j))
            i = j
            continue
        if ch == "/" and text.startswith("/*", i):
            j = _skip_block_comment(text, i)
            comments.append((i, j))
            if start is not None:
                chunk_comments.append((i, j))
            i = j
            continue
        if ch.isspace():
            i += 1
            continue
        if ch == "\\" and start is None:
            # psql meta-command: runs to the end of the line, never to a semicolon.
            j = text.find("\n", i)
            j = n if j < 0 else j
            chunks.append(_Chunk(i, j, [], kind="psql-meta"))
            i = j
            continue
        if start is None:
            start = i
        if ch == "'":
            i = _skip_quoted(text, i, "'", _is_e_string(text, i))
        elif ch == '"':
            i = _skip_quoted(text, i, '"', False)
        elif ch == "$":
            match = _DOLLAR_TAG.match(text, i)
            if match and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
                close_at = text.find(match.group(0), match.end())
                i = n if close_at < 0 else close_at + len(match.group(0))
            else:
                i += 1
        elif ch == ";":
            if atomic_depth:
                i += 1
                continue
            close(i)
            i += 1
        elif ch.isalpha() or ch == "_":
            match = _WORD.match(text, i)
            end = match.end() if match else i + 1
            # Only BEGIN (ATOMIC), and CASE / END inside such a body, change the state: most words
            # need no upper-casing at all.
            if ch in "bB" or atomic_depth:
                word = text[i:end].upper()
                if (word == "BEGIN" and _BEGIN_ATOMIC.match(text, i)) or (word == "CASE" and atomic_depth):
                    atomic_depth += 1
                elif word == "END" and atomic_depth:
                    atomic_depth -= 1
            i = end
        else:
            i += 1
    close(n)
    return chunks, comments


def _replace_psql_variables(sql: str) -> str:
    """Stand-ins for psql variables so the parser sees plain SQL (``:'v'`` → ``'v'``)."""
    if ":" not in sql:
        return sql

    def repl(match: re.Match[str]) -> str:
        quoted, ident, bare = match.groups()
        if quoted:
            return f"'{quoted}'"
        if ident:
            return f'"{ident}"'
        return bare or ""

    out: list[str] = []
    last = 0
    for lit_start, lit_end in _literal_spans(sql):
        out.append(_PSQL_VAR.sub(repl, sql[last:lit_start]))
        out.append(sql[lit_start:lit_end])
        last = lit_end
    out.append(_PSQL_VAR.sub(repl, sql[last:]))
    return "".join(out)


def _literal_spans(sql: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"" and i > 0 and sql[i - 1] == ":" and (i < 2 or sql[i - 2] != ":"):
            # :'name' and :"name" are psql variables, not literals.
            close = sql.find(ch, i + 1)
            i = n if close < 0 else close + 1
        elif ch in "'\"":
            j = _skip_quoted(sql, i, ch, ch == "'" and _is_e_string(sql, i))
            spans.append((i, j))
            i = j
        elif ch == "$":
            match = _DOLLAR_TAG.match(sql, i)
            if match and not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                close_at = sql.find(match.group(0), match.end())
                j = n if close_at < 0 else close_at + len(match.group(0))
                spans.append((i, j))
                i = j
            else:
                i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            spans.append((i, j))
            i = j
        elif sql.startswith("/*", i):
            j = _skip_block_comment(sql, i)
            spans.append((i, j))
            i = j
        else:
            i += 1
    return spans


def _attach_comments(
    text: str, chunks: list[_Chunk], comments: list[tuple[int, int]]
) -> list[list[tuple[int, int]]]:
    """Comments that speak for each statement: inside it, after it on its last line, or on the
    lines just above it (a blank line breaks that link)."""
    attached: list[list[tuple[int, int]]] = [list(c.comments) for c in chunks]
    inside = {span for c in chunks for span in c.comments}
    index = 0
    for span in comments:
        if span in inside:
            continue
        while index < len(chunks) and chunks[index].end <= span[0]:
            index += 1
        previous = chunks[index - 1] if index > 0 else None
        if previous is not None and "\n" not in text[previous.end : span[0]]:
            attached[index - 1].append(span)
            continue
        if index < len(chunks):
            gap = text[span[1] : chunks[index].start]
            if gap.count("\n") <= 1:
                attached[index].append(span)
    return attached


def split_sql(text: str) -> list[Statement]:
    """Split SQL text into located statements.

    >>> [s.text for s in split_sql("CREATE TABLE a (x int);\\n-- c; d\\nDROP TABLE a")]
    ['CREATE TABLE a (x int)', 'DROP TABLE a']
    >>> split_sql("SELECT 1;\\n\\\\set x 1\\nSELECT 2;")[1].kind
    'psql-meta'
    """
    starts = _line_starts(text)
    chunks, comments = _scan(text)
    statements: list[Statement] = []
    for chunk, spans in zip(chunks, _attach_comments(text, chunks, comments), strict=True):
        raw = text[chunk.start : chunk.end]
        stripped = raw.rstrip()
        end = chunk.start + max(len(stripped) - 1, 0)
        line, col = position(starts, chunk.start)
        end_line, end_col = position(starts, end)
        suppressions = tuple(
            s
            for c_start, c_end in spans
            for s in parse_suppressions(text[c_start:c_end], position(starts, c_start)[0])
        )
        sql = stripped if chunk.kind != "sql" else _replace_psql_variables(stripped)
        statements.append(
            Statement(
                text=stripped,
                line=line,
                column=col,
                end_line=end_line,
                end_column=end_col,
                sql=sql if sql != stripped else "",
                kind=chunk.kind,
                suppressions=suppressions,
            )
        )
    return statements


def file_suppressions(text: str) -> list[Suppression]:
    """Every ``ignore-file`` suppression in any comment of the text."""
    if not _SUPPRESSION_HINT.search(text):
        return []  # no suppression can be written without the word: skip scanning the text again
    starts = _line_starts(text)
    _, comments = _scan(text)
    found: list[Suppression] = []
    for c_start, c_end in comments:
        for s in parse_suppressions(text[c_start:c_end], position(starts, c_start)[0]):
            if s.file_level:
                found.append(s)
    return found
