"""The one place that narrows what a staff member sees to their hospitals.

Every console page (lists, details, forms and their choices, filters, actions, exports) and
every staff API endpoint asks ``staff_scope(user)`` and narrows its rows with
``scope.narrow(queryset, path)``, where ``path`` leads from the row to its hospital
(``"hospital"``, ``"payment__hospital"``, ``"pk"`` for hospitals themselves). A row with no
path (``None``) is the platform's: hospital staff see none of it. A staff user without a
profile sees nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from guahao.accounts.models import StaffProfile
from guahao.accounts.roles import Role

PLATFORM = None  # the path of rows that belong to no hospital


@dataclass(frozen=True)
class StaffScope:
    hospital_ids: frozenset[int] | None  # None: every hospital
    role: str

    @property
    def is_platform(self) -> bool:
        return self.hospital_ids is None

    def allows(self, hospital_id: int | None) -> bool:
        if self.hospital_ids is None:
            return True
        return hospital_id is not None and hospital_id in self.hospital_ids

    def narrow(self, qs: QuerySet, path: str | None) -> QuerySet:
        if self.hospital_ids is None:
            return qs
        if path is None or not self.hospital_ids:
            return qs.none()
        if path == "pk":
            return qs.filter(pk__in=self.hospital_ids)
        if "__" not in path:
            return qs.filter(**{f"{path}_id__in": self.hospital_ids})
        # A path through a many-valued relation (a patient's registrations) would repeat rows.
        inner = qs.model._default_manager.filter(**{f"{path}__in": self.hospital_ids}).values("pk")
        return qs.filter(pk__in=inner)

    @property
    def hospital_id(self) -> int | None:
        """The one hospital of a hospital staff member (None for the platform admin)."""
        return None if self.hospital_ids is None else next(iter(self.hospital_ids), None)


NOTHING = StaffScope(frozenset(), "")


def staff_scope(user: Any) -> StaffScope:
    """The hospitals ``user`` may see, read once per request (kept on the user object)."""
    cached = getattr(user, "_guahao_scope", None)
    if cached is not None:
        return cached
    scope = NOTHING
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        if user.is_superuser:
            scope = StaffScope(None, Role.PLATFORM_ADMIN)
        else:
            profile = StaffProfile.objects.filter(user=user).first()
            if profile is not None and profile.role == Role.PLATFORM_ADMIN and profile.hospital_id is None:
                scope = StaffScope(None, profile.role)
            elif profile is not None and profile.hospital_id is not None:
                scope = StaffScope(frozenset({profile.hospital_id}), profile.role)
    if user is not None:
        user._guahao_scope = scope
    return scope
