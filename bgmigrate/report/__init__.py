"""Reporters: render a :class:`LintResult` for people (text) or for machines (json, sarif, github, gitlab).

Each format lives in its own module, imported only when asked for: ``text`` pulls in rich and
pygments, which the machine formats never need, and start-up time matters for a CI linter.
"""

from __future__ import annotations

from typing import TextIO

from bgmigrate.lint.catalogue import Catalogue
from bgmigrate.project.result import LintResult

FORMATS = ("text", "json", "sarif", "github", "gitlab")


def render(
    result: LintResult,
    fmt: str,
    out: TextIO,
    *,
    catalogue: Catalogue,
    color: bool | None = None,
    tool_version: str = "0.1.0",
) -> None:
    """Write ``result`` to ``out`` in format ``fmt`` (one of :data:`FORMATS`).

    ``color`` only affects ``text``: True forces colour, False forbids it, None decides by
    whether ``out`` is a terminal (and ``NO_COLOR``).
    """
    if fmt == "text":
        from bgmigrate.report import text

        text.render(result, out, catalogue=catalogue, color=color)
    elif fmt == "json":
        from bgmigrate.report import json_report

        json_report.render(result, out)
    elif fmt == "sarif":
        from bgmigrate.report import sarif

        sarif.render(result, out, catalogue=catalogue, tool_version=tool_version)
    elif fmt == "github":
        from bgmigrate.report import github

        github.render(result, out)
    elif fmt == "gitlab":
        from bgmigrate.report import gitlab

        gitlab.render(result, out)
    else:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
