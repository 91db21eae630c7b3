"""One-shot copies: each copy is paired with every later drop of a column it reads."""

from __future__ import annotations

from bgmigrate.model.copies import one_shot_copies
from bgmigrate.plan.testing import operations_of


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
