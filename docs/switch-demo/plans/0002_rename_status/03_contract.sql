-- bgmigrate plan 0002_rename_status · phase 3 of 3: contract
-- from migrations/0002_rename_status.sql; app versions live while this phase is in place: new.
-- Run: bgmigrate apply <plan dir> --phase contract --dsn DSN
-- or with psql, statement by statement (autocommit; stop on the first error). Never wrap this
-- whole file in one transaction: some statements cannot run inside one, and every lock would be held to the end.
SET lock_timeout = '2s';

-- 1. in one transaction: drop the trigger and orders.status; the copies take their original names [locks orders: ACCESS EXCLUSIVE]
BEGIN;
-- bgmigrate: ignore[drop-object] bgmigrate's own trigger from expand; no app version calls or relies on it
DROP TRIGGER IF EXISTS bgm_sync_state ON orders;
-- bgmigrate: ignore[drop-object] bgmigrate's own trigger from expand; no app version calls or relies on it
DROP FUNCTION IF EXISTS bgm_sync_orders_state();
-- bgmigrate: ignore[drop-column] contract runs after the old app version is retired (plan 0002_rename_status)
ALTER TABLE orders DROP COLUMN status;
COMMIT;
