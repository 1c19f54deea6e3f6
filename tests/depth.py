"""How far the property-based tests search. CI runs a bounded slice of each; the deep run
(README, "Tests") sets ``GUAHAO_TEST_DEPTH=N`` for N times as many examples."""

from __future__ import annotations

import os

DEPTH = max(1, int(os.environ.get("GUAHAO_TEST_DEPTH") or 1))


def examples(n: int) -> int:
    """``n`` examples in CI, ``n × GUAHAO_TEST_DEPTH`` in the deep run."""
    return n * DEPTH
