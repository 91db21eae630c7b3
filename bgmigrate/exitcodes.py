"""Exit statuses, in one place: one meaning each, the same for every subcommand (README, docs/switch.md)."""

OK = 0
FINDINGS = 1  # findings at or above --fail-on
INPUT_ERROR = 2  # unreadable or unparseable input, bad configuration, usage error
REFUSED = 3  # refused by its gates before any change: nothing was changed
FAILED = 4  # tried, failed, and undone (verified): things are as they were before the action
NOT_UNDONE = 5  # tried, failed, and NOT undone (or the undo could not be verified): an operator must act
INTERRUPTED = 130  # Ctrl-C or SIGTERM, as a shell reports SIGINT; what it left is said on stderr
