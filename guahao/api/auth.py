from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from guahao.accounts import services, staff
from guahao.accounts.scope import staff_scope
from guahao.core import addresses
from guahao.core.errors import FORBIDDEN, NOT_FOUND


class AccountBearer(HttpBearer):
    """A patient's login token (from /auth/login)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return services.account_for_token(token)


class StaffBearer(HttpBearer):
    """A staff or kiosk token (``guahao staff-token``)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return services.staff_for_token(token)


class StaffSession(APIKeyCookie):
    """The console's session, as API.md allows: the same staff member the console lets in
    (active, with a role, past the second factor; logged out when idle), and a change carries
    the console's CSRF token (``X-CSRFToken``) as a form of the console would."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return staff.session_staff(request) if key else None


def staff_auth() -> list[Any]:
    """A staff endpoint's ways in: a staff token, or the console's session."""
    return [StaffBearer(), StaffSession()]


client_ip = addresses.client_ip


@dataclass(frozen=True)
class StaffRoute:
    """What a staff endpoint reaches: rows of ``model``, named in the request by ``lookup``
    (``"path:<param>"`` or ``"body:<field>"``) through the row's ``field``."""

    model: type
    lookup: str
    field: str = "pk"


def staff_scoped(*, model: type, lookup: str, field: str = "pk") -> Callable[[Callable], Callable]:
    """Declares what a staff endpoint reaches, so the scope test tries each role on it against
    another hospital's row (an undeclared staff endpoint fails that test)."""

    def mark(view: Callable) -> Callable:
        view.staff_route = StaffRoute(model, lookup, field)  # type: ignore[attr-defined]
        return view

    return mark


def staff_row_access(user: Any, *, hospital_id: int, permission: str) -> None:
    """A row of another hospital is not found (404, as if it did not exist); a row of one's own
    hospital without the role's permission is forbidden (403)."""
    if not staff_scope(user).allows(hospital_id):
        raise NOT_FOUND.error()
    if not user.has_perm(permission):
        raise FORBIDDEN.error()
