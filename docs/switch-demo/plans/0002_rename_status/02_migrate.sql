-- bgmigrate plan 0002_rename_status · phase 2 of 3: migrate
-- from migrations/0002_rename_status.sql; app versions live while this phase is in place: old and new.
-- Run: bgmigrate apply <plan dir> --phase migrate --dsn DSN
-- or with psql, statement by statement (autocommit; stop on the first error: psql -X -v ON_ERROR_STOP=1 -f FILE).
-- Never wrap this whole file in one transaction: some statements cannot run inside one, and every lock
-- would be held to the end.
-- A statement that waits longer than 300ms for its lock fails rather than stall the application.
-- psql does not retry: run the file again from the statement that failed (those before it are done), or
-- use `bgmigrate apply`, which retries with backoff and jitter and resumes where it stopped.
SET lock_timeout = '300ms';

-- 1. backfill orders.state in batches of 1000 by id [locks orders: ROW EXCLUSIVE]
--    `bgmigrate apply … --phase migrate` runs this batch by batch (1000 rows by id),
--    with progress, and resumes after a crash. By hand, the loop below commits after every batch
--    (not in a transaction block). Rows still to do:
--    SELECT count(*) FROM orders WHERE state IS DISTINCT FROM status;
-- bgmigrate: ignore[unbatched-data-change] generated backfill loop: key-range batches, each committed
DO $bgmigrate$
DECLARE
  last_key orders.id%TYPE;
  batch_end orders.id%TYPE;
BEGIN
  LOOP
    IF last_key IS NULL THEN
      SELECT id INTO batch_end FROM (SELECT id FROM orders ORDER BY id LIMIT 1000) AS batch ORDER BY id DESC LIMIT 1;
    ELSE
      SELECT id INTO batch_end FROM (SELECT id FROM orders WHERE id > last_key ORDER BY id LIMIT 1000) AS batch ORDER BY id DESC LIMIT 1;
    END IF;
    EXIT WHEN NOT FOUND;
    IF last_key IS NULL THEN
      UPDATE orders SET state = status WHERE id <= batch_end AND (state IS DISTINCT FROM status);
    ELSE
      UPDATE orders SET state = status WHERE id > last_key AND id <= batch_end AND (state IS DISTINCT FROM status);
    END IF;
    last_key := batch_end;
    COMMIT;
  END LOOP;
END
$bgmigrate$;
