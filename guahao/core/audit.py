"""The audit log of staff actions: every service that acts for a staff member records here who
did what to which row, with the state before and after and the reason given."""

from __future__ import annotations

from typing import Any

from guahao.core import clock
from guahao.core.models import AuditEntry


def _plain(values: dict[str, Any] | None) -> dict[str, Any]:
    return {
        k: v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)
        for k, v in (values or {}).items()
    }


def audit_record(
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: object = "",
    target: str = "",
    hospital_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Record one staff action. Call inside the transaction that makes the change, so an action
    rolled back leaves no entry. Never pass personal data (ID or phone numbers) in ``before`` or
    ``after``: the log is read and exported by staff."""
    return AuditEntry.objects.create(
        at=clock.now(),
        actor=actor[:150],
        hospital_id=hospital_id,
        action=action[:40],
        target_type=target_type[:30],
        target_id=str(target_id)[:40],
        target=target[:100],
        before=_plain(before),
        after=_plain(after),
        reason=(reason or "")[:300],
    )
