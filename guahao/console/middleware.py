"""A staff session ends after ``GUAHAO_STAFF_IDLE_MINUTES`` without a request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from guahao.core import clock

SEEN = "guahao_staff_seen"


class StaffIdle:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user: Any = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            now = clock.now().timestamp()
            seen = request.session.get(SEEN)
            if seen is not None and now - float(seen) > settings.STAFF_IDLE_MINUTES * 60:
                logout(request)
            else:
                request.session[SEEN] = now
        return self.get_response(request)
