"""The ``bgmigrate`` schema: where every host reads the same truth about applied plans.

Tables (documented in docs/apply.md, read by the traffic-switch coordinator):

* ``plans``: one row per plan id, with the plan itself so checks can be verified without its files;
* ``phases``: one row per (plan, phase): status, when, by whom, with which bgmigrate;
* ``steps``: per step of a phase: status and attempts, so a re-run continues where one stopped;
* ``backfill_checkpoints``: the last primary key a backfill step finished, committed with each batch;
* ``phase_catalogs``: the schema's objects before and after each phase, so rollback can prove
  (or say exactly how) the schema is back to its pre-phase state.
"""

from __future__ import annotations

from bgmigrate.apply.connect import Connection

SCHEMA = "bgmigrate"
# Advisory-lock namespace ('bgm1'): keeps bgmigrate's keys apart from the application's.
LOCK_NAMESPACE = 0x62676D31

_DDL = """
CREATE SCHEMA IF NOT EXISTS bgmigrate;
CREATE TABLE IF NOT EXISTS bgmigrate.meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS bgmigrate.plans (
    plan_id text PRIMARY KEY,
    source text NOT NULL,
    digest text NOT NULL,
    plan jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    recorded_by text NOT NULL
);
CREATE TABLE IF NOT EXISTS bgmigrate.phases (
    plan_id text NOT NULL REFERENCES bgmigrate.plans ON DELETE CASCADE,
    phase text NOT NULL CHECK (phase IN ('expand', 'migrate', 'contract')),
    status text NOT NULL
        CHECK (status IN ('running', 'done', 'failed', 'rolling_back', 'rolled_back')),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    verified_at timestamptz,
    applied_by text NOT NULL,
    tool_version text NOT NULL,
    error text,
    PRIMARY KEY (plan_id, phase)
);
CREATE TABLE IF NOT EXISTS bgmigrate.steps (
    plan_id text NOT NULL,
    phase text NOT NULL,
    step_index integer NOT NULL,
    description text NOT NULL,
    status text NOT NULL CHECK (status IN ('running', 'done', 'rolled_back')),
    attempts integer NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (plan_id, phase, step_index),
    FOREIGN KEY (plan_id, phase) REFERENCES bgmigrate.phases ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS bgmigrate.backfill_checkpoints (
    plan_id text NOT NULL,
    phase text NOT NULL,
    step_index integer NOT NULL,
    pass integer NOT NULL DEFAULT 1,
    last_key text,
    target_key text,
    rows_updated bigint NOT NULL DEFAULT 0,
    batches integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, phase, step_index),
    FOREIGN KEY (plan_id, phase, step_index) REFERENCES bgmigrate.steps ON DELETE CASCADE
);
INSERT INTO bgmigrate.meta (key, value) VALUES ('state_version', '1') ON CONFLICT (key) DO NOTHING;
"""

# Added after the first release: created on its own, so a state schema from before gains it.
_CATALOGS_DDL = """
CREATE TABLE IF NOT EXISTS bgmigrate.phase_catalogs (
    plan_id text NOT NULL,
    phase text NOT NULL,
    moment text NOT NULL CHECK (moment IN ('before', 'after')),
    catalog jsonb NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, phase, moment),
    FOREIGN KEY (plan_id, phase) REFERENCES bgmigrate.phases ON DELETE CASCADE
);
"""


def state_exists(conn: Connection) -> bool:
    """True once the first apply created the state tables."""
    row = conn.execute("SELECT to_regclass('bgmigrate.backfill_checkpoints') IS NOT NULL").fetchone()
    return bool(row and row[0])


def catalogs_exist(conn: Connection) -> bool:
    row = conn.execute("SELECT to_regclass('bgmigrate.phase_catalogs') IS NOT NULL").fetchone()
    return bool(row and row[0])


def ensure_state(conn: Connection) -> None:
    """Create the state schema if it is missing (idempotent, safe when two hosts race)."""
    if state_exists(conn) and catalogs_exist(conn):
        # Checked first so a role without CREATE on the database can apply once the schema exists.
        return
    with conn.transaction():
        # Two first applies at once would race on CREATE TABLE IF NOT EXISTS; serialise them.
        conn.execute("SELECT pg_advisory_xact_lock(%s::int4, 0)", (LOCK_NAMESPACE,))
        conn.execute(_DDL)
        conn.execute(_CATALOGS_DDL)
