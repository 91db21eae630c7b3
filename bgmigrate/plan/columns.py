"""A column definition split into its parts, in the user's own text.

``ADD COLUMN c text NOT NULL REFERENCES u (id) ON DELETE CASCADE`` is one statement to the
user and four decisions to the planner: the plain column, its NOT NULL, its default and each
inline constraint go to different phases. The parts keep the user's spelling (types such as
``varchar(20)`` or ``"MyType"`` are not re-rendered).
"""

from __future__ import annotations

from dataclasses import dataclass

from bgmigrate.sql.tokens import Tok, tokenize
from bgmigrate.sql.type_facts import is_null_expression

# Words that start a column constraint (after an optional CONSTRAINT name).
_STARTS = {"NOT", "NULL", "DEFAULT", "PRIMARY", "UNIQUE", "REFERENCES", "CHECK", "GENERATED"}


@dataclass(frozen=True)
class Clause:
    """One column constraint: ``kind`` is not_null | null | default | primary_key | unique |
    references | check | generated; ``text`` is the clause without its CONSTRAINT name."""

    kind: str
    text: str
    name: str | None = None


@dataclass(frozen=True)
class ColumnParts:
    """A column definition cut into its name, type and clauses, as written."""

    name_sql: str  # the column name as written
    type_sql: str  # the type as written, COLLATE included
    clauses: tuple[Clause, ...] = ()

    def clause(self, kind: str) -> Clause | None:
        return next((c for c in self.clauses if c.kind == kind), None)

    @property
    def default_sql(self) -> str | None:
        """The default expression, or None when there is none: ``DEFAULT NULL`` is no default.

        >>> split_column("c int DEFAULT NULL NOT NULL").default_sql is None
        True
        """
        found = self.clause("default")
        text = found.text[len("DEFAULT") :].strip() if found else ""
        return None if not text or is_null_expression(text) else text


def _kind(toks: list[Tok], i: int) -> str:
    word = toks[i].upper
    if word == "NOT" and i + 1 < len(toks) and toks[i + 1].upper == "NULL":
        return "not_null"
    return {"PRIMARY": "primary_key", "REFERENCES": "references"}.get(word, word.lower())


def _starts_clause(toks: list[Tok], i: int) -> bool:
    word = toks[i].upper
    if word == "CONSTRAINT":
        return True
    if word == "NOT":
        return i + 1 < len(toks) and toks[i + 1].upper == "NULL"
    return word in _STARTS


def split_column(sql: str) -> ColumnParts:
    """Split ``name type [constraints]`` at top level.

    >>> p = split_column("c varchar(20) COLLATE \\"C\\" NOT NULL DEFAULT 'x' CONSTRAINT fk REFERENCES u (id) ON DELETE SET NULL")
    >>> p.type_sql, [c.kind for c in p.clauses], p.clauses[2].name, p.clauses[2].text, p.default_sql
    ('varchar(20) COLLATE "C"', ['not_null', 'default', 'references'], 'fk', 'REFERENCES u (id) ON DELETE SET NULL', "'x'")
    """
    toks = tokenize(sql)
    depth = 0
    starts: list[int] = []
    i = 1
    while i < len(toks):
        tok = toks[i]
        depth += {"(": 1, ")": -1}.get(tok.text, 0)
        # ON DELETE SET NULL / SET DEFAULT belong to REFERENCES; DEFAULT NULL is DEFAULT's expression.
        part_of_previous = toks[i - 1].upper in ("SET", "DEFAULT")
        if depth == 0 and i > 1 and tok.kind == "word" and not part_of_previous and _starts_clause(toks, i):
            starts.append(i)
            # Skip what belongs to this start: CONSTRAINT's name and the word after it, NOT's NULL.
            i += {"CONSTRAINT": 2, "NOT": 1}.get(tok.upper, 0)
        i += 1
    type_end = toks[starts[0]].start if starts else len(sql)
    clauses = []
    for n, first in enumerate(starts):
        stop = toks[starts[n + 1]].start if n + 1 < len(starts) else len(sql)
        name = None
        body = first
        if toks[first].upper == "CONSTRAINT":
            name = toks[first + 1].ident
            body = first + 2
        clauses.append(Clause(_kind(toks, body), sql[toks[body].start : stop].strip(), name))
    return ColumnParts(sql[toks[0].start : toks[0].end], sql[toks[0].end : type_end].strip(), tuple(clauses))
