"""Log lines are JSON objects carrying the request they belong to."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from guahao.core.logs import JsonFormatter, RequestIdFilter


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.mark.django_db
def test_every_line_written_for_a_request_carries_its_id_and_the_answer_says_it():
    kept = Kept()
    logging.getLogger("django.request").addHandler(kept)
    try:
        answer = Client().get("/api/v1/schedules/999999", HTTP_X_REQUEST_ID="trace-0123456789")
    finally:
        logging.getLogger("django.request").removeHandler(kept)
    assert answer["X-Request-ID"] == "trace-0123456789"
    line = json.loads(kept.lines[-1])
    assert line["request_id"] == "trace-0123456789" and line["level"] == "WARNING"
    assert line["ts"].endswith("Z") and "/api/v1/schedules/999999" in line["message"]


def test_a_request_without_a_sane_id_gets_one_of_ours():
    answer = Client().get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert answer["X-Request-ID"] != "<script>" and len(answer["X-Request-ID"]) == 32
