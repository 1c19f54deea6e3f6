"""``/metrics`` for Prometheus: the counters of ``core.metrics`` summed over every web process,
and at each scrape the state that needs watching (jobs waiting, HIS write-backs by status,
failed refunds waiting for staff, slots held now).

It answers only the loopback address, or anyone with ``GUAHAO_METRICS_TOKEN`` as a bearer token.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector


class StateNow:
    """What needs watching, read from the database at each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count
        from huey.contrib.djhuey import HUEY

        from guahao.booking.models import Hold, HoldStatus
        from guahao.his.models import HisCall
        from guahao.payments.models import Refund, refunds_failed_standing

        yield GaugeMetricFamily("guahao_jobs_waiting", "Jobs in the queue", value=HUEY.pending_count())
        calls = GaugeMetricFamily("guahao_his_writebacks", "HIS write-backs by status", labels=["status"])
        for row in HisCall.objects.values("status").annotate(n=Count("pk")).order_by():
            calls.add_metric([row["status"]], row["n"])
        yield calls
        failed = refunds_failed_standing(Refund.objects.all()).count()
        yield GaugeMetricFamily("guahao_refunds_failed", "Failed refunds waiting for staff", value=failed)
        held = Hold.objects.filter(status=HoldStatus.HELD).count()
        yield GaugeMetricFamily("guahao_holds_live", "Slots held now, waiting for confirm or payment", value=held)


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given, token)
    return request.META.get("REMOTE_ADDR") in ("127.0.0.1", "::1")


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse(status=403)
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY  # one process: its own counters
    state = CollectorRegistry()
    state.register(StateNow())  # type: ignore[arg-type]
    return HttpResponse(generate_latest(registry) + generate_latest(state), content_type=CONTENT_TYPE_LATEST)
