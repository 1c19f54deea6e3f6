from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from guahao.accounts import services
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


def staff_session(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated and user.is_staff else None


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
