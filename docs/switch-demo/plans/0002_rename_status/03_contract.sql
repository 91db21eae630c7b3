-- bgmigrate plan 0002_rename_status · phase 3 of 3: contract
-- from migrations/0002_rename_status.sql; app versions live while this phase is in place: new.
-- Run: bgmigrate apply <plan dir> --phase contract --dsn DSN
-- or with psql, statement by statement (autocommit; stop on the first error: psql -X -v ON_ERROR_STOP=1 -f FILE).
-- Never wrap this whole file in one transaction: some statements cannot run inside one, and every lock
-- would be held to the end.
-- A statement that waits longer than 300ms for its lock fails rather than stall the application.
-- psql does not retry: run the file again from the statement that failed (those before it are done), or
-- use `bgmigrate apply`, which retries with backoff and jitter and resumes where it stopped.
SET lock_timeout = '300ms';
-- Guard: refuses (and makes this session read-only) while an environment that uses the old shape
-- can still serve or be rolled back to; the same gate as `bgmigrate apply --phase contract`.
DO $bgmigrate$
DECLARE
  plan_id constant text := '0002_rename_status';
  confirmed constant boolean := lower(coalesce(current_setting('bgmigrate.confirm_old_version_retired', true), ''))
    IN ('1', 'yes', 'true', 'on');
  reasons text[] := '{}';
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
                 AND l.classid::bigint = 1650945385 AND l.objid::bigint = 1) THEN
      reasons := reasons || 'a traffic switch is running'::text;
    END IF;
    SELECT reasons || coalesce(array_agg(format('%s (%s) does not list %s in requires: it still uses what contract removes',
                                                r.name, r.role, plan_id)), '{}')
      INTO reasons
      FROM (VALUES (active_env, 'active'), (kept_env, 'rollback target')) AS r (name, role)
     WHERE r.name IS NOT NULL
       AND NOT EXISTS (SELECT FROM bgmigrate.switch_environment AS e, unnest(e.requires) AS q (req)
                       WHERE e.name = r.name AND regexp_replace(q.req, ':[^:]*$', '') = plan_id);
    SELECT reasons || coalesce(array_agg(format('%s session(s) still open as %s', s.n, s.app)), '{}')
      INTO reasons
      FROM (SELECT a.application_name AS app, count(*) AS n FROM pg_stat_activity AS a
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
               AND a.application_name IN (
                 SELECT e.application_name FROM bgmigrate.switch_environment AS e
                  WHERE e.application_name IS NOT NULL
                    AND (e.retired_at IS NOT NULL
                         OR NOT EXISTS (SELECT FROM unnest(e.requires) AS q (req) WHERE regexp_replace(q.req, ':[^:]*$', '') = plan_id)))
             GROUP BY a.application_name) AS s;
  END IF;
  IF cardinality(reasons) > 0 THEN
    -- Session-wide and committed with this block: what follows in the file fails, ON_ERROR_STOP or not.
    PERFORM set_config('default_transaction_read_only', 'on', false);
    PERFORM set_config('bgmigrate.contract_refused', array_to_string(reasons, '; '), false);
  END IF;
END
$bgmigrate$;
DO $bgmigrate$
BEGIN
  IF coalesce(current_setting('bgmigrate.contract_refused', true), '') <> '' THEN
    RAISE EXCEPTION USING ERRCODE = '55000',
      MESSAGE = 'bgmigrate: contract of 0002_rename_status refused: ' || current_setting('bgmigrate.contract_refused'), HINT = 'contract removes what the old app version uses: `bgmigrate switch retire` the old environment first (as `bgmigrate apply --phase contract` requires); without a traffic switch, once no old-version instance runs, run this file with PGOPTIONS=''-c bgmigrate.confirm_old_version_retired=yes''. This session is now read-only.';
  END IF;
END
$bgmigrate$;

-- 1. in one transaction: drop the trigger and orders.status; the copies take their original names [locks orders: ACCESS EXCLUSIVE]
BEGIN;
-- bgmigrate: ignore[drop-object] bgmigrate's own trigger from expand; no app version calls or relies on it
DROP TRIGGER IF EXISTS bgm_sync_state ON orders;
-- bgmigrate: ignore[drop-object] bgmigrate's own trigger from expand; no app version calls or relies on it
DROP FUNCTION IF EXISTS bgm_sync_orders_state();
-- bgmigrate: ignore[drop-column] contract runs after the old app version is retired (plan 0002_rename_status)
ALTER TABLE orders DROP COLUMN status;
COMMIT;
