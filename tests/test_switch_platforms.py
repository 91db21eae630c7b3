"""Platform recipes (docs/switch-platforms.md), the command backend's weights, and smoke checks.

Each recipe is read from the docs page, loaded with the real configuration loader and run
through the CLI against fake ``aws`` / ``kubectl`` executables that record their argv: the
test states the exact calls a promote, a --gradual step and a rollback must make.
"""

from __future__ import annotations

import json
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from proxies import App, free_port
from switchkit import Rig, apps

from bgmigrate.exitcodes import INPUT_ERROR, REFUSED
from bgmigrate.switch.config import load_switch_config

DOCS = Path(__file__).resolve().parent.parent / "docs" / "switch-platforms.md"
RECIPE = re.compile(r"<!-- recipe: ([a-z0-9-]+) -->\n```toml\n(.*?)```", re.S)
FAKE = """#!{python}
import json, os, sys
with open(os.environ["BGM_FAKE_CALLS"], "a") as calls:
    calls.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
"""
# Fail-open metrics on a closed port: lets the CLI run --gradual without a Prometheus here
# (tests/test_switch_metrics.py covers the gate itself against a real one).
NO_PROMETHEUS = """
[switch.metrics]
url = "http://127.0.0.1:{port}"
query = 'up{{env="{{env}}"}}'
max = 0.5
watch = "0s"
fail_open = true
"""

ALB_LISTENER = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
ALB_TG = {
    "blue": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/6d0ecf831eec9f09",
    "green": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-green/73e2d6bc24d8a067",
}
R53_TARGET = {
    "blue": "shop-blue-1234567890.eu-west-1.elb.amazonaws.com",
    "green": "shop-green-1234567890.eu-west-1.elb.amazonaws.com",
}


def recipes() -> dict[str, str]:
    found = dict(RECIPE.findall(DOCS.read_text()))
    assert set(found) == {"aws-alb", "route53", "kubernetes-service", "istio"}
    return found


def other(env: str) -> str:
    return "green" if env == "blue" else "blue"


# -- the exact calls each recipe must make: (switch call for env at weight, smoke calls for env)


def alb(env: str, weight: int) -> list[object]:
    groups = [{"TargetGroupArn": ALB_TG[env], "Weight": weight},
              {"TargetGroupArn": ALB_TG[other(env)], "Weight": 100 - weight}]  # fmt: skip
    action = [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]
    return ["aws", "elbv2", "modify-listener", "--listener-arn", ALB_LISTENER, "--default-actions", action]


def route53(env: str, weight: int) -> list[object]:
    def record(name: str, w: int) -> dict[str, object]:
        return {"Action": "UPSERT", "ResourceRecordSet": {
            "Name": "shop.example.com.", "Type": "CNAME", "SetIdentifier": name, "Weight": w, "TTL": 60,
            "ResourceRecords": [{"Value": R53_TARGET[name]}]}}  # fmt: skip

    batch = {"Comment": f"bgmigrate: {env} at {weight}%",
             "Changes": [record(env, weight), record(other(env), 100 - weight)]}  # fmt: skip
    return ["aws", "route53", "change-resource-record-sets", "--hosted-zone-id", "Z0123456789ABCDEFGHIJ",
            "--change-batch", batch]  # fmt: skip


def kubernetes(env: str, weight: int) -> list[object]:
    patch = {"spec": {"selector": {"app": "shop", "color": env}}}
    return ["kubectl", "--namespace", "shop", "patch", "service", "shop", "--type", "merge", "--patch", patch]


def istio(env: str, weight: int) -> list[object]:
    route = [{"destination": {"host": "shop", "subset": env}, "weight": weight},
             {"destination": {"host": "shop", "subset": other(env)}, "weight": 100 - weight}]  # fmt: skip
    patch = [{"op": "replace", "path": "/spec/http/0/route", "value": route}]
    return ["kubectl", "--namespace", "shop", "patch", "virtualservice", "shop", "--type", "json", "--patch", patch]


def rollout(env: str) -> list[object]:
    return ["kubectl", "--namespace", "shop", "rollout", "status", f"deployment/shop-{env}", "--timeout=120s"]


def alb_smoke(env: str) -> list[object]:
    return ["aws", "elbv2", "wait", "target-in-service", "--target-group-arn", ALB_TG[env]]


EXPECTED = {
    "aws-alb": (alb, alb_smoke, True),
    "route53": (route53, None, True),
    "kubernetes-service": (kubernetes, rollout, False),
    "istio": (istio, rollout, True),
}


@pytest.fixture
def fake_clis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``aws`` and ``kubectl`` first on PATH, recording each call; returns the calls file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("aws", "kubectl"):
        exe = bin_dir / name
        exe.write_text(FAKE.format(python=sys.executable))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("BGM_FAKE_CALLS", str(calls))
    return calls


def decoded(calls: Path) -> list[list[object]]:
    """Each recorded call, with its JSON argument parsed (compared as data, exactly)."""
    out = []
    for line in calls.read_text().splitlines() if calls.exists() else []:
        out.append([json.loads(a) if a[:1] in "[{" else a for a in json.loads(line)])
    calls.unlink(missing_ok=True)
    return out


@pytest.fixture
def recipe_rig(request: pytest.FixtureRequest, tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    """A rig whose bgmigrate.toml is the docs recipe, health URLs pointed at the test's apps."""
    with apps() as (blue, green):
        rig = Rig(tmp_path, pg_dsn, blue, green, command='switch = ["true"]')
        urls = iter([blue.health_url, green.health_url])
        text = re.sub(r'^health_url = ".*"$', lambda _: f'health_url = "{next(urls)}"', recipes()[request.param],
                      flags=re.M)  # fmt: skip
        fast = '[switch.health]\nchecks = 2\ninterval = "20ms"\n'  # the default 1s interval, twice per action
        rig.config_path.write_text(f'[database]\ndsn = "{pg_dsn}"\n\n{fast}\n{text}')
        yield rig


@pytest.mark.parametrize("recipe_rig", sorted(EXPECTED), indirect=True)
def test_recipe_makes_the_exact_calls(recipe_rig: Rig, fake_clis: Path, request: pytest.FixtureRequest) -> None:
    switch, smoke, weighted = EXPECTED[request.node.callspec.params["recipe_rig"]]
    smoked = (lambda env: [smoke(env)]) if smoke else (lambda env: [])
    rig = recipe_rig
    config = load_switch_config(rig.config_path)
    assert config.backend == "command" and config.command is not None

    assert rig.cli("init", "blue").exit_code == 0
    assert decoded(fake_clis) == [switch("blue", 100)]  # init has no gates, so no smoke
    result = rig.cli("promote", "green")
    assert result.exit_code == 0, result.output
    assert decoded(fake_clis) == [*smoked("green"), switch("green", 100)]
    result = rig.cli("rollback")
    assert result.exit_code == 0, result.output
    assert decoded(fake_clis) == [*smoked("blue"), switch("blue", 100)]

    rig.config_path.write_text(rig.config_path.read_text() + NO_PROMETHEUS.format(port=free_port()))
    result = rig.cli("promote", "green", "--gradual", "10,50,100", "--step-wait", "0s")
    if not weighted:
        assert result.exit_code == INPUT_ERROR, result.output
        assert "{weight}" in result.stderr
        assert decoded(fake_clis) == []
        return
    assert result.exit_code == 0, result.output
    assert decoded(fake_clis) == [*smoked("green"), switch("green", 10), switch("green", 50), switch("green", 100)]


# -- the command backend's weights, with a real tiny script

RECORD = "import json, sys; open(sys.argv[1], 'a').write(json.dumps(sys.argv[2:]) + '\\n')"


@pytest.fixture
def weights_rig(tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    argv = [sys.executable, "-c", RECORD, str(tmp_path / "routed.jsonl"),
            "{to}", "{weight}", "{other}", "{other_weight}", "{from}"]  # fmt: skip
    with apps() as (blue, green):
        yield Rig(tmp_path, pg_dsn, blue, green, command=f"switch = {json.dumps(argv)}")


def script_calls(rig: Rig) -> list[list[str]]:
    path = rig.root / "routed.jsonl"
    lines = path.read_text().splitlines()
    path.unlink()
    return [json.loads(line) for line in lines]


def test_weights_reach_the_script_step_by_step(weights_rig: Rig) -> None:
    rig = weights_rig
    assert rig.cli("init", "blue").exit_code == 0
    assert script_calls(rig) == [["blue", "100", "green", "0", ""]]  # {other}: the one other env
    rig.config_path.write_text(rig.config_path.read_text() + NO_PROMETHEUS.format(port=free_port()))
    result = rig.cli("promote", "green", "--gradual", "20,60,100", "--step-wait", "0s")
    assert result.exit_code == 0, result.output
    assert script_calls(rig) == [
        ["green", "20", "blue", "80", "blue"], ["green", "60", "blue", "40", "blue"],
        ["green", "100", "blue", "0", "blue"],
    ]  # fmt: skip
    assert rig.cli("rollback").exit_code == 0
    assert script_calls(rig) == [["blue", "100", "green", "0", "green"]]


def test_a_failing_step_sends_everything_back(tmp_path: Path, pg_dsn: str) -> None:
    fail_at_50 = ("import json, sys; open(sys.argv[1], 'a').write(json.dumps(sys.argv[2:]) + '\\n'); "
                  "sys.exit(sys.argv[3] == '50')")  # fmt: skip
    argv = [sys.executable, "-c", fail_at_50, str(tmp_path / "routed.jsonl"), "{to}", "{weight}"]
    with apps() as (blue, green):
        rig = Rig(tmp_path, pg_dsn, blue, green, command=f"switch = {json.dumps(argv)}")
        assert rig.cli("init", "blue").exit_code == 0
        rig.config_path.write_text(rig.config_path.read_text() + NO_PROMETHEUS.format(port=free_port()))
        result = rig.cli("promote", "green", "--gradual", "10,50,100", "--step-wait", "0s")
        assert result.exit_code != 0, result.output
        assert script_calls(rig)[1:] == [["green", "10"], ["green", "50"], ["blue", "100"]]
        assert rig.status()["active"] == "blue"


@pytest.mark.parametrize(
    ("command", "metrics", "why"),
    [
        ('switch = ["true", "{to}"]', True, "{weight} placeholder"),
        ('switch = ["true", "{to}", "{weight}"]', False, "needs [switch.metrics]"),
    ],
)
def test_gradual_is_refused_where_it_cannot_be_right(
    tmp_path: Path, pg_dsn: str, command: str, metrics: bool, why: str
) -> None:
    with apps() as (blue, green):
        rig = Rig(tmp_path, pg_dsn, blue, green, command=command)
        if metrics:
            rig.config_path.write_text(rig.config_path.read_text() + NO_PROMETHEUS.format(port=free_port()))
        result = rig.cli("promote", "green", "--gradual", "10,100")
        assert result.exit_code == INPUT_ERROR
        assert why in result.stderr and result.stderr.count("\n") == 1


# -- smoke checks, against a real tiny HTTP server


def smoke_rig(tmp_path: Path, pg_dsn: str, blue: App, green: App, smoke: str) -> Rig:
    argv = [sys.executable, "-c", RECORD, str(tmp_path / "routed.jsonl"), "{to}"]
    rig = Rig(tmp_path, pg_dsn, blue, green, command=f"switch = {json.dumps(argv)}")
    rig.config_path.write_text(rig.config_path.read_text() + f'\n[switch.smoke]\n{smoke}\ntimeout = "2s"\n')
    return rig


def test_failing_smoke_url_refuses_before_any_traffic_moves(tmp_path: Path, pg_dsn: str) -> None:
    with apps() as (blue, green):
        rig = smoke_rig(tmp_path, pg_dsn, blue, green, 'urls = ["http://{address}/smoke?env={to}"]')
        assert rig.cli("init", "blue").exit_code == 0
        script_calls(rig)
        green.error_rate = 1.0  # /health still answers 200; every other path 500
        result = rig.cli("promote", "green")
        assert result.exit_code == REFUSED, result.output
        assert f"smoke: http://{green.address}/smoke?env=green" in result.output and "500" in result.output
        assert not (rig.root / "routed.jsonl").exists()  # the switch command never ran
        assert rig.status()["active"] == "blue"
        green.error_rate = 0.0
        result = rig.cli("promote", "green")
        assert result.exit_code == 0, result.output
        assert script_calls(rig) == [["green"]]


def test_smoke_runs_against_every_address_of_the_target(tmp_path: Path, pg_dsn: str) -> None:
    with apps() as (blue, green):
        rig = smoke_rig(tmp_path, pg_dsn, blue, green, 'urls = ["http://{address}/smoke"]')
        text = rig.config_path.read_text()
        closed = f"127.0.0.1:{free_port()}"  # a second green instance that is down
        rig.config_path.write_text(
            text.replace(f'address = "{green.address}"', f'address = ["{green.address}", "{closed}"]')
        )
        assert rig.cli("init", "blue").exit_code == 0
        result = rig.cli("promote", "green")
        assert result.exit_code == REFUSED, result.output
        assert f"✓ smoke: http://{green.address}/smoke" in result.output
        assert f"✗ smoke: http://{closed}/smoke" in result.output


def test_failing_smoke_command_refuses_rollback_too(tmp_path: Path, pg_dsn: str) -> None:
    fails_for_blue = json.dumps([sys.executable, "-c", "import sys; sys.exit(sys.argv[1] == 'blue')", "{to}"])
    with apps() as (blue, green):
        rig = smoke_rig(tmp_path, pg_dsn, blue, green, f"commands = [{fails_for_blue}]")
        assert rig.cli("init", "blue").exit_code == 0
        assert rig.cli("promote", "green").exit_code == 0
        script_calls(rig)
        result = rig.cli("rollback")
        assert result.exit_code == REFUSED, result.output
        assert "smoke: " in result.output and "exit 1" in result.output
        assert not (rig.root / "routed.jsonl").exists()
        assert rig.status()["active"] == "green"


def test_the_configuration_example_in_switch_md_loads(tmp_path: Path) -> None:
    text = (DOCS.parent / "switch.md").read_text()
    example = re.search(r"## Configuration\n.*?```toml\n(.*?)```", text, re.S)
    assert example is not None
    path = tmp_path / "bgmigrate.toml"
    path.write_text(example.group(1))
    config = load_switch_config(path, environ={})
    assert config.metrics is not None and config.metrics.watch == 300 and config.metrics.max == 0.01
    assert not config.metrics.fail_open
    assert config.smoke.urls == ("http://{address}/smoke",) and config.smoke.commands == (("./smoke-test.sh", "{to}"),)


def test_the_smoke_example_in_switch_platforms_md_loads(tmp_path: Path) -> None:
    example = re.search(r"## Smoke checks\n.*?```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert example is not None
    path = tmp_path / "bgmigrate.toml"
    envs = "".join(f'[environments.{e}]\naddress = "10.0.0.{i}:80"\nhealth_url = "http://x/h"\n' for i, e in
                   enumerate(("blue", "green")))  # fmt: skip
    path.write_text(f'[switch]\nbackend = "command"\n[switch.command]\nswitch = ["true"]\n{example.group(1)}{envs}')
    smoke = load_switch_config(path, environ={}).smoke
    assert smoke.commands == (("./smoke-test.sh", "{to}"), ("./db-read-check", "{to}"))
    assert smoke.urls == ("http://{address}/smoke",) and smoke.timeout == 10
