"""Periodic jobs; thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guahao.scheduling import services


@db_periodic_task(crontab(minute="*/5"))
def return_unused_pools() -> int:
    return services.pools_return_due()
