"""/metrics tells an operator what the platform answers and what waits for attention."""

from __future__ import annotations

import pytest
from django.test import Client

from guahao.core.metrics import outside_call
from guahao.his.interface import HisError


def value(page: str, name: str) -> float:
    lines = [line for line in page.splitlines() if line.startswith(name + " ") or line.startswith(name + "{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


@pytest.mark.django_db
def test_answers_refusals_and_waiting_work_are_counted_for_the_local_scraper():
    before = Client().get("/metrics").content.decode()
    Client().get("/api/v1/schedules/999999")  # not found: a refusal with its code
    page = Client().get("/metrics").content.decode()
    route = 'guahao_http_requests_total{method="GET",route="/api/v1/schedules/<schedule_id>",status="404"}'
    assert value(page, route) == value(before, route) + 1
    refusal = 'guahao_refusals_total{code="not_found"}'
    assert value(page, refusal) == value(before, refusal) + 1
    assert "/999999" not in page  # routes, never ids
    assert value(page, "guahao_holds_live") == 0 and value(page, "guahao_refunds_failed") == 0


@pytest.mark.django_db
def test_a_his_call_that_timed_out_is_counted_as_such():
    @outside_call("his")
    def lock() -> None:
        raise HisError("no answer", timeout=True)

    name = 'guahao_outside_call_seconds_count{outcome="timeout",system="his"}'
    before = value(Client().get("/metrics").content.decode(), name)
    with pytest.raises(HisError):
        lock()
    assert value(Client().get("/metrics").content.decode(), name) == before + 1


@pytest.mark.django_db
def test_only_the_loopback_or_a_token_holder_reads_the_metrics(settings):
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 403
    settings.METRICS_TOKEN = "a-long-metrics-token"
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 403
    allowed = Client(REMOTE_ADDR="10.1.2.3").get("/metrics", HTTP_AUTHORIZATION="Bearer a-long-metrics-token")
    assert allowed.status_code == 200
