"""What users see for the shipped fixtures, pinned: text, JSON and SARIF reports.

Refresh with ``BGMIGRATE_UPDATE_SNAPSHOTS=1`` after an intended change, then review the diff.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from snapshot import assert_snapshot

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {
    "examples": ["fixtures/examples/"],
    "alembic": ["fixtures/alembic/"],
    "alembic_broken": ["fixtures/alembic_broken/"],
}


def lint(fmt: str, paths: list[str]) -> subprocess.CompletedProcess[str]:
    # Run from the repository root so paths are relative and the output is the same everywhere.
    return subprocess.run(
        [sys.executable, "-m", "bgmigrate", "lint", "--no-cache", "--no-color", "--format", fmt, *paths],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "100", "NO_COLOR": "1"},
    )


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize(("fmt", "suffix"), [("text", "txt"), ("json", "json"), ("sarif", "sarif")])
def test_fixture_report(target: str, fmt: str, suffix: str) -> None:
    done = lint(fmt, TARGETS[target])
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == (2 if target == "alembic_broken" else 1)
    if fmt != "text":
        json.loads(done.stdout)  # one well-formed document
    assert_snapshot(f"fixtures/{target}.{suffix}", done.stdout)


def test_broken_alembic_folder_reports_each_problem_its_own_way() -> None:
    report = json.loads(lint("json", TARGETS["alembic_broken"]).stdout)
    errors = {Path(e["path"]).name: e for e in report["errors"]}
    assert set(errors) == {"syntax_error.py"} and errors["syntax_error.py"]["line"] > 0
    notices = {(Path(f["path"]).name, f["rule"], f["severity"]) for f in report["findings"]}
    # An import that fails in pre-commit is a partial analysis, not an input error.
    assert ("missing_package.py", "unparsed-statement", "warning") in notices
    assert ("live_database.py", "unparsed-statement", "warning") in notices
    partial = [f["message"] for f in report["findings"] if f["path"].endswith("missing_package.py")]
    assert any("partial" in m for m in partial)
