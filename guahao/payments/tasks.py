"""Periodic jobs; thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guahao.payments import services


@db_periodic_task(crontab(minute="*"))
def check_payments() -> dict[str, int]:
    return services.payments_check()
