"""Prometheus counters: requests and refusals by route and code, and calls to the HIS and the
payment providers (latency and outcome). ``api/metrics.py`` serves them at ``/metrics``.

Every web process counts in files under ``PROMETHEUS_MULTIPROC_DIR`` (``guahao serve`` sets it),
so one scrape sums every process.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

REQUESTS = Counter("guahao_http_requests", "Answered requests", ["route", "method", "status"])
LATENCY = Histogram(
    "guahao_http_request_seconds",
    "Time to answer",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REFUSALS = Counter("guahao_refusals", "Refusals by their stable code (slot.unavailable: sold out)", ["code"])
OUTSIDE = Histogram(
    "guahao_outside_call_seconds",
    "Calls to the HIS and the payment providers",
    ["system", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

F = TypeVar("F", bound=Callable[..., Any])


def outside_call(system: str) -> Callable[[F], F]:
    """Times a call to another system and counts how it ended: ok, timeout or error."""

    def wrap(call: F) -> F:
        @functools.wraps(call)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = "error"
            try:
                result = call(*args, **kwargs)
                outcome = "ok"
                return result
            except Exception as exc:
                outcome = "timeout" if getattr(exc, "timeout", False) else "error"
                raise
            finally:
                OUTSIDE.labels(system, outcome).observe(time.perf_counter() - started)

        return timed  # type: ignore[return-value]

    return wrap


class RequestMetrics:
    """Counts each answer by its route (the URL pattern, never the ids in it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = "/" + match.route if match is not None else "unmatched"
        REQUESTS.labels(route, request.method or "", str(response.status_code)).inc()
        LATENCY.labels(route).observe(time.perf_counter() - started)
        code = getattr(response, "problem_code", None)
        if code is not None:
            REFUSALS.labels(code or "unknown").inc()
        elif response.get("Content-Type", "").startswith("application/problem+json"):
            try:
                REFUSALS.labels(str(json.loads(response.content).get("code", "")) or "unknown").inc()
            except (ValueError, AttributeError):
                pass
        return response
