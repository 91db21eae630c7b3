"""The coordinator against a real nginx and PostgreSQL, with load running through every switch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from loadgen import LoadGenerator
from proxies import free_port
from switchkit import Rig, act_under_load, nginx_rig, served_by

from bgmigrate.exitcodes import FAILED, REFUSED
from bgmigrate.switch.coordinator import Outcome


@pytest.fixture
def rig(tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    with nginx_rig(tmp_path, pg_dsn) as r:
        yield r


def test_promote_and_rollback_lose_no_request(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    code, output, load = act_under_load(rig, "promote", "green")
    assert code == 0, output
    assert load.report.failures == 0, load.report
    assert rig.green.address in load.report.by_server  # the switch happened under that load
    assert served_by(rig) == {rig.green.address}
    assert rig.status()["active"] == "green" and rig.status()["rollback_target"] == "blue"

    code, output, load = act_under_load(rig, "rollback")
    assert code == 0, output
    assert load.report.failures == 0, load.report
    assert served_by(rig) == {rig.blue.address}
    assert [(e["action"], e["outcome"]) for e in rig.log()] == [
        ("init", "done"), ("promote", "done"), ("rollback", "done")
    ]  # fmt: skip


def test_unhealthy_target_is_refused_and_nothing_changes(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    assert rig.proxy is not None
    before, workers = rig.proxy.upstream_file.read_bytes(), rig.proxy.worker_pids()
    rig.green.healthy = False
    code, output, load = act_under_load(rig, "promote", "green")
    assert code == REFUSED, output
    assert "health: green" in output and "503" in output
    assert load.report.failures == 0, load.report
    assert rig.proxy.upstream_file.read_bytes() == before
    assert rig.proxy.worker_pids() == workers  # not reloaded
    assert rig.status()["active"] == "blue"
    last = rig.log()[-1]
    assert last["outcome"] == "refused" and last["target"] == "green"
    assert {"name": "health: green", "ok": False}.items() <= _gate(last, "health: green").items()


def _gate(entry: dict[str, object], name: str) -> dict[str, object]:
    gates = entry["gates"]
    assert isinstance(gates, list)
    return next(g for g in gates if g["name"] == name)


def test_broken_nginx_config_is_never_reloaded(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    assert rig.proxy is not None
    before, workers = rig.proxy.upstream_file.read_bytes(), rig.proxy.worker_pids()
    rig.addresses["green"] = "127.0.0.1:99999"  # nginx -t: invalid port
    rig.write_config()
    code, output, load = act_under_load(rig, "promote", "green")
    assert code == FAILED, output
    assert "nginx: test" in output and "restored" in output
    assert load.report.failures == 0, load.report
    assert rig.proxy.upstream_file.read_bytes() == before
    assert rig.proxy.worker_pids() == workers
    assert served_by(rig) == {rig.blue.address}
    assert rig.status()["active"] == "blue"
    assert rig.log()[-1]["outcome"] == "failed"


def test_switch_that_does_not_reach_the_target_goes_back(rig: Rig) -> None:
    # No load generator here: requests sent to a dead address fail until the switch back,
    # which is exactly what this test provokes.
    assert rig.cli("init", "blue").exit_code == 0
    rig.addresses["green"] = f"127.0.0.1:{free_port()}"  # nothing listens; health URL still answers
    rig.confirm_timeout = "1s"
    rig.write_config()
    result = rig.cli("promote", "green")
    assert result.exit_code == FAILED, result.output
    assert "confirm: green" in result.output and "switch back" in result.output
    assert served_by(rig) == {rig.blue.address}
    assert rig.status()["active"] == "blue"


def test_two_concurrent_promotes_exactly_one_wins(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    assert rig.proxy is not None
    outcomes: list[Outcome] = []
    start = threading.Barrier(2)

    def promote(actor: str) -> None:
        with rig.coordinator(actor) as coordinator:
            start.wait()
            outcomes.append(coordinator.promote("green"))

    with LoadGenerator(rig.proxy.url) as load:
        threads = [threading.Thread(target=promote, args=(f"ci-job-{n}",)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert load.report.failures == 0, load.report
    assert sorted(o.outcome for o in outcomes) == ["done", "refused"]
    loser = next(o for o in outcomes if o.outcome == "refused")
    assert loser.gates[0].name in ("lock", "target"), loser
    assert [e["outcome"] for e in rig.log()[1:]].count("done") == 1
    assert served_by(rig) == {rig.green.address}


def test_refusal_prints_every_failed_gate_and_logs_it(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    rig.green.healthy = False
    rig.requires["green"] = ["0002_rename_status:migrate"]
    rig.write_config()
    result = rig.cli("promote", "green")
    assert result.exit_code == REFUSED
    summary = result.output.split("refused, nothing changed")[1]
    assert "health: green" in summary and "schema: green needs 0002_rename_status:migrate" in summary
    entry = rig.log()[-1]
    assert entry["outcome"] == "refused"
    assert set(entry) >= {"at", "actor", "action", "target", "outcome", "gates"}
    assert [g["ok"] for g in entry["gates"]].count(False) == 2  # type: ignore[union-attr]
