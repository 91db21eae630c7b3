"""The documented Alembic post_write_hooks recipe lints a revision as Alembic writes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HOOK = """
hooks = bgmigrate
bgmigrate.type = console_scripts
bgmigrate.entrypoint = bgmigrate
bgmigrate.options = lint --no-cache --no-color REVISION_SCRIPT_FILENAME
"""

TEMPLATE = '''"""${message}"""
from alembic import op
import sqlalchemy as sa

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade():
    op.drop_column("orders", "legacy_state")


def downgrade():
    pass
'''


def test_post_write_hook_reports_the_new_revision(tmp_path: Path) -> None:
    alembic = [sys.executable, "-m", "alembic"]
    subprocess.run([*alembic, "init", "migrations"], cwd=tmp_path, check=True, capture_output=True)
    ini = tmp_path / "alembic.ini"
    # alembic init writes an empty [post_write_hooks] section; the recipe's keys go into it.
    text = ini.read_text(encoding="utf-8").replace("[post_write_hooks]", "[post_write_hooks]" + HOOK, 1)
    ini.write_text(text, encoding="utf-8")
    (tmp_path / "migrations" / "script.py.mako").write_text(TEMPLATE, encoding="utf-8")
    done = subprocess.run(
        [*alembic, "revision", "-m", "drop legacy state"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "drop-column" in output and "legacy_state" in output
    assert "Traceback" not in output
