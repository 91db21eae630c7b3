"""Retrying what lost a lock race: exponential backoff with jitter, on lock timeouts and deadlocks."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg

T = TypeVar("T")

# lock_not_available (our lock_timeout fired) and deadlock_detected: both mean "try again later";
# anything else is a real failure that retrying would only repeat.
RETRYABLE_SQLSTATES = frozenset({"55P03", "40P01"})


@dataclass(frozen=True)
class RetryPolicy:
    # Short lock waits need more attempts: 10 retries back off over about a minute and a half
    # (0.5, 1, 2, 4, 8, then 15 s each), outlasting a long report query without queueing behind it.
    retries: int = 10  # attempts after the first
    base_delay: float = 0.5  # seconds before the first retry, doubling each time
    max_delay: float = 15.0

    def delay(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after the ``failures``-th failure: half fixed, half random.

        The random half stops several waiting appliers (or an applier and a retrying app)
        from colliding again in lockstep.
        """
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (failures - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.Error) and exc.sqlstate in RETRYABLE_SQLSTATES


OnRetry = Callable[[int, psycopg.Error, float], None]  # (failures so far, error, delay)


def with_retries(
    attempt: Callable[[int], T],
    policy: RetryPolicy,
    on_retry: OnRetry,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """``attempt(n)`` for n = 1, 2, ... until it succeeds, fails for good, or retries run out."""
    rng = rng or random.Random()
    failures = 0
    while True:
        try:
            return attempt(failures + 1)
        except psycopg.Error as exc:
            failures += 1
            if not is_retryable(exc) or failures > policy.retries:
                raise
            pause = policy.delay(failures, rng)
            on_retry(failures, exc, pause)
            sleep(pause)
