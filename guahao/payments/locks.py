"""Row locks on payments' rows, taken inside a transaction and held to its end."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from guahao.core import clock
from guahao.payments.models import ReconciliationRun, Refund, RunStatus


def lock_refund(refund_id: int) -> Refund:
    """A refund, locked: two staff retrying it at once send one new refund."""
    return Refund.objects.select_for_update().select_related("payment").get(pk=refund_id)


def lock_reconciliation(*, provider: str, day: dt.date) -> tuple[ReconciliationRun, bool]:
    """The day's result for a provider, created if new, locked so re-runs replace it in turn."""
    try:
        with transaction.atomic():
            ReconciliationRun.objects.get_or_create(
                provider=provider, day=day, defaults={"status": RunStatus.FAILED, "ran_at": clock.now(), "runs": 0}
            )
    except IntegrityError:  # a parallel run created it first
        pass
    run = ReconciliationRun.objects.select_for_update().get(provider=provider, day=day)
    return run, run.runs == 0
