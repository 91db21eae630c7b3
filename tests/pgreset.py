"""Reset a test database to the state of a fresh one, and prove it, so it can be reused.

``CREATE DATABASE`` copies the template through the WAL and costs ~0.2 s on a durable
server; with several hundred database tests that was most of the suite's time. A test's
database is therefore reset when the test ends: its sessions are ended, every schema,
extension, event trigger and publication it made is dropped, the database settings are
reset. The reset is trusted only when a fingerprint of the catalogs (row counts of every
per-database catalog that user DDL can touch, the database's own row, the ``public``
schema's owner and privileges) equals that of a freshly created database; anything else
(a subscription, default privileges, per-role settings, an object the reset does not know)
makes the caller drop the database instead. A leftover can cost time, never isolation.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

Fingerprint = tuple[tuple[str, str], ...]

# Per-database catalogs that CREATE/ALTER statements add rows to.
_COUNTED = (
    "pg_class",
    "pg_attribute",
    "pg_proc",
    "pg_type",
    "pg_constraint",
    "pg_trigger",
    "pg_index",
    "pg_inherits",
    "pg_attrdef",
    "pg_rewrite",
    "pg_sequence",
    "pg_enum",
    "pg_range",
    "pg_aggregate",
    "pg_extension",
    "pg_event_trigger",
    "pg_publication",
    "pg_foreign_data_wrapper",
    "pg_foreign_server",
    "pg_user_mapping",
    "pg_default_acl",
    "pg_largeobject_metadata",
    "pg_cast",
    "pg_operator",
    "pg_opfamily",
    "pg_opclass",
    "pg_am",
    "pg_language",
    "pg_collation",
    "pg_conversion",
    "pg_ts_config",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
    "pg_policy",
    "pg_statistic_ext",
    "pg_transform",
    "pg_description",
    "pg_seclabel",
    "pg_depend",
)

_FINGERPRINT_SQL = (
    " UNION ALL ".join(f"SELECT '{name}', count(*)::text FROM pg_catalog.{name}" for name in _COUNTED)
    # initdb records the public schema's initial privileges; a recreated public schema has
    # no such row on some servers and it only matters to pg_dump, so schemas' rows are not counted.
    + " UNION ALL SELECT 'pg_init_privs', count(*)::text FROM pg_catalog.pg_init_privs"
    "   WHERE classoid <> 'pg_catalog.pg_namespace'::regclass"
    + " UNION ALL SELECT 'namespaces', count(*)::text FROM pg_catalog.pg_namespace"
    "   WHERE nspname !~ '^pg_(toast_)?temp_'"
    " UNION ALL SELECT 'public', coalesce((SELECT nspowner::regrole::text || ' ' || coalesce(nspacl::text, '')"
    "   FROM pg_catalog.pg_namespace WHERE nspname = 'public'), 'missing')"
    " UNION ALL SELECT 'database', (SELECT concat_ws(' ', datdba::regrole::text, datconnlimit, datallowconn,"
    "   datistemplate, datacl::text) FROM pg_catalog.pg_database WHERE datname = current_database())"
    " UNION ALL SELECT 'role_settings', count(*)::text FROM pg_catalog.pg_db_role_setting"
    "   WHERE setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
    " UNION ALL SELECT 'subscriptions', count(*)::text FROM pg_catalog.pg_subscription"
    "   WHERE subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
    " UNION ALL SELECT 'prepared', count(*)::text FROM pg_catalog.pg_prepared_xacts"
    "   WHERE database = current_database()"
)


def _dsn_for(base_dsn: str, dbname: str) -> str:
    return make_conninfo(base_dsn, dbname=dbname)


def fingerprint(dsn: str) -> Fingerprint:
    """The catalog fingerprint of the database ``dsn`` connects to."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(_FINGERPRINT_SQL).fetchall()
    return tuple(sorted((str(name), str(value)) for name, value in rows))


def _end_sessions(admin: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    """Terminate every other session on ``name``; True once none is left (bounded wait)."""
    query = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    deadline = time.monotonic() + 5
    while True:
        pids = [row[0] for row in admin.execute(query, (name,)).fetchall()]
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        time.sleep(0.01)


def _drop_user_objects(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Drop what user DDL leaves behind; the fingerprint decides whether it was all."""
    for (gid,) in conn.execute("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()").fetchall():
        conn.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid)))
    for (name,) in conn.execute("SELECT evtname FROM pg_event_trigger").fetchall():
        conn.execute(sql.SQL("DROP EVENT TRIGGER {}").format(sql.Identifier(name)))
    for (name,) in conn.execute("SELECT pubname FROM pg_publication").fetchall():
        conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(name)))
    for (name,) in conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'").fetchall():
        conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    schemas = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND nspname !~ '^pg_(toast|temp_|toast_temp_)'"
    ).fetchall()
    for (name,) in schemas:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    for (name,) in conn.execute("SELECT fdwname FROM pg_foreign_data_wrapper").fetchall():
        conn.execute(sql.SQL("DROP FOREIGN DATA WRAPPER {} CASCADE").format(sql.Identifier(name)))
    conn.execute("SELECT lo_unlink(oid) FROM pg_largeobject_metadata")
    conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
    conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
    conn.execute("COMMENT ON SCHEMA public IS 'standard public schema'")


def reset(base_dsn: str, name: str, parked: str, expected: Fingerprint) -> bool:
    """Reset database ``name`` under the new name ``parked``; False (nothing promised) on any doubt.

    The rename comes first: a straggling session of the test (a subprocess it left
    running) can no longer reconnect by the old name and undo the reset.
    """
    try:
        with psycopg.connect(base_dsn, autocommit=True) as admin:
            if not _end_sessions(admin, name):
                return False
            admin.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(parked))
            )
            admin.execute(sql.SQL("ALTER DATABASE {} RESET ALL").format(sql.Identifier(parked)))
            with psycopg.connect(_dsn_for(base_dsn, parked), autocommit=True) as conn:
                _drop_user_objects(conn)
            return fingerprint(_dsn_for(base_dsn, parked)) == expected and _end_sessions(admin, parked)
    except psycopg.Error:
        return False
