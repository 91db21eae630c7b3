"""The rule catalogue runs: every example lints as it says, and code and catalogue match."""

from __future__ import annotations

import pytest

from bgmigrate.examples import lint_example
from bgmigrate.lint.catalogue import load_catalogue
from bgmigrate.lint.rules import discover

CATALOGUE = load_catalogue()
CASES = [
    pytest.param(entry.name, example, id=f"{entry.name}-{example.kind}{i}")
    for entry in CATALOGUE
    for i, example in enumerate(entry.examples)
]


def test_code_and_catalogue_match_one_to_one() -> None:
    registered = set(discover())
    catalogued = set(CATALOGUE.entries)
    assert registered - catalogued == set(), "rules without a catalogue entry"
    assert catalogued - registered == set(), "catalogue entries without detection code"


def test_every_rule_has_bad_and_good_examples() -> None:
    for entry in CATALOGUE:
        assert entry.bad, f"{entry.name} has no bad example"
        assert entry.good, f"{entry.name} has no good example"


@pytest.mark.parametrize(("rule", "example"), CASES)
def test_example(rule: str, example) -> None:  # type: ignore[no-untyped-def]
    findings, errors = lint_example(example, CATALOGUE, rule)
    assert errors == [], errors
    fired = [f for f in findings if f.rule == rule]
    if example.kind == "bad":
        assert fired, f"bad example of {rule} raised nothing:\n{example.sql}"
        assert all(f.message and f.fix for f in fired)
    else:
        assert not fired, f"good example of {rule} raised: {[f.message for f in fired]}\n{example.sql}"
