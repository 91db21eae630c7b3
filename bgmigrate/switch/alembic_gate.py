"""The contract gate for Alembic: the generated contract revision asks what ``apply`` asks.

``bgmigrate apply --phase contract`` refuses while the traffic switch says an environment that
still uses the old shape can serve (active, rollback target, open sessions), and without a
switch asks the operator to confirm the old version is retired. ``alembic upgrade head`` must
not be a way around that: the contract revision calls :func:`require_contract_allowed` first,
and a refusal raises, so Alembic's transaction rolls back and nothing is removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

# ``alembic -x bgmigrate_confirm_old_version_retired=yes upgrade head``: the operator's word,
# used only where no traffic switch keeps state (as ``--confirm-old-version-retired``).
CONFIRM_KEY = "bgmigrate_confirm_old_version_retired"
_YES = frozenset({"1", "yes", "true", "on"})


class ContractRefused(RuntimeError):
    """The gate said no; the message says why and what to do."""


def require_contract_allowed(plan_id: str, bind: Any, x_arguments: Mapping[str, str]) -> None:
    """Return if contract of ``plan_id`` may run on ``bind`` (a SQLAlchemy connection); else raise.

    ``bind`` is None in offline mode (``alembic upgrade --sql``): nobody can be asked then, so
    only the operator's ``-x`` confirmation lets the SQL be written.
    """
    confirmed = x_arguments.get(CONFIRM_KEY, "").strip().lower() in _YES
    if _linting(bind):
        return  # bgmigrate lint records the revision's operations: nothing runs, so nothing to guard
    if bind is None:
        if confirmed:
            return
        raise ContractRefused(
            f"bgmigrate: contract of {plan_id} removes what the old app version uses, and offline "
            "(--sql) the traffic switch cannot be asked; once no old-version instance runs and the rollback "
            f"window has closed, pass -x {CONFIRM_KEY}=yes"
        )
    from bgmigrate.switch import contract_allowed, coordinated, refusal

    with _psycopg(bind) as conn:
        verdict = contract_allowed(conn, plan_id)
    if verdict.allowed:
        return
    if coordinated(verdict):
        raise ContractRefused(f"bgmigrate: {refusal(verdict)}; nothing was changed")
    if not confirmed:
        raise ContractRefused(
            f"bgmigrate: contract of {plan_id} removes what the old app version still uses and no traffic "
            "switch keeps state here; once no old-version instance runs and the rollback window has closed, "
            f"run `alembic -x {CONFIRM_KEY}=yes upgrade ...`; nothing was changed"
        )


def _linting(bind: Any) -> bool:
    """Whether ``bind`` is the recording stand-in ``bgmigrate lint`` hands a revision (no database)."""
    return type(bind).__module__ == "bgmigrate.project.alembic_offline"


@contextlib.contextmanager
def _psycopg(bind: Any) -> Iterator[Any]:
    """A psycopg connection for the gate: Alembic's own when it is one, else a new one to the same URL."""
    import psycopg

    raw = getattr(getattr(bind, "connection", None), "dbapi_connection", None)
    if isinstance(raw, psycopg.Connection):
        yield raw  # read-only queries, inside Alembic's transaction
        return
    url = bind.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn
