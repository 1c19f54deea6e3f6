from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from guahao.accounts import services


class AccountBearer(HttpBearer):
    """A patient's login token (from /auth/login)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return services.account_for_token(token)


class StaffBearer(HttpBearer):
    """A staff or kiosk token (``guahao staff-token``)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return services.staff_for_token(token)


def staff_session(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated and user.is_staff else None


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")
