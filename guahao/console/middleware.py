"""A staff session ends after ``GUAHAO_STAFF_IDLE_MINUTES`` without a request; console times are
shown in the staff member's hospital's time zone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from guahao.core import clock

SEEN = "guahao_staff_seen"


def _in_session(request: HttpRequest) -> bool:
    """Staff are known by their session alone: a request without its cookie (the API, a
    patient's page) is nobody's here, and its user is not loaded."""
    return settings.SESSION_COOKIE_NAME in request.COOKIES


class StaffIdle:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _in_session(request):
            return self.get_response(request)
        user: Any = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            now = clock.now().timestamp()
            seen = request.session.get(SEEN)
            if seen is not None and now - float(seen) > settings.STAFF_IDLE_MINUTES * 60:
                logout(request)
            else:
                request.session[SEEN] = now
        return self.get_response(request)


class StaffTimezone:
    """Console pages show times in the staff member's hospital's time zone (the platform admin's
    in the platform's): an 08:30 clinic reads 08:30, never its UTC hour."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _in_session(request) or not request.path.startswith("/console/"):
            return self.get_response(request)
        user: Any = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            from guahao.accounts.scope import staff_scope
            from guahao.catalog.models import Hospital

            hospital_id = staff_scope(user).hospital_id
            tz = (
                Hospital.objects.filter(pk=hospital_id).values_list("timezone", flat=True).first()
                if hospital_id
                else None
            )
            timezone.activate(ZoneInfo(tz or settings.TIME_ZONE))
            try:
                return self.get_response(request)
            finally:
                timezone.deactivate()
        return self.get_response(request)
