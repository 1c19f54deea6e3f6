"""Structured logs: one JSON object a line, each carrying the id of the request it belongs to.

``RequestId`` (middleware) takes the caller's ``X-Request-ID`` when it is a sane token, or makes
one, answers it in the same header, and keeps it for every log line written while the request
is served, so one request's lines can be found across the web, the logs and a proxy.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
SANE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
HEADER = "X-Request-ID"


def request_id() -> str:
    return _current.get()


class RequestId:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER, "")
        rid = given if SANE.match(given) else uuid.uuid4().hex
        # Left set after the answer: Django logs a refused request's line after the middleware
        # returned; the next request on this thread sets its own.
        _current.set(rid)
        response = self.get_response(request)
        response[HEADER] = rid
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get()
        return True


class RefusalsFilter(logging.Filter):
    """Drops Django's line for an answer that refuses by a rule (409, 429), and the traceback of
    a forbidden one (403)."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status == 403 and record.exc_info:
            # A role's refusal is one line (who may not do what), not a traceback that reads as
            # an error when the log is searched for them.
            record.exc_info = None
            record.exc_text = None
        return status not in (409, 429)


class JsonFormatter(logging.Formatter):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__()
        self.converter = time.gmtime  # a log line's own time, in UTC as every time we store

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", ""):
            entry["request_id"] = record.request_id  # type: ignore[attr-defined]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
