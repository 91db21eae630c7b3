"""``evolve`` is ``dataclasses.replace`` without ``__init__``: same values, same type, same errors."""

from __future__ import annotations

import dataclasses

import pytest

from bgmigrate.plan.evolve import evolve
from bgmigrate.plan.lint_recipes import _plan
from bgmigrate.plan.testing import knowledge_of, operations_of

SQL = [
    "ALTER TABLE orders DROP COLUMN a;",
    "CREATE INDEX oa ON orders (a);",
    "ALTER TABLE orders ALTER COLUMN a TYPE bigint;",
    "ALTER TABLE orders RENAME COLUMN a TO c;",
]


def _objects() -> list[object]:
    """Every dataclass instance in real plans: the plan, its phases, steps and checks."""
    schema = knowledge_of("CREATE TABLE orders (id bigint PRIMARY KEY, a int NOT NULL, b int);").schema
    found: list[object] = []
    for sql in SQL:
        plan = _plan(operations_of(sql)[0], schema, 15, (("a", "0"),))
        found.append(plan)
        for phase in plan.phases:
            found.append(phase)
            found.extend(phase.steps)
            found.extend(phase.checks)
    return found


@pytest.mark.parametrize("index", range(len(_objects())))
def test_evolve_gives_what_replace_gives(index: int) -> None:
    instance = _objects()[index]
    for field in dataclasses.fields(instance):  # type: ignore[arg-type]
        value = getattr(instance, field.name)
        changed = "x" if isinstance(value, str) else value
        evolved = evolve(instance, **{field.name: changed})
        replaced = dataclasses.replace(instance, **{field.name: changed})  # type: ignore[type-var]
        assert evolved == replaced and type(evolved) is type(replaced)
        assert evolved is not instance and getattr(evolved, field.name) == changed
    with pytest.raises(TypeError):
        evolve(instance, no_such_field=1)


@dataclasses.dataclass(frozen=True)
class _Checked:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


def test_a_class_with_post_init_still_runs_it() -> None:
    assert evolve(_Checked(1), value=2) == _Checked(2)
    with pytest.raises(ValueError):
        evolve(_Checked(1), value=-1)
