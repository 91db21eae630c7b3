-- The unsafe original: blue (which writes orders.status) breaks the moment this runs.
-- plans/0002_rename_status/plan.json is its expand / migrate / contract rewrite.
ALTER TABLE orders RENAME COLUMN status TO state;
