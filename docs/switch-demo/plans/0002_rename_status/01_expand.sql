-- bgmigrate plan 0002_rename_status · phase 1 of 3: expand
-- from migrations/0002_rename_status.sql; app versions live while this phase is in place: old and new.
-- Run: bgmigrate apply <plan dir> --phase expand --dsn DSN
-- or with psql, statement by statement (autocommit; stop on the first error: psql -X -v ON_ERROR_STOP=1 -f FILE).
-- Never wrap this whole file in one transaction: some statements cannot run inside one, and every lock
-- would be held to the end.
-- A statement that waits longer than 300ms for its lock fails rather than stall the application.
-- psql does not retry: run the file again from the statement that failed (those before it are done), or
-- use `bgmigrate apply`, which retries with backoff and jitter and resumes where it stopped.
SET lock_timeout = '300ms';

-- 1. add orders.state (text), nullable and without default until contract [locks orders: ACCESS EXCLUSIVE]
ALTER TABLE orders ADD COLUMN state text;

-- 2. create the function keeping status and state equal
CREATE FUNCTION bgm_sync_orders_state() RETURNS trigger LANGUAGE plpgsql AS $bgmigrate$
BEGIN
  -- keeps status (old app) and state (new app) equal while both versions write
  IF TG_OP = 'INSERT' THEN
    IF NEW.state IS NULL THEN
      NEW.state := NEW.status;
    ELSIF NEW.state IS DISTINCT FROM NEW.status THEN
      NEW.status := NEW.state;
    END IF;
  ELSIF NEW.state IS DISTINCT FROM OLD.state THEN
    IF NEW.state IS DISTINCT FROM NEW.status THEN
      NEW.status := NEW.state;
    END IF;
  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
    NEW.state := NEW.status;
  END IF;
  RETURN NEW;
END
$bgmigrate$;

-- 3. install the sync trigger on orders [locks orders: SHARE ROW EXCLUSIVE]
CREATE TRIGGER bgm_sync_state BEFORE INSERT OR UPDATE ON orders
  FOR EACH ROW EXECUTE FUNCTION bgm_sync_orders_state();
