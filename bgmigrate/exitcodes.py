"""Exit statuses, in one place (documented in the README)."""

OK = 0
FINDINGS = 1  # findings at or above --fail-on
INPUT_ERROR = 2  # unreadable or unparseable input, bad configuration, usage error
REFUSED = 3  # an action refused by its gates (switch, contract)
FAILED = 4  # an action that was tried and undone (a switch that did not confirm and switched back)
