"""Benchmark the one SQL lexer on hostile input: splitting and tokenizing must stay linear.

    .venv/bin/python tests/bench/bench_lexer.py              # n = 100,000 pieces, and 4 n
    .venv/bin/python tests/bench/bench_lexer.py --pieces 50000

For each adversarial text (unclosed parentheses, nested comment openers, dollar tags, quotes,
backslashes, BEGIN ATOMIC/CASE words, semicolons …) it prints the time of ``split_sql`` plus
``tokenize`` at n and at 4 n pieces, and their ratio: about 4 is linear, about 16 quadratic.
Figures are wall time on a shared machine: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import time

from bgmigrate.sql.statements import split_sql
from bgmigrate.sql.tokens import tokenize

CASES = {
    "open parens": "(",
    "comment openers": "/*",
    "dollar tags": "$a$",
    "lone dollars": "$",
    "quotes": "'",
    "E-string backslashes": "E'\\",
    "backslashes": "\\",
    "semicolons": ";",
    "carriage returns in comments": "--\r",
    "BEGIN ATOMIC words": "BEGIN ATOMIC ",
    "CASE in a routine body": "CASE ",
    "INSERT statements": "INSERT INTO t VALUES (1, 'a''b', $$c$$);\n",
}
ROUTINE = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC "


def _seconds(text: str) -> float:
    start = time.perf_counter()
    split_sql(text)
    tokenize(text)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=100_000)
    n = parser.parse_args().pieces
    print(f"{'case':32} {'n':>9} {'time n':>9} {'time 4n':>9} {'ratio':>6}")
    for name, piece in CASES.items():
        prefix = ROUTINE if name == "CASE in a routine body" else ""
        small, large = _seconds(prefix + piece * n), _seconds(prefix + piece * 4 * n)
        print(f"{name:32} {n:>9,} {small:>8.3f}s {large:>8.3f}s {large / small:>6.1f}")


if __name__ == "__main__":
    main()
