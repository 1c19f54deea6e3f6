"""Periodic jobs; thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guahao.core import idempotency


@db_periodic_task(crontab(minute="15", hour="*/6"))
def forget_idempotency_keys() -> int:
    return idempotency.forget_old()
