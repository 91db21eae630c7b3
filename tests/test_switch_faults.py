"""The switch under faults, on real HAProxy, nginx and PostgreSQL: lost session, kill -9, bad green.

Each test provokes one fault while a switch runs and then asks the proxy itself (requests
through it, its runtime API, its upstream file) where traffic goes: the state, the proxy and
the exit status must tell the same story.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from loadgen import LoadGenerator
from proxies import Haproxy
from switchkit import Rig, apps, haproxy_rig, nginx_rig, served_by

from bgmigrate.exitcodes import FAILED, NOT_UNDONE
from bgmigrate.switch.backends.haproxy_api import server_stats
from bgmigrate.switch.db import APPLICATION_NAME

BGMIGRATE = Path(sys.executable).with_name("bgmigrate")


@pytest.fixture
def haproxy(tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    with haproxy_rig(tmp_path, pg_dsn) as r:
        yield r


@pytest.fixture
def nginx(tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    with nginx_rig(tmp_path, pg_dsn) as r:
        yield r


def green_weight(rig: Rig) -> int:
    """Green's live weight in HAProxy (0 once drained)."""
    assert rig.proxy is not None and hasattr(rig.proxy, "socket")
    row = server_stats(rig.proxy.socket, "bgmigrate")["green"]
    return 0 if row["status"].startswith("DRAIN") else int(row["weight"])


def upstream_names(rig: Rig, env: str) -> bool:
    """Does nginx's upstream file route to ``env`` now?"""
    assert rig.proxy is not None and hasattr(rig.proxy, "upstream_file")
    return rig.address(env) in rig.proxy.upstream_file.read_text()


def switch_pids(dsn: str) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            (APPLICATION_NAME,),
        ).fetchall()
    return [int(row[0]) for row in rows]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def terminate_when(rig: Rig, condition: Callable[[], bool]) -> threading.Thread:
    """In the background: once ``condition`` holds, terminate the coordinator's database session."""

    def run() -> None:
        wait_for(condition)
        with psycopg.connect(rig.dsn, autocommit=True) as conn:
            for pid in switch_pids(rig.dsn):
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def slow_reload(rig: Rig, seconds: float) -> None:
    """Make nginx's reload take ``seconds`` (a slow switch), through the configuration."""
    assert rig.proxy is not None and hasattr(rig.proxy, "reload_argv")
    slow = ["sh", "-c", f'sleep {seconds} && exec "$@"', "sh", *rig.proxy.reload_argv]
    text = rig.config_path.read_text()
    old = f"reload = {json.dumps(list(rig.proxy.reload_argv))}"
    assert old in text
    rig.config_path.write_text(text.replace(old, f"reload = {json.dumps(slow)}"))


def proxy_status(rig: Rig) -> dict[str, object]:
    proxy = rig.status()["proxy"]
    assert isinstance(proxy, dict)
    return proxy


# ----------------------------------------------------------------- 1. lost session or lock


def test_lost_session_mid_gradual_puts_haproxy_back(haproxy: Rig) -> None:
    rig = haproxy
    assert rig.cli("init", "blue").exit_code == 0
    killer = terminate_when(rig, lambda: green_weight(rig) > 0)
    with LoadGenerator(rig.proxy.url if rig.proxy else "") as load:
        load.wait_requests(30)
        result = rig.cli("promote", "green", "--gradual", "10,50,100", "--step-wait", "1s")
    killer.join()
    assert served_by(rig) == {"blue"}, result.output  # the proxy first: where traffic really goes
    assert result.exit_code == FAILED, result.output
    assert "fence" in result.output and "nothing was recorded" in result.output
    assert load.report.failures == 0, load.report
    assert green_weight(rig) == 0
    status = rig.status()
    assert status["active"] == "blue" and proxy_status(rig)["drift"] is None
    assert all(e["target"] != "green" for e in rig.log())  # nothing recorded of the promote


def test_lost_session_during_slow_nginx_reload_puts_nginx_back(nginx: Rig) -> None:
    rig = nginx
    assert rig.cli("init", "blue").exit_code == 0
    slow_reload(rig, 0.5)
    killer = terminate_when(rig, lambda: upstream_names(rig, "green"))
    result = rig.cli("promote", "green")
    killer.join()
    assert served_by(rig) == {rig.blue.address} and upstream_names(rig, "blue"), result.output
    assert result.exit_code == FAILED, result.output
    assert "nothing was recorded" in result.output
    assert rig.status()["active"] == "blue" and proxy_status(rig)["drift"] is None


def test_lost_session_when_routing_cannot_go_back_exits_operator_needed(nginx: Rig) -> None:
    rig = nginx
    assert rig.cli("init", "blue").exit_code == 0
    assert rig.proxy is not None and hasattr(rig.proxy, "reload_argv")
    # The first reload is slow and works; every later one fails: the switch back cannot happen.
    once = rig.root / "reloaded-once"
    script = f'if [ -e {once} ]; then echo "reload broken" >&2; exit 1; fi; touch {once}; sleep 0.5; exec "$@"'
    text = rig.config_path.read_text()
    old = f"reload = {json.dumps(list(rig.proxy.reload_argv))}"
    rig.config_path.write_text(
        text.replace(old, f"reload = {json.dumps(['sh', '-c', script, 'sh', *rig.proxy.reload_argv])}")
    )
    killer = terminate_when(rig, lambda: upstream_names(rig, "green"))
    result = rig.cli("promote", "green")
    killer.join()
    assert result.exit_code == NOT_UNDONE, result.output
    assert "an operator must act" in result.output
    assert rig.status()["active"] == "blue"
    assert proxy_status(rig)["drift"] is not None  # nginx serves green: status says so


def test_server_wide_timeouts_do_not_end_a_slow_switch(nginx: Rig) -> None:
    rig = nginx
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        database = conn.info.dbname
        for setting in ("statement_timeout", "idle_in_transaction_session_timeout", "idle_session_timeout"):
            conn.execute(f'ALTER DATABASE "{database}" SET {setting} = 300')
    slow_reload(rig, 0.6)
    assert rig.cli("init", "blue").exit_code == 0
    result = rig.cli("promote", "green")
    assert result.exit_code == 0, result.output
    assert served_by(rig) == {rig.green.address} and rig.status()["active"] == "green"


# ----------------------------------------------------------------- 2. kill -9 mid-switch


def spawn(rig: Rig, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(BGMIGRATE), "switch", *args, "--config", str(rig.config_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


@pytest.mark.parametrize("delay", [0.0, 0.4, 0.9])
def test_kill_9_mid_gradual_then_status_shows_drift_and_rollback_restores(haproxy: Rig, delay: float) -> None:
    rig = haproxy
    assert rig.cli("init", "blue").exit_code == 0
    process = spawn(rig, "promote", "green", "--gradual", "10,50,100", "--step-wait", "400ms")
    wait_for(lambda: green_weight(rig) > 0)
    time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    wait_for(lambda: not switch_pids(rig.dsn))  # the server noticed: the lock is free
    status = rig.status()
    assert status["active"] == "blue"  # nothing committed mid-switch
    proxy = proxy_status(rig)
    assert proxy["drift"] is not None and "green" in str(proxy["drift"]), proxy
    result = rig.cli("rollback")
    assert result.exit_code == 0, result.output
    assert served_by(rig) == {"blue"}
    assert proxy_status(rig)["drift"] is None
    assert rig.log()[-1]["action"] == "rollback" and rig.log()[-1]["outcome"] == "done"


@pytest.mark.parametrize("action", [("reconcile",), ("promote", "blue")])
def test_kill_9_mid_nginx_switch_then_reconcile_or_promote_restores(nginx: Rig, action: tuple[str, ...]) -> None:
    rig = nginx
    assert rig.cli("init", "blue").exit_code == 0
    slow_reload(rig, 2)
    process = spawn(rig, "promote", "green")
    wait_for(lambda: upstream_names(rig, "green"))
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    wait_for(lambda: not switch_pids(rig.dsn))
    assert rig.status()["active"] == "blue"
    assert proxy_status(rig)["drift"] == "state says blue is active; the proxy routes green 100%"
    assert "DRIFT" in rig.cli("status").output
    rig.write_config()  # reloads are quick again
    result = rig.cli(*action)
    assert result.exit_code == 0, result.output
    assert upstream_names(rig, "blue") and served_by(rig) == {rig.blue.address}
    assert proxy_status(rig)["drift"] is None
    assert rig.log()[-1]["action"] == action[0]
    result = rig.cli("reconcile")  # nothing left to do, and it says so
    assert result.exit_code == 0 and "agree" in result.output


# ----------------------------------------------------------------- 6. a bad green is out fast


def test_bad_green_is_out_within_seconds_of_a_long_step(haproxy: Rig) -> None:
    rig = haproxy
    assert rig.cli("init", "blue").exit_code == 0
    rig.green.error_rate = 0.5
    started = time.monotonic()
    with LoadGenerator(rig.proxy.url if rig.proxy else "") as load:
        load.wait_requests(30)
        result = rig.cli("promote", "green", "--gradual", "50,100", "--step-wait", "30s", "--max-error-rate", "0.05")
    elapsed = time.monotonic() - started
    assert result.exit_code == FAILED, result.output
    assert elapsed < 6, f"took {elapsed:.1f}s"  # not the 30 s step
    # Green had half the traffic for about one poll: a small share of all requests, not 30 s worth.
    assert load.report.failures < 0.35 * load.report.total, load.report
    assert "over the last" in result.output
    assert served_by(rig) == {"blue"}
    assert rig.status()["active"] == "blue"


# ----------------------------------------------------------------- 4. a reload must not undo a switch


def test_haproxy_reload_keeps_the_routing_with_a_state_file(tmp_path: Path, pg_dsn: str) -> None:
    with haproxy_rig(tmp_path, pg_dsn, keep_state=True) as rig:
        assert isinstance(rig.proxy, Haproxy)
        assert rig.cli("init", "blue").exit_code == 0
        result = rig.cli("promote", "green")
        assert result.exit_code == 0 and "haproxy: state file" in result.output, result.output
        rig.proxy.reload()  # the configuration still says every server has weight 100
        assert served_by(rig) == {"green"}
        assert proxy_status(rig)["drift"] is None


def test_haproxy_reload_without_state_file_is_drift_that_status_shows(haproxy: Rig) -> None:
    rig = haproxy
    assert isinstance(rig.proxy, Haproxy)
    assert rig.cli("init", "blue").exit_code == 0
    assert rig.cli("promote", "green").exit_code == 0
    rig.proxy.reload()
    assert proxy_status(rig)["drift"] == "state says green is active; the proxy routes blue 50%, green 50%"
    result = rig.cli("reconcile")
    assert result.exit_code == 0, result.output
    assert served_by(rig) == {"green"} and proxy_status(rig)["drift"] is None
    assert rig.log()[-1]["action"] == "reconcile"


# ----------------------------------------------------------------- the command backend's check


SWITCH_FILE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
CHECK_FILE = "import sys; sys.exit(open(sys.argv[1]).read() != sys.argv[2])"


def test_command_backend_status_reads_check_and_reconcile_restores(tmp_path: Path, pg_dsn: str) -> None:
    lb = tmp_path / "load-balancer.txt"  # the "load balancer": which environment it sends traffic to
    switch = json.dumps([sys.executable, "-c", SWITCH_FILE, str(lb), "{to}"])
    check = json.dumps([sys.executable, "-c", CHECK_FILE, str(lb), "{to}"])
    with apps() as (blue, green):
        rig = Rig(tmp_path, pg_dsn, blue, green, command=f"switch = {switch}\ncheck = {check}")
        assert rig.cli("init", "blue").exit_code == 0
        assert proxy_status(rig) == {"routes": {"blue": 100, "green": 0}, "detail": "check command",
                                     "unknown_servers": [], "drift": None}  # fmt: skip
        lb.write_text("green")  # someone changed the load balancer by hand (or a crash mid-switch)
        assert proxy_status(rig)["drift"] == "state says blue is active; the proxy routes green 100%"
        result = rig.cli("reconcile")
        assert result.exit_code == 0, result.output
        assert lb.read_text() == "blue" and proxy_status(rig)["drift"] is None
