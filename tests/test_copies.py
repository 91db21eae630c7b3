"""One-shot copies: each copy is paired with every later drop of a column it reads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgmigrate.model.copies import may_name_any, one_shot_copies
from bgmigrate.plan.testing import operations_of
from bgmigrate.sql.tokens import tokenize


def _pairs(sql: str) -> list[tuple[int, int, str]]:
    found = one_shot_copies(operations_of(sql), lambda i, t: t.name == "users", lambda i, t, c: False)
    return [(f.copy.stmt.line, f.drop.stmt.line, f.column) for f in found]


def test_copies_pair_with_later_drops_only() -> None:
    # Copies are read lazily, when a drop comes: each drop must still see exactly the copies before it.
    sql = "\n".join(
        [
            "INSERT INTO p SELECT id, bio FROM users;",  # 1
            "ALTER TABLE users DROP COLUMN bio;",  # 2
            "UPDATE users SET nick = upper(name);",  # 3
            "ALTER TABLE users DROP COLUMN name;",  # 4
            "ALTER TABLE users DROP COLUMN id;",  # 5
            "INSERT INTO q SELECT age FROM users;",  # 6: no drop after it
        ]
    )
    assert _pairs(sql) == [(1, 2, "bio"), (3, 4, "name"), (1, 5, "id")]


def test_a_drop_before_the_copy_pairs_with_nothing() -> None:
    assert _pairs("ALTER TABLE users DROP COLUMN bio; INSERT INTO p SELECT bio FROM users;") == []


# ---- the text check that spares reading copies which name no dropped column ----------------

_NAME_CHARS = st.sampled_from([*"abcXYZ_09", "É", "é", "ß", "\u0131", '"', " ", "&", "$"])  # \u0131: dotless i


@settings(max_examples=500, deadline=None)
@given(st.text(_NAME_CHARS, min_size=1, max_size=8), st.booleans())
def test_every_name_a_statement_holds_passes_the_text_check(raw: str, quoted: bool) -> None:
    """Whatever a copy's tokens name, ``may_name_any`` must let it through (never a false no)."""
    spelled = '"' + raw.replace('"', '""') + '"' if quoted else raw
    text = f"UPDATE t SET x = 1 WHERE {spelled} > 0"
    for tok in tokenize(text):
        if tok.kind in ("word", "qident"):
            assert may_name_any(text, {tok.ident}), (text, tok.ident)


def test_a_copy_naming_no_dropped_column_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import bgmigrate.model.copies as copies

    read: list[str] = []
    real = copies._read_keys

    def recording(op):  # type: ignore[no-untyped-def]
        read.append(op.stmt.text)
        return real(op)

    monkeypatch.setattr(copies, "_read_keys", recording)
    operations = operations_of(
        "UPDATE users SET a = 1 WHERE id < 9; UPDATE users SET bio_copy = BIO;\nALTER TABLE users DROP COLUMN bio;"
    )
    found = list(one_shot_copies(operations, lambda i, t: True, lambda i, t, c: False))
    assert [f.copy.stmt.text for f in found] == ["UPDATE users SET bio_copy = BIO"]
    assert read == ["UPDATE users SET bio_copy = BIO"], "the first UPDATE names no dropped column"
