"""The coordinator against a real HAProxy: weights and drain through the runtime API, no reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from switchkit import Rig, act_under_load, haproxy_rig, served_by

from bgmigrate.exitcodes import FAILED


@pytest.fixture
def rig(tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    with haproxy_rig(tmp_path, pg_dsn) as r:
        yield r


def test_promote_and_rollback_without_reload_lose_no_request(rig: Rig) -> None:
    assert rig.proxy is not None and rig.proxy.process is not None
    assert rig.cli("init", "blue").exit_code == 0
    assert served_by(rig) == {"blue"}
    code, output, load = act_under_load(rig, "promote", "green")
    assert code == 0, output
    assert load.report.failures == 0, load.report
    assert served_by(rig) == {"green"}
    code, output, load = act_under_load(rig, "rollback")
    assert code == 0, output
    assert load.report.failures == 0, load.report
    assert served_by(rig) == {"blue"}
    assert rig.proxy.process.poll() is None  # the same HAProxy process throughout


def test_gradual_promote_shifts_in_steps(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    code, output, load = act_under_load(rig, "promote", "green", "--gradual", "10,50,100", "--step-wait", "300ms")
    assert code == 0, output
    assert load.report.failures == 0, load.report
    for step in ("haproxy: 10%", "haproxy: 50%", "error rate: 100%"):
        assert step in output
    assert served_by(rig) == {"green"}


def test_gradual_promote_rolls_back_on_5xx(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    rig.green.error_rate = 0.5  # healthy /health, but half of real requests fail
    code, output, load = act_under_load(
        rig, "promote", "green", "--gradual", "10,50,100", "--step-wait", "400ms", "--max-error-rate", "0.05"
    )
    assert code == FAILED, output
    assert "error rate: 10%" in output and "haproxy: restore" in output
    assert "haproxy: 50%" not in output  # stopped at the first bad step
    assert set(load.report.reasons) == {"HTTP 500"}  # only green's own answers failed
    assert served_by(rig) == {"blue"}
    assert rig.status()["active"] == "blue"
    assert rig.log()[-1]["outcome"] == "failed"
