"""Expected failures of apply, each carrying its exit status and a one-line message."""

from __future__ import annotations

from bgmigrate.exitcodes import INPUT_ERROR, REFUSED

INTERRUPTED = 130  # the shell's convention for a run stopped by Ctrl-C


class ApplyError(Exception):
    """Apply stopped; ``str(exc)`` is the one line to show, ``code`` the exit status."""

    code = INPUT_ERROR


class Refused(ApplyError):
    """A gate said no (phase order, preconditions, contract confirmation); nothing changed."""

    code = REFUSED


class Interrupted(ApplyError):
    """Ctrl-C or a signal: progress so far is recorded and a re-run resumes."""

    code = INTERRUPTED
