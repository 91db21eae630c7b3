"""The traced connection, kept on a leash by a second one.

Each statement is sent alone with the extended query protocol, so the server itself refuses a
text that holds more than one command; it runs on a worker thread while the main thread keeps
the clock and listens for Ctrl-C. When the deadline passes or Ctrl-C comes, the control
connection cancels the statement (``pg_cancel_backend``) and, if the backend has not given up
after a short grace (a DO block may catch ``query_canceled`` in a loop), terminates it
(``pg_terminate_backend``). A terminated backend's open transaction is discarded by the server.

``finish`` ends the session and reports only what it verified: the transaction rolled back (a
ROLLBACK answered with an idle connection, or the backend confirmed gone from
``pg_stat_activity`` while its transaction was still open).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

APPLICATION_NAME = "bgmigrate trace"
CANCEL_GRACE_S = 2.0
TERMINATE_WAIT_S = 5.0
_TICK_S = 0.05


@dataclass
class Outcome:
    """What happened to one statement."""

    duration_ms: float
    error: BaseException | None = None
    timed_out: bool = False
    interrupted: bool = False
    terminated: bool = False


class Session:
    """One traced connection (``conn``, its transaction open) and its control connection."""

    def __init__(self, conn: psycopg.Connection[Any], control: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.control = control
        # The server's own pid and start time: a pooler may report another pid in the protocol,
        # and a pid alone may be reused by a new backend.
        row = conn.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetchone()
        self.pid: int = int(row[0]) if row else conn.info.backend_pid
        self._started: object = row[1] if row else None
        self.terminated = False

    def status(self) -> str:
        """The traced connection's transaction status: INTRANS, INERROR, IDLE, ACTIVE or UNKNOWN."""
        return self.conn.info.transaction_status.name

    def run(self, sql: str, timeout_s: float) -> Outcome:
        """Run one statement; stop it (cancel, then terminate) past ``timeout_s`` or on Ctrl-C."""
        done = threading.Event()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                # prepare=True sends Parse/Bind/Execute (the extended protocol) with text results:
                # one command per message, so a text with a hidden second statement is an error.
                self.conn.execute(sql.encode("utf-8", "surrogateescape"), prepare=True)
            except BaseException as exc:  # handed to the main thread as is
                failure.append(exc)
            finally:
                done.set()

        start = time.monotonic()
        worker = threading.Thread(target=work, name="bgmigrate-trace-statement", daemon=True)
        worker.start()
        outcome = Outcome(0.0)
        try:
            while not done.wait(_TICK_S):
                if time.monotonic() - start >= timeout_s:
                    outcome.timed_out = True
                    break
        except KeyboardInterrupt:
            outcome.interrupted = True
        if not done.is_set():
            outcome.interrupted |= self._stop(done)
            outcome.terminated = self.terminated
        worker.join(TERMINATE_WAIT_S)
        outcome.duration_ms = round((time.monotonic() - start) * 1000, 1)
        outcome.error = failure[0] if failure else None
        return outcome

    def _stop(self, done: threading.Event) -> bool:
        """Cancel the running statement, terminate the backend if it goes on; True on Ctrl-C."""
        interrupted = False
        steps = (("pg_cancel_backend", CANCEL_GRACE_S), ("pg_terminate_backend", TERMINATE_WAIT_S))
        for function, wait_s in steps:
            self._signal(function)
            if function == "pg_terminate_backend":
                self.terminated = True
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                try:
                    if done.wait(_TICK_S):
                        return interrupted
                except KeyboardInterrupt:
                    interrupted = True
                    break  # Ctrl-C while waiting: go straight to the next, harder step
        return interrupted

    def _signal(self, function: str) -> None:
        import psycopg

        # Only our backend: a pid with another start time belongs to a new session. A failing
        # control connection is judged by finish(), which then claims nothing.
        with contextlib.suppress(psycopg.Error):
            self.control.execute(
                f"SELECT {function}(pid) FROM pg_stat_activity WHERE pid = %s AND backend_start IS NOT DISTINCT FROM %s",
                (self.pid, self._started),
            )

    def backend_gone(self, wait_s: float = TERMINATE_WAIT_S) -> bool:
        """Whether the traced backend has left ``pg_stat_activity`` (waiting up to ``wait_s``)."""
        import psycopg

        deadline = time.monotonic() + wait_s
        while True:
            try:
                row = self.control.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND backend_start IS NOT DISTINCT FROM %s",
                    (self.pid, self._started),
                ).fetchone()
            except psycopg.Error:
                return False
            if row is not None and row[0] == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_TICK_S)

    def finish(self, transaction_open: bool) -> bool:
        """End the session; True only when the transaction is verified rolled back.

        ``transaction_open``: every statement left the transaction open (or failed inside it), so
        nothing was committed and what remains is to discard it.
        """
        with _sigint_deferred():
            rolled_back = transaction_open and self._roll_back()
            if not self.conn.closed:
                self.conn.close()
            if not self.backend_gone(0.5 if rolled_back else TERMINATE_WAIT_S):
                # A backend still busy after its client went away (a loop that ignores cancels).
                self._signal("pg_terminate_backend")
                gone = self.backend_gone()
                rolled_back = rolled_back or (transaction_open and gone)
            elif not rolled_back:
                rolled_back = transaction_open  # the session ended without a COMMIT: discarded
            self.control.close()
        return rolled_back

    def _roll_back(self) -> bool:
        import psycopg

        if self.conn.closed or self.status() not in ("INTRANS", "INERROR"):
            return False
        try:
            self.conn.rollback()
        except psycopg.Error:
            return False
        return self.status() == "IDLE"


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C while the session is being ended, so the cleanup itself is never cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
