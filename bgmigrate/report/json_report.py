"""The ``json`` format: one stable document, for scripts.

Deliberately plain: no timestamps, no absolute paths, sorted findings, fixed key order, so two
runs over the same input give byte-identical output.
"""

from __future__ import annotations

from typing import TextIO

from bgmigrate.lint.findings import Severity
from bgmigrate.project.result import LintResult
from bgmigrate.report.fastjson import Items, write_indented


def document(result: LintResult) -> dict[str, object]:
    """The JSON document as a dict (keys in output order); its findings are made as they are
    written (``fastjson.Items``: a report of many findings never holds all their dicts)."""
    findings = result.sorted_findings()
    return {
        "findings": Items(lambda: (f.to_dict() for f in findings)),
        "files": result.files,
        "errors": [e.to_dict() for e in result.errors],
        # What was left out: files not linted, statements not analysed (never silent).
        "notes": [n.to_dict() for n in result.machine_notes()],
        "summary": {s.label: result.count(s) for s in sorted(Severity, reverse=True)},
    }


def render(result: LintResult, out: TextIO) -> None:
    """Write the document, indented, with a trailing newline."""
    write_indented(document(result), out)
    out.write("\n")
