"""The ``gitlab`` format: a GitLab Code Quality report (a JSON array of issues)."""

from __future__ import annotations

import hashlib
import itertools
from typing import TextIO

from bgmigrate.lint.findings import Finding, InputError, Severity
from bgmigrate.project.result import LintResult
from bgmigrate.report.fastjson import Items, write_indented
from bgmigrate.safetext import display

_SEVERITIES = {Severity.ERROR: "critical", Severity.WARNING: "major", Severity.INFO: "info"}

INPUT_ERROR_CHECK = "input-error"


def fingerprint(*parts: object) -> str:
    """An md5 hex digest of the parts; GitLab uses it to match issues between pipelines.

    >>> fingerprint("rename-column", "db/1.sql", 3, "msg")
    'cfd40f8801b12c503e6800d4102ba88b'
    """
    # NUL separators keep ("a", "bc") and ("ab", "c") apart.
    joined = "\0".join(str(part) for part in parts)
    return hashlib.md5(joined.encode("utf-8"), usedforsecurity=False).hexdigest()


def finding_issue(finding: Finding) -> dict[str, object]:
    """One Code Quality issue for a finding."""
    # The description is shown in the merge request: no control characters (the path stays exact,
    # GitLab matches it against the repository).
    return {
        "description": display(finding.message),
        "check_name": finding.rule,
        "fingerprint": fingerprint(finding.rule, finding.path, finding.line, finding.message),
        "severity": _SEVERITIES[finding.severity],
        "location": {
            "path": finding.path,
            "lines": {"begin": finding.line, "end": max(finding.end_line, finding.line)},
        },
    }


def error_issue(error: InputError) -> dict[str, object]:
    """An unreadable file is reported too, so the merge request shows it."""
    line = max(error.line, 1)
    return {
        "description": display(error.message),
        "check_name": INPUT_ERROR_CHECK,
        "fingerprint": fingerprint(INPUT_ERROR_CHECK, error.path, error.line, error.message),
        "severity": "blocker",
        "location": {"path": error.path, "lines": {"begin": line, "end": line}},
    }


def render(result: LintResult, out: TextIO) -> None:
    """Write the report: input errors, then findings in sorted order."""
    findings = result.sorted_findings()
    issues = Items(lambda: itertools.chain((error_issue(e) for e in result.errors), map(finding_issue, findings)))
    write_indented(issues, out)  # each issue made as it is written
    out.write("\n")
