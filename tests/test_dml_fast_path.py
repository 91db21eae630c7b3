"""The DML fast path gives exactly the operations sqlglot's reading gives (issue 12.2).

Every shape below goes through both readers; where the fast path answers, its operations must
equal ``sql_dml.parse_dml``'s field for field. Shapes it must leave to sqlglot answer None.
"""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys

import pytest

from bgmigrate.model import operations as ops
from bgmigrate.parse.dml import parse_dml
from bgmigrate.parse.dml_fast import fast_dml
from bgmigrate.sql.statements import split_sql

TABLES = ["t", "orders", '"Orders"', "s.t", 'app."Mixed Case"', "Orders", "x.Y"]
WHERES = [
    "",
    " WHERE id = 3",
    " WHERE id BETWEEN 1 AND 1000",
    " WHERE id >= 1 AND id < 1000",
    " WHERE id > 1 AND other < 5",
    " WHERE 5 < id AND id < 9",
    " WHERE status IS NULL",
    " WHERE status IS NOT NULL OR id = 4",
    " WHERE id IN (1, 2, 3)",
    ' WHERE "Id" <= 10 AND "Id" > 0',
    " WHERE t.id >= 10 AND t.id <= 20",
    " WHERE name = 'a''b' AND flag = TRUE",
    " WHERE id IN (SELECT id FROM t LIMIT 10)",
    " WHERE created_at < now() - interval '1 day'",
    " WHERE (a = 1 OR b = 2) AND c = 3",
    " WHERE id = $1",
    " WHERE id = ANY(ARRAY[1, 2])",
    " WHERE NOT flag",
    " WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)",
]
SETS = [
    "a = 1",
    "a = a + 1, b = 'x'",
    "Status = 'new', \"B\" = 2",
    "t.c = 3",
    "a = DEFAULT",
    "(a, b) = (1, 2)",
    "a = (SELECT max(x) FROM u)",
    "a = lower(b), c = now()",
    "a = b::text",
    "payload = E'it\\'s'",
]
INSERT_TAILS = [
    " VALUES (1)",
    " (a, b) VALUES (1, 'x'), (2, 'y')",
    " (id, name) VALUES (1, 'name; with semicolon')",
    " VALUES (1) ON CONFLICT DO NOTHING",
    " (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = excluded.a",
    " (a) VALUES (1) RETURNING id",
    " SELECT * FROM u",
    " DEFAULT VALUES",
    " VALUES ((SELECT 1))",
    " VALUES (now(), NULL, TRUE, -1, 2.5e3)",
    " VALUES (E'a\\'b')",
    " VALUES ('unterminated)",
    " AS x VALUES (1)",
    " (id, name) SELECT id + 1000, name FROM t WHERE id = 5",
    " SELECT set_config('lock_timeout', '1s', false)",
    " SELECT * FROM u FOR UPDATE",
    " WITH x AS (SELECT 1) SELECT * FROM x",
    " VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 1 WHERE t.a IN (SELECT 1)",
]


def statements() -> list[str]:
    found: list[str] = []
    for table, tail in itertools.product(TABLES, INSERT_TAILS):
        found.append(f"INSERT INTO {table}{tail}")
    for table, sets, where in itertools.product(TABLES[:4], SETS, WHERES):
        found.append(f"UPDATE {table} SET {sets}{where}")
    for table, where in itertools.product(TABLES, WHERES):
        found.append(f"DELETE FROM {table}{where}")
    found += [
        "UPDATE ONLY t SET a = 1",
        "UPDATE t x SET a = 1 WHERE x.id = 1",
        "UPDATE t AS x SET a = 1",
        "UPDATE t SET a = 1 FROM u WHERE u.id = t.id",
        "DELETE FROM t USING u WHERE u.id = t.id",
        "DELETE FROM ONLY t WHERE id = 1",
        "DELETE FROM t x WHERE x.id BETWEEN 1 AND 2",
        "DELETE FROM t WHERE id = 1 RETURNING *",
        "insert into lower_case values (1)",
        "update lower_case set Col = 1 where ID between 1 and 2",
        "INSERT INTO a.b.c VALUES (1)",
        "UPDATE t SET a = 1 WHERE",
        "DELETE FROM t WHERE id =",
        "UPDATE t SET a = 1 WHERE id = 1 AND",
    ]
    return found


def fields(operations: list[ops.Operation]) -> list[tuple[object, ...]]:
    return [
        (type(o).__name__, *(getattr(o, f.name) for f in dataclasses.fields(o) if f.name != "stmt")) for o in operations
    ]


CASES = statements()


def test_the_shapes_cover_both_paths() -> None:
    answered = [sql for sql in CASES if fast_dml(split_sql(sql)[0], split_sql(sql)[0].parse_text) is not None]
    assert len(answered) > len(CASES) / 3, "the common shapes take the fast path"
    assert len(answered) < len(CASES), "and the unusual ones go to sqlglot"


@pytest.mark.parametrize("sql", CASES)
def test_the_fast_path_gives_what_sqlglot_gives(sql: str) -> None:
    stmt = split_sql(sql)[0]
    fast = fast_dml(stmt, stmt.parse_text)
    if fast is None:
        return  # left to sqlglot
    assert fields(fast) == fields(parse_dml(stmt, stmt.parse_text)), sql
    assert all(o.stmt is stmt for o in fast)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t SELECT * FROM u FOR UPDATE",
        "UPDATE t SET a = (SELECT 1)",
        "UPDATE t SET a = 1 FROM u WHERE u.id = t.id",
        "DELETE FROM t USING u WHERE u.id = t.id",
        "UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t LIMIT 10)",
        "INSERT INTO t VALUES (E'a\\'b')",
        "WITH x AS (DELETE FROM u RETURNING *) INSERT INTO t SELECT * FROM x",
    ],
)
def test_what_the_fast_path_cannot_vouch_for_goes_to_sqlglot(sql: str) -> None:
    stmt = split_sql(sql)[0]
    assert fast_dml(stmt, stmt.parse_text) is None


def test_a_seed_file_of_plain_inserts_never_imports_sqlglot(tmp_path: object) -> None:
    code = (
        "import sys\n"
        "from bgmigrate.lint.engine import parse_migration\n"
        "from bgmigrate.parse.source import load_sql\n"
        "sql = ''.join(f\"INSERT INTO seed (id, name) VALUES ({i}, 'n{i}');\\n\" for i in range(50))\n"
        "sql += 'UPDATE seed SET name = 1 WHERE id BETWEEN 1 AND 9;\\nDELETE FROM seed WHERE id = 3;\\n'\n"
        "ops, errors = parse_migration(load_sql('seed.sql', sql))\n"
        "assert len(ops) == 52 and not errors, (len(ops), errors)\n"
        "print('sqlglot' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
