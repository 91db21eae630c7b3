"""Snapshot assertions: compare rendered output with a file under ``tests/snapshots/``.

Run with ``BGMIGRATE_UPDATE_SNAPSHOTS=1`` to (re)write the files, then review the diff.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE_ENV = "BGMIGRATE_UPDATE_SNAPSHOTS"


def assert_snapshot(name: str, text: str) -> None:
    """Fail unless ``text`` equals ``tests/snapshots/<name>``; rewrite it when updating."""
    path = SNAPSHOTS / name
    if os.environ.get(UPDATE_ENV) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        # Bytes, not text mode: no newline translation, so the file is exactly what was rendered.
        path.write_bytes(text.encode("utf-8"))
        return
    if not path.exists():
        raise AssertionError(f"snapshot {name} is missing; run with {UPDATE_ENV}=1 to create it")
    expected = path.read_bytes().decode("utf-8")
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"snapshots/{name}",
            tofile="rendered",
        )
        raise AssertionError(f"snapshot {name} differs ({UPDATE_ENV}=1 to accept):\n" + "".join(diff))
