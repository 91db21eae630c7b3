"""Apply a plan's phases to a live database, and answer what has been applied.

The public, read-only API the traffic-switch coordinator builds on is
:func:`phase_status` and :func:`verify_checks`; ``bgmigrate apply`` runs
:func:`bgmigrate.apply.executor.apply_phase` and :func:`bgmigrate.apply.rollback.rollback_phase`.
"""

from bgmigrate.apply.live_checks import CheckResult, verify_checks
from bgmigrate.apply.status import PhaseStatus, phase_status

__all__ = ["CheckResult", "PhaseStatus", "phase_status", "verify_checks"]
