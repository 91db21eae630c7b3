"""Alembic revisions are code: they run in a worker process, or not at all (issue 11 C, 12.3).

Each hostile revision below used to end, blind or hang the lint process itself. Now whatever
a revision does to its worker is an input error naming it (exit 2), never a pass, and the other
revisions are still linted. ``--alembic-mode static`` reads op calls without running anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from bgmigrate.project.alembic_ast import CONNECTION, load_alembic_static
from bgmigrate.project.alembic_offline import load_alembic
from bgmigrate.project.alembic_worker import migration_from_json, migration_to_json

FIXTURE_VERSIONS = Path(__file__).resolve().parent.parent / "fixtures" / "alembic" / "versions"

HEAD = """\
    from alembic import op
    import sqlalchemy as sa
    import os
    import sys

    revision = "{rev}"
    down_revision = {down}
"""

# A well-behaved revision after the hostile one: its finding must survive whatever came before.
LATER = (
    HEAD
    + """
    def upgrade():
        op.drop_column("orders", "note")
"""
)


def revision(folder: Path, name: str, rev: str, down: str | None, body: str) -> Path:
    text = textwrap.dedent(HEAD.format(rev=rev, down=repr(down))) + textwrap.dedent(body)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def project(tmp_path: Path, hostile_body: str) -> Path:
    versions = tmp_path / "versions"
    versions.mkdir()
    revision(versions, "a1_hostile.py", "a1", None, hostile_body)
    revision(versions, "b2_later.py", "b2", "a1", 'def upgrade():\n    op.drop_column("orders", "note")\n')
    return versions


def lint(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BGMIGRATE_CACHE_DIR": str(cwd / "cache")}
    argv = [sys.executable, "-m", "bgmigrate", "lint", "--format", "json", "--no-cache", *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def errors_for(data: dict[str, Any], name: str) -> list[str]:
    return [e["message"] for e in data["errors"] if e["path"].endswith(name)]


def rules_for(data: dict[str, Any], name: str) -> list[str]:
    return [f["rule"] for f in data["findings"] if f["path"].endswith(name)]


HOSTILE = {
    "exit at import": "os._exit(0)\ndef upgrade():\n    op.drop_table('users')\n",
    "exit in upgrade": "def upgrade():\n    op.drop_table('users')\n    os._exit(0)\n",
    "killed": "def upgrade():\n    import signal\n    os.kill(os.getpid(), signal.SIGKILL)\n",
    "closes its channels": (
        "def upgrade():\n    for fd in range(3, 64):\n        try:\n            os.close(fd)\n"
        "        except OSError:\n            pass\n    op.drop_table('users')\n"
    ),
    "writes on every descriptor": (
        "def upgrade():\n    for fd in range(3, 64):\n        try:\n"
        '            os.write(fd, b\'{"token": "x", "result": {}}\\n\')\n'
        "        except OSError:\n            pass\n    op.drop_table('users')\n"
    ),
    "monkeypatches bgmigrate": (
        "import bgmigrate.project.alembic_offline as s\n"
        "s._Recorder.invoke = lambda self, original, operation: None\n"
        "def upgrade():\n    op.drop_table('users')\n"
    ),
    "replaces the analysis": (
        "import bgmigrate.project.alembic_offline as s\ns.load_alembic = lambda *a, **k: None\ndef upgrade():\n    pass\n"
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_revision_is_an_error_naming_it_never_a_pass(tmp_path: Path, case: str) -> None:
    project(tmp_path, HOSTILE[case])
    done = lint(tmp_path, "versions")
    assert done.returncode == 2, (done.returncode, done.stdout[-500:], done.stderr[-500:])
    data = report(done)
    assert errors_for(data, "a1_hostile.py"), data["errors"]
    # The revision after it is still linted, in a fresh worker when the first one was lost.
    assert "drop-column" in rules_for(data, "b2_later.py")


def test_an_infinite_loop_times_out_as_an_error(tmp_path: Path) -> None:
    project(tmp_path, "def upgrade():\n    while True:\n        pass\n")
    started = time.monotonic()
    done = lint(tmp_path, "--alembic-timeout", "1", "versions")
    assert time.monotonic() - started < 30
    assert done.returncode == 2
    data = report(done)
    assert any("timed out" in m for m in errors_for(data, "a1_hostile.py"))
    assert "drop-column" in rules_for(data, "b2_later.py")


def test_chdir_in_a_revision_does_not_move_the_output_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project(tmp_path, f"os.chdir({str(elsewhere)!r})\ndef upgrade():\n    op.drop_table('users')\n")
    done = lint(tmp_path, "-o", "report.json", "versions")
    assert done.returncode == 1, done.stderr
    assert (tmp_path / "report.json").is_file()
    assert not (elsewhere / "report.json").exists()
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert "drop-table" in rules_for(data, "a1_hostile.py")


def test_printing_garbage_does_not_disturb_the_result(tmp_path: Path) -> None:
    noisy = (
        "print('{\"findings\": []}')\nos.write(1, b'garbage\\n')\nos.write(2, b'noise\\n')\n"
        "def upgrade():\n    print('}{')\n    sys.stdout.write('x')\n    op.drop_table('users')\n"
    )
    project(tmp_path, noisy)
    done = lint(tmp_path, "versions")
    assert done.returncode == 1, done.stderr
    data = report(done)  # stdout is bgmigrate's report alone
    assert "drop-table" in rules_for(data, "a1_hostile.py")


def test_static_mode_executes_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    body = (
        f"open({str(marker)!r}, 'w').close()\nos._exit(0)\n"
        f"def upgrade():\n    open({str(marker)!r}, 'w').close()\n    op.drop_table('users')\n"
    )
    project(tmp_path, body)
    done = lint(tmp_path, "--alembic-mode", "static", "versions")
    assert not marker.exists()
    assert done.returncode == 1, done.stderr
    data = report(done)
    assert "drop-table" in rules_for(data, "a1_hostile.py")
    assert "drop-column" in rules_for(data, "b2_later.py")


def test_static_mode_reports_a_connection_with_its_line(tmp_path: Path) -> None:
    path = revision(
        tmp_path, "c3.py", "c3", None,
        "def upgrade():\n    conn = op.get_bind()\n    conn.execute(sa.text('DELETE FROM orders'))\n"
        "    op.drop_column('orders', 'note')\n",
    )  # fmt: skip
    migration = load_alembic_static(path, path.read_text(encoding="utf-8"))
    [notice] = migration.notices
    assert notice.message == CONNECTION
    assert notice.line == path.read_text(encoding="utf-8").splitlines().index("    conn = op.get_bind()") + 1
    assert [s.text for s in migration.statements] == ["ALTER TABLE orders DROP COLUMN note"]


def test_static_mode_reads_batches_placeholders_and_helpers(tmp_path: Path) -> None:
    path = revision(
        tmp_path, "d4.py", "d4", None,
        "from myproject.models import Status\n\n"
        "def _drop_old():\n    op.drop_index('ix_old')\n\n"
        "def upgrade():\n"
        "    with op.batch_alter_table('orders', schema=None) as batch:\n"
        "        batch.add_column(sa.Column('status', Status, nullable=True))\n"
        "        batch.drop_column('old')\n"
        "    _drop_old()\n"
        "    with op.get_context().autocommit_block():\n"
        "        op.create_index('ix_s', 'orders', ['status'], postgresql_concurrently=True)\n",
    )  # fmt: skip
    migration = load_alembic_static(path, path.read_text(encoding="utf-8"))
    texts = [s.text for s in migration.statements]
    assert texts == [
        "ALTER TABLE orders ADD COLUMN status myproject.models.Status",
        'ALTER TABLE orders DROP COLUMN "old"',
        "DROP INDEX ix_old",
        "CREATE INDEX CONCURRENTLY ix_s ON orders (status)",
    ]
    assert [s.in_autocommit_block for s in migration.statements] == [False, False, False, True]
    assert migration.notices == ()


@pytest.mark.parametrize("path", sorted(FIXTURE_VERSIONS.glob("*.py")), ids=lambda p: p.name)
def test_static_mode_reads_what_running_reads_on_plain_revisions(path: Path) -> None:
    ran = load_alembic(path)
    read = load_alembic_static(path, path.read_text(encoding="utf-8"))

    # Every op.* call of a plain revision is seen without running it, at the same place, as the
    # same kind of statement (the project's own types differ: they render as their names).
    def shape(text: str) -> str:
        return " ".join(text.split()[:3])

    ran_ops = [(s.line, shape(s.text)) for s in ran.statements if s.origin.startswith("op.")]
    read_ops = [(s.line, shape(s.text)) for s in read.statements]
    noticed = {n.line for n in read.notices}
    assert [op for op in ran_ops if op not in read_ops and op[0] not in noticed] == []
    assert (ran.revision, ran.down_revisions) == (read.revision, read.down_revisions)


def test_the_placeholder_of_an_unknown_name_has_no_borrowed_attributes(tmp_path: Path) -> None:
    path = revision(
        tmp_path, "e5.py", "e5", None,
        "from myproject.models import Status\n\ndef upgrade():\n    op.create_index(Status.name, 'orders', ['a'])\n",
    )  # fmt: skip
    # Run mode (its import fails, so upgrade() runs statement by statement): ``Status.name`` is
    # unknown, never the placeholder's own label "Status".
    texts = [s.text for s in load_alembic(path).statements]
    assert 'CREATE INDEX "Status" ON orders (a)' not in texts


def test_the_worker_answer_is_validated() -> None:
    path = sorted(FIXTURE_VERSIONS.glob("*.py"))[0]
    migration = load_alembic(path)
    data: dict[str, Any] = migration_to_json(migration)
    assert migration_from_json(json.loads(json.dumps(data)), migration.path, migration.text) == migration
    broken: object
    for broken in (
        {**data, "statements": "x"},
        {**data, "notices": [{"rule": "nope", "message": "", "line": 1, "column": 1, "severity": None}]},
        {**data, "statements": [{**data["statements"][0], "line": -1}]},
        [],
    ):
        with pytest.raises(ValueError):
            migration_from_json(broken, "x.py", "")
