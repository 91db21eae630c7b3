"""Source text → statements: the SQL lexer that splits a migration into located statements.

The splitter understands what PostgreSQL and psql understand: ``--`` and nested ``/* */``
comments, standard and ``E''`` strings, quoted identifiers, dollar quoting, ``BEGIN ATOMIC``
bodies, psql meta-commands (``\\set``, ``\\i``) and psql variables (``:name``, ``:'name'``).
It never raises: whatever text it is given comes back as statements with positions.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field, fields
from typing import Literal

from bgmigrate.sql.lexer import BOM, KINDS_BY_GROUP, TOKEN_PATTERN, block_comment_end, lex
from bgmigrate.sql.suppressions import Suppression, parse_suppressions
from bgmigrate.sql.tokens import Tok, token_kind

# A statement for the server, or a psql meta-command (\\i, \\set, …) that psql runs itself.
StatementKind = Literal["sql", "psql-meta"]


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
    kind: StatementKind = "sql"
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


_PSQL_VAR = re.compile(r"(?<![:\w]):(?:'([A-Za-z_]\w*)'|\"([A-Za-z_]\w*)\"|([A-Za-z_]\w*))")
_SUPPRESSION_HINT = re.compile("bgmigrate", re.IGNORECASE)
_ROUTINES = ("FUNCTION", "PROCEDURE")
_SPACE = " \t\n\r\f\v"
_END_OF_COPY_DATA = re.compile(r"^\\\.\r?$", re.MULTILINE)
# Tokens the splitter keeps per file for the parser (about 100 bytes each, held from splitting
# until each statement is parsed); past this, statements are tokenized again when parsed, so
# a file of 20,000 INSERTs does not hold all their tokens at once (+31 MiB of peak memory).
_KEPT_TOKENS = 50_000


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
    line = max(bisect.bisect_right(line_starts, offset), 1)  # in C: called twice per statement
    return line, offset - line_starts[line - 1] + 1


@dataclass
class _Chunk:
    start: int
    end: int
    comments: list[tuple[int, int]]
    kind: StatementKind = "sql"
    # The chunk's tokens as ``tokenize`` cuts its text (offsets from ``start``); None when the
    # splitter's scan did not read it as one run (psql's ``\:``), so only ``tokenize`` can tell.
    tokens: list[Tok] | None = None


def is_routine_head(words: list[str]) -> bool:
    """Whether a statement's first words are CREATE [OR REPLACE] FUNCTION|PROCEDURE (upper case).

    >>> is_routine_head(["CREATE", "OR", "REPLACE", "PROCEDURE"]), is_routine_head(["CREATE", "TABLE"])
    (True, False)
    """
    if len(words) < 2 or words[0] != "CREATE":
        return False
    if words[1] in _ROUTINES:
        return True
    return len(words) >= 4 and words[1:3] == ["OR", "REPLACE"] and words[3] in _ROUTINES


def _may_become_routine(head: list[str]) -> bool:
    """Whether more words can still make this head ``CREATE [OR REPLACE] FUNCTION|PROCEDURE``.

    >>> _may_become_routine(["CREATE", "OR"]), _may_become_routine(["CREATE", "TABLE"]), _may_become_routine(["ALTER"])
    (True, False, False)
    """
    prefix = ["CREATE", "OR", "REPLACE"]
    return len(head) < 4 and head == prefix[: len(head)]


class _Body:
    """Where a statement stands in SQL-standard routine bodies (``BEGIN ATOMIC … END``).

    Only a CREATE [OR REPLACE] FUNCTION|PROCEDURE statement has one, as in the server's grammar;
    inside it ``CASE … END`` and nested ``BEGIN ATOMIC … END`` pair up, and a semicolon does not
    end the statement. ``END``/``CASE`` used as a column label (after AS or a dot) count for nothing.
    """

    def __init__(self) -> None:
        self.head: list[str] = []
        self.routine = False
        self.depth = 0
        self._begin = False  # the previous token was BEGIN: an ATOMIC next opens a body
        self._label = False  # the previous token was AS or '.': a keyword next is a name
        self.copy_from_stdin = False  # COPY … FROM STDIN: psql sends the lines after it as data
        # False once no later token can change anything: neither routine nor COPY, nor can become one.
        self.listening = True

    def see(self, kind: str, text: str) -> None:
        """Take the next significant token of the statement."""
        if kind != "word":
            self._begin = False
            self._label = text == "."
            return
        if len(self.head) < 4:
            self.head.append(text.upper())
            self.routine = is_routine_head(self.head)
            self.listening = self.routine or self.head[0] == "COPY" or _may_become_routine(self.head)
        if self.head[0] == "COPY" and text.upper() == "STDIN":
            self.copy_from_stdin = True
        if not self.routine:
            return
        word = text.upper()
        keyword = not self._label and self.depth > 0
        if (self._begin and word == "ATOMIC") or (keyword and word == "CASE"):
            self.depth += 1
        elif keyword and word == "END":
            self.depth -= 1
        self._begin = word == "BEGIN" and not self._label
        self._label = word == "AS"


def _copy_data_end(text: str, semicolon_end: int) -> int:
    """Where SQL resumes after ``COPY … FROM STDIN;``: past the data's ``\\.`` line (or the end)."""
    data_start = _line_end(text, semicolon_end) + 1
    found = _END_OF_COPY_DATA.search(text, min(data_start, len(text)))
    return found.end() if found else len(text)


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def _scan(text: str, keep_tokens: bool = False) -> tuple[list[_Chunk], list[tuple[int, int]]]:
    """Split into statement chunks as psql does; also return every comment span.

    A semicolon ends a statement outside parentheses and routine bodies; so does psql's ``\\;``.
    A backslash elsewhere starts a psql meta-command, which runs to the end of its line.
    ``keep_tokens``: give chunks their tokens (up to ``_KEPT_TOKENS`` a file), so the parser need
    not lex their text again.

    The lexer's regex is run here directly, not through ``lexer.significant``: this loop sees
    every token of every file, and the generator between them cost a fifth of it.
    """
    scan = _Scan(text, keep_tokens)
    pos: int | None = 1 if text.startswith(BOM) else 0  # white space to the server
    while pos is not None:
        pos = scan.run(pos)
    return scan.finish()


# Token kinds by the lexer regex's group number, and the groups the splitter treats apart.
_GROUP_KIND = KINDS_BY_GROUP
_GROUP_TOK_KIND = tuple(token_kind.get(kind, kind) for kind in _GROUP_KIND)
_GROUPS = TOKEN_PATTERN.groupindex
_G_PUNCT, _G_COMMENT, _G_FLAT, _G_NESTED = _GROUPS["punct"], _GROUPS["comment"], _GROUPS["flat"], _GROUPS["nested"]
_G_BACKSLASH = _GROUPS["backslash"]
_G_COMMENTS = frozenset((_G_COMMENT, _G_FLAT, _G_NESTED))
_G_SEEN_TEXT = frozenset(g for g, kind in enumerate(_GROUP_KIND) if kind in ("word", "op"))  # _Body.see reads these


class _Scan:
    """The splitter's state while it walks one text (``_scan``)."""

    def __init__(self, text: str, keep_tokens: bool) -> None:
        self.text = text
        self.chunks: list[_Chunk] = []
        self.comments: list[tuple[int, int]] = []
        self.budget = _KEPT_TOKENS if keep_tokens else 0
        self.copy_pending = False  # the statement just ended was COPY … FROM STDIN
        self._reset()

    def _reset(self) -> None:
        self.start: int | None = None
        self.chunk_comments: list[tuple[int, int]] = []
        self.parens = 0
        self.body = _Body()
        self.toks: list[Tok] | None = [] if self.budget > 0 else None

    def _end_chunk(self, end: int) -> None:
        """The statement being read ends at ``end`` (a semicolon, a backslash); start afresh."""
        self.copy_pending = self.body.copy_from_stdin
        if self.start is not None:
            self.chunks.append(_Chunk(self.start, end, self.chunk_comments, tokens=self.toks))
        self.budget -= len(self.toks) if self.toks else 0
        self._reset()

    def run(self, pos: int) -> int | None:
        """Read tokens from ``pos``; where to resume (after a comment or a backslash), or None at the end.

        The statement's start, tokens and body are kept in locals while tokens go by (read from
        and written back to ``self`` around anything that ends a statement).
        """
        text = self.text
        new = tuple.__new__  # in C: Tok's own __new__ is a Python call per token
        start, toks, body = self.start, self.toks, self.body
        for match in TOKEN_PATTERN.finditer(text, pos):
            group = match.lastindex
            if group is None:
                break  # white space to the end
            tok_start, tok_end = match.span(group)
            if group in _G_COMMENTS:
                if group == _G_NESTED:
                    tok_end = block_comment_end(text, tok_start)
                self.comments.append((tok_start, tok_end))
                if start is not None:
                    self.chunk_comments.append((tok_start, tok_end))
                if group == _G_NESTED:
                    self.start, self.toks = start, toks
                    return tok_end  # resume the regex after the comment
                continue
            if group == _G_BACKSLASH:
                self.start, self.toks = start, toks
                return self._backslash(tok_start, tok_end)
            if group == _G_PUNCT:
                ch = text[tok_start]
                if ch == ";" and not self.parens and not body.depth:
                    self.start, self.toks = start, toks
                    self._end_chunk(tok_start)
                    start, toks, body = None, self.toks, self.body
                    if self.copy_pending:  # psql reads the lines that follow, up to \., as COPY data
                        self.copy_pending = False
                        return _copy_data_end(text, tok_end)
                    continue
                if ch == "(":
                    self.parens += 1
                elif ch == ")" and self.parens:
                    self.parens -= 1
            if start is None:
                start = tok_start
            if toks is not None:
                toks.append(
                    new(Tok, (_GROUP_TOK_KIND[group], text[tok_start:tok_end], tok_start - start, tok_end - start))
                )
            if body.listening:  # most statements stop listening after their first four words
                body.see(_GROUP_KIND[group], text[tok_start:tok_end] if group in _G_SEEN_TEXT else "")
        self.start, self.toks = start, toks
        return None

    def _backslash(self, tok_start: int, tok_end: int) -> int:
        text = self.text
        if text.startswith(":", tok_end):  # psql's \: is a plain colon
            if self.start is None:
                self.start = tok_start
            self.toks = None  # the scan resumes past the colon: tokenize would not
            return tok_end + 1
        self._end_chunk(tok_start)
        if text.startswith(";", tok_end):
            return tok_end + 1  # psql's \; : the server runs what follows as a new statement
        end = _line_end(text, tok_end)
        self.chunks.append(_Chunk(tok_start, end, [], kind="psql-meta"))
        return end

    def finish(self) -> tuple[list[_Chunk], list[tuple[int, int]]]:
        if self.start is not None:
            self.chunks.append(_Chunk(self.start, len(self.text), self.chunk_comments, tokens=self.toks))
        return self.chunks, self.comments


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
    """Strings, quoted identifiers, dollar quotes and comments: where no psql variable is.

    ``:'name'`` and ``:"name"`` (a colon just before, not a ``::`` cast) are variables, not literals.
    """
    spans: list[tuple[int, int]] = []
    for tok in lex(sql):
        after_colon = tok.start > 0 and sql[tok.start - 1] == ":" and (tok.start < 2 or sql[tok.start - 2] != ":")
        if after_colon and tok.kind in ("string", "qident") and sql[tok.start] in "'\"":
            continue
        if tok.kind in ("string", "qident", "dollar", "comment"):
            spans.append((tok.start, tok.end))
    return spans


def _attach_comments(text: str, chunks: list[_Chunk], comments: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
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
    chunks, comments = _scan(text, keep_tokens=True)
    statements: list[Statement] = []
    for chunk, spans in zip(chunks, _attach_comments(text, chunks, comments), strict=True):
        raw = text[chunk.start : chunk.end]
        stripped = raw.rstrip(_SPACE)  # only what PostgreSQL calls space: U+00A0 is a letter to it
        end = chunk.start + max(len(stripped) - 1, 0)
        line, col = position(starts, chunk.start)
        end_line, end_col = position(starts, end)
        suppressions = tuple(
            s for c_start, c_end in spans for s in parse_suppressions(text[c_start:c_end], position(starts, c_start)[0])
        )
        sql = stripped if chunk.kind != "sql" else _replace_psql_variables(stripped)
        where = (line, col, end_line, end_col)
        stmt = _statement(stripped, where, sql if sql != stripped else "", chunk.kind, suppressions)
        if chunk.kind == "sql" and sql == stripped and _tokens_hold(chunk.tokens, stripped):
            stmt.__dict__[_TOKENS] = chunk.tokens
        statements.append(stmt)
    return statements


def statement_texts(text: str) -> list[str]:
    """Each statement's text, as ``split_sql`` gives it, without locating it or keeping tokens
    (for text that only needs cutting, such as a plan step's SQL shown in a fix).

    >>> statement_texts("CREATE TABLE a (x int);\\n-- c; d\\nDROP TABLE a  ")
    ['CREATE TABLE a (x int)', 'DROP TABLE a']
    """
    if ";" not in text and "\\" not in text and not text.startswith(BOM):
        # No semicolon and no psql backslash: one statement at most, from its first token on.
        start = _first_token(text)
        if start is not None:
            rest = text[start:].rstrip(_SPACE)
            return [rest] if rest else []
    chunks, _comments = _scan(text)
    return [text[chunk.start : chunk.end].rstrip(_SPACE) for chunk in chunks]


def _first_token(text: str) -> int | None:
    """Where the first token after white space and ``--`` comments starts; None where a block
    comment comes first (nested comments are the lexer's to read)."""
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
        if text.startswith("/*", pos):
            return None
        if not text.startswith("--", pos):
            return pos
        ends = [end for end in (text.find("\n", pos), text.find("\r", pos)) if end >= 0]
        if not ends:
            return len(text)
        pos = min(ends) + 1


# The splitter's tokens ride on the Statement outside its fields, so equality, repr and
# ``replace()`` (which may change the text) ignore them; ``take_tokens`` removes them.
_TOKENS = "_split_tokens"


def _tokens_hold(tokens: list[Tok] | None, stripped: str) -> bool:
    """Whether the chunk's tokens are ``tokenize(stripped)``: not when a token ran into the white
    space the statement text drops (unterminated at the end of the file), nor when the text
    starts with a byte-order mark (``tokenize`` skips one there, the splitter does not)."""
    if tokens is None:
        return False
    return (not tokens or tokens[-1].end <= len(stripped)) and not stripped.startswith(BOM)


def take_tokens(stmt: Statement) -> list[Tok] | None:
    """The statement's tokens as ``tokenize(stmt.parse_text)`` gives them, if the splitter kept
    them, else None; handed out once, so they cost memory only until the statement is parsed
    (and are never pickled with a parsed statement).

    >>> stmt = split_sql("ALTER TABLE t ADD x int")[0]
    >>> [t.text for t in take_tokens(stmt)], take_tokens(stmt)
    (['ALTER', 'TABLE', 't', 'ADD', 'x', 'int'], None)
    """
    found: list[Tok] | None = stmt.__dict__.pop(_TOKENS, None)
    return found


def _statement(
    text: str, where: tuple[int, int, int, int], sql: str, kind: str, suppressions: tuple[Suppression, ...]
) -> Statement:
    """``Statement(text, *where, sql, kind, suppressions)``, made without the frozen dataclass's
    ``__init__``, which calls ``object.__setattr__`` once per field (a tenth of splitting).

    >>> _statement("SELECT 1", (1, 1, 1, 8), "", "sql", ()) == Statement("SELECT 1", 1, 1, 1, 8)
    True
    """
    stmt = object.__new__(Statement)
    line, column, end_line, end_column = where
    stmt.__dict__.update(
        text=text, line=line, column=column, end_line=end_line, end_column=end_column, sql=sql, kind=kind,
        suppressions=suppressions, origin="", in_autocommit_block=False, owner=None,
    )  # fmt: skip
    return stmt


# _statement sets every field by name: a field added to Statement must be added there too.
if tuple(f.name for f in fields(Statement)) != (
    "text", "line", "column", "end_line", "end_column", "sql", "kind", "suppressions", "origin",
    "in_autocommit_block", "owner",
):  # fmt: skip
    raise TypeError("Statement's fields changed: update statements._statement")


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
