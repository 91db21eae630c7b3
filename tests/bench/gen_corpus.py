"""Generate the benchmark corpus: N SQL migrations, deterministically.

The mix is what real migration folders hold: new tables, lock timeouts, added columns and
defaults, indexes with and without CONCURRENTLY, CHECK ... NOT VALID then VALIDATE, a batched
backfill, a dropped column, a comment and a dropped index; and data changes as real histories
have them (INSERTs of reference rows, targeted UPDATEs and DELETEs, an INSERT … SELECT), a
header comment, every 7th file wrapped in BEGIN/COMMIT, every 10th with a trigger function
(dollar-quoted body) or a view, and every 50th a seed file of 200 INSERTs. Later files alter
tables earlier files created, so the replay has a schema to judge against and several rules fire.

    python tests/bench/gen_corpus.py /tmp/corpus --files 1000
"""

from __future__ import annotations

import argparse
from pathlib import Path

STATEMENTS_PER_FILE = 19  # in a plain file (seed files have 200 INSERTs instead)
SEED_EVERY = 50


def migration(i: int) -> str:
    """The text of migration number ``i`` (``i`` ≥ 0)."""
    table = f"t{i}"
    # Files 0..: alter `orders` (never created here: an existing table) or the previous file's table.
    other = "orders" if i % 3 else f"t{max(i - 1, 0)}"
    col = f"c{i}"
    dropped = f"c{i - 1}" if i and i % 3 else "note"
    concurrently = "CONCURRENTLY " if i % 2 else ""
    statements = [
        f"CREATE TABLE {table} (id bigint PRIMARY KEY, name varchar(100) NOT NULL, created_at timestamptz DEFAULT now())",
        "SET lock_timeout = '2s'",
        f"ALTER TABLE {table} ADD COLUMN note text",
        f"CREATE INDEX CONCURRENTLY {table}_name_idx ON {table} (name)",
        f"ALTER TABLE {other} ADD COLUMN {col} integer",
        f"ALTER TABLE {other} ALTER COLUMN {col} SET DEFAULT 0",
        f"CREATE INDEX {concurrently}{other}_{col}_idx ON {other} ({col})",
        f"ALTER TABLE {other} ADD CONSTRAINT {other}_{col}_check CHECK ({col} > 0) NOT VALID",
        f"ALTER TABLE {other} VALIDATE CONSTRAINT {other}_{col}_check",
        f"UPDATE {other} SET {col} = 0 WHERE id BETWEEN {i * 1000 + 1} AND {(i + 1) * 1000}",
        f"ALTER TABLE {other} DROP COLUMN {dropped}",
        f"COMMENT ON TABLE {table} IS 'table {i}'",
        f"DROP INDEX {concurrently}{other}_{col}_idx",
    ]
    statements += [
        f"INSERT INTO {table} (id, name) VALUES ({i}, 'first {i}'), ({i + 1}, 'second')",
        f"UPDATE {table} SET name = 'renamed' WHERE id = {i}",
        f"DELETE FROM {table} WHERE id = {i + 1}",
        f"INSERT INTO {table} (id, name) SELECT id + 1000, name FROM {table} WHERE id = {i}",
        f"UPDATE {other} SET {col} = 1 WHERE id >= {i * 10} AND id < {i * 10 + 10}",
        f"INSERT INTO {table} (id, name) VALUES ({i + 2}, 'x') ON CONFLICT (id) DO NOTHING",
    ]
    assert len(statements) == STATEMENTS_PER_FILE
    if i % 10 == 5:
        statements.append(
            f"CREATE OR REPLACE FUNCTION touch_{i}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n  NEW.created_at := now();\n  RETURN NEW;\nEND;\n$$"
        )
    elif i % 10 == 8:
        statements.append(f"CREATE VIEW v_{table} AS SELECT id, name FROM {table} WHERE id > 0")
    body = "".join(f"{s};\n" for s in statements)
    if i % 7 == 3:
        body = f"BEGIN;\n{body}COMMIT;\n"
    return f"-- Migration {i}: {table} and {other}.\n-- Generated for the benchmark.\n\n{body}"


def seed(i: int, rows: int = 200) -> str:
    """A seed file: reference rows for an earlier file's table, one INSERT each."""
    table = f"t{max(i - 1, 0)}"
    return "".join(f"INSERT INTO {table} (id, name) VALUES ({i * 1000 + r}, 'seed {r}');\n" for r in range(rows))


def generate(folder: Path, files: int = 1000) -> list[Path]:
    """Write ``files`` migrations into ``folder`` (created if needed); returns their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        path = folder / f"{i:04d}_migration_{i}.sql"
        path.write_text(seed(i) if i % SEED_EVERY == SEED_EVERY - 1 else migration(i), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    generate(args.folder, args.files)
    print(f"wrote {args.files} files x {STATEMENTS_PER_FILE} statements to {args.folder}")


if __name__ == "__main__":
    main()
