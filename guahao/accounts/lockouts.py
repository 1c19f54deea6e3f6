"""Lockout of staff logins after wrong passwords (django-axes, recorded in the database).

A user name is locked after ``AXES_FAILURE_LIMIT`` failures, an address only after
``STAFF_LOCKOUT_ADDRESS_FAILURES``: staff of one hospital often share an address, and one
person's typos must not lock out every colleague behind it.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum


def _failures(attempts: Any) -> int:
    return int(attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0)


class StaffLockouts(AxesDatabaseHandler):
    def get_failures(self, request: Any, credentials: dict | None = None) -> int:
        # axes compares the answer with AXES_FAILURE_LIMIT; an address's failures count in
        # proportion to its own, higher limit.
        by_user, by_address = (_failures(qs) for qs in self.get_user_attempts(request, credentials))
        return max(by_user, by_address * settings.AXES_FAILURE_LIMIT // settings.STAFF_LOCKOUT_ADDRESS_FAILURES)


def lockout_of(attempt: AccessAttempt) -> str:
    """What a recorded attempt locks now: "user", "address", or "" (nothing)."""
    if _failures(AccessAttempt.objects.filter(username=attempt.username)) >= settings.AXES_FAILURE_LIMIT:
        return "user"
    if (
        _failures(AccessAttempt.objects.filter(ip_address=attempt.ip_address))
        >= settings.STAFF_LOCKOUT_ADDRESS_FAILURES
    ):
        return "address"
    return ""
