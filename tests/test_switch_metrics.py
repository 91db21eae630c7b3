"""The metrics gate against a real Prometheus: each --gradual step and the watch window after promote.

One Prometheus per module scrapes a tiny exporter whose ``http_requests_total`` counters the
tests steer; each test queries its own ``run`` label. Watches are seconds long.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus import Exporter, Prometheus, prometheus_with_exporter
from proxies import free_port
from switchkit import Rig, apps, haproxy_rig, served_by

from bgmigrate.exitcodes import FAILED
from bgmigrate.switch.config import MetricsSettings
from bgmigrate.switch.metrics import read

RECORD = "import json, sys; open(sys.argv[1], 'a').write(json.dumps(sys.argv[2:]) + '\\n')"
_runs = itertools.count()


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, Exporter]]:
    with prometheus_with_exporter(tmp_path_factory.mktemp("prometheus")) as pair:
        yield pair


@pytest.fixture
def run() -> str:
    """A label of this test's own, so no other test's counters reach its query."""
    return f"t{next(_runs)}"


def error_share(run: str) -> str:
    selector = f'run="{run}",env="{{env}}"'
    return (f'sum(rate(http_requests_total{{{selector},code=~"5.."}}[2s])) '
            f"/ sum(rate(http_requests_total{{{selector}}}[2s]))")  # fmt: skip


def metrics_block(url: str, query: str, watch: str = "2s", extra: str = "") -> str:
    return (f"\n[switch.metrics]\nurl = {json.dumps(url)}\nquery = {json.dumps(query)}\nmax = 0.05\n"
            f'watch = "{watch}"\ninterval = "300ms"\ntimeout = "2s"\n{extra}')  # fmt: skip


def with_metrics(rig: Rig, block: str) -> None:
    rig.config_path.write_text(rig.config_path.read_text() + block)


def serving(prom: Prometheus, exporter: Exporter, run: str, env: str, ok: float, errors: float) -> None:
    """``env`` answers at these rates, and Prometheus has seen it."""
    exporter.set_rate(run, env, ok, errors)
    # JSON's string escapes are a subset of PromQL's: the test's own quoting, not the code's.
    prom.wait_for(f'sum(rate(http_requests_total{{run="{run}",env={json.dumps(env)}}}[2s]))')


@pytest.fixture
def rig(tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    """The command backend; every switch command's arguments go to ``routed.jsonl``."""
    switch = json.dumps([sys.executable, "-c", RECORD, str(tmp_path / "routed.jsonl"), "{to}", "{weight}"])
    with apps() as (blue, green):
        r = Rig(tmp_path, pg_dsn, blue, green, command=f"switch = {switch}")
        assert r.cli("init", "blue").exit_code == 0
        yield r


def routed(rig: Rig) -> list[list[str]]:
    lines = (rig.root / "routed.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines][1:]  # after init's ["blue", "100"]


def readings(rig: Rig) -> list[dict[str, object]]:
    gates = rig.log()[-1]["gates"]
    assert isinstance(gates, list)
    return [g for g in gates if str(g["name"]).startswith("metrics")]


def test_good_green_passes_the_watch(rig: Rig, prom: tuple[Prometheus, Exporter], run: str) -> None:
    server, exporter = prom
    serving(server, exporter, run, "green", ok=200, errors=0)
    with_metrics(rig, metrics_block(server.url, error_share(run)))
    result = rig.cli("promote", "green")
    assert result.exit_code == 0, result.output
    assert routed(rig) == [["green", "100"]]
    assert rig.status()["active"] == "green"
    watch = readings(rig)
    assert len(watch) >= 5 and all(g["ok"] for g in watch), watch  # every reading is in the log
    assert "green: 0 <= max 0.05" in str(watch[0]["detail"])


def test_green_failing_during_the_watch_is_rolled_back(rig: Rig, prom: tuple[Prometheus, Exporter], run: str) -> None:
    server, exporter = prom
    serving(server, exporter, run, "green", ok=200, errors=0)
    with_metrics(rig, metrics_block(server.url, error_share(run), watch="20s"))
    threading.Timer(1.5, exporter.set_rate, (run, "green", 100, 100)).start()
    started = time.monotonic()
    result = rig.cli("promote", "green")
    assert result.exit_code == FAILED, result.output
    assert time.monotonic() - started < 12  # as soon as the bad reading came, not at the window's end
    assert routed(rig) == [["green", "100"], ["blue", "100"]]  # routed back by the same command
    assert rig.status()["active"] == "blue"
    watch = readings(rig)
    assert watch[0]["ok"] and not watch[-1]["ok"], watch
    assert "> max 0.05" in str(watch[-1]["detail"])
    assert "traffic returned to blue" in result.output
    assert rig.log()[-1]["outcome"] == "failed"


def test_unreachable_prometheus_rolls_back_by_default(rig: Rig, run: str) -> None:
    with_metrics(rig, metrics_block(f"http://127.0.0.1:{free_port()}", error_share(run), watch="1s"))
    result = rig.cli("promote", "green")
    assert result.exit_code == FAILED, result.output
    assert "did not answer" in result.output and "fail closed" in result.output
    assert routed(rig) == [["green", "100"], ["blue", "100"]]
    assert rig.status()["active"] == "blue"


def test_unreachable_prometheus_passes_when_fail_open(rig: Rig, run: str) -> None:
    block = metrics_block(f"http://127.0.0.1:{free_port()}", error_share(run), watch="1s", extra="fail_open = true\n")
    with_metrics(rig, block)
    result = rig.cli("promote", "green")
    assert result.exit_code == 0, result.output
    assert routed(rig) == [["green", "100"]]
    assert rig.status()["active"] == "green"
    watch = readings(rig)
    assert "did not answer" in str(watch[0]["detail"]) and "counted as passing" in str(watch[0]["detail"])


def test_empty_result_rolls_back_by_default(rig: Rig, prom: tuple[Prometheus, Exporter], run: str) -> None:
    server, _ = prom  # nothing is exported for this run: the query has no series
    with_metrics(rig, metrics_block(server.url, error_share(run), watch="1s"))
    result = rig.cli("promote", "green")
    assert result.exit_code == FAILED, result.output
    assert "empty result" in result.output
    assert rig.status()["active"] == "blue"


def test_a_query_prometheus_rejects_fails_even_when_fail_open(
    rig: Rig, prom: tuple[Prometheus, Exporter], run: str
) -> None:
    server, _ = prom
    with_metrics(rig, metrics_block(server.url, 'sum(rate(x{env="{env}"}[2s])', watch="1s", extra="fail_open = true\n"))
    result = rig.cli("promote", "green")
    assert result.exit_code == FAILED, result.output
    assert "rejected the query" in result.output
    assert rig.status()["active"] == "blue"


def test_gradual_steps_are_gated_on_the_metrics(
    tmp_path: Path, pg_dsn: str, prom: tuple[Prometheus, Exporter], run: str
) -> None:
    server, exporter = prom
    switch = json.dumps([sys.executable, "-c", RECORD, str(tmp_path / "routed.jsonl"), "{to}", "{weight}"])
    with apps() as (blue, green):
        rig = Rig(tmp_path, pg_dsn, blue, green, command=f"switch = {switch}")
        assert rig.cli("init", "blue").exit_code == 0
        with_metrics(rig, metrics_block(server.url, error_share(run), watch="0s"))
        serving(server, exporter, run, "green", ok=100, errors=100)
        result = rig.cli("promote", "green", "--gradual", "10,50,100", "--step-wait", "200ms")
        assert result.exit_code == FAILED, result.output
        assert routed(rig) == [["green", "10"], ["blue", "100"]]  # never reached 50%
        assert [g["name"] for g in readings(rig)] == ["metrics: 10%", "metrics: restore"]
        assert rig.status()["active"] == "blue"

        exporter.set_rate(run, "green", 100, 0)
        time.sleep(2.5)  # the 2s rate window forgets the errors
        result = rig.cli("promote", "green", "--gradual", "10,50,100", "--step-wait", "200ms")
        assert result.exit_code == 0, result.output
        assert routed(rig)[2:] == [["green", "10"], ["green", "50"], ["green", "100"]]
        assert [g["name"] for g in readings(rig)] == ["metrics: 10%", "metrics: 50%", "metrics: 100%"]


def test_a_long_step_ends_at_its_first_bad_reading(rig: Rig, prom: tuple[Prometheus, Exporter], run: str) -> None:
    """The command backend has no counters: the metrics are read all through the step, not only at its end."""
    server, exporter = prom
    serving(server, exporter, run, "green", ok=200, errors=0)
    with_metrics(rig, metrics_block(server.url, error_share(run), watch="0s"))
    threading.Timer(1.5, exporter.set_rate, (run, "green", 100, 100)).start()
    started = time.monotonic()
    result = rig.cli("promote", "green", "--gradual", "10,100", "--step-wait", "60s")
    assert result.exit_code == FAILED, result.output
    assert time.monotonic() - started < 15  # not the 60 s step
    assert routed(rig) == [["green", "10"], ["blue", "100"]]
    names = [g["name"] for g in readings(rig)]
    assert len(names) > 2 and set(names) == {"metrics: 10%", "metrics: restore"}


def test_haproxy_gradual_steps_are_gated_on_the_metrics(
    tmp_path: Path, pg_dsn: str, prom: tuple[Prometheus, Exporter], run: str
) -> None:
    server, exporter = prom
    with haproxy_rig(tmp_path, pg_dsn) as rig:
        assert rig.cli("init", "blue").exit_code == 0
        with_metrics(rig, metrics_block(server.url, error_share(run), watch="0s"))
        serving(server, exporter, run, "green", ok=100, errors=100)
        result = rig.cli("promote", "green", "--gradual", "10,50,100", "--step-wait", "200ms")
        assert result.exit_code == FAILED, result.output
        assert "metrics: 10%" in result.output and "metrics: 50%" not in result.output
        assert served_by(rig) == {"blue"}
        assert rig.status()["active"] == "blue"


@pytest.mark.parametrize("env", ['we"ird\\name', 'green"} or vector(1) #', "line\nbreak"])
def test_env_is_a_promql_string_whatever_its_name(prom: tuple[Prometheus, Exporter], run: str, env: str) -> None:
    """The name reaches Prometheus as one label value: it matches its own series and nothing else."""
    server, exporter = prom
    serving(server, exporter, run, env, ok=10, errors=0)
    query = f'sum(rate(http_requests_total{{run="{run}",env="{{env}}"}}[2s]))'
    settings = MetricsSettings(url=server.url, query=query, max=1)
    value = read(settings, env).value
    assert value is not None and value > 0
    assert read(settings, "green").value is None  # no series: the name did not widen the match


# -- configuration: bad [switch.metrics] / [switch.smoke] is one line naming the file, exit 2

BASE = """[database]
dsn = "postgresql://app@127.0.0.1:1/app"
[switch]
backend = "command"
[switch.command]
switch = ["true", "{to}"]
[switch.metrics]
url = "http://127.0.0.1:9090"
query = '''sum(rate(http_requests_total{env="{env}",code=~"5.."}[1m]))'''
max = 0.01
[environments.blue]
address = "127.0.0.1:8001"
health_url = "http://127.0.0.1:8001/health"
[environments.green]
address = "127.0.0.1:8002"
health_url = "http://127.0.0.1:8002/health"
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('env="{env}"', "env='{env}'"), "must stand inside a double-quoted string"),
        (('env="{env}"', "env=`{env}`"), "must stand inside a double-quoted string"),
        (('env="{env}"', 'env=~"x" or {env}'), "must stand inside a double-quoted string"),
        (("max = 0.01", "max = true"), "max must be a number"),
        (("max = 0.01", 'max = "0.01"'), "max must be a number"),
        (("max = 0.01", "max = -1"), "max must be a number"),
        (("max = 0.01", "max = nan"), "max must be a number"),
        (("max = 0.01", 'max = 0.01\nwatch = "soon"'), "not a duration"),
        (("max = 0.01", "max = 0.01\ninterval = 0"), "interval and timeout must be more than 0"),
        (("max = 0.01", 'max = 0.01\nfail_open = "yes"'), "fail_open must be true or false"),
        (("max = 0.01", 'max = 0.01\nwindow = "5m"'), "unknown key 'window'"),
        (('url = "http://127.0.0.1:9090"', 'url = "127.0.0.1:9090"'), "must be an http:// or https:// URL"),
        (("max = 0.01\n", ""), "needs url, query and max"),
        (("[environments.blue]", '[switch.smoke]\ncommands = "./smoke"\n[environments.blue]'), "must be a list"),
        (("[environments.blue]", "[switch.smoke]\ncommands = [[]]\n[environments.blue]"), "commands[0]"),
        (("[environments.blue]", "[switch.smoke]\ncommands = ['./x \"{to}']\n[environments.blue]"), "quotation"),
        (("[environments.blue]", '[switch.smoke]\nurls = ["ftp://x"]\n[environments.blue]'), "not an http"),
        (("[environments.blue]", '[switch.smoke]\nurl = ["http://x"]\n[environments.blue]'), "unknown key 'url'"),
    ],
)
def test_bad_metrics_or_smoke_configuration_is_one_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    from click.testing import CliRunner

    from bgmigrate.cli import main

    assert change[0] in BASE
    path = tmp_path / "bgmigrate.toml"
    path.write_text(BASE.replace(*change, 1))
    result = CliRunner().invoke(main, ["switch", "status", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr
    assert message in result.stderr, result.stderr


# -- every way of getting no number is no value: judged fail-closed unless fail_open


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}', "NaN"),
        (b'{"status":"success","data":{"resultType":"vector","result":[]}}', "empty result"),
        (b"<html>login</html>", "did not answer like Prometheus"),
        (b'{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"x"]}]}}', "did not answer like"),
    ],
)
def test_no_value_fails_closed_and_passes_open(answer: bytes, problem: str) -> None:
    from bgmigrate.switch.metrics import judge, parse_answer

    reading = parse_answer(answer)
    assert reading.value is None and problem in reading.problem
    closed = MetricsSettings(url="http://p", query="up", max=0.01)
    assert not judge(closed, "green", reading, "metrics").ok
    assert judge(MetricsSettings(url="http://p", query="up", max=0.01, fail_open=True), "green", reading, "m").ok


def test_values_are_judged_worst_series_first() -> None:
    from bgmigrate.switch.metrics import judge, parse_answer

    settings = MetricsSettings(url="http://p", query="up", max=0.01, fail_open=True)
    two = b'{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"0"]},{"value":[1,"0.5"]}]}}'
    assert not judge(settings, "green", parse_answer(two), "m").ok
    scalar = b'{"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}}'
    assert not judge(settings, "green", parse_answer(scalar), "m").ok
    matrix = b'{"status":"success","data":{"resultType":"matrix","result":[]}}'
    assert not judge(settings, "green", parse_answer(matrix), "m").ok  # a wrong query: fails even open


def test_a_prometheus_that_hangs_is_no_answer_within_the_timeout() -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        settings = MetricsSettings(url=url, query='up{env="{env}"}', max=0.01, timeout=0.3)
        started = time.monotonic()
        reading = read(settings, "green")
    assert time.monotonic() - started < 3
    assert reading.value is None and "did not answer" in reading.problem and not reading.rejected


def test_interrupting_the_watch_switches_back(tmp_path: Path) -> None:
    """Ctrl-C during the watch: the target did not pass it, so traffic goes back."""
    import signal

    from bgmigrate.switch.backends import Routed, make_backend
    from bgmigrate.switch.config import load_switch_config
    from bgmigrate.switch.watch import watch_window

    calls = tmp_path / "routed.jsonl"
    switch = json.dumps([sys.executable, "-c", RECORD, str(calls), "{to}", "{weight}"])
    unreachable = f"http://127.0.0.1:{free_port()}"
    text = BASE.replace('switch = ["true", "{to}"]', f"switch = {switch}")
    text = text.replace("http://127.0.0.1:9090", unreachable).replace(
        "max = 0.01", 'max = 0.01\nfail_open = true\nwatch = "30s"\ninterval = "100ms"'
    )
    path = tmp_path / "bgmigrate.toml"
    path.write_text(text)
    config = load_switch_config(path, environ={})

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        started = time.monotonic()
        routed = watch_window(
            make_backend(config), config, config.environment("green"), config.environment("blue"), Routed(True, ())
        )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 5
    assert not routed.ok
    assert [json.loads(line) for line in calls.read_text().splitlines()] == [["blue", "100"]]
    assert any(s.name == "metrics: watch" and "interrupted" in s.detail for s in routed.steps)
    assert routed.steps[-1].name == "switch back" and routed.steps[-1].ok
