"""Run a benchmark against a frozen copy of this tree, so edits made meanwhile change nothing.

The cache key covers bgmigrate's own code (size and mtime of every module): in a checkout that
others are editing, a warm run would otherwise find its entries invalidated between two rounds.
The copy is byte-compiled, as an installed package is.
"""

from __future__ import annotations

import compileall
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def frozen_env(workdir: Path) -> dict[str, str]:
    """An environment whose ``bgmigrate`` is a copy of ``bgmigrate/`` and ``rules/`` taken now."""
    tree = workdir / "tree"
    if not tree.exists():
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / "bgmigrate", tree / "bgmigrate", ignore=ignore)
        shutil.copytree(ROOT / "rules", tree / "rules", ignore=ignore)
        # Byte-compile the copy, as an install does: with PYTHONDONTWRITEBYTECODE set (as in
        # CI and in these sessions) every run would otherwise compile bgmigrate from source,
        # ~0.08 s that no installed copy pays.
        compileall.compile_dir(tree / "bgmigrate", quiet=1)
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{path}" if path else str(tree)}
