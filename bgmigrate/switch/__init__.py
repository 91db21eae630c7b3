"""The traffic-switch coordinator: move traffic between blue and green only when the schema serves both.

Gates (health, schema, rollback window) decide; a backend (nginx, HAProxy, a user command)
moves the traffic; the state and the log of every attempt live in the database's
``bgmigrate`` schema. ``contract_allowed`` is the question ``apply --phase contract`` asks.
"""

from bgmigrate.switch.contract import contract_allowed, coordinated, refusal
from bgmigrate.switch.verdict import GateResult, Verdict

__all__ = ["GateResult", "Verdict", "contract_allowed", "coordinated", "refusal"]
