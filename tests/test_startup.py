"""Start-up cost: a plain SQL lint never imports SQLAlchemy, Alembic or psycopg (idea 12).

Each check runs in a fresh interpreter, so nothing imported by other tests can hide a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("sqlalchemy", "alembic", "psycopg")


def imported_after(code: str, cwd: Path) -> dict[str, object]:
    """Run ``code`` in a new interpreter; report which top-level packages it imported."""
    probe = textwrap.dedent(
        """
        import json, sys
        {code}
        print(json.dumps({{"modules": sorted({{m.split(".")[0] for m in sys.modules}})}}))
        """
    ).format(code=textwrap.dedent(code))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def heavy_in(report: dict[str, object]) -> list[str]:
    modules = report["modules"]
    assert isinstance(modules, list)
    return [name for name in HEAVY if name in modules]


def test_importing_the_cli_stays_light(tmp_path: Path) -> None:
    report = imported_after("import bgmigrate.cli", tmp_path)
    assert heavy_in(report) == []
    modules = report["modules"]
    assert isinstance(modules, list) and "sqlglot" not in modules, "sqlglot loads only for DML"


LINT_IN_PROCESS = """
import io, contextlib
from bgmigrate.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main({args!r}, standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
report = json.loads(out.getvalue())
assert report["files"] >= 1, report
"""


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "no-cache"])
@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE t (id bigint PRIMARY KEY);\nALTER TABLE t ADD COLUMN note text;\n",
        "ALTER TABLE orders ADD COLUMN flag boolean;\nUPDATE orders SET flag = false WHERE id < 1000;\n",
    ],
    ids=["ddl", "with-dml"],
)
def test_a_plain_sql_lint_stays_light(tmp_path: Path, sql: str, cache: bool) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001.sql").write_text(sql, encoding="utf-8")
    args = ["lint", "migrations/0001.sql", "--format", "json", *([] if cache else ["--no-cache"])]
    for _ in range(2 if cache else 1):  # a cached lint: the cold run, then the warm one
        report = imported_after(LINT_IN_PROCESS.format(args=args), tmp_path)
        assert heavy_in(report) == []
        if "UPDATE" not in sql:
            assert "sqlglot" not in report["modules"], "DDL is read without sqlglot"  # type: ignore[operator]


def test_a_large_folder_lint_stays_light_in_the_parent(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for i in range(120):  # enough to start worker processes
        (folder / f"{i:03d}.sql").write_text(f"CREATE TABLE t{i} (id bigint);\n", encoding="utf-8")
    args = ["lint", "migrations", "--format", "json", "--no-cache", "--jobs", "2"]
    assert heavy_in(imported_after(LINT_IN_PROCESS.format(args=args), tmp_path)) == []
