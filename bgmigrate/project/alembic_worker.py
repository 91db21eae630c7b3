"""Alembic revisions are code: run them in a worker process that cannot touch the linter's result.

Linting a revision imports it and calls its ``upgrade()`` (offline, recording ``op.*`` calls),
which runs whatever the project wrote. So the lint process never does that itself: one worker
process per lint run (its own interpreter) analyses the revisions one by one and sends each
result back as one JSON line on a private pipe, which this side validates. A revision that
exits the worker, hangs past the timeout, prints garbage, closes the pipe or changes
bgmigrate's own code in the worker is an input error naming the revision (exit 2), never a
pass; the next revision gets a fresh worker.

The worker's stdin, stdout and stderr are the null device (a revision that prints or reads
cannot disturb the protocol), its working directory is restored after every revision, and each
answer must echo the request's random token.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bgmigrate.model.migration import Migration, Notice
from bgmigrate.sql.statements import Statement, StatementKind
from bgmigrate.sql.suppressions import Suppression

DEFAULT_TIMEOUT = 60.0  # seconds one revision may take (imports of a large project included)
_START_TIMEOUT = 60.0  # seconds the worker may take to start (imports alembic and SQLAlchemy)
_NOTICE_RULES = frozenset({"unparsed-statement"})
_SEVERITIES = frozenset({None, "error", "warning", "info"})


class RevisionFailed(Exception):
    """A revision whose analysis did not come back: ``line`` and ``message`` for the input error."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


# ---- the JSON form of a Migration ------------------------------------------------------------


def _suppression_json(s: Suppression) -> dict[str, object]:
    return {"rules": list(s.rules), "reason": s.reason, "line": s.line, "file_level": s.file_level}


def _statement_json(s: Statement) -> dict[str, object]:
    return {
        "text": s.text, "line": s.line, "column": s.column, "end_line": s.end_line,
        "end_column": s.end_column, "sql": s.sql, "kind": s.kind,
        "suppressions": [_suppression_json(x) for x in s.suppressions],
        "origin": s.origin, "in_autocommit_block": s.in_autocommit_block,
    }  # fmt: skip


def migration_to_json(m: Migration) -> dict[str, object]:
    """What the worker sends back for one revision (its text stays with the caller)."""
    return {
        "statements": [_statement_json(s) for s in m.statements],
        "revision": m.revision,
        "down_revisions": list(m.down_revisions),
        "notices": [
            {"rule": n.rule, "message": n.message, "line": n.line, "column": n.column, "severity": n.severity}
            for n in m.notices
        ],
        "file_suppressions": [_suppression_json(s) for s in m.file_suppressions],
    }


def migration_from_json(data: object, path: str, text: str) -> Migration:
    """A Migration from the worker's answer; raises ValueError when it is not what the worker writes."""
    d = _Fields(data, "result")
    return Migration(
        path=path,
        kind="alembic",
        statements=tuple(_statement(x) for x in d.items("statements")),
        implicit_transaction=True,
        revision=d.optional_text("revision"),
        down_revisions=tuple(d.texts("down_revisions")),
        notices=tuple(_notice(x) for x in d.items("notices")),
        file_suppressions=tuple(_suppression(x) for x in d.items("file_suppressions")),
        text=text,
    )


def _statement(data: object) -> Statement:
    d = _Fields(data, "statement")
    kind: StatementKind
    match d.text("kind"):
        case "sql":
            kind = "sql"
        case "psql-meta":
            kind = "psql-meta"
        case other:
            raise ValueError(f"statement: unknown kind {other!r}")
    return Statement(
        text=d.text("text"), line=d.count("line"), column=d.count("column"), end_line=d.count("end_line"),
        end_column=d.count("end_column"), sql=d.text("sql"), kind=kind,
        suppressions=tuple(_suppression(x) for x in d.items("suppressions")),
        origin=d.text("origin"), in_autocommit_block=d.flag("in_autocommit_block"),
    )  # fmt: skip


def _suppression(data: object) -> Suppression:
    d = _Fields(data, "suppression")
    return Suppression(tuple(d.texts("rules")), d.text("reason"), d.count("line"), d.flag("file_level"))


def _notice(data: object) -> Notice:
    d = _Fields(data, "notice")
    rule, severity = d.text("rule"), d.optional_text("severity")
    if rule not in _NOTICE_RULES or severity not in _SEVERITIES:
        raise ValueError(f"notice: unexpected rule {rule!r} or severity {severity!r}")
    return Notice(rule, d.text("message"), d.count("line"), d.count("column"), severity)


class _Fields:
    """Typed access to one JSON object's fields; every mismatch is a ValueError."""

    def __init__(self, data: object, what: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{what}: expected an object")
        self.data: dict[str, Any] = data
        self.what = what

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise ValueError(f"{self.what}: no {key!r}")
        return self.data[key]

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise ValueError(f"{self.what}.{key}: expected a string")
        return value

    def optional_text(self, key: str) -> str | None:
        return None if self._get(key) is None else self.text(key)

    def count(self, key: str) -> int:
        value = self._get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{self.what}.{key}: expected a count")
        return value

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise ValueError(f"{self.what}.{key}: expected true or false")
        return value

    def items(self, key: str) -> list[object]:
        value = self._get(key)
        if not isinstance(value, list):
            raise ValueError(f"{self.what}.{key}: expected an array")
        return value

    def texts(self, key: str) -> list[str]:
        found = self.items(key)
        if not all(isinstance(v, str) for v in found):
            raise ValueError(f"{self.what}.{key}: expected strings")
        return [str(v) for v in found]


# ---- this side: the pool of one worker ---------------------------------------------------------


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    answers: IO[bytes]  # the worker's private channel
    requests: IO[bytes]


_BOOT = "import sys; sys.path.insert(0, {root!r}); from bgmigrate.project.alembic_worker import serve; serve({answers})"


class AlembicWorker:
    """Analyses revisions in a worker process, started on first use and again after a failure."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._process: _Process | None = None

    def analyse(self, path: Path, text: str, shown: str) -> Migration:
        """The revision as a Migration; raises RevisionFailed when the worker gives no valid answer."""
        if self._process is not None and self._process.popen.poll() is not None:
            self._stop()  # ended after its last answer (a revision's leftover thread, a signal)
        process = self._process or self._start()
        token = secrets.token_hex(16)
        request = json.dumps({"token": token, "path": str(path), "text": text}) + "\n"
        try:
            process.requests.write(request.encode("utf-8"))
            process.requests.flush()
        except OSError:
            self._stop()
            raise RevisionFailed(0, "the Alembic worker process died before this revision ran") from None
        line = self._answer(process, self.timeout)
        if line is None:
            self._stop()
            raise RevisionFailed(0, f"the revision did not finish within {self.timeout:g} s (timed out; not analysed)")
        if not line:
            code = self._stop()
            raise RevisionFailed(0, f"the revision ended the Alembic worker process ({_exit_text(code)}); not analysed")
        return self._decode(line, token, shown, text)

    def _decode(self, line: bytes, token: str, shown: str, text: str) -> Migration:
        try:
            answer = _Fields(json.loads(line.decode("utf-8")), "answer")
            if answer.text("token") != token:
                raise ValueError("wrong token")
            if "error" in answer.data:
                error = _Fields(answer.data["error"], "error")
                raise RevisionFailed(error.count("line"), error.text("message"))
            if "tampered" in answer.data:
                self._stop()  # its process is no longer bgmigrate's own: start afresh
                raise RevisionFailed(0, f"the revision changed bgmigrate's own code ({answer.text('tampered')}); "
                                     "its result is not trusted")  # fmt: skip
            return migration_from_json(answer.data.get("result"), shown, text)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._stop()
            raise RevisionFailed(0, f"the Alembic worker sent an invalid answer for this revision ({exc})") from None

    def _start(self) -> _Process:
        read_fd, write_fd = os.pipe()
        root = str(Path(__file__).resolve().parents[2])
        argv = [sys.executable, "-c", _BOOT.format(root=root, answers=write_fd)]
        try:
            popen = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(write_fd,), start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            os.close(read_fd)
            raise RevisionFailed(0, f"cannot start the Alembic worker process ({exc.strerror or exc})") from None
        finally:
            os.close(write_fd)
        assert popen.stdin is not None
        process = _Process(popen, os.fdopen(read_fd, "rb", buffering=0), popen.stdin)
        self._process = process
        # The worker says it is ready once its imports are done: that wait is not the revision's.
        if self._answer(process, _START_TIMEOUT) != b'{"ready": true}\n':
            code = self._stop()
            raise RevisionFailed(0, f"the Alembic worker process did not start ({_exit_text(code)})")
        return process

    def _answer(self, process: _Process, timeout: float) -> bytes | None:
        """One line from the worker; b"" when it closed the channel, None on timeout."""
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(process.answers, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    return None
                chunk = process.answers.read(1 << 16)
                if not chunk:
                    return b""
                chunks.append(chunk)
                if chunk.endswith(b"\n"):
                    return b"".join(chunks)

    def _stop(self) -> int | None:
        """End the worker (a hung or dead one alike); its exit status when it had one."""
        process, self._process = self._process, None
        if process is None:
            return None
        code = process.popen.poll()
        if code is None:
            # Its own session: a revision's child processes go with it.
            try:
                os.killpg(process.popen.pid, 9)
            except OSError:
                process.popen.kill()
        for stream in (process.requests, process.answers):
            with contextlib.suppress(OSError):
                stream.close()
        process.popen.wait()
        return code

    def close(self) -> None:
        """End the worker after the last revision."""
        process = self._process
        if process is not None and process.popen.poll() is None:
            try:
                process.requests.close()  # end of requests: the worker returns
                process.popen.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._stop()


def _exit_text(code: int | None) -> str:
    if code is None:
        return "it closed its answer channel"
    if code < 0:
        return f"killed by signal {-code}"
    return f"it exited with status {code}"


# ---- the worker side ----------------------------------------------------------------------------


def serve(answers_fd: int) -> None:
    """The worker's loop: one request line in, one answer line out, until stdin closes."""
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(answers_fd, "wb")
    _silence_standard_streams()
    from bgmigrate.project import alembic_offline as alembic_source

    _import_everything_used()
    home = os.getcwd()
    baseline = _fingerprint()
    answers.write(b'{"ready": true}\n')
    answers.flush()
    for raw in requests:
        answer = _handle(raw, alembic_source)
        os.chdir(home)
        _silence_standard_streams()
        changed = _changed(baseline)
        if changed:
            answer = {"token": answer.get("token", ""), "tampered": changed}
        try:
            answers.write(json.dumps(answer, ensure_ascii=False).encode("utf-8") + b"\n")
            answers.flush()
        except (OSError, ValueError):
            return
        if changed:
            return


def _handle(raw: bytes, alembic_source: Any) -> dict[str, object]:
    request = json.loads(raw)
    token = request["token"]
    try:
        migration = alembic_source.load_alembic(Path(request["path"]), text=request["text"])
    except alembic_source.AlembicInputError as exc:
        return {"token": token, "error": {"line": exc.line, "message": exc.message}}
    except BaseException as exc:
        message = f"the revision could not be analysed ({type(exc).__name__}: {str(exc)[:200]})"
        return {"token": token, "error": {"line": 0, "message": message}}
    return {"token": token, "result": migration_to_json(migration)}


def _import_everything_used() -> None:
    """Import what analysing a revision imports, so the baseline fingerprint covers it."""

    import bgmigrate.project.alembic_stepwise  # noqa: F401
    from bgmigrate.project import alembic_offline as alembic_source

    alembic_source._dialect_class()


def _silence_standard_streams() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115


def _own_modules() -> Iterator[tuple[str, Any]]:
    for name, module in list(sys.modules.items()):
        if name == "bgmigrate" or name.startswith(("bgmigrate.", "alembic", "json")):
            yield name, module


def _fingerprint() -> dict[str, tuple[int, dict[str, int]]]:
    """Identity of every function and class bgmigrate, alembic and json define, per module."""
    found: dict[str, tuple[int, dict[str, int]]] = {}
    for name, module in _own_modules():
        members = {k: id(v) for k, v in list(vars(module).items()) if callable(v)}
        for cls_name, cls in list(vars(module).items()):
            if isinstance(cls, type) and name.startswith("bgmigrate"):
                members.update({f"{cls_name}.{k}": id(v) for k, v in list(vars(cls).items()) if callable(v)})
        found[name] = (id(module), members)
    return found


def _changed(baseline: dict[str, tuple[int, dict[str, int]]]) -> str:
    """The first of bgmigrate's (or alembic's) functions a revision replaced, or ""."""
    for name, (module_id, members) in baseline.items():
        module = sys.modules.get(name)
        if module is None or id(module) != module_id:
            return f"module {name} replaced"
        now = vars(module)
        for key, ident in members.items():
            owner, _, attr = key.partition(".")
            value = now.get(owner) if attr else now.get(key)
            if attr:
                value = vars(value).get(attr) if isinstance(value, type) else None
            if value is None or id(value) != ident:
                return f"{name}.{key} replaced"
    return ""
