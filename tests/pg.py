"""Real PostgreSQL for the test suite: discover one, or start a throwaway cluster.

Discovery order (first hit wins):

1. ``BGMIGRATE_TEST_DSN`` if set. It is used as-is and never silently replaced:
   if it is unreachable that is an error, not a reason to fall back.
2. The shared server at :data:`SHARED_DSN` (this machine runs PostgreSQL 15 there).
3. A throwaway cluster started from ``initdb``/``pg_ctl`` in a temp dir, stopped and
   deleted at session end.

``BGMIGRATE_TEST_FORCE_THROWAWAY=1`` skips steps 1 and 2, so the self-start path can
be exercised on a machine that has a shared server.

There are no mocks here on purpose: the migration checks exist to predict what a
real server does, so the tests must talk to one.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pgreset
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ENV_DSN = "BGMIGRATE_TEST_DSN"
ENV_FORCE_THROWAWAY = "BGMIGRATE_TEST_FORCE_THROWAWAY"
SHARED_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_PREFIX = "bgm_test_"

# Short enough for a quick "nothing listens there" verdict, long enough for a busy CI box.
CONNECT_TIMEOUT_S = 3
_TRUTHY = frozenset({"1", "true", "yes", "on"})
_counter = itertools.count(1)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL could be found or started; the message says why."""


def env_flag(name: str) -> bool:
    """True if the environment variable is set to a truthy value (``1``, ``true``, ...)."""
    return os.environ.get(name, "").strip().lower() in _TRUTHY


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where database tests must never skip."""
    return env_flag("CI")


def give_up(reason: str) -> NoReturn:
    """Skip the test for lack of a database, or fail it under CI where skips hide breakage."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def with_dbname(dsn: str, dbname: str) -> str:
    """Return ``dsn`` pointing at database ``dbname``, keeping the DSN's style.

    >>> with_dbname("postgresql://postgres@127.0.0.1:5432/postgres", "x1")
    'postgresql://postgres@127.0.0.1:5432/x1'
    >>> with_dbname("postgresql://u@h/d?sslmode=disable", "x2")
    'postgresql://u@h/x2?sslmode=disable'
    >>> dbname_of(with_dbname("host=/tmp port=5433 dbname=postgres", "x3"))
    'x3'
    """
    # URL DSNs stay URLs: SQLAlchemy/Alembic callers turn them into engine URLs,
    # which they cannot do with libpq's key=value form.
    if dsn.startswith(("postgresql://", "postgres://")):
        parts = urllib.parse.urlsplit(dsn)
        return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(dbname)))
    return make_conninfo(dsn, dbname=dbname)


def dbname_of(dsn: str) -> str:
    """Database name a DSN connects to.

    >>> dbname_of("postgresql://postgres@127.0.0.1:5432/bgm_test_1")
    'bgm_test_1'
    """
    name = conninfo_to_dict(dsn).get("dbname")
    if not name:
        raise ValueError(f"DSN names no database: {dsn!r}")
    return str(name)


def _probe(dsn: str) -> str | None:
    """Return None if ``dsn`` accepts connections, else the connection error text."""
    try:
        with psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


@dataclass
class PgServer:
    """A reachable PostgreSQL server plus bookkeeping of the databases tests made on it."""

    dsn: str
    """Base DSN (maintenance database, no password)."""
    origin: str
    """How it was found: ``"env"``, ``"shared"`` or ``"throwaway"``."""
    cluster: ThrowawayCluster | None = None
    _created: set[str] = field(default_factory=set, repr=False)
    _pool: list[str] = field(default_factory=list, repr=False)
    _fresh_fingerprint: pgreset.Fingerprint | None = field(default=None, repr=False)

    def connect(self, dsn: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        """Autocommit connection to ``dsn`` (default: the base DSN)."""
        return psycopg.connect(dsn or self.dsn, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)

    @property
    def version_num(self) -> int:
        """``server_version_num``, e.g. 150004 for 15.4."""
        with self.connect() as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
        assert row is not None
        return int(str(row[0]))

    def create_database(self) -> str:
        """Return the DSN of an empty, uniquely named database.

        A database released by :meth:`drop_database` is reused when its reset
        could be verified (see :mod:`pgreset`): CREATE DATABASE costs ~0.2 s on a
        durable server, the reset a few milliseconds.
        """
        while self._pool:
            name = self._pool.pop()
            fresh = self._unique_name()
            try:
                with self.connect() as conn:
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(fresh))
                    )
            except psycopg.Error:
                self._drop(name)
                continue
            self._created.add(fresh)
            return with_dbname(self.dsn, fresh)
        name = self._unique_name()
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._created.add(name)
        if self._fresh_fingerprint is None:
            self._fresh_fingerprint = pgreset.fingerprint(with_dbname(self.dsn, name))
        return with_dbname(self.dsn, name)

    @staticmethod
    def _unique_name() -> str:
        # pid keeps parallel workers (xdist) apart; the random part keeps reruns and
        # leftovers from a crashed session from colliding.
        return f"{DB_PREFIX}{os.getpid()}_{next(_counter)}_{secrets.token_hex(3)}"

    def drop_database(self, dsn_or_name: str) -> None:
        """Give back a database made by :meth:`create_database`, even if sessions are still open.

        The name is gone afterwards either way: the database is reset, verified
        empty and parked under another name, or dropped when that fails.
        """
        name = dsn_or_name if "/" not in dsn_or_name and "=" not in dsn_or_name else dbname_of(dsn_or_name)
        self._created.discard(name)
        parked = f"{DB_PREFIX}{os.getpid()}_pool_{next(_counter)}"
        expected = self._fresh_fingerprint
        if expected is not None and pgreset.reset(self.dsn, name, parked, expected):
            self._pool.append(parked)
            return
        # The reset failed somewhere: the database may sit under either name.
        self._drop(name)
        self._drop(parked)

    def _drop(self, name: str) -> None:
        with self.connect() as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
            assert row is not None
            if int(str(row[0])) >= 130000:
                stmt = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            else:
                # WITH (FORCE) is 13+; on 12 kick the sessions out by hand first.
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                stmt = sql.SQL("DROP DATABASE IF EXISTS {}")
            conn.execute(stmt.format(sql.Identifier(name)))

    def drop_all(self) -> None:
        """Drop every database this object created that is still around, pooled ones too."""
        for name in sorted(self._created) + self._pool:
            self._drop(name)
        self._created.clear()
        self._pool.clear()

    def close(self) -> None:
        """Drop leftover databases, then stop the throwaway cluster if there is one."""
        try:
            if self._created or self._pool:
                self.drop_all()
        finally:
            if self.cluster is not None:
                self.cluster.stop()


# --------------------------------------------------------------------------- throwaway


def find_pg_bindir() -> Path | None:
    """Directory holding ``initdb``, ``pg_ctl`` and ``postgres``, newest version first."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        # Resolve symlinks: pg_ctl locates ``postgres`` next to its real location.
        candidates.append(Path(os.path.realpath(on_path)).parent)

    def version_key(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path))

    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    candidates.extend(Path(d) for d in installed)
    for candidate in candidates:
        if all(os.access(candidate / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
            return candidate
    return None


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (retry on the rare race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ThrowawayCluster:
    """A private PostgreSQL cluster living in a temp dir, trust auth, 127.0.0.1 only."""

    bindir: Path
    root: Path
    port: int = 0
    run_as: str | None = None
    """OS user that owns and runs the cluster (``postgres`` when we are root)."""

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as is not None:
            # The postgres binaries refuse to run as root, so drop to the service user.
            if shutil.which("runuser"):
                cmd = ["runuser", "-u", self.run_as, "--", *cmd]
            else:
                cmd = ["su", self.run_as, "-s", "/bin/sh", "-c", shlex.join(cmd)]
        # cwd in our temp dir: the service user may not be able to enter ours (e.g. /root).
        return subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def start(self) -> None:
        """initdb + start; raises :class:`PostgresUnavailable` with the reason on failure."""
        res = self._run(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if res.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({res.returncode}): {res.stderr.strip()}")

        # Durability is pointless for a cluster deleted at session end; turning it off
        # makes CREATE/DROP DATABASE per test noticeably cheaper.
        base_conf = (
            "\n# bgmigrate test cluster\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.root}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
        last_error = ""
        for _attempt in range(3):
            # Another process can grab the port between probing and binding; retry with a new one.
            self.port = _free_port()
            with open(self.datadir / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
                conf.write(base_conf + f"port = {self.port}\n")
            res = self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60", "start")
            if res.returncode == 0 and _probe(self.dsn) is None:
                return
            last_error = f"{res.stderr.strip()}\n{self._log_tail()}"
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        raise PostgresUnavailable(f"pg_ctl start failed:\n{last_error}")

    def stop(self) -> None:
        """Stop the server (immediately: its data is thrown away) and delete the temp dir."""
        try:
            if (self.datadir / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _make_root(owner: str | None) -> Path:
    """Temp dir for the cluster, owned by ``owner`` if given."""
    parent: str | None = None
    # Unix socket paths are limited to ~107 bytes; a long $TMPDIR would break the socket.
    if len(tempfile.gettempdir()) > 60 and os.path.isdir("/tmp"):
        parent = "/tmp"
    root = Path(tempfile.mkdtemp(prefix="bgm-pg-", dir=parent))
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    return root


def start_throwaway() -> ThrowawayCluster:
    """Start a throwaway cluster; raises :class:`PostgresUnavailable` if that is impossible."""
    bindir = find_pg_bindir()
    if bindir is None:
        raise PostgresUnavailable("no initdb/pg_ctl/postgres on PATH or in /usr/lib/postgresql/*/bin")
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no 'postgres' OS user") from None
        run_as = "postgres"
    cluster = ThrowawayCluster(bindir=bindir, root=_make_root(run_as), run_as=run_as)
    # Backstop for sessions that die before fixture teardown; stop() is idempotent.
    atexit.register(cluster.stop)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


# --------------------------------------------------------------------------- discovery


def discover() -> PgServer:
    """Find or start a PostgreSQL server (see module docstring for the order).

    Raises :class:`PostgresUnavailable` when nothing works; the caller decides
    between skip (local) and fail (CI).
    """
    reasons: list[str] = []
    if not env_flag(ENV_FORCE_THROWAWAY):
        env_dsn = os.environ.get(ENV_DSN, "").strip()
        if env_dsn:
            error = _probe(env_dsn)
            if error is not None:
                # Explicit configuration that does not work is a mistake to report,
                # not something to paper over with another server.
                raise RuntimeError(f"{ENV_DSN} is set but unreachable: {error}")
            return PgServer(dsn=env_dsn, origin="env")
        error = _probe(SHARED_DSN)
        if error is None:
            return PgServer(dsn=SHARED_DSN, origin="shared")
        reasons.append(f"{SHARED_DSN}: {error}")
    try:
        cluster = start_throwaway()
    except PostgresUnavailable as exc:
        reasons.append(f"throwaway cluster: {exc}")
        raise PostgresUnavailable("no PostgreSQL available:\n  " + "\n  ".join(reasons)) from None
    return PgServer(dsn=cluster.dsn, origin="throwaway", cluster=cluster)
