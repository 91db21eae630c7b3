"""Which files changed since a git revision (``lint --diff REF``)."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(Exception):
    """git is missing, this is not a repository, or the revision is unknown."""


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror}") from None
    if done.returncode != 0:
        raise GitError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"git {args[0]} failed")
    return done.stdout


def changed_files(ref: str) -> list[Path]:
    """Files added, copied, modified or renamed since ``ref`` (committed or not), plus untracked ones."""
    top = Path(_git("rev-parse", "--show-toplevel").strip())
    _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    names = _git("diff", "--name-only", "--diff-filter=ACMR", ref, "--").splitlines()
    names += _git("ls-files", "--others", "--exclude-standard", "--full-name", str(top)).splitlines()
    return [top / name for name in names if name.strip()]
