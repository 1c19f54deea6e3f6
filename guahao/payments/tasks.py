"""Periodic jobs; thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guahao.payments import reconciliation, services


@db_periodic_task(crontab(minute="*"))
def check_payments() -> dict[str, int]:
    return services.payments_check()


@db_periodic_task(crontab(minute="30"))
def reconcile_statements() -> int:
    """Hourly, so a statement that was not ready or not reachable is tried again soon."""
    return len(reconciliation.reconcile_due())
