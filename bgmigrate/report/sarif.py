"""The ``sarif`` format: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

Every catalogue rule is described in ``tool.driver.rules`` (so viewers can show the rule's
explanation even for rules that did not fire), results point at rules by id and index, and input
errors become tool execution notifications with ``executionSuccessful`` false.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import TextIO
from urllib.parse import quote

from bgmigrate.lint.catalogue import Catalogue, RuleEntry
from bgmigrate.lint.findings import Finding, InputError, Severity
from bgmigrate.project.result import LintResult, Note
from bgmigrate.report.fastjson import Items, write_indented

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/bgmigrate/bgmigrate"
FINGERPRINT_KEY = "bgmigrateFindingHash/v1"

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}

Json = dict[str, object]


def artifact_location(path: str) -> Json:
    """A relative path stays relative to ``%SRCROOT%`` (the checkout); an absolute one becomes a file URI.

    >>> artifact_location("db/migrations/001 init.sql")
    {'uri': 'db/migrations/001%20init.sql', 'uriBaseId': '%SRCROOT%'}
    >>> artifact_location("/srv/app/001.sql")
    {'uri': 'file:///srv/app/001.sql'}
    """
    posix = path.replace("\\", "/")
    if PurePosixPath(posix).is_absolute():
        return {"uri": "file://" + quote(posix)}
    if posix.startswith("./"):
        posix = posix[2:]
    return {"uri": quote(posix), "uriBaseId": "%SRCROOT%"}


def rule_descriptor(entry: RuleEntry) -> Json:
    """A reportingDescriptor built from a catalogue entry."""
    markdown = (
        f"**{entry.summary}**\n\n{entry.why}\n\n**How to fix**\n\n{entry.recipe}\n\n"
        f"Run `bgmigrate explain {entry.name}` for examples."
    )
    return {
        "id": entry.code,
        "name": entry.name,
        "shortDescription": {"text": entry.summary},
        "fullDescription": {"text": entry.why},
        "help": {"text": entry.recipe, "markdown": markdown},
        "defaultConfiguration": {"level": _LEVELS[entry.severity], "enabled": entry.enabled},
        "properties": {"tags": [entry.group]},
    }


def _unknown_descriptor(finding: Finding) -> Json:
    # A finding whose rule is missing from the catalogue still needs a descriptor for ruleIndex.
    return {
        "id": finding.code,
        "name": finding.rule,
        "shortDescription": {"text": finding.rule},
        "defaultConfiguration": {"level": _LEVELS[finding.severity]},
    }


def rule_descriptors(result: LintResult, catalogue: Catalogue) -> list[Json]:
    """Every catalogue rule by code, then any rule the findings name that the catalogue lacks."""
    entries = sorted(catalogue.entries.values(), key=lambda e: e.code)
    rules = [rule_descriptor(e) for e in entries]
    known = {e.code for e in entries}
    extra: dict[str, Json] = {}
    for finding in result.findings:
        if finding.code not in known:
            extra.setdefault(finding.code, _unknown_descriptor(finding))
    return rules + [extra[code] for code in sorted(extra)]


def _region(finding: Finding) -> Json:
    line = max(finding.line, 1)
    column = max(finding.column, 1)
    end_line = max(finding.end_line, line)
    # Findings' end_column points at the last character; SARIF's endColumn is one past it.
    end_column = finding.end_column + 1
    if end_line == line:
        end_column = max(end_column, column + 1)
    return {
        "startLine": line,
        "startColumn": column,
        "endLine": end_line,
        "endColumn": max(end_column, 1),
    }


def fingerprint(finding: Finding) -> str:
    """A hash of rule, path and message: stable when lines above the statement move.

    The message names the table and column, so it identifies the statement well enough.
    """
    text = " ".join(finding.message.split())
    joined = "\0".join((finding.code, finding.path, text))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def result_object(finding: Finding, rule_index: int, occurrence: int) -> Json:
    """One SARIF result; ``occurrence`` tells apart identical findings in one file."""
    text = f"{finding.message}\n{finding.fix}" if finding.fix else finding.message
    return {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": _LEVELS[finding.severity],
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact_location(finding.path),
                    "region": _region(finding),
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: f"{fingerprint(finding)}:{occurrence}"},
    }


def results(result: LintResult, rules: list[Json]) -> Items:
    """Results in sorted order, each pointing at its descriptor (made as they are written)."""
    index = {str(rule["id"]): i for i, rule in enumerate(rules)}
    findings = result.sorted_findings()

    def made() -> Iterator[Json]:
        seen: dict[str, int] = {}
        for finding in findings:
            key = fingerprint(finding)
            seen[key] = seen.get(key, 0) + 1
            yield result_object(finding, index[finding.code], seen[key])

    return Items(made)


def notification(error: InputError) -> Json:
    """A tool execution notification for a file that could not be read or parsed."""
    physical: Json = {"artifactLocation": artifact_location(error.path)}
    if error.line > 0:
        physical["region"] = {"startLine": error.line}
    return {
        "level": "error",
        "message": {"text": error.message},
        "locations": [{"physicalLocation": physical}],
    }


def note_notification(note: Note) -> Json:
    """A ``note``-level notification for input left out (the run still succeeded)."""
    physical: Json = {"artifactLocation": artifact_location(note.path)}
    if note.line is not None and note.line > 0:
        physical["region"] = {"startLine": note.line}
    return {
        "level": "note",
        "message": {"text": note.message},
        "locations": [{"physicalLocation": physical}],
        "properties": {"kind": note.kind},
    }


def invocation(result: LintResult) -> Json:
    """Whether the run could read everything, what it could not, and what it left out."""
    inv: Json = {"executionSuccessful": not result.errors}
    notifications = [notification(e) for e in result.errors]
    notifications += [note_notification(n) for n in result.machine_notes()]
    if notifications:
        inv["toolExecutionNotifications"] = notifications
    return inv


def document(result: LintResult, catalogue: Catalogue, tool_version: str) -> Json:
    """The whole SARIF log as a dict."""
    rules = rule_descriptors(result, catalogue)
    driver: Json = {
        "name": "bgmigrate",
        "informationUri": INFORMATION_URI,
        "version": tool_version,
        "rules": rules,
    }
    run: Json = {
        "tool": {"driver": driver},
        "invocations": [invocation(result)],
        "columnKind": "unicodeCodePoints",
        "results": results(result, rules),
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(result: LintResult, out: TextIO, *, catalogue: Catalogue, tool_version: str) -> None:
    """Write the SARIF log, indented, with a trailing newline."""
    write_indented(document(result, catalogue, tool_version), out)
    out.write("\n")
