"""The guard at the top of ``03_contract.sql``: psql trips over it while the old version may serve.

``bgmigrate apply --phase contract`` asks the traffic switch (:func:`bgmigrate.switch.contract_allowed`)
and the Alembic contract revision calls the same gate; a file run by psql cannot call Python,
so it carries the same questions in SQL, asked of the switch's tables in the ``bgmigrate`` schema:

- with switch state: refused while a switch runs, while the active environment or the rollback
  target does not list the plan in ``requires``, or while sessions of a retired environment (or
  of one that predates the plan) are open; the operator's confirmation cannot override that;
- without switch state: refused unless the operator confirms, as ``--confirm-old-version-retired``
  does, with ``PGOPTIONS='-c bgmigrate.confirm_old_version_retired=yes'``.

A refusal makes the session read-only before it raises, so even a psql run without
``ON_ERROR_STOP`` removes nothing: every later statement of the file fails.
"""

from __future__ import annotations

from bgmigrate.safetext import display
from bgmigrate.sql.quote import dollar_quote, quote_literal

CONFIRM_SETTING = "bgmigrate.confirm_old_version_retired"
REFUSED_SETTING = "bgmigrate.contract_refused"
# bgmigrate.switch.lock's advisory key (NAMESPACE, SWITCH), held while a switch runs; a test keeps them equal.
SWITCH_LOCK = (0x62676D69, 1)

# A requires entry is "plan_id:phase" (a plan id may hold ':'): it names the plan up to its last ':'.
_LISTS_PLAN = "regexp_replace(q.req, ':[^:]*$', '') = plan_id"


def _text(value: str) -> str:
    """A SQL expression for ``value`` that stays on one line: printable runs quoted, the rest as chr().

    >>> _text("a'b"), _text("x" + chr(10) + "y")
    ("'a''b'", "'x' || chr(10) || 'y'")
    """
    parts: list[str] = []
    run = ""
    for char in value:
        if char.isprintable():
            run += char
            continue
        parts += [quote_literal(run)] if run else []
        parts.append(f"chr({ord(char)})")
        run = ""
    parts += [quote_literal(run)] if run or not parts else []
    return " || ".join(parts)


def _decide(plan_id: str) -> str:
    """The first statement: find every reason to refuse; on any, turn the session read-only."""
    namespace, switch = SWITCH_LOCK
    body = f"""
DECLARE
  plan_id constant text := {_text(plan_id)};
  confirmed constant boolean := lower(coalesce(current_setting('{CONFIRM_SETTING}', true), ''))
    IN ('1', 'yes', 'true', 'on');
  reasons text[] := '{{}}';
  active_env text;
  kept_env text;
BEGIN
  IF to_regclass('bgmigrate.switch_state') IS NOT NULL THEN
    SELECT s.active, s.rollback_target INTO active_env, kept_env FROM bgmigrate.switch_state AS s;
  END IF;
  IF active_env IS NULL THEN
    IF NOT confirmed THEN
      reasons := reasons || 'no traffic switch keeps state here and nobody confirmed the old version is retired'::text;
    END IF;
  ELSE
    IF EXISTS (SELECT FROM pg_locks AS l
               WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                 AND l.database = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
                 AND l.classid::bigint = {namespace} AND l.objid::bigint = {switch}) THEN
      reasons := reasons || 'a traffic switch is running'::text;
    END IF;
    SELECT reasons || coalesce(array_agg(format('%s (%s) does not list %s in requires: it still uses what contract removes',
                                                r.name, r.role, plan_id)), '{{}}')
      INTO reasons
      FROM (VALUES (active_env, 'active'), (kept_env, 'rollback target')) AS r (name, role)
     WHERE r.name IS NOT NULL
       AND NOT EXISTS (SELECT FROM bgmigrate.switch_environment AS e, unnest(e.requires) AS q (req)
                       WHERE e.name = r.name AND {_LISTS_PLAN});
    SELECT reasons || coalesce(array_agg(format('%s session(s) still open as %s', s.n, s.app)), '{{}}')
      INTO reasons
      FROM (SELECT a.application_name AS app, count(*) AS n FROM pg_stat_activity AS a
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
               AND a.application_name IN (
                 SELECT e.application_name FROM bgmigrate.switch_environment AS e
                  WHERE e.application_name IS NOT NULL
                    AND (e.retired_at IS NOT NULL
                         OR NOT EXISTS (SELECT FROM unnest(e.requires) AS q (req) WHERE {_LISTS_PLAN})))
             GROUP BY a.application_name) AS s;
  END IF;
  -- Set either way: a session that ran the file before must not carry an old verdict.
  PERFORM set_config('{REFUSED_SETTING}', array_to_string(reasons, '; '), false);
  IF cardinality(reasons) > 0 THEN
    -- Session-wide and committed with this block: what follows in the file fails, ON_ERROR_STOP or not.
    PERFORM set_config('default_transaction_read_only', 'on', false);
  END IF;
END
"""
    return f"DO {dollar_quote(body)};"


def _raise(plan_id: str) -> str:
    """The second statement: raise if the first found a reason (a read-only session may still run it)."""
    message = quote_literal(f"bgmigrate: contract of {display(plan_id)} refused: ")
    hint = quote_literal(
        "contract removes what the old app version uses: `bgmigrate switch retire` the old environment first "
        "(as `bgmigrate apply --phase contract` requires); without a traffic switch, once no old-version instance "
        f"runs, run this file with PGOPTIONS='-c {CONFIRM_SETTING}=yes'. This session is now read-only."
    )
    body = f"""
BEGIN
  IF coalesce(current_setting('{REFUSED_SETTING}', true), '') <> '' THEN
    RAISE EXCEPTION USING ERRCODE = '55000',
      MESSAGE = {message} || current_setting('{REFUSED_SETTING}'), HINT = {hint};
  END IF;
END
"""
    return f"DO {dollar_quote(body)};"


def contract_guard(plan_id: str) -> list[str]:
    """Lines for the top of a contract SQL file: a comment, then the two guard statements."""
    return [
        "-- Guard: refuses (and makes this session read-only) while an environment that uses the old shape",
        "-- can still serve or be rolled back to; the same gate as `bgmigrate apply --phase contract`.",
        _decide(plan_id),
        _raise(plan_id),
    ]
