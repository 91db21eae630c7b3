"""The cache reuses the replayed schema of unchanged earlier files (issue 12.1, 12.3).

Pre-commit lints one edited file in a folder of many: the files before it are unchanged, so
their results and the schema they build come from the cache, and only the edited file is
parsed. Any change to an earlier file invalidates everything from that file on: the answer is
always the one a run without the cache gives.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import bgmigrate.lint.engine
from bgmigrate.model.migration import Migration
from bgmigrate.model.schema import Schema
from bgmigrate.model.schema_codec import schema_from_data, schema_to_data
from bgmigrate.project.alembic_worker import AlembicWorker, RevisionFailed
from bgmigrate.project.result import LintResult
from bgmigrate.project.run import LintRequest, run_lint


def files(count: int) -> dict[str, str]:
    """A folder where later files alter what earlier files create (so verdicts depend on order)."""
    found = {f"{i:04d}_m.sql": f"CREATE TABLE t{i} (id bigint PRIMARY KEY, a integer);\n" for i in range(count)}
    found[f"{count:04d}_m.sql"] = "".join(f"ALTER TABLE t{i} ALTER COLUMN a TYPE bigint;\n" for i in range(count))
    return found


@pytest.fixture(autouse=True)
def steady_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine fingerprint covers the mtime of bgmigrate's modules: a checkout being edited
    # while the tests run would otherwise change every key between two lints of one test.
    monkeypatch.setattr("bgmigrate.project.cache.engine_fingerprint", lambda catalogue: "engine")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BGMIGRATE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "migrations"
    path.mkdir()
    for name, text in files(8).items():
        (path / name).write_text(text, encoding="utf-8")
    return path


class Parsed:
    """Which files were parsed (a file served from the cache is not)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: collections.Counter[str] = collections.Counter()
        real = bgmigrate.lint.engine.parse_migration

        def counting(migration: Migration) -> object:
            self.paths[Path(migration.path).name] += 1
            return real(migration)

        monkeypatch.setattr(bgmigrate.lint.engine, "parse_migration", counting)


def lint(*paths: Path, use_cache: bool = True, warnings: list[str] | None = None, **extra: object) -> LintResult:
    request = LintRequest(paths=tuple(str(p) for p in paths), use_cache=use_cache, jobs=1, **extra)  # type: ignore[arg-type]
    result, _ = run_lint(request, warn=(warnings if warnings is not None else []).append)
    return result


def same(a: LintResult, b: LintResult) -> bool:
    return (sorted(a.findings, key=repr), a.errors, a.files) == (sorted(b.findings, key=repr), b.errors, b.files)


def test_editing_the_last_file_parses_only_it(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    last = folder / "0008_m.sql"
    lint(last)
    last.write_text(last.read_text(encoding="utf-8") + "ALTER TABLE t0 DROP COLUMN a;\n", encoding="utf-8")
    parsed = Parsed(monkeypatch)
    warm = lint(last)
    assert dict(parsed.paths) == {"0008_m.sql": 1}, "the earlier files' schema comes from the cache"
    assert same(warm, lint(last, use_cache=False))
    assert "drop-column" in {f.rule for f in warm.findings}


def test_a_new_file_at_the_end_parses_only_it(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lint(folder)
    new = folder / "0009_m.sql"
    new.write_text("ALTER TABLE t1 DROP COLUMN a;\n", encoding="utf-8")
    parsed = Parsed(monkeypatch)
    warm = lint(new)
    assert dict(parsed.paths) == {"0009_m.sql": 1}
    assert same(warm, lint(new, use_cache=False))


def test_a_changed_earlier_file_invalidates_from_it_on(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    last = folder / "0008_m.sql"
    before = lint(last)
    # t3.a becomes text: widening it to bigint later is now a rewrite with a different verdict.
    (folder / "0003_m.sql").write_text("CREATE TABLE t3 (id bigint PRIMARY KEY, a text);\n", encoding="utf-8")
    parsed = Parsed(monkeypatch)
    after = lint(last)
    # The schema is kept at a few points only (before the last file, the first asked about, the
    # end): replay resumes at the last one before the change, here the start.
    assert {f"{i:04d}_m.sql" for i in range(3, 9)} <= set(parsed.paths), "never a stale schema"
    assert same(after, lint(last, use_cache=False))
    assert after.findings != before.findings


def test_a_removed_earlier_file_invalidates_from_there(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    last = folder / "0008_m.sql"
    lint(last)
    (folder / "0002_m.sql").unlink()
    parsed = Parsed(monkeypatch)
    after = lint(last)
    assert {"0003_m.sql", "0008_m.sql"} <= set(parsed.paths)
    assert same(after, lint(last, use_cache=False))


def test_a_corrupt_schema_in_the_entry_is_a_warning_and_a_replay(folder: Path) -> None:
    last = folder / "0008_m.sql"
    lint(last)
    schemas = list((folder.parent / "cache").rglob("schemas/*.json"))
    assert schemas
    for schema in schemas:
        schema.write_text(json.dumps({"tables": "garbage"}), encoding="utf-8")
    last.write_text("ALTER TABLE t0 DROP COLUMN a;\n", encoding="utf-8")
    warnings: list[str] = []
    assert same(lint(last, warnings=warnings), lint(last, use_cache=False))
    assert warnings and "corrupt" in warnings[0]


# ---- Alembic revisions ------------------------------------------------------------------------

REVISION = """\
from alembic import op
revision = "{rev}"
down_revision = {down!r}

def upgrade():
    op.add_column("orders", __import__("sqlalchemy").Column("c{rev}", __import__("sqlalchemy").Integer()))
    op.drop_column("orders", "old{rev}")
"""


@pytest.fixture
def revisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BGMIGRATE_CACHE_DIR", str(tmp_path / "cache"))
    versions = tmp_path / "versions"
    versions.mkdir()
    down = None
    for i in range(5):
        rev = f"r{i}"
        (versions / f"{rev}_m.py").write_text(REVISION.format(rev=rev, down=down), encoding="utf-8")
        down = rev
    return versions


REAL_ANALYSE = AlembicWorker.analyse


class Analysed:
    """Which revisions the worker was asked to run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
        self.paths: list[str] = []
        real = AlembicWorker.analyse

        def counting(worker: AlembicWorker, path: Path, text: str, shown: str) -> Migration:
            self.paths.append(path.name)
            if fail:
                raise RevisionFailed(0, "the revision did not finish within 1 s (timed out; not analysed)")
            return real(worker, path, text, shown)

        monkeypatch.setattr(AlembicWorker, "analyse", counting)


def test_a_warm_alembic_run_runs_no_revision(revisions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cold = lint(revisions, use_cache=False)
    lint(revisions)
    analysed = Analysed(monkeypatch)
    warm = lint(revisions)
    assert analysed.paths == []
    assert same(warm, cold) and warm.files == 5


def test_an_edited_revision_alone_is_run_again(revisions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lint(revisions)
    edited = revisions / "r2_m.py"
    edited.write_text(edited.read_text(encoding="utf-8").replace('"oldr2"', '"other"'), encoding="utf-8")
    analysed = Analysed(monkeypatch)
    warm = lint(revisions)
    assert analysed.paths == ["r2_m.py"]
    assert same(warm, lint(revisions, use_cache=False))
    assert any("other" in f.message for f in warm.findings)


def test_a_revision_that_failed_in_the_worker_is_not_cached(revisions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Analysed(monkeypatch, fail=True)
    failed = lint(revisions)
    assert failed.errors and all("timed out" in e.message for e in failed.errors)
    monkeypatch.setattr(AlembicWorker, "analyse", REAL_ANALYSE)
    again = lint(revisions)
    assert again.errors == [] and again.files == 5


# ---- the stored schema ------------------------------------------------------------------------


def _replayed() -> Schema:
    from bgmigrate.lint.engine import analyse, parse_migration
    from bgmigrate.lint.settings import LintSettings
    from bgmigrate.parse.source import load_sql

    sql = (
        "CREATE TABLE app.\"Orders\" (id bigint PRIMARY KEY, note text DEFAULT 'x', total int CHECK (total > 0),"
        " account_id bigint REFERENCES accounts (id), UNIQUE (note));\n"
        'CREATE INDEX orders_total_idx ON app."Orders" (total) WHERE total > 10;\n'
        "ALTER TABLE orders ADD CONSTRAINT c CHECK (x IS NOT NULL) NOT VALID;\n"
        "CREATE TYPE mood AS ENUM ('a', 'b');\nCREATE VIEW v AS SELECT 1;\n"
        "ALTER TABLE stand_in ALTER COLUMN y SET NOT NULL;\n"
        'CREATE TRIGGER audit AFTER INSERT ON app."Orders" FOR EACH ROW EXECUTE FUNCTION f();\n'
    )
    schema = Schema(server_version=15)
    migration = load_sql("m.sql", sql)
    operations, errors = parse_migration(migration)
    assert not errors
    analyse(migration, operations, schema, LintSettings())
    return schema


def test_a_replayed_schema_is_stored_exactly() -> None:
    schema = _replayed()
    assert schema.tables and schema.indexes and schema.enums and schema.objects
    assert schema.definitions == {("view", ("public", "v")): "CREATE VIEW v AS SELECT 1"}, schema.definitions
    assert schema.tables["app", "Orders"].triggers == {"audit"}  # the name guard reads triggers per table
    data = json.loads(json.dumps(schema_to_data(schema)))
    assert schema_from_data(data) == schema


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(tables="x"),
        lambda d: d["tables"][0].__setitem__(1, [["a", "int", "yes", None, False, False]]),
        lambda d: d["tables"][0].__setitem__(2, [["c", "check", [1], True, "", None, None]]),
        lambda d: d["tables"][0].__setitem__(7, [1]),
        lambda d: d["tables"][0].pop(7),
        lambda d: d.update(table_keys=[]),
        lambda d: d["indexes"][0].__setitem__(1, ["i"]),
        lambda d: d.update(server_version="15"),
        lambda d: d.pop("enums"),
        lambda d: d.update(definitions=[["view", ["public"], "CREATE VIEW v AS SELECT 1"]]),
        lambda d: d.update(definitions=[["view", ["public", "v"], 1]]),
    ],
)
def test_a_damaged_stored_schema_is_refused(damage: Callable[[dict[str, Any]], object]) -> None:
    data = json.loads(json.dumps(schema_to_data(_replayed())))
    damage(data)
    with pytest.raises((ValueError, KeyError)):
        schema_from_data(data)
