"""Running a backend's external command (``nginx -t``, a cloud CLI) without a shell."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

TIMEOUT_S = 120


def run(argv: Sequence[str], timeout: float = TIMEOUT_S) -> tuple[bool, str]:
    """Run ``argv``; (succeeded, one line saying what happened)."""
    shown = " ".join(argv)
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return False, f"{shown}: command not found"
    except subprocess.TimeoutExpired:
        return False, f"{shown}: no answer in {timeout:g}s"
    except OSError as exc:
        return False, f"{shown}: {exc.strerror or exc}"
    if done.returncode == 0:
        return True, f"{Path(argv[0]).name} exited 0"
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    # nginx -t ends with "test failed"; the line before it says why.
    why = next((line for line in reversed(lines) if "test failed" not in line), "no output")
    return False, f"{shown}: exit {done.returncode}: {why}"
