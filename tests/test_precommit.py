"""The documented pre-commit set-up works in a freshly made repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "integration.md"


def _pre_commit() -> str:
    found = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("pre-commit is a dev dependency: pip install -e '.[dev]'")
    return found


def _documented_local_config() -> str:
    """The first yaml block of the pre-commit section: the `repo: local` form."""
    section = DOC.read_text(encoding="utf-8").split("## pre-commit", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    assert "repo: local" in block[1]
    return block[1]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)


def test_the_hook_manifest_is_valid() -> None:
    done = subprocess.run(
        [_pre_commit(), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "v0.1.0" not in (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "rev: v0.1.0" not in DOC.read_text(encoding="utf-8"), "no such tag exists"


def test_the_documented_local_hook_blocks_an_unsafe_migration(tmp_path: Path) -> None:
    repo = tmp_path / "app"
    (repo / "db" / "migrations").mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "dev")
    (repo / ".pre-commit-config.yaml").write_text(_documented_local_config(), encoding="utf-8")
    safe = repo / "db" / "migrations" / "0001_orders.sql"
    safe.write_text("CREATE TABLE orders (id bigint PRIMARY KEY, note text);\n", encoding="utf-8")
    (repo / "README.md").write_text("not a migration\n", encoding="utf-8")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
    }
    run = [_pre_commit(), "run", "--all-files", "--color", "never"]
    _git(repo, "add", ".")
    clean = subprocess.run(run, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "bgmigrate lint" in clean.stdout and "Passed" in clean.stdout

    (repo / "db" / "migrations" / "0002_drop.sql").write_text("ALTER TABLE orders DROP COLUMN note;\n")
    _git(repo, "add", ".")
    unsafe = subprocess.run(run, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert unsafe.returncode == 1, unsafe.stdout + unsafe.stderr
    assert "Failed" in unsafe.stdout and "drop-column" in unsafe.stdout
    assert "0002_drop.sql:1:1" in unsafe.stdout
